"""Capacity search (largest number of facts a model stores), log-log fits
with bootstrap CIs, and the capacity experiment runner.

The search variable is k (the number of subjects S; R and D follow from the
scaling mode). For one model shape, every candidate k and every learning rate
train together in one vmapped group; the bracket [largest success, smallest
failure] is refined round by round until the config's resolution.
"""
import math
import os

import numpy as np

from factrecall import checks
from factrecall import models
from factrecall import output
from factrecall import progress as progress_lib
from factrecall import sweep
from factrecall import tasks
from factrecall import train
from factrecall.output import UserError


# ---------------------------------------------------------------- fits


def loglog_fit(x, y, n_boot=1000, seed=0):
  """Least squares log y = log c + k log x; bootstrap 95% CIs over points.

  Returns dict(k, c, k_ci, c_ci, c1, c1_ci) where c1 is the constant of the
  k = 1 fit (geometric mean of y / x).
  """
  x, y = np.asarray(x, float), np.asarray(y, float)
  ok = (x > 0) & (y > 0)
  lx, ly = np.log(x[ok]), np.log(y[ok])
  n = len(lx)
  nan2 = [float("nan")] * 2
  if n < 2 or np.ptp(lx) == 0:
    c1 = float(np.exp(np.mean(ly - lx))) if n else float("nan")
    return dict(k=float("nan"), c=float("nan"), k_ci=nan2, c_ci=nan2, c1=c1,
                c1_ci=nan2, n=n)
  k, b = np.polyfit(lx, ly, 1)
  rng = np.random.default_rng(seed)
  ks, bs, c1s = [], [], []
  for _ in range(n_boot):
    i = rng.integers(0, n, n)
    c1s.append(np.mean(ly[i] - lx[i]))
    if np.ptp(lx[i]) == 0:
      continue
    kk, bb = np.polyfit(lx[i], ly[i], 1)
    ks.append(kk)
    bs.append(bb)
  q = lambda v: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
  return dict(k=float(k), c=float(np.exp(b)), k_ci=q(ks),
              c_ci=[float(np.exp(v)) for v in q(bs)],
              c1=float(np.exp(np.mean(ly - lx))),
              c1_ci=[float(np.exp(v)) for v in q(c1s)], n=n)


def common_slope_fit(x, y, groups, n_boot=1000, seed=0):
  """log y = k log x + b_g: one slope, one intercept per group (curve).

  Curves of different width ratios sit at different heights; a pooled fit
  mixes that offset into the slope's noise. Bootstrap: points resampled
  within each group. Returns dict(k, k_ci, n).
  """
  x, y = np.asarray(x, float), np.asarray(y, float)
  groups = np.asarray(groups)
  ok = (x > 0) & (y > 0)
  lx, ly, g = np.log(x[ok]), np.log(y[ok]), groups[ok]

  def slope(idx):
    xs, ys = [], []
    for u in np.unique(g[idx]):
      sel = idx[g[idx] == u]
      xs.append(lx[sel] - lx[sel].mean())
      ys.append(ly[sel] - ly[sel].mean())
    xc, yc = np.concatenate(xs), np.concatenate(ys)
    den = float(np.sum(xc * xc))
    return float(np.sum(xc * yc) / den) if den > 0 else float("nan")

  all_idx = np.arange(len(lx))
  if len(lx) < 3:
    return dict(k=float("nan"), k_ci=[float("nan")] * 2, n=len(lx))
  rng_ = np.random.default_rng(seed)
  by = [all_idx[g == u] for u in np.unique(g)]
  boots = []
  for _ in range(n_boot):
    idx = np.concatenate([rng_.choice(b, len(b)) for b in by])
    v = slope(idx)
    if np.isfinite(v):
      boots.append(v)
  return dict(k=slope(all_idx), n=len(lx),
              k_ci=[float(np.percentile(boots, 2.5)),
                    float(np.percentile(boots, 97.5))])


# ---------------------------------------------------------------- search


def geometric_points(lo, hi, n):
  """Up to n distinct integers strictly between lo and hi, geometrically spaced."""
  if hi - lo <= 1:
    return []
  pts = np.exp(np.linspace(math.log(max(lo, 0.5)), math.log(hi), n + 2))[1:-1]
  out = sorted({int(round(p)) for p in pts} - {lo, hi})
  out = [p for p in out if lo < p < hi]
  if not out:
    out = [(lo + hi) // 2]
  return out


class Bracket:
  """The search state of one (shape, seed): success/failure per k."""

  def __init__(self, k_lo, k_hi, n_candidates, resolution, k_min=1, k_max=None):
    self.results = {}  # k -> bool (any learning rate succeeded)
    self.n = n_candidates
    self.res = resolution
    self.k_min = k_min
    self.k_max = k_max or 10 ** 9
    self.first = geometric_points(k_lo - 1, k_hi + 1, n_candidates)
    self.first = sorted(set(min(max(k, k_min), self.k_max) for k in self.first))

  @property
  def lo(self):
    ok = [k for k, v in self.results.items() if v]
    return max(ok) if ok else None

  @property
  def hi(self):
    lo = self.lo or 0
    bad = [k for k, v in self.results.items() if not v and k > lo]
    return min(bad) if bad else None

  def next_candidates(self):
    """The k's of the next round, or [] when the bracket is resolved."""
    if not self.results:
      return self.first
    lo, hi = self.lo, self.hi
    if lo is None:  # everything failed: go down
      low = min(self.results)
      if low <= self.k_min:
        return []
      return geometric_points(max(self.k_min, low // 4) - 1, low, self.n)
    if hi is None:  # everything succeeded: go up
      if lo >= self.k_max:
        return []
      return [k for k in geometric_points(lo, min(lo * 4, self.k_max) + 1, self.n)
              if k not in self.results]
    if hi - lo <= 1 or hi <= lo * (1 + self.res):
      return []
    return [k for k in geometric_points(lo, hi, self.n) if k not in self.results]


# ---------------------------------------------------------------- experiment


def model_shapes(cfg):
  """The (shape, ratio label) grid of a capacity config."""
  shapes = []
  for H in cfg.model.H_list:
    for a, b in cfg.model.ratios:
      for d in cfg.model.d_list:
        d_h = int(math.floor(a * d / H))
        m = int(math.floor(b * d))
        if d_h < 1 or (m < 1 and b > 0):
          continue  # rounds to zero: skipped (SPEC section 3)
        shapes.append((models.TransformerShape(d=d, H=H, d_h=d_h, m=m),
                       dict(alpha_w=a, beta_w=b)))
  return shapes


def validate(cfg):
  """Checks across fields (each field alone: configs/capacity.py RULES)."""
  t, mo, tr, se = cfg.task, cfg.model, cfg.train, cfg.search
  tasks.check_noise(t)
  if not model_shapes(cfg):
    raise UserError("model: every (d, ratio) rounds d_h or m to 0; use larger d_list or ratios")
  if tr.max_steps < tr.chunk:
    raise UserError(f"train.max_steps={tr.max_steps}: must be >= train.chunk={tr.chunk}")
  if not se.lo_per_param < se.hi_per_param:
    raise UserError(f"search.lo_per_param={se.lo_per_param}, hi_per_param="
                    f"{se.hi_per_param}: need lo < hi")
  # Memory guard: the padded eval set and per-member embeddings of the largest
  # candidate (k_max^2 pairs x T tokens), a batch's tokens and logits, and
  # the largest model with Adam's two moments, times the group's members.
  k = se.k_max
  S, R, D = tasks.sizes_for(k, t.scaling, t.D)
  d_max = max(mo.d_list)
  p_max = max(shape.params for shape, _ in model_shapes(cfg))
  members = se.n_candidates * len(tr.lrs)
  n_out = D * R
  bytes_ = members * 4 * (n_out * d_max + S * R * t.T +
                          tr.batch * (n_out * 3 + t.T) + 3 * p_max)
  checks.check_memory(bytes_, cfg.memory_gib,
                      f"search.k_max={k}, model.d_list max={d_max} ({p_max} "
                      f"params), train.batch={tr.batch}",
                      f"a group of {members} members")


def _k_for_facts(facts, scaling):
  """Smallest k whose facts(k) >= facts."""
  if scaling == "square":
    k = 1
    while k * max(1, math.isqrt(k)) < facts:
      k += 1 if k < 64 else max(1, k // 64)
    return k
  return max(1, math.ceil(math.sqrt(facts)))


def member_hp(cfg, k, lr, seed):
  S, R, D = tasks.sizes_for(k, cfg.task.scaling, cfg.task.D)
  tv = tasks.task_values(S, R, D, cfg.task.n_noise, cfg.task.alpha,
                         cfg.task.beta, cfg.task.table)
  return dict(tv, lr=np.float32(lr), seed=np.uint32(seed))


def _key(shape, seed, k, lr):
  return f"{shape.name()}|s{seed}|k{k}|lr{lr:g}"


def run(cfg, wd):
  """The capacity experiment: search every shape, fit, claims, figures."""
  from factrecall import plots  # pylint: disable=g-import-not-at-top
  shapes = model_shapes(cfg)
  done = {}
  for rec in wd.records():
    done[rec["key"]] = rec
  rule = sweep.StopRule(max_steps=cfg.train.max_steps, target=cfg.train.target,
                        patience=cfg.train.patience)
  seeds = [cfg.seed + i for i in range(cfg.train.n_seeds)]
  lrs = list(cfg.train.lrs)
  est_rounds = 3
  budget = cfg.train.max_steps
  total = (len(shapes) * len(seeds) * est_rounds * cfg.search.n_candidates *
           len(lrs) * budget)
  prog = progress_lib.Progress(total, desc=f"{cfg.name}", enabled=wd.is_writer)
  capacities = []
  for shape, info in shapes:
    P = models.param_count(shape)
    for seed in seeds:
      k_lo = _k_for_facts(cfg.search.lo_per_param * P, cfg.task.scaling)
      k_hi = _k_for_facts(cfg.search.hi_per_param * P, cfg.task.scaling)
      k_hi = min(max(k_hi, k_lo + 1), cfg.search.k_max)
      k_lo = min(k_lo, k_hi - 1)
      br = Bracket(max(k_lo, 1), k_hi, cfg.search.n_candidates,
                   cfg.search.resolution, k_min=1, k_max=cfg.search.k_max)
      rnd, last_shape = 0, None
      while True:
        cands = br.next_candidates()
        if not cands or rnd >= cfg.search.max_rounds:
          break
        keys = {(k, lr): _key(shape, seed, k, lr) for k in cands for lr in lrs}
        hps, meta, last_shape = _round_members(cfg, seed, cands, lrs, last_shape)
        if all(v in done for v in keys.values()):
          recs = [done[v] for v in keys.values()]
          prog.update(budget * len(keys), note=f"{shape.name()} (resumed)")
        else:
          recs = _run_round(cfg, wd, shape, info, seed, cands, rule, keys,
                            prog, rnd, hps, meta, last_shape)
          for r in recs:
            done[r["key"]] = r
        for k in cands:
          br.results[k] = any(done[keys[(k, lr)]]["status"] == "success"
                              for lr in lrs)
        rnd += 1
        if rnd >= est_rounds:
          prog.add_total(budget * len(cands) * len(lrs))
      sweep.release_compiled()
      lo = br.lo
      S, R, _ = tasks.sizes_for(lo, cfg.task.scaling, cfg.task.D) if lo else (0, 0, 0)
      capacities.append(dict(shape=shape.name(), d=shape.d, H=shape.H,
                             d_h=shape.d_h, m=shape.m, params=P, seed=seed,
                             k=lo, facts=S * R, k_fail=br.hi, rounds=rnd, **info))
  prog.close()
  summary = summarize(cfg, capacities)
  if wd.is_writer:
    plots.capacity(wd.figure("capacity"), capacities, summary["fit"],
                   title=f"{cfg.name} ({cfg.task.scaling} scaling)")
    plots.training_curves(wd.figure("training_curves"),
                          _curve_examples(list(done.values()), cfg.plot_curves))
  return summary


def _fits(small, big):
  return big is not None and all(
      getattr(small, f) <= getattr(big, f)
      for f in ("S_max", "R_max", "D_max", "n_noise_max"))


def _round_members(cfg, seed, cands, lrs, last_shape):
  """Members of a round and their padded task shape. Refinement rounds reuse
  the previous padded shape when it is at most 1.5x too large: one compile
  per model shape instead of one per round (replayed identically on resume)."""
  hps, meta = [], []
  for k in cands:
    for lr in lrs:
      hps.append(member_hp(cfg, k, lr, seed))
      meta.append((k, lr))
  ts = tasks.shape_for(hps, cfg.task.T)
  if _fits(ts, last_shape) and last_shape.S_max <= 1.5 * ts.S_max:
    ts = last_shape
  return hps, meta, ts


def _run_round(cfg, wd, shape, info, seed, cands, rule, keys, prog, rnd,
               hps, meta, ts):
  setup = train.Setup(model=shape, task=ts, batch=cfg.train.batch,
                      chunk=cfg.train.chunk, optimizer="adam")

  def needed(g):
    if not cfg.search.prune:
      return range(len(hps))
    ok = [meta[i][0] for i in range(len(hps)) if g.status[i] == "success"]
    lo = max(ok) if ok else 0
    failed = [k for k in cands
              if all(g.status[i] is not None and g.status[i] != "success"
                     for i in range(len(hps)) if meta[i][0] == k)]
    hi = min(failed) if failed else float("inf")
    return [i for i in range(len(hps)) if lo < meta[i][0] < hi]

  ckpt = os.path.join(wd.checkpoints,
                      f"inflight_{shape.name()}_s{seed}_r{rnd}.pkl")
  budget = rule.max_steps

  class Credit:
    """Credits a finished member's unused budget to the progress bar."""

    def __init__(self):
      self.seen = set()

    def __call__(self, g, state, live):
      for i, s in enumerate(g.status):
        if s and i not in self.seen:
          self.seen.add(i)
          prog.update(max(0, budget - g.steps[i]))

  res = sweep.run_group(setup, hps, rule, needed=needed,
                        ckpt=ckpt if wd.is_writer else None, progress=prog,
                        on_chunk=Credit(), ckpt_every=cfg.checkpoint_every,
                        keep_params=cfg.save_models)
  recs = []
  for (k, lr), hp, r in zip(meta, hps, res):
    recs.append(dict(
        key=keys[(k, lr)], shape=shape.name(), d=shape.d, H=shape.H,
        d_h=shape.d_h, m=shape.m, params=models.param_count(shape), seed=seed,
        lr=lr, k=k, S=int(hp["S"]), R=int(hp["R"]), D=int(hp["D"]),
        n_noise=int(hp["n_noise"]), facts=int(hp["S"]) * int(hp["R"]),
        accuracy=r["accuracy"], best_accuracy=r["best_accuracy"],
        steps=r["steps"], status=r["status"], round=rnd,
        chunk=cfg.train.chunk, curves=r["curves"], **info))
    if cfg.save_models and r["status"] == "success" and wd.is_writer:
      from factrecall.analysis import checkpoints  # pylint: disable=g-import-not-at-top
      base = os.path.join(wd.checkpoints, "models",
                          recs[-1]["key"].replace("|", "_"))
      os.makedirs(os.path.dirname(base), exist_ok=True)
      checkpoints.save(base, setup, hp, r["params"],
                       {k: v for k, v in recs[-1].items() if k != "curves"})
  wd.append(recs)
  return recs


def _curve_examples(records, n):
  """A few runs to plot: the largest successful and failed ones per status."""
  recs = [r for r in records if r.get("curves") and r["status"] in
          ("success", "failed", "stalled")]
  recs.sort(key=lambda r: (r["status"] != "success", -r["facts"], r["lr"]))
  succ = [r for r in recs if r["status"] == "success"][: max(1, n // 2)]
  fail = [r for r in recs if r["status"] != "success"][: max(1, n - len(succ))]
  return succ + fail


def summarize(cfg, capacities):
  pts = [c for c in capacities if c["facts"] > 0]
  x = [c["params"] for c in pts]
  y = [c["facts"] for c in pts]
  fit = loglog_fit(x, y, n_boot=cfg.fit.n_boot, seed=cfg.seed)
  curve = [f"{c.get('H')}|{c.get('alpha_w')}|{c.get('beta_w')}" for c in pts]
  common = common_slope_fit(x, y, curve, n_boot=cfg.fit.n_boot, seed=cfg.seed)
  fit["common_k"], fit["common_k_ci"] = common["k"], common["k_ci"]
  lo_b, hi_b = cfg.fit.slope_band
  claims = [output.claim(
      "loglog_slope",
      f"facts stored grow linearly with parameters: the log-log slope k of "
      f"facts = c_curve * params^k (one slope, one intercept per width-ratio "
      f"curve) lies in [{lo_b}, {hi_b}]",
      common["k"], common["k_ci"],
      output.interval_verdict(common["k_ci"], lo_b, hi_b),
      n_points=common["n"], pooled_k=fit["k"], pooled_k_ci=fit["k_ci"],
      reference=output.reference(
          1.0, "Nichani et al. 2025 Fig. 4 left: facts ∝ params (guide "
          "line of slope 1)"))]
  # facts_per_param: c of the k = 1 fit; verdict on whether facts/params is
  # the same constant for the smaller and the larger half of the models.
  ratio_ci, ratio = [float("nan")] * 2, float("nan")
  if len(pts) >= 4:
    order = np.argsort(x)
    lr_ = np.log(np.array(y, float) / np.array(x, float))[order]
    half = len(lr_) // 2
    small, large = lr_[:half], lr_[-half:]
    rng = np.random.default_rng(cfg.seed)
    boots = [np.mean(rng.choice(large, len(large))) -
             np.mean(rng.choice(small, len(small))) for _ in range(cfg.fit.n_boot)]
    ratio = float(np.exp(np.mean(large) - np.mean(small)))
    ratio_ci = [float(np.exp(np.percentile(boots, 2.5))),
                float(np.exp(np.percentile(boots, 97.5)))]
  band = cfg.fit.ratio_band
  claims.append(output.claim(
      "facts_per_param",
      "facts = c * params with one constant c (k = 1 fit); verdict on the "
      f"ratio of c between the larger and the smaller half of the models "
      f"lying in [{1 / band:.3g}, {band:.3g}]",
      fit["c1"], fit["c1_ci"],
      output.interval_verdict(ratio_ci, 1 / band, band) if len(pts) >= 4
      else "inconclusive",
      large_over_small=ratio, large_over_small_ci=ratio_ci,
      params_per_fact=1 / fit["c1"] if fit["c1"] else None,
      reference=output.reference(
          0.15, "Nichani et al. 2025 Fig. 4 left: guide line 0.15 * params "
          "drawn by hand")))
  return {"experiment": cfg.name, "claims": claims, "fit": fit,
          "capacities": capacities}

"""Attention-MLP trade-off at a fixed number of facts (SPEC section 3, paper
Fig. 4 right): the H x m grid, the boundary of the 100%-accuracy region, the
exchange rate between MLP and attention parameters, and the heatmap.

Coordinates: x = attention parameters d*d_h*H, y = MLP parameters d*m.
The boundary is located row by row (fixed m: where along x cells become
solved) and column by column (fixed H: where along y), each crossing lying in
a bracket between two grid values; a line a*x + b*y = c is fitted to the
crossings by total least squares (in coordinates scaled by the grid's
extent). Along that line a*dx + b*dy = 0, so one MLP parameter (dy = 1) is
worth dx = b/a attention parameters.
"""
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


# ---------------------------------------------------------------- frontier


def crossing(vals, solved):
  """Where along sorted grid values `vals` cells switch to solved.

  Returns the bracket (lo, hi) of consecutive grid values around the
  threshold that best separates unsolved (below) from solved (above), fewest
  misplaced cells, the middle one among ties; None if every cell is solved
  or none is (no crossing inside the grid).
  """
  vals = np.asarray(vals, float)
  solved = np.asarray(solved, bool)
  if solved.all() or not solved.any():
    return None
  n = len(vals)
  # threshold j sits between vals[j-1] and vals[j], j = 1..n-1
  errs = [int(np.sum(solved[:j])) + int(np.sum(~solved[j:])) for j in range(1, n)]
  best = min(errs)
  ties = [j for j, e in zip(range(1, n), errs) if e == best]
  j = ties[(len(ties) - 1) // 2]
  return float(vals[j - 1]), float(vals[j])


def frontier_brackets(xs, ys, solved_YxX):
  """Boundary crossings of a solved grid (rows: ys, columns: xs).

  Returns a list of (axis, fixed, lo, hi): axis "x" for a row crossing at
  y = fixed with x in [lo, hi], "y" for a column crossing at x = fixed.
  """
  solved_YxX = np.asarray(solved_YxX, bool)
  out = []
  for i, y in enumerate(ys):
    b = crossing(xs, solved_YxX[i])
    if b:
      out.append(("x", float(y), b[0], b[1]))
  for j, x in enumerate(xs):
    b = crossing(ys, solved_YxX[:, j])
    if b:
      out.append(("y", float(x), b[0], b[1]))
  return out


def points_of(brackets, u=None):
  """(x, y) points of the crossings: bracket midpoints, or lo + u*(hi - lo)."""
  pts = []
  for k, (axis, fixed, lo, hi) in enumerate(brackets):
    t = 0.5 if u is None else u[k]
    v = lo + t * (hi - lo)
    pts.append((v, fixed) if axis == "x" else (fixed, v))
  return np.array(pts, float).reshape(-1, 2)


def fit_line(pts, scale=(1.0, 1.0)):
  """Total least squares line a*x + b*y = c through points (n, 2).

  Fitted in coordinates divided by `scale`; returned in the original ones,
  signed so that a >= 0 (NaNs if fewer than 2 distinct points).
  """
  pts = np.asarray(pts, float).reshape(-1, 2)
  nan = (float("nan"),) * 3
  if len(np.unique(pts, axis=0)) < 2:
    return nan
  sx, sy = scale
  q = pts / np.array([sx, sy])
  mu = q.mean(0)
  _, _, vt = np.linalg.svd(q - mu)
  na, nb = vt[-1]
  a, b = na / sx, nb / sy
  c = a * mu[0] * sx + b * mu[1] * sy
  if a < 0 or (a == 0 and b < 0):
    a, b, c = -a, -b, -c
  return float(a), float(b), float(c)


def exchange_rate(line):
  """b/a: attention parameters one MLP parameter is worth along the line."""
  a, b, _ = line
  if not (np.isfinite(a) and np.isfinite(b)) or a == 0:
    return float("nan")
  return float(b / a)


def _quantiles(v):
  v = np.asarray([x for x in v if np.isfinite(x)], float)
  if len(v) < 10:
    return [float("nan")] * 2
  return [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]


def analyse(xs, ys, success_YxXxN, facts, fit, seed=0):
  """Frontier, line, exchange rate and facts-per-parameter estimates with
  bootstrap CIs.

  success_YxXxN: per cell the seeds' success flags (NaN = missing seed).
  Bootstrap: per cell, its seeds resampled with replacement; every crossing
  drawn uniformly inside its grid bracket (the grid's resolution).
  """
  xs, ys = np.asarray(xs, float), np.asarray(ys, float)
  succ = np.asarray(success_YxXxN, float)
  scale = (max(xs.max(), 1.0), max(ys.max(), 1.0))

  def estimate(solved, u=None):
    br = frontier_brackets(xs, ys, solved)
    line = fit_line(points_of(br, u), scale) if br else (float("nan"),) * 3
    # attention-only: the row of the smallest m (0); MLP-heavy: the row of
    # the largest m. Parameters at their crossings: 4x + 2y (SPEC section 2).
    x_att = _row_crossing(xs, solved[0], u0(u, br, "x", ys[0]))
    x_mlp = _row_crossing(xs, solved[-1], u0(u, br, "x", ys[-1]))
    p_att = 4 * x_att + 2 * ys[0]
    p_mlp = 4 * x_mlp + 2 * ys[-1]
    return dict(brackets=br, line=line, rate=exchange_rate(line),
                fpp_attention=facts / p_att, fpp_mlp=facts / p_mlp,
                params_attention=p_att, params_mlp=p_mlp)

  def u0(u, br, axis, fixed):
    if u is None:
      return 0.5
    for k, (ax, f, _, _) in enumerate(br):
      if ax == axis and f == fixed:
        return u[k]
    return 0.5

  def cell_frac(s):
    ok = np.isfinite(s)
    return np.where(ok.any(-1), np.nansum(s, -1) / np.maximum(ok.sum(-1), 1), 0.0)

  frac = cell_frac(succ)
  solved = frac >= fit.solved_frac
  est = estimate(solved)
  rng = np.random.default_rng(seed)
  boots = dict(rate=[], fpp_attention=[], fpp_mlp=[], fpp_ratio=[])
  n_seed = succ.shape[-1]
  for _ in range(fit.n_boot):
    idx = rng.integers(0, n_seed, succ.shape)
    s = np.take_along_axis(succ, idx, -1)
    sol = cell_frac(s) >= fit.solved_frac
    u = rng.uniform(size=2 * (len(xs) + len(ys)))
    e = estimate(sol, u)
    boots["rate"].append(e["rate"])
    boots["fpp_attention"].append(e["fpp_attention"])
    boots["fpp_mlp"].append(e["fpp_mlp"])
    boots["fpp_ratio"].append(e["fpp_mlp"] / e["fpp_attention"])
  est["fpp_ratio"] = est["fpp_mlp"] / est["fpp_attention"]
  est["ci"] = {k: _quantiles(v) for k, v in boots.items()}
  est["solved"] = solved.tolist()
  est["solved_frac"] = frac.tolist()
  return est


def _row_crossing(vals, solved, u):
  """Crossing of one row or column, u in [0, 1] inside its bracket; NaN if
  the row has no crossing inside the grid."""
  b = crossing(vals, solved)
  if b is None:
    return float("nan")
  return b[0] + u * (b[1] - b[0])


# ---------------------------------------------------------------- runner


def validate(cfg):
  """Checks across fields (each field alone: configs/tradeoff.py RULES)."""
  t, mo, tr = cfg.task, cfg.model, cfg.train
  tasks.check_noise(t)
  if tr.max_steps < tr.chunk:
    raise UserError(f"train.max_steps={tr.max_steps}: must be >= train.chunk={tr.chunk}")
  # Memory guard: a cell's group (n_seeds members) holds each member's eval
  # set (S*R pairs x T tokens), a batch's tokens and logits, and the largest
  # model with Adam's two moments.
  n_out = t.D * t.R
  p_max = max(shape.params for shape in cells(cfg))
  bytes_ = tr.n_seeds * 4 * (n_out * mo.d + t.S * t.R * t.T +
                             tr.batch * (n_out * 3 + t.T) + 3 * p_max)
  checks.check_memory(bytes_, cfg.memory_gib,
                      f"task.S={t.S}, task.R={t.R}, model.d={mo.d} ({p_max} "
                      f"params), train.batch={tr.batch}",
                      f"a cell of {tr.n_seeds} members")


def cells(cfg):
  """The grid's model shapes, one per (H, m)."""
  mo = cfg.model
  return [models.TransformerShape(d=mo.d, H=int(H), d_h=mo.d_h, m=int(m))
          for m in sorted(mo.m_list) for H in sorted(mo.H_list)]


def member_hp(cfg, seed):
  t = cfg.task
  tv = tasks.task_values(t.S, t.R, t.D, t.n_noise)
  return dict(tv, lr=np.float32(cfg.train.lr), seed=np.uint32(seed))


def _key(shape, seed):
  return f"H{shape.H}_m{shape.m}_s{seed}"


def run(cfg, wd):
  """Trains the grid (resuming recorded members), fits, claims, heatmap."""
  done = {r["key"]: r for r in wd.records()}
  rule = sweep.StopRule(max_steps=cfg.train.max_steps, target=cfg.train.target,
                        patience=cfg.train.patience)
  seeds = [cfg.seed + i for i in range(cfg.train.n_seeds)]
  todo = [(shape, [s for s in seeds if _key(shape, s) not in done])
          for shape in cells(cfg)]
  todo = [(shape, ss) for shape, ss in todo if ss]
  budget = cfg.train.max_steps
  prog = progress_lib.Progress(
      max(1, sum(len(ss) for _, ss in todo)) * budget, desc=cfg.name,
      enabled=wd.is_writer)
  for shape, ss in todo:
    for r in _run_cell(cfg, wd, shape, ss, rule, prog):
      done[r["key"]] = r
  prog.close()
  summary = summarize(cfg, list(done.values()))
  if wd.is_writer:
    heatmap(wd.figure("tradeoff"), summary, cfg)
  return summary


def _run_cell(cfg, wd, shape, seeds, rule, prog):
  hps = [member_hp(cfg, s) for s in seeds]
  setup = train.Setup(model=shape, task=tasks.shape_for(hps, cfg.task.T),
                      batch=cfg.train.batch, chunk=cfg.train.chunk,
                      optimizer="adam")
  budget = rule.max_steps
  seen = set()

  def credit(g, live):
    del live
    for i, s in enumerate(g.status):
      if s and i not in seen:
        seen.add(i)
        prog.update(max(0, budget - g.steps[i]))

  prog.update(0, note=shape.name())
  ckpt = os.path.join(wd.checkpoints, f"inflight_{shape.name()}.pkl")
  res = sweep.run_group(setup, hps, rule, ckpt=ckpt if wd.is_writer else None,
                        progress=prog, on_chunk=credit,
                        ckpt_every=cfg.checkpoint_every)
  t, mo = cfg.task, cfg.model
  recs = []
  for s, hp, r in zip(seeds, hps, res):
    recs.append(dict(
        key=_key(shape, s), shape=shape.name(), d=shape.d, H=shape.H,
        d_h=shape.d_h, m=shape.m, params=models.param_count(shape),
        attn_params=mo.d * mo.d_h * shape.H, mlp_params=mo.d * shape.m,
        seed=s, lr=float(cfg.train.lr), S=int(hp["S"]), R=int(hp["R"]),
        D=int(hp["D"]), n_noise=int(hp["n_noise"]), facts=t.S * t.R,
        accuracy=r["accuracy"], best_accuracy=r["best_accuracy"],
        steps=r["steps"], status=r["status"], chunk=cfg.train.chunk,
        curves=r["curves"]))
  wd.append(recs)
  return recs


def grid_of(cfg, records):
  """(xs, ys, mean accuracy Y x X, success flags Y x X x seeds)."""
  mo = cfg.model
  Hs, ms = sorted(mo.H_list), sorted(mo.m_list)
  seeds = [cfg.seed + i for i in range(cfg.train.n_seeds)]
  by = {(r["H"], r["m"], r["seed"]): r for r in records}
  acc = np.full((len(ms), len(Hs)), np.nan)
  succ = np.full((len(ms), len(Hs), len(seeds)), np.nan)
  for i, m in enumerate(ms):
    for j, H in enumerate(Hs):
      a = []
      for k, s in enumerate(seeds):
        r = by.get((H, m, s))
        if r is None:
          continue
        a.append(r["accuracy"] if r["accuracy"] is not None else 0.0)
        succ[i, j, k] = float(r["status"] == "success")
      if a:
        acc[i, j] = np.mean(a)
  xs = [mo.d * mo.d_h * H for H in Hs]
  ys = [mo.d * m for m in ms]
  return xs, ys, acc, succ


def summarize(cfg, records):
  xs, ys, acc, succ = grid_of(cfg, records)
  facts = cfg.task.S * cfg.task.R
  est = analyse(xs, ys, succ, facts, cfg.fit, seed=cfg.seed)
  ci = est["ci"]
  lo, hi = cfg.fit.rate_band
  rate_ok = np.isfinite(est["rate"])
  claims = [output.claim(
      "exchange_rate",
      "the boundary of the 100%-accuracy region is a line a*x + b*y = c over "
      "x = attention params d*d_h*H, y = MLP params d*m; one MLP parameter is "
      f"worth b/a attention parameters, in [{lo:g}, {hi:g}] (0.5 if every "
      "parameter counted by 4x + 2y is worth the same)",
      est["rate"], ci["rate"],
      output.interval_verdict(ci["rate"], lo, hi) if rate_ok else "inconclusive",
      line=dict(zip("abc", est["line"])), n_crossings=len(est["brackets"]),
      reference=output.reference(
          2.0, "Nichani et al. 2025 Fig. 4 right: boundary drawn by hand, "
          "sloped part y = 2300 - x/2"))]
  band = cfg.fit.ratio_band
  ok = np.isfinite(est["fpp_ratio"])
  claims.append(output.claim(
      "facts_per_param_mlp_vs_attention",
      "facts stored per parameter (4x + 2y where the row crosses the "
      f"boundary) of MLP-heavy models (m = {max(cfg.model.m_list)}) over "
      f"attention-only ones (m = {min(cfg.model.m_list)}) lies in "
      f"[{1 / band:.3g}, {band:.3g}] (parameters equally useful in both)",
      est["fpp_ratio"], ci["fpp_ratio"],
      output.interval_verdict(ci["fpp_ratio"], 1 / band, band) if ok
      else "inconclusive",
      facts_per_param_attention=est["fpp_attention"],
      facts_per_param_attention_ci=ci["fpp_attention"],
      facts_per_param_mlp=est["fpp_mlp"],
      facts_per_param_mlp_ci=ci["fpp_mlp"],
      params_attention_only=est["params_attention"],
      params_mlp_heavy=est["params_mlp"],
      reference=output.no_reference("the paper gives no such ratio")))
  return {"experiment": cfg.name, "claims": claims,
          "grid": dict(H=sorted(cfg.model.H_list), m=sorted(cfg.model.m_list),
                       attn_params=xs, mlp_params=ys, accuracy=acc.tolist(),
                       solved=est["solved"], solved_frac=est["solved_frac"]),
          "frontier": dict(brackets=est["brackets"],
                           points=points_of(est["brackets"]).tolist(),
                           line=est["line"], rate=est["rate"]),
          "n_members": len(records)}


# ---------------------------------------------------------------- figure


def _edges(v):
  v = np.asarray(v, float)
  if len(v) == 1:
    w = max(abs(v[0]) / 2, 1.0)
    return np.array([max(0.0, v[0] - w), v[0] + w])
  mid = (v[1:] + v[:-1]) / 2
  return np.concatenate([[max(0.0, v[0] - (mid[0] - v[0]))], mid,
                         [v[-1] + (v[-1] - mid[-1])]])


def heatmap(base, summary, cfg):
  """Accuracy over (attention, MLP) parameters with the fitted boundary."""
  from factrecall import plots  # pylint: disable=g-import-not-at-top
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  g, fr = summary["grid"], summary["frontier"]
  xs, ys = np.array(g["attn_params"], float), np.array(g["mlp_params"], float)
  acc = np.array(g["accuracy"], float)
  fig, ax = plt.subplots(figsize=(6.4, 5))
  im = ax.pcolormesh(_edges(xs), _edges(ys), np.ma.masked_invalid(acc),
                     cmap="viridis", vmin=0, vmax=1, shading="flat")
  fig.colorbar(im, ax=ax, label="accuracy")
  pts = np.array(fr["points"], float).reshape(-1, 2)
  if len(pts):
    ax.plot(pts[:, 0], pts[:, 1], "wo", ms=4, mec="k", label="boundary crossings")
  a, b, c = fr["line"]
  ex, ey = _edges(xs), _edges(ys)
  if all(v is not None and np.isfinite(v) for v in (a, b, c)):
    claim = summary["claims"][0]
    with np.errstate(divide="ignore"):
      x0, y0 = c / a, c / b
    lab = (f"x/{x0:.4g} + y/{y0:.4g} = 1\n1 MLP param ≈ {fr['rate']:.3g} "
           f"[{claim['ci'][0] or float('nan'):.3g}, "
           f"{claim['ci'][1] or float('nan'):.3g}] attn params")
    if abs(b) > 1e-12 * max(abs(a), 1e-30):
      xl = np.linspace(ex[0], ex[-1], 200)
      yl = (c - a * xl) / b
      keep = (yl >= ey[0]) & (yl <= ey[-1])
      ax.plot(xl[keep], yl[keep], "r-", lw=2, label=lab)
    else:
      ax.axvline(c / a, color="r", lw=2, label=lab)
  ax.set_xlim(ex[0], ex[-1])
  ax.set_ylim(ey[0], ey[-1])
  ax.set_xlabel("attention parameters d·d_h·H")
  ax.set_ylabel("MLP parameters d·m")
  t = cfg.task
  ax.set_title(f"trade-off: S={t.S}, R={t.R} ({t.S * t.R} facts), d={cfg.model.d}")
  ax.legend(fontsize=7, loc="lower left", framealpha=0.8)
  plots.save(fig, base)

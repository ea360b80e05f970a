"""Attention-MLP trade-off at a fixed number of facts (paper Fig. 4 right): the H x m grid, the boundary of the solved region, the
exchange rate between MLP and attention parameters, and the heatmap.

Coordinates (the paper's axes): x = attention parameters d*d_h*H, y = MLP
parameters d*m. The boundary is located row by row (fixed m: where along x
cells become solved) and column by column (fixed H: where along y), each
crossing lying in a bracket between two grid values. It is fitted as the
paper draws it by hand: a vertical attention floor x = x0 (however large
the MLP, models need x0 attention parameters) joined to a sloped line
a*x + b*y = c fitted to the other crossings by total least squares (in
coordinates scaled by the grid's extent). Along the sloped part
a*dx + b*dy = 0, so one y unit is worth dx = b/a x units: the exchange
rate, 2 in the paper (one straight line through every crossing would mix
the floor into the slope).
"""

import numpy as np

from factrecall import bits
from factrecall import checks
from factrecall import engine
from factrecall import models
from factrecall import output
from factrecall import progress as progress_lib
from factrecall import stats
from factrecall import tasks
from factrecall import train


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


def fit_frontier(brackets, scale, u=None, u_floor=None, min_floor=2):
  """The boundary as the paper draws it: a vertical attention floor x = x0
  (models with much MLP still need x0 attention parameters) joined to a
  sloped line a*x + b*y = c (the exchange rate is its b/a).

  The floor is the run of the k highest rows (largest y) whose crossings
  share one x; every other crossing (the lower rows and every column, since
  a column left of the floor is never solved) lies on the sloped part. k is
  0 (no floor: one straight line) or at least min_floor, chosen to minimise
  the squared residuals in coordinates divided by `scale`: the floor's
  points' horizontal distances from x0 plus the line's total least squares
  residual; ties go to the smaller floor. The split is chosen on bracket
  midpoints; then each sloped crossing sits at lo + u[k]*(hi - lo) and the
  floor's rows all at lo + u_floor*(hi - lo) (one vertical line crosses
  them at one x, so they move together), for the bootstrap.

  Returns dict(x0 (NaN if no floor), line (a, b, c), rate, floor and slope:
  indices into brackets).
  """
  mids = points_of(brackets)
  rows = sorted((k for k, b in enumerate(brackets) if b[0] == "x"),
                key=lambda k: -brackets[k][1])
  sx, sy = scale
  best = None
  for k in [0] + list(range(min_floor, len(rows) + 1)):
    floor = rows[:k]
    slope = [j for j in range(len(brackets)) if j not in floor]
    score = 0.0
    if floor:
      fx = mids[floor, 0]
      score += float(np.sum(((fx - fx.mean()) / sx) ** 2))
    if len(slope) >= 2:
      q = mids[slope] / np.array([sx, sy])
      score += float(np.linalg.svd(q - q.mean(0), compute_uv=False)[-1] ** 2)
    elif slope:
      continue  # one point cannot carry a line
    if best is None or score < best[0] - 1e-12:
      best = (score, floor, slope)
  nan3 = (float("nan"),) * 3
  if best is None:
    return dict(x0=float("nan"), line=nan3, rate=float("nan"), floor=[],
                slope=list(range(len(brackets))))
  _, floor, slope = best
  uu = np.full(len(brackets), 0.5) if u is None else np.array(u[:len(brackets)], float)
  if floor:
    uu[floor] = 0.5 if u_floor is None else u_floor
  pts = points_of(brackets, uu)
  x0 = float(np.mean(pts[floor, 0])) if floor else float("nan")
  line = fit_line(pts[slope], scale) if len(slope) >= 2 else nan3
  return dict(x0=x0, line=line, rate=exchange_rate(line), floor=floor,
              slope=slope)


def consistent_rates(brackets, slope, rates=None):
  """[lo, hi] of the exchange rates r of lines x + r*y = c that cross every
  sloped bracket (the grid's own resolution: any rate in it fits the solved
  cells exactly), or None if no line crosses them all. A row bracket at y
  asks lo <= c - r*y <= hi, a column bracket at x asks lo <= (c - x)/r <= hi.
  """
  if rates is None:
    rates = np.exp(np.linspace(np.log(1e-2), np.log(1e2), 4001))
  rates = np.asarray(rates, float)[:, None]
  lo_c, hi_c = [], []
  for j in slope:
    axis, fixed, lo, hi = brackets[j]
    if axis == "x":
      lo_c.append(lo + rates * fixed)
      hi_c.append(hi + rates * fixed)
    else:
      lo_c.append(fixed + rates * lo)
      hi_c.append(fixed + rates * hi)
  if len(lo_c) < 2:
    return None
  ok = (np.max(np.hstack(lo_c), 1) <= np.min(np.hstack(hi_c), 1))
  if not ok.any():
    return None
  good = rates[ok, 0]
  return [float(good.min()), float(good.max())]


def analyse(xs, ys, success_YxXxN, facts, fit, seed=0):
  """Frontier (floor x0 + sloped line), exchange rate and facts-per-parameter
  estimates with bootstrap CIs.

  success_YxXxN: per cell the seeds' success flags (NaN = missing seed).
  Bootstrap: per cell, its seeds resampled with replacement; every sloped
  crossing drawn uniformly inside its grid bracket, the floor's rows at one
  shared place inside theirs (the grid's resolution).
  """
  xs, ys = np.asarray(xs, float), np.asarray(ys, float)
  succ = np.asarray(success_YxXxN, float)
  scale = (max(xs.max(), 1.0), max(ys.max(), 1.0))
  n_u = 2 * (len(xs) + len(ys))

  def estimate(solved, u=None, u_floor=None):
    br = frontier_brackets(xs, ys, solved)
    fr = fit_frontier(br, scale, u, u_floor)
    # attention-only: the row of the smallest m; MLP-heavy: the row of the
    # largest m. Parameters at their crossings: 4x + 2y (Q, K, V, O hold
    # d*d_h*H each, the MLP's two matrices d*m each).
    x_att = _row_crossing(br, ys[0], fr, u, u_floor)
    x_mlp = _row_crossing(br, ys[-1], fr, u, u_floor)
    p_att = 4 * x_att + 2 * ys[0]
    p_mlp = 4 * x_mlp + 2 * ys[-1]
    return dict(brackets=br, line=fr["line"], rate=fr["rate"], x0=fr["x0"],
                floor=fr["floor"], slope=fr["slope"],
                fpp_attention=facts / p_att, fpp_mlp=facts / p_mlp,
                params_attention=p_att, params_mlp=p_mlp)

  def cell_frac(s):
    ok = np.isfinite(s)
    return np.where(ok.any(-1), np.nansum(s, -1) / np.maximum(ok.sum(-1), 1), 0.0)

  frac = cell_frac(succ)
  solved = frac >= fit.solved_frac
  est = estimate(solved)
  rng = np.random.default_rng(seed)
  boots = dict(rate=[], x0=[], fpp_attention=[], fpp_mlp=[], fpp_ratio=[])
  n_seed = succ.shape[-1]
  for _ in range(fit.n_boot):
    idx = rng.integers(0, n_seed, succ.shape)
    s = np.take_along_axis(succ, idx, -1)
    sol = cell_frac(s) >= fit.solved_frac
    u = rng.uniform(size=n_u)
    e = estimate(sol, u, rng.uniform())
    boots["rate"].append(e["rate"])
    boots["x0"].append(e["x0"])
    boots["fpp_attention"].append(e["fpp_attention"])
    boots["fpp_mlp"].append(e["fpp_mlp"])
    boots["fpp_ratio"].append(e["fpp_mlp"] / e["fpp_attention"])
  est["fpp_ratio"] = est["fpp_mlp"] / est["fpp_attention"]
  est["ci"] = {k: stats.finite_ci(v, 10) for k, v in boots.items()}
  est["floor_found"] = float(np.mean([np.isfinite(v) for v in boots["x0"]]))
  est["rate_consistent"] = consistent_rates(est["brackets"], est["slope"])
  est["solved"] = solved.tolist()
  est["solved_frac"] = frac.tolist()
  return est


def _row_crossing(brackets, y, fr, u, u_floor):
  """Where the row at y crosses the boundary (u in [0, 1] inside its
  bracket, the floor's shared u_floor if the row is on the floor); NaN if
  the row has no crossing inside the grid."""
  for k, (axis, fixed, lo, hi) in enumerate(brackets):
    if axis == "x" and fixed == y:
      t = 0.5
      if k in fr["floor"] and u_floor is not None:
        t = u_floor
      elif k not in fr["floor"] and u is not None:
        t = u[k]
      return lo + t * (hi - lo)
  return float("nan")


# ---------------------------------------------------------------- runner

# The original code's protocol for this figure (Nichani et al. 2025, Fig. 4
# right; its param_scaling_sweep.py and plotting.ipynb): config fields whose
# values a like-for-like run shares, and the boundary drawn on its heatmap.
PAPER_PROTOCOL = {
    "task.S": 32, "task.R": 32, "task.D": 8, "task.n_noise": 64, "task.T": 32,
    "model.d": 32, "model.d_h": 8, "train.lr": 1e-2,
    "train.batch": 1024, "train.chunk": 128, "train.max_steps": 2 ** 14,
    "train.target": 1.0, "train.eval": "paper", "train.eval_samples": 1024,
    "train.patience": 0, "train.n_seeds": 1,
    "model.H_list": (1, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32),
    "model.m_list": (1, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128),
}
PAPER_RATE = 2.0      # the sloped part y = 2300 - x/2: one y buys two x
PAPER_FLOOR = 1280.0  # the vertical part x = 1280
# The hand-drawn boundary as (x, y) polylines: the sloped part for x in
# [1280, 4700] and the floor from y = 1660 to 4300.
PAPER_BOUNDARY = (((1280.0, 2300.0 - 640.0), (4700.0, 2300.0 - 2350.0)),
                  ((1280.0, 1660.0), (1280.0, 4300.0)))
_SOURCE = "Nichani et al. 2025 Fig. 4 right (boundary drawn by hand: "


def departures(cfg):
  """Fields where this run departs from the paper's protocol, as
  'field=ours (paper: theirs)' strings; [] for a like-for-like run."""
  out = []
  for field, want in PAPER_PROTOCOL.items():
    v = cfg
    for part in field.split("."):
      v = v[part]
    if isinstance(want, tuple):
      same = tuple(sorted(v)) == want
    elif isinstance(want, float):
      same = abs(float(v) - want) <= 1e-12 * max(1.0, abs(want))
    else:
      same = v == want
    if not same:
      fmt = lambda x: (",".join(map(str, x)) if isinstance(x, (tuple, list))
                       else str(x))
      out.append(f"{field}={fmt(v)} (paper: {fmt(want)})")
  return out


def validate(cfg):
  """Checks across fields (each field alone: configs/tradeoff.py RULES)."""
  t, tr = cfg.task, cfg.train
  tasks.check_noise(t)
  checks.at_least(cfg, "train.max_steps", "train.chunk")
  # Memory guard: the largest cell's group (n_seeds members).
  hps = [member_hp(cfg, 0)]
  bytes_, shape = max(((engine.group_bytes(
      engine.TRANSFORMER, setup_of(cfg, sh, hps), tr.n_seeds), sh)
                        for sh in cells(cfg)), key=lambda x: x[0])
  checks.check_memory(bytes_, cfg.memory_gib,
                      f"task.S={t.S}, task.R={t.R}, model {shape.name()} "
                      f"({shape.params} params), train.batch={tr.batch}, "
                      f"train.eval_samples={tr.eval_samples}",
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
  rule = engine.StopRule(max_steps=cfg.train.max_steps, target=cfg.train.target,
                         patience=cfg.train.patience,
                         protocols=(cfg.train.eval,))
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
    # Every cell is its own shape: drop its executables (72 cells kept
    # resident took the default's peak memory from 0.9 to 2.5 GiB).
    engine.release_compiled()
  prog.close()
  summary = summarize(cfg, list(done.values()))
  add_bits(cfg, summary, list(done.values()))
  if wd.is_writer:
    heatmap(wd.figure("tradeoff"), summary, cfg)
    bits.plot(wd.figure("bits_per_param"), {cfg.name: summary["bits"]},
              title="trade-off: bits per parameter on the boundary")
  return summary


def setup_of(cfg, shape, hps):
  """The engine setup of a cell of `shape` with members hps."""
  return train.Setup(model=shape, task=tasks.shape_for(hps, cfg.task.T),
                     batch=cfg.train.batch, chunk=cfg.train.chunk,
                     optimizer="adam", fixed_eval=cfg.train.eval_samples)


def _run_cell(cfg, wd, shape, seeds, rule, prog):
  hps = [member_hp(cfg, s) for s in seeds]
  setup = setup_of(cfg, shape, hps)
  budget = rule.max_steps
  seen = set()

  def credit(g, live):
    del live
    for i, s in enumerate(g.status):
      if s and i not in seen:
        seen.add(i)
        prog.update(max(0, budget - g.steps[i]))

  prog.update(0, note=shape.name())
  ckpt = engine.checkpoint_path(wd.checkpoints, shape.name())
  res = engine.run_group(setup, hps, rule, ckpt=ckpt,
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
        eval=cfg.train.eval, accuracy=r["accuracy"],
        best_accuracy=r["best_accuracy"], steps=r["steps"],
        status=r["status"], outcomes=r["outcomes"], chunk=cfg.train.chunk,
        curves=r["curves"]))
  wd.append(recs)
  return recs


def grid_of(cfg, records):
  """(xs, ys, mean accuracy Y x X, success flags Y x X x seeds).

  The accuracy is the one train.eval reports (the last all-pairs
  evaluation, or the best fixed-set one as the paper's heatmap shows).
  """
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


def _fmt_interval(v):
  return "none" if v is None else f"[{v[0]:.3g}, {v[1]:.3g}]"


def summarize(cfg, records):
  xs, ys, acc, succ = grid_of(cfg, records)
  facts = cfg.task.S * cfg.task.R
  est = analyse(xs, ys, succ, facts, cfg.fit, seed=cfg.seed)
  ci = est["ci"]
  dep = departures(cfg)
  how = ("the paper's protocol" if not dep else
         f"departs from the paper's protocol in {len(dep)} fields "
         "(see departures)")
  tol = cfg.fit.rate_tol
  lo, hi = (1 - tol) * PAPER_RATE, (1 + tol) * PAPER_RATE
  rate_ok = np.isfinite(est["rate"])
  claims = [output.claim(
      "exchange_rate",
      "the boundary of the solved region is an attention floor x = x0 plus a "
      "sloped line a*x + b*y = c (x = attention params d*d_h*H, y = MLP params "
      "d*m, the paper's axes); along the sloped part one y is worth b/a x, "
      f"within ±{tol:.0%} of the paper's {PAPER_RATE:g} ({how})",
      est["rate"], ci["rate"],
      output.interval_verdict(ci["rate"], lo, hi) if rate_ok else "inconclusive",
      line=dict(zip("abc", est["line"])), n_crossings=len(est["brackets"]),
      n_sloped=len(est["slope"]),
      rates_consistent_with_grid=est["rate_consistent"],
      departures=dep,
      reference=output.reference(
          PAPER_RATE, _SOURCE + "sloped part y = 2300 - x/2)"))]
  ftol = cfg.fit.floor_tol
  flo, fhi = (1 - ftol) * PAPER_FLOOR, (1 + ftol) * PAPER_FLOOR
  floor_ok = np.isfinite(est["x0"]) and np.all(np.isfinite(ci["x0"]))
  claims.append(output.claim(
      "attention_floor",
      "however large the MLP, the solved region starts at x0 attention "
      f"params (the floor: the highest rows' common crossing), within "
      f"±{ftol:.0%} of the paper's {PAPER_FLOOR:g} ({how})",
      est["x0"], ci["x0"],
      output.interval_verdict(ci["x0"], flo, fhi) if floor_ok
      else "inconclusive",
      floor_rows=[est["brackets"][k][1] for k in est["floor"]],
      floor_found_fraction=est["floor_found"], departures=dep,
      reference=output.reference(
          PAPER_FLOOR, _SOURCE + "vertical part x = 1280 for y in "
          "[1660, 4300])")))
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
          "protocol": dict(eval=cfg.train.eval, like_for_like=not dep,
                           departures=dep),
          "grid": dict(H=sorted(cfg.model.H_list), m=sorted(cfg.model.m_list),
                       attn_params=xs, mlp_params=ys, accuracy=acc.tolist(),
                       solved=est["solved"], solved_frac=est["solved_frac"]),
          "frontier": dict(brackets=est["brackets"],
                           points=points_of(est["brackets"]).tolist(),
                           floor=est["floor"], slope=est["slope"],
                           x0=est["x0"], line=est["line"], rate=est["rate"],
                           rates_consistent_with_grid=est["rate_consistent"]),
          "n_members": len(records)}


def boundary_cells(cfg, summary):
  """(H, m) of the first solved cell past each crossing of the boundary
  (along its row or its column): the smallest grid models storing the
  task's facts, each at or above its capacity by under one grid step."""
  mo, g = cfg.model, summary["grid"]
  solved = np.array(g["solved"], bool)
  Hs, ms = g["H"], g["m"]
  out = set()
  for axis, fixed, lo, hi in summary["frontier"]["brackets"]:
    del lo
    x, y = (hi, fixed) if axis == "x" else (fixed, hi)
    H, m = int(round(x / (mo.d * mo.d_h))), int(round(y / mo.d))
    if H in Hs and m in ms and solved[ms.index(m), Hs.index(H)]:
      out.add((H, m))
  return sorted(out)


def add_bits(cfg, summary, records):
  """The facts of the task in bits on the boundary cells (summary["bits"])
  and the bits-per-parameter claim: a cell past the boundary stores the
  facts with more parameters than its capacity needs, so its bits per
  parameter bound those at capacity from below."""
  t = cfg.task
  rows = []
  for H, m in boundary_cells(cfg, summary):
    ok = [r for r in records if r["H"] == H and r["m"] == m and
          r["status"] == "success"]
    if ok:
      rows.append(bits.row(t.S * t.R, t.D, ok[0]["params"],
                           bits.mean_final_ce(ok), shape=ok[0]["shape"],
                           H=H, m=m, attn_params=ok[0]["attn_params"],
                           mlp_params=ok[0]["mlp_params"], seeds=len(ok)))
  summary["bits"] = rows
  summary["claims"] += bits.bits_claims(
      rows, [], cfg.fit.n_boot, cfg.seed, cfg.fit.bits_band,
      f"{t.S * t.R} facts, D = {t.D}, {cfg.train.eval} evaluation",
      best_what="the first solved cell past each row's and column's "
      "crossing of the boundary",
      protocol="a fixed table of S R facts on the boundary cells of the "
      "H x m grid (each at or above its capacity by under one grid step: a "
      "lower bound of the bits per parameter at capacity)")


# ---------------------------------------------------------------- figure


def _edges(v):
  v = np.asarray(v, float)
  if len(v) == 1:
    w = max(abs(v[0]) / 2, 1.0)
    return np.array([max(0.0, v[0] - w), v[0] + w])
  mid = (v[1:] + v[:-1]) / 2
  return np.concatenate([[max(0.0, v[0] - (mid[0] - v[0]))], mid,
                         [v[-1] + (v[-1] - mid[-1])]])


def boundary_segments(x0, line, x_range, y_range):
  """The fitted boundary as polylines inside the plot box: the sloped line
  a*x + b*y = c right of the floor, and the floor x = x0 above the line
  (the line alone if there is no floor)."""
  a, b, c = line
  (xa, xb), (ya, yb) = x_range, y_range
  segs = []
  finite = all(v is not None and np.isfinite(v) for v in (a, b, c))
  has_floor = x0 is not None and np.isfinite(x0)
  if finite and abs(b) > 1e-12 * max(abs(a), 1e-30):
    xl = np.linspace(max(xa, x0) if has_floor else xa, xb, 400)
    yl = (c - a * xl) / b
    keep = (yl >= ya) & (yl <= yb)
    if keep.any():
      segs.append(np.stack([xl[keep], yl[keep]], 1))
  elif finite and a:
    segs.append(np.array([[c / a, ya], [c / a, yb]]))
  if has_floor:
    y_corner = (c - a * x0) / b if finite and abs(b) > 1e-30 else ya
    y_corner = min(max(y_corner, ya), yb)
    segs.append(np.array([[x0, y_corner], [x0, yb]]))
  return segs


def heatmap(base, summary, cfg):
  """Accuracy over (attention, MLP) parameters, with the crossings, our
  fitted floor + sloped line and the paper's hand-drawn boundary; the
  legend sits below the axes so that no cell is hidden."""
  from factrecall import plots  # pylint: disable=g-import-not-at-top
  g, fr = summary["grid"], summary["frontier"]
  xs, ys = np.array(g["attn_params"], float), np.array(g["mlp_params"], float)
  acc = np.array(g["accuracy"], float)
  fig, ax = plots.subplots(figsize=(6.6, 6.6))
  ex, ey = _edges(xs), _edges(ys)
  im = ax.pcolormesh(ex, ey, np.ma.masked_invalid(acc), cmap="viridis",
                     vmin=0, vmax=1, shading="flat")
  fig.colorbar(im, ax=ax, label=f"accuracy ({summary['protocol']['eval']})")
  solved = np.array(g["solved"], bool)
  X, Y = np.meshgrid(xs, ys)
  if solved.any():
    ax.plot(X[solved], Y[solved], "k.", ms=3, label="solved cell")
  pts = np.array(fr["points"], float).reshape(-1, 2)
  if len(pts):
    ax.plot(pts[:, 0], pts[:, 1], "o", color="w", ms=4, mec="k",
            label="boundary crossings (bracket midpoints)")
  claim = {c["id"]: c for c in summary["claims"]}
  rate, x0 = fr["rate"], fr["x0"]
  num = output.fmt_number
  ci = claim["exchange_rate"]["ci"]
  lab = (f"ours: floor x0 = {num(x0)}, slope 1 y ≈ {num(rate)} "
         f"[{num(ci[0])}, {num(ci[1])}] x")
  for k, seg in enumerate(boundary_segments(
      x0 if x0 is not None else float("nan"),
      [float("nan") if v is None else v for v in fr["line"]],
      (ex[0], ex[-1]), (ey[0], ey[-1]))):
    ax.plot(seg[:, 0], seg[:, 1], "-", color="tab:red", lw=2,
            label=lab if k == 0 else None)
  if not departures_of_task(cfg):
    for k, seg in enumerate(PAPER_BOUNDARY):
      seg = np.array(seg)
      ax.plot(seg[:, 0], seg[:, 1], "--", color="w", lw=1.8,
              label=(f"paper (Fig. 4 right): x = {PAPER_FLOOR:g}, "
                     "y = 2300 - x/2") if k == 0 else None)
  ax.set_xlim(ex[0], ex[-1])
  ax.set_ylim(ey[0], ey[-1])
  ax.set_xlabel("attention parameters d·d_h·H")
  ax.set_ylabel("MLP parameters d·m")
  t = cfg.task
  ax.set_title(f"trade-off: S={t.S}, R={t.R} ({t.S * t.R} facts), "
               f"d={cfg.model.d}, d_h={cfg.model.d_h}, "
               f"{cfg.train.max_steps} steps")
  ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1),
            ncol=1, framealpha=0.9)
  return plots.save(fig, base)


def departures_of_task(cfg):
  """Departures in what is trained (the task and the model's widths): where
  there are any, the paper's boundary belongs to another problem and is not
  drawn."""
  fields = ("task.S=", "task.R=", "task.D=", "task.n_noise=", "task.T=",
            "model.d=", "model.d_h=")
  return [d for d in departures(cfg) if d.startswith(fields)]

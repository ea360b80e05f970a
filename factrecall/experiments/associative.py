"""Associative-memory capacity (paper Figs. 1 and 6).

A memory maps N inputs with fixed unit-sphere embeddings e_x to M outputs
with fixed embeddings u_y: a linear memory (logits = u^T W e) or an MLP
memory (logits = U W2^T ReLU(W1^T e + b)), trained full batch with Adam on
cross-entropy. Its capacity is the largest N reaching accuracy >= target.

For one model shape, every candidate N of every seed (and learning rate)
trains in ONE vmapped, sharded program: inputs are padded to the group's
largest N and outputs to its largest M, with masks. Per seed, a
`search.Bracket` (or the original code's `search.Bisection`) is refined round
by round to the config's resolution (`search.SeedSearch`, `search.drive`).
"""
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from factrecall import bits
from factrecall import checks
from factrecall import engine
from factrecall import models
from factrecall import output
from factrecall import progress as progress_lib
from factrecall import rng
from factrecall import search as search_lib
from factrecall import stats
from factrecall.checks import Bool, Int, OneOf, Real, Seq
from factrecall.output import UserError

REGIMES = ("identity", "fixed")


# ---------------------------------------------------------------- training


@dataclasses.dataclass(frozen=True)
class Setup:
  """Static part of a group (a jit cache key): shape and padded sizes."""
  shape: models.MemoryShape
  n_in: int    # inputs, padded to the group's largest N
  n_out: int   # outputs, padded to the group's largest M
  chunk: int = 64  # steps between evaluations


def targets(hp, n_in):
  """f*(i) = floor(i * M / N), input i's output among M: the identity when
  M = N, M/N inputs per output otherwise (the fixed-output task)."""
  i_N = jnp.arange(n_in, dtype=jnp.int32)
  N, M = hp["N"], hp["M"]
  return jnp.where(M == N, i_N, (i_N * M) // jnp.maximum(N, 1))


def init(setup, hp):
  """Embeddings, parameters and Adam state of one member (seed inside hp)."""
  k_e, k_u, k_p = rng.split(rng.key(hp["seed"]), 3)
  d = setup.shape.d
  params = setup.shape.init_params(k_p)
  return dict(params=params, opt=optax.scale_by_adam().init(params),
              e=models.sphere_embeddings(k_e, setup.n_in, d),
              u=models.sphere_embeddings(k_u, setup.n_out, d))


def _logits(setup, params, state, hp):
  lg_NxM = setup.shape.build().apply({"params": params}, state["e"],
                                     state["u"])
  return jnp.where(jnp.arange(setup.n_out) < hp["M"], lg_NxM, -jnp.inf)


def loss_and_accuracy(setup, params, state, hp):
  """Mean cross-entropy and accuracy over the member's N real inputs."""
  lg_NxM = _logits(setup, params, state, hp)
  real_N = jnp.arange(setup.n_in) < hp["N"]
  y_N = jnp.where(real_N, targets(hp, setup.n_in), 0)  # padded rows: class 0
  hit_NxM = jnp.arange(setup.n_out)[None, :] == y_N[:, None]
  xent_N = (jax.nn.logsumexp(lg_NxM, -1) -
            jnp.sum(jnp.where(hit_NxM, lg_NxM, 0.0), -1))
  n = jnp.maximum(jnp.sum(real_N), 1).astype(jnp.float32)
  acc = jnp.sum(real_N & (jnp.argmax(lg_NxM, -1) == y_N)) / n
  return jnp.sum(jnp.where(real_N, xent_N, 0.0)) / n, acc


def run_chunk(setup, state, hp, active):
  """setup.chunk full-batch Adam steps (if active), then (loss, accuracy)."""
  opt = optax.scale_by_adam()
  loss = lambda p: loss_and_accuracy(setup, p, state, hp)[0]

  def step(carry, _):
    params, opt_state = carry
    g = jax.grad(loss)(params)
    upd, opt_state = opt.update(g, opt_state, params)
    params = jax.tree_util.tree_map(lambda p, u: p - hp["lr"] * u, params, upd)
    return (params, opt_state), None

  (params, opt_state), _ = jax.lax.scan(
      step, (state["params"], state["opt"]), None, length=setup.chunk)
  new = dict(state, params=params, opt=opt_state)
  new = jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), new, state)
  return new, jnp.stack(loss_and_accuracy(setup, new["params"], new, hp))


def member_bytes(setup):
  """(state, work): rough bytes of one member between chunks (parameters
  with Adam's moments, its embeddings) and while its chunk runs (its N x M
  logits with softmax and gradient, activations); PROGRAM's estimate."""
  shape, N, M = setup.shape, setup.n_in, setup.n_out
  return (12 * shape.params + 4 * (N + M) * shape.d,
          16 * N * (M + 2 * shape.d + shape.m))


# The memories' members run through the same engine as the transformers':
# their state is the parameters, Adam's moments and the fixed embeddings;
# an evaluation is (loss, accuracy) over the member's N inputs.
PROGRAM = engine.Program(
    init, run_chunk, ("loss", "accuracy"), {"all_pairs": "accuracy"},
    ("loss",), member_bytes=member_bytes)


def step_flops(setup):
  """Rough flops of one member's training step (forward + backward)."""
  d, m = setup.shape.d, setup.shape.m
  per_row = d * d + d * setup.n_out if m == 0 else 2 * d * m + d * setup.n_out
  return 6 * setup.n_in * per_row


def member_hp(N, M, lr, seed):
  return dict(N=np.int32(N), M=np.int32(M), lr=np.float32(lr),
              seed=np.uint32(seed))


def run_group(setup, hps, rule, needed=None, progress=None, step_cost=None,
              ckpt=None, ckpt_every=30.0, on_chunk=None):
  """Trains members hps together through engine.run_group (PROGRAM).

  needed(group) -> indices still worth training lets the caller skip the
  rest; ckpt: the in-flight checkpoint's path (None: none); progress is
  credited step_cost (default: this group's flops) per member-step.
  Returns per member status, accuracy (last evaluation), best_accuracy,
  loss (last evaluation) and steps.
  """
  res = engine.run_group(
      setup, hps, rule, program=PROGRAM, needed=needed, progress=progress,
      step_cost=step_cost or step_flops(setup), ckpt=ckpt,
      ckpt_every=ckpt_every, on_chunk=on_chunk)
  return [dict(status=r["status"], accuracy=r["accuracy"],
               best_accuracy=r["best_accuracy"],
               loss=r["curves"]["loss"][-1] if r["curves"]["loss"]
               else float("nan"), steps=r["steps"]) for r in res]


# ---------------------------------------------------------------- search


def solve_n_log_n(y):
  """N with N ln N = y (y > e), by Newton's method; y <= e gives e."""
  y = np.maximum(np.asarray(y, float), math.e)
  n = y / np.log(y)
  for _ in range(30):
    n = n - (n * np.log(n) - y) / (np.log(n) + 1.0)
  return n


def law_lhs(regime, N):
  """Left side of the capacity laws: N ln N (identity outputs, vs d^2 or m d)
  or N (a fixed number of outputs, vs m d)."""
  N = np.asarray(N, float)
  return N * np.log(N) if regime == "identity" else N


def guess_n(regime, params, c):
  """First guess of the capacity from the law and a guessed constant c."""
  if regime == "identity":
    return float(solve_n_log_n(c * params))
  return c * params


def shapes(cfg):
  """[(regime, ratio, MemoryShape)] of a config."""
  out = []
  ratios = (0,) if cfg.memory == "linear" else tuple(cfg.ratios)
  for regime in cfg.regimes:
    for ratio in ratios:
      for d in cfg.d_list:
        m = int(round(ratio * d))
        out.append((regime, ratio, models.MemoryShape(int(d), m)))
  return out


def record_key(regime, shape, seed, N, lr):
  return f"{regime}|{shape.name()}|s{seed}|N{N}|lr{lr:g}"


def search_floor(shape):
  """The smallest N a search tries: d (a memory on d-dim embeddings stores
  d associations: W = U^T E^-T maps every e_x onto its own u_x)."""
  return shape.d


def bisection_bounds(cfg, shape):
  """(lo, hi) of the bisection: [d, hi_per_param * params], hi <= n_max."""
  hi = int(min(cfg.search.n_max, cfg.search.hi_per_param * shape.params))
  return search_floor(shape), max(hi, search_floor(shape) + 1)


def first_bracket(cfg, regime, shape):
  """(lo, hi) of the first round: around the law's guess (mode bracket), or
  the bisection's bounds (mode bisect). Never below N = d."""
  se = cfg.search
  if se.mode == "bisect":
    return bisection_bounds(cfg, shape)
  n0 = guess_n(regime, shape.params, se.guess[regime])
  floor = search_floor(shape)
  lo = int(max(floor, math.floor(n0 / se.spread)))
  hi = int(min(se.n_max, max(lo + 2, math.ceil(n0 * se.spread))))
  return max(floor, min(lo, hi - 1)), max(hi, floor + 1)


def new_search(cfg, regime, shape):
  """The shape's search: every seed's own Bisection or Bracket on N."""
  se = cfg.search
  lo, hi = first_bracket(cfg, regime, shape)

  def one():
    if se.mode == "bisect":
      return search_lib.Bisection(lo, hi, se.resolution)
    return search_lib.Bracket(lo, hi, se.n_candidates, se.resolution,
                              k_min=search_floor(shape), k_max=se.n_max)
  return search_lib.SeedSearch(
      {cfg.seed + i: one() for i in range(cfg.n_seeds)}, cfg.train.lrs,
      se.prune, size="N")


def step_cost(cfg, regime, shape):
  """Planned flops of one member-step of this shape (for the progress
  bar), at its first bracket's largest N whatever a round's padding."""
  _, hi = first_bracket(cfg, regime, shape)
  M = hi if regime == "identity" else cfg.n_fixed
  return step_flops(Setup(shape, size_bucket(hi), M))


def work_plan(cfg, grid):
  """search.WorkPlan of the shapes grid [(regime, ratio, shape)], in flops."""
  return search_lib.WorkPlan(
      cfg.train.max_steps,
      [len(cfg.train.lrs) * new_search(cfg, r, s).planned_pairs()
       for r, _, s in grid], [step_cost(cfg, r, s) for r, _, s in grid])


def search_shape(cfg, regime, ratio, shape, done, append, prog, together=True,
                 ckpt_dir=None, plan=None):
  """Capacity N* of one shape for every seed: bracket refinement rounds
  (search.drive over new_search).

  done: dict key -> record (resume); append(records) persists new ones.
  together=False trains every (seed, N, lr) alone, unpadded (for tests).
  ckpt_dir: where each group in flight is checkpointed (None: nowhere).
  plan: the run's search.WorkPlan with this shape next (None: this shape's).
  Returns one dict per seed with N (capacity, 0 if none), N_fail, rounds.
  """
  tr = cfg.train
  rule = engine.StopRule(max_steps=tr.max_steps, target=tr.target,
                         patience=tr.patience)
  search = new_search(cfg, regime, shape)
  plan = plan or work_plan(cfg, [(regime, ratio, shape)])
  budget = tr.max_steps
  cost = step_cost(cfg, regime, shape)

  def run_round(rnd, pairs):
    members = [(N, s, lr) for N, s in pairs for lr in search.lrs]
    key = lambda m: record_key(regime, shape, m[1], m[0], m[2])
    missing = [m for m in members if key(m) not in done]
    resumed = sum(done[key(m)]["steps"] for m in members if key(m) in done)
    if resumed:
      prog.skip(cost * resumed)  # resumed: not in the rate
    if together:  # as few groups as fit in cfg.memory_gib
      M = size_bucket(max([N for N, _, _ in missing] or [1]))
      groups = engine.split(missing, PROGRAM, Setup(
          shape, M, M if regime == "identity" else cfg.n_fixed),
                            cfg.memory_gib)
    else:
      groups = [[m] for m in missing]
    for gi, grp in enumerate(groups):
      later = budget * sum(len(g) for g in groups[gi + 1:])
      ckpt = engine.checkpoint_path(
          ckpt_dir, f"{regime}_{shape.name()}_r{rnd}_g{gi}")

      def replan(g, live, later=later):
        """After a chunk (before the bar counts it): the round's budget
        left, and the bar's total = its work done, this chunk's and the
        plan's."""
        plan.update_round(later + sum(max(0, budget - g.steps[i])
                                      for i in range(len(g.status))
                                      if not g.status[i]))
        prog.set_total(prog.done + cost * cfg.train.chunk * len(live) +
                       plan.remaining())

      # one group lands in results.jsonl whole or not at all
      recs = _train_round(cfg, regime, ratio, shape, grp, rule, search, rnd,
                          prog, cost, replan, exact=not together, ckpt=ckpt)
      append(recs)
      done.update((r["key"], r) for r in recs)
    return [done[key(m)] for m in members]

  rnd = search_lib.drive(search, cfg.search.max_rounds, run_round, plan, prog)
  return [dict(regime=regime, ratio=ratio, d=shape.d, m=shape.m,
               params=shape.params, seed=s, N=search.brackets[s].lo or 0,
               N_fail=search.brackets[s].hi, rounds=rnd)
          for s in search.seeds]


def size_bucket(n):
  """Padded input count: the next of 8 * 2^(j/2) (rounded), so that rounds
  of one shape often share a compiled program (compiles cost seconds)."""
  j = 0
  while round(8 * 2 ** (j / 2)) < n:
    j += 1
  return int(round(8 * 2 ** (j / 2)))


def _train_round(cfg, regime, ratio, shape, members, rule, search, rnd, prog,
                 cost, on_chunk, exact=False, ckpt=None):
  """Trains members [(N, seed, lr)] as one group; returns their records.

  Inputs are padded to size_bucket(largest N), or exactly to it if exact.
  The bar is credited `cost` per member-step (the plan's, whatever this
  round's padding, so that it ends where the plan said).
  """
  M_of = lambda N: N if regime == "identity" else cfg.n_fixed
  hps = [member_hp(N, M_of(N), lr, s) for N, s, lr in members]
  n_in = max(N for N, _, _ in members)
  n_in = n_in if exact else size_bucket(n_in)
  setup = Setup(shape, n_in=n_in,
                n_out=n_in if regime == "identity" else cfg.n_fixed,
                chunk=cfg.train.chunk)
  res = run_group(setup, hps, rule, needed=search.needed(members),
                  progress=prog, step_cost=cost, ckpt=ckpt,
                  ckpt_every=cfg.checkpoint_every, on_chunk=on_chunk)
  return [dict(key=record_key(regime, shape, s, N, lr), memory=cfg.memory,
               regime=regime, ratio=ratio, d=shape.d, m=shape.m, N=N,
               M=M_of(N), params=shape.params, seed=s, lr=lr, round=rnd,
               group_size=len(members), **r)
          for (N, s, lr), r in zip(members, res)]


# ---------------------------------------------------------------- claims


# The laws the paper states (Nichani et al. 2025: N ln N ∝ d^2 for the
# linear memory, N ln N ∝ m d for the MLP memory with N outputs, N ∝ m d
# with a fixed number M of outputs) and the constants of the guide lines its
# figures draw by hand over the data (the original notebooks; not fits):
# (c, source) of N ln N = c d^2, N ln N = c m d and N = c m d.
PAPER_GUIDES = {
    "linear": (1 / 1.3, "Nichani et al. 2025 Fig. 1 left: guide line "
               "d^2 = 1.3 N ln N drawn by hand (linear_AM.ipynb)"),
    "mlp_identity": (1 / 0.35, "Nichani et al. 2025 Fig. 1 right: guide "
                     "line m d = 0.35 N ln N drawn by hand "
                     "(mlp_sweep_plots.ipynb)"),
    "mlp_fixed": (1 / 1.2, "Nichani et al. 2025 Fig. 6: guide line "
                  "m d = 1.2 N drawn by hand (mlp_sweep_plots.ipynb)"),
}
PAPER_LAWS = {
    "linear": "Nichani et al. 2025 Fig. 1 left: N ln N ∝ d^2, i.e. slope 1 "
              "of log(N ln N) against log d^2",
    "mlp_identity": "Nichani et al. 2025 Fig. 1 right: N ln N ∝ m d, i.e. "
                    "slope 1 of log(N ln N) against log m d",
    "mlp_fixed": "Nichani et al. 2025 Fig. 6: N ∝ m d with M = 32 outputs, "
                 "i.e. slope 1 of log N against log m d",
}


def fit_points(cfg, caps, regime):
  """(kept, dropped) capacities of one regime. A law is fitted to searches
  that stored their floor N = d; in the fixed regime only to capacities
  N > M (with N <= M every input has an output of its own: an
  identity-regime point)."""
  kept, dropped = [], []
  for c in caps:
    if c["regime"] != regime:
      continue
    ok = c["N"] >= max(2, c["d"])
    if regime == "fixed":
      ok = ok and c["N"] > cfg.n_fixed
    (kept if ok else dropped).append(c)
  return kept, dropped


def expected_n_slope(x, c):
  """The log-log slope of N against x that N ln N = c x implies over the
  points x (locally d ln N / d ln x = ln N / (1 + ln N) < 1)."""
  x = np.asarray(x, float)
  if len(np.unique(x)) < 2 or not np.isfinite(c):
    return float("nan")
  return float(np.polyfit(np.log(x), np.log(solve_n_log_n(c * x)), 1)[0])


def summarize(cfg, caps):
  """Fits and claims of every regime from the capacities (one per seed)."""
  claims, fits = [], {}
  lo_b, hi_b = cfg.fit.slope_band
  g = cfg.fit.guide_factor
  x_name = "d^2" if cfg.memory == "linear" else "m*d"
  for regime in cfg.regimes:
    pts, dropped = fit_points(cfg, caps, regime)
    x = np.array([c["params"] for c in pts], float)
    N = np.array([c["N"] for c in pts], float)
    lhs = "N ln N" if regime == "identity" else "N"
    tag = cfg.memory if cfg.memory == "linear" else f"mlp_{regime}"
    law = stats.loglog_fit(x, law_lhs(regime, N), n_boot=cfg.fit.n_boot,
                              seed=cfg.seed)
    n_fit = stats.loglog_fit(x, N, n_boot=cfg.fit.n_boot, seed=cfg.seed)
    expect = (expected_n_slope(x, law["c1"]) if regime == "identity"
              else 1.0)
    fits[regime] = dict(law=law, slope=n_fit, lhs=lhs, x=x_name,
                        n_slope_expected=expect, n_dropped=len(dropped))
    tr = cfg.train
    where = (f"{law['n']} capacities; {len(dropped)} dropped (" +
             ("N* <= M or " if regime == "fixed" else "") +
             f"floor N = d not stored); protocol: {cfg.search.mode} search, "
             f"lr {', '.join(f'{v:g}' for v in tr.lrs)}, {tr.max_steps} "
             f"steps, checks every {tr.chunk}, patience {tr.patience}")
    extra, n_text = {}, ""
    if regime == "identity" and len(N):
      local = np.log(N) / (1 + np.log(N))
      extra = dict(n_slope=n_fit["k"], n_slope_ci=n_fit["k_ci"],
                   n_slope_expected=expect,
                   n_slope_local=[float(local.min()), float(local.max())])
      n_text = (f"; the slope of N* alone is {n_fit['k']:.3f} "
                f"[{n_fit['k_ci'][0]:.3f}, {n_fit['k_ci'][1]:.3f}], and the "
                f"law implies {expect:.3f} over these sizes (ln N/(1 + ln N)"
                f" = {local.min():.2f}..{local.max():.2f})")
    claims.append(output.claim(
        f"{tag}_slope",
        f"{lhs} ∝ {x_name}: the log-log slope of {lhs} against {x_name} "
        f"lies in [{lo_b}, {hi_b}] ({where}){n_text}",
        law["k"], law["k_ci"],
        output.interval_verdict(law["k_ci"], lo_b, hi_b),
        n_points=law["n"], **extra,
        reference=output.reference(1.0, PAPER_LAWS[tag])))
    c_g, src = PAPER_GUIDES[tag]
    claims.append(output.claim(
        f"{tag}_constant",
        f"{lhs} = c * {x_name}, c = geometric mean of {lhs} / {x_name} over "
        f"seeds and sizes ({where}); agrees with the paper's guide c = "
        f"{c_g:.3g} if "
        f"its CI lies within a factor {g:g} of it (the guide is a line "
        f"placed by eye over 5 seeds' means, not a fit)",
        law["c1"], law["c1_ci"],
        output.interval_verdict(law["c1_ci"], c_g / g, c_g * g),
        ratio_to_guide=law["c1"] / c_g, n_points=law["n"],
        reference=output.reference(c_g, src)))
  return claims, fits


# ---------------------------------------------------------------- figures


def log_axis(axis, lo, hi):
  """Plain-number labels on a log axis: majors at 1, 2, 5 x 10^k when the
  data span under ~2.5 decades (else 10^k only), no minor labels (they
  overlap, e.g. '3x10^1 4x10^1')."""
  from matplotlib import ticker  # pylint: disable=g-import-not-at-top
  span = math.log10(max(hi, 1e-300) / max(lo, 1e-300))
  subs = (1.0, 2.0, 5.0) if span < 2.5 else (1.0,)
  axis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
  axis.set_major_formatter(ticker.FuncFormatter(
      lambda v, _: f"{v:,.0f}" if 1 <= v < 1e6 else f"{v:.0e}"))
  axis.set_minor_formatter(ticker.NullFormatter())


def plot(base, caps, regime, fit, title, n_fixed=None, guide=None):
  """Log-log capacity vs parameters, one curve per width ratio: seeds'
  geometric mean (markers; hollow where the law is not fitted), min-max
  band, the law fit, the power-law fit of N* and the paper's guide line
  (guide: its constant c of the law)."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from factrecall import plots  # pylint: disable=g-import-not-at-top
  fig, ax = plots.subplots(figsize=(5.5, 4.2))
  pts = [c for c in caps if c["regime"] == regime and c["N"] >= 1]
  ratios = sorted({c["ratio"] for c in pts})
  cmap = plt.get_cmap("viridis")
  for j, ratio in enumerate(ratios):
    by_x = {}
    for c in pts:
      if c["ratio"] == ratio:
        by_x.setdefault(c["params"], []).append(c["N"])
    x = np.array(sorted(by_x), float)
    Ns = [np.array(by_x[v], float) for v in x]
    mean = np.array([np.exp(np.mean(np.log(v))) for v in Ns])
    color = cmap(j / max(1, len(ratios) - 1)) if len(ratios) > 1 else "C0"
    label = "linear memory" if ratio == 0 else f"m = {ratio:g} d"
    ax.plot(x, mean, "-", color=color, lw=1)
    out = mean <= n_fixed if n_fixed else np.zeros(len(x), bool)
    ax.plot(x[~out], mean[~out], "o", ms=4, color=color, label=label)
    if out.any():
      ax.plot(x[out], mean[out], "o", ms=4, mfc="none", color=color)
    ax.fill_between(x, [v.min() for v in Ns], [v.max() for v in Ns],
                    color=color, alpha=0.25, lw=0)
  if pts:
    lo_x = min(c["params"] for c in pts)
    hi_x = max(c["params"] for c in pts)
    xs = np.geomspace(lo_x, hi_x, 50)
    lf, sf = fit["law"], fit["slope"]
    if np.isfinite(lf["c1"]):
      n_law = solve_n_log_n(lf["c1"] * xs) if regime == "identity" \
          else lf["c1"] * xs
      ax.plot(xs, n_law, "k--", lw=1.2,
              label=f"{fit['lhs']} = {lf['c1']:.3g} {fit['x']} "
              f"(slope {lf['k']:.2f})")
    if guide:
      n_g = solve_n_log_n(guide * xs) if regime == "identity" else guide * xs
      ax.plot(xs, n_g, "-", color="gray", lw=0.8, alpha=0.8,
              label=f"paper's guide: {fit['lhs']} = {guide:.3g} {fit['x']}")
    if np.isfinite(sf["k"]) and regime == "identity":
      ax.plot(xs, sf["c"] * xs ** sf["k"], ":", color="C3", lw=1.2,
              label=f"N* ∝ ({fit['x']})^{sf['k']:.2f}; law: "
              f"{fit['n_slope_expected']:.2f}")
    if n_fixed:
      ax.axhline(n_fixed, color="gray", lw=0.6, ls=":")
      ax.text(lo_x, n_fixed, f" M = {n_fixed} (hollow: N* ≤ M, not fitted)",
              fontsize=6, va="bottom", color="gray")
    ax.set_xscale("log")
    ax.set_yscale("log")
    log_axis(ax.xaxis, lo_x, hi_x)
    ys = [c["N"] for c in pts]
    log_axis(ax.yaxis, min(ys), max(ys))
  ax.set_xlabel(f"parameters ({fit['x']})")
  ax.set_ylabel("capacity N* (accuracy ≥ target)")
  ax.set_title(title, fontsize=10)
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=7)
  return plots.save(fig, base)


# ---------------------------------------------------------------- runner


# Rules of the fields that configs/linear_memory.py and configs/mlp_memory.py
# share (checked across fields by validate).
SEARCH_RULES = {
    "seed": Int(0),
    "n_seeds": Int(1, 1000),
    "d_list": Seq(Int(1, 8192), distinct=True),
    "n_fixed": Int(2, 2 ** 20),
    "train.lrs": Seq(Real(0, 1e4, lo_open=True), distinct=True),
    "train.max_steps": Int(1, 2 ** 24),
    "train.chunk": Int(1, 2 ** 20),
    "train.target": Real(0, 1, lo_open=True),
    "train.patience": Int(0, 2 ** 20, note="0 = off"),
    "search.guess.identity": Real(0, 1e6, lo_open=True),
    "search.guess.fixed": Real(0, 1e6, lo_open=True),
    "search.spread": Real(1, 1000, lo_open=True),
    "search.n_candidates": Int(1, 1024),
    "search.resolution": Real(0, 10, hi_open=True),
    "search.max_rounds": Int(1, 1000),
    "search.n_max": Int(4),
    "search.prune": Bool(),
    "search.mode": OneOf("bracket", "bisect"),
    "search.hi_per_param": Real(0, 1e6, lo_open=True),
    "fit.n_boot": Int(10, 10 ** 6),
    "fit.guide_factor": Real(1, 100),
    "fit.slope_band": Seq(Real(0, 100, lo_open=True), min_len=2, max_len=2,
                          increasing=True),
    "memory_gib": Real(0, 2 ** 20, lo_open=True),
    "checkpoint_every": Real(0, 86400, note="seconds; 0 = every chunk"),
}


def validate(cfg):
  """Checks across fields (each field alone: the config's RULES)."""
  def need(ok, field, value, allowed):
    if not ok:
      raise UserError(f"{field}={value!r}: {allowed}")
  if cfg.memory == "mlp":
    need(all(round(r * d) >= 1 for r in cfg.ratios for d in cfg.d_list),
         "ratios", tuple(cfg.ratios),
         f"need round(ratio * d) >= 1 for every d of d_list={tuple(cfg.d_list)}")
  se = cfg.search
  checks.at_least(cfg, "train.max_steps", "train.chunk")
  # Memory guard: one member at the largest N the search is likely to reach
  # (guess * spread * 2, <= n_max; a bisection's first probe, halfway up)
  # must fit; a round's members are split into groups that fit
  # (search_shape).
  worst = 0.0
  for regime, _, shape in shapes(cfg):
    if se.mode == "bisect":
      lo, hi = bisection_bounds(cfg, shape)
      N = (lo + hi) // 2
    else:
      N = int(min(se.n_max, 2 * se.spread * guess_n(regime, shape.params,
                                                     se.guess[regime])))
    worst = max(worst, engine.group_bytes(PROGRAM, Setup(
        shape, N, N if regime == "identity" else cfg.n_fixed), 1))
  checks.check_memory(worst, cfg.memory_gib,
                      f"search.n_max={se.n_max}, d_list max={max(cfg.d_list)}",
                      "one member")


def run(cfg, wd):
  """Searches every shape and seed, then fits, claims and figures."""
  done = {r["key"]: r for r in wd.records() if "key" in r}
  grid = shapes(cfg)
  plan = work_plan(cfg, grid)
  prog = progress_lib.Progress(plan.remaining(), desc=cfg.name,
                               enabled=wd.is_writer)
  caps = []
  for regime, ratio, shape in grid:
    caps += search_shape(cfg, regime, ratio, shape, done, wd.append, prog,
                         ckpt_dir=wd.checkpoints, plan=plan)
    engine.release_compiled()  # this shape's programs are not needed again
  prog.close()
  claims, fits = summarize(cfg, caps)
  rows = bits.memory_rows(caps, list(done.values()), cfg.n_fixed)
  for regime in cfg.regimes:
    tag = "linear" if cfg.memory == "linear" else f"mlp_{regime}"
    mine = [r for r in rows if r["regime"] == regime]
    claims += bits.bits_claims(
        mine, [], cfg.fit.n_boot, cfg.seed, cfg.fit.guide_factor,
        f"{tag} memory, {len(mine)} capacities over sizes and seeds; D = the "
        f"{'N' if regime == 'identity' else cfg.n_fixed} outputs",
        prefix=tag + "_")
  if wd.is_writer:
    bits.plot(wd.figure("bits_per_param"),
              {f"{cfg.memory} {regime}": [r for r in rows
                                          if r["regime"] == regime]
               for regime in cfg.regimes})
    for regime in cfg.regimes:
      if cfg.memory == "linear":
        name, title = "linear_memory", "linear memory: capacity vs d²"
      else:
        name = f"mlp_memory_{regime}"
        title = ("MLP memory, identity outputs (M = N)" if regime == "identity"
                 else f"MLP memory, fixed outputs (M = {cfg.n_fixed})")
      tag = "linear" if cfg.memory == "linear" else f"mlp_{regime}"
      plot(wd.figure(name), caps, regime, fits[regime], title,
           n_fixed=cfg.n_fixed if regime == "fixed" else None,
           guide=PAPER_GUIDES[tag][0])
  return {"experiment": cfg.name, "claims": claims, "capacities": caps,
          "fits": fits, "bits": rows}

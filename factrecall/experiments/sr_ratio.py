"""The subject/relation ratio and the hallucination stage.

The training dynamics of experiments.dynamics (the paper's linear-attention
model, or its softmax variant) at a fixed number of facts S * R, for S / R
from below 1 to well above: the paper's picture has the relation learned
first and the model then hallucinating (its output uniform on the
relation's D answers) until it learns the subject, a stage it ties to
S >> R. Each (S, R) trains like a dynamics sweep member (stopped once the
subject is learned and the output has left uniform), and the claims say
from which ratio on the stage is seen.
"""
import math

import numpy as np

from factrecall import output
from factrecall import progress as progress_lib
from factrecall import stats
from factrecall.experiments import dynamics
from factrecall.output import UserError


def sub_config(cfg, S, R):
  """The dynamics config of one (S, R): task.S, task.R set, no S sweep."""
  sub = cfg.copy_and_resolve_references()
  with sub.unlocked():
    sub.task.S, sub.task.R = int(S), int(R)
    sub.task.S_sweep = ()
    sub.plot_S = 0
  return sub


def ratio_pairs(cfg):
  """[(S, R, S / R)] of the config, in increasing ratio."""
  return sorted(((int(S), int(R), S / R) for S, R in cfg.sr.pairs),
                key=lambda p: p[2])


def validate(cfg):
  """Each (S, R) must be a valid dynamics config (memory guard included),
  and the pairs must share one S * R."""
  prods = {int(S) * int(R) for S, R in cfg.sr.pairs}
  if len(prods) != 1:
    raise UserError(f"sr.pairs={tuple(map(tuple, cfg.sr.pairs))}: every pair "
                    f"must have the same S * R (got {sorted(prods)})")
  if cfg.sr.max_steps < max(cfg.train.chunk, cfg.stages.min_plateau_steps):
    raise UserError(f"sr.max_steps={cfg.sr.max_steps}: must be >= "
                    f"train.chunk={cfg.train.chunk} and >= "
                    f"stages.min_plateau_steps={cfg.stages.min_plateau_steps}")
  for S, R, _ in ratio_pairs(cfg):
    dynamics.validate(sub_config(cfg, S, R))


def seen(cfg, rec):
  """A hallucination stage is seen: the output stays within KL
  kl_frac * log D of uniform on A_r for >= min_plateau_steps steps."""
  return rec["stages"]["uniform_steps"] >= max(cfg.stages.min_plateau_steps, 1)


def threshold(ratios, fractions):
  """The smallest ratio from which on at least half the seeds show the
  stage (at it and every larger ratio); None if the largest does not."""
  out = None
  for rho, f in sorted(zip(ratios, fractions), reverse=True):
    if f < 0.5:
      break
    out = rho
  return out


def summarize(cfg, recs):
  """The threshold ratio (CI: seeds resampled per ratio) and per-ratio
  stage lengths and plateau levels."""
  pairs = ratio_pairs(cfg)
  by = {rho: [r for r in recs if r["S"] == S and r["R"] == R]
        for S, R, rho in pairs}
  ratios = [p[2] for p in pairs]
  frac = [float(np.mean([seen(cfg, r) for r in by[rho]])) for rho in ratios]
  thr = threshold(ratios, frac)
  rs = np.random.default_rng(cfg.seed)
  boots = []
  for _ in range(cfg.claims.n_boot):
    f = []
    for rho in ratios:
      v = [seen(cfg, r) for r in by[rho]]
      f.append(float(np.mean(rs.choice(v, len(v)))))
    t = threshold(ratios, f)
    boots.append(np.inf if t is None else t)
  # Thresholds are grid ratios (inf: none): no interpolation between them.
  lo, hi = (np.percentile(boots, [2.5, 97.5], method="nearest") if boots
            else (np.nan, np.nan))
  ci = [float(lo) if np.isfinite(lo) else None,
        float(hi) if np.isfinite(hi) else None]
  table = []
  for S, R, rho in pairs:
    rr = by[rho]
    row = dict(S=S, R=R, ratio=rho, n_seeds=len(rr),
               seen_fraction=frac[ratios.index(rho)])
    for f in ("t_rel", "t_subj", "stage_length", "uniform_steps",
              "plateau_loss", "plateau_steps", "halluc_peak"):
      m, c = dynamics.mean_ci([r["stages"][f] for r in rr])
      row[f], row[f + "_ci"] = m, c
    row["plateau_over_log_D"] = (row["plateau_loss"] / math.log(cfg.task.D)
                                 if row["plateau_loss"] is not None and
                                 np.isfinite(row["plateau_loss"]) else None)
    table.append(row)
  what = dynamics.variant(cfg)
  thr_s = "none" if thr is None else f"{thr:g}"
  # A ratio tells "no stage" only if its seeds learned the relation (else
  # the budget ended before any stage could start).
  learned = [float(np.mean([r["stages"]["t_rel"] is not None
                            for r in by[rho]])) for rho in ratios]
  blind = [rho for rho, f, l in zip(ratios, frac, learned)
           if f < 0.5 and l < 0.5]
  verdict = "inconclusive"  # e.g. not seen at all within the budget
  if thr is not None and ci[0] is not None and ci[1] is not None:
    if ci[0] > 1 and not blind:
      verdict = "supported"
    elif ci[1] <= 1:
      verdict = "refuted"  # seen already with no more subjects than relations
  P = pairs[0][0] * pairs[0][1]
  claims = [output.claim(
      "halluc_ratio_threshold",
      f"with S * R = {P} facts fixed, the hallucination stage (output within "
      f"KL {cfg.stages.kl_frac:g} log D of uniform on A_r for >= "
      f"{cfg.stages.min_plateau_steps} steps after the relation is learned) "
      "is seen by at least half the seeds from a ratio S/R on, and that "
      "ratio is > 1 (supported if its CI lies above 1 inside the sweep; "
      "refuted if it lies at or below 1; inconclusive if the stage is not "
      "seen at the largest ratio); fraction "
      "of seeds seeing it per ratio: " + ", ".join(
          f"{rho:g}: {f:.2f}" for rho, f in zip(ratios, frac)) +
      f"; threshold {thr_s}; CI: seeds resampled per ratio (inf: not "
      f"seen at the largest ratio)" + (
          "; inconclusive below it: at S/R = " +
          ", ".join(f"{rho:g}" for rho in blind) + " most seeds never "
          f"learned the relation within {cfg.sr.max_steps} steps, so no "
          "stage could start" if blind else "") + f"; {what}",
      thr, ci, verdict, by_ratio=table, relation_learned_fraction=learned,
      reference=output.reference(
          "S ≫ R", "Nichani et al. 2025 Sec. 5 / Fig. 5: the hallucination "
          "stage when S ≫ R (qualitative, no ratio given)"))]
  pts = [(row["ratio"], r["stages"]["stage_length"])
         for row in table for r in by[row["ratio"]]
         if r["stages"]["stage_length"] is not None]
  fit = stats.loglog_fit([p[0] for p in pts],
                            [p[1] + cfg.train.chunk for p in pts],
                            n_boot=cfg.claims.n_boot, seed=cfg.seed)
  n_ratios = len({p[0] for p in pts})
  claims.append(output.claim(
      "stage_length_vs_ratio",
      "the hallucination stage (t_subj - t_rel, + one chunk) lengthens with "
      f"S/R at fixed S * R = {P}: log-log slope against S/R > 0 (bootstrap "
      f"over members); per ratio: " + ", ".join(
          f"{row['ratio']:g}: {row['stage_length']:.4g}"
          if row["stage_length"] is not None and
          np.isfinite(row["stage_length"]) else f"{row['ratio']:g}: -"
          for row in table) + f"; {what}",
      fit["k"], fit["k_ci"],
      reference=output.no_reference(
          "the paper gives no stage length as a function of S/R"),
      **output.judged(output.sign_verdict(fit["k_ci"]), None if n_ratios >= 2
                      else f"{n_ratios} ratio(s) have a measured stage (a "
                      "member that learned the relation and then the subject "
                      "within the budget); a slope needs 2")))
  return {"experiment": cfg.name, "model": cfg.model, "variant": what,
          "claims": claims, "by_ratio": table, "log_D": math.log(cfg.task.D)}


def plot(base, cfg, recs, table):
  """Loss curves (seed means) per ratio, with log D, and the stage's
  fraction seen and length against S/R."""
  from factrecall import plots  # pylint: disable=g-import-not-at-top
  fig, (a, b) = plots.subplots(1, 2, figsize=(10, 3.8))
  cmap = plots.get_cmap("viridis")
  for j, row in enumerate(table):
    rr = [r for r in recs if r["S"] == row["S"] and r["R"] == row["R"]]
    n = min(len(r["curves"]["loss"]) for r in rr)
    L = np.array([[np.nan if v is None else v for v in r["curves"]["loss"][:n]]
                  for r in rr], float)
    steps = (np.arange(n) + 1) * cfg.train.chunk
    a.plot(steps, np.nanmean(L, 0), lw=1,
           color=cmap(j / max(1, len(table) - 1)),
           label=f"S={row['S']}, R={row['R']} (S/R = {row['ratio']:g})")
  a.axhline(math.log(cfg.task.D), color="k", ls=":", lw=0.8, label="log D")
  a.set_xscale("log")
  a.set_xlabel("step")
  a.set_ylabel("loss (seed mean)")
  a.legend(fontsize=6)
  a.grid(True, which="both", alpha=0.3)
  x = [row["ratio"] for row in table]
  b.plot(x, [row["seen_fraction"] for row in table], "o-", color="C0",
         label="fraction of seeds with the stage")
  b.set_xscale("log", base=2)
  b.set_xlabel("S / R")
  b.set_ylabel("fraction seen", color="C0")
  b2 = b.twinx()
  b2.plot(x, [row["stage_length"] if row["stage_length"] is not None
              else np.nan for row in table], "s--", color="C3",
          label="stage length (steps)")
  b2.set_ylabel("stage length t_subj - t_rel (steps)", color="C3")
  b.set_title(f"S·R = {table[0]['S'] * table[0]['R']}, "
              f"{cfg.model} attention", fontsize=9)
  b.grid(True, alpha=0.3)
  return plots.save(fig, base)


def run(cfg, wd):
  """Trains every (S, R) of the sweep (resuming), then claims and figure."""
  done = {r["key"]: r for r in wd.records() if "key" in r}
  pairs = ratio_pairs(cfg)
  seeds = [cfg.seed + i for i in range(cfg.sr.n_seeds)]
  budget = cfg.sr.max_steps
  prog = progress_lib.Progress(len(pairs) * len(seeds) * budget,
                               desc=cfg.name, enabled=wd.is_writer)
  recs = []
  for S, R, _ in pairs:
    sub = sub_config(cfg, S, R)
    key = lambda s: dynamics._key(sub, S, s)  # S fixes R at fixed S * R
    todo = [s for s in seeds if key(s) not in done]
    prog.update(budget * (len(seeds) - len(todo)), note=f"S={S}, R={R}")
    if todo:
      for r in dynamics._train_group(sub, wd, S, todo, budget, False, prog):
        done[r["key"]] = r
    recs += [done[key(s)] for s in seeds]
  prog.close()
  summary = summarize(cfg, recs)
  if wd.is_writer:
    plot(wd.figure("sr_ratio"), cfg, recs, summary["by_ratio"])
  return summary

"""Training dynamics and the hallucination stage (paper Fig. 5).

Members (seed x number of subjects S) are trained with the per-chunk metrics
of train.METRICS; from each member's curves we detect when the relation is
learned (relation-only loss small) and when the subject is learned (accuracy
>= target after that), splitting training into the stages init /
hallucination / convergence. Claims compare the loss on the hallucination
plateau with log D, the loss on the initial plateau with log(D*R), and how
the stage length grows with S (R fixed).

Models: "linear" (the paper's linear attention: one-hot embeddings, A and V
at 1e-5, plain SGD), "softmax" (the same with softmax attention, the line
the original notebook leaves commented out: it isolates the softmax) and
"transformer" (an extension the paper does not run: the one-layer softmax
transformer of the capacity experiment with Gaussian embeddings, usually with a
random table and Adam).
"""
import math

import numpy as np

from factrecall import checks
from factrecall import engine
from factrecall import models
from factrecall import output
from factrecall import progress as progress_lib
from factrecall import stats
from factrecall import tasks
from factrecall import train
from factrecall.output import UserError

MODELS = ("linear", "softmax", "transformer")
ONE_HOT = ("linear", "softmax")  # models with d = vocabulary, E = I
OPTIMIZERS = ("sgd", "adam")
MEASURES = ("stage", "plateau", "uniform")
STAGES = ("init", "hallucination", "convergence")
# The fixed test set train.evaluate also scores (not used here: the stages
# are read off the all-pairs metrics); kept small.
FIXED_EVAL = 256

# Two-sided 95% Student t quantiles for df = 1..30 (no scipy dependency).
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def mean_ci(values):
  """(mean, [lo, hi]) with a 95% t-interval over the finite values."""
  v = np.asarray([x for x in values if x is not None], float)
  v = v[np.isfinite(v)]
  if len(v) == 0:
    return float("nan"), [float("nan"), float("nan")]
  m = float(np.mean(v))
  if len(v) == 1:
    return m, [float("nan"), float("nan")]
  t = _T95[len(v) - 2] if len(v) - 1 <= len(_T95) else 1.96
  h = t * float(np.std(v, ddof=1)) / math.sqrt(len(v))
  return m, [m - h, m + h]


# ---------------------------------------------------------------- stages


def relation_index(rel_loss, R, rel_frac):
  """First evaluation whose relation-only loss is <= rel_frac * log R, or None."""
  thr = rel_frac * math.log(max(R, 2))
  hit = np.nonzero(np.asarray(rel_loss, float) <= thr)[0]
  return int(hit[0]) if len(hit) else None


def subject_index(accuracy, i_rel, target):
  """First evaluation at or after i_rel with accuracy >= target, or None.

  Accuracy before the relation is learned is argmax noise over near-equal
  logits (it can even reach 1 on tiny tasks), so it is not looked at.
  """
  if i_rel is None:
    return None
  acc = np.asarray(accuracy, float)
  hit = np.nonzero(acc[i_rel:] >= target)[0]
  return int(i_rel + hit[0]) if len(hit) else None


def flat_run(values, lo, hi, tol):
  """Longest run [a, b] of evaluations inside [lo, hi) where the curve is
  flat: its local slope (central differences) is at most tol times the
  steepest slope of the whole curve (first of equal length; None if no
  evaluation in the window is flat). A plateau found this way is defined
  by the curve standing still, not by its level, so the level is a
  measurement; and a slow approach (still falling) is no plateau."""
  v = np.asarray(values, float)
  if len(v) < 2:
    return None
  g = np.abs(np.gradient(v))
  flat = g <= tol * np.nanmax(g) if np.isfinite(np.nanmax(g)) else g * 0 > 0
  best, a = None, None
  for i in range(max(lo, 0), min(hi, len(v))):
    if flat[i]:
      a = i if a is None else a
      if best is None or i - a > best[1] - best[0]:
        best = (a, i)
    else:
      a = None
  return best


def detect_stages(curves, chunk, R, D, rel_frac=0.1, target=0.99, kl_frac=0.1,
                  flat_tol=0.01):
  """Stage boundaries and plateau statistics of one member's curves.

  curves: dict of per-evaluation lists (train.METRICS), evaluation i after
  (i + 1) * chunk steps. Returns steps t_rel (relation learned) and t_subj
  (subject learned; None if never), the hallucination stage [t_rel, t_subj)
  (to the end if t_subj is None) and:
    plateau_*: the hallucination plateau, the longest flat run of the total
      loss (flat_run with flat_tol) inside the stage; plateau_loss is the
      median loss on it (steps [plateau_start, plateau_end]);
    init_*: the same for the initial plateau, before t_rel;
    uniform_*: the first run of evaluations from t_rel on whose output is
      within KL kl_frac * log D of uniform on A_r (the model hallucinates:
      it knows the relation, not the subject); uniform_steps 0 if none.
  """
  loss = np.asarray(curves["loss"], float)
  n = len(loss)
  step = lambda i: None if i is None else int((i + 1) * chunk)
  i_rel = relation_index(curves["rel_loss"], R, rel_frac)
  i_subj = subject_index(curves["accuracy"], i_rel, target)
  out = dict(t_rel=step(i_rel), t_subj=step(i_subj), stage_length=None,
             plateau_loss=None, plateau_start=None, plateau_end=None,
             plateau_steps=0, init_loss=None, init_start=None, init_end=None,
             init_steps=0, uniform_start=None, uniform_end=None,
             uniform_steps=0, halluc_peak=None)

  def flat(prefix, lo, hi):
    run = flat_run(loss, lo, hi, flat_tol)
    if run is None:
      return
    a, b = run
    out[prefix + "_loss"] = float(np.median(loss[a:b + 1]))
    # evaluation a is taken at step (a + 1) * chunk; the run spans the
    # steps from its first to its last evaluation
    out.update({prefix + "_start": step(a), prefix + "_end": step(b),
                prefix + "_steps": step(b) - step(a)})

  flat("init", 0, i_rel if i_rel is not None else n)
  if i_rel is None:
    return out
  end = i_subj if i_subj is not None else n
  if i_subj is not None:
    out["stage_length"] = step(i_subj) - step(i_rel)
  if end > i_rel:
    flat("plateau", i_rel, end)
    out["halluc_peak"] = float(np.max(np.asarray(curves["halluc"])[i_rel:end]))
  kl = np.asarray(curves["kl_rel"], float)
  low = np.nonzero(kl[i_rel:] <= kl_frac * math.log(max(D, 2)))[0]
  if len(low):
    a = i_rel + int(low[0])
    b = a
    while b + 1 < n and kl[b + 1] <= kl_frac * math.log(max(D, 2)):
      b += 1
    out.update(uniform_start=step(a) - chunk, uniform_end=step(b),
               uniform_steps=step(b) - step(a) + chunk)
  return out


# ---------------------------------------------------------------- config


def validate(cfg):
  """Checks across fields (each field alone: configs/dynamics.py RULES)."""
  t, tr, st, tf = cfg.task, cfg.train, cfg.stages, cfg.transformer
  for f in ("steps", "sweep_max_steps"):
    if tr[f] < tr.chunk:
      raise UserError(f"train.{f}={tr[f]}: must be >= train.chunk={tr.chunk}")
  tasks.check_noise(t)
  trained = sorted({t.S} | set(t.S_sweep))
  if cfg.plot_S and cfg.plot_S not in trained:
    raise UserError(f"plot_S={cfg.plot_S}: must be 0 (= task.S) or a trained "
                    f"S: one of {', '.join(map(str, trained))}")
  big = trained[-1]
  budget = "steps" if big == t.S else "sweep_max_steps"
  if st.min_plateau_steps > tr[budget]:
    raise UserError(f"stages.min_plateau_steps={st.min_plateau_steps}: must "
                    f"be <= train.{budget}={tr[budget]}, the step budget of "
                    f"the largest S={big} (a longer plateau cannot be seen)")
  # Memory guard: the largest group (one S, its seeds).
  worst = (0, 0, 0)
  for S, seeds, _, _ in plan(cfg):
    hps = [member_hp(cfg, S, s) for s in seeds]
    worst = max(worst, (engine.group_bytes(
        engine.TRANSFORMER, setup_of(cfg, hps), len(seeds)), S, len(seeds)))
  bytes_, S, n = worst
  model = (f"model={cfg.model} (d = vocabulary)" if cfg.model in ONE_HOT else
           f"transformer (d={tf.d}, H={tf.H}, d_h={tf.d_h}, m={tf.m})")
  where = f"task.S={S}" if S == t.S else f"task.S_sweep entry {S}"
  checks.check_memory(bytes_, cfg.memory_gib,
                      f"{where}, task.R={t.R}, task.D={t.D}, task.T={t.T}, "
                      f"train.batch={tr.batch}, {model}",
                      f"a group of {n} members")


# ---------------------------------------------------------------- members


def model_shape(cfg, ts):
  """The model of a group: the one-hot models need d = vocabulary."""
  if cfg.model == "linear":
    return models.LinearAttentionShape(d=ts.vocab, n_out=ts.n_out)
  if cfg.model == "softmax":
    return models.SoftmaxAttentionShape(d=ts.vocab, n_out=ts.n_out)
  tf = cfg.transformer
  return models.TransformerShape(d=tf.d, H=tf.H, d_h=tf.d_h, m=tf.m)


def member_hp(cfg, S, seed):
  tv = tasks.task_values(S, cfg.task.R, cfg.task.D, cfg.task.n_noise,
                         table=cfg.task.table)
  return dict(tv, lr=np.float32(cfg.train.lr), seed=np.uint32(seed))


def _key(cfg, S, seed):
  return f"{cfg.model}|S{S}|seed{seed}"


def plan(cfg):
  """[(S, seeds, budget, full)]: the main S trains its whole budget (for the
  figure); the other S stop once both stage boundaries are seen."""
  tr = cfg.train
  out = [(cfg.task.S, [cfg.seed + i for i in range(tr.n_seeds)], tr.steps, True)]
  for S in sorted(set(cfg.task.S_sweep) - {cfg.task.S}):
    out.append((S, [cfg.seed + i for i in range(tr.sweep_seeds)],
                tr.sweep_max_steps, False))
  return out


def setup_of(cfg, hps):
  """The engine setup of a group of members hps (one S)."""
  ts = tasks.shape_for(hps, cfg.task.T, pad=False)
  return train.Setup(
      model=model_shape(cfg, ts), task=ts, batch=cfg.train.batch,
      chunk=cfg.train.chunk, optimizer=cfg.train.optimizer,
      embeddings="onehot" if cfg.model in ONE_HOT else "gaussian",
      fixed_eval=FIXED_EVAL)


def _train_group(cfg, wd, S, seeds, budget, full, prog):
  hps = [member_hp(cfg, S, s) for s in seeds]
  setup = setup_of(cfg, hps)
  shape = setup.model
  st = cfg.stages
  acc_i, rel_i = train.METRICS.index("accuracy"), train.METRICS.index("rel_loss")
  kl_i = train.METRICS.index("kl_rel")
  kl_thr = st.kl_frac * math.log(max(cfg.task.D, 2))
  i_rel = [None] * len(hps)
  seen = set()

  def needed(g):
    """Members still training: a sweep member stops once t_subj is seen and
    its output has left the uniform-on-A_r run (so both are measured)."""
    keep = []
    for i in range(len(hps)):
      rows = g.curves[i]
      if i_rel[i] is None:
        i_rel[i] = relation_index([r[rel_i] for r in rows], cfg.task.R,
                                  st.rel_frac)
      done = (not full and i_rel[i] is not None and
              subject_index([r[acc_i] for r in rows], i_rel[i], st.target)
              is not None and rows[-1][kl_i] > kl_thr)
      if not done:
        keep.append(i)
      if (g.status[i] or done) and i not in seen:
        seen.add(i)
        prog.update(max(0, budget - g.steps[i]))
    return keep

  rule = engine.StopRule(max_steps=budget, target=2.0, patience=0)
  ckpt = engine.checkpoint_path(wd.checkpoints, f"{cfg.model}_S{S}")
  res = engine.run_group(setup, hps, rule, needed=needed, progress=prog,
                         ckpt=ckpt, ckpt_every=cfg.checkpoint_every)
  recs = []
  for seed, hp, r in zip(seeds, hps, res):
    stages = detect_stages(r["curves"], cfg.train.chunk, cfg.task.R,
                           cfg.task.D, st.rel_frac, st.target, st.kl_frac,
                           st.flat_tol)
    status = r["status"]
    if status != "diverged":
      status = "success" if stages["t_subj"] is not None else "failed"
    recs.append(dict(
        key=_key(cfg, S, seed), model=cfg.model, shape=shape.name(),
        params=shape.params, d=shape.d, seed=seed, lr=float(cfg.train.lr),
        optimizer=cfg.train.optimizer, S=S, R=int(hp["R"]), D=int(hp["D"]),
        n_noise=int(hp["n_noise"]), facts=S * int(hp["R"]),
        table=cfg.task.table, main=full, budget=budget, status=status,
        accuracy=r["accuracy"], best_accuracy=r["best_accuracy"],
        steps=r["steps"], chunk=cfg.train.chunk, curves=r["curves"],
        stages=stages))
  wd.append(recs)
  return recs


def run(cfg, wd):
  """The dynamics experiment: train, detect stages, claims, figures."""
  done = {r["key"]: r for r in wd.records() if "key" in r}
  groups = plan(cfg)
  total = sum(len(seeds) * budget for _, seeds, budget, _ in groups)
  prog = progress_lib.Progress(total, desc=cfg.name, enabled=wd.is_writer)
  records = []
  for S, seeds, budget, full in groups:
    todo = [s for s in seeds if _key(cfg, S, s) not in done]
    prog.update(budget * (len(seeds) - len(todo)), note=f"S={S}")
    if todo:
      for r in _train_group(cfg, wd, S, todo, budget, full, prog):
        done[r["key"]] = r
    records += [done[_key(cfg, S, s)] for s in seeds]
  prog.close()
  summary = summarize(cfg, records)
  if wd.is_writer:
    plot_stages(wd.figure("dynamics"), cfg, records, summary)
    plot_scaling(wd.figure("stage_scaling"), cfg, records, summary)
  return summary


# ---------------------------------------------------------------- claims


def _col(recs, name):
  return [r["stages"][name] for r in recs]


def stage_table(cfg, records):
  """Per S: stage boundaries and plateau statistics with CIs over seeds."""
  out = []
  for S in sorted({r["S"] for r in records}):
    recs = [r for r in records if r["S"] == S]
    row = dict(S=S, n_seeds=len(recs),
               subject_learned=sum(v is not None for v in _col(recs, "t_subj")))
    for f in ("t_rel", "t_subj", "stage_length", "plateau_loss",
              "plateau_steps", "init_loss", "init_steps", "uniform_steps",
              "halluc_peak"):
      m, ci = mean_ci(_col(recs, f))
      row[f], row[f + "_ci"] = m, ci
    if subject_loss_meaningful(cfg):
      m, ci = mean_ci([_on_plateau(r, "subj_loss") for r in recs])
      row["plateau_subj_loss"], row["plateau_subj_loss_ci"] = m, ci
    row["uniform_seen"] = float(np.mean(
        [v >= max(cfg.stages.min_plateau_steps, 1)
         for v in _col(recs, "uniform_steps")]))
    out.append(row)
  return out


def subject_loss_meaningful(cfg):
  """The subject-only loss (mass on the answers with the right index in
  their block) measures what the subject tells only when the index is a
  function of the subject: the structured table. With a random table the
  index of a*(s, r) changes with r, so it is not reported."""
  return cfg.task.table == "structured"


def _on_plateau(rec, key):
  """Median of a curve over the member's hallucination plateau (None if it
  has none)."""
  st = rec["stages"]
  if st["plateau_start"] is None:
    return None
  a = st["plateau_start"] // rec["chunk"] - 1
  b = st["plateau_end"] // rec["chunk"] - 1
  v = [x for x in rec["curves"][key][a:b + 1] if x is not None]
  return float(np.median(v)) if v else None


def _length(cfg, rec):
  st = rec["stages"]
  return {"stage": st["stage_length"], "plateau": st["plateau_steps"],
          "uniform": st["uniform_steps"]}[cfg.stages.scaling_measure]


def variant(cfg):
  """What is compared with the paper: its own linear-attention run, the same
  run with softmax attention, or the transformer extension."""
  return {
      "linear": "the paper's linear-attention model (one-hot embeddings, A "
                "and V at 1e-5, SGD)",
      "softmax": "the paper's linear-attention setup with softmax attention "
                 "(the paper plots no such run; its code has the line, "
                 "commented out)",
      "transformer": "extension, not in the paper: the one-layer softmax "
                     "transformer (Gaussian embeddings)",
  }[cfg.model]


_FIG5 = "Nichani et al. 2025 Fig. 5"


def _no_plateau_note(vals, where):
  """A claim's note when no seed has the plateau it measures."""
  if any(v is not None for v in vals):
    return {}
  return {"note": f"no seed's loss is flat {where}: the plateau is not "
                  "reached within the run, so there is no level to compare"}


def summarize(cfg, records):
  """Claims (with CIs over seeds) and the per-S stage table."""
  R, D = cfg.task.R, cfg.task.D
  tol = cfg.claims.loss_tol
  main = [r for r in records if r["S"] == cfg.task.S]
  table = stage_table(cfg, records)
  log_d, log_dr = math.log(D), math.log(D * R)
  what = variant(cfg)
  flat = (f"slope <= {cfg.stages.flat_tol:g} x the steepest slope of the "
          "loss curve")
  claims = []

  def seen(vals):
    return sum(v is not None for v in vals)

  vals = _col(main, "plateau_loss")
  m, ci = mean_ci(vals)
  claims.append(output.claim(
      "plateau_loss",
      f"on the hallucination plateau (S={cfg.task.S}; after the relation is "
      f"learned, the longest run where the loss is flat: {flat}) the total "
      f"loss sits at log D = {log_d:.4g} (median on the plateau, CI over "
      f"seeds within ±{tol:.0%} of log D); {what}", m, ci,
      output.interval_verdict(ci, (1 - tol) * log_d, (1 + tol) * log_d),
      log_D=log_d, n_seeds=len(main), seeds_with_plateau=seen(vals),
      **_no_plateau_note(vals, "after the relation is learned (t_rel) and "
                         "before the subject is (or the budget ends)"),
      reference=output.reference(
          log_d, f"{_FIG5}: hallucination plateau at log D (uniform on the "
          "relation's answers)")))

  vals = _col(main, "init_loss")
  m, ci = mean_ci(vals)
  claims.append(output.claim(
      "init_plateau_loss",
      "on the initial plateau (before the relation is learned, the longest "
      f"flat run) the loss sits at log(D*R) = {log_dr:.4g} "
      f"(median on the plateau, CI within ±{tol:.0%}); {what}", m, ci,
      output.interval_verdict(ci, (1 - tol) * log_dr, (1 + tol) * log_dr),
      log_DR=log_dr, seeds_with_plateau=seen(vals),
      **_no_plateau_note(vals, "before the relation is learned"),
      reference=output.reference(
          log_dr, f"{_FIG5}: initial plateau at log(D*R)")))

  gaps = []
  for r in main:
    st = r["stages"]
    if st["t_rel"] is None:
      gaps.append(None)
    else:  # a subject never learned counts as learned at the budget's end
      gaps.append((st["t_subj"] or r["steps"]) - st["t_rel"])
  m, ci = mean_ci(gaps)
  t_rel, t_rel_ci = mean_ci(_col(main, "t_rel"))
  t_subj, t_subj_ci = mean_ci(_col(main, "t_subj"))
  claims.append(output.claim(
      "relation_before_subject",
      "the relation is learned before the subject: steps t_subj - t_rel "
      "(relation-only loss small -> accuracy >= target; the budget's end if "
      f"the subject is never learned) are > 0; {what}",
      m, ci, output.sign_verdict(ci) if len(main) > 1 else (
          "supported" if m and m > 0 else "inconclusive"),
      t_rel=t_rel, t_rel_ci=t_rel_ci, t_subj=t_subj, t_subj_ci=t_subj_ci,
      seeds_relation_first=sum(g is not None and g > 0 for g in gaps),
      reference=output.reference(
          "> 0", f"{_FIG5}: the relation is learned first (qualitative, no "
          "step count given)")))

  big = max(table, key=lambda row: row["S"])
  big_recs = [r for r in records if r["S"] == big["S"]]
  m, ci = mean_ci(_col(big_recs, "uniform_steps"))
  thr = cfg.stages.min_plateau_steps
  verdict = "inconclusive"
  if np.all(np.isfinite(ci)):
    verdict = ("supported" if ci[0] >= thr else
               "refuted" if ci[1] < thr else "inconclusive")
  claims.append(output.claim(
      "halluc_stage_seen",
      f"a hallucination stage (output within KL {cfg.stages.kl_frac:g}*log D "
      f"of uniform on A_r after the relation is learned) lasts >= {thr} steps "
      f"at the largest S={big['S']}; {what}", m, ci, verdict,
      seen_fraction_by_S={row["S"]: row["uniform_seen"] for row in table},
      reference=output.reference(
          "a plateau", f"{_FIG5} (qualitative: no length given)")))

  pts = [(r["S"], _length(cfg, r)) for r in records
         if _length(cfg, r) is not None]
  fit = stats.loglog_fit([p[0] for p in pts],
                            [p[1] + cfg.train.chunk for p in pts],
                            n_boot=cfg.claims.n_boot, seed=cfg.seed)
  n_s = len({p[0] for p in pts})
  measure = {"stage": "stage (t_subj - t_rel)",
             "plateau": "loss plateau",
             "uniform": "uniform-on-A_r run"}[cfg.stages.scaling_measure]
  claims.append(output.claim(
      "halluc_length_scaling",
      f"the hallucination {measure} lengthens as S grows (R={R} fixed): "
      "slope k of length ∝ S^k (length + one chunk, log-log, bootstrap CI "
      f"over members) is > 0; {what}", fit["k"], fit["k_ci"],
      output.sign_verdict(fit["k_ci"]) if n_s >= 2 else "inconclusive",
      S_values=sorted({p[0] for p in pts}), c=fit["c"],
      reference=output.no_reference(
          "the paper gives no stage length as a function of S")))
  return {"experiment": cfg.name, "model": cfg.model, "variant": what,
          "claims": claims, "log_D": log_d, "log_DR": log_dr,
          "subject_loss_reported": subject_loss_meaningful(cfg),
          "stages_by_S": table}


# ---------------------------------------------------------------- figures


def _mean_curves(recs, key):
  n = min(len(r["curves"][key]) for r in recs)
  a = np.array([[np.nan if v is None else v for v in r["curves"][key][:n]]
                for r in recs], float)
  return np.nanmean(a, 0), np.nanmin(a, 0), np.nanmax(a, 0)


def plot_stages(base, cfg, records, summary):
  """Paper Fig. 5: losses with the three stages shaded; hallucination/accuracy."""
  from factrecall import plots  # pylint: disable=g-import-not-at-top
  S = cfg.plot_S or cfg.task.S
  recs = [r for r in records if r["S"] == S] or [
      r for r in records if r["S"] == cfg.task.S]
  row = next(t for t in summary["stages_by_S"] if t["S"] == recs[0]["S"])
  chunk = recs[0]["chunk"]
  fig, axes = plots.subplots(1, 2, figsize=(11, 5))
  n = min(len(r["curves"]["loss"]) for r in recs)
  steps = (np.arange(n) + 1) * chunk
  t_rel = row["t_rel"] if np.isfinite(row["t_rel"]) else steps[-1]
  t_subj = row["t_subj"] if np.isfinite(row["t_subj"]) else steps[-1]
  spans = ((0, t_rel, "tab:gray", "init"),
           (t_rel, t_subj, "tab:orange", "hallucination"),
           (t_subj, steps[-1], "tab:green", "convergence"))
  for ax in axes:
    for a, b, color, label in spans:
      if b > a:
        ax.axvspan(a, b, color=color, alpha=0.12, lw=0, label=label)
  # Bars at the bottom: where each seed's loss plateaus were measured
  # (mean over seeds) and where the output is uniform on A_r (KL).
  for prefix, color, label, y0 in (
      ("init", "tab:gray", "initial plateau (loss measured here)", 0.0),
      ("plateau", "tab:orange", "hallucination plateau (loss measured here)",
       0.0),
      ("uniform", "tab:purple", "output ≈ uniform on $A_r$ (KL)", 0.045)):
    starts = [r["stages"][prefix + "_start"] for r in recs
              if r["stages"][prefix + "_start"] is not None]
    if starts:
      ends = [r["stages"][prefix + "_end"] for r in recs
              if r["stages"][prefix + "_end"] is not None]
      axes[0].axvspan(np.mean(starts), np.mean(ends), ymin=y0,
                      ymax=y0 + 0.04, color=color, alpha=0.8, lw=0,
                      label=label)
  curves = [("loss", "-", "total loss"),
            ("rel_loss", "--", "relation-only loss")]
  if summary["subject_loss_reported"]:
    curves.append(("subj_loss", ":", "subject-only loss"))
  for key, style, label in curves:
    mean, lo, hi = _mean_curves(recs, key)
    line, = axes[0].plot(steps, mean[:n], style,
                         color="k" if key == "loss" else None, label=label)
    axes[0].fill_between(steps, lo[:n], hi[:n], color=line.get_color(),
                         alpha=0.2)
  for y, label, color in ((summary["log_DR"], "log(D·R)", "tab:red"),
                          (summary["log_D"], "log D", "tab:blue")):
    axes[0].axhline(y, ls="--", lw=1, color=color)
    axes[0].text(steps[0], y, label, va="bottom", ha="left", color=color,
                 fontsize=8)
  axes[0].set_ylabel("loss (nats)")
  name = {"linear": "linear attention (paper)",
          "softmax": "softmax attention, paper's setup",
          "transformer": "transformer (extension)"}[cfg.model]
  axes[0].set_title(f"{name}: S={recs[0]['S']}, R={cfg.task.R}, "
                    f"D={cfg.task.D}, {cfg.task.table} table, "
                    f"{len(recs)} seeds", fontsize=9)
  for key, color, label in (("halluc", "tab:purple", "hallucination rate"),
                            ("accuracy", "tab:green", "accuracy")):
    mean, lo, hi = _mean_curves(recs, key)
    axes[1].plot(steps, mean[:n], color=color, label=label)
    axes[1].fill_between(steps, lo[:n], hi[:n], color=color, alpha=0.2)
  axes[1].set_ylim(-0.02, 1.02)
  axes[1].set_ylabel("rate")
  for ax in axes:
    ax.set_xlabel("step")
    ax.grid(True, alpha=0.3)
  # Legends below the axes, so that no curve is hidden.
  for ax in axes:
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16),
              ncol=3, framealpha=0.9)
  return plots.save(fig, base)


def plot_scaling(base, cfg, records, summary):
  """Stage boundaries vs S (log-log) and the loss curves of one seed per S."""
  from factrecall import plots  # pylint: disable=g-import-not-at-top
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plots.subplots(1, 2, figsize=(11, 4))
  table = summary["stages_by_S"]
  Ss = np.array([t["S"] for t in table], float)
  for f, color, label in (("t_rel", "tab:blue", "relation learned $t_{rel}$"),
                          ("t_subj", "tab:green", "subject learned $t_{subj}$"),
                          ("stage_length", "tab:orange",
                           "hallucination stage $t_{subj}-t_{rel}$"),
                          ("plateau_steps", "tab:red",
                           "loss plateau length"),
                          ("uniform_steps", "tab:purple",
                           "uniform-on-$A_r$ length")):
    pts = [(r["S"], r["stages"][f]) for r in records
           if r["stages"][f] is not None and r["stages"][f] > 0]
    if pts:
      axes[0].plot(*zip(*pts), "o", color=color, alpha=0.35, ms=4)
    means = np.array([t[f] for t in table], float)
    ok = np.isfinite(means) & (means > 0)
    if ok.any():
      axes[0].plot(Ss[ok], means[ok], "-", color=color, label=label)
  fit = next(c for c in summary["claims"] if c["id"] == "halluc_length_scaling")
  if fit["measured"] is not None and np.isfinite(fit["measured"]):
    axes[0].plot([], [], " ", label=f"slope k = {fit['measured']:.2f} "
                 f"[{fit['ci'][0]:.2f}, {fit['ci'][1]:.2f}]")
  if any(len(line.get_xdata()) for line in axes[0].lines):
    # (nothing to draw on log axes when no run learned its relation)
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
  else:
    axes[0].text(0.5, 0.5, "no stage boundary detected", ha="center",
                 transform=axes[0].transAxes)
  axes[0].set_xlabel(f"subjects S (R={cfg.task.R})")
  axes[0].set_ylabel("steps")
  if axes[0].get_legend_handles_labels()[0]:
    axes[0].legend(fontsize=7)
  cmap = plt.get_cmap("viridis")
  for j, S in enumerate(sorted({r["S"] for r in records})):
    r = min((r for r in records if r["S"] == S), key=lambda r: r["seed"])
    c = r["curves"]["loss"]
    axes[1].plot((np.arange(len(c)) + 1) * r["chunk"], c,
                 color=cmap(j / max(1, len(Ss) - 1)), label=f"S={S}")
  axes[1].axhline(summary["log_D"], ls="--", lw=1, color="tab:blue")
  axes[1].axhline(summary["log_DR"], ls="--", lw=1, color="tab:red")
  axes[1].set_xscale("log")
  axes[1].set_xlabel("step")
  axes[1].set_ylabel("total loss (seed 0)")
  axes[1].legend(fontsize=7)
  for ax in axes:
    ax.grid(True, which="both", alpha=0.3)
  return plots.save(fig, base)

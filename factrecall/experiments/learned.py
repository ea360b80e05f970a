"""Learned vs frozen random embeddings in the capacity experiment.

Nichani et al. fix E and U at random Gaussian draws and leave open whether
learning them stores more facts. A capacity run with model.embeddings =
("frozen", "learned") searches every shape twice: with E and U frozen, and
with E and U trained from the same draw (train.Setup(embeddings="learned")).
This module holds what is particular to that comparison: the geometry of
the embeddings (how close to orthogonal, how many directions they use), the
capacity counted with and without the embedding parameters, the claims and
the figures.
"""
import math

import numpy as np

from factrecall import bits
from factrecall import models
from factrecall import output
from factrecall import stats
from factrecall import tasks
from factrecall import train

NO_PAPER = output.no_reference(
    "Nichani et al. 2025 train only the transformer on frozen random "
    "embeddings and name learned embeddings as an open question; no "
    "published number")


# ------------------------------------------------------------ geometry


def mean_abs_cos(x_NxD):
  """Mean |cos| between the rows of x over the n(n-1)/2 distinct pairs (NaN
  for fewer than 2 rows). Rows of N(0, I/d) give about sqrt(2 / (pi d)):
  random vectors are near orthogonal, but not exactly."""
  x = np.asarray(x_NxD, np.float64)
  n = x.shape[0]
  if n < 2:
    return float("nan")
  u = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
  c = np.abs(u @ u.T)
  return float(c[np.triu_indices(n, 1)].mean())


def effective_rank(x_NxD):
  """exp of the entropy of the normalised singular values of x (Roy &
  Vetterli's effective rank): min(n, d) for rows with equal singular values
  (an orthogonal set), 1 for rows along one direction."""
  s = np.linalg.svd(np.asarray(x_NxD, np.float64), compute_uv=False)
  if not len(s) or s.sum() <= 0:
    return float("nan")
  p = s / s.sum()
  p = p[p > 0]
  return float(np.exp(-np.sum(p * np.log(p))))


def random_mean_abs_cos(d):
  """E|cos| of two independent N(0, I/d) vectors: E|x_1| for x uniform on
  the sphere of R^d, Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2))."""
  return math.exp(math.lgamma(d / 2) - math.lgamma((d + 1) / 2)) / math.sqrt(
      math.pi)


def welch_floor(n, d):
  """sqrt((n - d) / (n - 1)): Welch's lower bound on the RMS cos between n
  unit vectors in R^d, sqrt((n - d) / (d (n - 1))), over the 1/sqrt(d) of
  random Gaussian rows (0 for n <= d: orthogonal rows exist)."""
  return math.sqrt((n - d) / (n - 1)) if n > d else 0.0


def geometry(E_VxD, U_CxD, S, R, D):
  """Geometry of one member's embeddings: per group of rows (subjects E[:S],
  relations E[S:S+R], answers U[:D*R]) the mean |cos| between its rows,
  their effective rank and min(rows, d) (its largest value)."""
  E, U = np.asarray(E_VxD), np.asarray(U_CxD)
  out = {}
  for name, x in (("subjects", E[:S]), ("relations", E[S:S + R]),
                  ("answers", U[:D * R])):
    out[name] = dict(mean_abs_cos=mean_abs_cos(x),
                     effective_rank=effective_rank(x),
                     max_rank=int(min(x.shape)),
                     mean_norm=float(np.linalg.norm(x, axis=1).mean()))
  return out


def record_fields(setup, hp, result):
  """What a learned-embedding member adds to its record: the embedding
  parameters it trains and, if it stored its facts, the geometry of its
  trained embeddings beside that of their random start (the same draw)."""
  S, R, D = int(hp["S"]), int(hp["R"]), int(hp["D"])
  vocab = S + R + int(hp["n_noise"]) + 1
  out = dict(embedding_params=models.embedding_count(vocab, D * R,
                                                     setup.model.d))
  p = result.get("params")
  if result["status"] == "success" and p is not None:
    E0, U0 = train.initial_embeddings(setup, hp)
    out["geometry"] = dict(learned=geometry(p["E"], p["U"], S, R, D),
                           random=geometry(E0, U0, S, R, D))
  return out


# ------------------------------------------------------------ comparison


def embedding_params(cfg, k, d):
  """(vocab + answers) * d of a task of searched size k: the parameters
  learning E and U adds."""
  S, R, D = tasks.sizes_for(k, cfg.task.scaling, cfg.task.D)
  vocab = S + R + tasks.noise_count(S, R, cfg.task.n_noise) + 1
  return models.embedding_count(vocab, D * R, d)


def _same_shape(c):
  return (c["d"], c["H"], c["d_h"], c["m"])


def pairs(cfg, capacities):
  """One row per shape searched both ways: the facts each stores at
  capacity, per non-embedding parameter and per parameter counting E and U
  ((vocab + answers) * d at that capacity)."""
  from factrecall.experiments import capacity  # pylint: disable=g-import-not-at-top
  p = capacity.protocols(cfg)[0]
  frozen = {_same_shape(c): c for c in capacities
            if not capacity.is_learned(c)}
  rows = []
  for c in capacities:
    f = frozen.get(_same_shape(c))
    if not capacity.is_learned(c) or f is None:
      continue
    qf, ql = f["protocols"][p], c["protocols"][p]
    P = c["params"]
    ef = embedding_params(cfg, qf["k"], c["d"]) if qf["k"] else 0
    el = embedding_params(cfg, ql["k"], c["d"]) if ql["k"] else 0
    rows.append(dict(
        shape=f["shape"], d=c["d"], curve=f["curve"], params=P,
        frozen_facts=qf["facts"], learned_facts=ql["facts"],
        frozen_table=qf["seed_table"], learned_table=ql["seed_table"],
        frozen_k=qf["k"], learned_k=ql["k"],
        frozen_embedding_params=ef, learned_embedding_params=el,
        frozen_per_param=qf["facts"] / P, learned_per_param=ql["facts"] / P,
        frozen_per_all_params=qf["facts"] / (P + ef),
        learned_per_all_params=ql["facts"] / (P + el)))
  return rows


def capacity_geometry(records, shape, k):
  """Geometry of the members of a learned shape that stored the most facts
  up to k (every seed and learning rate that succeeded there)."""
  ok = [r for r in records if r.get("shape") == shape and
        r.get("status") == "success" and r.get("k", 0) <= (k or 0) and
        r.get("geometry")]
  if not ok:
    return []
  k_best = max(r["k"] for r in ok)
  return [dict(r["geometry"], k=r["k"], seed=r["seed"], lr=r["lr"])
          for r in ok if r["k"] == k_best]


def _ratio_boot(cfg, rows, per):
  """Geometric mean over shapes of the learned / frozen ratio of
  per(row, frozen facts, learned facts), and its bootstrap CI: shapes
  resampled and, at each, both capacities' seeds (the CI carries their
  spread over seeds)."""
  from factrecall.experiments import capacity  # pylint: disable=g-import-not-at-top
  nan2 = list(stats.NAN2)

  def ratio(row, ff, fl):
    a, b = per(row, ff, fl)
    return b / a if a > 0 and b > 0 else float("nan")

  v = [ratio(r, r["frozen_facts"], r["learned_facts"]) for r in rows]
  v = [x for x in v if np.isfinite(x)]
  if not v:
    return float("nan"), nan2
  m = float(np.exp(np.mean(np.log(v))))
  if len(rows) < 2:
    return m, nan2
  rng = np.random.default_rng(cfg.seed)
  table = lambda t: {int(k): vv for k, vv in t.items()}
  boots = []
  for _ in range(cfg.fit.n_boot):
    vs = []
    for i in rng.integers(0, len(rows), len(rows)):
      r = rows[i]
      ff = capacity._resampled_facts(  # pylint: disable=protected-access
          cfg, dict(facts=r["frozen_facts"], table=table(r["frozen_table"])),
          rng)
      fl = capacity._resampled_facts(  # pylint: disable=protected-access
          cfg, dict(facts=r["learned_facts"],
                    table=table(r["learned_table"])), rng)
      vs.append(ratio(r, ff, fl))
    vs = [x for x in vs if np.isfinite(x)]
    if vs:
      boots.append(np.exp(np.mean(np.log(vs))))
  return m, stats.finite_ci(boots, 10)


def _log_verdict(ci, positive=True):
  if not all(np.isfinite(ci)) or min(ci) <= 0:
    return "inconclusive"
  return output.sign_verdict([math.log(ci[0]), math.log(ci[1])], positive)


def departures(cfg):
  """Where the run departs from the paper's protocol (capacity:paper, the
  original code's search): 'field=ours (paper: theirs)' for every training,
  search and task field that differs (the model grid and the embeddings
  aside: learned embeddings are beyond the paper)."""
  from factrecall import cli  # pylint: disable=g-import-not-at-top
  paper = output.flatten(cli.config_module("capacity").get_config(
      "paper").to_dict())
  ours = output.flatten(cfg.to_dict())
  out = []
  for k in sorted(paper):
    if k.startswith(("train.", "search.", "task.")) and ours.get(k) != paper[k]:
      out.append(f"{k}={ours.get(k)} (paper: {paper[k]})")
  for k in ("model.ratios", "model.d_list", "model.H_list"):
    if tuple(map(tuple, ours[k]) if k == "model.ratios" else ours[k]) != tuple(
        map(tuple, paper[k]) if k == "model.ratios" else paper[k]):
      out.append(f"{k}={ours[k]} (paper: {len(paper[k])} values, "
                 f"{paper[k][0]} to {paper[k][-1]})")
  return out


def add_claims(cfg, wd, summary, capacities):
  """The learned-embedding claims, rows (summary["learned"]) and figures."""
  rows = pairs(cfg, capacities)
  dep = departures(cfg)
  records = wd.records()
  geo = []
  for r in rows:
    learned_shape = r["shape"] + "_learnedE"
    k = r["learned_k"]
    for g in capacity_geometry(records, learned_shape, k):
      geo.append(dict(g, shape=r["shape"], d=r["d"]))
  where = (f"{len(rows)} shapes (d = "
           f"{', '.join(str(r['d']) for r in rows)}), "
           f"{cfg.train.eval} evaluation")
  claims = []
  m, ci = _ratio_boot(cfg, rows, lambda r, ff, fl: (ff, fl))
  claims.append(output.claim(
      "learned_over_frozen_facts",
      "learned embeddings store more facts per non-embedding parameter than "
      "frozen random ones: the geometric mean over shapes of the ratio of "
      "capacities (learned E and U, trained from the same Gaussian draw, "
      "over frozen), at the same transformer, is > 1; CI: bootstrap over "
      f"shapes and, at each, seeds ({where})",
      m, ci, _log_verdict(ci),
      per_shape=[{k: v for k, v in r.items() if not k.endswith("_table")}
                 for r in rows], departures=dep, reference=NO_PAPER))
  m2, ci2 = _ratio_boot(
      cfg, rows, lambda r, ff, fl: (
          ff / r["params"],
          fl / (r["params"] + embedding_params(
              cfg, _k_of(cfg, fl), r["d"]))))
  claims.append(output.claim(
      "learned_facts_per_trained_param",
      "learned embeddings pay for their parameters: facts per trained "
      "parameter counting E and U ((vocab + answers) * d at the capacity, "
      "vocab = S + R + noise + EOS) of the learned model over facts per "
      "trained (non-embedding) parameter of the frozen one, geometric mean "
      "over shapes, is > 1; the embedding count grows with the facts "
      f"(S + R + noise tokens and D R answers, times d); CI as above ({where})",
      m2, ci2, _log_verdict(ci2), reference=NO_PAPER))
  for name, pos, say in (
      ("mean_abs_cos", False,
       "learning makes subject embeddings closer to orthogonal than their "
       "random start: the mean |cos| between subject embeddings, learned "
       "over random (the same draw, same S x d shape), is < 1"),
      ("effective_rank", True,
       "learning spreads subject embeddings over more directions than their "
       "random start: effective rank (exp of the entropy of the normalised "
       "singular values), learned over random at the same S x d shape, is "
       "> 1")):
    v = [g["learned"]["subjects"][name] / g["random"]["subjects"][name]
         for g in geo if g["random"]["subjects"][name]]
    gm, gci = stats.geo_mean_ci(v, cfg.fit.n_boot, cfg.seed)
    lv = [g["learned"]["subjects"][name] for g in geo]
    rv = [g["random"]["subjects"][name] for g in geo]
    extra = {f"{part}_{which}": float(np.nanmean(
        [g[which][part][name] for g in geo])) if geo else None
             for part in ("relations", "answers")
             for which in ("learned", "random")}
    if name == "mean_abs_cos":
      # Welch: n unit vectors in R^d (n > d) have mean squared cos over
      # pairs >= (n - d) / (d (n - 1)); Gaussian rows have 1 / d.
      floor = [welch_floor(tasks.sizes_for(g["k"], cfg.task.scaling,
                                           cfg.task.D)[0], g["d"])
               for g in geo]
      extra["welch_rms_over_random"] = (float(np.exp(np.mean(np.log(
          np.maximum(floor, 1e-12))))) if floor else None)
      say += (". With more subjects than dimensions they cannot all be "
              "orthogonal: Welch's bound keeps the RMS cos between n unit "
              "vectors in R^d at or above sqrt((n - d) / (d (n - 1))), so "
              "learning can lower it below the random 1/sqrt(d) by at most "
              "the factor welch_rms_over_random (here "
              f"{extra['welch_rms_over_random'] or float('nan'):.3g})")
    claims.append(output.claim(
        "learned_subject_" + name, say + "; geometric mean over the "
        f"members that stored the most facts of each learned shape ({len(geo)}"
        f" members over seeds and learning rates), CI: bootstrap over them "
        f"({where})", gm, gci, _log_verdict(gci, pos),
        learned_mean=float(np.mean(lv)) if lv else None,
        random_mean=float(np.mean(rv)) if rv else None,
        random_expected=(
            {str(d): random_mean_abs_cos(d) for d in sorted({g["d"] for g
                                                              in geo})}
            if name == "mean_abs_cos" else None),
        **extra, reference=NO_PAPER))
  brows = learned_bits(cfg, capacities, records)
  claims += bits.bits_claims(
      brows, [], cfg.fit.n_boot, cfg.seed, cfg.fit.guide_band,
      f"{len(brows)} learned shapes, {cfg.train.eval} evaluation",
      prefix="learned_", best_what="every learned shape",
      weights_what="the transformer's and E and U's: params + (vocab + D R) "
      "d at the capacity", paper_count="(the transformer's, without E and U)")
  summary["claims"] += claims
  summary["learned"] = dict(pairs=rows, geometry=geo, departures=dep,
                            bits=brows)
  summary["capacities"] = capacities
  if wd.is_writer:
    plot_capacity(wd.figure("learned_capacity"), rows)
    plot_geometry(wd.figure("learned_geometry"), geo)


def learned_bits(cfg, capacities, records):
  """bits.capacity_rows of the learned shapes, each with its trained
  weights: the transformer's parameters and E and U at its capacity."""
  from factrecall.experiments import capacity  # pylint: disable=g-import-not-at-top
  caps = [c for c in capacities if capacity.is_learned(c)]
  cap_of = {c["shape"]: c for c in caps}
  rows = bits.capacity_rows(cfg, caps, records, tasks.sizes_for)
  for r in rows:
    c = cap_of[r["shape"]]
    r["weights"] = r["params"] + embedding_params(cfg, c["k"], c["d"])
    r["info_bits_per_weight"] = r["info_bits"] / r["weights"]
  return rows


def bits_series(summary):
  """The learned shapes' bits for bits.plot, per trained weight (E and U
  counted, as Allen-Zhu & Li count every trained number)."""
  return {"learned E, U (per trained weight)": [
      dict(r, params=r["weights"],
           info_bits_per_param=r["info_bits_per_weight"],
           stored_bits_per_param=r["stored_bits"] / r["weights"])
      for r in summary["learned"]["bits"]]}


def _k_of(cfg, facts):
  """The searched size k whose facts(k) is `facts` (equal scaling: sqrt)."""
  from factrecall.experiments import capacity  # pylint: disable=g-import-not-at-top
  if not facts:
    return 0
  k = capacity._k_for_facts(facts, cfg.task.scaling)  # pylint: disable=protected-access
  return k


# ------------------------------------------------------------ figures


def plot_capacity(base, rows):
  """Facts at capacity vs non-embedding parameters, frozen and learned (and
  learned vs every trained parameter, E and U included)."""
  from factrecall import plots  # pylint: disable=g-import-not-at-top
  fig, ax = plots.subplots(figsize=(5.5, 4.0))
  P = [r["params"] for r in rows]
  ax.plot(P, [r["frozen_facts"] for r in rows], "o-", color="C0",
          label="frozen random E, U")
  ax.plot(P, [r["learned_facts"] for r in rows], "s-", color="C1",
          label="learned E, U (vs non-embedding params)")
  ax.plot([r["params"] + r["learned_embedding_params"] for r in rows],
          [r["learned_facts"] for r in rows], "s--", color="C1", mfc="none",
          label="learned E, U (vs params incl. E, U)")
  if P:
    x = np.array([min(P) / 2, 4 * max(P)], float)
    ax.plot(x, 0.15 * x, "k:", lw=0.8, label="0.15 facts/param (paper)")
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("parameters")
  ax.set_ylabel("facts stored (capacity)")
  ax.set_title("learned vs frozen embeddings", fontsize=10)
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=7)
  return plots.save(fig, base)


def plot_geometry(base, geo):
  """Mean |cos| and effective rank / min(S, d) of subject and answer
  embeddings, learned vs their random start, against d."""
  from factrecall import plots  # pylint: disable=g-import-not-at-top
  fig, axes = plots.subplots(1, 2, figsize=(9.0, 3.6))
  for part, mk in (("subjects", "o"), ("answers", "^")):
    for which, col in (("random", "C0"), ("learned", "C1")):
      d = [g["d"] for g in geo]
      axes[0].plot(d, [g[which][part]["mean_abs_cos"] for g in geo], mk,
                   color=col, alpha=0.7, label=f"{part}, {which}")
      axes[1].plot(d, [g[which][part]["effective_rank"] /
                       g[which][part]["max_rank"] for g in geo], mk,
                   color=col, alpha=0.7, label=f"{part}, {which}")
  ds = sorted({g["d"] for g in geo})
  if ds:
    axes[0].plot(ds, [random_mean_abs_cos(d) for d in ds], "k:", lw=0.8,
                 label="E|cos|, Gaussian")
  axes[0].set_ylabel("mean |cos| between embeddings")
  axes[1].set_ylabel("effective rank / min(rows, d)")
  for ax in axes:
    ax.set_xscale("log")
    ax.set_xlabel("d")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6)
  fig.suptitle("embedding geometry at capacity", fontsize=10)
  return plots.save(fig, base)

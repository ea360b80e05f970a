"""Capacity in bits: what a model that stores facts holds, per parameter.

Two measures of the facts stored at a capacity point:
  * stored bits = facts * log2(D): each fact picks one of D answers of its
    relation, so a table of facts carries this many bits (the count behind
    Nichani et al.'s S * R * log D lower bound on parameters);
  * the information measure of Allen-Zhu & Li 2024 ("Physics of Language
    Models 3.3"): sum over facts of max(0, log2 D - CE_bits(fact)), the bits
    the model's predictions gain over guessing among the D answers (a fact
    predicted no better than uniform adds nothing, a perfect one log2 D).
"""
import json
import math
import os

import numpy as np

from factrecall import output
from factrecall import stats

LN2 = math.log(2.0)


def stored_bits(facts, D):
  """facts * log2(D): the bits of a table of facts with D answers each."""
  return float(facts) * math.log2(D)


def information_bits(ce_bits, D):
  """Allen-Zhu & Li's measure: sum_facts max(0, log2 D - CE_bits(fact)).

  ce_bits: each fact's cross-entropy of its answer, in bits.
  """
  ce = np.asarray(ce_bits, float)
  return float(np.sum(np.maximum(0.0, math.log2(D) - ce)))


def information_bits_from_mean(facts, mean_ce_nats, D):
  """facts * max(0, log2 D - mean CE in bits): the measure when only the
  mean cross-entropy (in nats) over the facts is known. Never above the
  per-fact measure (max(0, .) is convex: Jensen), equal to it when no fact
  is predicted worse than uniform."""
  return float(facts) * max(0.0, math.log2(D) - float(mean_ce_nats) / LN2)


def calibrated_ce_nats(accuracy, D):
  """Mean cross-entropy (nats) of the predictor a top-1 retrieval implies:
  probability `accuracy` on its answer, the rest spread evenly over the
  other D - 1 (the calibrated distribution of an argmax that is right with
  that probability). log2 D minus it (in bits) is Fano's bound on the
  information the retrieval keeps: Allen-Zhu & Li's measure for a memory
  that outputs an answer, not a distribution."""
  a = min(max(float(accuracy), 0.0), 1.0)
  ce = -a * math.log(a) if a > 0 else 0.0
  if a < 1 and D > 1:
    ce -= (1 - a) * math.log((1 - a) / (D - 1))
  return ce


def row(facts, D, params, ce_nats, **extra):
  """One capacity point in bits: stored bits facts * log2 D, the
  information from the mean cross-entropy (NaN if unknown), both per
  parameter; `extra` fields are kept beside them."""
  sb = stored_bits(facts, D)
  ib = (information_bits_from_mean(facts, ce_nats, D)
        if np.isfinite(ce_nats) else float("nan"))
  return dict(extra, params=params, facts=facts, D=D, ce_nats=ce_nats,
              stored_bits=sb, info_bits=ib,
              stored_bits_per_param=sb / params,
              info_bits_per_param=ib / params)


def mean_final_ce(records):
  """Mean over records of their last finite evaluation loss (nats, every
  (s, r) pair once; NaN if none has one)."""
  ces = [_last_finite(r["curves"].get("loss")) for r in records
         if r.get("curves")]
  ces = [c for c in ces if np.isfinite(c)]
  return float(np.mean(ces)) if ces else float("nan")


ALLEN_ZHU_LI = output.reference(
    2.0, "Allen-Zhu & Li 2024, Physics of LMs 3.3: language models store "
    "about 2 bits of knowledge per parameter (their information measure, "
    "trained to saturation)")
NICHANI_BOUND = ("Nichani et al. 2025: storing S * R facts with D answers "
                 "each needs parameters ≳ S R log D (up to the bits a "
                 "parameter holds)")


def _last_finite(v):
  v = [x for x in (v or []) if x is not None and np.isfinite(x)]
  return v[-1] if v else float("nan")


def capacity_ce(records, shape, k):
  """Mean cross-entropy (nats, every (s, r) pair once) of the members of a
  shape that stored the most facts up to k: their last evaluation's `loss`
  curve value, over seeds and learning rates that succeeded."""
  ok = [r for r in records if r.get("shape") == shape and
        r.get("status") == "success" and r.get("k", 0) <= k and r.get("curves")]
  if not ok:
    return float("nan"), 0
  k_best = max(r["k"] for r in ok)
  return mean_final_ce([r for r in ok if r["k"] == k_best]), k_best


def capacity_rows(cfg, capacities, records, sizes_for):
  """Per shape at its capacity: facts, D, params, stored bits, information
  bits (from the mean cross-entropy) and both per parameter."""
  rows = []
  for c in capacities:
    if not c.get("facts"):
      continue
    _, _, D = sizes_for(c["k"], cfg.task.scaling, cfg.task.D)
    ce, k_ce = capacity_ce(records, c["shape"], c["k"])
    rows.append(row(c["facts"], D, c["params"], ce, shape=c["shape"],
                    ce_k=k_ce))
  return rows


MEAN_CE = ("computed as facts * max(0, log2 D - mean CE bits) because the "
           "records hold only the mean cross-entropy over all pairs (a lower "
           "bound of the per-fact sum)")


MLP_WEIGHTS = "W1, b1 and W2: 2 m d + m"


def bits_claims(rows, envelope, n_boot, seed, band, where,
                guide_facts_per_param=None, prefix="",
                best_what=None, how=MEAN_CE,
                protocol="synthetic facts at the 99%-accuracy capacity",
                weights_what=MLP_WEIGHTS, paper_count="m d"):
  """The bits-per-parameter claims of a capacity run over the best models
  (the shapes whose params are in `envelope`; all shapes if none are):
  Allen-Zhu & Li's information measure against their 2 bits/param, and the
  stored bits facts * log2 D per parameter (what Nichani et al.'s lower bound
  counts) against their guide line in bits, guide_facts_per_param (an
  output.reference of facts per parameter) * log2 D. best_what names the
  capacities averaged (default: the envelope, or every capacity), how says
  where the cross-entropy comes from, protocol what the run measures in
  place of Allen-Zhu & Li's language models. Rows with a "weights" count
  (every trained number, named by weights_what) other than their "params"
  (the paper's count, paper_count) are judged per weight, since Allen-Zhu
  & Li count every trained number."""
  best = [r for r in rows if r["params"] in set(envelope)] or rows
  if best_what is None:
    best_what = ("the upper envelope of facts vs params" if envelope else
                 "every capacity")
  ib, ib_ci = stats.geo_mean_ci([r["info_bits_per_param"] for r in best],
                                n_boot, seed)
  sb, sb_ci = stats.geo_mean_ci([r["stored_bits_per_param"] for r in best],
                                n_boot, seed)
  ref = ALLEN_ZHU_LI["value"]
  extra, per_w = {}, ""
  if best and all("weights" in r for r in best) and any(
      r["weights"] != r["params"] for r in best):
    # Allen-Zhu & Li count every trained number; the paper's counts leave
    # some out (the MLP's m d: W2 and b1; the transformer's: learned E and
    # U), so the claim is judged per trained weight.
    extra = dict(info_bits_per_paper_param=ib,
                 info_bits_per_paper_param_ci=ib_ci)
    per_w = (f" Judged per trained weight ({weights_what}); per the "
             f"paper's count {paper_count} it is {ib:.3g} "
             f"[{ib_ci[0]:.3g}, {ib_ci[1]:.3g}].")
    ib, ib_ci = stats.geo_mean_ci([r["info_bits_per_weight"] for r in best],
                                  n_boot, seed)
    sbw, _ = stats.geo_mean_ci([r["stored_bits"] / r["weights"] for r in best],
                               n_boot, seed)
    per_w += f" Stored bits per trained weight: {sbw:.3g}."
  out = [output.claim(
      prefix + "bits_per_param",
      "information stored per parameter at capacity, Allen-Zhu & Li's "
      f"measure sum_facts max(0, log2 D - CE_bits), {how}, is within a "
      f"factor {band:g} of their 2 bits/param; geometric "
      f"mean over {len(best)} capacities ({best_what}), CI: bootstrap over "
      f"them ({where}). Departs from their "
      f"protocol: {protocol}, not a "
      "language model trained to saturation. The measure cannot exceed "
      f"the stored bits facts * log2 D ({sb:.3g} per counted parameter "
      "here), so a value below 2 means fewer than 2 / log2 D facts per "
      "parameter are stored." + per_w,
      ib, ib_ci, output.interval_verdict(ib_ci, ref / band, ref * band),
      stored_bits_per_param=sb, stored_bits_per_param_ci=sb_ci, **extra,
      per_shape=rows, stored_over_info=sb / ib if ib else None,
      reference=ALLEN_ZHU_LI)]
  Ds = sorted({r["D"] for r in best})
  if guide_facts_per_param is not None and len(Ds) == 1:
    g = guide_facts_per_param["value"] * math.log2(Ds[0])
    out.append(output.claim(
        prefix + "stored_bits_per_param",
        f"stored bits facts * log2 D (D = {Ds[0]}) per parameter at "
        f"capacity, geometric mean over the same shapes ({where}), within a "
        f"factor {band:g} of the paper's guide line in bits ("
        f"{guide_facts_per_param['value']:g} facts/param * log2 D = "
        f"{g:.3g}); {NICHANI_BOUND}",
        sb, sb_ci, output.interval_verdict(sb_ci, g / band, g * band),
        reference=output.reference(
            g, guide_facts_per_param["source"] + f", times log2 D = "
            f"{math.log2(Ds[0]):g} bits per fact")))
  return out


def memory_rows(caps, records, n_fixed):
  """Per capacity of an associative memory (one per seed): N facts over N
  outputs (identity) or M outputs (fixed), stored bits N log2 M and the
  information from the stored member's mean cross-entropy."""
  by_key = {}
  for r in records:
    if r.get("status") == "success":
      k = (r["regime"], r["d"], r["m"], r["seed"], r["N"])
      by_key[k] = min(by_key.get(k, float("inf")), r["loss"])
  rows = []
  for c in caps:
    if not c.get("N"):
      continue
    ce = by_key.get((c["regime"], c["d"], c["m"], c["seed"], c["N"]),
                    float("nan"))
    M = c["N"] if c["regime"] == "identity" else n_fixed
    if not M or M < 2:
      continue
    # Every trained number: d^2 (linear), W1, b1 and W2 (MLP); `params`
    # is the paper's count (m d for the MLP).
    weights = c["d"] ** 2 if not c["m"] else 2 * c["m"] * c["d"] + c["m"]
    r = row(c["N"], M, c["params"], ce, regime=c["regime"], d=c["d"],
            m=c["m"], seed=c["seed"], weights=weights)
    r["info_bits_per_weight"] = r["info_bits"] / weights
    rows.append(r)
  return rows


def plot(base, series, title="bits per parameter at capacity"):
  """Information bits per parameter against parameters, one series per
  experiment ({label: rows}), with Allen-Zhu & Li's 2 bits/param."""
  from factrecall import plots  # pylint: disable=g-import-not-at-top
  fig, ax = plots.subplots(figsize=(5.5, 4.0))
  for j, (label, rows) in enumerate(series.items()):
    x = [r["params"] for r in rows if np.isfinite(r["info_bits_per_param"])]
    y = [r["info_bits_per_param"] for r in rows
         if np.isfinite(r["info_bits_per_param"])]
    ax.plot(x, y, "o", ms=4, color=f"C{j}", label=f"{label}: information")
    ax.plot([r["params"] for r in rows],
            [r["stored_bits_per_param"] for r in rows], "x", ms=4,
            color=f"C{j}", alpha=0.6, label=f"{label}: facts · log2 D")
  ax.axhline(ALLEN_ZHU_LI["value"], color="k", lw=0.8, ls=":",
             label="Allen-Zhu & Li 2024: 2 bits/param")
  if any(rows for rows in series.values()):  # (log axes need a point)
    ax.set_xscale("log")
    ax.set_yscale("log")
  ax.set_xlabel("parameters")
  ax.set_ylabel("bits per parameter")
  ax.set_title(title, fontsize=10)
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=6)
  return plots.save(fig, base)


def series_of(summary, label):
  """{label: rows} of one run's summary.json for plot(): its "bits" rows
  and those of any section that has its own (capacity:learned's "learned").
  Rows that count trained weights other than the paper's parameters (the
  MLP memory's, learned embeddings') are re-based per trained weight, as
  their bits claims are judged."""
  found = [(label, summary.get("bits"))] + [
      (f"{label} {k}", v.get("bits")) for k, v in summary.items()
      if isinstance(v, dict)]
  out = {}
  for name, rows in found:
    if not rows:
      continue
    if all("weights" in r for r in rows) and any(
        r["weights"] != r["params"] for r in rows):
      name += " (per trained weight)"
      rows = [dict(r, params=r["weights"],
                   info_bits_per_param=r["info_bits"] / r["weights"],
                   stored_bits_per_param=r["stored_bits"] / r["weights"])
              for r in rows]
    out[name] = rows
  return out


def figure_of_runs(base, workdirs):
  """One bits-per-parameter figure over finished runs' workdirs (each
  labelled by its config, NAME:PRESET) at base.png and .pdf; returns the
  figure. A workdir without summary.json, or whose run reports no bits, is
  a UserError naming it."""
  if not workdirs:
    raise output.UserError("name at least one finished run's workdir")
  series = {}
  for wd in workdirs:
    paths = [os.path.join(wd, f) for f in ("summary.json", "config.json")]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
      raise output.UserError(f"{wd}: no {os.path.basename(missing[0])} (not "
                             "a finished run's workdir)")
    with open(paths[0]) as f:
      summary = json.load(f)
    with open(paths[1]) as f:
      cfg = json.load(f)
    label = f"{cfg.get('name', wd)}:{cfg.get('preset', 'default')}"
    mine = series_of(summary, label)
    if not mine:
      raise output.UserError(
          f"{wd}: {label} reports no capacity in bits (capacity, tradeoff, "
          "linear_memory, mlp_memory and memo_capacity runs do)")
    series.update(mine)
  n = len(workdirs)
  return plot(base, series, title="bits per parameter at capacity, "
              f"{n} run{'s' if n > 1 else ''}")

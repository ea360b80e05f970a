"""One function per figure; each saves BASE.png and BASE.pdf (unless base
is None) and returns the matplotlib Figure.

Figures are made with matplotlib.figure.Figure, not pyplot: no backend is
chosen or switched here (a notebook keeps its own and shows the returned
Figure), and a figure nobody holds is freed without plt.close.
"""
import collections

import matplotlib
from matplotlib.figure import Figure
import numpy as np


def subplots(nrows=1, ncols=1, *, figsize=None, **kw):
  """(Figure, axes) like plt.subplots, without pyplot's figure manager."""
  fig = Figure(figsize=figsize)
  return fig, fig.subplots(nrows, ncols, **kw)


def get_cmap(name):
  return matplotlib.colormaps[name]


def save(fig, base):
  """Lays fig out, saves base.png and base.pdf (base None: neither);
  returns fig."""
  fig.tight_layout()
  if base is not None:
    fig.savefig(base + ".png", dpi=130)
    fig.savefig(base + ".pdf")
  return fig


def capacity(base, capacities, summary, title="capacity"):
  """Log-log facts stored vs parameters (paper Fig. 4 left): one curve per
  width-ratio pair under the headline protocol, error bars spanning the
  search's bracket (the seed band: every seed stores the lower end, none the
  upper one, or where not measured that far, the sizes the seeds were
  measured at); hollow markers: the other protocol (one seed: its bracket);
  the paper's 0.15 * params guide line beside our envelope's constant."""
  prots = summary.get("protocols") or ["paper"]
  fig, ax = subplots(figsize=(8, 5.2))
  groups = collections.defaultdict(list)
  for c in capacities:
    groups[c["curve"]].append(c)
  cmap = get_cmap("hsv")
  fits = summary.get("fits", {})
  lo_f = hi_f = None
  for j, (curve, cs) in enumerate(sorted(groups.items())):
    color = cmap(j / max(1, len(groups)))
    cs = sorted(cs, key=lambda c: c["params"])
    for n, p in enumerate(prots):
      rows = [(c["params"], c["protocols"][p]) for c in cs
              if c["protocols"][p]["facts"]]
      if not rows:
        continue
      x = np.array([r[0] for r in rows], float)
      y = np.array([q["facts"] for _, q in rows], float)
      # the band where measured, else the range the seeds were measured at
      lo = np.array([q["band_facts"][0] or q["span_facts"][0] or v
                     for (_, q), v in zip(rows, y)], float)
      hi = np.array([q["band_facts"][1] or q["span_facts"][1] or v
                     for (_, q), v in zip(rows, y)], float)
      H, a, b = curve.split("|")
      label = (f"H={H}, $d_h$={float(a):g}d/H, m={float(b):g}d"
               if n == 0 else None)
      ax.errorbar(x, y, yerr=[y - np.minimum(lo, y), np.maximum(hi, y) - y],
                  fmt="o-" if n == 0 else "o--", color=color, ms=4, lw=1,
                  capsize=2, label=label,
                  mfc=color if n == 0 else "none", alpha=1 if n == 0 else 0.6)
      lo_f = min(lo_f or x.min(), x.min())
      hi_f = max(hi_f or x.max(), x.max())
  if lo_f is not None:
    xs = np.geomspace(lo_f, hi_f, 20)
    ax.plot(xs, 0.15 * xs, "k--", lw=1.2,
            label="paper's guide: facts = 0.15·params")
    fit = fits.get(prots[0], {}).get("figure", {})
    if np.isfinite(fit.get("c_env", np.nan)):
      ci = fit.get("c_env_ci") or [np.nan, np.nan]
      ax.plot(xs, fit["c_env"] * xs, ":", color="k", lw=1.5,
              label=f"ours ({prots[0]}): {fit['c_env']:.3g}·params (envelope, "
              f"[{ci[0]:.3g}, {ci[1]:.3g}])")
    if np.isfinite(fit.get("k", np.nan)):
      ax.plot([], [], " ", label=f"slope k = {fit['k']:.3f} "
              f"[{fit['k_ci'][0]:.3f}, {fit['k_ci'][1]:.3f}]")
  if len(prots) > 1:
    ax.plot([], [], "o--", color="gray", mfc="none",
            label=f"hollow: {prots[1]} evaluation")
  if lo_f is None:  # log axes need data
    ax.text(0.5, 0.5, "no model stored any fact", ha="center",
            transform=ax.transAxes)
  else:
    ax.set_xscale("log")
    ax.set_yscale("log")
  ax.set_xlabel("number of parameters")
  ax.set_ylabel("number of facts stored")
  ax.set_title(title)
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
  return save(fig, base)


def training_curves(base, records):
  """Loss, relation-only and subject-only losses, accuracy of a few runs."""
  fig, axes = subplots(1, 2, figsize=(11, 4))
  for j, r in enumerate(records):
    c = r["curves"]
    steps = (np.arange(len(c["loss"])) + 1) * r.get("chunk", 128)
    color = get_cmap("tab10")(j % 10)
    lab = (f"{r['shape']} facts={r['facts']} lr={r['lr']:g} ({r['status']})")
    axes[0].plot(steps, c["loss"], color=color, label=lab)
    axes[0].plot(steps, c["rel_loss"], "--", color=color)
    axes[0].plot(steps, c["subj_loss"], ":", color=color)
    axes[1].plot(steps, c["accuracy"], color=color, label=lab)
    axes[1].plot(steps, c["halluc"], "--", color=color)
  axes[0].set_yscale("log")
  axes[0].set_xlabel("step")
  axes[0].set_ylabel("loss (— total, -- relation-only, ··· subject-only)")
  axes[1].set_xlabel("step")
  axes[1].set_ylabel("accuracy (—), hallucination rate (--)")
  axes[1].set_ylim(-0.02, 1.02)
  axes[1].legend(fontsize=6)
  for ax in axes:
    ax.grid(True, alpha=0.3)
  return save(fig, base)



def capacity_overlay(runs, base=None):
  """Several runs' capacity curves in one log-log figure: runs is a list of
  (label, capacities) (summary.json's "capacities"); one colour per run,
  one line style per width-ratio curve, each run's headline protocol."""
  fig, ax = subplots(figsize=(8, 5.2))
  styles = ("o-", "s--", "^:", "d-.", "v-", "x--")
  cmap = get_cmap("tab10")
  drawn = False
  for j, (label, caps) in enumerate(runs):
    curves = sorted({c["curve"] for c in caps})
    for n, curve in enumerate(curves):
      cs = sorted((c for c in caps if c["curve"] == curve and c.get("facts")),
                  key=lambda c: c["params"])
      if not cs:
        continue
      ax.plot([c["params"] for c in cs], [c["facts"] for c in cs],
              styles[n % len(styles)], color=cmap(j % 10), ms=4, lw=1,
              label=f"{label}, curve {curve}")
      drawn = True
  if drawn:
    ax.set_xscale("log")
    ax.set_yscale("log")
  else:
    ax.text(0.5, 0.5, "no model stored any fact", ha="center",
            transform=ax.transAxes)
  ax.set_xlabel("number of parameters")
  ax.set_ylabel("number of facts stored")
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=7)
  return save(fig, base)

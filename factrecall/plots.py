"""One function per figure; each saves BASE.png and BASE.pdf."""
import collections

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from factrecall import train


def save(fig, base):
  fig.tight_layout()
  fig.savefig(base + ".png", dpi=130)
  fig.savefig(base + ".pdf")
  plt.close(fig)


def capacity(base, capacities, fit, title="capacity"):
  """Log-log facts stored vs parameters, one curve per width-ratio pair."""
  fig, ax = plt.subplots(figsize=(6, 4.5))
  groups = collections.defaultdict(list)
  for c in capacities:
    if c["facts"] > 0:
      groups[(c.get("H"), c.get("alpha_w"), c.get("beta_w"))].append(c)
  cmap = plt.get_cmap("viridis")
  for j, (key, cs) in enumerate(sorted(groups.items(), key=lambda kv: str(kv[0]))):
    by_p = collections.defaultdict(list)
    for c in cs:
      by_p[c["params"]].append(c["facts"])
    p = np.array(sorted(by_p))
    f = np.array([np.mean(by_p[q]) for q in p])
    lo = np.array([np.min(by_p[q]) for q in p])
    hi = np.array([np.max(by_p[q]) for q in p])
    H, a, b = key
    color = cmap(j / max(1, len(groups) - 1))
    ax.plot(p, f, "o-", color=color, ms=4,
            label=f"H={H}, $d_h$={a:g}d/H, m={b:g}d")
    if np.any(hi > lo):
      ax.fill_between(p, lo, hi, color=color, alpha=0.2)
  if fit and np.isfinite(fit.get("k", np.nan)):
    xs = np.array([min(c["params"] for c in capacities),
                   max(c["params"] for c in capacities)])
    ax.plot(xs, fit["c"] * xs ** fit["k"], "k--", lw=1.2,
            label=f"fit: {fit['c']:.3g}·P^{fit['k']:.2f} "
            f"[{fit['k_ci'][0]:.2f}, {fit['k_ci'][1]:.2f}]")
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("parameters")
  ax.set_ylabel("facts stored (accuracy ≥ 0.99)")
  ax.set_title(title)
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=7)
  save(fig, base)


def training_curves(base, records):
  """Loss, relation-only and subject-only losses, accuracy of a few runs."""
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for j, r in enumerate(records):
    c = r["curves"]
    steps = (np.arange(len(c["loss"])) + 1) * r.get("chunk", 128)
    color = plt.get_cmap("tab10")(j % 10)
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
  save(fig, base)


del train

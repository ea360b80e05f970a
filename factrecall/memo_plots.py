"""Figures of the MeMo experiments (saved as .png and .pdf)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np


def _save(fig, base):
  fig.tight_layout()
  for ext in ("png", "pdf"):
    fig.savefig(f"{base}.{ext}", dpi=120)
  plt.close(fig)


def capacity_figure(records, fit, base):
  """Stored pairs vs h*d_h*d (log-log), one colour per d, with the c fit."""
  fig, ax = plt.subplots(figsize=(5, 4))
  ds = sorted({r["d"] for r in records})
  for i, d in enumerate(ds):
    rs = [r for r in records if r["d"] == d and r["stored"] > 0]
    ax.scatter([r["params"] for r in rs], [r["stored"] for r in rs], s=14,
               color=plt.cm.viridis(i / max(len(ds) - 1, 1)), label=f"d={d}",
               marker="o" if all(r["status"] == "ok" for r in rs) else "^")
  xs = np.array([r["params"] for r in records], float)
  if len(xs) and np.isfinite(fit["c"]):
    x = np.geomspace(xs.min(), xs.max(), 50)
    ax.plot(x, fit["c"] * x, "k--", lw=1,
            label=f"c={fit['c']:.3g}, slope={fit['slope']:.3f}")
  ax.set(xscale="log", yscale="log", xlabel="parameters h·d_h·d",
         ylabel="stored pairs (score > threshold)",
         title="MeMo single-layer capacity")
  ax.legend(fontsize=7)
  _save(fig, base)


def decoys_figure(curves, base):
  """Score vs stored windows: one panel per decoy count, a line per layers.

  curves: {(decoys, layers): (windows, mean score)}.
  """
  decoys = sorted({k[0] for k in curves})
  layers = sorted({k[1] for k in curves})
  fig, axes = plt.subplots(1, len(decoys), figsize=(4 * len(decoys), 3.4),
                           sharey=True, squeeze=False)
  for ax, n in zip(axes[0], decoys):
    for l in layers:
      w, s = curves[(n, l)]
      ax.plot(w, s, marker=".", label=f"{l} layer{'s' * (l > 1)}")
    ax.set(title=f"{n} decoys", xlabel="stored windows")
    ax.axhline(0.9, color="gray", lw=0.5, ls=":")
  axes[0][0].set_ylabel("(acc first + acc current) / 2")
  axes[0][0].legend(fontsize=7)
  _save(fig, base)

"""Figures of the MeMo experiments (saved as .png and .pdf)."""
import matplotlib.pyplot as plt
import numpy as np

from factrecall import plots


def capacity_figure(records, fit, base, stored="stored"):
  """Stored pairs (field `stored` of the records: the stop rule's count) vs
  h*d_h*d (log-log), one colour per d, with the c fit."""
  fig, ax = plots.subplots(figsize=(5, 4))
  ds = sorted({r["d"] for r in records})
  for i, d in enumerate(ds):
    rs = [r for r in records if r["d"] == d and r[stored] > 0]
    ax.scatter([r["params"] for r in rs], [r[stored] for r in rs], s=14,
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
  return plots.save(fig, base)


def decoys_figure(rows, authors, base, n_texts=30):
  """Score (first + current accuracy) / 2 vs iteration: one panel per
  (d, decoy count), one line per layer count; the authors' runs of the same
  (d, decoys, layers) dashed, in the same colour.

  rows: decoy_table rows; authors: {(d, decoys, layers): scores}.
  """
  ds = sorted({r["d"] for r in rows})
  decoys = sorted({r["decoys"] for r in rows})
  layers = sorted({r["layers"] for r in rows})
  fig, axes = plots.subplots(len(ds), len(decoys),
                           figsize=(3.6 * len(decoys), 2.9 * len(ds)),
                           sharey=True, squeeze=False)
  for a, d in enumerate(ds):
    for b, n in enumerate(decoys):
      ax = axes[a][b]
      for c, l in enumerate(layers):
        color = plt.cm.viridis(c / max(len(layers) - 1, 1))
        r = [r for r in rows if (r["d"], r["decoys"], r["layers"]) == (d, n, l)]
        if r:
          s = [(f + k) / 2 for f, k in r[0]["cells"]]
          ax.plot(np.arange(len(s)), s, "o-", ms=3, color=color,
                  label=f"{l} layer{'s' * (l > 1)}")
        ref = authors.get((d, n, l))
        if ref:
          ax.plot(np.arange(len(ref)), ref, "--", lw=0.8, color=color,
                  alpha=0.7, label="authors" if c == len(layers) - 1 else None)
      ax.set_title(f"d = {d}, {n} decoys", fontsize=9)
      ax.set_ylim(0, 1.02)
      ax.grid(alpha=0.3)
      if a == len(ds) - 1:
        ax.set_xlabel(f"iteration ({n_texts} texts stored each)")
  for a in range(len(ds)):
    axes[a][0].set_ylabel("(acc first + acc current) / 2")
  axes[0][0].legend(fontsize=7)
  return plots.save(fig, base)

"""Run the capacity smoke preset from Python, load it, redraw its figure.

Runs as a script (`python examples/capacity_smoke.py [WORKDIR]
[--config.FIELD=VALUE ...]`) or cell by cell in a notebook (the `# %%`
markers; VS Code and Jupytext read them as cells). Re-running resumes: the
second time nothing is trained.
"""
# %%
import os
import sys

import factrecall

args = [a for a in sys.argv[1:] if not a.startswith("-")]
WORKDIR = args[0] if args else os.path.join("runs", "capacity_smoke")
# --config.FIELD=VALUE arguments, parsed as on the command line.
OVERRIDES = dict(a[len("--config."):].split("=", 1) for a in sys.argv[1:]
                 if a.startswith("--config.") and "=" in a)

# %% Train (or resume) the smoke preset: the command line's checks, XLA
# flags and outputs (config.json, results.jsonl, summary.json, figures/,
# report.html).
run = factrecall.run("capacity:smoke", workdir=WORKDIR, overrides=OVERRIDES)
print(run.claims_table())

# %% Load it back, as one would in a later session.
run = factrecall.load(WORKDIR)
print(f"{len(run.records)} members trained; statuses:",
      run.summary["members"])
caps = run.capacities  # one flat row per shape and evaluation protocol
for row in caps:
  print(f"{row['shape']:>16}  {row['protocol']:>9}  params={row['params']:>5}"
        f"  facts={row['facts']}")

# %% Redraw the capacity figure from the loaded table: facts stored vs
# parameters, one line per width-ratio curve, the headline protocol only.
from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

headline = run.summary["protocols"][0]
fig = Figure(figsize=(6, 4))
ax = fig.subplots()
for curve in sorted(set(caps.column("curve"))):
  rows = sorted((r for r in caps if r["curve"] == curve and
                 r["protocol"] == headline and r["facts"]),
                key=lambda r: r["params"])
  ax.plot([r["params"] for r in rows], [r["facts"] for r in rows], "o-",
          label=f"curve {curve}")
xs = [min(caps.column("params")), max(caps.column("params"))]
ax.plot(xs, [0.15 * x for x in xs], "k--", label="paper's guide 0.15·params")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("parameters")
ax.set_ylabel("facts stored")
ax.legend(fontsize=7)
out = os.path.join(WORKDIR, "capacity_redrawn.png")
fig.savefig(out, dpi=110)
print("redrawn:", out)
fig  # pylint: disable=pointless-statement  (shown by a notebook)

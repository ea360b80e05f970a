"""Wall time and peak memory of one capacity search, as the paper's code runs it.

python benchmarks/bench_search.py
Shape d=16, H=8, d_h=2, m=16, D=8, S=R searched in 8..64, learning rates
{1e-3, 3e-3, 1e-2}, at most 2^14 steps, batch 1024. Two runs of our CLI in
fresh processes: `reference` settings (no pruning, no patience: every probe
trains until success or the budget, like the paper's code) and our default
search settings. The paper's code needs about 30 minutes and 15 GB on a
2-core machine for this search (it pre-generates 2^24 samples).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # pylint: disable=g-import-not-at-top

BASE = ["--config=capacity", "--config.model.d_list=16",
        "--config.model.ratios=((1.0,1.0),)", "--config.train.max_steps=16384",
        "--config.search.lo_per_param=0.0417",  # S=R=8: 64 facts / 1536
        "--config.search.hi_per_param=2.667",   # S=R=64: 4096 facts / 1536
        "--config.search.k_max=64", "--config.search.resolution=0.0",
        "--config.search.n_candidates=8",
        "--config.train.lrs=(0.001,0.003,0.01)"]
MODES = {
    # no pruning, no patience: every probe runs to success or the budget
    "reference": ["--config.search.prune=false", "--config.train.patience=0"],
    "ours": [],  # pruning, patience 10 (the default search)
}


def run(args):
  rc, wall, mib, wd = common.run_sweep(args, "bench_search_")
  if rc != 0:
    raise SystemExit(f"the search exited with {rc} (workdir {wd})")
  with open(os.path.join(wd, "summary.json")) as f:
    facts = json.load(f)["capacities"][0]["facts"]
  return wall, mib, facts


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--modes", default=",".join(MODES),
                  help="comma-separated subset of: " + ", ".join(MODES))
  names = [m.strip() for m in ap.parse_args().modes.split(",")]
  for m in names:
    if m not in MODES:
      ap.error(f"--modes: {m!r} is not one of {list(MODES)}")
  print(common.machine())
  rows = []
  for name in names:
    extra = MODES[name]
    wall, mib, facts = run(BASE + extra)
    rows.append([name, f"{wall:.0f}", f"{mib:.0f}", facts,
                 f"{30 * 60 / wall:.0f}x", f"{15 * 1024 / mib:.0f}x"])
  common.table(rows, ["search", "wall s", "peak MiB", "facts stored",
                      "vs paper 30 min", "vs paper 15 GB"])


if __name__ == "__main__":
  main()

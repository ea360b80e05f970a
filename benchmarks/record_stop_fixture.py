"""Records the full-budget learning curves that validate the capacity
search's early-stop rule (tests/test_stop_rule.py reads them).

python benchmarks/record_stop_fixture.py [--out tests/data/stop_fixture.json.gz]

Runs capacity searches in the exhaustive mode (no pruning, no learning-rate
racing, no stall or give-up rule: every probe trains until it succeeds or
spends its 2^14-step budget) and keeps, per member, its evaluations and each
protocol's outcome, plus the capacities the exhaustive search found. Three
runs: the default search on 6 shapes (d = 8, 11, 16 on the width-ratio
curves (1, 1) and (2, 0.5), 3 seeds, both protocols), one larger shape
(d = 22, H = 8, d_h = 2, m = 22), and bench_search.py's shape under the paper's protocol (bisection in
8..64, one seed). About 1.5 hours on 2 cores.
"""
import argparse
import gzip
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import bench_search  # pylint: disable=g-import-not-at-top
from benchmarks import common

KEEP = ("train_loss", "loss", "accuracy", "fixed_accuracy")
# Every early stop off (the give-up rule's loss part too, at the values the
# fixture's runs were recorded with; inert once give_up_window = 0).
EXHAUSTIVE = ["--config.search.prune=false", "--config.train.patience=0",
              "--config.train.give_up_window=0",
              "--config.train.give_up_loss_window=0",
              "--config.train.give_up_loss_drop=0.1"]
RUNS = {
    # the width-ratio curves of the capacity default when it was recorded
    "default": ["--config=capacity", "--config.model.d_list=8,11,16",
                "--config.model.ratios=((1.0,1.0),(2.0,0.5))"],
    "d22": ["--config=capacity", "--config.model.d_list=22",
            "--config.model.ratios=((1.0,1.0),)"],
    "bench_search": bench_search.BASE,
}


def record(name, args, workdir=None):
  """One exhaustive run -> its part of the fixture."""
  rc, wall, _, wd = common.run_sweep(args + EXHAUSTIVE, f"fixture_{name}_",
                                     workdir=workdir)
  if rc != 0:
    raise SystemExit(f"{name}: the search exited with {rc} (workdir {wd})")
  with open(os.path.join(wd, "summary.json")) as f:
    summary = json.load(f)
  members = []
  with open(os.path.join(wd, "results.jsonl")) as f:
    for line in f:
      r = json.loads(line)
      members.append(dict(
          shape=r["shape"], k=r["k"], seed=r["seed"], lr=r["lr"],
          steps=r["steps"], outcomes=r["outcomes"],
          curves={m: [round(v, 6) if v is not None else None
                      for v in r["curves"][m]] for m in KEEP}))
  caps = {c["shape"]: {p: dict(k=q["k"], band=q["band"], k_ok=q["k_ok"],
                               k_fail=q["k_fail"])
                       for p, q in c["protocols"].items()}
          for c in summary["capacities"]}
  print(f"{name}: {len(members)} members, {wall:.0f} s, capacities {caps}")
  # (no wall time: a run read back with --reuse would record its resume's)
  return dict(args=args + EXHAUSTIVE, members=members, capacities=caps)


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--out", default=os.path.join(
      common.ROOT, "tests", "data", "stop_fixture.json.gz"))
  ap.add_argument("--runs", default=",".join(RUNS))
  ap.add_argument("--reuse", default="",
                  help="name=WORKDIR,... of finished exhaustive runs to read")
  a = ap.parse_args()
  reuse = dict(kv.split("=", 1) for kv in a.reuse.split(",") if kv)
  print(common.machine())
  out = {name: record(name, RUNS[name], reuse.get(name))
         for name in a.runs.split(",")}
  os.makedirs(os.path.dirname(a.out), exist_ok=True)
  with gzip.open(a.out, "wt") as f:
    json.dump(out, f, sort_keys=True)
  print(f"wrote {a.out}")


if __name__ == "__main__":
  main()

"""One capacity search under the paper's protocol: our engine vs the
original code, wall time and peak memory, and the capacity found.

python benchmarks/bench_search.py [--original=PATH --original_python=PY]
                                  [--devices=3] [--trend_off] [--raced]

The search (the original code's `binary_sweep` for one shape): d = 16, H = 8,
d_h = 2, m = 16, D = 8, S = R bisected between 8 and 64 to a gap of 1,
learning rates 1e-3, 3e-3, 1e-2 (stored if any reaches > 0.99 on a fixed
1024-sample test set, the best of its evaluations every 128 steps), at most
2^14 steps of batch 1024.
- ours: experiments/sweep.py with these settings and our search rules
  (learning rates in turn, the largest first, the next once one fails, as
  the original tries them in turn from the smallest and stops at the first
  that succeeds; members that cannot reach the target at their rate give
  up, see factrecall.engine.gives_up).
- exhaustive: the same search with every probe trained until it succeeds or
  spends its budget. Its capacity comes from tests/data/stop_fixture.json.gz
  (benchmarks/record_stop_fixture.py; ~40 min to record), not from a timing.
- original (with --original, a clone of eshnich/factual-recall-iclr, and
  --original_python, a Python with its requirements: jax, flax, optax,
  jaxopt, simple-pytree, seaborn, scipy, tqdm, matplotlib): its own
  binary_sweep on the same shape, in a fresh process.
- ours, trend test off (with --trend_off): ours with the give-up rule's
  loss-trend test disabled (give_up_trend_loss=0), the rule as it was before
  the test, so the test's saving is measured in this one run.
- ours, raced (with --raced): ours with every learning rate of a size
  started at once (search.lanes=0), the search as it was before the
  learning rates took turns.
Each runs in a fresh process; the table's ratios compare runs of this one
invocation.
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # pylint: disable=g-import-not-at-top
from benchmarks import stop_fixture  # pylint: disable=g-import-not-at-top

BASE = ["--config=capacity", "--config.model.d_list=16",
        "--config.model.ratios=((1.0,1.0),)", "--config.search.start=paper",
        "--config.search.k_min=8", "--config.search.k_max=64",
        "--config.train.n_seeds=1", "--config.train.eval=paper",
        "--config.train.compare_eval=false"]

# The original code's own search, driven from its directory (it imports
# its modules by name); prints the size found and exits.
_ORIGINAL = ("import sys; sys.argv = ['x']; from run import binary_sweep; "
             "print('SIZE', binary_sweep(8, 2, 16, 16, 8, 8, 64, 'linear', "
             "[1e-3, 3e-3, 1e-2]))")


def ours(devices=None, extra=()):
  """Our search in a fresh process; devices: its XLA CPU device count (None:
  the CLI's default, one per core); extra: more --config flags."""
  flags = os.environ.get("XLA_FLAGS", "")
  if devices:
    os.environ["XLA_FLAGS"] = (
        f"{flags} --xla_force_host_platform_device_count={devices}").strip()
  try:
    rc, wall, mib, wd = common.run_sweep(BASE + list(extra), "bench_search_")
  finally:
    os.environ["XLA_FLAGS"] = flags
  if rc != 0:
    raise SystemExit(f"the search exited with {rc} (workdir {wd})")
  with open(os.path.join(wd, "summary.json")) as f:
    k = json.load(f)["capacities"][0]["k"]
  steps = 0
  with open(os.path.join(wd, "results.jsonl")) as f:
    for line in f:
      steps += json.loads(line)["steps"]
  return wall, common.LAST_CPU[0], mib, k, steps


def original(path, python):
  rc, wall, mib, out = common.run_timed([python, "-c", _ORIGINAL], cwd=path)
  found = re.findall(r"^SIZE (\d+)", out, re.M)
  if rc != 0 or not found:
    raise SystemExit(f"the original code exited with {rc}")
  return wall, common.LAST_CPU[0], mib, int(found[-1])


def exhaustive_k():
  if not os.path.exists(stop_fixture.PATH):
    return None
  caps = stop_fixture.load()["bench_search"]["capacities"]
  return caps["d16_H8_dh2_m16"]["paper"]["k"]


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--original", default="",
                  help="a clone of eshnich/factual-recall-iclr")
  ap.add_argument("--original_python", default="python3",
                  help="a Python that runs the original code")
  ap.add_argument("--devices", default="",
                  help="also run ours with these XLA CPU device counts "
                  "(comma-separated, e.g. 3), each beside the default")
  ap.add_argument("--trend_off", action="store_true",
                  help="also run ours with the give-up rule's loss-trend "
                  "test off, beside the default")
  ap.add_argument("--raced", action="store_true",
                  help="also run ours with the learning rates raced "
                  "(search.lanes=0), beside the default")
  a = ap.parse_args()
  print(common.machine())
  load0 = f"{os.getloadavg()[0]:.2f}"
  rows = []
  wall, cpu, mib, k, steps = ours()

  def row(name, w, c, m, kk):
    """A table row with its ratios to ours."""
    rows.append([name, f"{w:.0f}", f"{c:.0f}", f"{m:.0f}", kk, kk * kk,
                 f"{w / wall:.2f}x", f"{c / cpu:.2f}x", f"{m / mib:.2f}x"])

  row("ours", wall, cpu, mib, k)
  for n in [int(x) for x in a.devices.split(",") if x]:
    row(f"ours, {n} devices", *ours(n)[:4])
  if a.trend_off:
    *r, st = ours(extra=["--config.train.give_up_trend_loss=0"])
    row("ours, trend test off", *r)
    print(f"trend test off: {st / 1e6:.3f}M member-steps")
  if a.raced:
    *r, st = ours(extra=["--config.search.lanes=0"])
    row("ours, raced", *r)
    print(f"raced: {st / 1e6:.3f}M member-steps")
  if a.original:
    row("original", *original(a.original, a.original_python))
  ex = exhaustive_k()
  rows.append(["exhaustive (fixture)", "", "", "", ex if ex else "missing",
               ex * ex if ex else "", "", "", ""])
  common.table(rows, ["search", "wall s", "CPU s", "peak MiB", "k = S = R",
                      "facts", "wall vs ours", "CPU vs ours",
                      "memory vs ours"])
  print(f"ours trained {steps / 1e6:.3f}M member-steps; load average "
        f"before/after: {load0} / {os.getloadavg()[0]:.2f} (wall times "
        "are noisy while other processes run, CPU times much less)")
  if ex is not None:
    print("same capacity as the exhaustive search:", "yes" if ex == k else
          f"NO ({k} vs {ex})")


if __name__ == "__main__":
  main()

"""Where the wall time of bench_search's capacity search goes.

python benchmarks/profile_search.py [--config.FIELD=VALUE ...]

Runs the same search as benchmarks/bench_search.py in this process, with
timers around the engine's pieces: compiles (XLA's own compile events), the
first call of each compiled chunk program, the chunk calls (dispatch to the
host's fetch of the evaluation rows, i.e. training steps plus evaluation),
the host bookkeeping between chunks (judging, pruning, progress), repacking
members after some finish, init and checkpoints. Prints a table of seconds
per piece and the member-steps trained. Extra arguments override the
search's config (e.g. --config.train.compare_eval=true).
"""
import collections
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from factrecall import cli  # pylint: disable=g-import-not-at-top

cli.use_all_cores()

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position

from benchmarks import bench_search  # pylint: disable=g-import-not-at-top,wrong-import-position
from factrecall import engine  # pylint: disable=g-import-not-at-top,wrong-import-position

T = collections.defaultdict(float)
N = collections.Counter()


def _timed(name, fn):
  def g(*a, **k):
    t0 = time.perf_counter()
    try:
      return fn(*a, **k)
    finally:
      T[name] += time.perf_counter() - t0
      N[name] += 1
  return g


def _on_duration(event, duration, **_):
  if "backend_compile" in event or "jaxpr_to_mlir" in event or (
      "trace" in event and "jaxpr" in event):
    T["compile: " + event.rsplit("/", 1)[-1]] += duration
    N["compile: " + event.rsplit("/", 1)[-1]] += 1


def main():
  jax.monitoring.register_event_duration_secs_listener(_on_duration)
  steps = [0]
  seen = set()
  orig_chunk = engine._Blocks.chunk  # pylint: disable=protected-access

  def chunk(self):
    t0 = time.perf_counter()
    rows = orig_chunk(self)
    dt = time.perf_counter() - t0
    key = id(self.chunk_fn), len(self.ids)
    name = "chunk (first call)" if key not in seen else "chunk calls"
    seen.add(key)
    T[name] += dt
    N[name] += 1
    steps[0] += len(rows)
    return rows

  engine._Blocks.chunk = chunk  # pylint: disable=protected-access
  engine._Blocks.start = _timed("init", engine._Blocks.start)  # pylint: disable=protected-access
  engine._Blocks.restore = _timed("repack", engine._Blocks.restore)  # pylint: disable=protected-access
  engine._Blocks.host_states = _timed("to host", engine._Blocks.host_states)  # pylint: disable=protected-access
  engine.record_chunk = _timed("judge + prune", engine.record_chunk)
  engine._save_ckpt = _timed("checkpoint", engine._save_ckpt)  # pylint: disable=protected-access
  wd = tempfile.mkdtemp(prefix="profile_search_")
  argv = bench_search.BASE + sys.argv[1:] + ["--workdir", wd]
  t0 = time.perf_counter()
  rc = cli.entry(argv)
  wall = time.perf_counter() - t0
  chunk_len = 128
  print(f"exit {rc}, wall {wall:.1f} s in-process, "
        f"{steps[0] * chunk_len / 1e6:.3f}M member-steps")
  for name in sorted(T, key=lambda n: -T[n]):
    print(f"  {name:<40s} {T[name]:8.1f} s  ({N[name]} calls)")
  accounted = sum(v for k, v in T.items() if not k.startswith("compile"))
  print(f"  {'rest (imports, analysis, figures...)':<40s} "
        f"{wall - accounted:8.1f} s")


if __name__ == "__main__":
  main()

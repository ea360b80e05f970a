"""Train-step throughput: the fast path vs the plain per-example model.

python benchmarks/bench_step.py [--large]
Both paths compute the same loss and gradients (tests/test_core.py checks
it); the per-example path vmaps the plain model over examples and computes
per-token queries, keys and values from the full sequence.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np

from benchmarks import common
from factrecall import models, tasks, train


STEPS = 16  # train steps per timed call (one lax.scan, as in a sweep)


def make_steps(setup, hp):
  """STEPS training steps of the sweep's own train step (factrecall.train),
  the model path chosen by setup.method."""
  return jax.jit(lambda st: train.run_steps(setup, st, hp, STEPS))


def flops_per_step(shape, ts, B):
  """Analytic FLOPs of one fast train step (forward + backward, matmuls)."""
  d, H, dk, m = shape.d, shape.H, shape.d_h, shape.m
  V, C = ts.vocab, ts.n_out
  fwd = (2 * V * d * H * dk          # value table E V
         + 2 * V * d * H             # score table E (K q)
         + 2 * B * V * H * (dk + 1)  # count-weighted sums
         + 2 * B * H * dk * d        # output projection O
         + 4 * B * d * m             # MLP
         + 2 * B * d * C)            # logits
  # Backward: two matmuls per forward matmul, except one where an operand
  # needs no gradient: the frozen tables E, U and the token counts.
  no_grad = (2 * B * d * C + 2 * V * d * H * dk + 2 * V * d * H
             + 2 * B * V * H * (dk + 1))
  return fwd + 2 * fwd - no_grad


def run(shape, k, B, reference=True):
  """Seconds per train step of each path, and the analytic FLOPs of one."""
  hp = dict(tasks.task_values(k, k, 8), lr=np.float32(1e-3), seed=np.uint32(0))
  ts = tasks.shape_for([hp], 32, pad=False)
  out = {}
  paths = (("fast", "fast"), ("per-example", "reference"))
  for name, method in paths if reference else paths[:1]:
    setup = train.Setup(shape, ts, batch=B, method=method)
    st = train.init(setup, hp)
    out[name] = common.timeit(make_steps(setup, hp), st) / STEPS
  return out, flops_per_step(shape, ts, B)


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--large", action="store_true", help="also the large shape")
  args = ap.parse_args()
  print(common.machine())
  cases = [("d=32 H=8 d_h=4 m=32, S=R=32, B=1024",
            models.TransformerShape(32, 8, 4, 32), 32, 1024)]
  if args.large:
    cases.append(("d=128 H=8 d_h=16 m=128, S=R=64, B=1024",
                  models.TransformerShape(128, 8, 16, 128), 64, 1024))
  rows = []
  for name, shape, k, B in cases:
    t, fl = run(shape, k, B)
    rows.append([name, f"{1 / t['fast']:.1f}", f"{1 / t['per-example']:.1f}",
                 f"{t['per-example'] / t['fast']:.1f}x",
                 f"{fl / t['fast'] / 1e9:.2f}"])
  common.table(rows, ["shape", "fast steps/s", "per-example steps/s",
                      "speed-up", "fast GFLOP/s"])


if __name__ == "__main__":
  main()

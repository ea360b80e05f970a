"""Achieved FLOP/s of the fast train step over the measured matmul peak.

python benchmarks/bench_roofline.py
The step's FLOPs are counted analytically (matmuls only, forward+backward,
printed); the peak is a large float32 jnp.dot measured in the same run.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp

from benchmarks import bench_step, common
from factrecall import models


def matmul_peak(sizes=(1024, 2048, 4096)):
  """Best float32 dense-matmul FLOP/s over a few square sizes."""
  best = 0.0
  for n in sizes:
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda x, y: x @ y)
    t = common.timeit(f, a, a, repeat=3, min_time=2.0)
    best = max(best, 2 * n ** 3 / t)
  return best


def main():
  print(common.machine())
  peak = matmul_peak()
  rows = []
  for name, shape, k in (
      ("d=32 H=8 d_h=4 m=32, S=R=32", models.TransformerShape(32, 8, 4, 32), 32),
      ("d=128 H=8 d_h=16 m=128, S=R=64", models.TransformerShape(128, 8, 16, 128), 64),
      ("d=256 H=8 d_h=32 m=512, S=R=128", models.TransformerShape(256, 8, 32, 512), 128)):
    t, fl = bench_step.run(shape, k, 1024, reference=False)
    ach = fl / t["fast"]
    rows.append([name, f"{fl / 1e6:.1f}", f"{t['fast'] * 1e3:.2f}",
                 f"{ach / 1e9:.1f}", f"{peak / 1e9:.1f}", f"{ach / peak:.0%}"])
  print("batch 1024; FLOPs per step counted analytically (matmuls, fwd+bwd)")
  common.table(rows, ["shape", "MFLOP/step", "ms/step", "GFLOP/s",
                      "matmul peak GFLOP/s", "roofline ratio"])


if __name__ == "__main__":
  main()

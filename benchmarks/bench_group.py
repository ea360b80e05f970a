"""One group of N members in one jitted call vs the same members one by one.

python benchmarks/bench_group.py [--sizes 8,32,128] [--d 16]
Members differ in facts (padded to the group's largest) and learning rate,
as in a capacity round. Times exclude compilation (each program is compiled
once before timing). On CPU the group runs one device per core; `width` is
how many members are vmapped together inside a device.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from factrecall import cli  # pylint: disable=g-import-not-at-top

cli.use_all_cores()

import jax  # pylint: disable=g-import-not-at-top
import numpy as np

from benchmarks import common
from factrecall import engine, models, tasks, train


def members(n):
  ks = np.linspace(8, 24, n).astype(int)
  lrs = (1e-3, 3e-3, 1e-2)
  return [dict(tasks.task_values(int(k), int(k), 8), lr=np.float32(lrs[i % 3]),
               seed=np.uint32(i)) for i, k in enumerate(ks)]


def time_group(setup, hps, devices, width, chunks):
  msh = engine.mesh(devices)
  init_fn, chunk_fn = engine._compiled(setup, msh, width)  # pylint: disable=protected-access
  shard = jax.sharding.NamedSharding(msh, jax.sharding.PartitionSpec("ens"))
  b = engine.bucket(len(hps), len(devices), width)
  hp = engine.put_global(engine.stack_hps(hps + [hps[0]] * (b - len(hps))), shard)
  act = engine.put_global(np.arange(b) < len(hps), shard)
  st = init_fn(hp)
  st, m = chunk_fn(st, hp, act)  # compile + warm up
  jax.block_until_ready(m)
  t0 = time.perf_counter()
  for _ in range(chunks):
    st, m = chunk_fn(st, hp, act)
  jax.block_until_ready(m)
  return time.perf_counter() - t0


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--sizes", default="8,32,128")
  ap.add_argument("--d", type=int, default=16)
  ap.add_argument("--chunks", type=int, default=2)
  ap.add_argument("--seq_max", type=int, default=8,
                  help="members timed one by one (the rest extrapolated)")
  args = ap.parse_args()
  print(common.machine())
  shape = models.TransformerShape(d=args.d, H=8, d_h=max(1, args.d // 8),
                                  m=args.d)
  devs = jax.devices()
  rows = []
  for n in [int(s) for s in args.sizes.split(",")]:
    hps = members(n)
    setup = train.Setup(shape, tasks.shape_for(hps, 32))
    t_group = time_group(setup, hps, devs, 1, args.chunks)
    per_dev = -(-n // len(devs))
    t_vmap = time_group(setup, hps, devs, per_dev, args.chunks)
    n_seq = min(n, args.seq_max)
    t_seq = sum(time_group(setup, [h], devs[:1], 1, args.chunks)
                for h in hps[:n_seq]) * n / n_seq
    steps = n * args.chunks * setup.chunk
    rows.append([n, f"{steps / t_seq:.0f}", f"{steps / t_group:.0f}",
                 f"{steps / t_vmap:.0f}", f"{t_seq / t_group:.1f}x",
                 f"{t_seq / t_vmap:.1f}x",
                 "" if n_seq == n else f"{n_seq} timed, scaled"])
  print(f"d={args.d} H=8 d_h={shape.d_h} m={args.d}, facts 64..576, batch 1024;"
        " member-steps per second")
  common.table(rows, ["N", "one by one", "group (map)", "group (vmap)",
                      "map speed-up", "vmap speed-up", "note"])


if __name__ == "__main__":
  main()

"""The XLA:CPU flags the CLI sets (cli.CPU_FLAGS) against XLA's defaults.

python benchmarks/bench_flags.py [--rounds=3]
Each variant runs the d=32 fast train step (bench_step's case) in a fresh
process, since XLA reads its flags once; variants alternate for --rounds
rounds and each keeps its best. A variant also reports whether padding
changes numbers: the unit-sphere embeddings of 1..63 rows against the first
rows of 64 (models.sphere_embeddings, one fused reduction).
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # pylint: disable=g-import-not-at-top
from factrecall import cli

CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import jax, numpy as np
from benchmarks import bench_step
from factrecall import models, rng
t, _ = bench_step.run(models.TransformerShape(32, 8, 4, 32), 32, 1024,
                      reference=False)
emb = jax.jit(models.sphere_embeddings, static_argnums=(1, 2))
full = np.asarray(emb(rng.key(3), 64, 7))
rows = sum(int(np.any(np.asarray(emb(rng.key(3), n, 7)) != full[:n], -1).sum())
           for n in range(1, 64))
print(json.dumps(dict(steps=1 / t["fast"], rows=rows)))
"""


def variants():
  """(name, XLA_FLAGS) pairs: ours, and ours less each flag in turn."""
  out = [("ours: " + " ".join(cli.CPU_FLAGS), " ".join(cli.CPU_FLAGS))]
  for f in cli.CPU_FLAGS:
    if f.startswith("--xla_cpu_max_isa"):
      rest = [g for g in cli.CPU_FLAGS if g != f]
      out.append(("no ISA cap (XLA default)",
                  " ".join(rest + ["--xla_cpu_max_isa="])))
  return out


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--rounds", type=int, default=3)
  args = ap.parse_args()
  print(common.machine())
  vs = variants()
  best = {name: None for name, _ in vs}
  for _ in range(args.rounds):
    for name, flags in vs:
      env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
      out = subprocess.run([sys.executable, "-c", CHILD, common.ROOT], env=env,
                           capture_output=True, text=True, check=True)
      r = json.loads(out.stdout.strip().splitlines()[-1])
      if best[name] is None or r["steps"] > best[name]["steps"]:
        best[name] = r
  ours = best[vs[0][0]]["steps"]
  common.table([[name, f"{best[name]['steps']:.1f}",
                 f"{best[name]['steps'] / ours:.2f}x",
                 str(best[name]["rows"])] for name, _ in vs],
               ["XLA_FLAGS", "steps/s (d=32)", "vs ours",
                "rows changed by padding (of 2016)"])


if __name__ == "__main__":
  main()

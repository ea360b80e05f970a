"""Wall time and peak memory of each config's default preset -> RESULTS.md.

python benchmarks/bench_configs.py [--configs capacity,linear_memory,...]
Each config runs in a fresh process in a fresh workdir; the table (with the
machine description) is printed and written to benchmarks/RESULTS.md.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # pylint: disable=g-import-not-at-top
from factrecall import cli  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WRAPPER = ("import resource, subprocess, sys, time; t = time.time(); "
           "r = subprocess.run(sys.argv[1:], capture_output=True); "
           "print(r.returncode, time.time() - t, resource.getrusage("
           "resource.RUSAGE_CHILDREN).ru_maxrss)")


def run(name):
  wd = tempfile.mkdtemp(prefix=f"bench_{name}_")
  cmd = [sys.executable, os.path.join(ROOT, "experiments", "sweep.py"),
         f"--config={name}", "--workdir", wd]
  out = subprocess.run([sys.executable, "-c", WRAPPER] + cmd,
                       capture_output=True, text=True, check=True)
  rc, wall, kib = out.stdout.split()
  claims = []
  p = os.path.join(wd, "summary.json")
  if os.path.exists(p):
    with open(p) as f:
      claims = [f"{c['id']}: {_num(c['measured'])} [{_num(c['ci'][0])}, "
                f"{_num(c['ci'][1])}] {c['verdict']}"
                for c in json.load(f)["claims"]]
  return int(rc), float(wall), float(kib) / 1024, claims, wd


def _num(x):
  return "nan" if x is None else f"{float(x):.4g}"


HEADER = ["config (default preset)", "status", "wall min", "peak MiB",
          "measured", "claims"]


def _old_rows(path):
  """Rows of an existing RESULTS.md table (kept for configs not re-run)."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    lines = [l.strip() for l in f if l.startswith("| ")]
  rows = [[c.strip() for c in l.strip("|").split(" | ")] for l in lines[1:]]
  return [r for r in rows if len(r) == len(HEADER)]


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--configs", default=",".join(cli.config_names()))
  args = ap.parse_args()
  print(common.machine())
  rows = []
  today = str(datetime.date.today())
  for name in args.configs.split(","):
    rc, wall, mib, claims, wd = run(name)
    rows.append([name, "ok" if rc == 0 else f"exit {rc}", f"{wall / 60:.1f}",
                 f"{mib:.0f}", today, "; ".join(claims)])
    print(f"{name}: workdir {wd}", flush=True)
    print(rows[-1], flush=True)
  common.table(rows, HEADER)
  path = os.path.join(ROOT, "benchmarks", "RESULTS.md")
  done = {r[0] for r in rows}
  rows = sorted([r for r in _old_rows(path) if r[0] not in done] + rows)
  with open(path, "w") as f:
    f.write(f"# Default presets: wall time and peak memory\n\n"
            f"Each config's default preset in a fresh process and workdir "
            f"(`python benchmarks/bench_configs.py [--configs a,b]`; a partial "
            f"run replaces only its rows; each run uses one XLA device per "
            f"core, the CLI's default). Machine: {common.machine()}\n\n")
    f.write("| " + " | ".join(HEADER) + " |\n")
    f.write("|" + "---|" * len(HEADER) + "\n")
    for r in rows:
      f.write("| " + " | ".join(str(c) for c in r) + " |\n")


if __name__ == "__main__":
  main()

"""Wall time and peak memory of each config's default preset -> RESULTS.md.

python benchmarks/bench_configs.py [--configs capacity,linear_memory,...]
Each config runs in a fresh process in a fresh workdir; the table (with the
machine description) is printed and written to benchmarks/RESULTS.md.
"""
import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # pylint: disable=g-import-not-at-top
from factrecall import cli, output  # pylint: disable=g-import-not-at-top


def run(name):
  rc, wall, mib, wd = common.run_sweep([f"--config={name}"], f"bench_{name}_")
  claims = []
  p = os.path.join(wd, "summary.json")
  if os.path.exists(p):
    num = output.fmt_number
    with open(p) as f:
      claims = [f"{c['id']}: {num(c['measured'])} [{num(c['ci'][0])}, "
                f"{num(c['ci'][1])}] {c['verdict']} (paper: "
                f"{output.fmt_reference(c.get('reference'))})"
                for c in json.load(f)["claims"]]
  return rc, wall, mib, claims, wd


HEADER = ["config (default preset)", "status", "wall min", "peak MiB",
          "measured", "claims"]


def _first_table(path):
  """(lines of an existing RESULTS.md, start, end) of its first table (the
  presets'; later sections have tables of their own), or None."""
  if not os.path.exists(path):
    return None
  with open(path) as f:
    lines = f.readlines()
  first = next((i for i, l in enumerate(lines) if l.startswith("|")), None)
  if first is None:
    return None
  end = next((i for i in range(first, len(lines))
              if not lines[i].startswith("|")), len(lines))
  return lines, first, end


def _old_rows(path):
  """Rows of an existing RESULTS.md table (kept for configs not re-run)."""
  found = _first_table(path)
  if found is None:
    return []
  lines, first, end = found
  rows = [[c.strip() for c in l.strip().strip("|").split(" | ")]
          for l in lines[first + 1:end]]
  return [r for r in rows if len(r) == len(HEADER)]


def _notes(path):
  """The text after an existing RESULTS.md's first table (notes on its rows,
  other benchmarks' sections), kept as it is."""
  found = _first_table(path)
  if found is None:
    return ""
  lines, _, end = found
  return "".join(lines[end:])


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
  path = os.path.join(common.ROOT, "benchmarks", "RESULTS.md")
  done = {r[0] for r in rows}
  rows = sorted([r for r in _old_rows(path) if r[0] not in done] + rows)
  notes = _notes(path)
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
    f.write(notes)


if __name__ == "__main__":
  main()

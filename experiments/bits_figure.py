"""One bits-per-parameter figure over finished runs:
`python experiments/bits_figure.py WORKDIR [WORKDIR ...] [--out PATH]`.

Each run's capacities in bits (Allen-Zhu & Li's information measure and
facts * log2 D, per parameter; per trained weight where a run counts more
trained numbers than the paper's parameters) beside the 2 bits/param of
Allen-Zhu & Li 2024, e.g. over runs/capacity runs/tradeoff
runs/linear_memory runs/mlp_memory runs/memo_capacity. Writes PATH.png and
PATH.pdf (default figures/bits_per_param_all).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from factrecall import bits  # pylint: disable=g-import-not-at-top
from factrecall import output  # pylint: disable=g-import-not-at-top


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("workdirs", nargs="*", help="finished runs' workdirs")
  ap.add_argument("--out", default=os.path.join("figures",
                                                "bits_per_param_all"),
                  help="the figure's path without its extension")
  a = ap.parse_args(argv)
  try:
    d = os.path.dirname(a.out)
    if d:
      os.makedirs(d, exist_ok=True)
    bits.figure_of_runs(a.out, a.workdirs)
  except output.UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"figure: {a.out}.png, {a.out}.pdf")
  return 0


if __name__ == "__main__":
  sys.exit(main())

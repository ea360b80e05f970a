"""factrecall: factual recall as associative memory, simulated in JAX.

    import factrecall
    r = factrecall.run("capacity:smoke", workdir="runs/smoke")
    r = factrecall.load("runs/smoke")     # config, records, summary, claims

Importing factrecall imports neither jax nor matplotlib: run() sets the
XLA flags first.
"""
from factrecall.api import load, run, Run, Table  # noqa: F401
from factrecall.output import UserError  # noqa: F401


def compare(*workdirs):
  """Two or more runs' claims side by side, as the text table
  `experiments/sweep.py compare` prints."""
  from factrecall import report  # pylint: disable=g-import-not-at-top
  return report.compare(list(workdirs))[0]

"""The S/R ratio and the hallucination stage: the dynamics experiment's
model (configs/dynamics.py, its fields and defaults) at a fixed number of
facts S * R = 64 (the paper's S = 16, R = 4) for S/R = 1/4, 1, 4, 16.

Presets: `smoke` (tests, seconds), default (linear attention, the paper's
model; minutes on 2 CPU cores), `softmax` (the same with softmax attention),
`paper` (more seeds, a longer budget).
"""
import importlib.util
import os

import ml_collections

from factrecall.checks import Int, Seq

PRESETS = ("smoke", "softmax", "paper")


def _dynamics():
  """configs/dynamics.py (its fields are this config's)."""
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "dynamics.py")
  spec = importlib.util.spec_from_file_location("configs.dynamics", path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


def get_config(arg=None):
  c = _dynamics().get_config("smoke" if arg == "smoke" else
                             "softmax" if arg == "softmax" else None)
  c.experiment = "factrecall.experiments.sr_ratio:run"
  c.task.S_sweep = ()             # unused: the pairs below are the sweep
  c.sr = ml_collections.ConfigDict()
  c.sr.pairs = ((4, 16), (8, 8), (16, 4), (32, 2))  # (S, R), S * R fixed
  c.sr.n_seeds = 3                # seeds per pair
  c.sr.max_steps = 16384          # budget (a member stops once the subject
                                  # is learned and its output left uniform)
  if arg == "smoke":
    c.sr.pairs = ((2, 8), (8, 2))
    c.sr.n_seeds = 2
    c.sr.max_steps = 384
  elif arg == "paper":
    c.sr.n_seeds = 10
    c.sr.max_steps = 2 ** 16
  return c


RULES = {
    **_dynamics().RULES,
    "sr.pairs": Seq((Int(1, 2 ** 16), Int(1, 2 ** 16)), min_len=2,
                    distinct=True),
    "sr.n_seeds": Int(1, 1000),
    "sr.max_steps": Int(1, 2 ** 24),
}

# Fields that only say how results are analysed (those of dynamics).
ANALYSIS = _dynamics().ANALYSIS
ADDED = _dynamics().ADDED

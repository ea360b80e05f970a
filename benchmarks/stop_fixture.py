"""Reads the full-budget learning curves of tests/data/stop_fixture.json.gz
(written by benchmarks/record_stop_fixture.py) and replays capacity searches
on them: what a search with given rules would have trained and found, with
no training (tests/test_stop_rule.py, benchmarks/search_costs.py)."""
import gzip
import json
import os

import numpy as np

from factrecall import cli
from factrecall import search as search_lib
from factrecall import train
from factrecall.experiments import capacity

PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "tests", "data", "stop_fixture.json.gz")


def load(path=PATH):
  """{run name: {"args", "members", "capacities"}}."""
  with gzip.open(path, "rt") as f:
    return json.load(f)


def config(args):
  """The config a recorded run's command line (--config=..., --config.*)
  built."""
  cfg = cli.load_config(args[0].split("=", 1)[1])
  cli.apply_overrides(cfg, [a for a in args[1:]
                            if a.startswith("--config.")])
  return cfg


def rows(curves):
  """A member's recorded curves {metric: [value per evaluation]} as the
  engine's evaluation rows (train.METRICS columns; NaN where absent)."""
  n = len(curves["accuracy"])
  out = np.zeros((n, len(train.METRICS)))
  for m, v in curves.items():
    out[:, train.METRICS.index(m)] = [np.nan if x is None else x for x in v]
  return out


def default_rules(cfg):
  """cfg with the default preset's search rules (the recorded runs had
  every early stop off)."""
  default = cli.load_config("capacity")
  cfg.search.prune = default.search.prune
  cfg.search.lanes = default.search.lanes
  for f in ("patience", "give_up_window", "give_up_margin",
            "give_up_loss_drop", "give_up_loss_window", "give_up_trend_loss",
            "give_up_trend_window", "give_up_trend_margin"):
    cfg.train[f] = default.train[f]
  return cfg


def exhaustive(cfg):
  """cfg with every early stop off (how the fixture was recorded)."""
  cfg.search.prune = False
  cfg.train.patience = 0
  cfg.train.give_up_window = 0
  return cfg


def replay_run(run, cfg):
  """Replays every shape of a recorded run under cfg's rules, in the run's
  order (each shape's first bracket from the one before it on its curve,
  as in a run): {shape: ({protocol: (k, band, k_ok, k_fail)}, {(k, seed,
  lr): record} of the members trained, block calls)}."""
  rule = capacity.stop_rule(cfg)
  by_shape = {}
  for m in run["members"]:
    by_shape.setdefault(m["shape"], {})[(m["k"], m["seed"], m["lr"])] = (
        rows(m["curves"]))
  seeds = [cfg.seed + i for i in range(cfg.train.n_seeds)]
  carried, out = {}, {}
  for shape, info in capacity.model_shapes(cfg):
    search = capacity.shape_search(cfg, shape, info, carried, seeds)
    trained, calls = search_lib.replay(search, rule, by_shape[shape.name()],
                                       cfg.train.chunk, cfg.search.max_rounds)
    caps = {}
    for p in capacity.protocols(cfg):
      got = search.capacity(p)
      caps[p] = (got["k"], got["band"], got["k_ok"], got["k_fail"])
      if got["k_ok"]:
        carried[(p, capacity.curve_of(info))] = (got["k_ok"], shape.params)
    out[shape.name()] = (caps, trained, calls)
  return out

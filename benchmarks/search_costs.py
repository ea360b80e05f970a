"""Where a capacity search's member-steps go, and how far early stops and
learning-rate ordering could cut them at best: replayed on the recorded
full-budget curves of tests/data/stop_fixture.json.gz, no training (seconds).

python benchmarks/search_costs.py [--cpu_minutes=86.7 --cores=2]

Per recorded shape, the search with the default's stop rules and its
learning rates raced (search.lanes = 0, as before lanes; replayed by the
run's own decisions, benchmarks/stop_fixture.py) splits its member-steps
into the members that stored their facts, the learning rates raced beside
one that did (stopped at its success), and the members that failed (gave
up or spent the budget); and into the first seed's bracket and the other
seeds' band. Against it, each replayed the same way:
- lanes=1: the default (learning rates in turn, the largest first), its
  member-steps and its block calls of 2 members (one chunk of one or two
  members on 2 devices: the wall time on 2 cores);
- envelope (a bound): a member stops at the first evaluation where its
  best accuracy lies below the lowest best accuracy that any recorded
  member which went on to succeed had at that evaluation (both protocols).
  Fitted to the very curves it is replayed on, so no rule of the form
  "accuracy below a schedule" that is safe on them stops more: optimistic;
- priority (a bound): at every (k, seed) that stored, only the learning
  rate that stored is trained (as if the search knew which one would): the
  most that ordering the learning rates could save; both: the two bounds.
With --cpu_minutes (a measured raced run's CPU minutes), the last line
projects its wall time under each on --cores cores kept fully busy (the
measured run kept ~90% busy): an optimistic projection.
"""
import argparse
import collections
import os
import sys
from unittest import mock

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # pylint: disable=g-import-not-at-top
from benchmarks import stop_fixture  # pylint: disable=g-import-not-at-top
from factrecall import engine  # pylint: disable=g-import-not-at-top
from factrecall import train  # pylint: disable=g-import-not-at-top


def success_envelope(fixture):
  """env[j]: the lowest best accuracy (either protocol) after evaluation j
  of any recorded member that succeeded after it."""
  n = max(len(m["curves"]["accuracy"]) for run in fixture.values()
          for m in run["members"])
  env = np.ones(n)
  for run in fixture.values():
    for m in run["members"]:
      rows = stop_fixture.rows(m["curves"])
      chunk = stop_fixture.config(run["args"]).train.chunk
      for p, o in m["outcomes"].items():
        if o["status"] != "success":
          continue
        col = train.METRICS.index(engine._PROTOCOL_METRIC[p])  # pylint: disable=protected-access
        best = np.maximum.accumulate(np.nan_to_num(rows[:, col], nan=0.0))
        s = o["steps"] // chunk
        env[:s] = np.minimum(env[:s], best[:s])
  return env


def envelope_rule(env):
  """engine.gives_up's stand-in: below the success envelope."""
  def gives_up(best, best_loss, chunk, rule):
    del best_loss, chunk, rule
    return best[-1] < env[len(best) - 1]
  return gives_up


def split(trained, first_seed):
  """Member-steps by kind: stored / raced / failed, bracket / band; and the
  member-steps with only each storing (k, seed)'s winner trained."""
  kinds = collections.Counter()
  by_pair = collections.defaultdict(list)
  for (k, seed, _), r in trained.items():
    by_pair[(k, seed)].append(r)
  priority = 0
  for (k, seed), recs in by_pair.items():
    where = "bracket" if seed == first_seed else "band"
    won = [r for r in recs
           if all(o["status"] == "success" for o in r["outcomes"].values())]
    priority += min(r["steps"] for r in won) if won else sum(
        r["steps"] for r in recs)
    for r in recs:
      st = {o["status"] for o in r["outcomes"].values()}
      kind = ("stored" if "success" in st else
              "raced" if st == {"skipped"} else "failed")
      kinds[kind] += r["steps"]
      kinds[where] += r["steps"]
  return kinds, priority


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--cpu_minutes", type=float, default=0.0,
                  help="CPU minutes of a measured run with the learning "
                       "rates raced (search.lanes = 0)")
  ap.add_argument("--cores", type=int, default=2)
  a = ap.parse_args()
  fixture = stop_fixture.load()
  env = success_envelope(fixture)
  rows, tot = [], collections.Counter()
  for name, run in fixture.items():
    cfg = lambda lanes: _with_lanes(stop_fixture.default_rules(
        stop_fixture.config(run["args"])), lanes)
    full = stop_fixture.replay_run(run, stop_fixture.exhaustive(
        stop_fixture.config(run["args"])))
    raced = stop_fixture.replay_run(run, cfg(0))
    turns = stop_fixture.replay_run(run, cfg(1))
    with mock.patch.object(engine, "gives_up", envelope_rule(env)):
      bound = stop_fixture.replay_run(run, cfg(0))
    for shape, (caps, trained, calls) in raced.items():
      kinds, pri = split(trained, cfg(0).seed)
      _, btrained, _ = bound[shape]
      _, bpri = split(btrained, cfg(0).seed)
      steps = lambda t: sum(r["steps"] for r in t.values())
      same = caps == full[shape][0] == bound[shape][0] == turns[shape][0]
      c = collections.Counter(dict(
          kinds, steps=steps(trained), calls=calls,
          turns=steps(turns[shape][1]), turn_calls=turns[shape][2],
          envelope=steps(btrained), priority=pri, both=bpri))
      tot.update(c)
      rows.append(_row(f"{name}: {shape}", c, same))
  rows.append(_row("all", tot, all(r[-1] == "yes" for r in rows)))
  print(common.machine())
  print(f"success envelope (lowest best accuracy of a success-to-be) after "
        f"evaluations 8, 16, 32, 64, 96: "
        f"{', '.join(f'{env[j]:.3f}' for j in (7, 15, 31, 63, 95))}")
  print("shares of the raced search's member-steps; ratios to it (member-"
        "steps, and block calls of 2 members: wall time on 2 cores)")
  common.table(rows, ["search", "raced member-steps", "stored", "raced",
                      "failed", "band", "lanes=1", "lanes=1 calls",
                      "envelope", "priority", "both", "same capacities"])
  if a.cpu_minutes:
    proj = lambda f: a.cpu_minutes * f / a.cores
    r = lambda k: tot[k] / tot["steps"]
    print(f"projected wall time of the run ({a.cpu_minutes:g} CPU min raced, "
          f"{a.cores} cores fully busy): raced {proj(1):.1f} min; lanes=1 "
          f"{proj(r('turns')):.1f}; envelope {proj(r('envelope')):.1f}; "
          f"priority {proj(r('priority')):.1f}; both {proj(r('both')):.1f}")


def _with_lanes(cfg, lanes):
  cfg.search.lanes = lanes
  return cfg


def _row(name, c, same):
  n = c["steps"]
  share = lambda k: f"{c[k] / n:.0%}"
  ratio = lambda k: f"{c[k] / n:.2f}x"
  return [name, f"{n:,}", share("stored"), share("raced"), share("failed"),
          share("band"), ratio("turns"), f"{c['turn_calls'] / c['calls']:.2f}x",
          ratio("envelope"), ratio("priority"), ratio("both"),
          "yes" if same else "NO"]


if __name__ == "__main__":
  main()

"""The capacity search's early stops, validated on full-budget learning
curves recorded once (benchmarks/record_stop_fixture.py): every probe of an
exhaustive search trained until it succeeded or spent its 2^14 steps.

Replaying those curves through the search's own decisions shows that the
default rules (learning rates in turn, pruning by the bracket, members giving
up when their rate cannot reach the target) never stop a member that went
on to succeed, and that the search finds the exhaustive search's
capacities."""
import dataclasses
import json
import os
from unittest import mock

import numpy as np
import pytest

from factrecall import cli
from factrecall import engine
from factrecall import search as search_lib
from factrecall import train
from factrecall.experiments import capacity
from benchmarks import stop_fixture


def _replayed(run, cfg):
  """{shape: (capacities, member-steps, block calls)} of run replayed
  under cfg's rules."""
  return {shape: (caps, sum(r["steps"] for r in trained.values()), calls)
          for shape, (caps, trained, calls) in
          stop_fixture.replay_run(run, cfg).items()}


@pytest.fixture(scope="module")
def fixture():
  return stop_fixture.load()


def _default(run):
  """A recorded run's config with the default preset's search rules."""
  return stop_fixture.default_rules(stop_fixture.config(run["args"]))


def test_fixture_covers_enough_curves(fixture):
  shapes = {(m["shape"]) for run in fixture.values() for m in run["members"]}
  lrs = {m["lr"] for run in fixture.values() for m in run["members"]}
  assert len(shapes) >= 6 and len(lrs) == 3
  assert cli.load_config("capacity").train.give_up_window > 0


def _false_stops_and_saving(fixture, loosen=None):
  """Replays every recorded member through engine.gives_up under the default
  rules (loosen: changes to them): (successes it would have stopped before
  they succeeded, failures it stopped early, the fraction of the failures'
  budget it saved)."""
  false = stopped = saved = total = 0
  for run in fixture.values():
    cfg = _default(run)
    rule = capacity.stop_rule(cfg)
    if loosen:
      rule = dataclasses.replace(rule, **loosen)
    col = {p: train.METRICS.index(engine._PROTOCOL_METRIC[p])  # pylint: disable=protected-access
           for p in rule.protocols}
    for m in run["members"]:
      rows = stop_fixture.rows(m["curves"])
      low = np.minimum.accumulate(rows[:, train.METRICS.index("loss")])
      for p, o in m["outcomes"].items():
        best = np.maximum.accumulate(rows[:, col[p]]).tolist()
        n = o["steps"] // cfg.train.chunk
        stop = next((j for j in range(1, n + 1)
                     if engine.gives_up(best[:j], low[:j].tolist(),
                                        cfg.train.chunk, rule)), None)
        if o["status"] == "success":
          false += stop is not None
        else:
          total += rule.max_steps
          if stop is not None:
            stopped += 1
            saved += rule.max_steps - stop * cfg.train.chunk
  return false, stopped, saved / total


def test_give_up_never_stops_a_member_that_succeeded_later(fixture):
  false, stopped, saved = _false_stops_and_saving(fixture)
  assert false == 0
  # The rule does stop failing members early (it is not a no-op): 47% of
  # their budget (40% without the trend test).
  assert stopped > 0 and saved > 0.44
  no_trend = _false_stops_and_saving(fixture, dict(give_up_trend_loss=0.0))
  assert no_trend[0] == 0 and no_trend[2] < saved - 0.05


def test_give_up_trend_test_is_safe_with_slack(fixture):
  """The trend test with half its margin and a lower loss still stops no
  member that went on to succeed; a much lower loss (0.1) would, which is
  why the default keeps 0.3."""
  assert _false_stops_and_saving(
      fixture, dict(give_up_trend_margin=1.0, give_up_trend_loss=0.2))[0] == 0
  assert _false_stops_and_saving(
      fixture, dict(give_up_trend_margin=1.0, give_up_trend_loss=0.1))[0] > 0


def test_search_with_early_stops_finds_the_exhaustive_capacities(fixture):
  """The exhaustive search (every probe to success or its budget) and the
  default search with its early stops, both replayed on the recorded curves
  by the same code, find the same capacity, band and bracket per shape, in
  fewer member-steps."""
  for run in fixture.values():
    full = _replayed(run, stop_fixture.exhaustive(
        stop_fixture.config(run["args"])))
    ours = _replayed(run, _default(run))
    for shape, (caps, steps, calls) in ours.items():
      assert caps == full[shape][0], shape
      assert steps < full[shape][1] and calls < full[shape][2]


def test_trend_test_saves_member_steps_in_the_replayed_searches(fixture):
  """Replayed, the trend test finds the same capacities as the rules without
  it and trains fewer member-steps in every shape: bench_search's search
  56,448 instead of 93,312 (its far-off probes stop after 1-2k steps
  instead of the loss-drop test's 6,272)."""
  for name, run in fixture.items():
    ours = _replayed(run, _default(run))
    cfg = _default(run)
    cfg.train.give_up_trend_loss = 0.0
    without = _replayed(run, cfg)
    for shape, (caps, steps, _) in ours.items():
      assert caps == without[shape][0], shape
      assert steps < without[shape][1], shape
    if name == "bench_search":
      (steps, old), = [(v[1], without[k][1]) for k, v in ours.items()]
      assert steps < 0.7 * old


def _raced(run):
  cfg = _default(run)
  cfg.search.lanes = 0
  return cfg


def test_learning_rates_in_turn_save_member_steps_and_wall_time(fixture):
  """The default's learning rates in turn (search.lanes = 1: the largest
  first, the next when it fails, idle slots filled) against all three
  raced, both replayed: the same capacities, bands and brackets (checked
  against the exhaustive search in the test above), and overall 0.83x the
  member-steps and 0.81x the block calls of 2 members (wall time on 2
  cores)."""
  turns = raced = [0, 0]
  for run in fixture.values():
    a, b = _replayed(run, _default(run)), _replayed(run, _raced(run))
    for shape in a:
      assert a[shape][0] == b[shape][0], shape
    turns = [turns[j] + sum(v[j + 1] for v in a.values()) for j in (0, 1)]
    raced = [raced[j] + sum(v[j + 1] for v in b.values()) for j in (0, 1)]
  assert turns[0] < 0.86 * raced[0] and turns[1] < 0.85 * raced[1]


def test_cost_bounds_of_the_replayed_searches(fixture):
  """benchmarks/search_costs.py's bounds, worked on the fixture with the
  learning rates raced: the success envelope is built from members that
  had not yet succeeded, so it stops none of them and the replayed searches
  find the exhaustive capacities; overall 0.68x the raced rules'
  member-steps (the best a threshold schedule safe on these curves does),
  and with only each stored (k, seed)'s winner trained, 0.54x."""
  from benchmarks import search_costs  # pylint: disable=g-import-not-at-top
  env = search_costs.success_envelope(fixture)
  # a minimum over fewer and fewer nondecreasing curves: nondecreasing
  assert np.all(np.diff(env) >= 0) and 0 < env[7] < env[63] < 1
  ours = bound = both = 0
  for run in fixture.values():
    cfg = _raced(run)
    full = _replayed(run, stop_fixture.exhaustive(
        stop_fixture.config(run["args"])))
    with mock.patch.object(engine, "gives_up",
                           search_costs.envelope_rule(env)):
      got = stop_fixture.replay_run(run, cfg)
    for shape, (caps, trained, _) in got.items():
      assert caps == full[shape][0], shape
      bound += sum(r["steps"] for r in trained.values())
      both += search_costs.split(trained, cfg.seed)[1]
    ours += sum(v[1] for v in _replayed(run, cfg).values())
  assert 0.6 < bound / ours < 0.75 and 0.45 < both / ours < 0.6


def _capacities(wd):
  with open(os.path.join(wd, "summary.json")) as f:
    caps = json.load(f)["capacities"]
  return {c["shape"]: {p: (q["k"], q["band"], q["k_ok"], q["k_fail"])
                       for p, q in c["protocols"].items()} for c in caps}


def test_smoke_search_finds_the_exhaustive_capacities(tmp_path):
  """Trained for real on the smoke shapes: the search with its early stops
  (racing, pruning, giving up) and the exhaustive one agree."""
  ours, full = str(tmp_path / "ours"), str(tmp_path / "full")
  assert cli.entry(["--config=capacity:smoke", "--workdir", ours]) == 0
  assert cli.entry(["--config=capacity:smoke", "--workdir", full,
                    "--config.search.prune=false",
                    "--config.train.give_up_window=0"]) == 0
  assert _capacities(ours) == _capacities(full)
  steps = lambda wd: sum(json.loads(l)["steps"] for l in open(
      os.path.join(wd, "results.jsonl")))
  assert steps(ours) <= steps(full)


def test_work_plan_of_a_replayed_search_only_falls(fixture):
  """bench_search's recorded search, replayed round by round: the pairs the
  search still plans (an upper bound on its expected course) fall by at
  least each round's pairs, start at no fewer than the search trains, and
  end at 0; its first plan is that of the 8..64 bisection (6 rounds)."""
  run = fixture["bench_search"]
  cfg = _default(run)
  rule = capacity.stop_rule(cfg)
  curves = {(m["k"], m["seed"], m["lr"]): stop_fixture.rows(m["curves"])
            for m in run["members"]}
  (shape, info), = capacity.model_shapes(cfg)
  search = search_lib.ShapeSearch(
      capacity.first_brackets(cfg, shape, info, {}), [cfg.seed],
      list(cfg.train.lrs), cfg.search.k_max, cfg.search.band_step,
      cfg.search.prune)
  plans, rounds = [search.planned_pairs()], []
  for _ in range(cfg.search.max_rounds):
    pairs = search.next_round()
    if not pairs:
      break
    rounds.append(len(pairs))
    search_lib.replay_round(search, rule, curves, cfg.train.chunk, pairs)
    plans.append(search.planned_pairs())
  assert plans[0] == 6 and plans[-1] == 0 and sum(rounds) <= plans[0]
  assert all(plans[i + 1] <= plans[i] - n for i, n in enumerate(rounds))


def test_work_plan_counts_budget_left():
  plan = search_lib.WorkPlan(100, [6, 9])
  assert plan.remaining() == 1500
  plan.start_shape(3)   # the shape's own plan replaces its fresh 6
  assert plan.remaining() == 1200
  plan.start_round(2)
  assert plan.remaining() == 1200
  plan.update_round(70)  # one member finished early, one has 70 left
  assert plan.remaining() == 1070
  plan.end_round(0)      # the search needs no more rounds
  plan.end_shape()
  assert plan.remaining() == 900


def test_progress_total_of_a_smoke_run(tmp_path, monkeypatch):
  """A one-shape smoke run's progress total (work done + planned): never
  below the work done, never rising (its search keeps to the planned
  course), and equal at the end to the member-steps the run trained."""
  from factrecall import progress  # pylint: disable=g-import-not-at-top
  seen = []

  class Recorder(progress.Progress):

    def set_total(self, total):
      super().set_total(total)
      seen.append((self.done, self.total))

  monkeypatch.setattr(progress, "Progress", Recorder)
  wd = str(tmp_path / "wd")
  assert cli.entry(["--config=capacity:smoke", "--workdir", wd,
                    "--config.model.d_list=8"]) == 0
  steps = sum(json.loads(l)["steps"] for l in open(
      os.path.join(wd, "results.jsonl")))
  assert len(seen) > 5 and all(t >= d for d, t in seen)
  assert all(b[1] <= a[1] for a, b in zip(seen, seen[1:]))
  assert seen[0][1] > steps and seen[-1] == (steps, steps)

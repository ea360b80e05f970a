"""Associative memories: exact small cases, padding/vmapping invariance of the
capacity search, and the linear_memory smoke run end to end."""
import json
import os

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from factrecall import cli
from factrecall import models
from factrecall import progress as progress_lib
from factrecall import rng
from factrecall import search as search_lib
from factrecall.experiments import associative


def test_orthogonal_embeddings_store_d_associations_in_closed_form():
  # e_x = u_x = standard basis: W = alpha * sum_x u_x e_x^T = alpha I gives
  # logits alpha * I, so all d associations are recalled, and the loss
  # log(1 + (d - 1) e^-alpha) -> 0 as alpha grows.
  d = 8
  e_NxD = u_NxD = jnp.eye(d)
  for alpha in (1.0, 5.0, 20.0):
    W = alpha * sum(jnp.outer(u_NxD[x], e_NxD[x]) for x in range(d))
    lg = models.LinearMemory(d).apply({"params": {"W": W}}, e_NxD, u_NxD)
    np.testing.assert_array_equal(jnp.argmax(lg, -1), jnp.arange(d))
    loss = jnp.mean(jnp.log(jnp.sum(jnp.exp(lg), -1)) - jnp.diag(lg))
    np.testing.assert_allclose(loss, np.log1p((d - 1) * np.exp(-alpha)),
                               rtol=1e-4, atol=1e-6)


def test_training_recovers_orthogonal_associations_and_masks_padding():
  # The training step on one member with orthogonal embeddings (written into
  # the state) reaches accuracy 1 on its N = d inputs; padded rows/classes
  # (n_in = n_out = 12 > N) are masked out of loss and accuracy.
  d, N = 6, 6
  setup = associative.Setup(models.MemoryShape(d), n_in=12, n_out=12, chunk=32)
  hp = associative.member_hp(N, N, 0.1, 0)
  state = associative.init(setup, hp)
  state["e"] = state["u"] = jnp.eye(12, d)  # rows >= d are padding
  loss0, _ = associative.loss_and_accuracy(setup, state["params"], state, hp)
  state, m = associative.run_chunk(setup, state, hp, True)
  assert float(m[1]) == 1.0 and float(m[0]) < float(loss0)
  # An inactive member does not move.
  frozen, _ = associative.run_chunk(setup, state, hp, False)
  np.testing.assert_array_equal(frozen["params"]["W"], state["params"]["W"])


def test_targets_and_embeddings():
  hp = associative.member_hp(10, 4, 1.0, 0)
  np.testing.assert_array_equal(associative.targets(hp, 12)[:10],
                                [0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
  hp = associative.member_hp(10, 10, 1.0, 0)
  np.testing.assert_array_equal(associative.targets(hp, 10), np.arange(10))
  e = models.sphere_embeddings(rng.key(3), 20, 7)
  np.testing.assert_allclose(jnp.linalg.norm(e, axis=-1), 1.0, rtol=1e-5)
  # Counter-based: padding does not change a member's embeddings.
  np.testing.assert_array_equal(models.sphere_embeddings(rng.key(3), 9, 7),
                                e[:9])
  n = associative.solve_n_log_n(np.array([100.0, 1e4]))
  np.testing.assert_allclose(n * np.log(n), [100.0, 1e4], rtol=1e-6)


def _cfg(memory="linear"):
  c = ml_collections.ConfigDict(dict(
      memory=memory, seed=0, n_seeds=2, regimes=("identity",), n_fixed=8,
      train=dict(lrs=(1.0,), max_steps=256, chunk=32, target=0.99,
                 patience=0),
      search=dict(guess={"identity": 1.0, "fixed": 1.0}, spread=2.0,
                  n_candidates=2, resolution=0.3, max_rounds=2, n_max=1000,
                  prune=False, mode="bracket", hi_per_param=0.5),
      fit=dict(n_boot=50, slope_band=(0.85, 1.15), guide_factor=1.25),
      memory_gib=16.0, checkpoint_every=30.0))
  return c


class _Prog:
  total = done = 0.0

  def update(self, *a, **k):
    pass

  skip = update

  def set_total(self, total):
    self.total = total


def test_vmapped_search_agrees_with_one_at_a_time_search():
  cfg = _cfg()
  shape = models.MemoryShape(5)
  together, alone = {}, {}
  caps_t = associative.search_shape(cfg, "identity", 0, shape, together,
                                 lambda r: None, _Prog(), together=True)
  caps_a = associative.search_shape(cfg, "identity", 0, shape, alone,
                                 lambda r: None, _Prog(), together=False)
  assert [c["N"] for c in caps_t] == [c["N"] for c in caps_a]
  assert all(c["N"] >= 5 for c in caps_t)  # at least d (orthogonal bound)
  assert set(together) == set(alone)
  assert any(r["group_size"] > 1 for r in together.values())
  assert all(r["group_size"] == 1 for r in alone.values())
  for k in together:
    assert together[k]["status"] == alone[k]["status"], k
    np.testing.assert_allclose(together[k]["accuracy"], alone[k]["accuracy"],
                               atol=1e-6)


def test_smoke_end_to_end_resume_and_bad_config(tmp_path, capsys):
  wd = str(tmp_path / "lin")
  assert cli.entry(["--config=linear_memory:smoke", "--workdir", wd]) == 0
  with open(os.path.join(wd, "config.json")) as f:
    assert json.load(f)["memory"] == "linear"
  with open(os.path.join(wd, "results.jsonl")) as f:
    recs = [json.loads(line) for line in f]
  for field in ("params", "accuracy", "steps", "seed", "lr", "status", "N",
                "d", "m", "M"):
    assert all(field in r for r in recs), field
  assert all(r["params"] == r["d"] ** 2 and r["M"] == r["N"] for r in recs)
  with open(os.path.join(wd, "summary.json")) as f:
    summary = json.load(f)
  ids = {c["id"]: c for c in summary["claims"]}
  assert set(ids) == {"linear_constant", "linear_slope",
                      "linear_bits_per_param"}
  # Bits at capacity: N log2 N stored over d^2 parameters, the information
  # from the stored member's mean cross-entropy never above it.
  for row in summary["bits"]:
    assert row["stored_bits"] == pytest.approx(row["facts"] *
                                               np.log2(row["facts"]))
    assert row["info_bits"] <= row["stored_bits"] + 1e-9
  assert ids["linear_bits_per_param"]["reference"]["value"] == 2.0
  for c in ids.values():
    assert c["ci"][0] <= c["measured"] <= c["ci"][1]
  # N* ln N* ~ d^2: the constant is of order 1.
  assert 0.3 < ids["linear_constant"]["measured"] < 3
  for ext in ("png", "pdf"):
    assert os.path.getsize(os.path.join(wd, "figures", f"linear_memory.{ext}"))
    assert os.path.getsize(os.path.join(wd, "figures",
                                        f"bits_per_param.{ext}"))
  # Resume: nothing retrained, nothing duplicated, same claims.
  assert cli.entry(["--config=linear_memory:smoke", "--workdir", wd]) == 0
  with open(os.path.join(wd, "results.jsonl")) as f:
    again = [json.loads(line) for line in f]
  assert len(again) == len(recs)
  assert len({r["key"] for r in again}) == len(again)
  with open(os.path.join(wd, "summary.json")) as f:
    assert json.load(f)["claims"] == summary["claims"]
  capsys.readouterr()
  # A bad field: exit 2 with one line naming it.
  assert cli.entry(["--config=linear_memory:smoke", "--workdir",
                    str(tmp_path / "bad"), "--config.d_list=0,4"]) == 2
  assert "d_list" in capsys.readouterr().err
  assert cli.entry(["--config=mlp_memory:smoke", "--workdir",
                    str(tmp_path / "bad"), "--config.regimes=wrong"]) == 2


def test_rounds_split_into_groups_that_fit_memory_gib():
  # A budget below one member's estimate: every member trains in a group of
  # its own (padded to its own N), with the same outcomes.
  cfg, small = _cfg(), _cfg()
  small.memory_gib = 1e-9
  shape = models.MemoryShape(5)
  whole, split = {}, {}
  caps_w = associative.search_shape(cfg, "identity", 0, shape, whole,
                                 lambda r: None, _Prog())
  caps_s = associative.search_shape(small, "identity", 0, shape, split,
                                 lambda r: None, _Prog())
  assert [c["N"] for c in caps_w] == [c["N"] for c in caps_s]
  assert all(r["group_size"] == 1 for r in split.values())
  assert any(r["group_size"] > 1 for r in whole.values())
  for k in whole:
    assert whole[k]["status"] == split[k]["status"], k
    np.testing.assert_allclose(whole[k]["accuracy"], split[k]["accuracy"],
                               atol=1e-6)


def _caps(regime, d_list, ratio, N_of, seeds=(0, 1, 2)):
  """Capacity records of a fake search: N = N_of(params, seed)."""
  out = []
  for d in d_list:
    m = int(round(ratio * d))
    params = d * d if m == 0 else m * d
    for s in seeds:
      out.append(dict(regime=regime, ratio=ratio, d=d, m=m, params=params,
                      seed=s, N=N_of(params, s)))
  return out


def _summary_cfg(memory, regimes):
  cfg = _cfg(memory)
  cfg.regimes = regimes
  cfg.n_fixed = 32
  return cfg


def test_slope_claims_support_the_law_on_exact_synthetic_data():
  # N ln N = c d^2 exactly (seeds jitter c by +-2%): the law's slope is 1
  # and supported, while the slope of N alone is the law's ln N/(1 + ln N).
  cfg = _summary_cfg("linear", ("identity",))
  c_true = 0.9
  caps = _caps("identity", (8, 16, 32, 64, 128), 0,
               lambda P, s: float(associative.solve_n_log_n(
                   c_true * (1 + 0.02 * (s - 1)) * P)))
  claims, fits = associative.summarize(cfg, caps)
  ids = {c["id"]: c for c in claims}
  slope, const = ids["linear_slope"], ids["linear_constant"]
  assert slope["verdict"] == "supported"
  assert abs(slope["measured"] - 1) < 1e-3
  assert slope["ci"][0] > 0.98 and slope["ci"][1] < 1.02
  assert 0.7 < slope["n_slope"] < 0.9   # what the old claim tested
  assert abs(slope["n_slope"] - slope["n_slope_expected"]) < 0.01
  assert abs(const["measured"] - c_true) < 0.01
  assert const["verdict"] == "supported"       # 0.9 / (1 / 1.3) = 1.17
  assert const["reference"]["value"] == associative.PAPER_GUIDES["linear"][0]
  # N = c d^2 (not the paper's law): N ln N grows faster than d^2.
  claims, _ = associative.summarize(cfg, _caps("identity", (8, 16, 32, 64, 128),
                                            0, lambda P, s: 0.2 * P))
  assert {c["id"]: c for c in claims}["linear_slope"]["verdict"] == "refuted"
  # A constant far from the paper's guide is refuted.
  claims, _ = associative.summarize(cfg, _caps(
      "identity", (8, 16, 32, 64), 0,
      lambda P, s: float(associative.solve_n_log_n(3.0 * P))))
  assert {c["id"]: c for c in claims}["linear_constant"]["verdict"] == "refuted"


def test_fixed_regime_fits_only_capacities_above_M():
  # N = 0.8 m d: the shapes with m d <= 40 store N <= M = 32 and are
  # identity-regime points; they are dropped, and so is a failed floor.
  cfg = _summary_cfg("mlp", ("identity", "fixed"))
  caps = _caps("fixed", (4, 6, 8, 16, 32), 1.0, lambda P, s: 0.8 * P)
  caps += _caps("identity", (4, 8, 16), 1.0, lambda P, s: float(
      associative.solve_n_log_n(2.9 * P)) if P > 16 else 0)
  claims, fits = associative.summarize(cfg, caps)
  ids = {c["id"]: c for c in claims}
  assert ids["mlp_fixed_slope"]["n_points"] == 3 * 3   # d = 8, 16, 32
  assert fits["fixed"]["n_dropped"] == 2 * 3           # d = 4, 6
  assert abs(ids["mlp_fixed_slope"]["measured"] - 1) < 1e-9
  assert abs(ids["mlp_fixed_constant"]["measured"] - 0.8) < 1e-9
  assert ids["mlp_identity_slope"]["n_points"] == 2 * 3  # d = 4 failed
  assert "n_slope" not in ids["mlp_fixed_slope"]         # N is the law


class _PlanLog(progress_lib.Progress):
  """A Progress that keeps every total the plan was revised to."""

  def set_total(self, total):
    super().set_total(total)
    self.totals.append(self.total)


@pytest.mark.parametrize("mode", ["bracket", "bisect"])
def test_progress_plan_only_shrinks_and_ends_at_the_work_done(mode):
  cfg = _cfg()
  cfg.search.mode = mode
  cfg.search.max_rounds = 40 if mode == "bisect" else 2
  shape = models.MemoryShape(5)
  plan = associative.work_plan(cfg, [("identity", 0, shape)]).remaining()
  prog = _PlanLog(plan, enabled=False)
  prog.totals = [prog.total]
  associative.search_shape(cfg, "identity", 0, shape, {}, lambda r: None, prog)
  # Every member is planned at its whole budget, and its unused budget
  # leaves the plan when it stops; the rounds to come are planned from the
  # brackets' worst cases. So the plan never grows and the work done
  # reaches the revised total exactly: the bar ends at 100% without a jump.
  assert all(b <= a * (1 + 1e-12) for a, b in zip(prog.totals, prog.totals[1:]))
  assert prog.done == pytest.approx(prog.total, rel=1e-9)
  assert prog.total <= plan


def test_bisection_follows_the_original_search():
  # True capacity 19 on [8, 32]: probes int((lo + hi) / 2) until
  # hi - lo <= 1 or hi <= 1.01 lo; the ends are never tested.
  b = search_lib.Bisection(8, 32, 0.01)
  probes = []
  while b.next_candidates():
    (N,) = b.next_candidates()
    probes.append(N)
    b.results[N] = N <= 19
  assert probes == [20, 14, 17, 18, 19] and b.lo == 19 and b.hi == 20
  # The plan's bound on its rounds: halving 24 down to 1 takes 5.
  cfg = _cfg()
  cfg.search.mode, cfg.search.max_rounds = "bisect", 40
  cfg.search.resolution = 0.01
  shape = models.MemoryShape(8)
  assert associative.first_bracket(cfg, "identity", shape) == (8, 32)
  assert search_lib.Bisection(8, 32, 0.01).planned() == len(probes) == 5
  assert associative.new_search(cfg, "identity", shape).planned_pairs() == (
      cfg.n_seeds * 5)
  # Nothing stored: the floor d is returned untested, as in the original.
  b = search_lib.Bisection(8, 32, 0.01)
  while b.next_candidates():
    b.results[b.next_candidates()[0]] = False
  assert b.lo == 8 and b.hi == 9
  # The search never starts below N = d, whatever the guess.
  cfg = _cfg()
  cfg.search.guess.identity = 1e-3
  assert associative.first_bracket(cfg, "identity", models.MemoryShape(16))[0] == 16
  cfg.search.mode = "bisect"
  assert associative.first_bracket(cfg, "identity",
                                models.MemoryShape(16)) == (16, 128)


def test_log_axis_labels_are_plain_and_minor_labels_off(tmp_path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots()
  ax.plot([20, 70], [20, 70])
  ax.set_xscale("log")
  associative.log_axis(ax.xaxis, 20, 70)
  fig.canvas.draw()
  lo, hi = ax.get_xlim()
  shown = lambda ticks: [t.get_text() for t in ticks
                         if lo <= t.get_position()[0] <= hi and t.get_text()]
  assert shown(ax.get_xticklabels()) == ["20", "50"]
  assert shown(ax.xaxis.get_minorticklabels()) == []
  plt.close(fig)

"""Associative memories: exact small cases, padding/vmapping invariance of the
capacity search, and the linear_memory smoke run end to end."""
import json
import os

import jax.numpy as jnp
import ml_collections
import numpy as np

from factrecall import cli
from factrecall import memories
from factrecall import models
from factrecall import rng


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
  setup = memories.Setup(models.MemoryShape(d), n_in=12, n_out=12, chunk=32)
  hp = memories.member_hp(N, N, 0.1, 0)
  state = memories.init(setup, hp)
  state["e"] = state["u"] = jnp.eye(12, d)  # rows >= d are padding
  loss0, _ = memories.loss_and_accuracy(setup, state["params"], state, hp)
  state, m = memories.run_chunk(setup, state, hp, True)
  assert float(m[1]) == 1.0 and float(m[0]) < float(loss0)
  # An inactive member does not move.
  frozen, _ = memories.run_chunk(setup, state, hp, False)
  np.testing.assert_array_equal(frozen["params"]["W"], state["params"]["W"])


def test_targets_and_embeddings():
  hp = memories.member_hp(10, 4, 1.0, 0)
  np.testing.assert_array_equal(memories.targets(hp, 12)[:10],
                                [0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
  hp = memories.member_hp(10, 10, 1.0, 0)
  np.testing.assert_array_equal(memories.targets(hp, 10), np.arange(10))
  e = models.sphere_embeddings(rng.key(3), 20, 7)
  np.testing.assert_allclose(jnp.linalg.norm(e, axis=-1), 1.0, rtol=1e-5)
  # Counter-based: padding does not change a member's embeddings.
  np.testing.assert_array_equal(models.sphere_embeddings(rng.key(3), 9, 7),
                                e[:9])
  n = memories.solve_n_log_n(np.array([100.0, 1e4]))
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
      memory_gib=16.0))
  return c


class _Prog:
  def update(self, *a, **k):
    pass

  def add_total(self, *a):
    pass


def test_vmapped_search_agrees_with_one_at_a_time_search():
  cfg = _cfg()
  shape = models.MemoryShape(5)
  together, alone = {}, {}
  caps_t = memories.search_shape(cfg, "identity", 0, shape, together,
                                 lambda r: None, _Prog(), together=True)
  caps_a = memories.search_shape(cfg, "identity", 0, shape, alone,
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
  assert set(ids) == {"linear_constant", "linear_slope"}
  for c in ids.values():
    assert c["verdict"] in ("supported", "refuted", "inconclusive")
    assert c["ci"][0] <= c["measured"] <= c["ci"][1]
  # N* ln N* ~ d^2: the constant is of order 1.
  assert 0.3 < ids["linear_constant"]["measured"] < 3
  for ext in ("png", "pdf"):
    assert os.path.getsize(os.path.join(wd, "figures", f"linear_memory.{ext}"))
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
  caps_w = memories.search_shape(cfg, "identity", 0, shape, whole,
                                 lambda r: None, _Prog())
  caps_s = memories.search_shape(small, "identity", 0, shape, split,
                                 lambda r: None, _Prog())
  assert [c["N"] for c in caps_w] == [c["N"] for c in caps_s]
  assert all(r["group_size"] == 1 for r in split.values())
  assert any(r["group_size"] > 1 for r in whole.values())
  for k in whole:
    assert whole[k]["status"] == split[k]["status"], k
    np.testing.assert_allclose(whole[k]["accuracy"], split[k]["accuracy"],
                               atol=1e-6)

"""Learned vs frozen embeddings: the geometry measures on worked cases, the
learned mode's start and first step against the frozen mode's, the config's
rules, and the learned smoke preset end to end."""
import functools
import json
import math
import os

import jax
import numpy as np
import pytest

from factrecall import cli
from factrecall import models
from factrecall import tasks
from factrecall import train
from factrecall.experiments import learned


def test_geometry_measures_by_hand():
  # Orthogonal rows: |cos| 0, effective rank 3 (equal singular values).
  assert learned.mean_abs_cos(np.eye(3)) == 0.0
  assert learned.effective_rank(np.eye(3)) == pytest.approx(3.0)
  # Two rows on one direction: |cos| 1, rank 1.
  assert learned.mean_abs_cos([[1.0, 0.0], [-2.0, 0.0]]) == pytest.approx(1.0)
  assert learned.effective_rank([[1.0, 0.0], [-2.0, 0.0]]) == pytest.approx(1.0)
  # (1, 0) and (1, 1): cos 45 degrees; singular values sqrt((3 +- sqrt 5)/2)
  # = phi and 1/phi, so p = (phi, 1/phi) / sqrt 5 and rank exp(H(p)).
  x = [[1.0, 0.0], [1.0, 1.0]]
  assert learned.mean_abs_cos(x) == pytest.approx(1 / math.sqrt(2))
  phi = (1 + math.sqrt(5)) / 2
  p = np.array([phi, 1 / phi]) / math.sqrt(5)
  assert learned.effective_rank(x) == pytest.approx(
      math.exp(-np.sum(p * np.log(p))))
  assert learned.effective_rank(x) == pytest.approx(1.8031, abs=1e-4)
  # Three rows at 0, 60 and 120 degrees in the plane: |cos| = 1/2 for each
  # pair; their Gram matrix is (3/2) I in the plane, so rank 2.
  a = np.deg2rad([0, 60, 120])
  tri = np.stack([np.cos(a), np.sin(a)], 1)
  assert learned.mean_abs_cos(tri) == pytest.approx(0.5)
  assert learned.effective_rank(tri) == pytest.approx(2.0)
  assert np.isnan(learned.mean_abs_cos([[1.0, 2.0]]))


def test_random_mean_abs_cos_by_hand_and_by_sampling():
  # d = 2: E|cos theta|, theta uniform = 2/pi; d = 3: E|z| on the sphere = 1/2.
  assert learned.random_mean_abs_cos(2) == pytest.approx(2 / math.pi)
  assert learned.random_mean_abs_cos(3) == pytest.approx(0.5)
  x = np.random.default_rng(0).normal(size=(300, 16)) / 4
  assert learned.mean_abs_cos(x) == pytest.approx(
      learned.random_mean_abs_cos(16), rel=0.03)


def _setup(embeddings):
  # Padded beyond the member's task: subjects 4 of 6, relations 4 of 5,
  # noise 8 of 10 (vocab rows above EOS = 16 and classes >= D R = 16 are
  # padding).
  ts = tasks.TaskShape(S_max=6, R_max=5, D_max=4, n_noise_max=10, T=8)
  shape = models.TransformerShape(d=8, H=2, d_h=4, m=8)
  return train.Setup(model=shape, task=ts, batch=16, chunk=2,
                     embeddings=embeddings, fixed_eval=64)


def _hp():
  tv = tasks.task_values(4, 4, 4, n_noise=8)
  return dict(tv, lr=np.float32(1e-2), seed=np.uint32(3))


def test_learned_mode_starts_from_the_frozen_draw_and_trains_e_and_u():
  hp = _hp()
  fz, ln = _setup("gaussian"), _setup("learned")
  s_f, s_l = train.init(fz, hp), train.init(ln, hp)
  # Frozen params are the model's alone; learned ones add E and U, equal to
  # the frozen draw, and the transformer starts the same.
  assert set(s_f["params"]) == {"Q", "K", "V", "O", "W1", "b1", "W2"}
  assert set(s_l["params"]) == {"net", "E", "U"}
  np.testing.assert_array_equal(s_l["params"]["E"], s_f["E"])
  np.testing.assert_array_equal(s_l["params"]["U"], s_f["U"])
  for k, v in s_f["params"].items():
    np.testing.assert_array_equal(s_l["params"]["net"][k], v)
  tok, _, _, _ = tasks.sample_batch(s_f["key"], hp, s_f["table"], fz.task, 8)
  np.testing.assert_allclose(
      train.logits_fn(ln, s_l["params"], tok, s_l, hp),
      train.logits_fn(fz, s_f["params"], tok, s_f, hp), rtol=1e-6, atol=1e-6)
  # One step on the same batch: the same transformer update (the same
  # gradients at the same point); E and U move in learned mode only, and
  # only in the rows the task uses.
  step = jax.jit(lambda st, setup: train.run_steps(setup, st, hp, 1),
                 static_argnums=1)
  (p_f, _, _), l_f = step(s_f, fz)
  (p_l, _, _), l_l = step(s_l, ln)
  np.testing.assert_allclose(l_l, l_f, rtol=1e-6)
  for k, v in p_f.items():
    np.testing.assert_allclose(p_l["net"][k], v, rtol=1e-5, atol=1e-6)
  dE = np.abs(np.asarray(p_l["E"]) - np.asarray(s_f["E"])).max(1)
  dU = np.abs(np.asarray(p_l["U"]) - np.asarray(s_f["U"])).max(1)
  eos = int(tasks.eos_id(hp))
  assert eos == 16 and (dE[eos + 1:] == 0).all() and (dE[:eos + 1] > 0).any()
  assert (dU[16:] == 0).all() and (dU[:16] > 0).any()


def test_record_fields_geometry_of_a_member():
  hp, setup = _hp(), _setup("learned")
  st = train.init(setup, hp)
  E0, U0 = np.asarray(st["E"]), np.asarray(st["U"])
  p = dict(st["params"], E=E0 + 0.5 * np.eye(*E0.shape), U=U0)
  out = learned.record_fields(setup, hp, dict(status="success", params=p))
  # vocab 4 + 4 + 8 + EOS = 17 rows and D R = 16 answers, d = 8
  assert out["embedding_params"] == (17 + 16) * 8
  g = out["geometry"]
  assert g["random"]["subjects"]["mean_abs_cos"] == pytest.approx(
      learned.mean_abs_cos(E0[:4]))
  assert g["learned"]["subjects"]["effective_rank"] == pytest.approx(
      learned.effective_rank(p["E"][:4]))
  assert g["learned"]["answers"] == g["random"]["answers"]
  assert g["random"]["relations"]["max_rank"] == 4
  failed = learned.record_fields(setup, hp, dict(status="failed", params=p))
  assert "geometry" not in failed


def _run(wd, *extra):
  # One shape, one round of a short budget: the comparison's plumbing,
  # not its numbers (those are the preset's).
  return cli.entry(["--config=capacity:learned_smoke", "--workdir", str(wd),
                    "--config.model.d_list=8", "--config.search.max_rounds=1",
                    "--config.search.lo_per_param=0.01",
                    "--config.search.hi_per_param=0.05"] + list(extra))


@pytest.mark.parametrize("value", ["learned", "frozen,hot"])
def test_embeddings_field_is_checked(tmp_path, capsys, value):
  assert _run(tmp_path / "bad", f"--config.model.embeddings={value}") == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "model.embeddings" in err[0]


def test_learned_smoke_end_to_end(tmp_path, capsys):
  wd = tmp_path / "run"
  assert _run(wd) == 0
  lines = open(wd / "results.jsonl").read().splitlines()
  recs = [json.loads(l) for l in lines]
  mine = [r for r in recs if r["shape"].endswith("_learnedE")]
  frozen = [r for r in recs if not r["shape"].endswith("_learnedE")]
  assert mine and frozen
  assert all("embedding_params" not in r and "embeddings" not in r
             for r in frozen)
  for r in mine:
    assert r["embeddings"] == "learned"
    assert r["embedding_params"] == (2 * (r["S"] + r["R"]) + 1 +
                                     r["D"] * r["R"]) * r["d"]
    assert ("geometry" in r) == (r["status"] == "success")
  summary = json.load(open(wd / "summary.json"))
  claims = {c["id"]: c for c in summary["claims"]}
  for cid in ("learned_over_frozen_facts", "learned_facts_per_trained_param",
              "learned_subject_mean_abs_cos",
              "learned_subject_effective_rank"):
    assert claims[cid]["reference"]["value"] is None
    assert "open question" in claims[cid]["reference"]["source"]
  # The headline claims and bits are the frozen shapes' alone.
  caps = summary["capacities"]
  assert claims["loglog_slope"]["all_points_n"] == sum(
      bool(c["facts"]) for c in caps if c.get("embeddings") != "learned")
  assert all(not b["shape"].endswith("_learnedE") for b in summary["bits"])
  row, = summary["learned"]["pairs"]
  assert row["learned_per_param"] == pytest.approx(
      row["learned_facts"] / row["params"])
  assert row["frozen_facts"] > 0 and row["learned_facts"] > 0
  assert claims["learned_over_frozen_facts"]["measured"] == pytest.approx(
      row["learned_facts"] / row["frozen_facts"])
  assert claims["learned_facts_per_trained_param"]["measured"] == \
      pytest.approx(row["learned_per_all_params"] / row["frozen_per_param"])
  # Bits of the learned shapes, judged per trained weight (E and U too).
  b, = summary["learned"]["bits"]
  assert b["shape"].endswith("_learnedE")
  assert b["weights"] == b["params"] + learned.embedding_params(
      cli.load_config("capacity:learned_smoke"),
      math.isqrt(b["facts"]), row["d"])
  c = claims["learned_bits_per_param"]
  assert c["measured"] == pytest.approx(b["info_bits_per_weight"])
  assert c["info_bits_per_paper_param"] == pytest.approx(
      b["info_bits_per_param"])
  for f in ("learned_capacity", "learned_geometry"):
    assert os.path.getsize(wd / "figures" / f"{f}.png") > 0
  # Resume: nothing trained again.
  assert _run(wd) == 0
  assert open(wd / "results.jsonl").read().splitlines() == lines


def test_learned_bits_by_hand():
  # d = 8, k = 6: 36 facts, D = 8 (3 bits each), mean CE 0.1 nats at the
  # capacity; vocab = 6 + 6 + 12 noise + EOS = 25, D R = 48 answers, so E
  # and U add (25 + 48) * 8 = 584 weights to the transformer's 384.
  cfg = cli.config_module("capacity").get_config("learned")
  caps = [dict(shape="d8_H8_dh1_m8_learnedE", d=8, params=384, k=6,
               facts=36, embeddings="learned"),
          dict(shape="d8_H8_dh1_m8", d=8, params=384, k=2, facts=4)]
  recs = [dict(shape="d8_H8_dh1_m8_learnedE", status="success", k=6,
               curves=dict(loss=[2.0, 0.1])),
          dict(shape="d8_H8_dh1_m8_learnedE", status="failed", k=7,
               curves=dict(loss=[2.0, 1.0]))]
  row, = learned.learned_bits(cfg, caps, recs)
  info = 36 * (3 - 0.1 / math.log(2))
  assert row["weights"] == 384 + 584
  assert row["info_bits"] == pytest.approx(info)
  assert row["info_bits_per_weight"] == pytest.approx(info / 968)
  assert row["stored_bits_per_param"] == pytest.approx(108 / 384)


def test_learned_first_bracket_counts_embedding_params():
  # facts(k) = k^2 >= c (P + (vocab + D R) d), vocab = 2 (S + R) + 1 = 4k + 1
  # and D R = 8k at d = 8, P = 384: for c = 0.16, k^2 >= 0.16 (392 + 96 k)
  # first holds at k = 19 (361 >= 354.6; at 18: 324 < 339.2).
  from factrecall.experiments import capacity  # pylint: disable=g-import-not-at-top
  cfg = cli.config_module("capacity").get_config("learned")
  shape = models.LearnedEmbeddingsShape(d=8, H=8, d_h=1, m=8)
  assert shape.params == 384 and shape.name() == "d8_H8_dh1_m8_learnedE"
  assert learned.embedding_params(cfg, 19, 8) == (77 + 152) * 8
  assert capacity._k_for_learned(cfg, 0.16, shape) == 19  # pylint: disable=protected-access
  # The departures from the paper's protocol are listed field by field.
  dep = learned.departures(cfg)
  assert "search.start=guess (paper: paper)" in dep
  assert not any(d.startswith("train.lrs") for d in dep)


def test_welch_floor_by_hand_and_against_a_tight_frame():
  # n = 3 unit vectors in the plane: mean cos^2 >= (3 - 2) / (2 * 2) = 1/4,
  # reached by the three directions 60 degrees apart (cos^2 = 1/4 each);
  # random rows have 1/d = 1/2, so the floor over random is sqrt(1/2).
  assert learned.welch_floor(3, 2) == pytest.approx(math.sqrt(0.5))
  assert learned.welch_floor(2, 8) == 0.0
  a = np.deg2rad([0, 60, 120])
  u = np.stack([np.cos(a), np.sin(a)], 1)
  c2 = (u @ u.T)[np.triu_indices(3, 1)] ** 2
  assert math.sqrt(c2.mean()) == pytest.approx(
      learned.welch_floor(3, 2) / math.sqrt(2))


def test_saved_learned_member_loads_and_evaluates_the_same(tmp_path):
  """save_models with learned embeddings: the params (the network's nested
  under "net", beside the trained E and U) round-trip through
  checkpoints.save/load, and the loaded member evaluates as the saved one
  (a nested dict was once written as a pickled object array, which load
  refuses)."""
  from factrecall import checkpoints  # pylint: disable=g-import-not-at-top
  setup, hp = _setup("learned"), _hp()
  state = jax.jit(functools.partial(train.init, setup))(hp)
  state, _ = jax.jit(functools.partial(train.run_chunk, setup))(
      state, hp, True)
  params = state["params"]
  assert set(params) == {"net", "E", "U"}
  base = str(tmp_path / "m")
  checkpoints.save(base, setup, hp, params, {"key": "m"})
  m = checkpoints.load(base)
  assert m.setup == setup and m.info == {"key": "m"}
  for a, b in zip(jax.tree_util.tree_leaves(m.params),
                  jax.tree_util.tree_leaves(params)):
    np.testing.assert_array_equal(a, b)
  assert jax.tree_util.tree_structure(m.params) == \
      jax.tree_util.tree_structure(params)
  got = train.evaluate(setup, m.params, m.state(), m.hp)
  want = train.evaluate(setup, params, state, hp)
  for k in ("accuracy", "fixed_accuracy", "loss"):
    assert float(got[k]) == float(want[k]), k

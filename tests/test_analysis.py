"""The analyses: ROME edit, key angles, IG, checkpoints, smoke."""
import json
import os

import numpy as np

from factrecall import cli
from factrecall.experiments import crosstalk
from factrecall.experiments import editing
from factrecall.experiments import neurons


def test_rank_one_edit_changes_exactly_one_association():
  rng = np.random.default_rng(0)
  m, d = 8, 5
  K_MxM, _ = np.linalg.qr(rng.normal(size=(m, m)))  # orthonormal keys (rows)
  V_MxD = rng.normal(size=(m, d))
  W2 = K_MxM.T @ V_MxD  # linear memory: k_i @ W2 = v_i
  np.testing.assert_allclose(K_MxM @ W2, V_MxD, atol=1e-10)
  Cinv = np.linalg.inv(editing.key_covariance(K_MxM, ridge=0.0))
  v_new = rng.normal(size=d)
  W2e = editing.rome_update(W2, Cinv, K_MxM[3], v_new)
  out = K_MxM @ W2e
  np.testing.assert_allclose(out[3], v_new, atol=1e-10)
  others = np.arange(m) != 3
  np.testing.assert_allclose(out[others], V_MxD[others], atol=1e-10)
  assert np.linalg.matrix_rank(W2e - W2) == 1


def test_optimised_delta_makes_target_win():
  rng = np.random.default_rng(1)
  U = rng.normal(size=(12, 6)) / np.sqrt(6)
  z0 = rng.normal(size=(4, 6))
  delta = editing.optimise_delta(z0, U, 5)
  assert np.all(np.argmax((z0 + delta) @ U.T, 1) == 5)


def test_angle_statistics_match_numpy_reference():
  rng = np.random.default_rng(2)
  X = rng.normal(size=(300, 16))
  X[7] = 0.0  # a zero key has no angle and is dropped
  ks = crosstalk.KeySet(X, 5000, np.random.default_rng(3))
  assert len(ks.U) == 299 and abs(ks.zero_frac - 1 / 300) < 1e-12
  keep = np.delete(np.arange(300), 7)
  A, B = X[keep][ks.i], X[keep][ks.j]
  ref = np.degrees(np.arccos(np.sum(A * B, 1) / (
      np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1))))
  np.testing.assert_allclose(ks.theta, ref, atol=1e-6)
  assert np.all(ks.i != ks.j)
  st = ks.stats
  assert abs(st["mean"] - ref.mean()) < 1e-6
  assert abs(st["q50"] - np.median(ref)) < 1e-6
  assert abs(st["dev"] - np.mean(np.abs(ref - 90))) < 1e-6
  # Gaussian vectors in 16 dims: nearly orthogonal on average.
  assert 85 < st["mean"] < 95
  # bootstrap replicates stay close to the point value
  b = [ks.boot_dev(np.random.default_rng(s)) for s in range(5)]
  assert np.all(np.abs(np.array(b) - st["dev"]) < 2.0)


def test_position_keys_of_a_hand_built_model():
  # One head with Q = 0: every position attends uniformly to s <= t, so
  # h_t = mean_{s <= t} E[x_s] V O; with V = O = I, h_t is the running mean
  # of the token vectors, and hidden = act(h W1 + b1).
  from factrecall import models  # pylint: disable=g-import-not-at-top
  shape = models.TransformerShape(d=2, H=1, d_h=2, m=2)
  E = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
  W1 = np.array([[1.0, -1.0], [0.0, 1.0]])
  p = dict(Q=np.zeros((1, 2, 2)), K=np.ones((1, 2, 2)), V=np.eye(2)[None],
           O=np.eye(2), W1=W1, b1=np.array([0.0, -0.25]), W2=np.eye(2))
  h, hid = crosstalk.position_keys(shape, p, E, np.array([[0, 1, 2]]))
  want = np.array([[1.0, 0.0], [0.5, 0.5], [2 / 3, 2 / 3]])
  np.testing.assert_allclose(h[0], want, atol=1e-6)
  np.testing.assert_allclose(hid[0], np.maximum(want @ W1 + p["b1"], 0),
                             atol=1e-6)
  # A query that matches only its own token attends to itself alone.
  p2 = dict(p, Q=50 * np.eye(2)[None], K=np.eye(2)[None])
  h, _ = crosstalk.position_keys(shape, p2, np.eye(2), np.array([[0, 1]]))
  np.testing.assert_allclose(h[0], np.eye(2), atol=1e-6)
  gelu = models.ActTransformerShape(2, 1, 2, 2, "gelu")
  _, hid = crosstalk.position_keys(gelu, p, E, np.array([[0, 1, 2]]))
  from scipy.special import erf  # pylint: disable=g-import-not-at-top
  z = want @ W1 + p["b1"]
  np.testing.assert_allclose(hid[0], z * (1 + erf(z / np.sqrt(2))) / 2,
                             atol=1e-6)


def test_integrated_gradients_completeness():
  rng = np.random.default_rng(4)
  N, M, D, C = 5, 12, 6, 9
  h = rng.normal(size=(N, D))
  x = np.maximum(rng.normal(size=(N, M)), 0)
  W2 = rng.normal(size=(M, D)) / np.sqrt(M)
  U = rng.normal(size=(C, D))
  y = rng.integers(0, C, N)
  attr = neurons.integrated_gradients(neurons.prob_grad_fn(h, W2, U, y), x, 20)
  f = lambda v: neurons.answer_prob(h, v, W2, U, y)[0]
  gap = f(x) - f(0 * x)
  np.testing.assert_allclose(attr.sum(1), gap, atol=0.02 * np.abs(gap).max())
  kn = neurons.knowledge_neurons(attr, 0.2)
  pos = attr.max(1) > 0  # a row with no positive attribution has no neuron
  assert kn[pos].any(axis=1).all() and not kn[~pos].any()
  np.testing.assert_array_equal(kn, attr > 0.2 * attr.max(1, keepdims=True))


def test_key_value_view():
  hid = np.array([[0, 1.0, 0], [2.0, 0, 0], [1.0, 3.0, 0]])
  np.testing.assert_array_equal(neurons.top_triggers(hid, 2)[:2],
                                [[1, 2], [2, 0]])
  W2 = np.eye(3)
  U = np.array([[0, 1.0, 0], [1.0, 0, 0], [0, 0, 1.0], [0, 0, 0]])
  top, _ = neurons.value_answers(W2, U, 1)
  np.testing.assert_array_equal(top[:, 0], [1, 0, 2])
  agree, live = neurons.kv_agreement(hid, np.array([0, 1, 0]), W2, U, D=2,
                                     k=1)
  np.testing.assert_array_equal(live, [0, 1])  # neuron 2 never fires
  np.testing.assert_allclose(agree, [0.0, 1.0])


def test_spearman():
  assert abs(editing.spearman([1, 2, 3, 4], [10, 20, 25, 40]) - 1) < 1e-12
  assert abs(editing.spearman([1, 2, 3, 4], [4, 3, 2, 1]) + 1) < 1e-12


def test_crosstalk_smoke_end_to_end_and_checkpoint_reload(tmp_path, finished):
  # The session's uninterrupted run of the command (test_resume's reference).
  wd = finished(["--config=crosstalk:smoke"]).copy(tmp_path / "ct")
  with open(os.path.join(wd, "summary.json")) as f:
    summary = json.load(f)
  recs = [json.loads(l) for l in open(os.path.join(wd, "results.jsonl"))]
  for r in recs:
    for k in ("params", "accuracy", "steps", "seed", "lr", "status", "facts"):
      assert k in r
  for site in ("h", "hidden"):
    assert os.path.exists(os.path.join(wd, "figures", f"crosstalk_{site}.png"))
  ids = [c["id"] for c in summary["claims"]]
  assert ids == [f"hidden_more_orthogonal_{k}" for k in crosstalk.KINDS] + [
      f"factual_less_orthogonal_{s}_{k}" for s in crosstalk.SITES
      for k in crosstalk.FACTUAL]
  for c in summary["claims"]:  # trained minus the untrained null
    assert abs(c["measured"] - (c["trained"] - c["untrained"])) < 1e-9
  assert [c["id"] for c in summary["centred"]] == ids
  # The saved model reloads with the same accuracy (E, U, table rebuilt).
  from factrecall import train  # pylint: disable=g-import-not-at-top
  from factrecall import checkpoints  # pylint: disable=g-import-not-at-top
  model = [r for r in recs if r["kind"] == "model"][0]
  member = checkpoints.load(os.path.join(wd, "checkpoints", "models",
                                         model["key"]))
  import jax  # pylint: disable=g-import-not-at-top
  m = jax.jit(train.evaluate, static_argnums=0)(
      member.setup, member.params, member.state(), member.hp)
  assert abs(float(m["accuracy"]) - model["accuracy"]) < 1e-6
  # The keys at EOS are the model's own: its fast path's (h, hidden).
  pr = crosstalk.prompts(member, ml_collections_cfg(wd))
  keys = crosstalk.collect_keys(member, member.params, pr)
  h, k = checkpoints.activations(member, pr["fact"])
  np.testing.assert_allclose(keys[("h", "eos")][0], h, atol=2e-5)
  np.testing.assert_allclose(keys[("hidden", "eos")][0], k, atol=2e-5)
  # The subject keys sit where the prompt holds its subject.
  rows = np.arange(len(pr["fact"]))
  assert (pr["fact"][rows, pr["subject_pos"]] ==
          pr["fact_ids"] // int(member.hp["R"])).all()
  assert (pr["noise_pos"] < pr["noise"].shape[1] - 1).all()
  # Resume: nothing duplicated.
  assert cli.entry(["--config=crosstalk:smoke", "--workdir", wd]) == 0
  recs2 = [json.loads(l) for l in open(os.path.join(wd, "results.jsonl"))]
  assert len(recs2) == len(recs)


def ml_collections_cfg(wd):
  """The resolved config of a workdir."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  with open(os.path.join(wd, "config.json")) as f:
    return ml_collections.ConfigDict(json.load(f))


def test_editing_smoke_end_to_end(finished):
  wd = finished(["--config=editing:smoke"]).workdir  # read only
  with open(os.path.join(wd, "summary.json")) as f:
    ids = {c["id"] for c in json.load(f)["claims"]}
  assert {"edit_efficacy", "edit_specificity", "sequential_damage",
          "kn_suppress", "damage_vs_xt_cos"} <= ids
  recs = [json.loads(l) for l in open(os.path.join(wd, "results.jsonl"))]
  kinds = {r["kind"] for r in recs}
  assert {"model", "edit_single", "edit_sequential", "neurons"} <= kinds

"""MeMo: exact small cases, forgetting, batching, and smoke runs end to end."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from factrecall import cli
from factrecall import memo


def _orthogonal_single(vocab=6, h=2, d_h=6, d=6):
  """A single-layer memory whose token vectors are the standard basis."""
  eye = jnp.eye(vocab, d_h)
  return memo.SingleLayer(eye, jnp.eye(vocab, d), jnp.zeros((h * d_h, d)),
                          h, d_h)


def test_single_pair_exact_for_orthogonal_vectors():
  mem = _orthogonal_single()
  ctx, nxt = jnp.array([[1, 4]]), jnp.array([3])
  mem = memo.memorize(mem, ctx, nxt)
  # C is exactly the outer product key ⊗ value.
  key = jnp.zeros(12).at[1].set(1.0).at[6 + 4].set(1.0)
  np.testing.assert_array_equal(mem.C_NxD, jnp.outer(key, jnp.eye(6)[3]))
  q = memo.keys(mem, ctx) @ mem.C_NxD
  np.testing.assert_array_equal(q[0], 2.0 * jnp.eye(6)[3])
  assert int(memo.retrieve(mem, ctx)[0]) == 3


def test_orthogonal_pairs_do_not_interfere():
  mem = _orthogonal_single()
  ctx = jnp.array([[0, 1], [2, 3], [4, 5]])
  nxt = jnp.array([5, 0, 2])
  mem = memo.memorize(mem, ctx, nxt)
  np.testing.assert_array_equal(memo.retrieve(mem, ctx), nxt)


def test_vocab_argmax_chunks_match_full_argmax():
  q = jax.random.normal(jax.random.key(0), (7, 16))
  table = jax.random.normal(jax.random.key(1), (1003, 16))
  full = jnp.argmax(q @ table.T, -1)
  for chunk in (1, 100, 333, 1003, 5000):
    np.testing.assert_array_equal(memo.vocab_argmax(q, table, chunk), full)


def test_forgetting_is_exact_single_layer():
  mem = memo.single_layer(jax.random.key(0), 500, 3, 16, 64)
  k = jax.random.split(jax.random.key(1), 4)
  ctx_a = jax.random.randint(k[0], (40, 3), 0, 500)
  nxt_a = jax.random.randint(k[1], (40,), 0, 500)
  ctx_b = jax.random.randint(k[2], (300, 3), 0, 500)
  nxt_b = jax.random.randint(k[3], (300,), 0, 500)
  mem_a = memo.memorize(mem, ctx_a, nxt_a)
  pred_a = memo.retrieve(mem_a, ctx_a)
  mem_ab = memo.memorize(mem_a, ctx_b, nxt_b)
  assert (memo.retrieve(mem_ab, ctx_a) != pred_a).any()  # B interferes
  mem_back = memo.forget(mem_ab, ctx_b, nxt_b)
  np.testing.assert_allclose(mem_back.C_NxD, mem_a.C_NxD, atol=1e-5)
  np.testing.assert_array_equal(memo.retrieve(mem_back, ctx_a), pred_a)


def test_forgetting_real_text_multi_layer():
  (text_a, text_b), vocab = memo.stdlib_texts((400, 2000))
  assert len(vocab) > 300
  mem = memo.multi_layer(jax.random.key(0), len(vocab), 4, 64, 2)
  mem_a = memo.memorize_text(mem, text_a)
  acc_a = memo.text_accuracy(mem_a, text_a)
  mem_ab = memo.memorize_text(mem_a, text_b)
  assert memo.text_accuracy(mem_ab, text_a) < acc_a
  mem_back = memo.forget_text(mem_ab, text_b)
  np.testing.assert_allclose(mem_back.C_DxD, mem_a.C_DxD, atol=1e-5)
  assert memo.text_accuracy(mem_back, text_a) == acc_a


def test_batched_equals_unbatched():
  for mem in (memo.single_layer(jax.random.key(0), 300, 4, 8, 32),
              memo.multi_layer(jax.random.key(0), 300, 4, 32, 2)):
    T = 4 if isinstance(mem, memo.SingleLayer) else 16
    ctx = jax.random.randint(jax.random.key(1), (12, T), 0, 300)
    nxt = jax.random.randint(jax.random.key(2), (12,), 0, 300)
    one = mem
    for i in range(12):
      one = memo.memorize(one, ctx[i:i + 1], nxt[i:i + 1])
    batch = memo.memorize(mem, ctx, nxt)
    np.testing.assert_allclose(memo._memory(one), memo._memory(batch),
                               atol=1e-5)
    preds = memo.retrieve(batch, ctx)
    for i in range(12):
      assert int(memo.retrieve(batch, ctx[i:i + 1])[0]) == int(preds[i])


def test_text_keys_match_window_keys():
  mem = memo.multi_layer(jax.random.key(3), 200, 4, 32, 3)
  text = jax.random.randint(jax.random.key(4), (80,), 0, 200)
  k_TxD = memo.text_keys(mem, text)
  for p in (70, 79):
    np.testing.assert_allclose(k_TxD[p], memo.keys(mem, text[None, p - 63:p + 1])[0],
                               atol=1e-6)
  single = memo.single_layer(jax.random.key(3), 200, 3, 8, 16)
  np.testing.assert_array_equal(memo.text_keys(single, text)[50],
                                memo.keys(single, text[None, 48:51])[0])


def test_padded_key_dims_give_same_predictions():
  """Members of different h*d_h share a call by zero-padding: no effect."""
  vocab, h, d_h, d = 400, 2, 8, 32
  base = memo.single_layer(jax.random.key(0), vocab, h, d_h, d)
  wide_in = memo.gaussian_table(jax.random.split(jax.random.key(0))[0],
                                vocab, 32)
  padded = memo.SingleLayer(wide_in, base.emb_out, jnp.zeros((64, d)), h, d_h)
  np.testing.assert_allclose(memo.keys(padded, jnp.array([[5, 7]]))[0, :16],
                             memo.keys(base, jnp.array([[5, 7]]))[0],
                             rtol=1e-5)
  ctx = jax.random.randint(jax.random.key(1), (30, h), 0, vocab)
  nxt = jax.random.randint(jax.random.key(2), (30,), 0, vocab)
  np.testing.assert_array_equal(
      memo.retrieve(memo.memorize(padded, ctx, nxt), ctx),
      memo.retrieve(memo.memorize(base, ctx, nxt), ctx))


def test_decoy_texts_plant_the_window():
  rng = np.random.default_rng(0)
  texts = memo.decoy_texts(rng, 1000, 4, 15, 50, 3, (0, 5, 10))
  base, five, ten = texts
  changed = lambda t: (t != base).sum()
  assert changed(base) == 0 and 0 < changed(five) < changed(ten)
  assert ((five != base) <= (ten != base)).all()  # 5 decoys within 10's


def _run(argv):
  assert cli.entry(argv) == 0


def test_capacity_smoke_end_to_end_and_resume(tmp_path):
  wd = str(tmp_path / "cap")
  _run(["--config=memo_capacity:smoke", "--workdir", wd])
  for f in ("config.json", "results.jsonl", "summary.json"):
    assert os.path.exists(os.path.join(wd, f))
  assert any(f.endswith(".png") for f in os.listdir(os.path.join(wd, "figures")))
  with open(os.path.join(wd, "results.jsonl")) as f:
    first = f.read()
  recs = [json.loads(l) for l in first.splitlines()]
  assert len(recs) == 4 * 2  # (h, d_h) points x seeds
  for r in recs:
    for k in ("params", "accuracy", "steps", "seed", "lr", "status", "h",
              "d_h", "d", "stored"):
      assert k in r
    assert r["params"] == r["h"] * r["d_h"] * r["d"]
  summary = json.load(open(os.path.join(wd, "summary.json")))
  ids = {c["id"] for c in summary["claims"]}
  assert ids == {"memo_pairs_per_param", "memo_capacity_slope"}
  assert summary["fit"]["c"] > 0
  _run(["--config=memo_capacity:smoke", "--workdir", wd])
  with open(os.path.join(wd, "results.jsonl")) as f:
    assert f.read() == first


def test_decoys_tiny_end_to_end(tmp_path):
  wd = str(tmp_path / "dec")
  _run(["--config=memo_decoys:smoke", "--workdir", wd,
        "--config.forget_words=()", "--config.n_batches=2"])
  recs = [json.loads(l) for l in open(os.path.join(wd, "results.jsonl"))]
  assert len(recs) == 2 * 3 * 2  # decoys x layers x seeds
  summary = json.load(open(os.path.join(wd, "summary.json")))
  assert summary["claims"][0]["id"] == "memo_layers_help_with_decoys"
  assert os.path.exists(os.path.join(wd, "figures", "memo_decoys.png"))


def test_bad_field_is_one_line_error(capsys):
  assert cli.entry(["--config=memo_decoys:smoke", "--config.d=66"]) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("error: d=66: must be a multiple of h=4") and "\n" not in err

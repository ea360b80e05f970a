"""Dynamics: linear attention by hand, stage detection on curves
worked by hand, and the smoke preset end to end with resume and bad fields."""
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from factrecall import cli
from factrecall import models
from factrecall import output
from factrecall.experiments import dynamics


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


def test_softmax_attention_matches_hand_computation():
  # vocab 3 (one-hot), EOS = 2; scores x_EOS^T A x_v = A[2, v] = (ln 2, 0, ln 3).
  A = jnp.zeros((3, 3)).at[2].set(jnp.array([math.log(2), 0.0, math.log(3)]))
  V = jnp.array([[1., 0.], [0., 1.], [1., 1.]])
  tok = jnp.array([[0, 1, 2], [1, 1, 2]])
  mod = models.SoftmaxAttention(d=3, n_out=2)
  got = mod.apply({"params": {"A": A, "V": V}}, tok, jnp.eye(3), None, 2)
  # Row 0: weights (2, 1, 3)/6 on tokens 0, 1, 2: out = (1/3, 1/6, 1/2),
  #   logits = (1/3 + 1/2, 1/6 + 1/2) = (5/6, 2/3).
  # Row 1: tokens 1, 1, 2 weigh (1, 1, 3)/5: out = (0, 2/5, 3/5),
  #   logits = (3/5, 2/5 + 3/5) = (3/5, 1).
  np.testing.assert_allclose(got, [[5 / 6, 2 / 3], [3 / 5, 1.0]], rtol=1e-6)
  # At the 1e-5 init the attention is uniform: out = counts / T.
  p0 = models.SoftmaxAttentionShape(3, 2).init_params(None)
  out = mod.apply({"params": dict(p0, V=jnp.eye(3, 2))}, tok, jnp.eye(3),
                  None, 2)
  np.testing.assert_allclose(out, [[1 / 3, 1 / 3], [0, 2 / 3]], rtol=1e-4)


def test_softmax_attention_fast_path_matches_reference():
  # Non-orthogonal embeddings and scores spread over ~+-40 (the shift by
  # each sequence's largest score must keep the softmax exact), values and
  # gradients.
  rng = np.random.default_rng(0)
  E = jnp.array(rng.normal(size=(6, 4)), jnp.float32)
  tok = jnp.array(rng.integers(0, 5, size=(7, 9)), jnp.int32).at[:, -1].set(5)
  p = {"A": jnp.array(10 * rng.normal(size=(4, 4)), jnp.float32),
       "V": jnp.array(rng.normal(size=(4, 3)), jnp.float32)}
  mod = models.SoftmaxAttention(d=4, n_out=3)
  fast = lambda q: mod.apply({"params": q}, tok, E, None, 5)
  ref = lambda q: mod.apply({"params": q}, tok, E, None, 5, method="reference")
  np.testing.assert_allclose(fast(p), ref(p), rtol=1e-5, atol=1e-5)
  loss = lambda f: (lambda q: jnp.sum(jnp.sin(f(q))))
  g_fast, g_ref = jax.grad(loss(fast))(p), jax.grad(loss(ref))(p)
  for k in p:
    np.testing.assert_allclose(g_fast[k], g_ref[k], rtol=1e-4, atol=1e-5)


def test_softmax_attention_shape_init():
  shape = models.SoftmaxAttentionShape(d=5, n_out=6)
  p = shape.init_params(None)
  assert p["A"].shape == (5, 5) and p["V"].shape == (5, 6)
  assert np.all(np.asarray(p["A"]) == np.float32(1e-5))
  assert np.all(np.asarray(p["V"]) == np.float32(1e-5))
  assert shape.params == 55 and isinstance(shape.build(), models.SoftmaxAttention)
  assert shape.name() != models.LinearAttentionShape(5, 6).name()


def test_flat_run_by_hand():
  v = [5.0, 5.0, 5.0, 4.0, 2.0, 1.9, 1.9, 1.9, 0.0]
  # |central differences|: 0, 0, 0.5, 1.5, 1.05, 0.05, 0, 0.95, 1.9; flat
  # where <= 0.05 * 1.9: indices 0, 1, 5, 6 (6 is flat, 7 falls to 0).
  assert dynamics.flat_run(v, 0, 9, 0.05) == (0, 1)  # first of two of length 2
  assert dynamics.flat_run(v, 3, 9, 0.05) == (5, 6)
  assert dynamics.flat_run(v, 2, 3, 0.05) is None
  assert dynamics.flat_run(v, 4, 4, 0.05) is None


def _curves():
  return dict(
      loss=[3.47, 3.47, 3.47, 3.47, 2.8, 2.1, 2.1, 2.1, 2.1, 1.8, 1.4, 1.0,
            0.6, 0.3, 0.1],
      rel_loss=[1.386] * 4 + [0.5, 0.1, 0.05, 0.02] + [0.01] * 7,
      # 1.0 at the start is argmax noise before the relation is learned.
      accuracy=[1.0, 0.1, 0.1, 0.1, 0.1, 0.12, 0.12, 0.12, 0.2, 0.4, 0.6, 0.8,
                0.9, 0.995, 1.0],
      kl_rel=[1.4] * 4 + [0.6, 0.15, 0.1, 0.1, 0.19, 0.5, 1.0, 2.0, 3.0, 3.0,
                          3.0],
      subj_loss=[2.08] * 8 + [2.0, 1.8, 1.4, 1.0, 0.6, 0.3, 0.1],
      halluc=[0.0, 0.9, 0.9, 0.9, 0.9, 0.88, 0.88, 0.88, 0.8, 0.6, 0.4, 0.2,
              0.1, 0.0, 0.0])


def test_detect_stages_on_hand_worked_curves():
  st = dynamics.detect_stages(_curves(), chunk=10, R=4, D=8, rel_frac=0.1,
                              target=0.99, kl_frac=0.1, flat_tol=0.05)
  # rel threshold 0.1*log 4 = 0.139: first at index 5 -> step 60.
  assert st["t_rel"] == 60
  # accuracy >= 0.99 at index >= 5: index 13 -> step 140 (index 0 ignored).
  assert st["t_subj"] == 140
  assert st["stage_length"] == 80
  # |slopes| 0, 0, 0, .335, .685, .35, 0, 0, .15, .35, .4, .4, .35, .25, .2:
  # flat (<= 0.05 * 0.685) at 0, 1, 2, 6, 7. The hallucination plateau is
  # 6..7 inside the stage 5..12: loss 2.1, not the stage's median 1.95
  # (index 5 still falls from 2.8, index 8 already falls to 1.8).
  assert (st["plateau_start"], st["plateau_end"], st["plateau_steps"]) == (70, 80, 10)
  assert st["plateau_loss"] == pytest.approx(2.1)
  # Initial plateau: indices 0..2 (before t_rel).
  assert (st["init_start"], st["init_end"], st["init_steps"]) == (10, 30, 20)
  assert st["init_loss"] == pytest.approx(3.47)
  # KL threshold 0.1*log 8 = 0.208: indices 5..8 -> steps (50, 90].
  assert (st["uniform_start"], st["uniform_end"], st["uniform_steps"]) == (50, 90, 40)
  assert st["halluc_peak"] == pytest.approx(0.88)


def test_detect_stages_without_relation_or_subject():
  c = _curves()
  c["rel_loss"] = [1.386] * 15
  st = dynamics.detect_stages(c, 10, 4, 8, flat_tol=0.05)
  assert st["t_rel"] is None and st["t_subj"] is None
  assert st["uniform_steps"] == 0 and st["plateau_loss"] is None
  assert st["init_loss"] == pytest.approx(3.47)  # the longest flat run 0..2
  c = _curves()
  c["accuracy"] = [0.5] * 15
  st = dynamics.detect_stages(c, 10, 4, 8, flat_tol=0.05)
  assert st["t_rel"] == 60 and st["t_subj"] is None
  assert st["stage_length"] is None
  assert st["plateau_loss"] == pytest.approx(2.1)  # still indices 6..7
  # a loss still falling at the end of the budget has no plateau there
  c["loss"] = [3.47] * 5 + [2.6 - 0.1 * i for i in range(10)]
  assert dynamics.detect_stages(c, 10, 4, 8, flat_tol=0.05)["plateau_loss"] is None


def test_mean_ci_by_hand():
  m, (lo, hi) = dynamics.mean_ci([1.0, 2.0, 3.0, None])
  h = 4.303 * 1.0 / math.sqrt(3)
  assert m == 2.0 and lo == pytest.approx(2 - h) and hi == pytest.approx(2 + h)
  assert np.isnan(dynamics.mean_ci([5.0])[1][0])


def test_smoke_end_to_end_and_resume(tmp_path, finished):
  # The session's uninterrupted run of the command (test_resume's reference),
  # resumed here in this process.
  wd = tmp_path / "run"
  finished(["--config=dynamics:smoke"]).copy(wd)
  argv = ["--config=dynamics:smoke", "--workdir", str(wd)]
  for f in ("config.json", "results.jsonl", "summary.json",
            "figures/dynamics.png", "figures/dynamics.pdf",
            "figures/stage_scaling.png", "figures/stage_scaling.pdf"):
    assert os.path.exists(wd / f), f
  lines = (wd / "results.jsonl").read_text().splitlines()
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
  summary = json.loads((wd / "summary.json").read_text())
  ids = [c["id"] for c in summary["claims"]]
  assert ids == ["plateau_loss", "init_plateau_loss", "relation_before_subject",
                 "halluc_stage_seen", "halluc_length_scaling"]
  plateau = summary["claims"][0]
  assert abs(plateau["measured"] - math.log(4)) < 0.1 * math.log(4)
  refs = {c["id"]: c["reference"]["value"] for c in summary["claims"]}
  assert refs["plateau_loss"] == pytest.approx(math.log(4))
  assert refs["init_plateau_loss"] == pytest.approx(math.log(8))
  assert refs["halluc_length_scaling"] is None
  assert summary["subject_loss_reported"]  # the structured table
  # Resume: nothing retrained, nothing duplicated.
  assert cli.entry(argv) == 0
  assert (wd / "results.jsonl").read_text().splitlines() == lines


def test_softmax_and_transformer_variants_end_to_end(tmp_path, capsys):
  # The softmax variant: the linear run's setup, only the attention differs.
  argv = ["--config=dynamics:smoke", "--workdir", str(tmp_path / "soft"),
          "--config.model=softmax", "--config.task.S_sweep=()", "--config.train.n_seeds=1"]
  assert cli.entry(argv) == 0
  recs = [json.loads(l) for l in (tmp_path / "soft/results.jsonl").open()]
  assert {r["shape"] for r in recs} == {"softattn_d17_out8"}
  summary = json.loads((tmp_path / "soft/summary.json").read_text())
  assert summary["model"] == "softmax" and "softmax" in summary["variant"]
  out = capsys.readouterr().out
  assert "paper" in [l for l in out.splitlines() if l.startswith("claim ")][-1]
  # The transformer extension with a random table: no subject-only loss.
  argv = ["--config=dynamics:smoke", "--workdir", str(tmp_path / "tf"),
          "--config.model=transformer", "--config.task.table=random",
          "--config.task.S_sweep=()", "--config.train.n_seeds=1",
          "--config.train.optimizer=adam", "--config.train.lr=0.01",
          "--config.train.steps=128", "--config.transformer.m=0",
          "--config.transformer.H=1"]
  assert cli.entry(argv) == 0
  summary = json.loads((tmp_path / "tf/summary.json").read_text())
  assert "extension" in summary["variant"]
  assert not summary["subject_loss_reported"]
  assert all("plateau_subj_loss" not in row for row in summary["stages_by_S"])


@pytest.mark.parametrize("field", ["--config.train.chunk=64",
                                   "--config.model=rnn",
                                   "--config.stages.rel_frac=2.0",
                                   "--config.task.table=zipf"])
def test_bad_field_exit_code_2(tmp_path, field, capsys):
  argv = ["--config=dynamics:smoke", "--workdir", str(tmp_path), field]
  assert cli.entry(argv) == 2
  err = capsys.readouterr().err
  assert field.split("=")[0][len("--config."):] in err


@pytest.mark.parametrize("preset", [None, "paper", "softmax", "softmax_paper",
                                    "transformer", "transformer_paper"])
def test_every_preset_summary_carries_the_papers_numbers(preset):
  # summarize() of each preset on records built from the hand-worked curves
  # (the presets take minutes to hours to train): every claim carries its
  # reference, the table its paper column, and the variant says what it is.
  cfg = cli.config_module("dynamics").get_config(preset)
  cfg.name, cfg.preset = "dynamics", preset or "default"
  cfg.claims.n_boot = 50
  recs = []
  for S, seeds, _, full in dynamics.plan(cfg):
    for seed in seeds:
      st = dynamics.detect_stages(_curves(), 10, cfg.task.R, cfg.task.D)
      recs.append(dict(S=S, seed=seed, steps=150, chunk=10, main=full,
                       curves=_curves(), stages=st))
  summary = dynamics.summarize(cfg, recs)
  refs = {c["id"]: c["reference"] for c in summary["claims"]}
  assert refs["plateau_loss"]["value"] == pytest.approx(math.log(cfg.task.D))
  assert refs["init_plateau_loss"]["value"] == pytest.approx(
      math.log(cfg.task.D * cfg.task.R))
  assert all(r["source"] for r in refs.values())
  head = output.claims_table(summary["claims"]).splitlines()[0].split()
  assert head[4] == "paper"
  assert ("extension" in summary["variant"]) == (cfg.model == "transformer")
  assert summary["subject_loss_reported"] == (cfg.task.table == "structured")
  if summary["subject_loss_reported"]:  # its median on the plateau (6..7)
    assert summary["stages_by_S"][0]["plateau_subj_loss"] == pytest.approx(2.08)

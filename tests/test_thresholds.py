"""Sharp thresholds: the correlation memory on a case worked by hand, the
logistic transition estimator on synthetic Bernoulli data, and the smoke
preset's output contract."""
import json
import math
import os

import numpy as np

from factrecall import cli
from factrecall import models
from factrecall.experiments import associative
from factrecall.experiments import thresholds as th


def test_correlation_memory_worked_by_hand():
  # d = 2, n = 3 unit keys x and targets y:
  #   W = y1 x1^T + y2 x2^T + y3 x3^T = [[1.48, 0.64], [-0.36, 0.52]];
  #   W x1 = (1.48, -0.36), W x2 = (0.64, 0.52), W x3 = (1.4, 0.2);
  #   scores y_j . W x_i (row i): (1.48, -0.36, 1.4), (0.64, 0.52, 0.2),
  #   (1.4, 0.2, 1.0): key 1 retrieves its target, keys 2 and 3 rank theirs
  #   second (behind target 1).
  x = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
  y = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, -0.6]])
  np.testing.assert_allclose(th.correlation_memory(x, y),
                             [[1.48, 0.64], [-0.36, 0.52]], atol=1e-12)
  S = th.correlation_scores(x, y)
  np.testing.assert_allclose(S, [[1.48, -0.36, 1.4], [0.64, 0.52, 0.2],
                                 [1.4, 0.2, 1.0]], atol=1e-12)
  np.testing.assert_array_equal(th.answer_ranks(S), [0, 1, 1])
  # A tie counts against the answer.
  np.testing.assert_array_equal(th.answer_ranks(np.array([[1.0, 1.0],
                                                          [0.0, 1.0]])),
                                [1, 0])
  assert th.list_size(3, 0.5) == 2 and th.list_size(100, 0.05) == 5
  assert th.list_size(3, 0.01) == 1


def test_correlation_record_counts_and_pairs_with_trained_embeddings():
  # The record's counts agree with the ranks; a seed's embeddings are the
  # trained memory's (associative.init) for the same seed, nested in n.
  d, n, seed = 6, 9, 4
  x, y = th.embeddings(seed, 12, d)
  setup = associative.Setup(models.MemoryShape(d), n_in=16, n_out=16)
  st = associative.init(setup, associative.member_hp(n, n, 1.0, seed))
  np.testing.assert_allclose(x, np.asarray(st["e"])[:12], atol=1e-6)
  np.testing.assert_allclose(y, np.asarray(st["u"])[:12], atol=1e-6)
  r = th.correlation_record(seed, d, n, "sphere", 0.3, x, y)
  ranks = th.answer_ranks(th.correlation_scores(x[:n], y[:n]))
  assert r["n_top1"] == int(np.sum(ranks == 0))
  assert r["list_k"] == 3 and r["n_in_list"] == int(np.sum(ranks < 3))
  assert r["all_top1"] == bool(np.all(ranks == 0))
  assert math.isclose(r["load"], n * math.log(n) / d ** 2)
  # Orthonormal keys and targets: a correlation memory recalls all d.
  e = np.eye(5)
  assert np.all(th.answer_ranks(th.correlation_scores(e, e)) == 0)


def test_logistic_fit_recovers_a_known_transition():
  rs = np.random.default_rng(1)
  mid, width = 0.2, 0.15
  loads = np.geomspace(0.08, 0.5, 14)
  load = np.repeat(loads, 150)
  seed = np.tile(np.arange(150), len(loads))
  ok = rs.random(len(load)) < th.logistic(load, mid, width)
  f = th.fit_transition(load, ok, groups=seed, n_boot=100, seed=0)
  assert abs(f["mid"] / mid - 1) < 0.05
  assert abs(f["width"] / width - 1) < 0.2
  assert f["mid_ci"][0] < mid < f["mid_ci"][1]
  assert f["width_ci"][0] < width < f["width_ci"][1]
  assert math.isclose(f["width_10_90"], 2 * math.log(9) * f["width"])
  # The curve: 1/2 at mid, 0.9 and 0.1 a 10-90 half-span either side.
  np.testing.assert_allclose(th.logistic([mid], mid, width), [0.5])
  np.testing.assert_allclose(
      th.logistic(mid * np.exp([-math.log(9) * width, math.log(9) * width]),
                  mid, width), [0.9, 0.1])
  # Perfectly separated outcomes: the midpoint falls between the last
  # success and the first failure, the width is narrow.
  sep = th.fit_transition(load, load < 0.2, n_boot=20)
  lo, hi = loads[loads < 0.2].max(), loads[loads >= 0.2].min()
  assert lo < sep["mid"] < hi and sep["width"] < 0.05
  # Nothing to fit: NaNs, not a number.
  assert math.isnan(th.fit_transition(load, np.ones(len(load), bool))["mid"])


def test_smoke_writes_the_output_contract_and_resumes(tmp_path, capsys,
                                                      finished):
  # The session's uninterrupted run of the command (test_resume's reference),
  # resumed here in this process.
  wd = finished(["--config=thresholds:smoke"]).copy(tmp_path / "thr")
  with open(os.path.join(wd, "config.json")) as f:
    assert json.load(f)["memories"] == ["correlation", "trained"]
  with open(os.path.join(wd, "results.jsonl")) as f:
    recs = [json.loads(line) for line in f]
  kinds = {r["memory"] for r in recs}
  assert kinds == {"correlation", "trained"}
  for r in recs:
    assert r["all_top1"] in (True, False)
    assert math.isclose(r["load"], r["n"] * math.log(r["n"]) / r["d"] ** 2)
    if r["memory"] == "trained":
      assert r["all_top1"] == (r["status"] == "success")
      assert r["all_top1"] <= r["acc99"]   # all correct implies >= 99%
    else:
      assert r["all_top1"] == (r["n_top1"] == r["n"])
      assert r["all_top1"] <= r["all_in_list"]
  with open(os.path.join(wd, "summary.json")) as f:
    summary = json.load(f)
  ids = {c["id"]: c for c in summary["claims"]}
  assert set(ids) == {"corr_top1_scale", "corr_top1_transition",
                      "corr_top1_sharpness", "corr_listwise_scale",
                      "trained_top1_transition", "trained_acc99_transition"}
  for c in ids.values():
    assert c["reference"]["source"]
  assert ids["trained_top1_transition"]["reference"]["value"] == 0.5
  for ext in ("png", "pdf"):
    assert os.path.getsize(os.path.join(wd, "figures", f"thresholds.{ext}"))
  # Resume: nothing recomputed, the same claims.
  assert cli.entry(["--config=thresholds:smoke", "--workdir", wd]) == 0
  with open(os.path.join(wd, "results.jsonl")) as f:
    assert len(f.readlines()) == len(recs)
  with open(os.path.join(wd, "summary.json")) as f:
    assert json.load(f)["claims"] == summary["claims"]
  capsys.readouterr()
  assert cli.entry(["--config=thresholds:smoke", "--workdir",
                    str(tmp_path / "bad"), "--config.embeddings=cube"]) == 2
  assert "embeddings" in capsys.readouterr().err

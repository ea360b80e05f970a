"""The trade-off experiment: frontier fit on a grid worked by hand, and the
smoke preset end to end (output contract, resume, bad field)."""
import json
import os

import ml_collections
import numpy as np
import pytest

from factrecall import cli
from factrecall import tradeoff


def _fit_cfg(n_boot=200):
  f = ml_collections.ConfigDict()
  f.n_boot = n_boot
  f.solved_frac = 0.5
  return f


def test_crossing_brackets():
  v = [0, 2, 4, 6]
  assert tradeoff.crossing(v, [False, False, True, True]) == (2.0, 4.0)
  assert tradeoff.crossing(v, [True] * 4) is None
  assert tradeoff.crossing(v, [False] * 4) is None
  # one noisy cell: the best separating threshold still wins
  assert tradeoff.crossing([0, 1, 2, 3, 4], [False, True, False, True, True]) in (
      (0.0, 1.0), (2.0, 3.0))


def test_frontier_fit_by_hand():
  # x in {0, 2, 4, 6, 8}, y in {0, 1, 2, 3}; solved iff x + 2y >= 8.
  # Row y=0 switches between x=6 and 8 (midpoint 7), y=1: 5, y=2: 3, y=3: 1;
  # column x=2 between y=2 and 3 (2.5), x=4: 1.5, x=6: 0.5 (x=0: never
  # solved, x=8: always). All seven midpoints lie on x + 2y = 7, so one y
  # unit is worth b/a = 2 x units.
  xs, ys = [0, 2, 4, 6, 8], [0, 1, 2, 3]
  solved = np.array([[x + 2 * y >= 8 for x in xs] for y in ys])
  br = tradeoff.frontier_brackets(xs, ys, solved)
  assert len(br) == 7
  pts = tradeoff.points_of(br)
  np.testing.assert_allclose(pts[:, 0] + 2 * pts[:, 1], 7.0)
  a, b, c = tradeoff.fit_line(pts, scale=(8, 3))
  np.testing.assert_allclose([b / a, c / a], [2.0, 7.0], rtol=1e-9)
  assert tradeoff.exchange_rate((a, b, c)) == pytest.approx(2.0)

  succ = np.repeat(solved[..., None].astype(float), 2, -1)  # 2 seeds agree
  est = tradeoff.analyse(xs, ys, succ, facts=14, fit=_fit_cfg())
  assert est["rate"] == pytest.approx(2.0)
  # attention-only row (y=0): x* = 7, params 4*7 = 28 -> 0.5 facts/param;
  # MLP-heavy row (y=3): x* = 1, params 4*1 + 2*3 = 10 -> 1.4; ratio 2.8.
  assert est["fpp_attention"] == pytest.approx(0.5)
  assert est["fpp_mlp"] == pytest.approx(1.4)
  assert est["fpp_ratio"] == pytest.approx(2.8)
  lo, hi = est["ci"]["rate"]
  assert lo <= 2.0 <= hi and hi < 4  # crossings jitter inside their brackets
  lo, hi = est["ci"]["fpp_ratio"]
  # Bootstrap draws x* in [6, 8] (row 0) and [0, 2] (row 3): the ratio
  # 4x0 / (4x3 + 6) stays within [24/14, 32/6].
  assert 24 / 14 <= lo <= 2.8 <= hi <= 32 / 6


def test_bootstrap_over_seeds_widens_ci():
  xs, ys = [0, 2, 4, 6, 8], [0, 1, 2, 3]
  solved = np.array([[x + 2 * y >= 8 for x in xs] for y in ys], float)
  succ = np.stack([solved, solved, solved], -1)
  succ[0, 3, 1] = 1.0  # one seed of a frontier cell disagrees
  est = tradeoff.analyse(xs, ys, succ, facts=14, fit=_fit_cfg(400))
  assert np.isfinite(est["rate"]) and all(np.isfinite(est["ci"]["rate"]))


def _run(wd, *extra):
  return cli.entry(["--config=tradeoff:smoke", "--workdir", str(wd)] + list(extra))


def test_smoke_end_to_end_and_resume(tmp_path, capsys):
  # One H (two compiled groups instead of four) keeps the test fast; the
  # frontier fit itself is tested above.
  wd = tmp_path / "run"
  assert _run(wd, "--config.model.H_list=4") == 0
  out = capsys.readouterr().out
  assert "exchange_rate" in out and "facts_per_param_mlp_vs_attention" in out
  assert json.load(open(wd / "config.json"))["experiment"] == "factrecall.tradeoff:run"
  lines = open(wd / "results.jsonl").read().splitlines()
  recs = [json.loads(l) for l in lines]
  assert len(recs) == 1 * 2 * 2  # H x m x seeds
  need = {"params", "accuracy", "steps", "seed", "lr", "status", "S", "R",
          "facts", "H", "m", "attn_params", "mlp_params"}
  for r in recs:
    assert need <= set(r)
    assert r["attn_params"] == r["d"] * r["d_h"] * r["H"]
    assert r["mlp_params"] == r["d"] * r["m"]
    assert r["params"] == 4 * r["attn_params"] + 2 * r["mlp_params"]
  summary = json.load(open(wd / "summary.json"))
  assert summary["experiment"] == "tradeoff"
  ids = [c["id"] for c in summary["claims"]]
  assert ids == ["exchange_rate", "facts_per_param_mlp_vs_attention"]
  for c in summary["claims"]:
    assert {"id", "statement", "measured", "ci", "verdict"} <= set(c)
    assert c["verdict"] in ("supported", "refuted", "inconclusive")
  for ext in ("png", "pdf"):
    assert os.path.getsize(wd / "figures" / f"tradeoff.{ext}") > 0
  # Resume: nothing retrained, nothing duplicated, same summary.
  assert _run(wd, "--config.model.H_list=4") == 0
  assert open(wd / "results.jsonl").read().splitlines() == lines
  assert json.load(open(wd / "summary.json"))["claims"] == summary["claims"]


@pytest.mark.parametrize("field", ["--config.model.H_list=0,2",
                                   "--config.train.lr=-1",
                                   "--config.fit.solved_frac=2"])
def test_bad_field_exits_2(tmp_path, capsys, field):
  assert _run(tmp_path / "bad", field) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and field.split("=")[0][len("--config."):] in err[0]

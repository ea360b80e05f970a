"""The trade-off experiment: the frontier estimator on grids worked by hand
and on the paper's own boundary (paper and default grids), and the smoke
preset end to end (output contract, resume, bad field)."""
import json
import math
import os

import ml_collections
import numpy as np
import pytest

from factrecall import cli
from factrecall import output
from factrecall.experiments import tradeoff


def _preset(name=None):
  cfg = cli.config_module("tradeoff").get_config(name)
  cfg.name, cfg.preset = "tradeoff", name or "default"
  return cfg


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
  agree = tradeoff.analyse(xs, ys, succ.copy(), facts=14, fit=_fit_cfg(400))
  succ[0, 3, 1] = 1.0  # one seed of a frontier cell (x = 6, y = 0) disagrees
  est = tradeoff.analyse(xs, ys, succ, facts=14, fit=_fit_cfg(400))
  width = lambda e, k: e["ci"][k][1] - e["ci"][k][0]
  # The cell's seed-mean is 1/3 < 1/2, so the point estimate is unchanged,
  # but resampling its seeds sometimes solves it: row 0's crossing then
  # moves to x in [4, 6], which widens the CIs of the rate and of row 0's
  # facts per parameter; the MLP-heavy row's is untouched.
  assert est["rate"] == pytest.approx(agree["rate"])
  assert width(est, "rate") > 1.2 * width(agree, "rate")
  assert width(est, "fpp_attention") > 2 * width(agree, "fpp_attention")
  assert est["ci"]["fpp_mlp"] == agree["ci"]["fpp_mlp"]


def test_l_shaped_frontier_by_hand():
  # x in {0, 2, ..., 10}, y in {0, 1, 2, 3, 4}; solved iff x >= 3 (the floor)
  # and x + 2y >= 9 (the sloped part). Row crossings (bracket midpoints):
  # y=0: 9, y=1: 7, y=2: 5, y=3: 3, y=4: 3 (floor); columns x=4: 2.5,
  # x=6: 1.5, x=8: 0.5 (x <= 2 never solved, x=10 always). The two top rows
  # share x = 3 (the floor); every other midpoint lies on x + 2y = 9.
  xs, ys = [0, 2, 4, 6, 8, 10], [0, 1, 2, 3, 4]
  solved = np.array([[x >= 3 and x + 2 * y >= 9 for x in xs] for y in ys])
  br = tradeoff.frontier_brackets(xs, ys, solved)
  assert len(br) == 8
  fr = tradeoff.fit_frontier(br, scale=(10, 4))
  assert sorted(br[k][1] for k in fr["floor"]) == [3.0, 4.0]
  assert fr["x0"] == pytest.approx(3.0)
  a, b, c = fr["line"]
  np.testing.assert_allclose([b / a, c / a], [2.0, 9.0], rtol=1e-9)
  assert fr["rate"] == pytest.approx(2.0)
  # One straight line through every crossing (the old estimator) mixes the
  # floor point (3, 4) into the slope and misses 2.
  assert abs(tradeoff.exchange_rate(tradeoff.fit_line(
      tradeoff.points_of(br), (10, 4))) - 2.0) > 0.2
  # The floor's rows move together inside their bracket [2, 4].
  fr = tradeoff.fit_frontier(br, (10, 4), u=np.zeros(len(br)), u_floor=0.9)
  assert fr["x0"] == pytest.approx(3.8)
  # Bootstrap (one seed): the floor's CI spans its bracket, not less.
  est = tradeoff.analyse(xs, ys, solved[..., None].astype(float), facts=1,
                         fit=_fit_cfg(400))
  lo, hi = est["ci"]["x0"]
  assert 2.0 <= lo < 2.2 and 3.8 < hi <= 4.0
  assert est["floor_found"] == 1.0


def test_straight_boundary_has_no_floor():
  xs, ys = [0, 2, 4, 6, 8], [0, 1, 2, 3]
  solved = np.array([[x + 2 * y >= 8 for x in xs] for y in ys])
  fr = tradeoff.fit_frontier(tradeoff.frontier_brackets(xs, ys, solved), (8, 3))
  assert fr["floor"] == [] and np.isnan(fr["x0"])
  assert fr["rate"] == pytest.approx(2.0)


def test_consistent_rates_by_hand():
  # Row y=0 crosses in x in [4, 6], row y=1 in [0, 2]: lines x = c - r*y
  # need c in [4, 6] and c - r in [0, 2], so r in [4 - 2, 6 - 0] = [2, 6].
  br = [("x", 0.0, 4.0, 6.0), ("x", 1.0, 0.0, 2.0)]
  lo, hi = tradeoff.consistent_rates(br, [0, 1])
  assert lo == pytest.approx(2.0, rel=3e-3) and hi == pytest.approx(6.0, rel=3e-3)
  # A column at x = 5 crossing in y in [0, 0.25] adds c in [5, 5 + r/4];
  # with c - r <= 2 that needs r >= 3 (and r <= 6 still holds).
  br.append(("y", 5.0, 0.0, 0.25))
  lo, hi = tradeoff.consistent_rates(br, [0, 1, 2])
  assert lo == pytest.approx(3.0, rel=3e-3) and hi == pytest.approx(6.0, rel=3e-3)
  # Brackets no line crosses.
  assert tradeoff.consistent_rates([("x", 0.0, 0.0, 1.0), ("x", 1.0, 5.0, 6.0),
                                    ("x", 2.0, 0.0, 1.0)], [0, 1, 2]) is None


def _paper_boundary_grid(cfg):
  """The cells of cfg's grid that the paper's hand-drawn boundary calls
  solved: right of its floor x = 1280 and above its line y = 2300 - x/2."""
  mo = cfg.model
  xs = [mo.d * mo.d_h * H for H in sorted(mo.H_list)]
  ys = [mo.d * m for m in sorted(mo.m_list)]
  return xs, ys, np.array([[x >= 1280 and y >= 2300 - x / 2 for x in xs]
                           for y in ys])


@pytest.mark.parametrize("preset", ["paper", None])
def test_estimator_recovers_the_papers_boundary(preset):
  # The paper's own boundary, solved on the paper's 13 x 13 grid and on the
  # default subgrid: the estimator reads back its slope 2 and floor 1280.
  cfg = _preset(preset)
  if preset == "paper":
    assert (len(cfg.model.H_list), len(cfg.model.m_list)) == (13, 13)
  xs, ys, solved = _paper_boundary_grid(cfg)
  est = tradeoff.analyse(xs, ys, solved[..., None].astype(float), facts=1024,
                         fit=_fit_cfg(300))
  assert est["rate"] == pytest.approx(2.0, abs=0.2)
  assert est["x0"] == pytest.approx(1280, rel=0.1)
  # and with the grid's resolution the verdicts would say "supported"
  # (rate CI within ±25% of 2, floor CI within ±20% of 1280):
  assert 1.5 <= est["ci"]["rate"][0] <= 2.0 <= est["ci"]["rate"][1] <= 2.5
  assert 1024 <= est["ci"]["x0"][0] <= 1280 <= est["ci"]["x0"][1] <= 1536
  # The old estimator (one line through every crossing) did not.
  br = tradeoff.frontier_brackets(xs, ys, solved)
  old = tradeoff.exchange_rate(tradeoff.fit_line(
      tradeoff.points_of(br), (max(xs), max(ys))))
  assert abs(old - 2.0) > 0.5


def test_boundary_cells_and_their_bits_by_hand():
  # On the paper's boundary over the default grid: each bits row is a
  # solved cell right past a crossing (its left or lower neighbour in the
  # grid unsolved), with stored bits S R log2 D over its parameters and
  # the information from its successful seeds' mean final loss.
  cfg = _preset()
  cfg.fit.n_boot = 50
  mo = cfg.model
  Hs, ms = sorted(mo.H_list), sorted(mo.m_list)
  xs, ys, solved = _paper_boundary_grid(cfg)
  recs = []
  for i, m in enumerate(ms):
    for j, H in enumerate(Hs):
      for s in range(2):
        recs.append(dict(
            H=H, m=m, seed=s, shape=f"H{H}_m{m}", accuracy=1.0,
            params=4 * xs[j] + 2 * ys[i], attn_params=xs[j],
            mlp_params=ys[i], status="success" if solved[i, j] else "failed",
            curves={"loss": [3.0, 0.1 * (s + 1)]}))
  cfg.train.n_seeds = 2
  summary = tradeoff.summarize(cfg, recs)
  tradeoff.add_bits(cfg, summary, recs)
  cells = tradeoff.boundary_cells(cfg, summary)
  assert cells
  for H, m in cells:
    i, j = ms.index(m), Hs.index(H)
    assert solved[i, j]
    assert (j > 0 and not solved[i, j - 1]) or (i > 0 and not solved[i - 1, j])
  F, D = cfg.task.S * cfg.task.R, cfg.task.D
  assert [(b["H"], b["m"]) for b in summary["bits"]] == cells
  for b in summary["bits"]:
    assert b["stored_bits"] == pytest.approx(F * math.log2(D))
    assert b["ce_nats"] == pytest.approx(0.15)
    assert b["info_bits"] == pytest.approx(
        F * (math.log2(D) - 0.15 / math.log(2)))
    assert b["info_bits_per_param"] == pytest.approx(
        b["info_bits"] / (4 * b["attn_params"] + 2 * b["mlp_params"]))
  claim = {c["id"]: c for c in summary["claims"]}["bits_per_param"]
  assert claim["reference"]["value"] == 2.0


def test_departures_from_the_papers_protocol():
  assert tradeoff.departures(_preset("paper")) == []
  dep = tradeoff.departures(_preset())
  assert "train.max_steps=2048 (paper: 16384)" in dep
  assert "train.eval=all_pairs (paper: paper)" in dep
  assert not tradeoff.departures_of_task(_preset())  # same task and widths
  assert tradeoff.departures_of_task(_preset("smoke"))


def test_boundary_segments():
  # floor x0 = 3 above the line x + 2y = 9 (corner at y = 3), box [0, 10]^2
  segs = tradeoff.boundary_segments(3.0, (1.0, 2.0, 9.0), (0, 10), (0, 10))
  line, floor = segs
  np.testing.assert_allclose(line[:, 0] + 2 * line[:, 1], 9.0)
  assert line[:, 0].min() == pytest.approx(3.0) and line[:, 0].max() <= 10
  np.testing.assert_allclose(floor, [[3.0, 3.0], [3.0, 10.0]])
  assert len(tradeoff.boundary_segments(float("nan"), (1.0, 2.0, 9.0),
                                        (0, 10), (0, 10))) == 1


def _run(wd, *extra):
  return cli.entry(["--config=tradeoff:smoke", "--workdir", str(wd)] + list(extra))


def test_smoke_end_to_end_and_resume(tmp_path, finished):
  # The session's uninterrupted run of the command (test_resume's reference:
  # its whole 2 x 2 grid, trained once for both tests), resumed here in this
  # process; the frontier fit itself is tested above.
  run = finished(["--config=tradeoff:smoke"])
  wd = tmp_path / "run"
  run.copy(wd)
  out = run.stdout
  assert "exchange_rate" in out and "facts_per_param_mlp_vs_attention" in out
  head = [l for l in out.splitlines() if l.startswith("claim ")][-1]
  assert head.split()[:5] == ["claim", "measured", "95%", "CI", "paper"]
  assert json.load(open(wd / "config.json"))["experiment"] == "factrecall.experiments.tradeoff:run"
  lines = open(wd / "results.jsonl").read().splitlines()
  recs = [json.loads(l) for l in lines]
  assert len(recs) == 2 * 2 * 2  # H x m x seeds
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
  assert ids == ["exchange_rate", "attention_floor",
                 "facts_per_param_mlp_vs_attention", "bits_per_param"]
  for c in summary["claims"]:
    assert {"id", "statement", "measured", "ci", "verdict", "reference"} <= set(c)
  refs = {c["id"]: c["reference"]["value"] for c in summary["claims"]}
  assert refs == {"exchange_rate": 2.0, "attention_floor": 1280.0,
                  "facts_per_param_mlp_vs_attention": None,
                  "bits_per_param": 2.0}
  assert not summary["protocol"]["like_for_like"]
  assert summary["protocol"]["departures"] == summary["claims"][0]["departures"]
  for ext in ("png", "pdf"):
    assert os.path.getsize(wd / "figures" / f"tradeoff.{ext}") > 0
    assert os.path.getsize(wd / "figures" / f"bits_per_param.{ext}") > 0
  # Resume: nothing retrained, nothing duplicated, same summary.
  assert _run(wd) == 0
  assert open(wd / "results.jsonl").read().splitlines() == lines
  assert json.load(open(wd / "summary.json"))["claims"] == summary["claims"]


@pytest.mark.parametrize("field", ["--config.model.H_list=0,2",
                                   "--config.train.lr=-1",
                                   "--config.fit.solved_frac=2"])
def test_bad_field_exits_2(tmp_path, capsys, field):
  assert _run(tmp_path / "bad", field) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and field.split("=")[0][len("--config."):] in err[0]


@pytest.mark.parametrize("preset", ["paper", None])
def test_preset_summary_carries_the_papers_numbers(preset):
  # The summary of the default and paper presets, on records whose cells
  # are solved as the paper's boundary says (the paper preset cannot train
  # on a CPU in a test): every claim carries its reference and the table
  # its paper column; the paper preset is like for like and, on the
  # paper's own boundary, agrees with the paper.
  cfg = _preset(preset)
  xs, ys, solved = _paper_boundary_grid(cfg)
  cfg.fit.n_boot = 100
  recs = []
  for i, m in enumerate(sorted(cfg.model.m_list)):
    for j, H in enumerate(sorted(cfg.model.H_list)):
      for s in range(cfg.train.n_seeds):
        recs.append(dict(H=H, m=m, seed=cfg.seed + s, accuracy=1.0 if
                         solved[i, j] else 0.9,
                         status="success" if solved[i, j] else "failed"))
  summary = tradeoff.summarize(cfg, recs)
  claims = {c["id"]: c for c in summary["claims"]}
  assert claims["exchange_rate"]["reference"]["value"] == 2.0
  assert claims["attention_floor"]["reference"]["value"] == 1280.0
  assert summary["protocol"]["like_for_like"] == (preset == "paper")
  assert claims["exchange_rate"]["verdict"] == "supported"
  assert claims["attention_floor"]["verdict"] == "supported"
  head = output.claims_table(summary["claims"]).splitlines()[0].split()
  assert head[4] == "paper"

"""Capacity in bits: the stored-bits and information measures by hand."""
import json
import math
import os

import numpy as np
import pytest

from factrecall import bits


def test_bits_of_a_model_right_on_k_of_n_facts():
  # D = 8 answers (3 bits per fact); N = 10 facts, right on k = 5 with a
  # cross-entropy of 0.5 bits each, the other 5 at 4 bits (confidently
  # wrong, worse than the uniform 3 bits: they add nothing).
  D, N, k = 8, 10, 5
  ce = [0.5] * k + [4.0] * (N - k)
  assert bits.stored_bits(N, D) == 30.0
  assert bits.information_bits(ce, D) == pytest.approx(5 * 2.5)
  # From the mean only: 10 * (3 - 2.25) = 7.5, below the per-fact 12.5
  # (Jensen) ...
  mean_nats = np.mean(ce) * math.log(2)
  assert bits.information_bits_from_mean(N, mean_nats, D) == \
      pytest.approx(7.5)
  # ... and equal to it when no fact is worse than uniform (wrong = 3 bits).
  ce_u = [0.5] * k + [3.0] * (N - k)
  assert bits.information_bits(ce_u, D) == pytest.approx(12.5)
  assert bits.information_bits_from_mean(
      N, np.mean(ce_u) * math.log(2), D) == pytest.approx(12.5)
  # A perfect model holds every stored bit; a uniform one none.
  assert bits.information_bits([0.0] * N, D) == bits.stored_bits(N, D)
  assert bits.information_bits([3.0] * N, D) == 0.0
  assert bits.information_bits_from_mean(N, 10.0, D) == 0.0


def _records():
  # Two seeds stored k = 4 of shape "a" with final mean CEs 0.2 and 0.4
  # nats; a failed member and a smaller k do not count.
  r = lambda k, st, loss, shape="a": dict(shape=shape, k=k, status=st,
                                          curves={"loss": [2.0, loss]})
  return [r(4, "success", 0.2), r(4, "success", 0.4), r(5, "failed", 0.1),
          r(3, "success", 0.05), r(4, "success", 9.0, shape="b")]


def test_capacity_rows_and_claims_from_records():
  ce, k = bits.capacity_ce(_records(), "a", 4)
  assert k == 4 and ce == pytest.approx(0.3)

  class Cfg:  # the fields capacity_rows reads
    class task:  # pylint: disable=invalid-name
      scaling, D = "equal", 8

  caps = [dict(shape="a", k=4, facts=16, params=100)]
  rows = bits.capacity_rows(Cfg, caps, _records(),
                            lambda k, sc, D: (k, k, D))
  (row,) = rows
  assert row["stored_bits"] == 48.0 and row["D"] == 8
  assert row["info_bits"] == pytest.approx(16 * (3 - 0.3 / math.log(2)))
  assert row["info_bits_per_param"] == pytest.approx(row["info_bits"] / 100)
  claims = bits.bits_claims(rows, [100], 50, 0, 1.5, "test",
                            guide_facts_per_param={"value": 0.15,
                                                   "source": "guide"})
  ids = {c["id"]: c for c in claims}
  assert ids["bits_per_param"]["measured"] == pytest.approx(
      row["info_bits_per_param"])
  assert ids["bits_per_param"]["reference"]["value"] == 2.0
  assert ids["stored_bits_per_param"]["reference"]["value"] == \
      pytest.approx(0.45)
  assert ids["stored_bits_per_param"]["measured"] == pytest.approx(0.48)
  # One shape: no bootstrap interval, so no verdict either way.
  assert ids["bits_per_param"]["verdict"] == "inconclusive"


def test_memory_rows_use_the_stored_members_loss():
  caps = [dict(regime="identity", d=4, m=0, seed=0, N=8, params=16),
          dict(regime="fixed", d=4, m=4, seed=1, N=40, params=16)]
  recs = [dict(regime="identity", d=4, m=0, seed=0, N=8, status="success",
               loss=0.1),
          dict(regime="identity", d=4, m=0, seed=0, N=8, status="success",
               loss=0.3),
          dict(regime="fixed", d=4, m=4, seed=1, N=40, status="failed",
               loss=0.0)]
  rows = bits.memory_rows(caps, recs, n_fixed=32)
  assert rows[0]["stored_bits"] == 24.0      # 8 facts * log2 8
  assert rows[0]["info_bits"] == pytest.approx(8 * (3 - 0.1 / math.log(2)))
  assert rows[1]["stored_bits"] == 200.0     # 40 * log2 32
  assert math.isnan(rows[1]["info_bits"])   # its stored member is unknown


def test_mlp_memory_bits_are_judged_per_trained_weight():
  # d = m = 4: the paper counts m d = 16 parameters, the MLP trains
  # W1 (16), b1 (4) and W2 (16) = 36 weights.
  caps = [dict(regime="identity", d=4, m=4, seed=s, N=8, params=16)
          for s in (0, 1)]
  recs = [dict(regime="identity", d=4, m=4, seed=s, N=8, status="success",
               loss=0.0) for s in (0, 1)]
  rows = bits.memory_rows(caps, recs, n_fixed=32)
  assert [r["weights"] for r in rows] == [36, 36]
  (c,) = [c for c in bits.bits_claims(rows, [], 20, 0, 1.25, "test")
          if c["id"] == "bits_per_param"]
  assert c["measured"] == pytest.approx(24 / 36)       # 8 * 3 bits / 36
  assert c["info_bits_per_paper_param"] == pytest.approx(24 / 16)


def test_calibrated_argmax_predictor_by_hand():
  # D = 2, right with probability 0.9: CE = -0.9 ln 0.9 - 0.1 ln 0.1 nats;
  # always right: 0; right by chance (1/D): log D (no information).
  ce = bits.calibrated_ce_nats(0.9, 2)
  assert ce == pytest.approx(-0.9 * math.log(0.9) - 0.1 * math.log(0.1))
  assert bits.calibrated_ce_nats(1.0, 100) == 0.0
  assert bits.calibrated_ce_nats(0.01, 100) == pytest.approx(math.log(100))
  assert bits.information_bits_from_mean(
      10, bits.calibrated_ce_nats(0.01, 100), 100) == pytest.approx(0, abs=1e-9)
  # Fano: log2 D - h2(a) - (1 - a) log2(D - 1) bits per fact.
  a, D = 0.9, 1000
  h2 = -a * math.log2(a) - (1 - a) * math.log2(1 - a)
  assert bits.information_bits_from_mean(
      1, bits.calibrated_ce_nats(a, D), D) == pytest.approx(
          math.log2(D) - h2 - (1 - a) * math.log2(D - 1))


def test_row_by_hand():
  r = bits.row(12, 8, 36, 3 * math.log(2) / 2, shape="x")
  assert r["stored_bits"] == 36.0 and r["stored_bits_per_param"] == 1.0
  assert r["info_bits"] == pytest.approx(12 * 1.5)
  assert r["info_bits_per_param"] == pytest.approx(0.5)
  assert r["shape"] == "x"
  assert np.isnan(bits.row(12, 8, 36, float("nan"))["info_bits"])


def _row(params, info, stored, **kw):
  return dict(params=params, info_bits=info, stored_bits=stored,
              info_bits_per_param=info / params,
              stored_bits_per_param=stored / params, **kw)


def test_series_of_a_summary_by_hand():
  # Top-level rows as they are; a section's rows that count more trained
  # weights than parameters re-based per weight (learned E, U: 100 + 300).
  summary = dict(bits=[_row(100, 30.0, 36.0)],
                 learned=dict(bits=[_row(100, 200.0, 240.0, weights=400)]),
                 fits={"paper": {}})
  s = bits.series_of(summary, "capacity:learned")
  assert list(s) == ["capacity:learned",
                     "capacity:learned learned (per trained weight)"]
  assert s["capacity:learned"] == summary["bits"]
  (r,) = s["capacity:learned learned (per trained weight)"]
  assert (r["params"], r["info_bits_per_param"],
          r["stored_bits_per_param"]) == (400, 0.5, 0.6)
  assert bits.series_of(dict(claims=[]), "x") == {}


def test_bits_figure_over_finished_runs(tmp_path, finished, capsys):
  import experiments.bits_figure as script  # pylint: disable=g-import-not-at-top
  wds = [finished([f"--config={n}:smoke"]).workdir
         for n in ("mlp_memory", "memo_capacity")]
  out = str(tmp_path / "figs" / "all")
  assert script.main(wds + ["--out", out]) == 0
  for ext in ("png", "pdf"):
    assert os.path.getsize(f"{out}.{ext}") > 0
  with open(os.path.join(wds[0], "summary.json")) as f:
    labels = list(bits.series_of(json.load(f), "mlp_memory:smoke"))
  assert labels and all("per trained weight" in l for l in labels)
  capsys.readouterr()
  # A user's mistakes: one line naming the workdir, exit status 2.
  bad = tmp_path / "not_a_run"
  bad.mkdir()
  for argv, names in (([str(bad)], str(bad)), ([], "at least one")):
    assert script.main(argv + ["--out", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert names in err, err

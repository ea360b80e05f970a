"""The S/R sweep: the threshold rule by hand, config checks and the smoke
preset's output contract."""
import json
import os

from factrecall import cli
from factrecall import sr_ratio


def test_threshold_is_the_smallest_ratio_from_which_on_half_see_it():
  r = [0.25, 1, 4, 16]
  assert sr_ratio.threshold(r, [0.0, 0.0, 0.5, 1.0]) == 4
  assert sr_ratio.threshold(r, [1.0, 1.0, 1.0, 1.0]) == 0.25
  # A dip breaks the run: only ratios from 16 on qualify.
  assert sr_ratio.threshold(r, [0.0, 1.0, 0.0, 1.0]) == 16
  assert sr_ratio.threshold(r, [1.0, 1.0, 1.0, 0.0]) is None
  # Order of the inputs does not matter.
  assert sr_ratio.threshold(r[::-1], [1.0, 0.5, 0.0, 0.0]) == 4


def test_smoke_writes_the_output_contract_and_checks_pairs(tmp_path, capsys):
  wd = str(tmp_path / "sr")
  assert cli.entry(["--config=sr_ratio:smoke", "--workdir", wd]) == 0
  with open(os.path.join(wd, "results.jsonl")) as f:
    recs = [json.loads(line) for line in f]
  assert {(r["S"], r["R"]) for r in recs} == {(2, 8), (8, 2)}
  assert all(r["facts"] == 16 for r in recs)
  with open(os.path.join(wd, "summary.json")) as f:
    summary = json.load(f)
  ids = {c["id"]: c for c in summary["claims"]}
  assert set(ids) == {"halluc_ratio_threshold", "stage_length_vs_ratio"}
  assert [row["ratio"] for row in summary["by_ratio"]] == [0.25, 4.0]
  for c in ids.values():
    assert c["verdict"] in ("supported", "refuted", "inconclusive")
  for ext in ("png", "pdf"):
    assert os.path.getsize(os.path.join(wd, "figures", f"sr_ratio.{ext}"))
  capsys.readouterr()
  assert cli.entry(["--config=sr_ratio:smoke", "--workdir",
                    str(tmp_path / "bad"), "--config.sr.pairs=((2,8),(4,8))"]
                   ) == 2
  assert "sr.pairs" in capsys.readouterr().err

"""The S/R sweep: the threshold rule by hand, config checks and the smoke
preset's output contract."""
import json
import os

from factrecall import cli
from factrecall.experiments import sr_ratio


def test_threshold_is_the_smallest_ratio_from_which_on_half_see_it():
  r = [0.25, 1, 4, 16]
  assert sr_ratio.threshold(r, [0.0, 0.0, 0.5, 1.0]) == 4
  assert sr_ratio.threshold(r, [1.0, 1.0, 1.0, 1.0]) == 0.25
  # A dip breaks the run: only ratios from 16 on qualify.
  assert sr_ratio.threshold(r, [0.0, 1.0, 0.0, 1.0]) == 16
  assert sr_ratio.threshold(r, [1.0, 1.0, 1.0, 0.0]) is None
  # Order of the inputs does not matter.
  assert sr_ratio.threshold(r[::-1], [1.0, 0.5, 0.0, 0.0]) == 4


def test_smoke_writes_the_output_contract_and_checks_pairs(tmp_path, capsys,
                                                           finished):
  # The session's uninterrupted run of the command (test_resume's reference).
  wd = finished(["--config=sr_ratio:smoke"]).workdir  # read only
  with open(os.path.join(wd, "results.jsonl")) as f:
    recs = [json.loads(line) for line in f]
  assert {(r["S"], r["R"]) for r in recs} == {(2, 8), (8, 2)}
  assert all(r["facts"] == 16 for r in recs)
  with open(os.path.join(wd, "summary.json")) as f:
    summary = json.load(f)
  ids = {c["id"]: c for c in summary["claims"]}
  assert set(ids) == {"halluc_ratio_threshold", "stage_length_vs_ratio"}
  assert [row["ratio"] for row in summary["by_ratio"]] == [0.25, 4.0]
  for ext in ("png", "pdf"):
    assert os.path.getsize(os.path.join(wd, "figures", f"sr_ratio.{ext}"))
  capsys.readouterr()
  assert cli.entry(["--config=sr_ratio:smoke", "--workdir",
                    str(tmp_path / "bad"), "--config.sr.pairs=((2,8),(4,8))"]
                   ) == 2
  assert "sr.pairs" in capsys.readouterr().err


def _rec(S, R, t_rel, uniform, t_subj=None, length=None):
  keys = ("t_rel", "t_subj", "stage_length", "uniform_steps", "plateau_loss",
          "plateau_steps", "halluc_peak")
  st = dict.fromkeys(keys)
  st.update(t_rel=t_rel, t_subj=t_subj, stage_length=length,
            uniform_steps=uniform, plateau_steps=0)
  return dict(S=S, R=R, stages=st)


def test_summary_needs_the_relation_learned_below_the_threshold():
  cfg = cli.load_config("sr_ratio:smoke")   # pairs (2, 8), (8, 2)
  seen = [_rec(8, 2, 100, 500, 900, 800) for _ in range(2)]
  # S/R = 1/4 learned the relation and showed no stage: the stage starts
  # above S/R = 1, supported.
  ok = [_rec(2, 8, 300, 0, 300, 0) for _ in range(2)]
  c = sr_ratio.summarize(cfg, ok + seen)["claims"][0]
  assert (c["measured"], c["ci"], c["verdict"]) == (4.0, [4.0, 4.0],
                                                    "supported")
  # It never learned the relation: no stage could start, inconclusive.
  blind = [_rec(2, 8, None, 0) for _ in range(2)]
  c, length = sr_ratio.summarize(cfg, blind + seen)["claims"]
  assert c["measured"] == 4.0 and c["verdict"] == "inconclusive"
  # ... and the stage's length is measured at one ratio only: no slope.
  assert length["verdict"] == "untested"
  assert length["untested_because"].startswith("1 ratio(s) have a measured")
  length = sr_ratio.summarize(cfg, ok + seen)["claims"][1]
  assert length["verdict"] != "untested" and "untested_because" not in length
  # Seen already at S/R = 1/4: refuted.
  early = [_rec(2, 8, 100, 500, 900, 800) for _ in range(2)]
  c = sr_ratio.summarize(cfg, early + seen)["claims"][0]
  assert c["measured"] == 0.25 and c["verdict"] == "refuted"

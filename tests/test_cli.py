"""End to end through the CLI: output contract, resume, one-line errors."""
import glob
import json
import math
import os

import pytest

from factrecall import checkpoints
from factrecall import cli

SMOKE = ["--config=capacity:smoke", "--config.model.d_list=8",
         "--config.search.max_rounds=2"]


def _records(wd):
  with open(os.path.join(wd, "results.jsonl")) as f:
    return [json.loads(l) for l in f]


def test_smoke_writes_contract_and_resumes(tmp_path, capsys):
  wd = str(tmp_path / "run")
  assert cli.entry(SMOKE + ["--workdir", wd]) == 0
  out = capsys.readouterr().out
  assert "loglog_slope" in out and "facts_per_param" in out
  assert "bits_per_param" in out
  for f in ("config.json", "results.jsonl", "summary.json",
            "figures/capacity.png", "figures/capacity.pdf",
            "figures/training_curves.png", "figures/bits_per_param.png"):
    assert os.path.exists(os.path.join(wd, f)), f
  recs = _records(wd)
  for r in recs:
    for k in ("params", "accuracy", "steps", "seed", "lr", "status", "facts",
              "S", "R"):
      assert k in r
    assert r["status"] in ("success", "failed", "stalled", "diverged", "skipped")
    assert r["params"] == 4 * 8 * 1 * 8 + 2 * 8 * 8
  summary = json.load(open(os.path.join(wd, "summary.json")))
  assert summary["experiment"] == "capacity"
  # Bits at each shape's capacity: facts * log2 D stored, the information
  # from the mean cross-entropy never above it.
  for row in summary["bits"]:
    assert abs(row["stored_bits"] - row["facts"] * math.log2(row["D"])) < 1e-9
    assert not row["info_bits"] > row["stored_bits"] + 1e-9
  for c in summary["claims"]:
    assert set(c) >= {"id", "statement", "measured", "ci", "verdict"}
  before = open(os.path.join(wd, "results.jsonl")).read()
  assert cli.entry(SMOKE + ["--workdir", wd]) == 0
  assert open(os.path.join(wd, "results.jsonl")).read() == before
  summary2 = json.load(open(os.path.join(wd, "summary.json")))
  assert summary2["claims"] == summary["claims"]
  assert sum(summary["members"].values()) == len(recs)
  # Determinism: a fresh run with the same config gives identical bytes
  # (saving the stored models for analyses changes nothing else).
  wd2 = str(tmp_path / "run2")
  assert cli.entry(SMOKE + ["--config.save_models=true", "--workdir", wd2]) == 0
  assert open(os.path.join(wd2, "results.jsonl")).read() == before
  saved = glob.glob(os.path.join(wd2, "checkpoints", "models", "*.json"))
  assert len(saved) == sum(r["status"] == "success" for r in recs) > 0
  member = checkpoints.load(saved[0][:-len(".json")])
  assert member.setup.model.d == 8 and member.info["status"] == "success"


BAD = [
    ([], "--config is required"),
    (["--config=nope"], "unknown config 'nope'"),
    (["--config=capacity:huge"], "unknown preset 'huge'"),
    (["--config=capacity", "--config.task.nope=1"], "unknown field 'nope'"),
    (["--config=capacity", "--config.nope.x=1"], "unknown field 'nope'"),
    (["--config=capacity", "--config.task.D=eight"], "task.D=eight"),
    (["--config=capacity", "--config.task.D"], "needs a value"),
    (["--config=capacity", "--config.task=1"], "is a group of fields"),
    (["--config=capacity", "--config.task.D=0"], "task.D=0"),
    (["--config=capacity", "--config.task.T=2"], "task.T=2"),
    (["--config=capacity", "--config.task.scaling=cubic"], "task.scaling='cubic'"),
    (["--config=capacity", "--config.task.table=sorted"], "task.table='sorted'"),
    (["--config=capacity", "--config.task.n_noise=-5"], "task.n_noise=-5"),
    (["--config=capacity", "--config.task.alpha=-1"], "task.alpha=-1"),
    (["--config=capacity", "--config.model.d_list=0,8"], "model.d_list"),
    (["--config=capacity", "--config.model.H_list=0"], "model.H_list"),
    (["--config=capacity", "--config.model.ratios=((1,),)"], "model.ratios"),
    (["--config=capacity", "--config.model.d_list=1",
      "--config.model.ratios=((0.5,0.5),)"], "rounds d_h or m to 0"),
    (["--config=capacity", "--config.train.batch=0"], "train.batch=0"),
    (["--config=capacity", "--config.train.max_steps=10"], "train.max_steps=10"),
    (["--config=capacity", "--config.train.lrs=-1.0"], "train.lrs"),
    (["--config=capacity", "--config.train.target=1.5"], "train.target=1.5"),
    (["--config=capacity", "--config.train.patience=-1"], "train.patience=-1"),
    (["--config=capacity", "--config.train.n_seeds=0"], "train.n_seeds=0"),
    (["--config=capacity", "--config.search.n_candidates=0"], "search.n_candidates=0"),
    (["--config=capacity", "--config.search.resolution=-1"], "search.resolution=-1"),
    (["--config=capacity", "--config.search.lo_per_param=2"], "search.lo_per_param=2"),
    (["--config=capacity", "--config.search.k_max=1"], "search.k_max=1"),
    (["--config=capacity", "--config.search.k_max=100000"], "search.k_max=100000"),
    (["--config=capacity", "--config.search.prune=maybe"], "search.prune=maybe"),
    (["--config=capacity", "--bogus"], "unrecognized arguments"),
    (["--config=capacity", "--config.train.batch=1000000"],
     "a group of 36 members would need ~"),
    (["--config=linear_memory", "--config.search.n_max=1000000",
      "--config.search.guess.identity=100000"],
     "one member would need"),
    (["--config=memo_decoys", "--config.d_list=32768"], "over memory_gib=16.0"),
    (["--config=capacity", "--config.memory_gib=0"], "memory_gib=0"),
    (["--config=tradeoff", "--config.task.n_noise=0"],
     "task.n_noise=0: sequences of task.T=32 have 29 noise positions"),
    (["--config=capacity", "--config.train.lrs=nan"], "expected a list"),
]


@pytest.mark.parametrize("argv,msg", BAD)
def test_bad_input_is_one_line_exit_2(argv, msg, capsys, tmp_path):
  assert cli.entry(argv + ["--workdir", str(tmp_path / "w")]) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
  assert msg in err, err


def test_unwritable_and_foreign_workdir(tmp_path, capsys):
  f = tmp_path / "file"
  f.write_text("x")
  assert cli.entry(["--config=capacity:smoke", "--workdir", str(f / "sub")]) == 2
  assert "not writable" in capsys.readouterr().err
  wd = tmp_path / "other"
  wd.mkdir()
  (wd / "config.json").write_text(json.dumps({"name": "memo", "seed": 3}))
  assert cli.entry(["--config=capacity:smoke", "--workdir", str(wd)]) == 2
  assert "different config" in capsys.readouterr().err


def test_ctrl_c_inside_a_gc_callback_is_recorded_not_lost(capfd):
  """Python ignores (and prints) a KeyboardInterrupt raised inside a
  garbage-collection callback; the CLI's handler records the signal first,
  so the engine and entry() still end the run as interrupted, and the
  report of the ignored exception is not printed."""
  import gc  # pylint: disable=g-import-not-at-top
  import signal  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  from factrecall import output  # pylint: disable=g-import-not-at-top

  def callback(phase, info):
    del info
    if phase == "start":
      os.kill(os.getpid(), signal.SIGINT)
      time.sleep(0.01)  # the handler runs here, inside the callback

  old_hook, old_handler = sys.unraisablehook, signal.getsignal(signal.SIGINT)
  output.INTERRUPTS.clear()
  sys.unraisablehook = cli._unraisable  # pylint: disable=protected-access
  signal.signal(signal.SIGINT, cli._interrupt)  # pylint: disable=protected-access
  try:
    gc.callbacks.append(callback)
    gc.collect()  # the KeyboardInterrupt is swallowed here
  finally:
    gc.callbacks.remove(callback)
    sys.unraisablehook = old_hook
    signal.signal(signal.SIGINT, old_handler)
  assert output.INTERRUPTS == [signal.SIGINT]
  assert "Exception ignored" not in capfd.readouterr().err
  output.INTERRUPTS.clear()

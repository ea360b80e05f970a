"""The tests' shared uninterrupted runs (runs.FinishedRuns): one run per
command even when several pytest-xdist workers ask for it at once."""
import os
import stat
import subprocess
import threading
import time

from tests import runs


def test_workers_sharing_a_root_run_each_command_once(tmp_path, monkeypatch):
  calls = []

  def fake_run(cmd, **kw):  # the sweep: a workdir with one file, slowly
    calls.append(cmd)
    time.sleep(0.3)
    wd = cmd[cmd.index("--workdir") + 1]
    os.makedirs(wd)
    with open(os.path.join(wd, "results.jsonl"), "w") as f:
      f.write("{}\n")
    return subprocess.CompletedProcess(cmd, 0, stdout="out", stderr="err")

  monkeypatch.setattr(runs.subprocess, "run", fake_run)
  root = tmp_path / "finished"
  workers = [runs.FinishedRuns(root, {}) for _ in range(3)]
  got = [None] * 3
  threads = [threading.Thread(target=lambda i=i: got.__setitem__(
      i, workers[i](["--config=x:smoke"]))) for i in range(3)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert len(calls) == 1
  assert len({g.workdir for g in got}) == 1
  assert all((g.stdout, g.stderr, g.results()) == ("out", "err", "{}\n")
             for g in got)
  workers[0](["--config=y:smoke"])  # another command: its own run
  assert len(calls) == 2
  # read-only for the tests (mode bits: root may write anyway)
  assert not os.stat(got[0].workdir).st_mode & stat.S_IWUSR

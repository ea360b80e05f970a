"""Interrupt safety: SIGKILL or SIGINT at any point, then the same command,
ends with results identical to an uninterrupted run."""
import glob
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--config=capacity:smoke", "--config.model.d_list=8,11",
        "--config.train.max_steps=384", "--config.train.batch=128",
        "--config.search.n_candidates=2", "--config.search.max_rounds=2",
        "--config.checkpoint_every=0"]


def _cmd(wd):
  return [sys.executable, os.path.join(ROOT, "experiments", "sweep.py")] + ARGS + [
      "--workdir", wd]


def _env():
  env = dict(os.environ)
  env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
  env["JAX_PLATFORMS"] = "cpu"
  return env


def _results(wd):
  with open(os.path.join(wd, "results.jsonl")) as f:
    return f.read()


def _wait_for(pred, proc, timeout=240):
  t0 = time.time()
  while time.time() - t0 < timeout:
    if pred():
      return True
    if proc.poll() is not None:
      return False
    time.sleep(0.05)
  return False


def _lines(wd):
  p = os.path.join(wd, "results.jsonl")
  return open(p).read().count("\n") if os.path.exists(p) else 0


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
  """results.jsonl of the uninterrupted run, one process."""
  ref = str(tmp_path_factory.mktemp("ref") / "ref")
  subprocess.run(_cmd(ref), env=_env(), check=True, capture_output=True)
  return _results(ref)


def test_kill_and_resume_matches_uninterrupted(tmp_path, expected):
  n_rounds = expected.count("\n") // 2  # 2 candidates x 1 lr per round
  assert n_rounds >= 2

  wd = str(tmp_path / "run")
  ckpts = lambda: glob.glob(os.path.join(wd, "checkpoints", "inflight_*.npz"))
  stamp = lambda: max([os.path.getmtime(p) for p in ckpts()] or [0.0])
  # SIGINT first, on a fresh run: its first checkpoint is written after the
  # first chunk of its first group, with the whole run still ahead, so the
  # signal always lands mid-group. A clean message and exit status 130.
  proc = subprocess.Popen(_cmd(wd), env=_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  assert _wait_for(lambda: bool(ckpts()), proc, timeout=240)
  proc.send_signal(signal.SIGINT)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 130, err
  assert "resume with the same command" in err and "Traceback" not in err
  assert "the group in flight is checkpointed" in err
  assert ckpts()  # the group in flight was saved
  # Kill points: mid-group (once the resumed run wrote a checkpoint of its
  # own), after the first finished round, mid-group of a later round.
  before = stamp()
  points = [lambda: stamp() > before,
            lambda: _lines(wd) >= 2,
            lambda: _lines(wd) >= 4 and bool(ckpts())]
  killed = 0
  for point in points:
    proc = subprocess.Popen(_cmd(wd), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    reached = _wait_for(point, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if not reached:
      break
    killed += 1
  # The first point always lies ahead (the interrupted first group is still
  # in flight); later ones can be overtaken on a fast machine.
  assert killed >= 1, "no kill landed: the test tested nothing"
  subprocess.run(_cmd(wd), env=_env(), check=True, capture_output=True)
  assert _results(wd) == expected
  assert not ckpts()


def _two_processes(wd):
  """The same command as 2 processes x 4 CPU devices (jax.distributed on
  loopback, gloo collectives), both sharing the workdir."""
  with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
  procs = []
  for i in range(2):
    env = dict(_env(), JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
               JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(i),
               XLA_FLAGS="--xla_force_host_platform_device_count=4")
    procs.append(subprocess.Popen(_cmd(wd) + ["--distributed"], env=env,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True))
  return procs


def test_two_processes_killed_and_resumed_match_one(tmp_path, expected):
  wd = str(tmp_path / "run")
  ckpts = lambda: glob.glob(os.path.join(wd, "checkpoints", "inflight_*.npz"))
  procs = _two_processes(wd)
  # kill -9 both once process 0 has written an in-flight checkpoint (every
  # process took part in gathering it).
  reached = _wait_for(ckpts, procs[0])
  for p in procs:
    p.kill()
    p.wait()
  assert reached, "no checkpoint before the run ended: nothing was tested"
  procs = _two_processes(wd)
  for p in procs:
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-2000:]
  assert _results(wd) == expected
  assert not ckpts()


# Every other config's smoke preset, each through its own loop and records:
# SIGKILL once a third and once two thirds of the uninterrupted run's records
# are written, then the same command finishes the run with the same bytes.
OTHERS = {name: [f"--config={name}:smoke"] for name in (
    "linear_memory", "mlp_memory", "tradeoff", "dynamics", "sr_ratio",
    "thresholds", "memo_capacity", "memo_decoys", "crosstalk", "editing",
    "minilm_crosstalk")}


def _cmd_of(args, wd):
  return [sys.executable, os.path.join(ROOT, "experiments", "sweep.py")] + (
      args + ["--workdir", wd])


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_kill_and_resume_other_runners(tmp_path, name):
  args = OTHERS[name]
  ref = str(tmp_path / "ref")
  subprocess.run(_cmd_of(args, ref), env=_env(), check=True,
                 capture_output=True)
  expected = _results(ref)
  n = expected.count("\n")
  assert n >= 2  # a kill can land between two records
  wd = str(tmp_path / "run")
  killed = 0
  for frac in (1 / 3, 2 / 3):
    proc = subprocess.Popen(_cmd_of(args, wd), env=_env(),
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    if _wait_for(lambda frac=frac: _lines(wd) >= n * frac, proc):
      proc.send_signal(signal.SIGKILL)
      killed += 1
    proc.wait()
  assert killed >= 1  # at least one kill landed before the run ended
  subprocess.run(_cmd_of(args, wd), env=_env(), check=True, capture_output=True)
  assert _results(wd) == expected

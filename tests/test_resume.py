"""Interrupt safety: SIGKILL or SIGINT at any point, then the same command,
ends with results identical to an uninterrupted run."""
import glob
import os
import signal
import socket
import subprocess
import time

import pytest

from tests import runs

ROOT = runs.ROOT
ARGS = ["--config=capacity:smoke", "--config.model.d_list=8,11",
        "--config.train.max_steps=384", "--config.train.batch=128",
        "--config.search.n_candidates=2", "--config.search.max_rounds=2",
        "--config.checkpoint_every=0"]


def _cmd(wd):
  return runs.command(ARGS, wd)


_results = runs.results
_lines = runs.lines


def _wait_for(pred, proc, timeout=240):
  t0 = time.time()
  while time.time() - t0 < timeout:
    if pred():
      return True
    if proc.poll() is not None:
      return False
    time.sleep(0.05)
  return False


@pytest.fixture(scope="module")
def expected(finished):
  """results.jsonl of the uninterrupted run, one process."""
  return finished(ARGS).results()


def test_kill_and_resume_matches_uninterrupted(tmp_path, expected, run_env):
  n_rounds = expected.count("\n") // 2  # 2 candidates x 1 lr per round
  assert n_rounds >= 2

  wd = str(tmp_path / "run")
  ckpts = lambda: glob.glob(os.path.join(wd, "checkpoints", "inflight_*.npz"))
  stamp = lambda: max([os.path.getmtime(p) for p in ckpts()] or [0.0])
  # SIGINT first, on a fresh run: its first checkpoint is written after the
  # first chunk of its first group, with the whole run still ahead, so the
  # signal always lands mid-group. A clean message and exit status 130.
  proc = subprocess.Popen(_cmd(wd), env=run_env, stdout=subprocess.PIPE,
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
  landed = []
  for point in points:
    proc = subprocess.Popen(_cmd(wd), env=run_env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    reached = _wait_for(point, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Landed: the point was reached and the kill, not the run's end, ended
    # the process.
    landed.append(reached and proc.returncode == -signal.SIGKILL)
    if not landed[-1]:
      break
  print(f"capacity: SIGINT landed; SIGKILL points landed: {landed}")
  # The first point always lies ahead (the interrupted first group is still
  # in flight); later ones can be overtaken on a fast machine.
  assert landed[0], "no kill landed: the test tested nothing"
  subprocess.run(_cmd(wd), env=run_env, check=True, capture_output=True)
  assert _results(wd) == expected
  assert not ckpts()


def _two_processes(wd, env):
  """The same command as 2 processes x 4 CPU devices (jax.distributed on
  loopback, gloo collectives), both sharing the workdir."""
  with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
  procs = []
  for i in range(2):
    env_i = dict(env, JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                 JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(i),
                 XLA_FLAGS="--xla_force_host_platform_device_count=4")
    procs.append(subprocess.Popen(_cmd(wd) + ["--distributed"], env=env_i,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True))
  return procs


def test_two_processes_killed_and_resumed_match_one(tmp_path, expected,
                                                    run_env):
  wd = str(tmp_path / "run")
  ckpts = lambda: glob.glob(os.path.join(wd, "checkpoints", "inflight_*.npz"))
  procs = _two_processes(wd, run_env)
  # kill -9 both once process 0 has written an in-flight checkpoint (every
  # process took part in gathering it).
  reached = _wait_for(ckpts, procs[0])
  for p in procs:
    p.kill()
    p.wait()
  assert reached, "no checkpoint before the run ended: nothing was tested"
  procs = _two_processes(wd, run_env)
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


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_kill_and_resume_other_runners(tmp_path, name, finished, run_env):
  args = OTHERS[name]
  expected = finished(args).results()
  n = expected.count("\n")
  assert n >= 2  # a kill can land between two records
  wd = str(tmp_path / "run")
  killed = 0
  for frac in (1 / 3, 2 / 3):
    proc = subprocess.Popen(runs.command(args, wd), env=run_env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    if _wait_for(lambda frac=frac: _lines(wd) >= n * frac, proc):
      proc.send_signal(signal.SIGKILL)
      killed += 1
    proc.wait()
  assert killed >= 1  # at least one kill landed before the run ended
  subprocess.run(runs.command(args, wd), env=run_env, check=True,
                 capture_output=True)
  assert _results(wd) == expected

"""Interrupt safety: SIGKILL or SIGINT at any point, then the same command,
ends with results identical to an uninterrupted run."""
import glob
import math
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


# Every other config's smoke preset, each through its own loop and records,
# in one chain of runs on one workdir: a fresh run ended by SIGINT (Ctrl-C),
# then runs of the same command killed with SIGKILL, then the same command
# finishes the run with the uninterrupted run's bytes.
#
# Where each run is interrupted: START is as soon as the run has started its
# work (its first line, "factrecall: NAME:PRESET -> WORKDIR ...", is on
# stderr: the CLI's SIGINT handler is in place and run() has begun); NEXT is
# once the run has written a record of its own; a fraction f is once
# ceil(f * n) of the uninterrupted run's n records are written. A record
# point always lies ahead of what the run started from (at least one record
# of its own); one that cannot (every record written already) becomes START,
# killing a run that only writes the summary. The first point is the
# SIGINT's, the others SIGKILL's. Presets whose records come in several
# batches take the SIGINT after their first; those with two batches take it
# at START, so that a kill still lands between the batches; those that write
# every record at once, at the end of their work, are interrupted at START
# twice, so that the SIGINT and one kill land mid-work.
START, NEXT = "start", "next"
OTHERS = {
    "linear_memory": (NEXT, 1 / 3, 2 / 3),
    "mlp_memory": (NEXT, 1 / 3, 2 / 3),
    "tradeoff": (NEXT, 1 / 3, 2 / 3),
    "thresholds": (NEXT, 1 / 3, 2 / 3),
    "dynamics": (START, 1 / 3, 2 / 3),
    "sr_ratio": (START, 1 / 3, 2 / 3),
    "crosstalk": (START, 1 / 3, 2 / 3),
    "editing": (START, NEXT, 2 / 3),
    "memo_capacity": (START, START, 2 / 3),
    "memo_decoys": (START, START, 2 / 3),
    "minilm_crosstalk": (START, START, 2 / 3),
}
CHECKPOINTED = "the group in flight is checkpointed"
NOT_CHECKPOINTED = "work in flight was not checkpointed and is redone"


def _interrupt(args, wd, env, point, n, sig, log):
  """Runs the command on wd until `point`, sends `sig` and returns (exit
  status, stderr, the point as reached: "start" or records >= k). Fails if
  the run ended before the point."""
  start = _lines(wd)
  if point not in (START, NEXT):
    point = max(math.ceil(point * n), start + 1)
  elif point == NEXT:
    point = start + 1
  if point != START and point > n:
    point = START
  t0 = time.time()
  with open(log, "w") as err_f:
    proc = subprocess.Popen(runs.command(args, wd), env=env,
                            stdout=subprocess.DEVNULL, stderr=err_f)
    read = lambda: open(log).read()
    started = lambda: any(l.startswith("factrecall: ")
                          for l in read().splitlines())
    reached = _wait_for(started if point == START else
                        (lambda: _lines(wd) >= point), proc)
    if reached:
      proc.send_signal(sig)
    try:
      proc.wait(timeout=300)
    finally:
      proc.kill()
  where = "start" if point == START else f"records>={point}"
  assert reached, (f"the run ended (status {proc.returncode}) before "
                   f"{where} (from {start} of {n} records): no "
                   f"{signal.Signals(sig).name} landed\n{read()[-2000:]}")
  return proc.returncode, read(), (f"{where} (from {start}, at {_lines(wd)}; "
                                   f"{time.time() - t0:.1f}s)")


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_kill_and_resume_other_runners(tmp_path, name, finished, run_env):
  args = [f"--config={name}:smoke"]
  expected = finished(args).results()
  n = expected.count("\n")
  assert n >= 2  # a kill can land between two records
  wd = str(tmp_path / "run")
  ckpts = lambda: glob.glob(os.path.join(wd, "checkpoints", "inflight_*.npz"))
  sigint, *kills = OTHERS[name]
  # Ctrl-C on a fresh run, mid-work: exit status 130 and the resume message,
  # no traceback; the message says the work in flight is checkpointed if and
  # only if an in-flight checkpoint is there (a fresh run has no older one).
  status, err, where = _interrupt(args, wd, run_env, sigint, n,
                                  signal.SIGINT, str(tmp_path / "sigint.err"))
  assert status == 130, err[-2000:]
  assert "resume with the same command" in err and "Traceback" not in err, err
  assert (CHECKPOINTED in err) != (NOT_CHECKPOINTED in err), err
  assert (CHECKPOINTED in err) == bool(ckpts()), (err, ckpts())
  landed = [f"SIGINT at {where}: "
            f"{'checkpointed' if CHECKPOINTED in err else 'not checkpointed'}"]
  for i, point in enumerate(kills):
    status, err, where = _interrupt(args, wd, run_env, point, n,
                                    signal.SIGKILL,
                                    str(tmp_path / f"kill{i}.err"))
    assert status == -signal.SIGKILL, (where, status, err[-2000:])
    landed.append(f"SIGKILL at {where}")
  t0 = time.time()
  subprocess.run(runs.command(args, wd), env=run_env, check=True,
                 capture_output=True)
  landed.append(f"completed ({time.time() - t0:.1f}s)")
  print(f"{name} (n={n}): " + "; ".join(landed))
  assert _results(wd) == expected

"""The same command gives a byte-identical results.jsonl whatever the number of
devices: 8 forced devices vs a one-core machine, run as a user runs it (the
CLI picks the devices itself; on one core it makes two, see
cli.use_all_cores)."""
import os
import subprocess

import pytest

from tests import runs
from tests import test_resume

CASES = {
    "capacity": test_resume.ARGS,
    # The associative memories once trained the ensemble as jit(vmap) over a
    # sharded axis, so a member's numbers depended on how many members
    # shared its device; they now run through the engine, as MeMo does.
    "linear_memory": ["--config=linear_memory:smoke"],
    "memo_capacity": ["--config=memo_capacity:smoke"],
}


def _one_core(wd, args):
  """The command on one core, compiling its programs itself as a user's
  one-core run does: not with the tests' compilation cache (run_env)."""
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="")
  cpu = min(os.sched_getaffinity(0))
  proc = subprocess.run(
      runs.command(args, wd), env=env, capture_output=True, text=True,
      preexec_fn=lambda: os.sched_setaffinity(0, {cpu}), timeout=600)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return runs.results(wd), proc.stderr


@pytest.mark.parametrize("name", sorted(CASES))
def test_results_identical_on_8_devices_and_one_core(tmp_path, name, finished):
  # The 8-device run is the session's uninterrupted run of the command
  # (runs.env(): the tests' environment with 8 forced devices), the one
  # test_resume compares its interrupted runs with.
  run8 = finished(CASES[name])
  eight, err8 = run8.results(), run8.stderr
  one, err1 = _one_core(str(tmp_path / "one"), CASES[name])
  assert "(8 cpu device(s))" in err8
  assert "(2 cpu device(s))" in err1
  assert eight.count("\n") >= 2
  assert one == eight

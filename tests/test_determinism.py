"""The same command gives a byte-identical results.jsonl whatever the number of
devices: 8 forced devices vs a one-core machine, run as a user runs it (the
CLI picks the devices itself; on one core it makes two, see
cli.use_all_cores)."""
import os
import subprocess
import sys

import pytest

from tests import test_resume

CASES = {
    "capacity": test_resume.ARGS,
    # The associative memories once trained the ensemble as jit(vmap) over a
    # sharded axis, so a member's numbers depended on how many members
    # shared its device; they now run through the engine, as MeMo does.
    "linear_memory": ["--config=linear_memory:smoke"],
    "memo_capacity": ["--config=memo_capacity:smoke"],
}


def _run(wd, args, xla_flags, one_core):
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=xla_flags)
  cpu = min(os.sched_getaffinity(0))
  proc = subprocess.run(
      [sys.executable, os.path.join(test_resume.ROOT, "experiments", "sweep.py")]
      + args + ["--workdir", wd], env=env, capture_output=True, text=True,
      preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if one_core else None,
      timeout=600)
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(os.path.join(wd, "results.jsonl")) as f:
    return f.read(), proc.stderr


@pytest.mark.parametrize("name", sorted(CASES))
def test_results_identical_on_8_devices_and_one_core(tmp_path, name):
  eight, err8 = _run(str(tmp_path / "eight"), CASES[name],
                     "--xla_force_host_platform_device_count=8", False)
  one, err1 = _run(str(tmp_path / "one"), CASES[name], "", True)
  assert "(8 cpu device(s))" in err8
  assert "(2 cpu device(s))" in err1
  assert eight.count("\n") >= 2
  assert one == eight

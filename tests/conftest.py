"""Tests run on 8 fake CPU devices so sharding is exercised everywhere."""
import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from factrecall import cli  # pylint: disable=g-import-not-at-top,wrong-import-position

cli.cpu_flags()  # the XLA:CPU flags a user's run gets

import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

from tests import runs  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
  """One persistent XLA compilation cache for the session, this process's
  and its subprocess runs' (run_env): compiling is most of a smoke run's
  time, and every run_group traces and compiles its programs anew
  (engine._compiled's cache does not hit across runs), so a run that builds
  the same program as an earlier one loads it instead of compiling it
  again. The key is the program (its HLO, devices and XLA flags): runs that
  build different programs still compile their own. test_determinism's
  one-core run never uses it: it compiles on one core, as a user's one-core
  run does."""
  import jax  # pylint: disable=g-import-not-at-top
  path = str(tmp_path_factory.mktemp("jax_cache"))
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  return path


@pytest.fixture(scope="session")
def run_env(compilation_cache):
  """The environment of the tests' subprocess runs of experiments/sweep.py:
  runs.env() with the session's compilation cache."""
  return runs.env(JAX_COMPILATION_CACHE_DIR=compilation_cache,
                  JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")


@pytest.fixture(scope="session")
def finished(tmp_path_factory, run_env):
  """finished(args) -> runs.Finished: `experiments/sweep.py *args` run once
  per session, uninterrupted, in a subprocess (run_env), for every test
  that needs that command's output. Read-only: copy() it to resume it.
  Under pytest -n the workers share these runs (their base temporary
  directories have one parent)."""
  base = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    return runs.FinishedRuns(base.parent / "finished", run_env)
  return runs.FinishedRuns(tmp_path_factory.mktemp("finished"), run_env)

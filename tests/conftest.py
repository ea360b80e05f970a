"""Tests run on 8 fake CPU devices so sharding is exercised everywhere."""
import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from factrecall import cli  # pylint: disable=g-import-not-at-top,wrong-import-position

cli.cpu_flags()  # the XLA:CPU flags a user's run gets

import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
  """One persistent XLA compilation cache for the session: compiling is
  most of a smoke run's time, and every run_group traces and compiles its
  programs anew (sweep._compiled's cache does not hit across runs), so a
  run that builds the same program as an earlier test loads it instead of
  compiling it again. The key is the program (its HLO, devices and XLA
  flags): runs that build different programs still compile their own."""
  import jax  # pylint: disable=g-import-not-at-top
  path = str(tmp_path_factory.mktemp("jax_cache"))
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  return path

"""Tests run on 8 fake CPU devices so sharding is exercised everywhere."""
import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from factrecall import cli  # pylint: disable=g-import-not-at-top,wrong-import-position

cli.cpu_flags()  # the XLA:CPU flags a user's run gets

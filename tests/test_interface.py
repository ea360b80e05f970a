"""The researcher's interface: install layout, configs by path, the Python
API, re-analysis without retraining, reports and the progress line."""
import json
import os
import subprocess
import sys

import pytest

from factrecall import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_configs_are_found_after_a_non_editable_install(tmp_path):
  # build_py lays out exactly what an installed wheel holds under
  # site-packages; nothing of the source tree is on the path there.
  lib = tmp_path / "lib"
  subprocess.run([sys.executable, "setup.py", "-q", "build_py",
                  "--build-lib", str(lib)], cwd=ROOT, check=True,
                 capture_output=True)
  assert (lib / "factrecall" / "configs" / "capacity.py").exists()
  assert (lib / "factrecall" / "data" / "facts.txt").exists()
  code = ("import sys; from factrecall import cli; print(cli.CONFIG_DIR); "
          "print(' '.join(cli.config_names())); "
          "cfg = cli.load_config('capacity:square'); print(cfg.task.scaling)")
  out = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path),
                       env=dict(os.environ, PYTHONPATH=str(lib)),
                       check=True, capture_output=True, text=True).stdout
  lines = out.splitlines()
  assert lines[0] == str(lib / "factrecall" / "configs")
  assert "capacity" in lines[1].split() and "tradeoff" in lines[1].split()
  assert lines[2] == "square"


def test_constraints_pin_what_setup_requires():
  pins = {}
  for line in open(os.path.join(ROOT, "constraints.txt")):
    line = line.strip()
    if line and not line.startswith("#"):
      name, _, version = line.partition("==")
      assert version, line
      pins[name.lower().replace("_", "-")] = version
  for name in ("jax", "jaxlib", "flax", "optax", "numpy", "matplotlib",
               "ml-collections"):
    assert name in pins, name
  assert not any(p.startswith("factrecall") for p in pins)
  major, minor = (int(x) for x in pins["jax"].split(".")[:2])
  assert (major, minor) >= (0, 10)

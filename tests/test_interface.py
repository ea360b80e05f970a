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


def test_progress_on_a_narrow_terminal_stays_on_one_line():
  import fcntl
  import struct
  import termios
  from factrecall import progress
  master, slave = os.openpty()
  fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
  stream = os.fdopen(slave, "w")
  try:
    p = progress.Progress(1000, desc="capacity", stream=stream)
    assert p.tty and progress.terminal_width(stream) == 40
    for i in range(5):
      p.update(100, note="d8_H8_dh1_m8 round 3 of the search, seed 2 " * 2,
               force=True)
    stream.flush()
    out = os.read(master, 65536).decode()
  finally:
    stream.close()
    os.close(master)
  assert "\n" not in out.replace("\r\n", "") and out.count("\r") == 5
  for seg in out.split("\r")[1:]:
    assert 0 < len(seg) <= 39, (len(seg), seg)
    assert seg.startswith("capacity [")


def test_eta_is_planned_work_over_the_rate_since_the_first_work(monkeypatch):
  from factrecall import progress
  clock = [100.0]
  monkeypatch.setattr(progress.time, "time", lambda: clock[0])
  p = progress.Progress(1000, enabled=False)
  clock[0] = 160.0       # a minute of set-up (imports, compile) first
  p.update(10)           # the first chunk: the rate is timed from here
  assert p.eta() != p.eta()  # nan: no rate yet
  etas = []
  for _ in range(9):     # then a steady 10 units per second
    clock[0] += 10.0
    p.update(100)
    etas.append(p.eta())
  # 910 done, 90 left at 10/s; the set-up minute does not inflate it, and on
  # a steady machine the estimate only falls.
  assert etas[-1] == pytest.approx(9.0)
  assert etas[0] == pytest.approx(89.0)
  assert all(a > b for a, b in zip(etas, etas[1:]))

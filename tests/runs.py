"""experiments/sweep.py run in a subprocess, as a user runs it, and the
session's uninterrupted runs shared by every test that needs the output of
the same command (conftest.py's `finished` fixture)."""
import fcntl
import hashlib
import os
import shutil
import stat
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Forced CPU devices of a subprocess run: the 8 of the tests' own process
# (conftest.py), so a shared run exercises the same sharding and padding as
# the in-process runs it replaces.
DEVICES = 8


def command(args, workdir):
  return [sys.executable, os.path.join(ROOT, "experiments", "sweep.py")] + (
      list(args) + ["--workdir", str(workdir)])


def env(devices=DEVICES, **extra):
  """The environment of a subprocess run: the tests' own, with `devices`
  forced CPU devices (the CLI adds its CPU flags itself)."""
  e = dict(os.environ)
  e["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  e["JAX_PLATFORMS"] = "cpu"
  e.update(extra)
  return e


def results(workdir):
  with open(os.path.join(workdir, "results.jsonl")) as f:
    return f.read()


def lines(workdir):
  """Records written so far (0 before results.jsonl exists)."""
  p = os.path.join(workdir, "results.jsonl")
  if not os.path.exists(p):
    return 0
  with open(p) as f:
    return f.read().count("\n")


class Finished:
  """One uninterrupted run: its workdir (read-only; copy() it to resume or
  change it), stdout and stderr."""

  def __init__(self, workdir, stdout, stderr):
    self.workdir, self.stdout, self.stderr = workdir, stdout, stderr

  def results(self):
    return results(self.workdir)

  def copy(self, dst):
    """A writable copy of the workdir at dst (mtimes kept); returns dst."""
    shutil.copytree(self.workdir, dst)
    for d, _, files in os.walk(dst):
      for p in [d] + [os.path.join(d, f) for f in files]:
        os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR)
    return str(dst)


class FinishedRuns:
  """{args: Finished}, each command run once, uninterrupted, in `env`.

  Shared by the processes of a parallel session (pytest -n, whose workers
  get `root` in common): the first to need a command runs it while holding
  its lock, the others wait for it and read the same workdir."""

  def __init__(self, root, env):
    self.root, self.env, self.runs = str(root), env, {}
    os.makedirs(self.root, exist_ok=True)

  def __call__(self, args):
    key = tuple(args)
    if key not in self.runs:
      name = hashlib.sha1("\0".join(key).encode()).hexdigest()[:16]
      wd = os.path.join(self.root, name)
      with open(wd + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not os.path.exists(wd + ".out"):
          self._run(args, wd)
        with open(wd + ".out") as f:
          out = f.read()
        with open(wd + ".err") as f:
          err = f.read()
      self.runs[key] = Finished(wd, out, err)
    return self.runs[key]

  def _run(self, args, wd):
    shutil.rmtree(wd, ignore_errors=True)  # a worker killed mid-run
    proc = subprocess.run(command(args, wd), env=self.env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, (args, proc.stderr[-2000:])
    # Read-only, so that no test changes what the others read.
    for d, _, files in os.walk(wd, topdown=False):
      for f in files:
        os.chmod(os.path.join(d, f), stat.S_IRUSR)
      os.chmod(d, stat.S_IRUSR | stat.S_IXUSR)
    with open(wd + ".err", "w") as f:
      f.write(proc.stderr)
    with open(wd + ".out.tmp", "w") as f:  # written last: the run is done
      f.write(proc.stdout)
    os.replace(wd + ".out.tmp", wd + ".out")

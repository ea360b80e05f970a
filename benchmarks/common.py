"""Shared helpers of the benchmark scripts (not tests: timings are noisy)."""
import os
import platform
import subprocess
import sys
import tempfile
import time

import jax

from factrecall import cli

cli.cpu_flags()  # before jax starts its backend: the flags sweeps run with


def machine():
  """One line describing the machine and JAX backend."""
  cpu = platform.processor() or platform.machine()
  return (f"{platform.node()} {cpu}, {os.cpu_count()} cores, "
          f"jax {jax.__version__}, {jax.device_count()} "
          f"{jax.devices()[0].platform} device(s), "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")


def timeit(fn, *args, repeat=20, min_time=2.0):
  """Best-of-repeat seconds per call of fn(*args) (compiled beforehand)."""
  jax.block_until_ready(fn(*args))
  best = float("inf")
  for _ in range(repeat):
    n, t0 = 0, time.perf_counter()
    while True:
      jax.block_until_ready(fn(*args))
      n += 1
      el = time.perf_counter() - t0
      if el >= min_time / repeat:
        break
    best = min(best, el / n)
  return best


def table(rows, header):
  """Prints rows as a fixed-width table."""
  rows = [header] + [[str(c) for c in r] for r in rows]
  w = [max(len(r[i]) for r in rows) for i in range(len(header))]
  print("  ".join(h.ljust(w[i]) for i, h in enumerate(rows[0])))
  print("  ".join("-" * w[i] for i in range(len(header))))
  for r in rows[1:]:
    print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Runs the command in a child and prints its exit code, wall seconds and peak
# RSS; a fresh wrapper per run makes RUSAGE_CHILDREN that run's peak alone.
# The child's stdout goes to the file named by the first argument.
_WRAPPER = ("import resource, subprocess, sys, time; t = time.time(); "
            "r = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], 'w'), "
            "stderr=subprocess.DEVNULL); "
            "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "print(r.returncode, time.time() - t, u.ru_maxrss, "
            "u.ru_utime + u.ru_stime)")
# CPU seconds (user + system) of the last run_timed command: on a shared
# machine its wall time depends on the other processes, its CPU time much
# less.
LAST_CPU = [float("nan")]


def run_timed(cmd, cwd=None):
  """cmd in a fresh process: (exit code, wall seconds, peak RSS MiB, stdout);
  its CPU seconds go to LAST_CPU[0]."""
  fd, out_path = tempfile.mkstemp(prefix="bench_out_")
  os.close(fd)
  out = subprocess.run([sys.executable, "-c", _WRAPPER, out_path] + list(cmd),
                       capture_output=True, text=True, check=True, cwd=cwd)
  rc, wall, kib, cpu = out.stdout.split()
  LAST_CPU[0] = float(cpu)
  with open(out_path) as f:
    text = f.read()
  os.remove(out_path)
  return int(rc), float(wall), float(kib) / 1024, text


def run_sweep(args, prefix, workdir=None):
  """experiments/sweep.py ARGS in a fresh process and a fresh workdir (or
  `workdir`, which resumes what it holds).

  Returns (exit code, wall seconds, peak RSS in MiB, workdir)."""
  wd = workdir or tempfile.mkdtemp(prefix=prefix)
  cmd = [sys.executable, os.path.join(ROOT, "experiments", "sweep.py")] + list(
      args) + ["--workdir", wd]
  rc, wall, mib, _ = run_timed(cmd)
  return rc, wall, mib, wd

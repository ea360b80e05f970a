"""Two processes x 4 CPU devices (jax.distributed on loopback) give the same
results as one process with 8 devices."""
import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np

from factrecall import cli, models, sweep, tasks, train

WORKER = r"""
import json, os, sys
pid, port = int(sys.argv[1]), sys.argv[2]
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}",
                           num_processes=2, process_id=pid)
sys.path.insert(0, sys.argv[3])
from tests.test_multiprocess import group
res = group()
if jax.process_index() == 0:
  print(json.dumps([[r["status"], r["steps"], r["curves"]] for r in res]))
"""


def group():
  s = models.TransformerShape(d=8, H=2, d_h=4, m=8)
  hps = [dict(tasks.task_values(k, k, 4), lr=np.float32(lr), seed=np.uint32(1))
         for k in (3, 5, 7) for lr in (3e-3, 1e-2)]
  setup = train.Setup(s, tasks.shape_for(hps, 8), batch=64, chunk=16)
  return sweep.run_group(setup, hps, sweep.StopRule(max_steps=64, target=0.99))


def _port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_equal_one():
  assert jax.device_count() == 8
  one = [[r["status"], r["steps"], r["curves"]] for r in group()]
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=" ".join(cli.CPU_FLAGS) +
             " --xla_force_host_platform_device_count=4")
  port = str(_port())
  procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(i), port, root],
                            env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  outs = [p.communicate(timeout=300) for p in procs]
  for p, (o, e) in zip(procs, outs):
    assert p.returncode == 0, e[-2000:]
  two = json.loads(outs[0][0].strip().splitlines()[-1])
  assert two == json.loads(json.dumps(one))

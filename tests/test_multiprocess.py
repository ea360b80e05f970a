"""Two processes x 4 CPU devices (jax.distributed on loopback) give the same
results as one process with 8 devices, also when interrupted and resumed
from an in-flight checkpoint."""
import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np

from factrecall import cli, engine, models, tasks, train

WORKER = r"""
import json, os, sys
pid, port = int(sys.argv[1]), sys.argv[2]
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}",
                           num_processes=2, process_id=pid)
sys.path.insert(0, sys.argv[3])
from tests.test_multiprocess import group, Interrupt
ckpt = sys.argv[4] if len(sys.argv) > 4 else None
resumed = None
if ckpt:
  # Stop both processes after the third chunk (a checkpoint is written after
  # every chunk), then run the same group again: it must resume from the
  # file process 0 wrote, every process restoring it.
  try:
    group(ckpt=ckpt, stop_after=3)
  except Interrupt:
    pass
  resumed = os.path.exists(ckpt)
res = group(ckpt=ckpt)
if jax.process_index() == 0:
  print(json.dumps(dict(resumed=resumed, ckpt_left=bool(ckpt) and
                        os.path.exists(ckpt),
                        res=[[r["status"], r["steps"], r["curves"]]
                             for r in res])))
"""


class Interrupt(Exception):
  pass


def group(ckpt=None, stop_after=None):
  s = models.TransformerShape(d=8, H=2, d_h=4, m=8)
  hps = [dict(tasks.task_values(k, k, 4), lr=np.float32(lr), seed=np.uint32(1))
         for k in (3, 5, 7) for lr in (3e-3, 1e-2)]
  setup = train.Setup(s, tasks.shape_for(hps, 8), batch=64, chunk=16)
  chunks = []

  def on_chunk(g, live):
    chunks.append(len(live))
    if stop_after and len(chunks) >= stop_after:
      raise Interrupt()

  return engine.run_group(setup, hps, engine.StopRule(max_steps=64, target=0.99),
                          ckpt=ckpt, ckpt_every=0.0, on_chunk=on_chunk)


def _port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _two_processes(*args):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=" ".join(cli.CPU_FLAGS) +
             " --xla_force_host_platform_device_count=4")
  port = str(_port())
  procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(i), port, root]
                            + list(args), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  outs = [p.communicate(timeout=300) for p in procs]
  for p, (o, e) in zip(procs, outs):
    assert p.returncode == 0, e[-2000:]
  return json.loads(outs[0][0].strip().splitlines()[-1])


def test_two_processes_equal_one():
  assert jax.device_count() == 8
  one = [[r["status"], r["steps"], r["curves"]] for r in group()]
  two = _two_processes()
  assert two["res"] == json.loads(json.dumps(one))


def test_two_processes_resume_from_a_checkpoint(tmp_path):
  one = [[r["status"], r["steps"], r["curves"]] for r in group()]
  two = _two_processes(str(tmp_path / "inflight.npz"))
  assert two["resumed"]          # the interrupted run left its checkpoint
  assert not two["ckpt_left"]    # and the finished one removed it
  assert two["res"] == json.loads(json.dumps(one))

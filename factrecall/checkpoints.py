"""Trained members saved for later analyses: params (.npz) + metadata (.json).

A member's frozen embeddings E, U and fact table are not stored: they are
recomputed exactly by `train.init(setup, hp)` from the saved setup and
hyperparameters (the seed is inside hp). `train_models` trains a few one-layer
transformers of several sizes on one task and saves them (resumable: a model
whose checkpoint and record exist is loaded, not retrained).
"""
import dataclasses
import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from factrecall import engine
from factrecall import models
from factrecall import output
from factrecall import tasks
from factrecall import train

# dtype of each hyperparameter value (see tasks.task_values, capacity.member_hp)
HP_DTYPES = dict(S=np.int32, R=np.int32, D=np.int32, n_noise=np.int32,
                 alpha=np.float32, beta=np.float32, structured=np.bool_,
                 lr=np.float32, seed=np.uint32)


@dataclasses.dataclass
class Member:
  """A trained member: static setup, dynamic hp, params and its record."""
  setup: train.Setup
  hp: dict
  params: dict
  info: dict

  @property
  def shape(self):
    return self.setup.model

  def state(self):
    """train.init's deterministic state (E, U, table, eval_key, ...)."""
    return _init(self.setup)(self.hp)


@functools.lru_cache(maxsize=None)
def _init(setup):
  return jax.jit(functools.partial(train.init, setup))


def _hp_json(hp):
  return {k: (bool(v) if isinstance(v, (bool, np.bool_)) else
              int(v) if np.issubdtype(np.asarray(v).dtype, np.integer) else
              float(v)) for k, v in hp.items()}


def _hp_from_json(d):
  return {k: HP_DTYPES.get(k, np.float32)(v) for k, v in d.items()}


def _flat(tree, prefix=""):
  """{"a/b": array} of a nested dict of arrays (learned members' params
  nest the network's under "net" beside E and U)."""
  out = {}
  for k, v in tree.items():
    if isinstance(v, dict):
      out.update(_flat(v, f"{prefix}{k}/"))
    else:
      out[prefix + k] = np.asarray(v)
  return out


def _nested(flat):
  out = {}
  for k, v in flat.items():
    *path, leaf = k.split("/")
    d = out
    for p in path:
      d = d.setdefault(p, {})
    d[leaf] = v
  return out


def save(base, setup, hp, params, info=None):
  """Writes base.npz (params, nested keys joined by "/") then base.json
  (setup, hp, info) atomically."""
  if not isinstance(setup.model, (models.TransformerShape,
                                  models.ActTransformerShape)):
    raise ValueError("only one-layer transformer members are supported")
  os.makedirs(os.path.dirname(os.path.abspath(base)), exist_ok=True)
  arrays = _flat(params)
  tmp = base + ".tmp.npz"
  np.savez(tmp, **arrays)
  os.replace(tmp, base + ".npz")
  meta = dict(model=dataclasses.asdict(setup.model),
              task=dataclasses.asdict(setup.task),
              setup={f.name: getattr(setup, f.name)
                     for f in dataclasses.fields(setup)
                     if f.name not in ("model", "task")},
              hp=_hp_json(hp), info=info or {})
  output.atomic_write(base + ".json", output.dumps(meta) + "\n")


def load(base):
  """The Member saved at base (.npz + .json)."""
  with open(base + ".json") as f:
    meta = json.load(f)
  shape_cls = (models.ActTransformerShape if "act" in meta["model"]
               else models.TransformerShape)
  setup = train.Setup(model=shape_cls(**meta["model"]),
                      task=tasks.TaskShape(**meta["task"]), **meta["setup"])
  with np.load(base + ".npz") as z:
    params = _nested({k: jnp.asarray(z[k]) for k in z.files})
  return Member(setup, _hp_from_json(meta["hp"]), params, meta["info"])


def exists(base):
  return os.path.exists(base + ".json") and os.path.exists(base + ".npz")


def model_record(name, member, result):
  """The results.jsonl record of one trained model."""
  shape, hp = member.setup.model, member.hp
  return dict(
      kind="model", key=name, shape=shape.name(), d=shape.d, H=shape.H,
      d_h=shape.d_h, m=shape.m, params=models.param_count(shape),
      S=int(hp["S"]), R=int(hp["R"]), D=int(hp["D"]),
      facts=int(hp["S"]) * int(hp["R"]), seed=int(hp["seed"]),
      lr=float(hp["lr"]), accuracy=result["accuracy"], steps=result["steps"],
      status=result["status"])


def train_models(cfg, wd, progress=None):
  """Trains (or reloads) one model per cfg.models entry (d, H, d_h, m) on the
  task cfg.task, saving each under wd.checkpoints/models/. Returns a list of
  (name, Member, record); records of newly trained models are appended to
  results.jsonl."""
  done = {r["key"]: r for r in wd.records() if r.get("kind") == "model"}
  t, tr = cfg.task, cfg.train
  tv = tasks.task_values(t.S, t.R, t.D, t.n_noise)
  out = []
  for i, (d, H, d_h, m) in enumerate(cfg.models):
    shape = models.TransformerShape(d=int(d), H=int(H), d_h=int(d_h), m=int(m))
    act = cfg.get("act", "relu")  # an MLP activation other than the paper's
    if act != "relu":
      shape = models.ActTransformerShape(shape.d, shape.H, shape.d_h, shape.m,
                                         act)
    seed = cfg.seed + i
    name = f"{shape.name()}_S{t.S}_R{t.R}_D{t.D}_s{seed}"
    base = os.path.join(wd.checkpoints, "models", name)
    if name in done and exists(base):
      out.append((name, load(base), done[name]))
      if progress is not None:
        progress.update(tr.max_steps, note=f"{name} (resumed)")
      continue
    hp = dict(tv, lr=np.float32(tr.lr), seed=np.uint32(seed))
    setup = train.Setup(model=shape, task=tasks.shape_for([hp], t.T, pad=False),
                        batch=tr.batch, chunk=tr.chunk)
    rule = engine.StopRule(max_steps=tr.max_steps, target=tr.target)
    ckpt = engine.checkpoint_path(wd.checkpoints, name)
    # every process gets the path: all restore it and take part in saving
    res = engine.run_group(setup, [hp], rule, keep_params=True, ckpt=ckpt,
                           progress=progress)[0]
    member = Member(setup, hp, res["params"], {})
    rec = model_record(name, member, res)
    member.info = rec
    if wd.is_writer:
      save(base, setup, hp, res["params"], rec)
      wd.append([rec])
    if progress is not None:
      progress.update(max(0, tr.max_steps - res["steps"]))
    out.append((name, member, rec))
  return out


# ------------------------------------------------------ activations


@functools.lru_cache(maxsize=None)
def _hidden_fn(shape):
  model = train.build_model(shape)

  @jax.jit
  def f(params, tok, E, eos):
    return model.apply({"params": params}, tok, E, eos, method="hidden")
  return f


def activations(member, tok, state=None, chunk=4096):
  """(h, hidden) at EOS for token rows tok (N, T), as numpy arrays."""
  st = state if state is not None else member.state()
  f = _hidden_fn(member.setup.model)
  eos = tasks.eos_id(member.hp)
  hs, ks = [], []
  for i in range(0, tok.shape[0], chunk):
    h, k = f(member.params, jnp.asarray(tok[i:i + chunk]), st["E"], eos)
    hs.append(np.asarray(h))
    ks.append(np.asarray(k))
  return np.concatenate(hs), np.concatenate(ks)


@functools.lru_cache(maxsize=None)
def _eval_fn(task_shape):
  from factrecall import rng  # pylint: disable=g-import-not-at-top

  @jax.jit
  def f(eval_key, key_id, hp, table):
    return tasks.eval_set(rng.fold(eval_key, key_id), hp, table, task_shape)
  return f


def fact_prompts(member, state, key_id):
  """Every real (s, r) pair once with fresh noise/positions drawn from
  key_id: (tok, s, r, y) as numpy arrays (padding removed)."""
  tok, s, r, y, mask = _eval_fn(member.setup.task)(
      state["eval_key"], np.uint32(key_id), member.hp, state["table"])
  keep = np.asarray(mask)
  return tuple(np.asarray(a)[keep] for a in (tok, s, r, y))


def noise_prompts(member, key_id, n):
  """n prompts of T-1 noise tokens + EOS (no subject, no relation)."""
  hp, T = member.hp, member.setup.task.T
  u = np.asarray(_uniform_fn(n, T)(np.uint32(int(hp["seed"]) + 7919),
                                   np.uint32(key_id)))
  base = int(hp["S"]) + int(hp["R"])
  tok = base + np.minimum((u * int(hp["n_noise"])).astype(np.int64),
                          int(hp["n_noise"]) - 1)
  tok[:, -1] = tasks.eos_id(hp)
  return tok.astype(np.int32)


@functools.lru_cache(maxsize=None)
def _uniform_fn(n, T):
  from factrecall import rng  # pylint: disable=g-import-not-at-top
  return jax.jit(lambda seed, key_id: rng.uniform(
      rng.fold(rng.key(seed), key_id), (n, T)))


def token_keys(member, state=None, tokens=None):
  """(h, hidden) of single tokens: the attention output when the EOS query
  attends to token v alone, h_v = concat_h(E_v V_h) O, and the MLP's hidden
  vector relu(h_v W1 + b1). Default tokens: every non-EOS token."""
  st = state if state is not None else member.state()
  p = {k: np.asarray(v, np.float64) for k, v in member.params.items()}
  if tokens is None:
    tokens = np.arange(tasks.eos_id(member.hp))
  E = np.asarray(st["E"], np.float64)[tokens]
  heads = np.einsum("vd,hdk->vhk", E, p["V"]).reshape(len(tokens), -1)
  h = heads @ p["O"]
  return h, np.maximum(h @ p["W1"] + p["b1"], 0.0)

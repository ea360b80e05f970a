"""The engine every trained member runs through: groups of equal-shape
members as one vmapped, sharded program.

`run_group` trains a list of members that share a setup (a jit cache key)
under `jax.vmap` in one jitted chunk function of a `Program` (the
transformer's by default; the associative memories bring their own), the
ensemble axis sharded over every device. Between chunks the host loop
decides who is finished (target reached, stalled, diverged, budget spent,
or no longer needed by the caller), repacks the live members into fewer
blocks, checkpoints the group, and drives the progress bar. Every member's
numbers are independent of the others in its group.
"""
import copy
import dataclasses
import functools
import hashlib
import json
import math
import os
import time
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from factrecall import output
from factrecall import train


# How success is judged (the accuracy metric of train.METRICS each reads):
#   all_pairs: every (s, r) pair once; success when that accuracy >= target
#     at an evaluation (the member stops there, so it is the last one).
#   paper: the original code's rule: a fixed test set drawn before training;
#     success when its accuracy >= target at some evaluation (with 1024
#     samples and target 0.99 this is exactly the original's "> 0.99":
#     0.99 * 1024 is not an integer; target 1.0 is its trade-off's "== 1");
#     the reported accuracy is the maximum over evaluations.
PROTOCOLS = ("all_pairs", "paper")
_PROTOCOL_METRIC = {"all_pairs": "accuracy", "paper": "fixed_accuracy"}


@dataclasses.dataclass(frozen=True, eq=False)
class Program:
  """What the members of a group run, for any model and task.

  init(setup, hp) -> a member's state (a pytree with "params");
  chunk(setup, state, hp, active) -> (state after setup.chunk steps, or the
  same state if not active; the evaluation after them, one value per name
  in `metrics`);
  accuracy: {protocol: the metric its success is judged on};
  finite: the metrics (losses) whose NaN or inf means "diverged";
  idle: optional, what chunk returns for an inactive member without
  computing it (then padded blocks cost nothing);
  shared: init, chunk and idle take one more argument, a tree of arrays
  every member of the group reads (run_group's `shared`, replicated on
  every device, neither copied per member nor checkpointed: e.g. large
  fixed tables rebuilt from a seed);
  member_bytes(setup) -> (state, work): rough bytes one member holds
  between chunks, and the extra bytes while its chunk runs (the shared
  arrays not included): the one estimate the memory guards and `split`
  read (see group_bytes).
  """
  init: object
  chunk: object
  metrics: tuple
  accuracy: dict
  finite: tuple
  idle: object = None
  shared: bool = False
  member_bytes: object = None


TRANSFORMER = Program(train.init, train.run_chunk, train.METRICS,
                      _PROTOCOL_METRIC, ("train_loss", "loss"),
                      idle=train.idle_chunk, member_bytes=train.member_bytes)


def group_bytes(program, setup, n, width=None, n_dev=None):
  """Rough peak bytes of a group of n members in one process: every
  member's state, and the working memory of the members computing at once
  (each of the process's devices runs one block of `width` members at a
  time)."""
  state, work = program.member_bytes(setup)
  at_once = (width or default_width()) * (n_dev or jax.local_device_count())
  return n * state + min(n, at_once) * work


def split(members, program, setup, memory_gib, width=None, n_dev=None):
  """members cut, in order, into as few groups as fit memory_gib GiB (one
  member per group at least)."""
  cap, budget = 1, memory_gib * 2 ** 30
  while cap < len(members) and group_bytes(program, setup, cap + 1, width,
                                           n_dev) <= budget:
    cap += 1
  return [members[i:i + cap] for i in range(0, len(members), cap)]


@dataclasses.dataclass
class StopRule:
  """When a member stops. patience=0 disables the stall rule.

  protocols: the success rules judged on every member (PROTOCOLS); a member
  trains until each of them is decided (success, or failed / stalled at the
  budget), and its top-level status is that of protocols[0].
  give_up_window, give_up_margin, give_up_loss_drop, give_up_loss_window,
  give_up_trend_loss, give_up_trend_window, give_up_trend_margin: see
  `gives_up` (give_up_window 0 = off; give_up_trend_loss 0 = no trend test).
  """
  max_steps: int = 2 ** 14
  target: float = 0.99
  patience: int = 0      # evaluations without improvement before "stalled"
  min_delta: float = 1e-3
  protocols: tuple = ("all_pairs",)
  give_up_window: int = 0
  give_up_margin: float = 1.0
  give_up_loss_drop: float = 0.0
  give_up_loss_window: int = 0  # 0 = give_up_window
  give_up_trend_loss: float = 0.0
  give_up_trend_window: int = 1024
  give_up_trend_margin: float = 2.0

  def __post_init__(self):
    self.protocols = tuple(self.protocols)
    bad = [p for p in self.protocols if p not in PROTOCOLS]
    if bad or not self.protocols or len(set(self.protocols)) < len(
        self.protocols):
      raise ValueError(f"protocols must be distinct names from {PROTOCOLS}, "
                       f"got {self.protocols}")


def mesh(devices=None):
  """A 1-D mesh over the ensemble axis (all devices by default)."""
  return Mesh(np.array(devices if devices is not None else jax.devices()),
              ("ens",))


def bucket(n, n_dev, width=1):
  """Ensemble size for n live members: n_dev * width * {1, 2, 3, 4, 6, 8, ...}."""
  n_dev = n_dev * width
  per = -(-n // n_dev)
  b = 1
  while b < per:
    b = b * 3 // 2 if b >= 2 and (b & (b - 1)) == 0 else (
        b * 4 // 3 if b >= 3 else b + 1)
  return b * n_dev


def default_width():
  """Members vmapped together per device: 1 on CPU, where batching members
  gains little and a fixed program per member keeps results bit-identical
  across device counts; 32 on accelerators."""
  return 1 if jax.devices()[0].platform == "cpu" else 32


def blocked(f, width, idle=None, n_shared=0):
  """f over a leading ensemble axis as lax.map over blocks of vmap(f, width).

  The per-member program depends only on width, so a member's numbers do not
  depend on how many members or devices share the call.

  idle: optional; then the last argument of f is a member's `active` flag,
  and a block whose members are all inactive (the padding of a last block)
  returns vmap(idle)(*args) instead of computing f: a padded slot costs
  nothing, so its core is free for the other devices' blocks.
  n_shared: the last n_shared arguments have no ensemble axis; every member
  sees them whole (the flag is then the last argument before them).
  """
  def g(*args):
    if n_shared:
      args, shared = args[:-n_shared], args[-n_shared:]
      member = lambda *a: f(*a, *shared)
      rest = idle and (lambda *a: idle(*a, *shared))
    else:
      member, rest = f, idle
    n = jax.tree_util.tree_leaves(args)[0].shape[0]
    split = lambda a: a.reshape((n // width, width) + a.shape[1:])
    if rest is None:
      body = lambda xs: jax.vmap(member)(*xs)
    else:
      body = lambda xs: jax.lax.cond(jnp.any(xs[-1]), jax.vmap(member),
                                     jax.vmap(rest), *xs)
    out = jax.lax.map(body, jax.tree_util.tree_map(split, args))
    return jax.tree_util.tree_map(
        lambda a: a.reshape((n,) + a.shape[2:]), out)
  return g


def ensemble_jit(f, n_args, msh, width, donate_argnums=(), idle=None,
                 n_shared=0):
  """jit of f over a leading ensemble axis of its n_args arguments, sharded
  over msh's devices, each device running `blocked(f, width, idle)` on its
  shard; n_shared more arguments follow, replicated on every device.

  Every member runs the same per-member program whatever the number of
  devices or members (jit(vmap(f)) over a sharded ensemble would compile a
  program per local ensemble size, and XLA:CPU's kernels round differently
  for different sizes).
  """
  spec = tuple([P("ens")] * n_args + [P()] * n_shared)
  return jax.jit(jax.shard_map(blocked(f, width, idle, n_shared), mesh=msh,
                               in_specs=spec, out_specs=P("ens"),
                               check_vma=False),
                 donate_argnums=donate_argnums)


@functools.lru_cache(maxsize=None)
def _compiled(setup, msh, width, program=TRANSFORMER):
  """jitted (init, chunk) over the ensemble, sharded over msh's devices."""
  # No buffer donation: the state before a chunk must survive an interrupt
  # so that it can be checkpointed.
  idle = program.idle and functools.partial(program.idle, setup)
  sh = int(program.shared)
  return (ensemble_jit(functools.partial(program.init, setup), 1, msh, width,
                       n_shared=sh),
          ensemble_jit(functools.partial(program.chunk, setup), 3, msh,
                       width, idle=idle, n_shared=sh))


def release_compiled():
  """Drops compiled groups (call when a model shape is finished: a sweep
  over many shapes would otherwise keep every executable in memory)."""
  _compiled.cache_clear()
  jax.clear_caches()


def stack_hps(hps):
  return {k: np.stack([np.asarray(h[k]) for h in hps]) for k in hps[0]}


def put_global(tree, sharding):
  """Host arrays (the same on every process) -> global arrays on the mesh.

  Each process fills only its addressable shards, so this works unchanged
  with several processes (jax.distributed)."""
  def one(a):
    a = np.asarray(a)
    return jax.make_array_from_callback(a.shape, sharding, lambda i: a[i])
  return jax.tree_util.tree_map(one, tree)


def fetch(a):
  """A global array as one numpy array on every process."""
  if getattr(a, "is_fully_addressable", True):
    return np.asarray(a)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return np.asarray(multihost_utils.process_allgather(a, tiled=True))


def to_host(tree):
  return jax.tree_util.tree_map(fetch, tree)


def agree(flag):
  """Process 0's value of a host-side decision, on every process.

  A decision that leads into a collective (saving a checkpoint gathers every
  process's shards) must be taken alike everywhere; wall-clock tests such as
  "30 s since the last checkpoint" are not. One process: flag itself."""
  if jax.process_count() == 1:
    return bool(flag)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return bool(multihost_utils.broadcast_one_to_all(np.int32(bool(flag))))


class Group:
  """Host-side bookkeeping of one group run (what a checkpoint holds).

  status[i]: None while member i trains, then its final status (that of the
  rule's first protocol); outcome[i][p]: each protocol's own decision
  {"status", "steps", "accuracy"} (None until decided)."""

  def __init__(self, n, protocols=("all_pairs",), chunk=128,
               program=TRANSFORMER):
    self.metrics = list(program.metrics)
    self.accuracy = {p: program.accuracy[p] for p in protocols}
    self.finite = list(program.finite)
    self.status = [None] * n
    self.curves = [[] for _ in range(n)]
    self.best = [-1.0] * n
    self.since_best = [0] * n
    self.steps = [0] * n
    self.params = [None] * n
    self.protocols = tuple(protocols)
    self.chunk = chunk
    self.outcome = [{p: None for p in protocols} for _ in range(n)]
    self.best_p = [{p: -1.0 for p in protocols} for _ in range(n)]
    self.since_p = [{p: 0 for p in protocols} for _ in range(n)]


def run_group(setup, hps, rule, *, program=TRANSFORMER, needed=None,
              wait=None, ckpt=None, progress=None, step_cost=1,
              ckpt_every=30.0, keep_params=False, on_chunk=None, devices=None,
              width=None, shared=None):
  """Trains members hps (list of dicts of scalars) sharing `setup`, each
  running `program`.

  Members run in blocks of (devices x width) members, each block one call of
  a single compiled program (one member per device and vmap lane); the live
  members are packed into as few blocks as they fill, so members finishing
  never change the program (no recompiles) and a member's numbers do not
  depend on which others share its block.

  needed(group) -> iterable of member indices still worth training (others
  are marked "skipped", started or not); wait(group) -> the members not
  started yet that should not start yet, in the order they may (see
  `admit`: they still start while the blocks have idle slots); ckpt: path
  for an in-flight checkpoint (resumed if
  present, removed at the end). With several processes every process gets
  the same path (a filesystem they share): all of them restore it, all take
  part in gathering the states to save, and process 0 alone writes it.
  Returns a list of dicts with status and
  accuracy (of rule.protocols[0]), best_accuracy, steps, outcomes (per
  protocol: status, steps and reported accuracy when it was decided),
  curves (per chunk, a dict of the program's metrics' lists) and, with
  keep_params, the final params.
  on_chunk(group, live) is called after each chunk's decisions (live: the
  members that ran it), before progress is credited step_cost per
  member-step of the chunk. shared: the tree a program with shared=True
  reads (the same for every member; a checkpoint does not hold it).
  """
  n = len(hps)
  msh = mesh(devices)
  width = width or default_width()
  blk = _Blocks(setup, hps, msh, width, program, shared)
  g, live = None, None
  writer = jax.process_index() == 0
  saved = None
  if ckpt and os.path.exists(ckpt):
    saved = _load_ckpt(ckpt, hps, setup, rule.protocols, program,
                       blk.member_template())
  if ckpt and agree(saved is not None) != (saved is not None):
    raise RuntimeError(f"{ckpt}: process {jax.process_index()} sees another "
                       "checkpoint than process 0; the workdir must be on a "
                       "filesystem every process shares")
  if saved is not None:
    g, live, states = saved
    blk.restore(live, states)
  if g is None:
    g = Group(n, rule.protocols, setup.chunk, program)
    live = admit(g, [], wait, blk.size)
    blk.start(live)
  last_ckpt = time.time()
  if ckpt:
    INFLIGHT[:] = [ckpt]
  while True:
    new = admit(g, live, wait, blk.size)
    if len(new) > len(live):
      blk.add(live, new)
    live = new
    if not live:
      break
    snapshot = (copy.deepcopy(g), list(live), blk.ids, blk.states)
    try:
      if output.INTERRUPTS:  # a Ctrl-C that Python swallowed (see cli.entry)
        raise KeyboardInterrupt
      rows = blk.chunk()
      record_chunk(g, live, rows, rule, needed)
      if on_chunk is not None:
        on_chunk(g, live)
      if progress is not None:
        progress.update(step_cost * setup.chunk * len(live),
                        note=f"{sum(s is not None for s in g.status)}/{n} done")
      new_live = [i for i in live if not g.status[i]]
      if len(new_live) < len(live):
        host = blk.host_states()
        if keep_params:
          for i in live:
            if g.status[i]:
              g.params[i] = host[i]["params"]
        blk.restore(new_live, {i: host[i] for i in new_live})
      live = new_live
      if ckpt and live and agree(time.time() - last_ckpt > ckpt_every):
        states = blk.host_states()  # a collective: every process takes part
        if writer:
          _save_ckpt(ckpt, hps, setup, g, live, states)
        last_ckpt = time.time()
    except KeyboardInterrupt:
      # One process's Ctrl-C cannot gather the others' shards: with several
      # processes the last periodic checkpoint is what resumes.
      if ckpt and jax.process_count() == 1:
        _save_ckpt(ckpt, hps, setup, snapshot[0], snapshot[1],
                   blk.host_states(*snapshot[2:]))
        INTERRUPT_SAVED.append(ckpt)
      raise
  if ckpt and writer and os.path.exists(ckpt):
    os.remove(ckpt)
  INFLIGHT[:] = []
  return _results(g, n)


class _Blocks:
  """The live members' states, packed in blocks of `size` members; block b
  holds members ids[b] (padded with a copy of its first member, inactive)."""

  def __init__(self, setup, hps, msh, width, program=TRANSFORMER,
               shared=None):
    self.hps = hps
    self.size = msh.devices.size * width
    self.shard = NamedSharding(msh, P("ens"))
    self.init_fn, self.chunk_fn = _compiled(setup, msh, width, program)
    self.extra = (put_global(shared, NamedSharding(msh, P())),) if (
        program.shared) else ()
    self.ids, self.states = [], []

  def _pack(self, live):
    self.ids = [live[i:i + self.size] for i in range(0, len(live), self.size)]

  def _padded(self, ids):
    return ids + [ids[0]] * (self.size - len(ids))

  def _put(self, tree):
    return put_global(tree, self.shard)

  def start(self, live):
    self._pack(live)
    self.states = [self.init_fn(self._put(stack_hps(
        [self.hps[i] for i in self._padded(ids)])), *self.extra)
                   for ids in self.ids]

  def add(self, live, new):
    """Packs members `new` (a superset of `live`, in order): the live
    ones keep their states, the others start from their initial states."""
    host = self.host_states()
    fresh = [i for i in new if i not in set(live)]
    for b in range(0, len(fresh), self.size):
      ids = fresh[b:b + self.size]
      st = to_host(self.init_fn(self._put(stack_hps(
          [self.hps[i] for i in self._padded(ids)])), *self.extra))
      for j, i in enumerate(ids):
        host[i] = jax.tree_util.tree_map(lambda a, j=j: a[j], st)
    self.restore(new, host)

  def member_template(self):
    """{"state", "params"}: (treedef, [(shape, dtype) per leaf]) of one
    member's state and of its params (a checkpoint must match them)."""
    hp = stack_hps([self.hps[0]] * self.size)
    out = jax.eval_shape(self.init_fn, hp, *self.extra)
    def spec(tree):
      leaves, treedef = jax.tree_util.tree_flatten(tree)
      return treedef, [(tuple(a.shape[1:]), np.dtype(a.dtype)) for a in leaves]
    return {"state": spec(out), "params": spec(out["params"])}

  def restore(self, live, host):
    """Packs members `live` from their host states {member: state}."""
    self._pack(live)
    self.states = [self._put(jax.tree_util.tree_map(
        lambda *a: np.stack(a), *[host[i] for i in self._padded(ids)]))
                   for ids in self.ids]

  def chunk(self):
    """One chunk of every live member; their evaluation rows, in order."""
    outs = []
    for ids, st in zip(self.ids, self.states):  # dispatched asynchronously
      hp = self._put(stack_hps([self.hps[i] for i in self._padded(ids)]))
      act = self._put(np.arange(self.size) < len(ids))
      outs.append(self.chunk_fn(st, hp, act, *self.extra))
    self.states = [st for st, _ in outs]
    rows = []
    for ids, (_, m) in zip(self.ids, outs):
      rows += list(fetch(m)[:len(ids)])
    return rows

  def host_states(self, ids=None, states=None):
    """{member: its state as host arrays} (of the current blocks, or of
    blocks `ids` with `states` saved before)."""
    out = {}
    for ids, st in zip(self.ids if ids is None else ids,
                       self.states if states is None else states):
      host = to_host(st)
      for j, i in enumerate(ids):
        out[i] = jax.tree_util.tree_map(lambda a, j=j: a[j], host)
    return out


def record_chunk(g, live, rows, rule, needed=None):
  """The host's bookkeeping after a chunk: rows[j] (g.metrics) is the
  evaluation of member live[j]; judges every protocol, then skips the
  members `needed` no longer wants (also those not started yet). (Replaying
  recorded curves through this and `admit` gives the decisions a run would
  have made.)"""
  for j, i in enumerate(live):
    g.curves[i].append(np.asarray(rows[j]).tolist())
    g.steps[i] += g.chunk
    _judge(g, i, np.asarray(rows[j]), rule)
  if needed is not None:
    want = set(needed(g))
    for i in range(len(g.status)):
      if not g.status[i] and i not in want:
        _decide_rest(g, i, "skipped")


def admit(g, live, wait=None, size=1):
  """The members that train the next chunk, in order: the undecided ones
  of `live`, and of those not started yet (undecided, not live, no steps)
  the ones wait(g) does not hold back, then held ones in wait's order while
  fewer than `size` (the slots of a block: devices x width) would train, so
  holding a member back never leaves a slot idle that it could fill."""
  live = [i for i in live if not g.status[i]]
  running = set(live)
  todo = [i for i in range(len(g.status))
          if not g.status[i] and i not in running and not g.steps[i]]
  if wait is None:
    return sorted(live + todo)
  pending = set(todo)
  held = [i for i in wait(g) if i in pending]
  start = sorted(pending - set(held))
  room = max(0, size - len(live) - len(start))
  return sorted(live + start + held[:room])


def gives_up(best, best_loss, chunk, rule):
  """Whether a member stops as "stalled" now. best, best_loss: its best
  accuracy and lowest evaluation loss so far after each evaluation (one per
  chunk steps).

  Over the last give_up_window steps the best accuracy rose by `gain`; at
  that rate the rest of the way to the target would take gap / gain *
  window steps. Only when that exceeds give_up_margin times the steps left
  in its budget (or it gained nothing) may the member give up, and then it
  does if either loss test says its loss is not about to carry it there:
  - its lowest loss fell by less than the fraction give_up_loss_drop over
    the last give_up_loss_window steps (a member whose accuracy waits on
    its last facts while its loss still falls is often learning them);
  - (the trend test, if give_up_trend_loss > 0) falling at its geometric
    rate of the last give_up_trend_window steps for give_up_trend_margin
    times the steps left, its lowest loss would still end above
    give_up_trend_loss: a clear failure, which the first test can only see
    after its whole window."""
  w = rule.give_up_window // chunk
  if not w or len(best) <= w:
    return False
  left = rule.max_steps - len(best) * chunk
  gap = rule.target - best[-1]
  gain = best[-1] - best[-1 - w]
  if gap <= 0 or left <= 0:
    return False
  if gain > 0 and gap / gain * rule.give_up_window <= rule.give_up_margin * left:
    return False
  wl = (rule.give_up_loss_window or rule.give_up_window) // chunk
  if len(best) > wl:
    then = best_loss[-1 - wl]
    if not then > 0 or best_loss[-1] > (1 - rule.give_up_loss_drop) * then:
      return True
  wt = rule.give_up_trend_window // chunk
  if not rule.give_up_trend_loss or not wt or len(best) <= wt:
    return False
  now, then = best_loss[-1], best_loss[-1 - wt]
  if not now > 0:
    return False
  rate = (math.log(then) - math.log(now)) / rule.give_up_trend_window
  return (math.log(now) - rule.give_up_trend_margin * rate * left >
          math.log(rule.give_up_trend_loss))


def _judge(g, i, row, rule):
  """Decides member i's undecided protocols after an evaluation (row of
  g.metrics); the member is finished once every protocol is decided."""
  finite = bool(np.all(np.isfinite([row[g.metrics.index(k)]
                                    for k in g.finite])))
  for p in rule.protocols:
    if g.outcome[i][p] is not None:
      continue
    acc = float(row[g.metrics.index(g.accuracy[p])])
    if acc > g.best_p[i][p] + rule.min_delta:
      g.best_p[i][p], g.since_p[i][p] = acc, 0
    else:
      g.best_p[i][p] = max(g.best_p[i][p], acc)
      g.since_p[i][p] += 1
    status = None
    if not finite:
      status = "diverged"
    elif acc >= rule.target:
      status = "success"
    elif g.steps[i] >= rule.max_steps:
      status = "failed"
    elif rule.patience and g.since_p[i][p] >= rule.patience:
      status = "stalled"
    elif rule.give_up_window and gives_up(*_best_curves(g, i, p), g.chunk,
                                          rule):
      status = "stalled"
    if status:
      g.outcome[i][p] = dict(status=status, steps=g.steps[i],
                             accuracy=_reported(g, i, p))
  acc0 = float(row[g.metrics.index(g.accuracy[rule.protocols[0]])])
  g.best[i] = max(g.best[i], acc0)
  if all(o is not None for o in g.outcome[i].values()):
    g.status[i] = g.outcome[i][rule.protocols[0]]["status"]


def _best_curves(g, i, p):
  """Member i's best accuracy under protocol p and lowest evaluation loss
  after each evaluation so far."""
  acc = g.metrics.index(g.accuracy[p])
  loss = g.metrics.index("loss")
  rows = np.array(g.curves[i])
  return (np.maximum.accumulate(rows[:, acc]).tolist(),
          np.minimum.accumulate(rows[:, loss]).tolist())


def _reported(g, i, p):
  """A protocol's reported accuracy: the last evaluation's all-pairs
  accuracy, or the maximum fixed-set accuracy so far (the original's)."""
  col = g.metrics.index(g.accuracy[p])
  if p == "paper":
    return float(max(r[col] for r in g.curves[i]))
  return float(g.curves[i][-1][col])


def _decide_rest(g, i, status):
  """Member i stops now: its undecided protocols get `status`."""
  for p, o in g.outcome[i].items():
    if o is None:
      g.outcome[i][p] = dict(status=status, steps=g.steps[i],
                             accuracy=_reported(g, i, p) if g.curves[i]
                             else float("nan"))
  g.status[i] = g.outcome[i][g.protocols[0]]["status"]


def _results(g, n):
  out = []
  for i in range(n):
    c = np.array(g.curves[i]) if g.curves[i] else np.zeros((0, len(g.metrics)))
    first = g.outcome[i][g.protocols[0]]
    out.append(dict(
        status=g.status[i],
        accuracy=first["accuracy"] if first else float("nan"),
        best_accuracy=float(g.best[i]),
        steps=int(g.steps[i]),
        outcomes={p: dict(o) for p, o in g.outcome[i].items()},
        curves={k: c[:, j].tolist() for j, k in enumerate(g.metrics)},
        params=g.params[i]))
  return out


# In-flight checkpoints: one .npz holding the group's bookkeeping as JSON
# ("meta") and every array of the live members' states (and of the params
# kept for finished members) by name. No pickles: after a code change a
# checkpoint either matches the new code's group (format, setup, a digest of
# the members' hyperparameters, protocols and metrics) and state structure
# exactly (leaf count, shapes, dtypes), or it is ignored and the group
# starts afresh.
_CKPT_FORMAT = 2
# Checkpoints written because of an interrupt, and the checkpoint of the
# group in flight (what the CLI tells the user after a Ctrl-C).
INTERRUPT_SAVED = []
INFLIGHT = []


def checkpoint_path(directory, name):
  """Where the group `name` is checkpointed in flight under directory (a
  workdir's checkpoints/); None when directory is None (no checkpoint)."""
  if directory is None:
    return None
  return os.path.join(directory, f"inflight_{name}.npz")


def _hps_digest(hps):
  """sha256 of the members' hyperparameters (names, dtypes and values)."""
  h = hashlib.sha256()
  for hp in hps:
    for k in sorted(hp):
      a = np.asarray(hp[k])
      h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
      h.update(a.tobytes())
  return h.hexdigest()


def _save_ckpt(path, hps, setup, g, live, states):
  """states: {member: host state} of the live members."""
  book = {k: v for k, v in vars(g).items() if k != "params"}
  kept = [i for i, p in enumerate(g.params) if p is not None]
  meta = dict(format=_CKPT_FORMAT, n=len(hps), hps=_hps_digest(hps),
              setup=repr(setup), live=list(live), group=book, kept=kept)
  arrays = {}
  for tag, trees in (("s", states), ("p", {i: g.params[i] for i in kept})):
    for i, tree in trees.items():
      for j, a in enumerate(jax.tree_util.tree_leaves(tree)):
        arrays[f"{tag}{i}_{j}"] = np.asarray(a)
  arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
  tmp = path + ".tmp"
  with open(tmp, "wb") as f:
    np.savez(f, **arrays)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def _load_ckpt(path, hps, setup, protocols, program, template):
  """(group, live, {member: host state}) from a checkpoint of this group
  (same members, setup, protocols and metrics) whose arrays match `template`
  (the state structure: (treedef, [(shape, dtype)]) of the state and of its
  params); None for anything else (another group, an older format or code,
  a truncated file)."""
  try:
    with np.load(path, allow_pickle=False) as z:
      meta = json.loads(bytes(z["meta"]).decode())
      n = len(hps)
      g = Group(n, protocols, setup.chunk, program)
      if (meta.get("format") != _CKPT_FORMAT or meta["n"] != n or
          meta["hps"] != _hps_digest(hps) or meta["setup"] != repr(setup) or
          set(meta["group"]) != set(vars(g)) - {"params"} or any(
              meta["group"][k] != getattr(g, k)
              for k in ("metrics", "accuracy", "finite")) or
          tuple(meta["group"]["protocols"]) != tuple(protocols)):
        return None
      for k, v in meta["group"].items():
        setattr(g, k, v)
      g.protocols = tuple(g.protocols)

      def tree(tag, i, which):
        treedef, specs = template[which]
        leaves = [z[f"{tag}{i}_{j}"] for j in range(len(specs))]
        if f"{tag}{i}_{len(specs)}" in z.files or any(
            a.shape != sh or a.dtype != dt
            for a, (sh, dt) in zip(leaves, specs)):
          raise ValueError("state structure changed")
        return jax.tree_util.tree_unflatten(treedef, leaves)

      live = list(meta["live"])
      states = {i: tree("s", i, "state") for i in live}
      for i in meta["kept"]:
        g.params[i] = tree("p", i, "params")
      return g, live, states
  except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
    return None

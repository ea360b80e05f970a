"""Online training of one member, as pure functions that vmap over an ensemble.

A member = static `Setup` (shapes: model, padded task, batch, optimiser kind)
+ dynamic hyperparameters `hp` (learning rate, seed, task values). Its whole
run is `train(setup, hp, ...)`; sweeps drive the same `run_chunk` from the
host so they can report progress, checkpoint and drop finished members.
"""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax

from factrecall import models
from factrecall import rng
from factrecall import tasks

# Per-evaluation metrics. All but the last two are over every (s, r) pair
# once; fixed_* are over the member's fixed test set (Setup.fixed_eval
# sequences drawn once, before training, as the original code evaluates).
METRICS = ("train_loss", "loss", "accuracy", "rel_loss", "subj_loss",
           "halluc", "kl_rel", "fixed_loss", "fixed_accuracy")


@dataclasses.dataclass(frozen=True)
class Setup:
  """Everything static about a group of members (a jit cache key)."""
  model: object          # a hashable model shape, e.g. models.TransformerShape
  task: tasks.TaskShape
  batch: int = 1024
  chunk: int = 128       # steps between evaluations
  optimizer: str = "adam"  # "adam" (AdamW, weight decay 0) or "sgd"
  # "gaussian" (frozen, N(0, 1/d)), "onehot" (frozen) or "learned" (the
  # gaussian draw as the start of trained E and U: params = {"net": the
  # model's, "E": E, "U": U})
  embeddings: str = "gaussian"
  eval_chunk: int = 4096  # evaluation pairs per forward pass
  method: str = "fast"   # "fast" or "reference" (the per-example model)
  fixed_eval: int = 1024  # sequences of the fixed test set (i.i.d. samples)


def member_bytes(setup):
  """(state, work): rough bytes one member of `setup` holds between chunks
  (parameters with Adam's two moments, E and U, the fact table) and the
  peak extra bytes while its chunk runs: a gradient, the all-pairs
  evaluation set, the fixed test set, and the activations of a training
  batch and of one evaluation chunk of each set (a sequence's: its tokens
  and token counts over the vocabulary, the heads' numerators and
  denominators, the residual stream, the MLP's hidden units, the logits
  and the sampler's draws). engine.TRANSFORMER's estimate; a test holds it
  at or above XLA's own count, and within 3x of it."""
  ts, mo = setup.task, setup.model
  d, learned = mo.d, setup.embeddings == "learned"
  emb = (ts.vocab * d if setup.embeddings == "onehot" else  # U = None
         models.embedding_count(ts.vocab, ts.n_out, d))
  trained = mo.params + (emb if learned else 0)
  state = (3 if setup.optimizer == "adam" else 1) * trained + emb + ts.n_pairs
  heads = getattr(mo, "H", 0) * (getattr(mo, "d_h", 0) + 1)
  seq = (ts.T + ts.vocab + 2 * heads + 2 * d + 2 * getattr(mo, "m", 0) +
         3 * ts.n_out)
  ec = setup.eval_chunk
  work = (trained + ts.n_pairs * (ts.T + 5) + setup.fixed_eval * (ts.T + 1) +
          (min(ec, ts.n_pairs) + min(ec, setup.fixed_eval)) * seq +
          setup.batch * (seq + 6 * ts.T))
  return 4 * state, 4 * work


def init_params(shape, key):
  if isinstance(shape, models.TransformerShape):
    return models.init_params(shape, key)
  return shape.init_params(key)


def build_model(shape):
  if isinstance(shape, models.TransformerShape):
    return models.OneLayerTransformer(shape.d, shape.H, shape.d_h, shape.m)
  return shape.build()


def _optimizer(kind):
  if kind == "adam":
    return optax.scale_by_adam()
  if kind == "sgd":
    return optax.identity()
  raise ValueError(f"optimizer must be 'adam' or 'sgd', got {kind!r}")


def _keys(hp):
  # (rng.split's first keys do not depend on how many are split)
  return rng.split(rng.key(hp["seed"]), 6)


def initial_embeddings(setup, hp):
  """A member's (E, U) at the start of training (the frozen ones throughout,
  unless setup.embeddings is "learned")."""
  ts = setup.task
  d = setup.model.d
  if setup.embeddings in ("gaussian", "learned"):
    return models.gaussian_embeddings(_keys(hp)[0], ts.vocab, ts.n_out, d)
  return models.onehot_embeddings(ts.vocab, ts.n_out, d)


def init(setup, hp):
  """Initial state of one member from its hyperparameters (seed inside hp)."""
  _, k_tab, k_par, k_data, k_eval, k_fixed = _keys(hp)
  E, U = initial_embeddings(setup, hp)
  table = tasks.fact_table(k_tab, hp, setup.task)
  params = init_params(setup.model, k_par)
  if setup.embeddings == "learned":
    params = {"net": params, "E": E, "U": U}
  opt = _optimizer(setup.optimizer).init(params)
  return dict(params=params, opt=opt, E=E, U=U, table=table, key=k_data,
              eval_key=k_eval, fixed_key=k_fixed,
              step=jnp.zeros((), jnp.int32))


def logits_fn(setup, params, tok, state, hp):
  model = build_model(setup.model)
  E, U = state["E"], state["U"]
  if setup.embeddings == "learned":
    E, U, params = params["E"], params["U"], params["net"]
  logits = model.apply({"params": params}, tok, E, U,
                       tasks.eos_id(hp),
                       method=None if setup.method == "fast" else setup.method)
  active = jnp.arange(setup.task.n_out) < hp["D"] * hp["R"]
  return jnp.where(active, logits, models.NEG)


def _pick(logits, y):
  """logits[b, y[b]] as a masked sum (a gather is slow under vmap on CPU)."""
  return jnp.sum(jnp.where(jnp.arange(logits.shape[-1]) == y[:, None],
                           logits, 0.0), -1)


def _xent(logits, y):
  return jax.nn.logsumexp(logits, -1) - _pick(logits, y)


def metrics_of(logits, r, y, D, mask):
  """Eval metrics of logits on pairs (loss, accuracy and the dynamics' relation-
  and subject-only losses); mask marks real pairs."""
  n_out = logits.shape[-1]
  c = jnp.arange(n_out)[None, :]
  lse = jax.nn.logsumexp(logits, -1)
  in_rel = (c // D) == r[:, None]
  same_idx = ((c % D) == (y[:, None] % D)) & (logits > models.NEG / 2)
  masked_lse = lambda sel: jax.nn.logsumexp(jnp.where(sel, logits, -jnp.inf), -1)
  logp = logits - lse[:, None]
  pred = jnp.argmax(logits, -1)
  w = mask.astype(jnp.float32)
  mean = lambda v: jnp.sum(v * w) / jnp.maximum(jnp.sum(w), 1.0)
  kl = -jnp.log(D.astype(jnp.float32)) - jnp.sum(
      jnp.where(in_rel, logp, 0.0), -1) / D
  return dict(
      loss=mean(lse - _pick(logits, y)),
      accuracy=mean(pred == y),
      rel_loss=mean(lse - masked_lse(in_rel)),
      subj_loss=mean(lse - masked_lse(same_idx)),
      halluc=mean(((pred // D) == r) & (pred != y)),
      kl_rel=mean(kl))


def fixed_set(setup, state, hp):
  """The member's fixed test set: setup.fixed_eval i.i.d. sequences from the
  task distribution (tokens, targets), the same at every evaluation: the
  original code draws one such set before training and evaluates it every
  128 steps. With N = S*R facts, about exp(-fixed_eval / N) of the facts are
  never tested by it."""
  tok, _, _, y = tasks.sample_batch(state["fixed_key"], hp, state["table"],
                                    setup.task, setup.fixed_eval)
  return tok, y


def evaluate_fixed(setup, params, state, hp):
  """(loss, accuracy) on the fixed test set, in chunks of setup.eval_chunk."""
  tok, y = fixed_set(setup, state, hp)
  c = min(setup.eval_chunk, setup.fixed_eval)
  k = -(-setup.fixed_eval // c)
  pad = k * c - setup.fixed_eval
  if pad:
    tok = jnp.concatenate([tok, jnp.repeat(tok[:1], pad, 0)])
    y = jnp.concatenate([y, jnp.repeat(y[:1], pad, 0)])
  w = (jnp.arange(k * c) < setup.fixed_eval).astype(jnp.float32)

  def part(args):
    t, yy, ww = args
    lg = logits_fn(setup, params, t, state, hp)
    hit = (jnp.argmax(lg, -1) == yy).astype(jnp.float32)
    return jnp.sum(_xent(lg, yy) * ww), jnp.sum(hit * ww)

  split = lambda a: a.reshape((k, c) + a.shape[1:])
  xent, hits = jax.lax.map(part, (split(tok), split(y), split(w)))
  n = jnp.float32(setup.fixed_eval)
  return jnp.sum(xent) / n, jnp.sum(hits) / n


def evaluate(setup, params, state, hp):
  """Metrics over every (s, r) pair once, in chunks of setup.eval_chunk,
  and on the fixed test set (fixed_loss, fixed_accuracy)."""
  tok, s, r, y, mask = tasks.eval_set(state["eval_key"], hp, state["table"],
                                      setup.task)
  n = tok.shape[0]
  c = min(setup.eval_chunk, n)
  pad = (-n) % c
  padf = lambda a: jnp.concatenate([a, jnp.repeat(a[:1], pad, 0)]) if pad else a
  tok, r, y = padf(tok), padf(r), padf(y)
  mask = jnp.concatenate([mask, jnp.zeros((pad,), bool)]) if pad else mask

  def part(args):
    t, rr, yy, mm = args
    lg = logits_fn(setup, params, t, state, hp)
    m = metrics_of(lg, rr, yy, hp["D"], mm)
    wsum = jnp.sum(mm.astype(jnp.float32))
    return jax.tree_util.tree_map(lambda v: v * wsum, m), wsum

  k = (n + pad) // c
  split = lambda a: a.reshape((k, c) + a.shape[1:])
  sums, ws = jax.lax.map(part, (split(tok), split(r), split(y), split(mask)))
  total = jnp.maximum(jnp.sum(ws), 1.0)
  out = jax.tree_util.tree_map(lambda v: jnp.sum(v) / total, sums)
  out["fixed_loss"], out["fixed_accuracy"] = evaluate_fixed(setup, params,
                                                            state, hp)
  return out


def loss_fn(params, setup, state, hp, tok, y):
  return jnp.mean(_xent(logits_fn(setup, params, tok, state, hp), y))


def train_step(setup, state, hp, carry, cdfs=None):
  """One online step on a fresh batch: carry = (params, opt_state, key) ->
  (new carry, training loss). cdfs: tasks.zipf_cdfs (hoist them out of loops)."""
  params, opt_state, key = carry
  key, kb = rng.fold(key, 0), rng.fold(key, 1)
  tok, _, _, y = tasks.sample_batch(kb, hp, state["table"], setup.task,
                                    setup.batch, cdfs)
  loss, grads = jax.value_and_grad(loss_fn)(params, setup, state, hp, tok, y)
  upd, opt_state = _optimizer(setup.optimizer).update(grads, opt_state, params)
  params = jax.tree_util.tree_map(lambda p, u: p - hp["lr"] * u, params, upd)
  return (params, opt_state, key), loss


def run_steps(setup, state, hp, n):
  """n training steps (lax.scan); returns the new carry and the losses."""
  cdfs = tasks.zipf_cdfs(hp, setup.task)
  return jax.lax.scan(
      lambda c, _: train_step(setup, state, hp, c, cdfs),
      (state["params"], state["opt"], state["key"]), None, length=n)


def run_chunk(setup, state, hp, active):
  """setup.chunk training steps (if active) followed by an evaluation.

  Returns the new state and a vector of METRICS. An inactive member's state is
  returned unchanged (its computation is masked out).
  """
  (params, opt_state, key), losses = run_steps(setup, state, hp, setup.chunk)
  new = dict(state, params=params, opt=opt_state, key=key,
             step=state["step"] + setup.chunk)
  new = jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), new, state)
  m = evaluate(setup, new["params"], new, hp)
  m["train_loss"] = jnp.mean(losses)
  return new, jnp.stack([m[k] for k in METRICS])


def idle_chunk(setup, state, hp, active):
  """What run_chunk returns for an inactive member, without computing it:
  the state unchanged and NaN metrics (a padded slot's, never read)."""
  del setup, hp, active
  return state, jnp.full((len(METRICS),), jnp.nan, jnp.float32)


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def train(setup, hp, max_steps=2 ** 14, target=0.99):
  """A whole run as one pure function: chunks until accuracy >= target.

  Returns (final state, curves (max_steps // chunk, len(METRICS)) with NaN
  after the stop). vmap it over hp for an ensemble.
  """
  n = max_steps // setup.chunk
  acc_i = METRICS.index("accuracy")

  def body(carry):
    i, state, curves, done = carry
    state, m = run_chunk(setup, state, hp, jnp.logical_not(done))
    curves = curves.at[i].set(jnp.where(done, jnp.nan, m))
    done = done | (m[acc_i] >= target) | ~jnp.isfinite(m[0])
    return i + 1, state, curves, done

  state = init(setup, hp)
  curves = jnp.full((n, len(METRICS)), jnp.nan)
  _, state, curves, _ = jax.lax.while_loop(
      lambda c: (c[0] < n) & ~c[3], body,
      (0, state, curves, jnp.zeros((), bool)))
  return state, curves

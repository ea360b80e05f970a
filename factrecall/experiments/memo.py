"""MeMo: language models made of correlation-matrix memories (Zanzotto et
al. 2025).

Three verbs on a memory: `memorize` (C += K^T V for a batch of (context,
next-token) pairs), `retrieve` (argmax over the vocabulary of (k C) E^T, in
vocabulary chunks so a 100,000-symbol vocabulary fits in memory) and `forget`
(C -= K^T V, which removes a text exactly up to float rounding).

Two memories share the verbs:
  SingleLayer: key = concatenation of the context's last h token vectors
    (each of size d_h), value = output vector of the next token (size d).
  MultiLayer: h heads, l layers; layer i reads non-overlapping blocks of h
    items, its key is the block's items projected by its own W_V[i]
    (d -> d/h) and concatenated / sqrt(h), its encoding is Prj[i] (h*d -> d)
    of the block. The keys of the last block of every layer go to one shared
    memory C (d x d). A text stores, at layer i, only the windows that lie
    inside it (h^(i+1) tokens); a query sums the keys of every layer, with
    zeros before the text (as the authors' code pads).

The experiment runners (`run_capacity`, `run_decoys`) are at the end.
"""
import dataclasses
import fractions
import functools
import math
import re
import time

import jax
import jax.numpy as jnp
import numpy as np

from factrecall import bits
from factrecall import checks
from factrecall import engine
from factrecall import output
from factrecall import progress
from factrecall import stats

# ----------------------------------------------------------------------------
# Memories.


@functools.partial(jax.tree_util.register_dataclass,
                   data_fields=["emb_in", "emb_out", "C_NxD", "h", "d_h"],
                   meta_fields=["chunk"])
@dataclasses.dataclass(frozen=True)
class SingleLayer:
  """One correlation matrix from h*d_h-dim sequence keys to d-dim values.

  emb_in (V x W) holds token vectors; a token's d_h-dim vector is its first
  d_h entries * sqrt(W / d_h) (so several d_h can share one Gaussian table).
  h and d_h may be traced values (vmapping members of equal h*d_h).
  """
  emb_in: jax.Array   # V x W input token vectors, W >= d_h
  emb_out: jax.Array  # V x D output token vectors
  C_NxD: jax.Array    # the memory, N >= h * d_h (zero-padded beyond)
  h: object           # tokens per key
  d_h: object         # size of a token's input vector
  chunk: int = 8192   # vocabulary rows scored at once


@functools.partial(jax.tree_util.register_dataclass,
                   data_fields=["emb", "W_V", "Prj", "C_DxD", "layers"],
                   meta_fields=["max_layers", "chunk"])
@dataclasses.dataclass(frozen=True)
class MultiLayer:
  """h heads, up to max_layers layers, one shared output memory C (d x d).

  `layers` (the active layer count, may be traced) masks the sum of keys, so
  memories with 1..max_layers layers vmap together. Every layer has its own
  projections, as in the authors' code (one MeMoLayer each).
  """
  emb: jax.Array      # V x D token vectors (input and output)
  W_V: jax.Array      # L x D x D/h JL projection of items into key slots
  Prj: jax.Array      # (L-1) x h*D x D block encoders (layer i -> i + 1)
  C_DxD: jax.Array    # the shared memory
  layers: object      # active layers, 1 <= layers <= max_layers
  max_layers: int = 1
  chunk: int = 8192


def gaussian_table(key, vocab, dim):
  """Token vectors N(0, 1/dim); row t depends only on (key, t, its prefix).

  Rows are drawn one by one from fold_in(key, t) so the first k entries of a
  wider table equal those of a narrower one (tables can be shared). They are
  drawn in blocks of rows into a host array: drawing all at once held ~6x
  the table in random bits (236 MB for a 41 MB table).
  """
  out = np.empty((vocab, dim), np.float32)
  step = max(1, min(vocab, (1 << 22) // max(dim, 1)))
  for a in range(0, vocab, step):
    b = min(vocab, a + step)
    out[a:b] = np.asarray(_gaussian_rows(key, a, b - a, dim))
  return jnp.asarray(out / np.float32(math.sqrt(dim)))


@functools.partial(jax.jit, static_argnums=(2, 3))
def _gaussian_rows(key, start, n, dim):
  row = lambda t: jax.random.normal(jax.random.fold_in(key, t), (dim,))
  return jax.vmap(row)(start + jnp.arange(n))


def single_layer(key, vocab, h, d_h, d, chunk=8192):
  """A single-layer memory on Gaussian token vectors, with an empty C."""
  k_in, k_out = jax.random.split(key)
  return SingleLayer(gaussian_table(k_in, vocab, d_h),
                     gaussian_table(k_out, vocab, d),
                     jnp.zeros((h * d_h, d)), h, d_h, chunk)


def multi_layer(key, vocab, h, d, layers, max_layers=None, chunk=8192,
                with_prj=True):
  """A Gaussian multi-layer memory: JL W_V[i] and Prj[i] keep unit norms.

  Layer i's projections are drawn from fold_in(key, i), so memories with
  different max_layers share their first layers. with_prj=False leaves Prj
  empty (key_tables then draws its blocks one at a time: prj_key).
  """
  if d % h:
    raise ValueError(f"d={d} must be a multiple of h={h}")
  L = max_layers or layers
  k_e, k_v, k_p = jax.random.split(key, 3)
  W_V = jnp.stack([_normal(jax.random.fold_in(k_v, i), d, d // h)
                   for i in range(L)]) * math.sqrt(h / d)
  Prj = _prj(k_p, L - 1, h, d) if with_prj else jnp.zeros((L - 1, 0, 0))
  return MultiLayer(gaussian_table(k_e, vocab, d), W_V, Prj,
                    jnp.zeros((d, d)), layers, L, chunk)


def prj_key(key):
  """The key of multi_layer(key, ...)'s Prj blocks (see _prj_block)."""
  return jax.random.split(key, 3)[2]


@functools.partial(jax.jit, static_argnums=(1, 2))
def _normal(key, rows, cols):
  return jax.random.normal(key, (rows, cols))


def _prj_block_value(key, b, h, d):
  """Block b = i * h + j (rows j*d .. (j+1)*d of Prj[i]): N(0, 1/(h d))."""
  return jax.random.normal(jax.random.fold_in(key, b), (d, d)) / math.sqrt(
      h * d)


_prj_block = jax.jit(_prj_block_value, static_argnums=(2, 3))


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _prj(key, n, h, d):
  """n block encoders (h*d x d), written d x d block by block in place:
  drawing a whole one at once holds several copies of it in random bits
  (~0.5 GB at d = 2048)."""
  def block(b, P_NxHDxD):
    return jax.lax.dynamic_update_slice(
        P_NxHDxD, _prj_block_value(key, b, h, d)[None],
        (b // h, (b % h) * d, 0))
  return jax.lax.fori_loop(0, n * h, block, jnp.zeros((n, h * d, d)))


def _rows(table, ids):
  """Rows of a table; id -1 (no token, before the text) gives zeros."""
  ok = (ids >= 0)[..., None]
  return jnp.where(ok, table[jnp.clip(ids, 0, table.shape[0] - 1)], 0.0)


def _single_keys(mem, ctx_BxT):
  """Key of each context: its last h token vectors concatenated (B x N)."""
  T = ctx_BxT.shape[1]
  N = mem.C_NxD.shape[0]
  W = mem.emb_in.shape[1]
  m_N = jnp.arange(N)
  slot_N, off_N = m_N // mem.d_h, m_N % mem.d_h
  pos_N = T - mem.h + slot_N          # position in the context
  valid_N = (slot_N < mem.h) & (pos_N >= 0)
  tok_BxN = jnp.where(valid_N, ctx_BxT[:, jnp.clip(pos_N, 0, T - 1)], -1)
  safe_BxN = jnp.clip(tok_BxN, 0, mem.emb_in.shape[0] - 1)
  x_BxN = mem.emb_in[safe_BxN, off_N[None, :]]
  scale = jnp.sqrt(W / mem.d_h)
  return jnp.where(tok_BxN >= 0, x_BxN * scale, 0.0)


def _shift(x_BxTxK, s):
  """x delayed by s positions along T (zeros enter): item p <- item p - s."""
  T = x_BxTxK.shape[1]
  if s >= T:
    return jnp.zeros_like(x_BxTxK)
  return jnp.pad(x_BxTxK, ((0, 0), (s, 0), (0, 0)))[:, :T]


def _heads(mem):
  return mem.C_DxD.shape[0] // mem.W_V.shape[2]


def layer_keys(mem, text_BxT):
  """Per-layer keys (last block of layer i) at every position: [B x T x D].

  Position p's layer-i block is the h items ending at p spaced h^i apart,
  i.e. the non-overlapping blocks of a window aligned to end at p; items
  before the text are zeros. Computed as dilated shifts of whole texts: one
  Prj per position and layer.
  """
  D = mem.C_DxD.shape[0]
  h = _heads(mem)
  x_BxTxD = _rows(mem.emb, text_BxT)
  out = []
  for i in range(mem.max_layers):
    dil = h ** i
    v_BxTxK = x_BxTxD @ mem.W_V[i]
    out.append(jnp.concatenate(
        [_shift(v_BxTxK, (h - 1 - j) * dil) for j in range(h)], -1)
               / math.sqrt(h))
    if i + 1 < mem.max_layers:
      prj_HxDxD = mem.Prj[i].reshape(h, D, D)
      x_BxTxD = sum(_shift(x_BxTxD @ prj_HxDxD[j], (h - 1 - j) * dil)
                    for j in range(h))
  return out


def key_tables(mem, key=None):
  """The keys' linear maps from tokens, per layer i and offset o < h^i: a
  list of lists of V x D/h tables.

  Every layer's encoding is linear in the tokens of its window, so the item
  that enters layer i's key slots at position q is
  sum_{o < h^i} T[i][o][tok[q - o]], with T[i][o] = E @ Prj[0]_{j_0} ...
  Prj[i-1]_{j_(i-1)} @ W_V[i] where o's base-h digits are o_k = h - 1 - j_k
  (Prj[k]_j: rows j*d .. (j+1)*d of Prj[k]). `table_layer_keys` then needs
  gathers and sums, no per-position Prj: a text's keys cost one V x d x d/h
  matmul per offset, once per memory, instead of h d^2 per position and
  layer. Tables are built offset by offset (lists, not one stacked array)
  so that building them holds little more than the tables; with `key`
  (prj_key of the memory's key) the Prj blocks are drawn one at a time
  instead of read from mem.Prj, which may then be empty.
  """
  D = mem.C_DxD.shape[0]
  h = _heads(mem)
  tables = []
  for i in range(mem.max_layers):
    parts = [mem.W_V[i]]  # products for the digits above place k, by value
    for k in reversed(range(i)):
      blocks = [mem.Prj[k, j * D:(j + 1) * D] if key is None else
                _prj_block(key, k * h + j, h, D) for j in range(h)]
      # new index = o_k + h * (old index): digit k below the ones in parts
      parts = [blocks[h - 1 - o_k] @ B for B in parts for o_k in range(h)]
    tables.append([mem.emb @ B for B in parts])
  return tables


def table_layer_keys(mem, tables, text_BxT):
  """layer_keys(mem, text) computed from key_tables(mem): same keys up to
  float rounding (tests check it)."""
  h = _heads(mem)
  B, T = text_BxT.shape
  out = []
  for i, per_offset in enumerate(tables):
    y_BxTxK = 0.0
    for o, T_VxK in enumerate(per_offset):
      tok = jnp.pad(text_BxT, ((0, 0), (o, 0)), constant_values=-1)[:, :T]
      y_BxTxK = y_BxTxK + _rows(T_VxK, tok)
    dil = h ** i
    out.append(jnp.concatenate(
        [_shift(y_BxTxK, (h - 1 - j) * dil) for j in range(h)], -1)
               / math.sqrt(h))
  return out


def stored_windows(h, layer, T):
  """Positions p < T whose layer-`layer` window (h^(layer+1) tokens ending
  at p) lies inside the text: the windows a text stores at that layer."""
  return jnp.arange(T) >= h ** (layer + 1) - 1


def _multi_text_keys(mem, text_BxT, stored=False):
  """Summed keys of the active layers at every position (B x T x D);
  stored=True keeps only each layer's windows inside the text."""
  T = text_BxT.shape[1]
  h = _heads(mem)
  total = 0.0
  for i, k_BxTxD in enumerate(layer_keys(mem, text_BxT)):
    keep = i < mem.layers
    if stored:
      keep = keep & stored_windows(h, i, T)[None, :, None]
    total = total + jnp.where(keep, k_BxTxD, 0.0)
  return total


def keys(mem, ctx_BxT):
  """The key of each context (its last position): B x N."""
  if isinstance(mem, SingleLayer):
    return _single_keys(mem, ctx_BxT)
  return _multi_text_keys(mem, ctx_BxT)[:, -1]


def _memory(mem):
  return mem.C_NxD if isinstance(mem, SingleLayer) else mem.C_DxD


def _out_table(mem):
  return mem.emb_out if isinstance(mem, SingleLayer) else mem.emb


def _with_memory(mem, C):
  if isinstance(mem, SingleLayer):
    return dataclasses.replace(mem, C_NxD=C)
  return dataclasses.replace(mem, C_DxD=C)


def store(mem, k_BxN, next_B, sign=1.0):
  """C += sign * K^T V for precomputed keys (the core of both verbs)."""
  v_BxD = _rows(_out_table(mem), next_B)
  return _with_memory(mem, _memory(mem) + sign * (k_BxN.T @ v_BxD))


def memorize(mem, ctx_BxT, next_B):
  """Stores a batch of (context, next token) pairs: C += K^T V."""
  return store(mem, keys(mem, ctx_BxT), next_B)


def forget(mem, ctx_BxT, next_B):
  """Removes pairs stored by `memorize`: C -= K^T V."""
  return store(mem, keys(mem, ctx_BxT), next_B, sign=-1.0)


def vocab_argmax(q_BxD, table_VxD, chunk=8192):
  """argmax_t q . table[t], scanning the vocabulary in chunks of rows.

  Scores for the whole vocabulary never exist at once (B x chunk at a time).
  """
  V = table_VxD.shape[0]
  chunk = min(chunk, V)
  n_chunks = -(-V // chunk)
  B = q_BxD.shape[0]

  def body(c, carry):
    best_B, arg_B = carry
    start = jnp.minimum(c * chunk, V - chunk)  # last chunk overlaps: harmless
    e_CxD = jax.lax.dynamic_slice_in_dim(table_VxD, start, chunk)
    s_BxC = q_BxD @ e_CxD.T
    m_B = s_BxC.max(-1)
    a_B = s_BxC.argmax(-1).astype(jnp.int32) + start
    upd_B = m_B > best_B
    return jnp.where(upd_B, m_B, best_B), jnp.where(upd_B, a_B, arg_B)

  init = (jnp.full((B,), -jnp.inf, q_BxD.dtype), jnp.zeros((B,), jnp.int32))
  return jax.lax.fori_loop(0, n_chunks, body, init)[1]


def predict(mem, k_BxN):
  """Next-token predictions for precomputed keys."""
  return vocab_argmax(k_BxN @ _memory(mem), _out_table(mem), mem.chunk)


def retrieve(mem, ctx_BxT):
  """Next-token prediction for a batch of contexts: argmax (k C) E^T."""
  return predict(mem, keys(mem, ctx_BxT))


def text_keys(mem, text_T, stored=False):
  """Keys of every prefix of a text (position p predicts token p + 1);
  stored=True: the keys a text stores (windows inside the text only)."""
  text_T = jnp.asarray(text_T)
  T = text_T.shape[0]
  if isinstance(mem, MultiLayer):
    return _multi_text_keys(mem, text_T[None], stored)[0]
  H = mem.h if isinstance(mem.h, int) else mem.C_NxD.shape[0]  # static bound
  idx_TxH = jnp.arange(T)[:, None] - jnp.arange(H)[::-1]
  ctx_TxH = jnp.where(idx_TxH >= 0, text_T[jnp.clip(idx_TxH, 0)], -1)
  k_TxN = _single_keys(mem, ctx_TxH)
  if stored:
    k_TxN = jnp.where((jnp.arange(T) >= mem.h - 1)[:, None], k_TxN, 0.0)
  return k_TxN


def memorize_text(mem, text_T, sign=1.0):
  """Stores every window of a text with the token after it (sign=-1
  forgets); as in the authors' code, a window must lie inside the text."""
  text_T = jnp.asarray(text_T)
  return store(mem, text_keys(mem, text_T, stored=True)[:-1], text_T[1:],
               sign)


def forget_text(mem, text_T):
  """Removes a text stored by `memorize_text`."""
  return memorize_text(mem, text_T, sign=-1.0)


def text_accuracy(mem, text_T):
  """Fraction of the text's next tokens the memory predicts, from position
  h on (the first window the text stores ends at h - 1)."""
  text_T = jnp.asarray(text_T)
  h = mem.h if isinstance(mem, SingleLayer) else _heads(mem)
  pred = predict(mem, text_keys(mem, text_T)[h - 1:-1])
  return float(jnp.mean(pred == text_T[h:]))


# ----------------------------------------------------------------------------
# A real text without downloads: Python's own documentation (stdlib).


def stdlib_texts(n_words=(3000, 20000)):
  """Two disjoint word-token texts from pydoc_data (CPython's docs).

  Returns (texts as lists of ids, vocabulary list). The tokenizer is
  word-level (lower-cased words and punctuation marks), built from the text.
  """
  from pydoc_data import topics  # pylint: disable=g-import-not-at-top
  words = []
  for name in sorted(topics.topics):
    words += re.findall(r"[a-z0-9_]+|[^\sa-z0-9_]", topics.topics[name].lower())
  texts, start = [], 0
  for n in n_words:
    texts.append(words[start:start + n])
    start += n
  vocab = sorted(set(w for t in texts for w in t))
  index = {w: i for i, w in enumerate(vocab)}
  return [np.array([index[w] for w in t], np.int32) for t in texts], vocab


def forgetting_demo(seed=0, h=4, d=512, layers=2, n_words=(3000, 20000)):
  """Store A, then B, then forget B: A's accuracy comes back exactly.

  Returns a dict of accuracies and the largest |C - C_before_B| entry.
  """
  (text_a, text_b), vocab = stdlib_texts(n_words)
  mem = multi_layer(jax.random.key(seed), len(vocab), h, d, layers)
  mem = memorize_text(mem, text_a)
  acc_a = text_accuracy(mem, text_a)
  c_before = mem.C_DxD
  mem = memorize_text(mem, text_b)
  acc_ab = text_accuracy(mem, text_a)
  acc_b = text_accuracy(mem, text_b)
  mem = forget_text(mem, text_b)
  acc_forgot = text_accuracy(mem, text_a)
  return {"vocab": len(vocab), "words_a": len(text_a), "words_b": len(text_b),
          "d": d, "h": h, "layers": layers,
          "acc_a": acc_a, "acc_a_with_b": acc_ab, "acc_b": acc_b,
          "acc_a_after_forget": acc_forgot,
          "max_abs_dC": float(jnp.max(jnp.abs(mem.C_DxD - c_before))),
          "max_abs_C": float(jnp.max(jnp.abs(c_before)))}


# ----------------------------------------------------------------------------
# Experiment 1: capacity of the single-layer memory (`--config=memo_capacity`).


def _random_batch(key, k, batch, H, vocab):
  """Batch k of random (context, next) pairs; column H-1-r from fold_in r.

  Drawing each context column from its own key makes the last h tokens the
  same for every H >= h, so points of different groups see the same data.
  """
  kk = jax.random.fold_in(key, k)
  cols = [jax.random.randint(jax.random.fold_in(kk, r), (batch,), 0, vocab)
          for r in range(H)]
  ctx_BxH = jnp.stack(cols[::-1], axis=1)
  next_B = jax.random.randint(jax.random.fold_in(kk, 1 << 20), (batch,), 0,
                              vocab)
  return ctx_BxH, next_B


def min_hits(threshold, batch):
  """The fewest right predictions among the 2 * batch scored (the first
  batch and the current one) whose score (acc_first + acc_cur) / 2 is above
  threshold, in exact arithmetic: a score that ties the threshold does not
  pass (float32 rounding of the mean decided ties, and differently in two
  fusions of one program). The threshold is taken as the decimal it is
  written as (0.7, not the binary float just below it); the authors' loop
  compares a float64 mean, which agrees with this at every tie of batch
  20 and 50."""
  exact = fractions.Fraction(repr(float(threshold)))
  return math.floor(exact * 2 * batch) + 1


def passes(hits, threshold, batch):
  """score > threshold, from the integer count of right predictions."""
  return hits >= min_hits(threshold, batch)


@dataclasses.dataclass(frozen=True)
class CapacitySetup:
  """Static part of one capacity group (a jit cache key): keys of N = the
  group's largest h*d_h (zero-padded), contexts of H = its largest h
  tokens, D-dim values; one batch of pairs stored per engine chunk."""
  batch: int
  H: int
  N: int
  D: int
  vocab: int
  vocab_chunk: int
  threshold: float
  chunk: int = 1  # batches stored between evaluations (the engine's steps)


def _capacity_memory(setup, tables, C, hp):
  return SingleLayer(tables["emb_in"], tables["emb_out"], C, hp["h"],
                     hp["d_h"], setup.vocab_chunk)


def _data_key(hp):
  return jax.random.split(jax.random.key(hp["seed"]), 3)[2]


def capacity_init(setup, hp, tables):
  """A member's state: an empty memory, the first batch's keys (scored at
  every later batch too), its batch count, and its last passing batch."""
  mem = _capacity_memory(setup, tables, jnp.zeros((setup.N, setup.D)), hp)
  ctx, nxt = _random_batch(_data_key(hp), 1, setup.batch, setup.H,
                           setup.vocab)
  return dict(params=dict(C=mem.C_NxD), k_first=keys(mem, ctx), n_first=nxt,
              k=jnp.int32(0), k_ok=jnp.int32(0), score_ok=jnp.float32(1))


def capacity_chunk(setup, state, hp, active, tables):
  """Stores batch k = state's count + 1, then scores the first and this
  batch. Metrics (CAPACITY.metrics): failed (1 once the score is not above
  the threshold: the member's capacity is reached), k_ok (the last batch
  that passed), acc_first, acc_cur, score_ok (the last passing score)."""
  k = state["k"] + 1
  mem = _capacity_memory(setup, tables, state["params"]["C"], hp)
  ctx, nxt = _random_batch(_data_key(hp), k, setup.batch, setup.H,
                           setup.vocab)
  k_BxN = keys(mem, ctx)
  mem = store(mem, k_BxN, nxt)
  pred = predict(mem, jnp.concatenate([state["k_first"], k_BxN]))
  acc_first = jnp.mean(pred[:setup.batch] == state["n_first"])
  acc_cur = jnp.mean(pred[setup.batch:] == nxt)
  score = (acc_first + acc_cur) / 2
  ok = passes(jnp.sum(pred[:setup.batch] == state["n_first"]) +
              jnp.sum(pred[setup.batch:] == nxt), setup.threshold,
              setup.batch)
  new = dict(state, params=dict(C=mem.C_NxD), k=k,
             k_ok=jnp.where(ok, k, state["k_ok"]),
             score_ok=jnp.where(ok, score, state["score_ok"]))
  new = jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), new,
                               state)
  row = jnp.stack([1.0 - ok.astype(jnp.float32),
                   new["k_ok"].astype(jnp.float32), acc_first, acc_cur,
                   new["score_ok"]]).astype(jnp.float32)
  return new, row


def capacity_member_bytes(setup):
  """(state, work): rough bytes of one member between batches (its C and
  the first batch's keys, with their updates) and while it scores a batch
  (one vocabulary chunk's scores); the shared tables are not included."""
  return (4 * (2 * setup.N * setup.D + 2 * setup.batch * setup.N),
          4 * 2 * setup.batch * setup.vocab_chunk)


# A member stores batches until its score falls to the threshold ("success"
# of the engine's rule on `failed` with target 1: the capacity is found) or
# its budget of max_batches ends (the engine's "failed": censored).
CAPACITY = engine.Program(capacity_init, capacity_chunk,
                          ("failed", "k_ok", "acc_first", "acc_cur",
                           "score_ok"), {"all_pairs": "failed"}, (),
                          shared=True, member_bytes=capacity_member_bytes)


def _capacity_group(cfg, wd, points, seed, prog):
  """Runs every point of one (N, D) shape for one seed through the engine
  (the seed's token tables shared by its members); returns records."""
  n, D = max(p[0] * p[1] for p in points), points[0][2]
  H = max(p[0] for p in points)
  W = max(p[1] for p in points)
  setup = CapacitySetup(cfg.batch, H, n, D, cfg.vocab, cfg.chunk,
                        float(cfg.threshold))
  k_in, k_out, _ = jax.random.split(jax.random.key(seed), 3)
  tables = dict(emb_in=gaussian_table(k_in, cfg.vocab, W),
                emb_out=gaussian_table(k_out, cfg.vocab, D))
  hps = [dict(h=np.int32(h), d_h=np.int32(d_h), seed=np.uint32(seed))
         for h, d_h, _ in points]
  rule = engine.StopRule(max_steps=cfg.max_batches, target=1.0)
  ckpt = engine.checkpoint_path(wd.checkpoints, f"n{n}_d{D}_s{seed}")
  res = engine.run_group(setup, hps, rule, program=CAPACITY, shared=tables,
                         ckpt=ckpt, progress=prog, step_cost=D,
                         ckpt_every=cfg.checkpoint_every)
  recs = []
  for (h, d_h, d), r in zip(points, res):
    last = {m: v[-1] for m, v in r["curves"].items()}
    failed = r["status"] == "success"
    stored = int(last["k_ok"]) * cfg.batch
    status = ("ok" if failed and stored > 0 else
              "max_batches" if not failed else "below_batch")
    af, ac = last["acc_first"], last["acc_cur"]
    s_ok, s_bad = last["score_ok"], (af + ac) / 2
    # Threshold crossing interpolated inside the failing batch.
    frac = (s_ok - cfg.threshold) / max(s_ok - s_bad, 1e-9)
    interp = stored + cfg.batch * min(max(frac, 0.0), 1.0) * (
        status != "max_batches")
    recs.append(dict(
        experiment="memo_capacity", h=h, d_h=d_h, d=d, n=h * d_h,
        params=h * d_h * d, stored=stored, stored_interp=interp,
        # the authors' count: the failing batch included (one batch when
        # the first already fails)
        stored_first_fail=stored + cfg.batch * failed,
        accuracy=(af + ac) / 2,
        acc_first=af, acc_cur=ac, steps=r["steps"],
        batch=cfg.batch, vocab=cfg.vocab, seed=seed, lr=None, status=status))
  return recs


def capacity_fit(params, stored, n_boot=1000):
  """stored = c * params (least squares through 0) and the log-log slope."""
  x, y = np.asarray(params, float), np.asarray(stored, float)

  def c_of(i):
    return float(np.sum(x[i] * y[i]) / np.sum(x[i] ** 2))

  def slope_of(i):
    lx = np.log(x[i])
    if np.ptp(lx) == 0:
      return float("nan")
    return float(np.polyfit(lx, np.log(y[i]), 1)[0])

  idx = np.arange(len(x))
  return dict(c=c_of(idx), c_ci=stats.bootstrap(c_of, len(x), n_boot),
              slope=slope_of(idx), slope_ci=stats.bootstrap(slope_of, len(x),
                                                       n_boot, 1))


def _capacity_bytes(config):
  """Rough bytes on one device of the largest `_capacity_group` run: its
  seed's token tables (every device holds them), C and the first batch's
  keys of its share of the members, and one member's score chunks."""
  pts = {(h, d_h, d) for h in config.h_list for d_h in config.d_h_list
         for d in config.d_list}
  groups = {}
  for p in pts:
    groups.setdefault((p[0] * p[1] if config.group_by == "n_d" else 0, p[2]),
                      []).append(p)
  n_dev, chunk = jax.device_count(), min(config.chunk, config.vocab)
  most = 0
  for (_, D), gp in groups.items():
    N, W = max(h * d_h for h, d_h, _ in gp), max(d_h for _, d_h, _ in gp)
    share = -(-len(gp) // n_dev)
    setup = CapacitySetup(config.batch, max(h for h, _, _ in gp), N, D,
                          config.vocab, chunk, float(config.threshold))
    most = max(most, 4 * config.vocab * (W + D) +
               engine.group_bytes(CAPACITY, setup, share, n_dev=1))
  return most


def _decoys_bytes(config):
  """Rough bytes of one (seed, d) of `_decoy_member_group` at the largest d
  (memory tables, every member's C, the first texts' queries, one chunk of
  texts' keys, the scores) or of the forgetting demo, whichever is larger."""
  h, d, L = config.h, max(config.d_list), max(config.layers_list)
  V, N, T = config.vocab, config.n_texts, config.text_len
  P = config.positions or T
  members = len(config.decoys_list) * len(config.layers_list)
  mem = V * d + L * d * d // h + (L - 1) * h * d * d
  if config.key_path == "tables":
    mem += sum(h ** i for i in range(L)) * V * d // h + h ** (L - 1) * d * d
  chunk_keys = min(config.text_chunk, N) * T * d * (3 * L + h + 2)
  scores = N * P * (d + min(config.chunk, V))
  run = 4 * (mem + members * d * d + len(config.decoys_list) * L * N * P * d
             + 2 * L * N * P * d + chunk_keys + scores + L * d * d)
  fw = tuple(config.forget_words) or (0,)  # the demo's vocabulary <= words
  d0 = min(config.d_list)
  demo = 4 * (sum(fw) * d0 + max(fw) * d0 * (h + 3 * L) + L * h * d0 * d0 +
              2 * d0 * d0)
  return max(run, demo)


def validate(config):
  """Checks across fields of both MeMo experiments (each field alone:
  configs/memo_capacity.py and configs/memo_decoys.py RULES)."""
  fail = output.UserError
  if config.experiment.endswith(":run_capacity"):
    if config.batch * config.max_batches > 2 ** 31 - 1:
      raise fail(f"batch={config.batch}, max_batches={config.max_batches}: "
                 "their product must be at most 2**31 - 1 (stored pairs are "
                 "counted in int32)")
    need = _capacity_bytes(config)
  else:
    c = config
    for d in c.d_list:
      if d % c.h:
        raise fail(f"d_list={tuple(c.d_list)}: every d must be a multiple of "
                   f"h={c.h}")
    if c.text_len <= c.h + 1:
      raise fail(f"text_len={c.text_len}: must be > h + 1 = {c.h + 1} (no "
                 "position to score)")
    if max(c.decoys_list) > 0 and c.decoy_at + 2 * c.h >= c.text_len:
      raise fail(f"decoy_at={c.decoy_at}: copies go to [decoy_at + h, "
                 f"text_len - h) = [{c.decoy_at + c.h}, {c.text_len - c.h}), "
                 "which must not be empty")
    if not set(c.gain_layers) <= set(c.layers_list):
      raise fail(f"gain_layers={tuple(c.gain_layers)}: must be in "
                 f"layers_list={tuple(c.layers_list)}")
    fw = tuple(config.forget_words)
    if len(fw) == 1:
      raise fail(f"forget_words={fw}: must be two word counts (texts A "
                 "and B), or () or a 0 for no forgetting demo")
    if fw and min(fw) > 0:
      have = sum(len(t) for t in stdlib_texts((sum(fw),))[0])
      if sum(fw) > have:
        raise fail(f"forget_words={fw}: texts A and B together must have "
                   f"at most {have} words (Python's pydoc_data docs)")
    need = _decoys_bytes(config)
  c = config
  if c.experiment.endswith(":run_capacity"):
    sizes = (f"vocab={c.vocab}, max h_list={max(c.h_list)}, max d_h_list="
             f"{max(c.d_h_list)}, max d_list={max(c.d_list)}, "
             f"{len(c.seeds)} seeds, batch={c.batch}")
  else:
    L = max(c.layers_list)
    sizes = (f"vocab={c.vocab}, h={c.h}, max d_list={max(c.d_list)}, max "
             f"layers_list={L}, key_path={c.key_path}, "
             f"{len(c.decoys_list) * len(c.layers_list)} members, n_texts="
             f"{c.n_texts}, text_len={c.text_len}, positions={c.positions}, "
             f"text_chunk={c.text_chunk}, forget_words={tuple(c.forget_words)}")
  checks.check_memory(need, c.memory_gib, sizes, "the run (on one device)")


def run_capacity(config, wd):
  """Stored pairs vs h*d_h*d for the single-layer memory."""
  from factrecall.experiments import memo_plots  # pylint: disable=g-import-not-at-top
  _mmap_large_blocks()
  pts = sorted({(h, d_h, d) for h in config.h_list for d_h in config.d_h_list
                for d in config.d_list})
  seeds = [config.seed + s for s in config.seeds]
  have = {(r["h"], r["d_h"], r["d"], r["seed"]) for r in wd.records()
          if r.get("experiment") == "memo_capacity"}
  groups = {}
  for p in pts:
    n = p[0] * p[1] if config.group_by == "n_d" else 0
    groups.setdefault((n, p[2]), []).append(p)
  todo = []
  for shape, gp in sorted(groups.items()):
    left = [p for p in gp if any(p + (s,) not in have for s in seeds)]
    if left:
      todo.append((shape, left))
  # Progress units: member-batches x d (a step's cost is ~ linear in d).
  est = lambda g, D: sum(min(config.max_batches, config.guess_c * h * d_h * D
                             / config.batch + 1) for h, d_h, _ in g)
  prog = progress.Progress(
      sum(len(seeds) * D * est(g, D) for (_, D), g in todo),
      desc="memo_capacity")
  t0 = time.time()
  for (n, D), gp in todo:
    for s in seeds:
      if all(p + (s,) in have for p in gp):
        continue
      before = prog.done
      recs = _capacity_group(config, wd, gp, s, prog)
      extra = prog.done - before - D * est(gp, D)
      if extra > 0:
        prog.add_total(extra)
      wd.append([r for r in recs if (r["h"], r["d_h"], r["d"], r["seed"])
                 not in have])
    engine.release_compiled()
  prog.close()
  recs = [r for r in wd.records() if r.get("experiment") == "memo_capacity"]
  nan2 = [float("nan")] * 2
  fits = {}
  for rule, field, ok in (("last_pass", "stored", ("ok",)),
                          ("first_fail", "stored_first_fail",
                           ("ok", "below_batch"))):
    rs = [r for r in recs if r["status"] in ok]
    fits[rule] = dict(capacity_fit(
        [r["params"] for r in rs], [r[field] for r in rs], config.n_boot)
                      if len(rs) >= 2 else dict(c=float("nan"), c_ci=nan2,
                                                slope=float("nan"),
                                                slope_ci=nan2), runs=len(rs))
  fit = fits[config.stop_rule]
  interp = [r for r in recs if r["status"] in ("ok", "below_batch")]
  fit_interp = capacity_fit([r["params"] for r in interp],
                            [r["stored_interp"] for r in interp],
                            config.n_boot) if len(interp) >= 2 else None
  stored_field = ("stored" if config.stop_rule == "last_pass"
                  else "stored_first_fail")
  if wd.is_writer:
    memo_plots.capacity_figure(recs, fit, wd.figure("memo_capacity"),
                               stored_field)
  c, c_ci = fit["c"], fit["c_ci"]
  inv = [1 / c_ci[1], 1 / c_ci[0]] if min(c_ci) > 0 else nan2
  other = "first_fail" if config.stop_rule == "last_pass" else "last_pass"
  rule_text = dict(last_pass="pairs stored before the failing batch",
                   first_fail="the failing batch counted, as the authors do")
  lo, hi = config.c_band
  claims = [
      output.claim(
          "memo_pairs_per_param",
          f"stored pairs = c * h*d_h*d with c = {c:.4g} "
          f"(= {1 / c:.3g} parameters per stored pair, CI "
          f"[{inv[0]:.3g}, {inv[1]:.3g}]) over {fit['runs']} runs; stop rule "
          f"{config.stop_rule} ({rule_text[config.stop_rule]}); with "
          f"{other}: c = {fits[other]['c']:.4g}; agrees with the authors' "
          f"constant if its CI lies in [{lo:g}, {hi:g}] x theirs",
          c, c_ci, output.interval_verdict(
              c_ci, lo * AUTHORS_PAIRS_PER_PARAM, hi * AUTHORS_PAIRS_PER_PARAM),
          **{f"c_{k}": v["c"] for k, v in fits.items()},
          **{f"c_{k}_ci": v["c_ci"] for k, v in fits.items()},
          reference=output.reference(AUTHORS_PAIRS_PER_PARAM, _AUTHORS_CAPACITY)),
      output.claim(
          "memo_capacity_slope",
          "log stored pairs vs log h*d_h*d has slope 1 (linear capacity); "
          f"stop rule {config.stop_rule} (with {other}: "
          f"{fits[other]['slope']:.3f})",
          fit["slope"], fit["slope_ci"],
          output.interval_verdict(fit["slope_ci"], *config.slope_band),
          **{f"slope_{k}": v["slope"] for k, v in fits.items()},
          reference=output.reference(AUTHORS_CAPACITY_SLOPE, _AUTHORS_CAPACITY
                                     + "; runs storing more than one batch")),
  ]
  rows = memo_bits_rows(config, recs)
  claims += bits.bits_claims(
      rows, [], config.n_boot, config.seed, config.bits_band,
      f"{len(rows)} runs, stop rule {config.stop_rule}; D = the vocabulary "
      f"of {config.vocab} symbols",
      best_what="every run that stored a batch", prefix="memo_",
      how=("from the cross-entropy of the calibrated predictor the "
           "retrieval implies (its argmax right with probability = the "
           f"threshold {config.threshold:g}, the rest spread evenly: Fano's "
           "bound), since the memory outputs an answer, not a distribution, "
           "and every stored batch scored above the threshold (the score "
           "is over the first and the current batch, not every stored pair)"),
      protocol="uniform random (context, next-token) pairs stored in one "
      "correlation matrix C (h*d_h x d, the parameters counted) until the "
      "score falls below the threshold")
  if wd.is_writer:
    bits.plot(wd.figure("bits_per_param"), {"memo_capacity": rows},
              title="MeMo: bits per parameter of C at capacity")
  return {"experiment": "memo_capacity", "claims": claims, "fit": fit,
          "bits": rows,
          "fits_by_stop_rule": fits, "fit_interpolated": fit_interp,
          "params_per_pair": 1 / c, "params_per_pair_ci": inv,
          "runs": len(recs), "runs_fitted": fit["runs"],
          "censored": sum(r["status"] == "max_batches" for r in recs),
          "seconds": time.time() - t0}


def memo_bits_rows(config, recs):
  """The capacity of every run that stored a batch, in bits: pairs stored
  (under the config's stop rule) * log2 vocab, and the information of the
  calibrated predictor its top-1 retrieval implies at the threshold
  accuracy, per parameter of C."""
  field, ok = (("stored", ("ok",)) if config.stop_rule == "last_pass" else
               ("stored_first_fail", ("ok", "below_batch")))
  ce = bits.calibrated_ce_nats(config.threshold, config.vocab)
  return [bits.row(r[field], config.vocab, r["params"], ce, h=r["h"],
                   d_h=r["d_h"], d=r["d"], seed=r["seed"])
          for r in recs if r["status"] in ok and r[field] > 0]


# The authors' single-layer results (Zanzotto et al. 2025,
# humancentricart/MeMo, Experiments/MemorizationResults.xlsx: 125 runs,
# vocabulary 100,000, batches of 1,000 pairs, d_h in 16..256, h in 2..32,
# d in 512..8192, the failing batch counted): stored pairs against
# h*d_h*d, least squares through 0, and the log-log slope.
AUTHORS_PAIRS_PER_PARAM = 0.0278
AUTHORS_CAPACITY_SLOPE = 0.995
_AUTHORS_CAPACITY = ("Zanzotto et al. 2025, the authors' results table "
                     "(MemorizationResults.xlsx, 125 runs): stored pairs = "
                     "0.0278 h*d_h*d (least squares through 0), log-log "
                     "slope 0.995")


# ----------------------------------------------------------------------------
# Experiment 2: decoys and layers (`--config=memo_decoys`), and forgetting.
#
# The authors' protocol: each iteration draws `n_texts` random texts of
# text_len + 1 tokens; in every text, `decoys` copies of that text's OWN
# h-token window at position `decoy_at` are written at positions j drawn
# once per iteration (the same j for all texts); every window of every text
# is stored at every layer; then accuracy is scored at positions
# i = h .. text_len - 2 of the first iteration's texts and of the current
# ones (left zero-padded contexts), both after storing the current texts.


def plant_decoys(texts_NxT, h, decoys, rng, at=5):
  """Copies of each text's own window texts[:, at:at + h] at `decoys`
  positions j drawn (with replacement) from [at + h, T - 1 - h), the same j
  for every text, written one after another (a copy may overwrite part of
  an earlier one, as in the authors' loop). Returns (texts, j)."""
  T = texts_NxT.shape[1]
  j = rng.integers(at + h, T - 1 - h, decoys)
  out = np.array(texts_NxT, copy=True)
  for s in j:
    out[:, s:s + h] = out[:, at:at + h]
  return out, j


def decoy_texts(config, seed, iteration, decoys):
  """The texts of one iteration: random tokens (the same base texts for
  every decoy count, so decoy counts are compared on paired texts) with
  their decoys planted."""
  base = np.random.default_rng([seed, iteration]).integers(
      0, config.vocab, (config.n_texts, config.text_len + 1))
  texts, _ = plant_decoys(base, config.h, decoys, np.random.default_rng(
      [seed, iteration, decoys, 1]), config.decoy_at)
  return texts.astype(np.int32)


def scored_positions(config, seed, iteration):
  """Target positions i scored per text (n_texts x P): all of h ..
  text_len - 2 (the authors'), or `positions` of them drawn per text."""
  lo, hi = config.h, config.text_len - 1
  every = np.arange(lo, hi)
  if not config.positions or config.positions >= len(every):
    return np.tile(every, (config.n_texts, 1)).astype(np.int32)
  rng = np.random.default_rng([seed, iteration, 2])
  pick = np.argsort(rng.random((config.n_texts, len(every))), axis=1)
  return np.sort(every[pick[:, :config.positions]], axis=1).astype(np.int32)


@functools.lru_cache(maxsize=None)
def _decoy_keys_fn(h, max_layers, key_path):
  """Jitted: per-layer stored outer products and scored query keys of a
  chunk of texts. Returns (D_LxDxD, q_LxNxPxD)."""

  def fn(mem, tables, texts_NxT1, pos_NxP):
    ids = texts_NxT1[:, :-1]          # the stored text (text_len tokens)
    nxt = texts_NxT1[:, 1:]           # the token after each position
    T = ids.shape[1]
    ks = (table_layer_keys(mem, tables, ids) if key_path == "tables"
          else layer_keys(mem, ids))
    v_NTxD = _rows(mem.emb, nxt).reshape(-1, mem.emb.shape[1])
    outer, queries = [], []
    for i, k_NxTxD in enumerate(ks):
      keep = stored_windows(h, i, T)[None, :, None]
      k_NTxD = jnp.where(keep, k_NxTxD, 0.0).reshape(-1, k_NxTxD.shape[-1])
      outer.append(k_NTxD.T @ v_NTxD)
      # the query that predicts token i ends at position i - 1
      queries.append(jnp.take_along_axis(k_NxTxD, pos_NxP[..., None] - 1, 1))
    return jnp.stack(outer), jnp.stack(queries)

  return jax.jit(fn)


@functools.lru_cache(maxsize=None)
def _decoy_score_fn(chunk):
  """Jitted: hits (N x P) of queries q (N x P x D) through C."""

  def fn(C_DxD, emb, q_NxPxD, target_NxP):
    N, P, D = q_NxPxD.shape
    pred = vocab_argmax(q_NxPxD.reshape(-1, D) @ C_DxD, emb, chunk)
    return pred.reshape(N, P) == target_NxP

  return jax.jit(fn)


def _decoy_member_group(config, seed, d, prog):
  """Stores n_iterations of texts for every (decoys, layers) of one (seed,
  d); returns one record per member with per-iteration accuracies."""
  h, L = config.h, max(config.layers_list)
  key = jax.random.key(seed)
  tables = None
  if config.key_path == "tables":
    # The tables hold every Prj the keys need: the memory never holds its
    # (L - 1) h d^2 Prj floats (134 MB at d = 2048).
    mem = multi_layer(key, config.vocab, h, d, L, L, config.chunk,
                      with_prj=False)
    tables = key_tables(mem, prj_key(key))
  else:
    mem = multi_layer(key, config.vocab, h, d, L, L, config.chunk)
  keys_fn = _decoy_keys_fn(h, L, config.key_path)
  score_fn = _decoy_score_fn(config.chunk)
  hits = {}   # (decoys, layers) -> per iteration: first, current (N x P)
  c = config.text_chunk
  # Decoy counts one after another: only one count's memories (one C per
  # layer count) and first-iteration queries are held at a time.
  for n in config.decoys_list:
    C = {l: jnp.zeros((d, d)) for l in config.layers_list}
    for l in config.layers_list:
      hits[(n, l)] = ([], [])
    for it in range(config.n_iterations):
      pos = scored_positions(config, seed, it)
      texts = decoy_texts(config, seed, it, n)
      outer, qs = 0.0, []
      for a in range(0, config.n_texts, c):
        o, q = keys_fn(mem, tables, jnp.asarray(texts[a:a + c]),
                       jnp.asarray(pos[a:a + c]))
        outer = outer + o
        qs.append(q)
      q_LxNxPxD = jnp.concatenate(qs, axis=1)
      del qs
      target = jnp.asarray(np.take_along_axis(texts, pos, 1))
      if it == 0:
        q_first, t_first = q_LxNxPxD, target
      for l in config.layers_list:
        C[l] = C[l] + outer[:l].sum(0)
        hits[(n, l)][0].append(np.asarray(score_fn(
            C[l], mem.emb, q_first[:l].sum(0), t_first)))
        hits[(n, l)][1].append(np.asarray(score_fn(
            C[l], mem.emb, q_LxNxPxD[:l].sum(0), target)))
      del outer, q_LxNxPxD
      prog.update(1, note=f"seed {seed} d={d} decoys {n} iteration {it + 1}")
    del C, q_first
  recs = []
  for (n, l), (hf, hc) in hits.items():
    af = [float(x.mean()) for x in hf]
    ac = [float(x.mean()) for x in hc]
    recs.append(dict(
        experiment="memo_decoys", key=f"s{seed}|d{d}|decoys{n}|layers{l}",
        decoys=n, layers=l, h=h, d=d, vocab=config.vocab, params=d * d,
        n_texts=config.n_texts, text_len=config.text_len,
        positions=int(hf[0].shape[1]), accuracy=(af[-1] + ac[-1]) / 2,
        steps=config.n_iterations, seed=seed, lr=None, status="ok",
        acc_first=af, acc_cur=ac,
        # per text, for bootstrap CIs over texts
        first_per_text=[x.mean(1).tolist() for x in hf],
        cur_per_text=[x.mean(1).tolist() for x in hc]))
  return recs


# The authors' results (Zanzotto et al. 2025, humancentricart/MeMo,
# Experiments/MemorizationResults-MEMO.xlsx): (initial + current) / 2 per
# iteration 0..9 for (d, decoys, layers), h = 4, 30 texts of 1,024 tokens
# per iteration, vocabulary of GPT-NeoX-20B (~50k). (4096, 40, 1) was run
# twice; its first run is kept.
_AUTHORS_FILE = "memo_decoys_authors.json"


def authors_scores():
  """{(d, decoys, layers): [score per iteration]} of the authors' table."""
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))), "data", _AUTHORS_FILE)
  with open(path) as f:
    raw = json.load(f)
  return {tuple(int(v) for v in k.split(",")): s
          for k, s in raw["scores"].items()}


def _score_of(r, k):
  return (r["acc_first"][k] + r["acc_cur"][k]) / 2


def _texts_boot(terms, n_boot, seed=0):
  """95% CI of the mean of terms [(fn(text indices) -> value, n_texts)]
  when the texts are resampled (the same resample for every term)."""
  if not terms:
    return [float("nan")] * 2
  return stats.bootstrap(lambda i: float(np.mean([f(i) for f, _ in terms])),
                    terms[0][1], n_boot, seed)


def _layer_gain(config, recs, d, decoys):
  """score(hi layers) - score(lo layers) at the first iteration, mean over
  seeds; CI resampling texts (paired: the same texts for both)."""
  lo, hi = config.gain_layers
  pairs = []
  for s in sorted({r["seed"] for r in recs}):
    by = {r["layers"]: r for r in recs if r["seed"] == s and r["d"] == d and
          r["decoys"] == decoys}
    a = np.array(by[hi]["first_per_text"][0])
    b = np.array(by[lo]["first_per_text"][0])
    pairs.append((lambda i, a=a, b=b: float(np.mean(a[i] - b[i])), len(a)))
  point = float(np.mean([f(np.arange(n)) for f, n in pairs]))
  return point, _texts_boot(pairs, config.n_boot)


def _falls(config, recs, d):
  """Mean over members of score(last iteration) - score(first); CI
  resampling texts. None with a single iteration."""
  K = config.n_iterations - 1
  pairs = []
  for r in recs:
    if r["d"] != d:
      continue
    f0, fK = np.array(r["first_per_text"][0]), np.array(r["first_per_text"][K])
    c0, cK = np.array(r["cur_per_text"][0]), np.array(r["cur_per_text"][K])
    pairs.append((lambda i, f0=f0, fK=fK, c0=c0, cK=cK: float(
        np.mean(fK[i] + cK[i] - f0[i] - c0[i]) / 2), len(f0)))
  point = float(np.mean([f(np.arange(n)) for f, n in pairs]))
  return point, _texts_boot(pairs, config.n_boot, 1)


def decoy_table(recs):
  """Rows (d, decoys, layers): mean over seeds of (first, current) per
  iteration."""
  rows = []
  for d, n, l in sorted({(r["d"], r["decoys"], r["layers"]) for r in recs}):
    rs = [r for r in recs if (r["d"], r["decoys"], r["layers"]) == (d, n, l)]
    rows.append(dict(d=d, decoys=n, layers=l, cells=[
        [float(np.mean([r["acc_first"][k] for r in rs])),
         float(np.mean([r["acc_cur"][k] for r in rs]))]
        for k in range(len(rs[0]["acc_first"]))]))
  return rows


def table_markdown(rows):
  K = len(rows[0]["cells"])
  out = ["| d | decoys | layers | " + " | ".join(f"it {k}" for k in range(K))
         + " |", "|---" * (K + 3) + "|"]
  for r in rows:
    out.append(f"| {r['d']} | {r['decoys']} | {r['layers']} | " + " | ".join(
        f"{a:.3f}/{b:.3f}" for a, b in r["cells"]) + " |")
  return "\n".join(out)


def _mmap_large_blocks(threshold=1 << 20):
  """Serve allocations >= threshold by mmap, so freed arrays go back to the
  OS (glibc only; elsewhere a no-op).

  glibc raises its mmap threshold to the largest block freed (up to 32 MB),
  after which the run's many 8-32 MB arrays (keys of a chunk of texts,
  queries) come from the heap and fragment it: the decoy run's peak RSS
  fell from 1322 to 993 MB with this at d = 1024 then 2048.
  """
  import ctypes  # pylint: disable=g-import-not-at-top
  try:
    ctypes.CDLL(None).mallopt(-3, int(threshold))  # M_MMAP_THRESHOLD
  except (OSError, AttributeError):
    pass


def run_decoys(config, wd):
  """Multi-layer MeMo with planted decoys, plus the forgetting demo."""
  from factrecall.experiments import memo_plots  # pylint: disable=g-import-not-at-top
  _mmap_large_blocks()
  seeds = [config.seed + s for s in config.seeds]
  have = {r["key"] for r in wd.records() if r.get("experiment") ==
          "memo_decoys"}
  want = lambda s, d: {f"s{s}|d{d}|decoys{n}|layers{l}"
                       for n in config.decoys_list for l in config.layers_list}
  todo = [(s, d) for s in seeds for d in config.d_list
          if not want(s, d) <= have]
  t0 = time.time()
  if todo:
    prog = progress.Progress(len(todo) * config.n_iterations *
                             len(config.decoys_list), desc="memo_decoys")
    for s, d in todo:  # a (seed, d) lands in results.jsonl whole
      recs = _decoy_member_group(config, s, d, prog)
      wd.append([r for r in recs if r["key"] not in have])
    prog.close()
  recs = [r for r in wd.records() if r.get("experiment") == "memo_decoys"]
  authors = authors_scores()
  rows = decoy_table(recs)
  if wd.is_writer:
    memo_plots.decoys_figure(rows, authors, wd.figure("memo_decoys"),
                            config.n_texts)
  lo, hi = config.gain_layers
  claims, gains = [], {}
  for d in config.d_list:
    for n in config.decoys_list:
      g, g_ci = _layer_gain(config, recs, d, n)
      gains[f"d{d}_decoys{n}"] = [g, g_ci]
      ref = [authors.get((d, n, l)) for l in (hi, lo)]
      claims.append(output.claim(
          f"memo_layers_help_d{d}_decoys{n}",
          f"d = {d}, {n} decoys per text: at the first iteration ({config.n_texts} "
          f"texts of {config.text_len} tokens stored), {hi} layers score "
          f"{g:+.3f} vs {lo} layer(s) (accuracy on those texts; CI: texts "
          "resampled)",
          g, g_ci, output.sign_verdict(g_ci),
          reference=output.reference(
              round(ref[0][0] - ref[1][0], 3),
              f"Zanzotto et al. 2025, the authors' results table "
              f"(MemorizationResults-MEMO.xlsx): {hi} layers {ref[0][0]:.3f}"
              f" vs {lo} {ref[1][0]:.3f} at d = {d}, {n} decoys, iteration 0")
          if all(ref) else output.no_reference(
              f"the authors' table has no d = {d}, {n} decoys run with both "
              f"{lo} and {hi} layers")))
  if config.n_iterations > 1:
    K = config.n_iterations - 1
    for d in config.d_list:
      f, f_ci = _falls(config, recs, d)
      mine = [(n, l) for n in config.decoys_list for l in config.layers_list]
      theirs = [authors[(d, n, l)] for n, l in mine if (d, n, l) in authors]
      ref = (output.reference(
          round(float(np.mean([s[K] - s[0] for s in theirs])), 3),
          f"Zanzotto et al. 2025, the authors' results table: mean over "
          f"the {len(theirs)} of these {len(mine)} (decoys, layers) runs "
          f"they made at d = {d}, score at iteration {K} minus iteration 0")
             if theirs else output.no_reference(
                 f"the authors' table has no run at d = {d}"))
      claims.append(output.claim(
          f"memo_accuracy_falls_d{d}",
          f"d = {d}: (first-texts + current-texts accuracy) / 2 after "
          f"{K + 1} iterations minus after the first ({(K + 1) * config.n_texts}"
          f" vs {config.n_texts} texts stored), mean over "
          f"{len(mine)} (decoys, layers) members; vocabulary {config.vocab} "
          "(with fewer tokens, stored keys share tokens more often and "
          "accuracy falls faster)",
          f, f_ci, output.sign_verdict(f_ci, positive=False), reference=ref))
  demo = None
  if config.forget_words and min(config.forget_words) > 0:
    demo = forgetting_demo(config.seed, config.h, min(config.d_list),
                           max(config.layers_list),
                           tuple(config.forget_words))
    gap = abs(demo["acc_a_after_forget"] - demo["acc_a"])
    claims.append(output.claim(
        "memo_forgetting_exact",
        f"forgetting text B ({demo['words_b']} words) restores accuracy on "
        f"text A from {demo['acc_a_with_b']:.4f} to {demo['acc_a']:.4f} "
        f"(|gap| = {gap:.2g})", gap, [gap, gap],
        "supported" if gap <= 1e-6 else "refuted",
        reference=output.reference(
            0.0, "exact by construction (C -= K^T V), Zanzotto et al. 2025")))
  md = table_markdown(rows)
  print("first-texts / current-texts accuracy (mean over seeds):\n" + md)
  return {"experiment": "memo_decoys", "claims": claims, "table": rows,
          "table_markdown": md, "layer_gain": gains, "forgetting": demo,
          "seconds": time.time() - t0}


# The verbs, jitted (memories are pytrees; repeated shapes reuse one compile).
keys = jax.jit(keys)
store = jax.jit(store)
memorize = jax.jit(memorize)
forget = jax.jit(forget)
predict = jax.jit(predict)
retrieve = jax.jit(retrieve)
text_keys = jax.jit(text_keys, static_argnames="stored")

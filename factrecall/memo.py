"""MeMo: language models made of correlation-matrix memories (SPEC section 6).

Three verbs on a memory: `memorize` (C += K^T V for a batch of (context,
next-token) pairs), `retrieve` (argmax over the vocabulary of (k C) E^T, in
vocabulary chunks so a 100,000-symbol vocabulary fits in memory) and `forget`
(C -= K^T V, which removes a text exactly up to float rounding).

Two memories share the verbs:
  SingleLayer: key = concatenation of the context's last h token vectors
    (each of size d_h), value = output vector of the next token (size d).
  MultiLayer: h heads, l layers; layer i reads non-overlapping blocks of h
    items, its key is the block's items projected by W_V (d -> d/h) and
    concatenated / sqrt(h), its encoding is Prj (h*d -> d) of the block. The
    keys of the last block of every layer go to one shared memory C (d x d).

The experiment runners (`run_capacity`, `run_decoys`) are at the end.
"""
import dataclasses
import functools
import math
import re
import time

import jax
import jax.numpy as jnp
import numpy as np

from factrecall import checks
from factrecall import output
from factrecall import progress

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
  memories with 1..max_layers layers vmap together.
  """
  emb: jax.Array      # V x D token vectors (input and output)
  W_V: jax.Array      # D x D/h JL projection of items into key slots
  Prj: jax.Array      # h*D x D block encoder (input of the next layer)
  C_DxD: jax.Array    # the shared memory
  layers: object      # active layers, 1 <= layers <= max_layers
  max_layers: int = 1
  chunk: int = 8192


def gaussian_table(key, vocab, dim):
  """Token vectors N(0, 1/dim); row t depends only on (key, t, its prefix).

  Rows are drawn one by one from fold_in(key, t) so the first k entries of a
  wider table equal those of a narrower one (tables can be shared).
  """
  return _gaussian_rows(key, vocab, dim) / math.sqrt(dim)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _gaussian_rows(key, vocab, dim):
  row = lambda t: jax.random.normal(jax.random.fold_in(key, t), (dim,))
  return jax.vmap(row)(jnp.arange(vocab))


def single_layer(key, vocab, h, d_h, d, chunk=8192):
  """A Gaussian single-layer memory (SPEC section 6) with an empty C."""
  k_in, k_out = jax.random.split(key)
  return SingleLayer(gaussian_table(k_in, vocab, d_h),
                     gaussian_table(k_out, vocab, d),
                     jnp.zeros((h * d_h, d)), h, d_h, chunk)


def multi_layer(key, vocab, h, d, layers, max_layers=None, chunk=8192):
  """A Gaussian multi-layer memory: JL W_V and Prj keep unit norms."""
  if d % h:
    raise ValueError(f"d={d} must be a multiple of h={h}")
  k_e, k_v, k_p = jax.random.split(key, 3)
  W_V = jax.random.normal(k_v, (d, d // h)) * math.sqrt(h / d)
  Prj = jax.random.normal(k_p, (h * d, d)) / math.sqrt(h * d)
  return MultiLayer(gaussian_table(k_e, vocab, d), W_V, Prj,
                    jnp.zeros((d, d)), layers, max_layers or layers, chunk)


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


def _multi_text_keys(mem, text_BxT):
  """Summed keys (last block of every active layer) at every position.

  Position p's layer-i block is the h items ending at p spaced h^(i-1)
  apart, i.e. the non-overlapping blocks of a window aligned to end at p.
  Computed as dilated shifts of whole texts: one Prj per position and layer.
  """
  D = mem.C_DxD.shape[0]
  h = D // mem.W_V.shape[1]
  x_BxTxD = _rows(mem.emb, text_BxT)
  key_BxTxD = jnp.zeros_like(x_BxTxD)
  for i in range(mem.max_layers):
    dil = h ** i
    v_BxTxK = x_BxTxD @ mem.W_V
    k_BxTxD = jnp.concatenate(
        [_shift(v_BxTxK, (h - 1 - j) * dil) for j in range(h)], -1)
    key_BxTxD += jnp.where(i < mem.layers, k_BxTxD / math.sqrt(h), 0.0)
    if i + 1 < mem.max_layers:
      prj_HxDxD = mem.Prj.reshape(h, D, D)
      x_BxTxD = sum(_shift(x_BxTxD @ prj_HxDxD[j], (h - 1 - j) * dil)
                    for j in range(h))
  return key_BxTxD


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


def text_keys(mem, text_T):
  """Keys of every prefix of a text (position p predicts token p + 1)."""
  text_T = jnp.asarray(text_T)
  if isinstance(mem, MultiLayer):
    return _multi_text_keys(mem, text_T[None])[0]
  H = mem.h if isinstance(mem.h, int) else mem.C_NxD.shape[0]  # static bound
  idx_TxH = jnp.arange(text_T.shape[0])[:, None] - jnp.arange(H)[::-1]
  ctx_TxH = jnp.where(idx_TxH >= 0, text_T[jnp.clip(idx_TxH, 0)], -1)
  return _single_keys(mem, ctx_TxH)


def memorize_text(mem, text_T, sign=1.0):
  """Stores every (prefix, next token) pair of a text (sign=-1 forgets)."""
  text_T = jnp.asarray(text_T)
  return store(mem, text_keys(mem, text_T)[:-1], text_T[1:], sign)


def forget_text(mem, text_T):
  """Removes a text stored by `memorize_text`."""
  return memorize_text(mem, text_T, sign=-1.0)


def text_accuracy(mem, text_T):
  """Fraction of the text's next tokens the memory predicts."""
  text_T = jnp.asarray(text_T)
  pred = predict(mem, text_keys(mem, text_T)[:-1])
  return float(jnp.mean(pred == text_T[1:]))


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


@functools.lru_cache(maxsize=None)
def _capacity_fns(batch, H, N, D, vocab, chunk, threshold, max_batches):
  """Jitted (init, step) for a (seeds x points) grid of equal N = h*d_h, D."""

  def member_init(emb_in, emb_out, key, h, d_h):
    mem = SingleLayer(emb_in, emb_out, jnp.zeros((N, D)), h, d_h, chunk)
    ctx, nxt = _random_batch(key, 1, batch, H, vocab)
    f32 = jnp.float32(0)
    return dict(C=mem.C_NxD, k_first=keys(mem, ctx), n_first=nxt,
                done=jnp.bool_(False), stored=jnp.int32(0),
                batches=jnp.int32(0), failed=jnp.bool_(False),
                acc_first=f32, acc_cur=f32, score_ok=jnp.float32(1))

  def member_step(st, emb_in, emb_out, key, h, d_h, k):
    mem = SingleLayer(emb_in, emb_out, st["C"], h, d_h, chunk)
    ctx, nxt = _random_batch(key, k, batch, H, vocab)
    k_BxN = keys(mem, ctx)
    mem = store(mem, k_BxN, nxt)
    pred = predict(mem, jnp.concatenate([st["k_first"], k_BxN]))
    acc_first = jnp.mean(pred[:batch] == st["n_first"])
    acc_cur = jnp.mean(pred[batch:] == nxt)
    score = (acc_first + acc_cur) / 2
    ok = score > threshold
    live = ~st["done"]
    new = dict(st)
    new["score_ok"] = jnp.where(live & ok, score, st["score_ok"])
    new["C"] = jnp.where(live, mem.C_NxD, st["C"])
    new["stored"] = jnp.where(live & ok, k * batch, st["stored"])
    new["batches"] = jnp.where(live, k, st["batches"])
    new["failed"] = st["failed"] | (live & ~ok)
    new["acc_first"] = jnp.where(live, acc_first, st["acc_first"])
    new["acc_cur"] = jnp.where(live, acc_cur, st["acc_cur"])
    new["done"] = st["done"] | ~ok | (k >= max_batches)
    return new

  # Inner vmap: points of one seed share the tables and the data key.
  init = jax.vmap(jax.vmap(member_init, (None, None, None, 0, 0)),
                  (0, 0, 0, 0, 0))
  step = jax.vmap(jax.vmap(member_step, (0, None, None, None, 0, 0, None)),
                  (0, 0, 0, 0, 0, 0, None))
  return jax.jit(init), jax.jit(step, donate_argnums=0)


def _capacity_group(cfg, points, seeds, prog):
  """Runs every (point, seed) of one (N, D) shape; returns records."""
  n, D = max(p[0] * p[1] for p in points), points[0][2]
  H = max(p[0] for p in points)
  W = max(p[1] for p in points)
  init, step = _capacity_fns(cfg.batch, H, n, D, cfg.vocab, cfg.chunk,
                             cfg.threshold, cfg.max_batches)
  ins, outs, dkeys = [], [], []
  for s in seeds:
    k_in, k_out, k_data = jax.random.split(jax.random.key(s), 3)
    ins.append(gaussian_table(k_in, cfg.vocab, W))
    outs.append(gaussian_table(k_out, cfg.vocab, D))
    dkeys.append(k_data)
  emb_in, emb_out = jnp.stack(ins), jnp.stack(outs)
  dkey = jnp.stack(dkeys)
  h_SxP = jnp.array([[p[0] for p in points]] * len(seeds))
  dh_SxP = jnp.array([[p[1] for p in points]] * len(seeds))
  st = init(emb_in, emb_out, dkey, h_SxP, dh_SxP)
  members = len(seeds) * len(points)
  k = 0
  while k < cfg.max_batches:
    k += 1
    st = step(st, emb_in, emb_out, dkey, h_SxP, dh_SxP, k)
    done = np.asarray(st["done"])
    prog.update(members * D, note=f"n={n} d={D} batch {k} "
                f"done {int(done.sum())}/{members}")
    if done.all():
      break
  st = jax.device_get(st)
  recs = []
  for i, s in enumerate(seeds):
    for j, (h, d_h, d) in enumerate(points):
      stored = int(st["stored"][i, j])
      status = ("ok" if st["failed"][i, j] and stored > 0 else
                "max_batches" if not st["failed"][i, j] else "below_batch")
      af, ac = float(st["acc_first"][i, j]), float(st["acc_cur"][i, j])
      s_ok, s_bad = float(st["score_ok"][i, j]), (af + ac) / 2
      # Threshold crossing interpolated inside the failing batch.
      frac = (s_ok - cfg.threshold) / max(s_ok - s_bad, 1e-9)
      interp = stored + cfg.batch * min(max(frac, 0.0), 1.0) * (
          status != "max_batches")
      recs.append(dict(
          experiment="memo_capacity", h=h, d_h=d_h, d=d, n=h * d_h,
          params=h * d_h * d, stored=stored, stored_interp=interp,
          accuracy=(af + ac) / 2,
          acc_first=af, acc_cur=ac, steps=int(st["batches"][i, j]),
          batch=cfg.batch, vocab=cfg.vocab, seed=s, lr=None, status=status))
  return recs


def _bootstrap(fn, n_units, n_boot, seed=0):
  """95% percentile interval of fn(indices) over resampled units."""
  rng = np.random.default_rng(seed)
  vals = [fn(rng.integers(0, n_units, n_units)) for _ in range(n_boot)]
  vals = np.asarray([v for v in vals if np.isfinite(v)])
  if not len(vals):
    return [float("nan")] * 2
  return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]


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
  return dict(c=c_of(idx), c_ci=_bootstrap(c_of, len(x), n_boot),
              slope=slope_of(idx), slope_ci=_bootstrap(slope_of, len(x),
                                                       n_boot, 1))


def _capacity_bytes(config):
  """Rough bytes of the largest `_capacity_group` call: the seeds' token
  tables, C and the first batch's keys per member, and the score chunks."""
  pts = {(h, d_h, d) for h in config.h_list for d_h in config.d_h_list
         for d in config.d_list}
  groups = {}
  for p in pts:
    groups.setdefault((p[0] * p[1] if config.group_by == "n_d" else 0, p[2]),
                      []).append(p)
  S, chunk = len(config.seeds), min(config.chunk, config.vocab)
  most = 0
  for (_, D), gp in groups.items():
    N, W = max(h * d_h for h, d_h, _ in gp), max(d_h for _, d_h, _ in gp)
    members = S * len(gp)
    most = max(most, 4 * (S * config.vocab * (W + D) + members * (
        2 * N * D + config.batch * (2 * N + 2 * chunk))))
  return most


def _decoys_bytes(config):
  """Rough bytes of `_decoy_seeds` (tables, texts, every member's C, window
  keys and score chunks) or of the forgetting demo, whichever is larger."""
  h, d, L = config.h, config.d, max(config.layers_list)
  S = len(config.seeds)
  members = S * len(config.decoys_list) * len(config.layers_list)
  window = h ** L + config.batch            # context + batch tokens
  chunk = min(config.chunk, config.vocab)
  tables = config.vocab * d + d * d // h + h * d * d
  run = 4 * (S * tables + members * (
      h ** L + config.batch * config.n_batches + 2 * d * d +
      window * d * (h + 3) + config.batch * (d + 2 * chunk)))
  fw = tuple(config.forget_words) or (0,)  # the demo's vocabulary <= words
  demo = 4 * (sum(fw) * d + max(fw) * d * (h + 3) + h * d * d + 2 * d * d)
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
    if config.d % config.h:
      raise fail(f"d={config.d}: must be a multiple of h={config.h}")
    slots = config.batch // (config.h + 1)
    if max(config.decoys_list) > slots:
      raise fail(f"decoys_list={tuple(config.decoys_list)}: counts must be "
                 f"in [0, batch // (h + 1) = {slots}]")
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
    sizes = (f"vocab={c.vocab}, h={c.h}, d={c.d}, max layers_list={L} "
             f"(context h**{L}), {len(c.seeds)} seeds x "
             f"{len(c.decoys_list) * len(c.layers_list)} members, batch="
             f"{c.batch}, n_batches={c.n_batches}, forget_words="
             f"{tuple(c.forget_words)}")
  checks.check_memory(need, c.memory_gib, sizes, "the run (on one device)")


def run_capacity(config, wd):
  """Stored pairs vs h*d_h*d for the single-layer memory (SPEC section 6)."""
  from factrecall import memo_plots  # pylint: disable=g-import-not-at-top
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
    before = prog.done
    recs = _capacity_group(config, gp, seeds, prog)
    extra = prog.done - before - len(seeds) * D * est(gp, D)
    if extra > 0:
      prog.add_total(extra)
    wd.append([r for r in recs if (r["h"], r["d_h"], r["d"], r["seed"])
               not in have])
  prog.close()
  recs = [r for r in wd.records() if r.get("experiment") == "memo_capacity"]
  good = [r for r in recs if r["status"] == "ok"]
  fit = capacity_fit([r["params"] for r in good], [r["stored"] for r in good],
                     config.n_boot) if len(good) >= 2 else dict(
                         c=float("nan"), c_ci=[float("nan")] * 2,
                         slope=float("nan"), slope_ci=[float("nan")] * 2)
  interp = [r for r in recs if r["status"] in ("ok", "below_batch")]
  fit_interp = capacity_fit([r["params"] for r in interp],
                            [r["stored_interp"] for r in interp],
                            config.n_boot) if len(interp) >= 2 else None
  if wd.is_writer:
    memo_plots.capacity_figure(recs, fit, wd.figure("memo_capacity"))
  c, c_ci = fit["c"], fit["c_ci"]
  inv = [1 / c_ci[1], 1 / c_ci[0]] if min(c_ci) > 0 else [float("nan")] * 2
  claims = [
      output.claim(
          "memo_pairs_per_param",
          f"stored pairs = c * h*d_h*d with c = {c:.4g} "
          f"(= {1 / c:.3g} parameters per stored pair, CI "
          f"[{inv[0]:.3g}, {inv[1]:.3g}]) over {len(good)} runs",
          c, c_ci, output.sign_verdict(c_ci),
          reference=output.no_reference(
              "Zanzotto et al. 2025 give no pairs-per-parameter constant")),
      output.claim(
          "memo_capacity_slope",
          "log stored pairs vs log h*d_h*d has slope 1 (linear capacity)",
          fit["slope"], fit["slope_ci"],
          output.interval_verdict(fit["slope_ci"], *config.slope_band),
          reference=output.reference(
              1.0, "Zanzotto et al. 2025: capacity linear in h*d_h*d")),
  ]
  return {"experiment": "memo_capacity", "claims": claims, "fit": fit,
          "fit_interpolated": fit_interp,
          "params_per_pair": 1 / c, "params_per_pair_ci": inv,
          "runs": len(recs), "runs_fitted": len(good),
          "censored": sum(r["status"] != "ok" for r in recs),
          "seconds": time.time() - t0}


# ----------------------------------------------------------------------------
# Experiment 2: decoys and layers (`--config=memo_decoys`), and forgetting.


def decoy_texts(rng, vocab, h, context, batch, n_batches, decoys_list):
  """One random text per decoy count, all planted on the same base text.

  Window j (j < batch * n_batches) ends at token context + j and predicts
  the token after it. In every batch of windows, `decoys` windows end with
  the same h-token decoy (a subset of the next count's), each followed by a
  random token, so the last h tokens alone cannot tell them apart.
  """
  base = rng.integers(0, vocab, context + batch * n_batches + 1)
  window = rng.integers(0, vocab, h)
  slots = batch // (h + 1)
  perms = [rng.permutation(slots) for _ in range(n_batches)]
  texts = []
  for n in decoys_list:
    t = base.copy()
    for k, perm in enumerate(perms):
      for s in perm[:n]:
        start = context + k * batch + s * (h + 1)
        t[start:start + h] = window
    texts.append(t)
  return np.stack(texts).astype(np.int32)


@functools.lru_cache(maxsize=None)
def _decoy_fns(batch, context, max_layers, chunk):
  """Jitted (init, step) over (seeds x members) of multi-layer memories."""

  def window_keys(mem, text, k):
    part = jax.lax.dynamic_slice_in_dim(text, k * batch, context + batch + 1)
    k_BxD = _multi_text_keys(mem, part[None, :-1])[0, context:]
    return k_BxD, part[context + 1:]

  def member(tables, text, layers, C):
    emb, W_V, Prj = tables
    return MultiLayer(emb, W_V, Prj, C, layers, max_layers, chunk), text

  def member_init(tables, text, layers):
    D = tables[0].shape[1]
    mem, text = member(tables, text, layers, jnp.zeros((D, D)))
    k_first, n_first = window_keys(mem, text, 0)
    return dict(C=mem.C_DxD, k_first=k_first, n_first=n_first)

  def member_step(st, tables, text, layers, k):
    mem, text = member(tables, text, layers, st["C"])
    k_BxD, next_B = window_keys(mem, text, k)
    mem = store(mem, k_BxD, next_B)
    pred = predict(mem, jnp.concatenate([st["k_first"], k_BxD]))
    acc_first = jnp.mean(pred[:batch] == st["n_first"])
    acc_cur = jnp.mean(pred[batch:] == next_B)
    return dict(st, C=mem.C_DxD), jnp.stack([acc_first, acc_cur])

  init = jax.vmap(jax.vmap(member_init, (None, 0, 0)), (0, 0, 0))
  step = jax.vmap(jax.vmap(member_step, (0, None, 0, 0, None)),
                  (0, 0, 0, 0, None))
  return jax.jit(init), jax.jit(step, donate_argnums=0)


def _decoy_seeds(config, seeds, prog):
  """Stores text batch by batch for every (seed, decoys, layers) member."""
  h, L = config.h, max(config.layers_list)
  context = h ** L - 1
  members = [(n, l) for n in config.decoys_list for l in config.layers_list]
  tables, texts = [], []
  for s in seeds:
    mem = multi_layer(jax.random.key(s), config.vocab, h, config.d, L)
    tables.append((mem.emb, mem.W_V, mem.Prj))
    by_decoys = decoy_texts(np.random.default_rng(s), config.vocab, h,
                            context, config.batch, config.n_batches,
                            config.decoys_list)
    texts.append(by_decoys[[config.decoys_list.index(n) for n, _ in members]])
  tables = jax.tree.map(lambda *x: jnp.stack(x), *tables)
  texts = jnp.asarray(np.stack(texts))
  layers = jnp.array([[l for _, l in members]] * len(seeds))
  init, step = _decoy_fns(config.batch, context, L, config.chunk)
  st = init(tables, texts, layers)
  accs = []
  for k in range(config.n_batches):
    st, acc = step(st, tables, texts, layers, k)
    accs.append(np.asarray(acc))
    prog.update(1, note=f"seeds {seeds[0]}..{seeds[-1]} batch {k + 1}")
  acc_KxSxPx2 = np.stack(accs)
  recs = []
  for i, s in enumerate(seeds):
    for j, (n, l) in enumerate(members):
      af, ac = acc_KxSxPx2[:, i, j, 0], acc_KxSxPx2[:, i, j, 1]
      score = (af + ac) / 2
      above = np.nonzero(score <= config.threshold)[0]
      kept = int(above[0]) if len(above) else config.n_batches
      recs.append(dict(
          experiment="memo_decoys", decoys=n, layers=l, h=h, d=config.d,
          vocab=config.vocab, params=config.d * config.d,
          stored=kept * config.batch, accuracy=float(score.mean()),
          steps=config.n_batches, batch=config.batch, seed=s, lr=None,
          status="ok" if len(above) else "max_batches",
          acc_first=af.tolist(), acc_cur=ac.tolist()))
  return recs


def decoy_table(recs, every):
  """Rows: stored windows; cells: mean (first-batch acc, current acc)."""
  cols = sorted({(r["decoys"], r["layers"]) for r in recs})
  K = len(recs[0]["acc_first"])
  rows = []
  for k in list(range(every - 1, K, every)) + ([K - 1] if K % every else []):
    row = {"windows": (k + 1) * recs[0]["batch"]}
    for n, l in cols:
      rs = [r for r in recs if (r["decoys"], r["layers"]) == (n, l)]
      row[f"decoys={n},layers={l}"] = [
          float(np.mean([r["acc_first"][k] for r in rs])),
          float(np.mean([r["acc_cur"][k] for r in rs]))]
    rows.append(row)
  return rows


def table_markdown(rows):
  heads = [k for k in rows[0] if k != "windows"]
  out = ["| windows | " + " | ".join(heads) + " |",
         "|---" * (len(heads) + 1) + "|"]
  for r in rows:
    out.append(f"| {r['windows']} | " + " | ".join(
        f"{r[k][0]:.2f} / {r[k][1]:.2f}" for k in heads) + " |")
  return "\n".join(out)


def _layer_gain(recs, decoys, lo, hi, threshold, n_boot):
  """Mean score(hi layers) - score(lo layers), paired by (seed, batch).

  Only batches where the 1-layer memory without decoys still scores above
  the threshold count, so the gain is not a capacity effect.
  """
  def scores(n, l):
    return {r["seed"]: (np.array(r["acc_first"]) + np.array(r["acc_cur"])) / 2
            for r in recs if (r["decoys"], r["layers"]) == (n, l)}
  a, b = scores(decoys, hi), scores(decoys, lo)
  ref = scores(min(r["decoys"] for r in recs), lo)
  diffs = []
  for s in a:
    keep = ref[s] > threshold if s in ref else np.ones_like(a[s], bool)
    if not keep.any():
      keep = np.ones_like(a[s], bool)
    diffs += list((a[s] - b[s])[keep])
  diffs = np.asarray(diffs)
  ci = _bootstrap(lambda i: float(diffs[i].mean()), len(diffs), n_boot)
  return float(diffs.mean()), ci


def run_decoys(config, wd):
  """Multi-layer MeMo with planted decoys, plus the forgetting demo."""
  from factrecall import memo_plots  # pylint: disable=g-import-not-at-top
  seeds = [config.seed + s for s in config.seeds]
  have = {(r["decoys"], r["layers"], r["seed"]) for r in wd.records()
          if r.get("experiment") == "memo_decoys"}
  todo = [s for s in seeds if any((n, l, s) not in have
                                  for n in config.decoys_list
                                  for l in config.layers_list)]
  t0 = time.time()
  if todo:
    prog = progress.Progress(config.n_batches, desc="memo_decoys")
    recs = _decoy_seeds(config, todo, prog)
    prog.close()
    wd.append([r for r in recs
               if (r["decoys"], r["layers"], r["seed"]) not in have])
  recs = [r for r in wd.records() if r.get("experiment") == "memo_decoys"]
  rows = decoy_table(recs, config.table_every)
  curves = {}
  for n in config.decoys_list:
    for l in config.layers_list:
      rs = [r for r in recs if (r["decoys"], r["layers"]) == (n, l)]
      sc = np.mean([(np.array(r["acc_first"]) + np.array(r["acc_cur"])) / 2
                    for r in rs], 0)
      curves[(n, l)] = ((np.arange(len(sc)) + 1) * config.batch, sc)
  if wd.is_writer:
    memo_plots.decoys_figure(curves, wd.figure("memo_decoys"))
  lo, hi = min(config.layers_list), max(config.layers_list)
  gains = {n: _layer_gain(recs, n, lo, hi, config.threshold, config.n_boot)
           for n in config.decoys_list}
  n_max = max(config.decoys_list)
  g, g_ci = gains[n_max]
  g0 = gains[min(config.decoys_list)]
  claims = [output.claim(
      "memo_layers_help_with_decoys",
      f"with {n_max} decoys per {config.batch} windows, {hi} layers score "
      f"{g:+.3f} vs {lo} (without decoys: {g0[0]:+.3f})",
      g, g_ci, output.sign_verdict(g_ci),
      reference=output.no_reference(
          "Zanzotto et al. 2025 tabulate accuracies, no single gain"))]
  demo = None
  if config.forget_words and min(config.forget_words) > 0:
    demo = forgetting_demo(config.seed, config.h, config.d, hi,
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
  print("first-batch / current-batch accuracy (mean over seeds):\n" + md)
  return {"experiment": "memo_decoys", "claims": claims, "table": rows,
          "table_markdown": md, "layer_gain": {str(n): v for n, v in
                                               gains.items()},
          "forgetting": demo, "seconds": time.time() - t0}


# The verbs, jitted (memories are pytrees; repeated shapes reuse one compile).
keys = jax.jit(keys)
store = jax.jit(store)
memorize = jax.jit(memorize)
forget = jax.jit(forget)
predict = jax.jit(predict)
retrieve = jax.jit(retrieve)
text_keys = jax.jit(text_keys)

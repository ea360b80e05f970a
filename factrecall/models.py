"""Flax (linen) models (the one-layer transformer, the linear and softmax
attention of the dynamics, the associative memories) and their parameter
counts.

Embeddings are inputs to `apply`, not module parameters: the token embedding
E (vocab x d) and unembedding U (classes x d) of a member are drawn once from
its key by `gaussian_embeddings`. They stay frozen, unless training is told
to learn them (train.Setup(embeddings="learned"): then they start from that
same draw and are trained with the rest).
"""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from factrecall import rng

NEG = -1e9  # logit of a padded (inactive) class


@dataclasses.dataclass(frozen=True)
class TransformerShape:
  """Hyperparameters of the one-layer transformer: width d, H heads of width
  d_h, MLP width m."""
  d: int
  H: int
  d_h: int
  m: int  # MLP width; 0 = attention-only

  @property
  def params(self):
    return param_count(self)

  def name(self):
    return f"d{self.d}_H{self.H}_dh{self.d_h}_m{self.m}"


@dataclasses.dataclass(frozen=True)
class ActTransformerShape:
  """A TransformerShape whose MLP uses another activation (e.g. "gelu": the
  exact, erf-based GELU of BERT-style models); training builds it through
  build() and init_params() like any non-TransformerShape model."""
  d: int
  H: int
  d_h: int
  m: int
  act: str = "gelu"

  @property
  def params(self):
    return param_count(self)

  def name(self):
    return f"d{self.d}_H{self.H}_dh{self.d_h}_m{self.m}_{self.act}"

  def build(self):
    return OneLayerTransformer(self.d, self.H, self.d_h, self.m, self.act)

  def init_params(self, key):
    return init_params(self, key)


@dataclasses.dataclass(frozen=True)
class LearnedEmbeddingsShape(TransformerShape):
  """A TransformerShape whose E and U are trained too: its own name (so its
  records and capacities never mix with the frozen model's); `params` is
  still the non-embedding count (see embedding_count for the rest)."""

  def name(self):
    return super().name() + "_learnedE"


def embedding_count(vocab, n_out, d):
  """(vocab + n_out) * d: the entries of E and U that a member uses."""
  return (vocab + n_out) * d


def param_count(shape):
  """4*H*d_h*d + 2*m*d: Q, K, V, O and the two MLP matrices."""
  return 4 * shape.H * shape.d_h * shape.d + 2 * shape.m * shape.d


def gaussian_embeddings(key, vocab, n_out, d):
  """Frozen E (vocab x d) and U (n_out x d) with entries N(0, 1/d)."""
  ke, ku = rng.split(key, 2)
  std = 1.0 / jnp.sqrt(d)
  # rng is counter-based: row i is the same whatever the padded size.
  return std * rng.normal(ke, (vocab, d)), std * rng.normal(ku, (n_out, d))


def token_counts(tok_BxT, V, dtype=jnp.float32):
  """c[b, v] = occurrences of token v in sequence b (data: no gradient).

  Small vocabularies compare every token with every row: alone that is no
  faster than XLA:CPU's scatter, but it fuses with the sampler (sampler +
  counts 0.37 -> 0.26 ms in the d=32, B=1024 train step). Large ones
  scatter-add on the flattened (B*V,) array. Both are exact.
  """
  B = tok_BxT.shape[0]
  if V <= 512:
    return jnp.sum(tok_BxT[:, :, None] == jnp.arange(V, dtype=tok_BxT.dtype),
                   axis=1, dtype=dtype)
  flat = (tok_BxT + V * jnp.arange(B, dtype=tok_BxT.dtype)[:, None]).reshape(-1)
  return jnp.zeros((B * V,), dtype).at[flat].add(1.0).reshape(B, V)


def onehot_embeddings(vocab, n_out, d):
  """Orthogonal embeddings: E = I (d = vocab); U = I padded (the dynamics setup)."""
  del n_out
  return jnp.eye(vocab, d), None


# lecun_normal = variance_scaling(1, fan_in, truncated normal on [-2, 2]).
_TRUNC_STD = 0.87962566103423978


def init_params(shape, key):
  """Parameters of OneLayerTransformer with the distributions its flax
  initialisers use, drawn with factrecall.rng (cheap to compile)."""
  H, d, d_h, m = shape.H, shape.d, shape.d_h, shape.m
  k = rng.split(key, 6)
  p = {"Q": (1.0 / d_h) ** 0.5 * rng.normal(k[0], (H, d, d_h)),
       "K": (1.0 / d_h) ** 0.5 * rng.normal(k[1], (H, d, d_h)),
       "V": (1.0 / d_h) ** 0.5 * rng.normal(k[2], (H, d, d_h)),
       "O": (1.0 / d) ** 0.5 * rng.normal(k[3], (H * d_h, d))}
  if m > 0:
    lecun = lambda kk, fan_in, shp: (
        (1.0 / fan_in) ** 0.5 / _TRUNC_STD * rng.truncated_normal(kk, -2, 2, shp))
    p["W1"] = lecun(k[4], d, (d, m))
    p["b1"] = jnp.zeros((m,))
    p["W2"] = lecun(k[5], m, (m, d))
  return p


# MLP activations of OneLayerTransformer: ReLU (the paper's) and the exact
# (erf) GELU of BERT-style models such as MiniLM.
ACTIVATIONS = {"relu": nn.relu,
               "gelu": lambda x: nn.gelu(x, approximate=False)}


def _normal(var):
  std = var ** 0.5
  return lambda key, shape, dtype=jnp.float32: std * jax.random.normal(
      key, shape, dtype)


class OneLayerTransformer(nn.Module):
  """One softmax-attention layer read at the EOS position, plus optional MLP.

  `__call__` is the fast path: only the EOS token queries, and since the
  embeddings are frozen and there are no positional embeddings, the sequence
  is a bag of tokens. Scores and values are computed once per vocabulary row
  and the softmax over positions becomes a count-weighted sum over the
  vocabulary (a dense matmul; no per-token gather whose gradient is a
  scatter). `reference` is the plain per-example computation, for tests and
  benchmarks.
  """
  d: int
  H: int
  d_h: int
  m: int
  act: str = "relu"  # MLP activation: a key of ACTIVATIONS

  def setup(self):
    H, d, d_h, m = self.H, self.d, self.d_h, self.m
    self.Q = self.param("Q", _normal(1.0 / d_h), (H, d, d_h))
    self.K = self.param("K", _normal(1.0 / d_h), (H, d, d_h))
    self.V = self.param("V", _normal(1.0 / d_h), (H, d, d_h))
    self.O = self.param("O", _normal(1.0 / d), (H * d_h, d))
    if m > 0:  # nn.Dense(m) -> ReLU -> nn.Dense(d, no bias), Flax defaults.
      lecun = nn.initializers.lecun_normal()
      self.W1 = self.param("W1", lecun, (d, m))
      self.b1 = self.param("b1", nn.initializers.zeros, (m,))
      self.W2 = self.param("W2", lecun, (m, d))

  def init_params(self):
    """Creates the parameters without a forward pass (cheap to compile)."""
    return self.Q, self.K, self.V, self.O, (
        (self.W1, self.b1, self.W2) if self.m > 0 else None)

  def mlp_hidden(self, h_BxD):
    return ACTIVATIONS[self.act](h_BxD @ self.W1 + self.b1)

  def residual(self, h_BxD):
    if self.m > 0:
      return h_BxD + self.mlp_hidden(h_BxD) @ self.W2
    return h_BxD

  def attention(self, tok_BxT, E_VxD, eos):
    """Attention output h (B, d) at the EOS position, fast path."""
    B, V = tok_BxT.shape[0], E_VxD.shape[0]
    q_HxK = jnp.einsum("d,hdk->hk", E_VxD[eos], self.Q)
    kq_DxH = jnp.einsum("hdk,hk->dh", self.K, q_HxK) / jnp.sqrt(self.d_h)
    s_VxH = E_VxD @ kq_DxH
    v_VxHxK = jnp.einsum("vd,hdk->vhk", E_VxD, self.V)
    c_BxV = token_counts(tok_BxT, V, s_VxH.dtype)
    # Softmax shift shared by all sequences, from the real rows (ids <= EOS;
    # rows above are padding): ref = max(s_EOS, max_v s_v - 30). Shifted
    # scores are clipped to [-30, 30]: no overflow (e^30 * T terms), and no
    # tiny denominators whose squares underflow in the gradient (this made
    # NaNs). Real rows never exceed +30; the result is the exact softmax
    # unless a sequence's best token sits over 60 below the best row of the
    # vocabulary. Padding rows have count 0 and are clipped too (0 * inf).
    real_V = jnp.arange(V)[:, None] <= eos
    top_H = jnp.max(jnp.where(real_V, s_VxH, -jnp.inf), axis=0)
    ref_H = jax.lax.stop_gradient(jnp.maximum(s_VxH[eos], top_H - 30.0))
    w_VxH = jnp.exp(jnp.clip(s_VxH - ref_H, -30.0, 30.0))
    # Numerators and denominators of all heads in one matmul (one kernel
    # forward and one backward instead of two each).
    wv_VxHxK1 = jnp.concatenate([w_VxH[:, :, None] * v_VxHxK,
                                 w_VxH[:, :, None]], axis=-1)
    nd_BxHxK1 = (c_BxV @ wv_VxHxK1.reshape(V, -1)).reshape(B, self.H, -1)
    head_BxHxK = nd_BxHxK1[..., :-1] / nd_BxHxK1[..., -1:]
    return head_BxHxK.reshape(B, self.H * self.d_h) @ self.O

  def __call__(self, tok_BxT, E_VxD, U_CxD, eos):
    z_BxD = self.residual(self.attention(tok_BxT, E_VxD, eos))
    return z_BxD @ U_CxD.T

  def hidden(self, tok_BxT, E_VxD, eos):
    """(MLP input h, post-ReLU hidden) at the EOS position, for analyses."""
    h = self.attention(tok_BxT, E_VxD, eos)
    if self.m == 0:
      return h, jnp.zeros(h.shape[:-1] + (0,))
    return h, self.mlp_hidden(h)

  def reference(self, tok_BxT, E_VxD, U_CxD, eos):
    """Plain per-example implementation of the model (vmap over examples)."""
    del eos  # EOS is the last position of every sequence.

    def one(tok_T):
      x_TxD = E_VxD[tok_T]
      q_TxHxK = jnp.einsum("td,hdk->thk", x_TxD, self.Q)
      k_TxHxK = jnp.einsum("td,hdk->thk", x_TxD, self.K)
      v_TxHxK = jnp.einsum("td,hdk->thk", x_TxD, self.V)
      s_HxT = jnp.einsum("thk,hk->ht", k_TxHxK, q_TxHxK[-1]) / jnp.sqrt(self.d_h)
      a_HxT = jax.nn.softmax(s_HxT, axis=-1)
      head_HxK = jnp.einsum("ht,thk->hk", a_HxT, v_TxHxK)
      h_D = head_HxK.reshape(-1) @ self.O
      return self.residual(h_D[None])[0] @ U_CxD.T

    return jax.vmap(one)(tok_BxT)


class LinearAttention(nn.Module):
  """Linear attention read at EOS: no softmax, so
  out = sum_t (x_EOS^T A x_t) x_t and logits = out^T V (A and V start at
  1e-5 everywhere: the paper's dynamics setup).

  As in OneLayerTransformer, the sequence is a bag of tokens: scores are
  computed once per vocabulary row and summed with token counts. The output
  embedding is part of V (d x n_out), so U must be None (one-hot setup).
  """
  d: int
  n_out: int
  init_value: float = 1e-5

  def setup(self):
    const = lambda key, shape, dtype=jnp.float32: jnp.full(
        shape, self.init_value, dtype)
    self.A = self.param("A", const, (self.d, self.d))
    self.V = self.param("V", const, (self.d, self.n_out))

  def __call__(self, tok_BxT, E_VxD, U_CxD, eos):
    if U_CxD is not None:
      raise ValueError(f"{type(self).__name__} holds its output map in V; "
                       "U must be None")
    s_V = E_VxD @ (E_VxD[eos] @ self.A)  # x_EOS^T A x_v for every token v
    c_BxV = token_counts(tok_BxT, E_VxD.shape[0], s_V.dtype)
    return self.mix(s_V, c_BxV, E_VxD) @ self.V

  def mix(self, s_V, c_BxV, E_VxD):
    """sum_t w(s_t) x_t from the per-token scores and counts: w(s) = s."""
    return (c_BxV * s_V[None, :]) @ E_VxD

  def weights(self, s_BxT):
    """The attention weights of per-position scores (reference path)."""
    return s_BxT

  def reference(self, tok_BxT, E_VxD, U_CxD, eos):
    """Plain per-position computation (for tests)."""
    del U_CxD, eos  # EOS is the last position of every sequence.
    x_BxTxD = E_VxD[tok_BxT]
    s_BxT = jnp.einsum("bd,de,bte->bt", x_BxTxD[:, -1], self.A, x_BxTxD)
    return jnp.einsum("bt,btd->bd", self.weights(s_BxT), x_BxTxD) @ self.V


@dataclasses.dataclass(frozen=True)
class LinearAttentionShape:
  """Shape of LinearAttention: d (= vocabulary, one-hot) and n_out classes."""
  d: int
  n_out: int

  @property
  def params(self):
    return self.d * self.d + self.d * self.n_out  # A and V

  def name(self):
    return f"linattn_d{self.d}_out{self.n_out}"

  def build(self):
    return LinearAttention(self.d, self.n_out)

  def init_params(self, key):
    """A and V at 1e-5 everywhere; key unused (deterministic)."""
    del key
    return {"A": jnp.full((self.d, self.d), 1e-5, jnp.float32),
            "V": jnp.full((self.d, self.n_out), 1e-5, jnp.float32)}


class SoftmaxAttention(LinearAttention):
  """The softmax counterpart of LinearAttention, everything else equal:
  out = sum_t softmax_t(x_EOS^T A x_t) x_t over all T positions (EOS
  included) and logits = out^T V. It isolates what the softmax changes in
  the linear model's dynamics (same one-hot embeddings, init and SGD).

  Fast path as in LinearAttention: a score per vocabulary row, the softmax
  over positions as a count-weighted sum over the vocabulary, shifted by each
  sequence's largest score (exact; tokens absent from a sequence have count
  0 and are masked before the exponential, so nothing overflows).
  """

  def mix(self, s_V, c_BxV, E_VxD):
    present = c_BxV > 0
    ref_B = jax.lax.stop_gradient(
        jnp.max(jnp.where(present, s_V[None, :], -jnp.inf), axis=1))
    w_BxV = c_BxV * jnp.exp(jnp.where(present, s_V[None, :] - ref_B[:, None],
                                      0.0))
    return (w_BxV @ E_VxD) / jnp.sum(w_BxV, axis=1, keepdims=True)

  def weights(self, s_BxT):
    return jax.nn.softmax(s_BxT, axis=-1)


@dataclasses.dataclass(frozen=True)
class SoftmaxAttentionShape(LinearAttentionShape):
  """Shape of SoftmaxAttention: the linear model's parameters and init (A, V
  at 1e-5), softmax attention."""

  def name(self):
    return f"softattn_d{self.d}_out{self.n_out}"

  def build(self):
    return SoftmaxAttention(self.d, self.n_out)


# ------------------------------------------------------ associative memories


def sphere_embeddings(key, n, d):
  """n fixed vectors on the unit sphere of R^d (normalised Gaussian rows).

  Counter-based: row i does not depend on n, so padding keeps a member's
  embeddings.
  """
  g_NxD = rng.normal(key, (n, d))
  return g_NxD / jnp.linalg.norm(g_NxD, axis=-1, keepdims=True)


class LinearMemory(nn.Module):
  """logits_y = u_y^T W e_x with W (d x d) trained, E and U frozen."""
  d: int

  def setup(self):
    self.W = self.param("W", _normal(1.0 / self.d), (self.d, self.d))

  def __call__(self, e_NxD, u_MxD):
    return (e_NxD @ self.W.T) @ u_MxD.T


class MLPMemory(nn.Module):
  """logits = U W2^T ReLU(W1^T e_x + b): Flax Dense defaults."""
  d: int
  m: int

  def setup(self):
    lecun = nn.initializers.lecun_normal()
    self.W1 = self.param("W1", lecun, (self.d, self.m))
    self.b1 = self.param("b1", nn.initializers.zeros, (self.m,))
    self.W2 = self.param("W2", lecun, (self.m, self.d))

  def __call__(self, e_NxD, u_MxD):
    return (nn.relu(e_NxD @ self.W1 + self.b1) @ self.W2) @ u_MxD.T


@dataclasses.dataclass(frozen=True)
class MemoryShape:
  """A linear (m = 0) or MLP (width m) memory on d-dimensional embeddings."""
  d: int
  m: int = 0

  @property
  def params(self):
    """d^2 (linear) or m*d (MLP, the count of the paper's Fig. 1 axis)."""
    return self.d * self.d if self.m == 0 else self.m * self.d

  def name(self):
    return f"lin_d{self.d}" if self.m == 0 else f"mlp_d{self.d}_m{self.m}"

  def build(self):
    return LinearMemory(self.d) if self.m == 0 else MLPMemory(self.d, self.m)

  def init_params(self, key):
    """The modules' initial distributions, drawn with factrecall.rng."""
    d, m = self.d, self.m
    k1, k2 = rng.split(key, 2)
    if m == 0:
      return {"W": (1.0 / d) ** 0.5 * rng.normal(k1, (d, d))}
    lecun = lambda kk, fan_in, shp: (
        (1.0 / fan_in) ** 0.5 / _TRUNC_STD * rng.truncated_normal(kk, -2, 2, shp))
    return {"W1": lecun(k1, d, (d, m)), "b1": jnp.zeros((m,)),
            "W2": lecun(k2, m, (m, d))}

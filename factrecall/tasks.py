"""The synthetic factual-recall task (subjects, relations, answers
and noise tokens), padded for vmapping.

A member's task is given by dynamic values (S, R, D, n_noise, Zipf exponents,
table kind) inside static padded shapes (S_max, R_max, D_max, n_noise_max, T),
so members that store different numbers of facts share one compiled program.

Token ids for a member with values (S, R, n_noise):
  subjects [0, S), relations [S, S+R), noise [S+R, S+R+n_noise), EOS S+R+n_noise.
Answers: A_r = {D*r, ..., D*r + D - 1}; D*R active classes out of D_max*R_max.
"""
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from factrecall import rng
from factrecall.output import UserError

SCALINGS = ("equal", "square", "distinct")
TABLES = ("random", "structured")


@dataclasses.dataclass(frozen=True)
class TaskShape:
  """Static (padded) sizes of a group of tasks; hashable, part of a jit key."""
  S_max: int
  R_max: int
  D_max: int
  n_noise_max: int
  T: int = 32

  @property
  def vocab(self):
    return self.S_max + self.R_max + self.n_noise_max + 1

  @property
  def n_out(self):
    return self.D_max * self.R_max

  @property
  def n_pairs(self):
    return self.S_max * self.R_max


def sizes_for(k, scaling, D):
  """(S, R, D) when the searched size is k under a scaling mode."""
  if scaling == "equal":
    return k, k, D
  if scaling == "square":
    return k, max(1, int(math.isqrt(k))), D
  if scaling == "distinct":
    return k, k, k
  raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")


def noise_count(S, R, n_noise):
  """Noise tokens of a task: n_noise, or S + R where it is -1 (or None)."""
  return S + R if n_noise is None or n_noise < 0 else n_noise


def task_values(S, R, D, n_noise=-1, alpha=0.0, beta=0.0, table="random"):
  """The dynamic values of one member's task, as a dict of numpy scalars."""
  n_noise = noise_count(S, R, n_noise)
  return dict(S=np.int32(S), R=np.int32(R), D=np.int32(D),
              n_noise=np.int32(n_noise), alpha=np.float32(alpha),
              beta=np.float32(beta),
              structured=np.bool_(table == "structured"))


def round_up(n):
  """n rounded up to {4, 5, 6, 7} * 2^j (at most 25% padding), so groups of
  similar sizes share one compiled program."""
  n = int(n)
  if n <= 8:
    return n
  j = n.bit_length() - 3
  top = -(-n // (1 << j))  # ceil(n / 2^j), in 4..8
  return top << j


def shape_for(values_list, T, pad=True):
  """A TaskShape holding every member's values (rounded up if pad)."""
  r = round_up if pad else int
  return TaskShape(S_max=r(max(v["S"] for v in values_list)),
                   R_max=r(max(v["R"] for v in values_list)),
                   D_max=r(max(v["D"] for v in values_list)),
                   n_noise_max=r(max(v["n_noise"] for v in values_list)),
                   T=int(T))


def fact_table(key, tv, shape):
  """a*(s, r) for the padded grid (S_max, R_max); int32 answer class ids.

  Drawn one relation at a time (threefry is counter-based), so a member's
  table does not depend on the group's padding.
  """
  r = jnp.arange(shape.R_max)
  rand_RxS = jax.vmap(lambda i: rng.randint(
      rng.fold(key, i), (shape.S_max,), 0, tv["D"]))(r)
  s = jnp.arange(shape.S_max)[:, None]
  structured = (s * tv["D"]) // jnp.maximum(tv["S"], 1)
  within = jnp.where(tv["structured"], structured, rand_RxS.T)
  return (tv["D"] * r[None, :] + within).astype(jnp.int32)


def _zipf_cdf(n_max, n, exponent):
  i = jnp.arange(n_max)
  w = jnp.where(i < n, jnp.exp(-exponent * jnp.log1p(i.astype(jnp.float32))), 0.)
  c = jnp.cumsum(w)
  return c / c[-1]


def zipf_cdfs(tv, shape):
  """CDFs of the subject and relation draws (uniform or Zipf). They do
  not change during training: compute them once and pass them to
  sample_batch (a cumsum per step is a noticeable part of a small step)."""
  return (_zipf_cdf(shape.S_max, tv["S"], tv["alpha"]),
          _zipf_cdf(shape.R_max, tv["R"], tv["beta"]))


def _draw(key, cdf, n, B):
  u = rng.uniform(key, (B,))
  if cdf.shape[0] <= 1024:  # same as searchsorted(side="right"), vectorised
    idx = jnp.sum((cdf[None, :] <= u[:, None]).astype(jnp.int32), -1)
  else:
    idx = jnp.searchsorted(cdf, u, side="right")
  return jnp.minimum(idx, n - 1).astype(jnp.int32)


def fill_sequences(key, s, r, tv, T):
  """Token sequences (B, T) for subjects s and relations r (B,): subject and
  relation at two distinct uniform positions in [0, T-2], i.i.d. noise
  elsewhere, EOS last. Row b depends only on key and b (not on B)."""
  B = s.shape[0]
  kp, ko, kn = rng.split(key, 3)
  pos_s = rng.randint(kp, (B,), 0, T - 1)
  pos_r = (pos_s + rng.randint(ko, (B,), 1, T - 1)) % (T - 1)
  base = tv["S"] + tv["R"]
  tok = base + rng.randint(kn, (B, T), 0, tv["n_noise"])
  t = jnp.arange(T)[None, :]
  tok = jnp.where(t == pos_s[:, None], s[:, None], tok)
  tok = jnp.where(t == pos_r[:, None], tv["S"] + r[:, None], tok)
  tok = jnp.where(t == T - 1, base + tv["n_noise"], tok)
  return tok.astype(jnp.int32)


def sample_batch(key, tv, table, shape, B, cdfs=None):
  """A fresh training batch: tokens (B, T), subjects, relations, targets.
  cdfs: zipf_cdfs(tv, shape), computed here if not given."""
  ks, kr, kf = rng.split(key, 3)
  cdf_s, cdf_r = zipf_cdfs(tv, shape) if cdfs is None else cdfs
  s = _draw(ks, cdf_s, tv["S"], B)
  r = _draw(kr, cdf_r, tv["R"], B)
  tok = fill_sequences(kf, s, r, tv, shape.T)
  return tok, s, r, table[s, r]


def eval_set(key, tv, table, shape):
  """Every (s, r) pair of the padded grid once (relation-major), with a mask
  of the real pairs; one key per relation so it does not depend on padding."""
  def one_relation(r):
    s = jnp.arange(shape.S_max, dtype=jnp.int32)
    s_c = jnp.minimum(s, tv["S"] - 1)
    r_c = jnp.minimum(r, tv["R"] - 1).astype(jnp.int32)
    r_b = jnp.full_like(s, r_c)
    tok = fill_sequences(rng.fold(key, r), s_c, r_b, tv, shape.T)
    return tok, s_c, r_b, table[s_c, r_b], (s < tv["S"]) & (r < tv["R"])
  out = jax.vmap(one_relation)(jnp.arange(shape.R_max))
  return tuple(a.reshape((-1,) + a.shape[2:]) for a in out)


def eos_id(tv):
  return tv["S"] + tv["R"] + tv["n_noise"]


def check_noise(task):
  """UserError if a config's task has noise positions but no noise tokens
  (n_noise = 0 with T > 3: the sampler would fill them with other tokens)."""
  if task.n_noise == 0 and task.T > 3:
    raise UserError(f"task.n_noise=0: sequences of task.T={task.T} have "
                    f"{task.T - 3} noise positions; need n_noise >= 1 (or -1 "
                    "for S+R), or task.T=3")

"""A counter-based random number generator made of elementwise integer ops.

Why not jax.random: on XLA:CPU every threefry call site adds about a second
of compile time, and a training group has a dozen of them, which dominated
small sweeps. Here a key is a uint32[2]; element i of any draw is
hash(key, i), so draws vmap for free, compile in milliseconds, and the first
rows of a padded array equal those of an unpadded one (padding never changes
a member's numbers). The mixer is the low-bias 32-bit integer hash
(multiply-xorshift), applied twice with the two key words.
"""
import jax.numpy as jnp
from jax.scipy import special

_M1 = 0x7FEB352D
_M2 = 0x846CA68B
_GOLD = 0x9E3779B9


def _mix(x):
  x = x ^ (x >> 16)
  x = x * jnp.uint32(_M1)
  x = x ^ (x >> 15)
  x = x * jnp.uint32(_M2)
  return x ^ (x >> 16)


def key(seed):
  """A key (uint32[2]) from an integer seed (a traced scalar is fine)."""
  s = jnp.asarray(seed).astype(jnp.uint32)
  return jnp.stack([_mix(s ^ jnp.uint32(0x5BD1E995)),
                    _mix(s + jnp.uint32(_GOLD))])


def fold(k, data):
  """A new key from k and an integer (like jax.random.fold_in)."""
  d = jnp.asarray(data).astype(jnp.uint32)
  return jnp.stack([_mix(k[0] ^ _mix(d * jnp.uint32(_GOLD) + jnp.uint32(1))),
                    _mix(k[1] + _mix(d ^ jnp.uint32(0x27D4EB2F)))])


def split(k, n):
  """n keys (n, 2)."""
  return jnp.stack([fold(k, i) for i in range(n)])


def bits(k, shape):
  """uint32 array; element at flat index i is a hash of (k, i)."""
  size = 1
  for s in shape:
    size *= int(s)
  i = jnp.arange(size, dtype=jnp.uint32).reshape(shape)
  return _mix(_mix(i ^ k[0]) + k[1])


def uniform(k, shape):
  """float32 in (0, 1) with 24 random bits (never exactly 0 or 1)."""
  return ((bits(k, shape) >> 8).astype(jnp.float32) + 0.5) * (1.0 / (1 << 24))


def randint(k, shape, lo, hi):
  """Integers uniform in [lo, hi) (hi may be traced); bias <= (hi-lo) / 2^24."""
  u = uniform(k, shape)
  n = jnp.asarray(hi) - jnp.asarray(lo)
  v = jnp.floor(u * n.astype(jnp.float32)).astype(jnp.int32)
  return jnp.asarray(lo, jnp.int32) + jnp.minimum(v, n.astype(jnp.int32) - 1)


def normal(k, shape):
  """Standard normal by inverse CDF."""
  return special.ndtri(uniform(k, shape))


def truncated_normal(k, lo, hi, shape):
  """Standard normal truncated to [lo, hi], by inverse CDF."""
  a, b = special.ndtr(jnp.float32(lo)), special.ndtr(jnp.float32(hi))
  return special.ndtri(a + (b - a) * uniform(k, shape))

"""Property-based tests of the task samplers and of divergence handling."""
import functools

import hypothesis
from hypothesis import strategies as st
import jax
import numpy as np

from factrecall import models, rng, sweep, tasks, train


@functools.lru_cache(maxsize=None)
def _sampler(shape, B):
  def f(key, tv):
    table = tasks.fact_table(rng.fold(key, 7), tv, shape)
    return tasks.sample_batch(key, tv, table, shape, B) + (table,)
  return jax.jit(f)


# A fixed padded shape keeps one compiled sampler; the values vary inside it.
SHAPE = tasks.TaskShape(S_max=12, R_max=10, D_max=6, n_noise_max=30, T=9)


@hypothesis.settings(max_examples=40, deadline=None)
@hypothesis.given(S=st.integers(1, 12), R=st.integers(1, 10), D=st.integers(1, 6),
                  n_noise=st.integers(1, 30), alpha=st.sampled_from([0., .5, 1.5]),
                  beta=st.sampled_from([0., 1.]), structured=st.booleans(),
                  seed=st.integers(0, 2 ** 31 - 1))
def test_sampler_invariants(S, R, D, n_noise, alpha, beta, structured, seed):
  tv = tasks.task_values(S, R, D, n_noise, alpha, beta,
                         "structured" if structured else "random")
  tok, s, r, y, table = map(np.asarray, _sampler(SHAPE, 64)(rng.key(seed), tv))
  T, eos = SHAPE.T, S + R + n_noise
  assert tok.shape == (64, T) and tok.dtype == np.int32
  assert np.all(tok[:, -1] == eos)                       # EOS last
  assert np.all((tok[:, :-1] >= 0) & (tok[:, :-1] < eos))  # token ranges
  is_s, is_r = tok < S, (tok >= S) & (tok < S + R)
  assert np.all(is_s.sum(1) == 1) and np.all(is_r.sum(1) == 1)  # one each
  assert np.all(tok[is_s] == s) and np.all(tok[is_r] - S == r)
  assert np.all((s >= 0) & (s < S)) and np.all((r >= 0) & (r < R))
  assert np.all(y // D == r) and np.all((y >= D * r) & (y < D * r + D))  # A_r
  assert np.all(y == table[s, r])
  if structured:
    sub = table[:S, :R]
    assert np.all(sub == D * np.arange(R)[None] + (np.arange(S)[:, None] * D) // S)


def test_diverging_member_is_marked_and_group_goes_on():
  s = models.TransformerShape(d=8, H=2, d_h=4, m=8)
  hps = [dict(tasks.task_values(3, 3, 4), lr=np.float32(lr), seed=np.uint32(0))
         for lr in (1e-2, 1e30)]
  setup = train.Setup(s, tasks.shape_for(hps, 8), batch=64, chunk=16)
  res = sweep.run_group(setup, hps, sweep.StopRule(max_steps=256, target=0.99))
  assert res[1]["status"] == "diverged"
  assert res[0]["status"] == "success" and np.isfinite(res[0]["curves"]["loss"]).all()

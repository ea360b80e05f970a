"""Property-based tests of the task samplers and of divergence handling."""
import functools

import hypothesis
from hypothesis import strategies as st
import jax
import numpy as np

from factrecall import engine, models, rng, tasks, train


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
  res = engine.run_group(setup, hps, engine.StopRule(max_steps=256, target=0.99))
  assert res[1]["status"] == "diverged"
  assert res[0]["status"] == "success" and np.isfinite(res[0]["curves"]["loss"]).all()


def _small_group():
  s = models.TransformerShape(d=8, H=2, d_h=4, m=8)
  hps = [dict(tasks.task_values(3, 3, 4), lr=np.float32(1e-2),
              seed=np.uint32(i)) for i in range(2)]
  return train.Setup(s, tasks.shape_for(hps, 8), batch=64, chunk=16), hps


def test_checkpoint_round_trip_and_refusals(tmp_path):
  """An in-flight checkpoint (npz + JSON, no pickle) restores the group's
  bookkeeping and states exactly; a checkpoint of another structure, a
  truncated file or a pickle is ignored (None), never loaded."""
  setup, hps = _small_group()
  msh = engine.mesh(None)
  blk = engine._Blocks(setup, hps, msh, 1)  # pylint: disable=protected-access
  blk.start([0, 1])
  rule = engine.StopRule(max_steps=256, target=0.99)
  g = engine.Group(2, rule.protocols, setup.chunk)
  engine.record_chunk(g, [0, 1], blk.chunk(), rule)
  g.params[1] = blk.host_states()[1]["params"]
  states = blk.host_states()
  path = str(tmp_path / "inflight.npz")
  engine._save_ckpt(path, hps, setup, g, [0, 1], states)  # pylint: disable=protected-access
  tmpl = blk.member_template()
  def load(hps=hps, protocols=rule.protocols, program=engine.TRANSFORMER,
           tmpl=tmpl):
    return engine._load_ckpt(path, hps, setup, protocols, program, tmpl)  # pylint: disable=protected-access
  got = load()
  assert got is not None
  g2, live, st2 = got
  assert live == [0, 1] and vars(g2).keys() == vars(g).keys()
  for k in vars(g):
    if k != "params":
      assert getattr(g2, k) == getattr(g, k), k
  assert g2.params[0] is None
  for a, b in zip(jax.tree_util.tree_leaves(st2), jax.tree_util.tree_leaves(states)):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(
      jax.tree_util.tree_leaves(g2.params[1])[0],
      jax.tree_util.tree_leaves(g.params[1])[0])
  # Another model's state structure (code changed): ignored.
  other = engine._Blocks(train.Setup(models.TransformerShape(d=8, H=2, d_h=4, m=16),  # pylint: disable=protected-access
                                    setup.task, batch=64, chunk=16), hps, msh, 1)
  assert load(tmpl=other.member_template()) is None
  # Another member count, other hyperparameters (same count), another
  # protocol list or another program's metrics: ignored.
  assert load(hps=hps + hps[:1]) is None
  assert load(hps=[hps[0], dict(hps[1], lr=np.float32(3e-2))]) is None
  assert load(hps=hps[::-1]) is None
  assert load(protocols=("paper",)) is None
  renamed = engine.Program(train.init, train.run_chunk, train.METRICS,
                           dict(all_pairs="fixed_accuracy", paper="accuracy"),
                           ("train_loss", "loss"))
  assert load(program=renamed) is None
  # A truncated file and a pickle: ignored.
  data = open(path, "rb").read()
  open(path, "wb").write(data[:len(data) // 2])
  assert load() is None
  import pickle  # pylint: disable=g-import-not-at-top
  pickle.dump(dict(n=2), open(path, "wb"))
  assert load() is None

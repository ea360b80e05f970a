"""Crosstalk: pairwise angles between MLP keys (Gupta et al. 2025).

Keys are the activations the model computes at real positions of real task
sequences: each position t queries with its own token (score_s =
(x_s K_h) . (x_t Q_h) / sqrt(d_h) over positions s <= t, the model's own
attention; at the EOS position this is exactly the trained model's
computation). Two sites: the MLP input h (input of W1) and the hidden vector
act(h W1 + b1) (input of W2). Three kinds of keys, as Gupta et al. take
them in pretrained language models:
  "random": one random position of each of n_random sequences with no fact
      (T-1 noise tokens and EOS);
  "subject": the subject's position in fact prompts (their "last subject
      token");
  "eos": the EOS query of fact prompts (where the fact is read out).
Every (s, r) prompt is drawn n_contexts times (noise and positions); only
pairs of *different* facts are compared.
Angles theta_ij = arccos(k_i.k_j / |k_i||k_j|) in degrees over random pairs;
zero keys (all neurons off) have no angle and are dropped (their fraction is
reported). Orthogonality is dev = mean |theta - 90 deg|; CIs resample keys
(a cluster bootstrap: pairs sharing a key are not independent).

The null of every claim is the same site of the same model before training
(same shape, embeddings and initial weights): a post-ReLU key lies in the
positive orthant, so its angles are at most 90 deg by construction, and an
attention output averages ~t token vectors; only a difference from the
untrained model says what training did. Centred keys (the mean key of the
set subtracted) are reported beside the claims.
"""
import functools

import numpy as np

from factrecall import checkpoints
from factrecall import checks
from factrecall import output
from factrecall import progress as progress_lib
from factrecall import stats
from factrecall import tasks
from factrecall.checks import Int, Real, Seq

SITES = ("h", "hidden")
KINDS = ("random", "subject", "eos")
FACTUAL = ("subject", "eos")
MODELS = ("trained", "untrained")


# ---------------------------------------------------------------- math


def unit_rows(X):
  """Rows of X normalised; rows of norm 0 are dropped. Returns (U, kept idx)."""
  X = np.asarray(X, np.float64)
  n = np.linalg.norm(X, axis=1)
  keep = np.nonzero(n > 1e-12)[0]
  return X[keep] / n[keep, None], keep


def sample_pairs(n, n_pairs, rng, groups=None):
  """n_pairs random index pairs (i, j), i != j (and groups[i] != groups[j]
  if groups is given), drawn with replacement."""
  if n < 2:
    return np.zeros((0,), int), np.zeros((0,), int)
  i = rng.integers(0, n, 2 * n_pairs + 64)
  j = rng.integers(0, n, 2 * n_pairs + 64)
  ok = i != j if groups is None else groups[i] != groups[j]
  i, j = i[ok][:n_pairs], j[ok][:n_pairs]
  return i, j


def angles_deg(U, i, j):
  """Angles in degrees between unit rows U[i] and U[j]."""
  c = np.clip(np.sum(U[i] * U[j], axis=1), -1.0, 1.0)
  return np.degrees(np.arccos(c))


def angle_stats(theta):
  """Mean, quantiles, dev = mean|theta-90| and mean |cos| of angles (deg)."""
  theta = np.asarray(theta, np.float64)
  if theta.size == 0:
    nan = float("nan")
    return dict(mean=nan, dev=nan, abs_cos=nan, q05=nan, q25=nan, q50=nan,
                q75=nan, q95=nan, n=0)
  q = np.percentile(theta, [5, 25, 50, 75, 95])
  return dict(mean=float(theta.mean()), dev=float(np.mean(np.abs(theta - 90))),
              abs_cos=float(np.mean(np.abs(np.cos(np.radians(theta))))),
              q05=float(q[0]), q25=float(q[1]), q50=float(q[2]),
              q75=float(q[3]), q95=float(q[4]), n=int(theta.size))


class KeySet:
  """Keys of one (model, site, kind): unit vectors, pair sample, their angles,
  and a cluster bootstrap of the mean dev over keys."""

  def __init__(self, X, n_pairs, rng, groups=None):
    self.U, keep = unit_rows(X)
    self.zero_frac = 1.0 - len(keep) / max(1, len(X))
    self.groups = None if groups is None else np.asarray(groups)[keep]
    self.i, self.j = sample_pairs(len(self.U), n_pairs, rng, self.groups)
    self.theta = angles_deg(self.U, self.i, self.j)
    self.stats = angle_stats(self.theta)

  def boot_dev(self, rng):
    """dev after resampling the keys with replacement (pairs mapped through
    the resample; pairs that collapse onto one key or fact are dropped)."""
    n = len(self.U)
    if n < 2:
      return float("nan")
    pi = rng.integers(0, n, n)
    a, b = pi[self.i], pi[self.j]
    ok = a != b if self.groups is None else self.groups[a] != self.groups[b]
    a, b = a[ok], b[ok]
    if n <= 8192:  # |angle - 90| of every key pair, computed once
      if not hasattr(self, "_dev_NxN"):
        g = np.clip(self.U @ self.U.T, -1.0, 1.0)
        self._dev_NxN = np.abs(np.degrees(np.arccos(g)) - 90.0).astype(
            np.float32)
      return float(np.mean(self._dev_NxN[a, b]))
    return float(np.mean(np.abs(angles_deg(self.U, a, b) - 90.0)))


def stats_fields(sets):
  """Result-row fields of key sets {(site, kind): KeySet}: each angle
  statistic as SITE_KIND_STAT, and SITE_KIND_zero_frac."""
  row = {}
  for (site, kind), ks in sets.items():
    for k, v in ks.stats.items():
      row[f"{site}_{kind}_{k}"] = v
    row[f"{site}_{kind}_zero_frac"] = ks.zero_frac
  return row


def boot_ci(values, boots):
  """(estimate, [2.5, 97.5] percentile CI) from a point value and replicates."""
  return float(values), stats.finite_ci(np.asarray(boots, float))


# ---------------------------------------------------------------- runner


def validate(cfg):
  """Checks across fields (each field alone: configs/crosstalk.py RULES)."""
  checkpoints_validate(cfg)
  # Memory guard: every model's key sets (trained and untrained; centred
  # sets keep only their statistics) stay in memory until the claims: unit
  # keys (float64) of both sites for each kind, the pairs (2 int64) and
  # their angles, and the float32 |angle - 90| matrix of sets of <= 8192
  # keys; while a model is measured, its prompts' per-position activations.
  t = cfg.task
  n_fact = cfg.n_contexts * t.S * t.R
  n_keys = (cfg.n_random, n_fact, n_fact)
  cached = [n for n in n_keys if n <= 8192]
  kept, peak = 0, 0
  for d, H, _, m in cfg.models:
    kept += 2 * (8 * sum(n_keys) * (d + m) + 6 * 24 * cfg.n_pairs +
                 2 * 4 * sum(n * n for n in cached))
    peak = max(peak, (n_fact + cfg.n_random) * t.T * (
        4 * (3 * d + 2 * m) + 8 * H * t.T) + 24 * max(cached, default=0) ** 2)
  checks.check_memory(kept + peak, cfg.memory_gib,
                      f"n_contexts={cfg.n_contexts}, n_random={cfg.n_random}, "
                      f"n_pairs={cfg.n_pairs}, task.S={t.S}, task.R={t.R}, "
                      f"{len(cfg.models)} model(s)", "the key sets")


# Rules of the fields that configs/crosstalk.py and configs/editing.py share:
# the models they train and how (checked across fields by
# checkpoints_validate).
MODEL_RULES = {
    "seed": Int(0),
    "task.S": Int(2, 2 ** 16),
    "task.R": Int(2, 2 ** 16),
    "task.T": Int(3, 4096),
    "models": Seq((Int(1, 8192, note="d"), Int(1, 1024, note="H"),
                   Int(1, 8192, note="d_h"),
                   Int(1, 2 ** 16, note="m; the analyses need an MLP"))),
    "train.batch": Int(1, 2 ** 20),
    "train.chunk": Int(1, 2 ** 20),
    "train.max_steps": Int(1, 2 ** 24),
    "train.lr": Real(0, 1e4, lo_open=True),
    "train.target": Real(0, 1, lo_open=True),
    "memory_gib": Real(0, 2 ** 20, lo_open=True),
}


def checkpoints_validate(cfg):
  """Checks across the task, models and train fields shared by the analysis
  configs (each field alone: the config's RULES)."""
  t, tr = cfg.task, cfg.train
  checks.at_least(cfg, "train.max_steps", "train.chunk")
  tasks.check_noise(t)
  # Memory guard: training one model holds its eval set (S*R pairs x T
  # tokens) and its logits, a batch's tokens, counts and logits, the
  # embeddings and the model with its gradients and Adam's two moments.
  n_noise = tasks.noise_count(t.S, t.R, t.n_noise)
  vocab, n_out = t.S + t.R + n_noise + 1, t.D * t.R
  worst = (0, None)
  for d, H, d_h, m in cfg.models:
    params = 4 * H * d_h * d + 2 * m * d + m
    bytes_ = 4 * (4 * params + (vocab + n_out) * d + 2 * vocab * H * d_h +
                  t.S * t.R * t.T + min(4096, t.S * t.R) * 3 * n_out +
                  tr.batch * (3 * n_out + t.T + vocab + d + m))
    worst = max(worst, (bytes_, (d, H, d_h, m)))
  bytes_, model = worst
  checks.check_memory(bytes_, cfg.memory_gib,
                      f"task.S={t.S}, task.R={t.R}, task.D={t.D}, task.T="
                      f"{t.T}, train.batch={tr.batch}, models entry {model}",
                      "training")


def position_keys(shape, params, E_VxD, tok_BxT):
  """(h, hidden) at every position (B x T x d, B x T x m): position t
  queries with its own token over positions s <= t (at the last position,
  EOS, the model's own computation)."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  f = _position_keys_fn(shape)
  out = [f(params, E_VxD, jnp.asarray(tok_BxT[i:i + 1024]))
         for i in range(0, len(tok_BxT), 1024)]
  return (np.concatenate([np.asarray(o[0]) for o in out]),
          np.concatenate([np.asarray(o[1]) for o in out]))


@functools.lru_cache(maxsize=None)
def _position_keys_fn(shape):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from factrecall import models  # pylint: disable=g-import-not-at-top
  act = models.ACTIVATIONS[getattr(shape, "act", "relu")]

  @jax.jit
  def f(p, E, tok):
    x_BxTxD = E[tok]
    q = jnp.einsum("btd,hdk->bhtk", x_BxTxD, p["Q"])
    k = jnp.einsum("btd,hdk->bhtk", x_BxTxD, p["K"])
    v = jnp.einsum("btd,hdk->bhtk", x_BxTxD, p["V"])
    s_BxHxTxS = jnp.einsum("bhtk,bhsk->bhts", q, k) / jnp.sqrt(shape.d_h)
    T = tok.shape[1]
    s_BxHxTxS = jnp.where(jnp.tri(T, dtype=bool), s_BxHxTxS, -jnp.inf)
    a = jax.nn.softmax(s_BxHxTxS, axis=-1)
    heads = jnp.einsum("bhts,bhsk->bthk", a, v)
    h = heads.reshape(tok.shape + (-1,)) @ p["O"]
    return h, act(h @ p["W1"] + p["b1"])
  return f


def prompts(member, cfg):
  """The prompts keys are read from: fact prompts (n_contexts draws of every
  (s, r)) with their subject positions and fact ids, and n_random noise-only
  sequences with one random non-EOS position each."""
  st = member.state()
  toks, facts, subj = [], [], []
  for c in range(cfg.n_contexts):
    tok, s, r, _ = checkpoints.fact_prompts(member, st, 1000 + c)
    toks.append(tok)
    facts.append(s * int(member.hp["R"]) + r)
    subj.append(np.argmax(tok == s[:, None], axis=1))
  noise = checkpoints.noise_prompts(member, 0, cfg.n_random)
  T = noise.shape[1]
  pos = np.random.default_rng([cfg.seed, int(member.hp["seed"]), 11]).integers(
      0, T - 1, cfg.n_random)
  return dict(fact=np.concatenate(toks), fact_ids=np.concatenate(facts),
              subject_pos=np.concatenate(subj), noise=noise, noise_pos=pos)


def collect_keys(member, params, pr):
  """{(site, kind): (X, groups)} of one model (trained or untrained params)
  on the prompts pr."""
  st = member.state()
  shape = member.setup.model
  hf, kf = position_keys(shape, params, st["E"], pr["fact"])
  hn, kn = position_keys(shape, params, st["E"], pr["noise"])
  rows = np.arange(len(pr["fact"]))
  pick = lambda X, pos: X[np.arange(len(pos)), pos]
  g = pr["fact_ids"]
  return {("h", "random"): (pick(hn, pr["noise_pos"]), None),
          ("hidden", "random"): (pick(kn, pr["noise_pos"]), None),
          ("h", "subject"): (hf[rows, pr["subject_pos"]], g),
          ("hidden", "subject"): (kf[rows, pr["subject_pos"]], g),
          ("h", "eos"): (hf[:, -1], g), ("hidden", "eos"): (kf[:, -1], g)}


class _Stats:
  """What is kept of a reported key set: its statistics and zero fraction."""

  def __init__(self, ks):
    self.stats, self.zero_frac = ks.stats, ks.zero_frac


def run(cfg, wd):
  """Trains/reloads the models, measures key angles of each trained model
  and of its untrained self, figures and claims."""
  from factrecall import plots  # pylint: disable=g-import-not-at-top
  prog = progress_lib.Progress(len(cfg.models) * cfg.train.max_steps,
                               desc=cfg.name, enabled=wd.is_writer)
  trained = checkpoints.train_models(cfg, wd, progress=prog)
  prog.close()
  done = {r["key"] for r in wd.records() if r.get("kind") == "crosstalk"}
  rng = np.random.default_rng(cfg.seed)
  per_model, new = [], []
  for name, member, rec in trained:
    pr = prompts(member, cfg)
    sets, centred, row = {}, {}, dict(rec, kind="crosstalk",
                                      key="crosstalk|" + name, model=name)
    for which, params in (("trained", member.params),
                          ("untrained", member.state()["params"])):
      keys = collect_keys(member, params, pr)
      sets[which] = {sk: KeySet(X, cfg.n_pairs, rng, g)
                     for sk, (X, g) in keys.items()}
      # Centred keys are reported, not claimed: only their statistics kept.
      centred[which] = {sk: _Stats(KeySet(X - X.mean(0), cfg.n_pairs, rng, g))
                        for sk, (X, g) in keys.items()}
      row.update({f"{which}_{k}": v
                  for k, v in stats_fields(sets[which]).items()})
      row.update({f"{which}_centred_{k}": v for k, v in stats_fields(
          centred[which]).items() if not k.endswith("zero_frac")})
    per_model.append((name, member, rec, sets, centred, row))
    if row["key"] not in done:
      new.append(row)
  wd.append(new)

  claims = _claims(cfg, [(n, s) for n, _, _, s, _, _ in per_model], rng)
  centred_claims = _claims(cfg, [(n, c) for n, _, _, _, c, _ in per_model],
                           rng, judge=False)
  if wd.is_writer:
    for site in SITES:
      _histogram(plots, wd.figure(f"crosstalk_{site}"), site, per_model,
                 cfg.bins)
  return {"experiment": cfg.name, "claims": claims,
          "centred": [{k: c[k] for k in ("id", "measured", "trained",
                                         "untrained")}
                      for c in centred_claims],
          "models": [row for *_, row in per_model]}


def _claims(cfg, per_model, rng, judge=True):
  """Claims (a) hidden vs input per kind and (b) factual vs random per site
  and factual kind, each as trained minus untrained (the null); judge=False:
  the same rows for a reported variant (no verdict, no CI).

  per_model: [(name, {"trained"|"untrained": {(site, kind): KeySet}})].
  """
  def dev_of(sets):
    return lambda sk: sets[sk].stats["dev"]

  # One key resample per set and replicate, shared by every claim (none for
  # the reported variants: point values only).
  boots = []
  for _ in range(cfg.n_boot if judge else 0):
    boots.append([{w: {sk: ks.boot_dev(rng) for sk, ks in m[w].items()}
                   for w in MODELS} for _, m in per_model])

  def stat(fn):
    """(trained - untrained) of fn(dev) averaged over models, with the
    trained and untrained values, and a key-resampling bootstrap CI."""
    tr = np.mean([fn(dev_of(m["trained"])) for _, m in per_model])
    un = np.mean([fn(dev_of(m["untrained"])) for _, m in per_model])
    reps = [np.mean([fn(b["trained"].get) - fn(b["untrained"].get)
                     for b in rep]) for rep in boots]
    m, ci = boot_ci(tr - un, reps)
    return m, ci, float(tr), float(un)

  def angle(which, site, kind):
    return float(np.mean([m[which][(site, kind)].stats["mean"]
                          for _, m in per_model]))

  where = (f"{len(per_model)} model(s) "
           f"{', '.join(n for n, _ in per_model)}; CI: key-resampling "
           f"bootstrap ({cfg.n_boot} replicates) of the mean over models")
  ref = output.no_reference(
      "Gupta et al. 2025 report the direction on pretrained language models "
      "(and say nothing of an untrained null), not a number for this model")
  verdict = (lambda ci: output.sign_verdict(ci, positive=True)) if judge \
      else (lambda ci: "inconclusive")
  claims = []
  for kind in KINDS:
    m, ci, tr, un = stat(lambda dev, k=kind: dev(("h", k)) - dev(("hidden", k)))
    claims.append(output.claim(
        f"hidden_more_orthogonal_{kind}",
        f"{kind} keys ({_KIND_TEXT[kind]}): training makes hidden (W2-input) "
        f"keys closer to orthogonal relative to MLP-input keys h than they "
        f"are in the untrained model; measured [dev(h) - dev(hidden)] "
        f"trained ({tr:+.2f}) minus untrained ({un:+.2f}), dev = mean "
        f"|angle - 90 deg| (mean angles trained: h "
        f"{angle('trained', 'h', kind):.1f}, hidden "
        f"{angle('trained', 'hidden', kind):.1f} deg; untrained: h "
        f"{angle('untrained', 'h', kind):.1f}, hidden "
        f"{angle('untrained', 'hidden', kind):.1f} deg); {where}",
        m, ci, verdict(ci), trained=tr, untrained=un, reference=ref))
  for site in SITES:
    for kind in FACTUAL:
      m, ci, tr, un = stat(lambda dev, s=site, k=kind:
                           dev((s, k)) - dev((s, "random")))
      claims.append(output.claim(
          f"factual_less_orthogonal_{site}_{kind}",
          f"site {site}: {kind} keys of fact prompts ({_KIND_TEXT[kind]}) are "
          f"less orthogonal than random-position keys ({_KIND_TEXT['random']})"
          f" by more than in the untrained model; measured [dev({kind}) - "
          f"dev(random)] trained ({tr:+.2f}) minus untrained ({un:+.2f}) "
          f"(mean angles trained: {kind} {angle('trained', site, kind):.1f} "
          f"vs random {angle('trained', site, 'random'):.1f} deg); {where}",
          m, ci, verdict(ci), trained=tr, untrained=un, reference=ref))
  return claims


_KIND_TEXT = dict(
    random="one random position of each noise-only sequence",
    subject="the subject's position, pairs of different facts",
    eos="the EOS query, pairs of different facts")


def _histogram(plots, base, site, per_model, bins):
  """Angle histograms at one site: a panel per model, trained (filled) and
  untrained (outline) keys of each kind."""
  n = len(per_model)
  fig, axes = plots.subplots(1, n, figsize=(4 * n, 3.2), squeeze=False)
  edges = np.linspace(0, 180, bins + 1)
  colors = dict(random="tab:gray", subject="tab:blue", eos="tab:red")
  for ax, (name, member, rec, sets, _, _) in zip(axes[0], per_model):
    for kind in KINDS:
      ks = sets["trained"][(site, kind)]
      ax.hist(ks.theta, bins=edges, density=True, alpha=0.45,
              color=colors[kind], label=f"{kind}: {ks.stats['mean']:.1f}°")
      ku = sets["untrained"][(site, kind)]
      ax.hist(ku.theta, bins=edges, density=True, histtype="step", lw=0.9,
              color=colors[kind], ls="--")
    ax.axvline(90, color="k", lw=0.8, ls=":")
    ax.set_title(f"{member.shape.name()} (acc {rec['accuracy']:.2f}); "
                 "dashed: untrained", fontsize=7)
    ax.set_xlabel(f"pairwise angle at {site} (deg)")
    ax.legend(fontsize=6)
  axes[0][0].set_ylabel("density")
  return plots.save(fig, base)

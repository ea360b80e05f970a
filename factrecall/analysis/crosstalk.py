"""Crosstalk: pairwise angles between MLP keys (SPEC section 7, Gupta et al.).

Two key sites of the one-layer transformer at the EOS position: the MLP input
h (input of W1) and the post-ReLU hidden vector (input of W2). Kinds of keys:
  (a) "random": single tokens. This model only computes the EOS position, so
      "random tokens of unrelated sequences" becomes the key of each token v
      alone: the attention output when EOS attends only to v,
      h_v = concat_h(E_v V_h) O, and the MLP's hidden vector of h_v; every
      non-EOS token of the vocabulary (subjects, relations, noise) once.
  (b) "factual": the EOS query of every (s, r) prompt, under several draws of
      noise/positions; only pairs of *different* facts are compared.
  (c) "noise_seq" (reported, not in claims): EOS of T-1 noise tokens + EOS.
      Attention averages ~T tokens, so these keys collapse onto one mean
      direction (angles near 0), which is why (a) uses single tokens.
Angles theta_ij = arccos(k_i.k_j / |k_i||k_j|) in degrees over random pairs;
zero keys (all neurons off) have no angle and are dropped (their fraction is
reported). Orthogonality is measured by dev = mean |theta - 90 deg|; CIs
resample keys (a cluster bootstrap: pairs sharing a key are not independent).
"""
import numpy as np

from factrecall import checks
from factrecall import output
from factrecall import progress as progress_lib
from factrecall import tasks
from factrecall.analysis import checkpoints
from factrecall.checks import Int, Real, Seq
from factrecall.output import UserError

SITES = ("h", "hidden")
KINDS = ("random", "factual")
ALL_KINDS = KINDS + ("noise_seq",)


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
  boots = np.asarray(boots, float)
  boots = boots[np.isfinite(boots)]
  if boots.size == 0:
    return float(values), [float("nan")] * 2
  return float(values), [float(np.percentile(boots, 2.5)),
                         float(np.percentile(boots, 97.5))]


# ---------------------------------------------------------------- runner


def validate(cfg):
  """Checks across fields (each field alone: configs/crosstalk.py RULES)."""
  checkpoints_validate(cfg)
  # Memory guard: every model's key sets stay in memory until the claims:
  # unit keys (float64) of both sites for each kind, the pairs and their
  # angles, and the |angle - 90| matrix of the claims' sets of <= 8192
  # keys; while a model is measured, its prompts' tokens and activations.
  t = cfg.task
  n_noise = tasks.noise_count(t.S, t.R, t.n_noise)
  n_keys = (t.S + t.R + n_noise, cfg.n_contexts * t.S * t.R, cfg.n_random)
  cached = [n for n in n_keys[:2] if n <= 8192]
  kept, peak = 0, 0
  for d, _, _, m in cfg.models:
    kept += (8 * sum(n_keys) * (d + m) + 6 * 24 * cfg.n_pairs +
             8 * sum(n * n for n in cached))
    peak = max(peak, sum(n_keys[1:]) * (8 * t.T + 12 * (d + m)) +
               24 * max(cached, default=0) ** 2)
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
  if tr.max_steps < tr.chunk:
    raise UserError(f"train.max_steps={tr.max_steps}: must be >= "
                    f"train.chunk={tr.chunk}")
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


def collect_keys(member, cfg):
  """{(site, kind): (X, groups)} for one trained member."""
  st = member.state()
  toks, facts = [], []
  for c in range(cfg.n_contexts):
    tok, s, r, _ = checkpoints.fact_prompts(member, st, 1000 + c)
    toks.append(tok)
    facts.append(s * int(member.hp["R"]) + r)
  hf, kf = checkpoints.activations(member, np.concatenate(toks), st)
  hn, kn = checkpoints.activations(
      member, checkpoints.noise_prompts(member, 0, cfg.n_random), st)
  ht, kt = checkpoints.token_keys(member, st)
  g = np.concatenate(facts)
  return {("h", "random"): (ht, None), ("hidden", "random"): (kt, None),
          ("h", "factual"): (hf, g), ("hidden", "factual"): (kf, g),
          ("h", "noise_seq"): (hn, None), ("hidden", "noise_seq"): (kn, None)}


def run(cfg, wd):
  """Trains/reloads the models, measures key angles, figures and claims."""
  from factrecall import plots  # pylint: disable=g-import-not-at-top
  prog = progress_lib.Progress(len(cfg.models) * cfg.train.max_steps,
                               desc=cfg.name, enabled=wd.is_writer)
  trained = checkpoints.train_models(cfg, wd, progress=prog)
  prog.close()
  done = {r["key"] for r in wd.records() if r.get("kind") == "crosstalk"}
  rng = np.random.default_rng(cfg.seed)
  per_model, new = [], []
  for name, member, rec in trained:
    keys = collect_keys(member, cfg)
    sets = {sk: KeySet(X, cfg.n_pairs, rng, g) for sk, (X, g) in keys.items()}
    row = dict(rec, kind="crosstalk", key="crosstalk|" + name, model=name,
               **stats_fields(sets))
    per_model.append((name, member, rec, sets, row))
    if row["key"] not in done:
      new.append(row)
  wd.append(new)

  claims = _claims(cfg, per_model, rng)
  if wd.is_writer:
    for site in SITES:
      _histogram(plots, wd.figure(f"crosstalk_{site}"), site, per_model,
                 cfg.bins)
  return {"experiment": cfg.name, "claims": claims,
          "models": [row for *_, row in per_model]}


def _claims(cfg, per_model, rng):
  """Claims (a) hidden vs input and (b) factual vs random, per site."""
  def stat(fn):
    point = np.mean([fn(lambda sk, s=sets: s[sk].stats["dev"])
                     for *_, sets, _ in per_model])
    boots = []
    for _ in range(cfg.n_boot):
      vals = []
      for *_, sets, _ in per_model:
        cache = {}

        def dev(sk, sets=sets, cache=cache):
          if sk not in cache:
            cache[sk] = sets[sk].boot_dev(rng)
          return cache[sk]
        vals.append(fn(dev))
      boots.append(np.mean(vals))
    return boot_ci(point, boots)

  def mean_angle(site, kind):
    return float(np.mean([s[(site, kind)].stats["mean"]
                          for *_, s, _ in per_model]))

  def devs(site, kind):
    return float(np.mean([s[(site, kind)].stats["dev"]
                          for *_, s, _ in per_model]))

  n_models = len(per_model)
  where = (f"{n_models} model(s) "
           f"{', '.join(n for n, *_ in per_model)}; CI: key-resampling "
           f"bootstrap ({cfg.n_boot} replicates) of the mean over models")
  claims = []
  for kind in KINDS:
    m, ci = stat(lambda dev, k=kind: dev(("h", k)) - dev(("hidden", k)))
    claims.append(output.claim(
        f"hidden_more_orthogonal_{kind}",
        f"{kind} keys ({_KIND_TEXT[kind]}): "
        f"hidden (post-ReLU, W2-input) keys are closer to orthogonal than "
        f"MLP-input keys h; measured dev(h) - dev(hidden), dev = mean "
        f"|angle - 90 deg| (mean angle h {mean_angle('h', kind):.1f} deg, "
        f"dev {devs('h', kind):.1f}; hidden {mean_angle('hidden', kind):.1f} "
        f"deg, dev {devs('hidden', kind):.1f}); {where}",
        m, ci, output.sign_verdict(ci, positive=True),
        reference=output.no_reference("Gupta et al. 2025 report the direction on pretrained language models, not a number for this model")))
  for site in SITES:
    m, ci = stat(lambda dev, s=site: dev((s, "factual")) - dev((s, "random")))
    claims.append(output.claim(
        f"factual_less_orthogonal_{site}",
        f"site {site}: keys of factual queries (EOS of (s, r) prompts, "
        f"different facts) are less orthogonal than random-token keys "
        f"({_KIND_TEXT['random']}); measured dev(factual) - "
        f"dev(random) (mean angle factual {mean_angle(site, 'factual'):.1f} "
        f"deg vs random {mean_angle(site, 'random'):.1f} deg); {where}",
        m, ci, output.sign_verdict(ci, positive=True),
        reference=output.no_reference("Gupta et al. 2025 report the direction on pretrained language models, not a number for this model")))
  return claims


_KIND_TEXT = dict(
    random="single tokens: attention output when EOS attends to one token, "
    "every non-EOS token",
    factual="EOS query of (s, r) prompts, pairs of different facts")


def _histogram(plots, base, site, per_model, bins):
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  n = len(per_model)
  fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.2), squeeze=False)
  edges = np.linspace(0, 180, bins + 1)
  for ax, (name, member, rec, sets, _) in zip(axes[0], per_model):
    for kind, color in zip(ALL_KINDS, ("tab:gray", "tab:red", "tab:blue")):
      ks = sets[(site, kind)]
      ax.hist(ks.theta, bins=edges, density=True, alpha=0.55, color=color,
              label=f"{kind}: mean {ks.stats['mean']:.1f}°")
    ax.axvline(90, color="k", lw=0.8, ls="--")
    ax.set_title(f"{member.shape.name()} (acc {rec['accuracy']:.2f})",
                 fontsize=8)
    ax.set_xlabel(f"pairwise angle at {site} (deg)")
    ax.legend(fontsize=7)
  axes[0][0].set_ylabel("density")
  plots.save(fig, base)

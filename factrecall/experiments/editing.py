"""Rank-one model editing (ROME) of the MLP's second matrix,
plus the key-value and knowledge-neuron views on the same trained models.

Orientation: our MLP output is hidden @ W2 with W2 (m x d) and hidden keys k
(m,). With C = E[k k^T] over keys of factual prompts (+ a small ridge), the
edit that maps k* to v* exactly while moving other keys least in the C^-1
metric is
    u = C^-1 k*,  Lambda = (v* - W2^T k*) / (u^T k*),  W2 <- W2 + u Lambda^T
(ROME's W2 <- W2 + Lambda (C^-1 k*)^T, transposed for W2 stored m x d).

Only W2 changes, so the attention output h and the hidden keys of every
prompt are computed once; an edited model is evaluated with two matmuls.
v* = W2^T k* + delta, delta minimising the mean cross-entropy of the new
answer over the fact's training-like contexts (+ a small L2 penalty).
"""
import numpy as np

from factrecall import checkpoints
from factrecall import checks
from factrecall import output
from factrecall import progress as progress_lib
from factrecall import stats
from factrecall.experiments import crosstalk
from factrecall.experiments import neurons
from factrecall.output import UserError


# ---------------------------------------------------------------- math


def key_covariance(keys_NxM, ridge=1e-3):
  """C = E[k k^T] + ridge * mean(diag) * I (dead neurons make it singular)."""
  K = np.asarray(keys_NxM, np.float64)
  C = K.T @ K / len(K)
  return C + ridge * max(np.mean(np.diag(C)), 1e-12) * np.eye(C.shape[0])


def rome_update(W2_MxD, Cinv_MxM, k_M, v_D):
  """W2 + u Lambda^T with u = C^-1 k, Lambda = (v - W2^T k) / (u^T k): after
  the edit k @ W2' = v exactly."""
  u = Cinv_MxM @ k_M
  lam = (v_D - k_M @ W2_MxD) / (u @ k_M)
  return W2_MxD + np.outer(u, lam)


def _softmax(z):
  z = z - z.max(axis=-1, keepdims=True)
  p = np.exp(z)
  return p / p.sum(axis=-1, keepdims=True)


def optimise_delta(z0_CxD, U_AxD, target, steps=300, lr=1.0, l2=1e-3,
                   p_stop=0.95):
  """delta added to the MLP output so that `target` wins in every context
  (rows of z0 = h + mlp): gradient descent on mean CE + l2 |delta|^2,
  stopped once p(target) >= p_stop in every context."""
  delta = np.zeros(z0_CxD.shape[1])
  for _ in range(steps):
    p = _softmax((z0_CxD + delta) @ U_AxD.T)
    if p[:, target].min() >= p_stop:
      break
    g = p.copy()
    g[:, target] -= 1.0
    grad = (g @ U_AxD).mean(0) + 2 * l2 * delta
    delta -= lr * grad
  return delta


class Memory:
  """A trained member's facts as fixed (h, keys) arrays, editable through W2.

  ctx: n_contexts draws of every fact (the edit prompts, and C's data);
  gen: one fresh draw (new noise/positions) for generalisation and the
  specificity / ripple measurements.
  """

  def __init__(self, member, n_contexts, ridge):
    st = member.state()
    self.D = int(member.hp["D"])
    self.R = int(member.hp["R"])
    self.S = int(member.hp["S"])
    self.n_out = self.D * self.R
    self.U = np.asarray(st["U"], np.float64)[:self.n_out]
    self.W2 = np.asarray(member.params["W2"], np.float64)
    hs, ks = [], []
    for c in range(n_contexts + 1):
      tok, s, r, y = checkpoints.fact_prompts(member, st, 2000 + c)
      h, k = checkpoints.activations(member, tok, st)
      hs.append(h.astype(np.float64))
      ks.append(k.astype(np.float64))
    self.s, self.r, self.y = s, r, y  # fact order is the same in every draw
    self.h_ctx = np.stack(hs[:-1])   # (n_ctx, F, d)
    self.k_ctx = np.stack(ks[:-1])   # (n_ctx, F, m)
    self.h_gen, self.k_gen = hs[-1], ks[-1]
    self.k_star = self.k_ctx.mean(0)  # (F, m): ROME's averaged key
    self.C = key_covariance(self.k_ctx.reshape(-1, self.k_ctx.shape[-1]),
                            ridge)
    self.Cinv = np.linalg.inv(self.C)

  def logits(self, h, k, W2):
    return (h + k @ W2) @ self.U.T

  def edit(self, W2, f, new, **opt):
    """W2 after editing fact f to answer `new`."""
    z0 = self.h_ctx[:, f] + self.k_ctx[:, f] @ W2
    delta = optimise_delta(z0, self.U, new, **opt)
    v = self.k_star[f] @ W2 + delta
    return rome_update(W2, self.Cinv, self.k_star[f], v)

  def new_answer(self, f, rng):
    """A different answer of the same relation."""
    r, y = self.r[f], self.y[f]
    choices = [a for a in range(self.D * r, self.D * (r + 1)) if a != y]
    return int(rng.choice(choices))


def _categories(mem, edited):
  """Masks over facts: unedited facts sharing a subject / a relation with an
  edited fact, and the others."""
  e = np.zeros(len(mem.s), bool)
  e[edited] = True
  subj = np.isin(mem.s, mem.s[edited]) & ~e
  rel = np.isin(mem.r, mem.r[edited]) & ~e
  return dict(same_subject=subj, same_relation=rel, others=~e & ~subj & ~rel,
              unedited=~e)


def _logp_gold(logits, y):
  z = logits - logits.max(1, keepdims=True)
  return z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1))


def evaluate_edits(mem, W2, edited, new):
  """Metrics of W2 after edits (facts `edited` -> answers `new`)."""
  edited, new = np.asarray(edited), np.asarray(new)
  pred_ctx = np.argmax(mem.logits(mem.h_ctx[0][edited], mem.k_ctx[0][edited],
                                  W2), 1)
  lg = mem.logits(mem.h_gen, mem.k_gen, W2)
  lg0 = mem.logits(mem.h_gen, mem.k_gen, mem.W2)
  pred, pred0 = np.argmax(lg, 1), np.argmax(lg0, 1)
  ok, ok0 = pred == mem.y, pred0 == mem.y
  dlogp = _logp_gold(lg0, mem.y) - _logp_gold(lg, mem.y)
  out = dict(efficacy=float(np.mean(pred_ctx == new)),
             generalisation=float(np.mean(pred[edited] == new)))
  for name, mask in _categories(mem, edited).items():
    n = int(mask.sum())
    out[f"{name}_n"] = n
    out[f"{name}_acc_before"] = float(ok0[mask].mean()) if n else float("nan")
    out[f"{name}_acc"] = float(ok[mask].mean()) if n else float("nan")
    out[f"{name}_drop"] = (float(ok0[mask].mean() - ok[mask].mean())
                           if n else float("nan"))
    out[f"{name}_logp_drop"] = float(dlogp[mask].mean()) if n else float("nan")
  return out, dict(ok=ok, ok0=ok0, dlogp=dlogp)


def key_crosstalk(mem, f):
  """Crosstalk of fact f's key with the other facts' keys: mean cosine
  (hidden keys are >= 0, so cos in [0, 1]; larger = less orthogonal), mean
  angle, and the mean |k_j^T C^-1 k*| / (k*^T C^-1 k*) that scales the
  edit's effect on key j."""
  K = mem.k_star
  others = np.arange(len(K)) != f
  n = np.linalg.norm(K, axis=1) + 1e-12
  cos = (K[others] @ K[f]) / (n[others] * n[f])
  u = mem.Cinv @ K[f]
  coef = np.abs(K[others] @ u) / (u @ K[f])
  return dict(xt_cos=float(cos.mean()),
              xt_angle=float(np.degrees(np.arccos(np.clip(cos, -1, 1))).mean()),
              xt_coef=float(coef.mean()))


def spearman(a, b):
  """Spearman rank correlation (average ranks for ties)."""
  def rank(x):
    x = np.asarray(x, float)
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    for v in np.unique(x):  # average ties
      t = x == v
      if t.sum() > 1:
        r[t] = r[t].mean()
    return r
  ra, rb = rank(a), rank(b)
  if np.std(ra) == 0 or np.std(rb) == 0:
    return float("nan")
  return float(np.corrcoef(ra, rb)[0, 1])


def boot(values, fn, n_boot, rng):
  """(fn(values), percentile 95% CI) resampling rows of `values`."""
  values = np.asarray(values)
  point = fn(values)
  if len(values) < 2:
    return float(point), [float("nan")] * 2
  reps = [fn(values[rng.integers(0, len(values), len(values))])
          for _ in range(n_boot)]
  return float(point), stats.finite_ci(np.asarray(reps, float))


# ---------------------------------------------------------------- runner


def validate(cfg):
  """Checks across fields (each field alone: configs/editing.py RULES)."""
  crosstalk.checkpoints_validate(cfg)
  t = cfg.task
  facts = t.S * t.R
  if max(cfg.sequential) > facts or cfg.n_single > facts:
    raise UserError(f"sequential={tuple(cfg.sequential)}, n_single="
                    f"{cfg.n_single}: at most task.S * task.R = {facts} facts")
  if cfg.v_lr * cfg.v_l2 >= 1:
    raise UserError(f"v_lr={cfg.v_lr}, v_l2={cfg.v_l2}: need v_lr * v_l2 < 1 "
                    "(the L2 term alone makes the steps on v* diverge)")
  # Memory guard (one model at a time, float64): keys and attention outputs
  # of every fact in n_contexts + 1 draws, C and its inverse, the logits of
  # every fact (evaluations, integrated gradients) and per-neuron arrays.
  n_out = t.D * t.R
  worst = (0, None)
  for mo in cfg.models:
    d, m = mo[0], mo[3]
    bytes_ = 8 * (2 * (cfg.n_contexts + 1) * facts * (d + m) + 2 * m * m +
                  n_out * d + 5 * facts * n_out + 8 * facts * m + facts * t.T)
    worst = max(worst, (bytes_, tuple(mo)))
  bytes_, model = worst
  checks.check_memory(bytes_, cfg.memory_gib,
                      f"n_contexts={cfg.n_contexts}, task.S={t.S}, task.R="
                      f"{t.R}, task.D={t.D}, models entry {model}", "editing")


def run(cfg, wd):
  """Trains/reloads models, single and sequential ROME edits, KN, claims."""
  from factrecall import plots  # pylint: disable=g-import-not-at-top
  prog = progress_lib.Progress(len(cfg.models) * cfg.train.max_steps,
                               desc=cfg.name, enabled=wd.is_writer)
  trained = checkpoints.train_models(cfg, wd, progress=prog)
  prog.close()
  done = {r["key"]: r for r in wd.records() if r.get("kind") != "model"}
  opt = dict(steps=cfg.v_steps, lr=cfg.v_lr, l2=cfg.v_l2)
  single, seq, kn = [], [], []
  for mi, (name, member, rec) in enumerate(trained):
    rng = np.random.default_rng([cfg.seed, mi])
    mem = Memory(member, cfg.n_contexts, cfg.ridge)
    F = len(mem.y)
    base = {k: rec[k] for k in ("shape", "d", "H", "d_h", "m", "params", "S",
                                "R", "D", "facts", "seed", "lr", "accuracy",
                                "steps", "status")}
    new_recs = []
    # single edits, each on the original W2
    facts = rng.choice(F, cfg.n_single, replace=False)
    for f in facts:
      a = mem.new_answer(f, rng)
      key = f"single|{name}|f{f}|a{a}"
      if key not in done:
        W2 = mem.edit(mem.W2, f, a, **opt)
        m, _ = evaluate_edits(mem, W2, [f], [a])
        r = dict(base, kind="edit_single", key=key, model=name, n_edits=1,
                 fact=int(f), subject=int(mem.s[f]), relation=int(mem.r[f]),
                 old=int(mem.y[f]), new=a, **m, **key_crosstalk(mem, f))
        new_recs.append(r)
        done[key] = r
      single.append(done[key])
    # sequential edits: one sequence, measured after each size in cfg
    order = rng.choice(F, max(cfg.sequential), replace=False)
    answers = [mem.new_answer(f, rng) for f in order]
    W2 = mem.W2
    for n in range(1, max(cfg.sequential) + 1):
      W2 = mem.edit(W2, order[n - 1], answers[n - 1], **opt)
      if n in cfg.sequential:
        key = f"seq|{name}|n{n}"
        if key not in done:
          m, raw = evaluate_edits(mem, W2, order[:n], answers[:n])
          pred = np.argmax(mem.logits(mem.h_ctx[0][order[:n]],
                                      mem.k_ctx[0][order[:n]], W2), 1)
          r = dict(base, kind="edit_sequential", key=key, model=name,
                   n_edits=n, **m,
                   edited_ok=(pred == np.asarray(answers[:n])).tolist(),
                   unedited_ok=raw["ok"][~np.isin(np.arange(F), order[:n])]
                   .astype(int).tolist(),
                   unedited_ok0=raw["ok0"][~np.isin(np.arange(F), order[:n])]
                   .astype(int).tolist())
          new_recs.append(r)
          done[key] = r
        seq.append(done[key])
    # knowledge neurons and key-value view on the generalisation draw
    key = f"neurons|{name}"
    if key not in done:
      eff = neurons.kn_effects(mem.h_gen, mem.k_gen, mem.W2, mem.U, mem.y,
                               steps=cfg.ig_steps, frac=cfg.kn_frac)
      gap = eff["p"] - neurons.answer_prob(mem.h_gen, 0 * mem.k_gen, mem.W2,
                                           mem.U, mem.y)[0]
      completeness = float(np.max(np.abs(eff["attr"].sum(1) - gap)))
      agree, live = neurons.kv_agreement(mem.k_gen, mem.r, mem.W2, mem.U,
                                         mem.D, k=cfg.kv_top)
      r = dict(base, kind="neurons", key=key, model=name,
               kn_dp_suppress=(eff["p_suppressed"] - eff["p"]).tolist(),
               kn_dp_amplify=(eff["p_amplified"] - eff["p"]).tolist(),
               kn_dlo_suppress=(eff["log_odds_suppressed"] -
                                eff["log_odds"]).tolist(),
               kn_dlo_amplify=(eff["log_odds_amplified"] -
                               eff["log_odds"]).tolist(),
               kn_mean_neurons=float(eff["n_neurons"].mean()),
               ig_completeness_max_err=completeness,
               kv_agreement=agree.tolist(), kv_live=int(len(live)),
               kv_chance=1.0 / mem.R)
      new_recs.append(r)
      done[key] = r
    kn.append(done[key])
    wd.append(new_recs)
  claims = _claims(cfg, single, seq, kn)
  if wd.is_writer:
    _figure(plots, wd.figure("editing"), single, seq)
  return {"experiment": cfg.name, "claims": claims}


def _claims(cfg, single, seq, kn):
  rng = np.random.default_rng(cfg.seed)
  nb = cfg.n_boot
  col = lambda rows, k: np.array([r[k] for r in rows], float)
  mean = lambda v: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
  claims = []
  ref = output.no_reference(
      "no published number for this toy model (ROME, Meng et al. 2022, "
      "reports its metrics on GPT-2 XL and GPT-J)")
  lo = cfg.success_band
  n_models = len(cfg.models)
  tail = (f"{len(single)} single edits over {n_models} model(s); 95% CI: "
          f"bootstrap over edits")
  for k, what in (("efficacy", "the edited prompt gives the new answer"),
                  ("generalisation", "the edited fact under new noise/"
                   "positions gives the new answer")):
    m, ci = boot(col(single, k), mean, nb, rng)
    claims.append(output.claim(
        f"edit_{k}", f"single ROME edits: {what} for >= {lo:g} of edits; "
        f"{tail}", m, ci, output.interval_verdict(ci, lo, 1.0), reference=ref))
  m, ci = boot(col(single, "others_drop"), mean, nb, rng)
  claims.append(output.claim(
      "edit_specificity", f"single edits: accuracy drop on facts sharing "
      f"neither subject nor relation with the edit is <= {cfg.max_drop:g} "
      f"(accuracy before {mean(col(single, 'others_acc_before')):.3f}); {tail}",
      m, ci, output.interval_verdict(ci, -1.0, cfg.max_drop), reference=ref))
  for cat in ("same_subject", "same_relation"):
    diff = col(single, f"{cat}_logp_drop") - col(single, "others_logp_drop")
    m, ci = boot(diff, mean, nb, rng)
    claims.append(output.claim(
        f"ripple_{cat}", f"single edits ripple more to facts with the "
        f"{cat.replace('_', ' ')} than to the others: mean drop of log "
        f"p(gold) on {cat} ({mean(col(single, f'{cat}_logp_drop')):.3g}) "
        f"minus on others ({mean(col(single, 'others_logp_drop')):.3g}), "
        f"accuracy drop {mean(col(single, f'{cat}_drop')):.3g} vs "
        f"{mean(col(single, 'others_drop')):.3g}; {tail}",
        m, ci, output.sign_verdict(ci, positive=True), reference=ref))
  # damage vs crosstalk of the edited key (per edit, pooled over models)
  dmg = col(single, "unedited_logp_drop")
  for xt, text in (("xt_cos", "mean cosine of the edited key with the other "
                    "facts' hidden keys"),
                   ("xt_coef", "mean |k_j^T C^-1 k*| / (k*^T C^-1 k*), the "
                    "edit's coefficient on other keys")):
    pairs = np.stack([col(single, xt), dmg], 1)
    m, ci = boot(pairs, lambda v: spearman(v[:, 0], v[:, 1]), nb, rng)
    claims.append(output.claim(
        f"damage_vs_{xt}", f"damage of a single edit (mean drop of log "
        f"p(gold) over unedited facts) grows with its crosstalk ({text}): "
        f"Spearman rho; {tail}", m, ci, output.sign_verdict(ci, True),
        reference=ref))
  # sequential edits: specificity at the largest vs the smallest count
  sizes = sorted(cfg.sequential)
  if len(sizes) >= 2:
    by = lambda n: [r for r in seq if r["n_edits"] == n]
    small, big = by(sizes[0]), by(sizes[-1])
    drop = lambda rows: np.concatenate(
        [np.array(r["unedited_ok0"]) - np.array(r["unedited_ok"])
         for r in rows]).astype(float)
    ds, dbig = drop(small), drop(big)
    reps = [np.mean(dbig[rng.integers(0, len(dbig), len(dbig))]) -
            np.mean(ds[rng.integers(0, len(ds), len(ds))]) for _ in range(nb)]
    m = float(np.mean(dbig) - np.mean(ds))
    ci = stats.percentile_ci(reps)
    eff = {n: mean(col(by(n), "efficacy")) for n in sizes}
    gen = {n: mean(col(by(n), "generalisation")) for n in sizes}
    claims.append(output.claim(
        "sequential_damage", f"sequential edits accumulate damage: accuracy "
        f"drop on unedited facts after {sizes[-1]} edits minus after "
        f"{sizes[0]}; efficacy of all edits so far "
        + ", ".join(f"n={n}: {eff[n]:.3f}" for n in sizes)
        + "; generalisation " + ", ".join(f"n={n}: {gen[n]:.3f}" for n in sizes)
        + f"; CI: bootstrap over unedited facts, {n_models} model(s)",
        m, ci, output.sign_verdict(ci, True), reference=ref))
  nn = mean(col(kn, "kn_mean_neurons"))
  cat = lambda k: np.concatenate([r[k] for r in kn])
  for name, pos in (("suppress", False), ("amplify", True)):
    dp, dlo = cat(f"kn_dp_{name}"), cat(f"kn_dlo_{name}")
    m, ci = boot(dlo, mean, nb, rng)
    claims.append(output.claim(
        f"kn_{name}", f"knowledge neurons (IG, {cfg.ig_steps} steps from 0, "
        f"threshold {cfg.kn_frac:g} x max; {nn:.1f} neurons per fact on "
        f"average): {'suppressing (=0)' if not pos else 'amplifying (x2)'} "
        f"them {'lowers' if not pos else 'raises'} the gold answer; measured "
        f"mean change of its log-odds log p/(1-p) over all facts (p itself "
        f"changes by {mean(dp):+.3g} on average; p is ~1 after training, so "
        f"it can hardly rise); CI: bootstrap over facts",
        m, ci, output.sign_verdict(ci, positive=pos), mean_dp=mean(dp),
        reference=output.no_reference(
            "no published number for this toy model (Dai et al. 2022 "
            "report the effect on BERT)")))
  agree = np.concatenate([r["kv_agreement"] for r in kn])
  chance = mean(col(kn, "kv_chance"))
  m, ci = boot(agree - chance, mean, nb, rng)
  claims.append(output.claim(
      "kv_relation_agreement", f"key-value view: a neuron's top-"
      f"{cfg.kv_top} triggers share the relation of the answer its value "
      f"vector promotes most more often than chance (1/R = {chance:.3f}; "
      f"mean agreement {mean(agree):.3f}); measured agreement - chance; CI: "
      f"bootstrap over live neurons", m, ci, output.sign_verdict(ci, True),
      reference=output.no_reference(
          "no published number for this toy model (Geva et al. 2021 "
          "describe the key-value view on a language model)")))
  return claims


def _figure(plots, base, single, seq):
  fig, axes = plots.subplots(1, 2, figsize=(10, 3.8))
  xs = np.array([r["xt_cos"] for r in single])
  ys = np.array([r["unedited_logp_drop"] for r in single])
  axes[0].scatter(xs, ys, s=10)
  axes[0].set_xlabel("crosstalk of edited key (mean cos with other keys)")
  axes[0].set_ylabel("damage: mean drop of log p(gold), unedited facts")
  axes[0].set_title("single edits", fontsize=9)
  models = sorted({r["model"] for r in seq})
  for mname in models:
    rows = sorted([r for r in seq if r["model"] == mname],
                  key=lambda r: r["n_edits"])
    n = [r["n_edits"] for r in rows]
    axes[1].plot(n, [r["efficacy"] for r in rows], "o-", label=f"{mname[:16]} efficacy")
    axes[1].plot(n, [r["unedited_acc"] for r in rows], "s--",
                 label=f"{mname[:16]} unedited acc")
  axes[1].set_xscale("log")
  axes[1].set_xlabel("sequential edits")
  axes[1].set_ylim(-0.02, 1.02)
  axes[1].legend(fontsize=6)
  for ax in axes:
    ax.grid(True, alpha=0.3)
  return plots.save(fig, base)

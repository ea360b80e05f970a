"""Per-neuron views of the MLP memory (knowledge neurons, key-value view).

Key-value view (Geva et al. 2021): hidden neuron i is a key (row i of W1,
read through the ReLU) and a value (row i of W2, m x d in our code). Its
triggers are the prompts that activate it most; its value, projected on the
unembedding U, says which answers it promotes.

Knowledge neurons (Dai et al. 2022): integrated-gradients attribution of each
hidden neuron to the gold answer's probability, from a zero baseline of the
hidden vector (the residual h is kept), thresholded at a fraction of the max.
"""
import numpy as np


# ------------------------------------------------------------ key-value view


def top_triggers(hidden_NxM, k):
  """(M, k) prompt indices with the largest activation of each neuron."""
  k = min(k, hidden_NxM.shape[0])
  idx = np.argsort(-hidden_NxM, axis=0, kind="stable")[:k]
  return idx.T


def value_answers(W2_MxD, U_CxD, k):
  """(M, k) answer classes with the largest projection W2[i] . U[c], and the
  (M, C) projection matrix."""
  proj_MxC = W2_MxD @ U_CxD.T
  k = min(k, proj_MxC.shape[1])
  return np.argsort(-proj_MxC, axis=1, kind="stable")[:, :k], proj_MxC


def kv_agreement(hidden_NxM, rel_N, W2_MxD, U_CxD, D, k=10):
  """Per live neuron: fraction of its top-k triggers whose relation is the
  relation of its top value answer (chance ~ 1/R). Dead neurons (never
  active on these prompts) are left out. Returns (agreement per neuron,
  indices of the live neurons)."""
  live = np.nonzero(hidden_NxM.max(axis=0) > 0)[0]
  trig = top_triggers(hidden_NxM[:, live], k)
  top, _ = value_answers(W2_MxD[live], U_CxD, 1)
  rel_val = top[:, 0] // D
  agree = np.mean(rel_N[trig] == rel_val[:, None], axis=1)
  return agree, live


# ------------------------------------------------------- knowledge neurons


def integrated_gradients(grad_fn, x_NxM, steps=20):
  """IG attributions from a zero baseline: x * mean_k grad f(alpha_k x),
  alpha_k = (k - 1/2) / steps (midpoint rule, k = 1..steps). grad_fn maps a
  batch (N, M) to df/dx (N, M). Completeness: rows sum to ~f(x) - f(0)."""
  total = np.zeros_like(x_NxM, dtype=np.float64)
  for k in range(steps):
    total += grad_fn((k + 0.5) / steps * x_NxM)
  return x_NxM * total / steps


def answer_prob(h_NxD, hid_NxM, W2_MxD, U_CxD, y_N):
  """p(y | z) with z = h + hid W2 and logits z U^T; also the softmax."""
  logits = (h_NxD + hid_NxM @ W2_MxD) @ U_CxD.T
  logits = logits - logits.max(axis=1, keepdims=True)
  p = np.exp(logits)
  p /= p.sum(axis=1, keepdims=True)
  return p[np.arange(len(y_N)), y_N], p


def gold_log_odds(h_NxD, hid_NxM, W2_MxD, U_CxD, y_N):
  """log p(y) / (1 - p(y)) from the logits (no saturation near p = 1)."""
  logits = (h_NxD + hid_NxM @ W2_MxD) @ U_CxD.T
  gold = logits[np.arange(len(y_N)), y_N]
  rest = logits.copy()
  rest[np.arange(len(y_N)), y_N] = -np.inf
  mx = rest.max(axis=1)
  return gold - (mx + np.log(np.exp(rest - mx[:, None]).sum(axis=1)))


def prob_grad_fn(h_NxD, W2_MxD, U_CxD, y_N):
  """grad_fn for integrated_gradients: d p(y) / d hidden, analytic:
  W2 U^T p_y (e_y - p)."""
  WU_MxC = W2_MxD @ U_CxD.T

  def grad(hid_NxM):
    py, p = answer_prob(h_NxD, hid_NxM, W2_MxD, U_CxD, y_N)
    e = -p * py[:, None]
    e[np.arange(len(y_N)), y_N] += py
    return e @ WU_MxC.T
  return grad


def knowledge_neurons(attr_NxM, frac=0.2):
  """Boolean (N, M): neurons whose attribution exceeds frac * the row max."""
  mx = attr_NxM.max(axis=1, keepdims=True)
  return (attr_NxM > frac * mx) & (mx > 0)


def kn_effects(h_NxD, hid_NxM, W2_MxD, U_CxD, y_N, steps=20, frac=0.2):
  """Knowledge neurons of each prompt and the change of p(gold) when they are
  suppressed (set to 0) or amplified (doubled). Returns a dict of per-prompt
  arrays: p, p_suppressed, p_amplified, the same for the gold log-odds,
  n_neurons, and the attributions."""
  attr = integrated_gradients(prob_grad_fn(h_NxD, W2_MxD, U_CxD, y_N),
                              hid_NxM, steps)
  kn = knowledge_neurons(attr, frac)
  p, _ = answer_prob(h_NxD, hid_NxM, W2_MxD, U_CxD, y_N)
  ps, _ = answer_prob(h_NxD, np.where(kn, 0.0, hid_NxM), W2_MxD, U_CxD, y_N)
  pa, _ = answer_prob(h_NxD, np.where(kn, 2 * hid_NxM, hid_NxM), W2_MxD,
                      U_CxD, y_N)
  lo = lambda v: gold_log_odds(h_NxD, v, W2_MxD, U_CxD, y_N)
  return dict(p=p, p_suppressed=ps, p_amplified=pa, n_neurons=kn.sum(1),
              attr=attr, log_odds=lo(hid_NxM),
              log_odds_suppressed=lo(np.where(kn, 0.0, hid_NxM)),
              log_odds_amplified=lo(np.where(kn, 2 * hid_NxM, hid_NxM)))

"""ROME rank-one edits of W2, key-value view and knowledge neurons on
trained one-layer transformers.

Trains (or reloads from WORKDIR/checkpoints/models) one model per entry of
`models`, then: single edits (efficacy, generalisation, specificity, ripple,
damage vs crosstalk), sequential edits, IG knowledge neurons, key-value view.
Presets: `smoke` (tests, seconds), default (2-core CPU, ~1-2 min), `paper`.
"""
import ml_collections

from factrecall.checks import Int, Real, Seq
from factrecall.experiments import crosstalk

PRESETS = ("smoke", "paper")


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.experiment = "factrecall.experiments.editing:run"
  c.seed = 0                      # base seed; model i uses seed + i

  c.task = ml_collections.ConfigDict()
  c.task.S = 16                   # subjects
  c.task.R = 16                   # relations
  c.task.D = 8                    # answers per relation (edits pick another)
  c.task.T = 32                   # sequence length (EOS last)
  c.task.n_noise = -1             # noise tokens; -1 = S + R (the paper's)

  # one-layer transformers (d, H, d_h, m), one trained model each
  c.models = ((24, 4, 6, 48), (48, 4, 12, 96))

  c.train = ml_collections.ConfigDict()
  c.train.batch = 256             # fresh samples per step
  c.train.chunk = 128             # steps between evaluations
  c.train.max_steps = 4096        # step budget per model
  c.train.lr = 1e-2               # AdamW (weight decay 0) learning rate
  c.train.target = 0.99           # stop once accuracy reaches this

  c.n_single = 40                 # independent single edits per model
  c.sequential = (1, 10, 100)     # measure after this many sequential edits
  c.n_contexts = 8                # noise/position draws per fact (k*, v*, C)
  c.ridge = 1e-3                  # C += ridge * mean(diag C) * I
  c.v_steps = 300                 # gradient steps optimising v*
  c.v_lr = 1.0                    # their step size
  c.v_l2 = 1e-3                   # L2 penalty on v* - W2^T k*
  c.ig_steps = 20                 # integrated-gradient steps (zero baseline)
  c.kn_frac = 0.2                 # knowledge neurons: attribution > frac*max
  c.kv_top = 10                   # top triggers per neuron (key-value view)
  c.success_band = 0.9            # efficacy/generalisation >= this: supported
  c.max_drop = 0.02               # specificity: accuracy drop <= this
  c.n_boot = 1000                 # bootstrap resamples for CIs

  c.memory_gib = 16.0             # memory a run may use (GiB); see validate

  if arg == "smoke":
    c.task.S = 6
    c.task.R = 6
    c.models = ((16, 2, 8, 32),)
    c.train.max_steps = 256
    c.train.batch = 64
    c.train.chunk = 64
    c.n_single = 5
    c.sequential = (1, 5)
    c.n_contexts = 2
    c.n_boot = 50
  elif arg == "paper":
    c.task.S = 32
    c.task.R = 32
    c.models = ((32, 4, 8, 64), (48, 4, 12, 96), (64, 8, 8, 128))
    c.train.max_steps = 2 ** 14
    c.n_single = 200
    c.sequential = (1, 10, 100, 300)
  return c


# What each field allows (factrecall.checks; the CLI checks every field
# before anything runs). Checks across fields are editing.validate's.
RULES = {
    **crosstalk.MODEL_RULES,
    "task.D": Int(2, 4096),
    "task.n_noise": Int(0, 2 ** 20, also=(-1,), note="-1 = S + R"),
    "n_single": Int(2),
    "sequential": Seq(Int(1), distinct=True),
    "n_contexts": Int(1, 1024),
    "ridge": Real(1e-12, 1e6, note="times mean(diag C); > 0: dead neurons "
                  "make C singular"),
    "v_steps": Int(0, 10 ** 6, note="0 = no edit (v* = W2^T k*)"),
    "v_lr": Real(0, 1e4, lo_open=True),
    "v_l2": Real(0, 1e4),
    "ig_steps": Int(1, 10 ** 4),
    "kn_frac": Real(0, 1, lo_open=True, hi_open=True),
    "kv_top": Int(1),
    "success_band": Real(0, 1, lo_open=True),
    "max_drop": Real(0, 1),
    "n_boot": Int(10, 10 ** 6),
}

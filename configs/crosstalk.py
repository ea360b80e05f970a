"""Crosstalk: pairwise angles of MLP keys (Gupta et al. 2025).

Trains (or reloads from WORKDIR/checkpoints/models) a few one-layer
transformers of several sizes on one task, then compares key angles at the
MLP input and the hidden layer at real positions of real sequences: random
positions of noise-only sequences vs the subject position and the EOS query
of fact prompts, each against the same model before training.
Presets: `smoke` (tests, seconds), default (2-core CPU, ~1-2 min), `paper`.
"""
import ml_collections

from factrecall.checks import Int, OneOf
from factrecall.experiments import crosstalk

PRESETS = ("smoke", "paper")


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.experiment = "factrecall.experiments.crosstalk:run"
  c.seed = 0                      # base seed; model i uses seed + i

  c.task = ml_collections.ConfigDict()
  c.task.S = 16                   # subjects
  c.task.R = 16                   # relations
  c.task.D = 8                    # answers per relation
  c.task.T = 32                   # sequence length (EOS last)
  c.task.n_noise = -1             # noise tokens; -1 = S + R (the paper's)

  # one-layer transformers (d, H, d_h, m), one trained model each
  c.models = ((24, 4, 6, 48), (32, 4, 8, 64), (48, 4, 12, 96))
  c.act = "relu"                  # MLP activation: relu (the paper's) or
                                  # gelu (exact, as in BERT-style models)

  c.train = ml_collections.ConfigDict()
  c.train.batch = 256             # fresh samples per step
  c.train.chunk = 128             # steps between evaluations
  c.train.max_steps = 4096        # step budget per model
  c.train.lr = 1e-2               # AdamW (weight decay 0) learning rate
  c.train.target = 0.99           # stop once accuracy reaches this

  c.n_pairs = 100_000             # random key pairs per (model, site, kind)
  c.n_contexts = 4                # noise/position draws of every (s, r) prompt
  c.n_random = 1024               # noise-only sequences, one random position
                                  # each (kind random)
  c.n_boot = 200                  # key-resampling bootstrap replicates
  c.bins = 90                     # histogram bins over [0, 180] degrees

  c.memory_gib = 16.0             # memory a run may use (GiB); see validate

  if arg == "smoke":
    c.task.S = 6
    c.task.R = 6
    c.models = ((16, 2, 8, 32),)
    c.train.max_steps = 256
    c.train.batch = 64
    c.train.chunk = 64
    c.n_pairs = 5000
    c.n_contexts = 2
    c.n_random = 256
    c.n_boot = 30
    c.bins = 36
  elif arg == "paper":
    c.task.S = 32
    c.task.R = 32
    c.models = ((32, 4, 8, 64), (48, 4, 12, 96), (64, 8, 8, 128),
                (96, 8, 12, 192))
    c.train.max_steps = 2 ** 14
    c.n_contexts = 8
    c.n_random = 4096
    c.n_boot = 1000
  return c


# What each field allows (factrecall.checks; the CLI checks every field
# before anything runs). Checks across fields are crosstalk.validate's.
RULES = {
    **crosstalk.MODEL_RULES,
    "task.D": Int(1, 4096),
    "act": OneOf("relu", "gelu"),
    "task.n_noise": Int(1, 2 ** 20, also=(-1,), note="-1 = S + R"),
    "n_pairs": Int(10, 10 ** 7),
    "n_contexts": Int(1, 1024),
    "n_random": Int(2, 2 ** 20),
    "n_boot": Int(10, 10 ** 6),
    "bins": Int(1, 10 ** 4),
}

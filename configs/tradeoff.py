"""Attention-MLP trade-off at a fixed number of facts (paper Fig. 4 right).

Every (H, m) cell of the grid trains n_seeds models at S = R = 32 (1024
facts); a heatmap shows accuracy over (attention, MLP) parameters and the
boundary of the solved region is fitted as the paper draws it: an attention
floor x = x0 plus a sloped line, whose slope is the exchange rate.
Presets: `smoke` (tests, seconds), default (2-core CPU: an 8 x 9 subgrid of
the paper's grid, as fine in m as the paper's where the boundary slopes,
two seeds, 2^11 steps; the paper's evaluation and target differ, see
summary.json's departures), `paper` (the original code's protocol: its
13 x 13 grid, one seed, 2^14 steps, accuracy 1.0 on a fixed
1024-sequence test set; for accelerators).
Cost: one compiled group per (H, m) cell (its seeds share the shape).
"""
import ml_collections

from factrecall import engine
from factrecall.checks import Int, OneOf, Real, Seq

PRESETS = ("smoke", "paper")


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.experiment = "factrecall.experiments.tradeoff:run"
  c.seed = 0                      # base seed; member seeds are seed + i

  c.task = ml_collections.ConfigDict()
  c.task.S = 32                   # subjects
  c.task.R = 32                   # relations (facts = S * R)
  c.task.D = 8                    # answers per relation
  c.task.n_noise = 64             # noise tokens; -1 = S + R
  c.task.T = 32                   # sequence length (EOS last)

  c.model = ml_collections.ConfigDict()
  c.model.d = 32                  # embedding dimension
  c.model.d_h = 8                 # head size
  # A subgrid of the paper's: H = 4, 6 bracket its floor x = 1280, H = 24
  # puts the nearly attention-only row's crossing inside the grid; m in
  # steps of 8 (y in steps of 256) below m = 48, where its boundary slopes
  # (coarser steps leave the slope undetermined between 1.7 and 3.1).
  c.model.H_list = (4, 6, 8, 10, 12, 16, 20, 24)  # heads (x = d * d_h * H)
  c.model.m_list = (1, 8, 16, 24, 32, 40, 48, 64, 128)  # MLP widths (y = d * m); 0 = attention-only

  c.train = ml_collections.ConfigDict()
  c.train.batch = 1024            # fresh samples per step
  c.train.chunk = 128             # steps between evaluations
  c.train.max_steps = 2 ** 11     # step budget per member
  c.train.target = 0.99           # accuracy that counts as solved (stop there); paper: 1.0
  # How success is judged: "all_pairs" (every (s, r) pair once, the last
  # evaluation >= target) or "paper" (the original code: a fixed test set
  # of eval_samples sequences drawn before training, its best accuracy
  # over evaluations >= target; the heatmap then shows that best accuracy).
  c.train.eval = "all_pairs"
  c.train.eval_samples = 1024     # size of the fixed test set
  c.train.lr = 1e-2               # AdamW (weight decay 0) learning rate
  c.train.patience = 6            # evaluations w/o improvement -> stalled; 0=off
  # Models per cell (different seeds). On a CPU every group is padded to
  # the device count, so a second seed costs no wall time on 2 cores.
  c.train.n_seeds = 2

  c.fit = ml_collections.ConfigDict()
  c.fit.n_boot = 1000             # bootstrap resamples (seeds per cell + crossing in its bracket)
  c.fit.solved_frac = 0.5         # a cell is solved if >= this fraction of its seeds reach target
  c.fit.rate_tol = 0.25           # exchange rate CI within ±25% of the paper's 2 -> "supported"
  c.fit.floor_tol = 0.2           # floor x0 CI within ±20% of the paper's 1280 -> "supported"
  c.fit.ratio_band = 2.0          # facts/param MLP-heavy vs attention-only within this factor -> "supported"
  c.fit.bits_band = 1.5           # bits/param on the boundary within this factor of 2 -> "supported"

  c.checkpoint_every = 30.0       # seconds between in-flight group checkpoints
  c.memory_gib = 16.0             # memory a group may use, over its devices (GiB)

  if arg == "smoke":
    c.task.S = 8
    c.task.R = 8
    c.task.n_noise = -1
    c.task.T = 16
    c.model.d = 16
    c.model.d_h = 4
    c.model.H_list = (1, 4)
    c.model.m_list = (0, 32)
    c.train.batch = 128
    c.train.chunk = 64
    c.train.max_steps = 256
    c.train.patience = 0
    c.train.eval_samples = 256
    c.train.n_seeds = 2
    c.fit.n_boot = 100
  elif arg == "paper":
    c.model.H_list = (1, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32)
    c.model.m_list = (1, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128)
    c.train.max_steps = 2 ** 14
    c.train.patience = 0
    c.train.target = 1.0
    c.train.eval = "paper"
    c.train.n_seeds = 1
  return c


# Fields that only analyse the trained results (the boundary fit, its
# bootstrap and the claims' tolerances): changing them re-fits summary.json
# and redraws the figures from results.jsonl without training again.
ANALYSIS = ("fit.",)

# What each field allows (factrecall.checks; the CLI checks every field
# before anything runs). Checks across fields are tradeoff.validate's.
RULES = {
    "seed": Int(0),
    "task.S": Int(1, 2 ** 15),
    "task.R": Int(1, 2 ** 15),
    "task.D": Int(1, 4096),
    "task.n_noise": Int(0, 2 ** 20, also=(-1,), note="-1 = S + R"),
    "task.T": Int(3, 4096),
    "model.d": Int(1, 8192),
    "model.d_h": Int(1, 8192),
    "model.H_list": Seq(Int(1, 1024), distinct=True),
    "model.m_list": Seq(Int(0, 2 ** 16, note="0 = attention-only"),
                        distinct=True),
    "train.batch": Int(1, 2 ** 20),
    "train.chunk": Int(1, 2 ** 20),
    "train.max_steps": Int(1, 2 ** 24),
    "train.target": Real(0, 1, lo_open=True),
    "train.eval": OneOf(*engine.PROTOCOLS),
    "train.eval_samples": Int(1, 2 ** 20),
    "train.lr": Real(0, 1e4, lo_open=True),
    "train.patience": Int(0, 2 ** 20, note="0 = off"),
    "train.n_seeds": Int(1, 1000),
    "fit.n_boot": Int(10, 10 ** 6),
    "fit.solved_frac": Real(0, 1, lo_open=True),
    "fit.rate_tol": Real(0, 1, lo_open=True, hi_open=True),
    "fit.floor_tol": Real(0, 1, lo_open=True, hi_open=True),
    "fit.ratio_band": Real(1, 1000, lo_open=True),
    "fit.bits_band": Real(1, 1000),
    "checkpoint_every": Real(0, 86400, note="seconds; 0 = every chunk"),
    "memory_gib": Real(0, 2 ** 20, lo_open=True),
}

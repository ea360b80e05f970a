"""Training dynamics and the hallucination stage (paper Fig. 5).

Presets: `smoke` (tests, seconds); default (the paper's linear-attention
run: one-hot embeddings, structured table, A and V at 1e-5, SGD lr 0.1,
batch 1024, 8192 steps; ~1 min on 2 CPU cores) and `paper` (the same with
more seeds and a wider S sweep); `softmax` and `softmax_paper` (that setup
with softmax attention, the variant the original notebook has commented
out: only the softmax differs); `transformer` and `transformer_paper` (an
extension the paper does not run: the one-layer softmax transformer of
the capacity experiment, random embeddings and fact table, AdamW).
"""
import ml_collections

from factrecall import tasks
from factrecall.checks import Int, OneOf, Real, Seq
from factrecall.experiments import dynamics

PRESETS = ("smoke", "paper", "softmax", "softmax_paper", "transformer",
           "transformer_paper")


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.experiment = "factrecall.experiments.dynamics:run"
  c.seed = 0                      # base seed; member seeds are seed + i
  # linear | softmax (attention on one-hot embeddings, d = vocab, A and V
  # at 1e-5) | transformer (the capacity experiment's model, the fields below)
  c.model = "linear"

  c.task = ml_collections.ConfigDict()
  c.task.S = 16                   # subjects of the main run (the stage figure)
  c.task.R = 4                    # relations (fixed across the S sweep)
  c.task.D = 8                    # answers per relation
  c.task.n_noise = 20             # noise tokens; -1 = S + R
  c.task.T = 32                   # sequence length (EOS last)
  c.task.table = "structured"     # fact table: structured | random
  c.task.S_sweep = (8, 32)        # more S values for the stage-length scaling

  c.transformer = ml_collections.ConfigDict()  # used when model = transformer
  c.transformer.d = 32            # embedding dimension
  c.transformer.H = 4             # heads
  c.transformer.d_h = 8           # head size
  c.transformer.m = 64            # MLP width; 0 = attention-only

  c.train = ml_collections.ConfigDict()
  c.train.optimizer = "sgd"       # sgd (plain) | adam (AdamW, weight decay 0)
  c.train.lr = 0.1                # learning rate
  c.train.batch = 1024            # fresh samples per step
  c.train.chunk = 32              # steps between evaluations (<= 32)
  c.train.steps = 8192            # budget of the main S (trained to the end)
  c.train.n_seeds = 6             # seeds at the main S
  c.train.sweep_max_steps = 16384  # budget of the other S (stop at t_subj)
  c.train.sweep_seeds = 3         # seeds per other S

  c.stages = ml_collections.ConfigDict()
  c.stages.rel_frac = 0.1         # relation learned: rel_loss <= rel_frac*log R
  c.stages.target = 0.99          # subject learned: accuracy >= target
  c.stages.kl_frac = 0.1          # hallucinating: KL(unif A_r || model) <= kl_frac*log D
  c.stages.flat_tol = 0.01        # plateau: |loss slope| <= flat_tol x its steepest slope
  c.stages.min_plateau_steps = 64  # a hallucination stage this long counts as "seen"
  # length vs S: stage (t_subj - t_rel) | plateau (flat loss) | uniform (KL run)
  c.stages.scaling_measure = "stage"

  c.claims = ml_collections.ConfigDict()
  c.claims.loss_tol = 0.05        # plateau losses within ±tol of log D, log DR
  c.claims.n_boot = 1000          # bootstrap resamples (scaling slope CI)

  c.plot_S = 0                    # S of the stage figure; 0 = task.S

  c.memory_gib = 16.0             # memory a run may use (GiB); see validate
  c.checkpoint_every = 30.0       # seconds between in-flight group checkpoints

  if arg == "smoke":
    c.task.S, c.task.R, c.task.D, c.task.n_noise = 8, 2, 4, 6
    c.task.S_sweep = (4,)
    c.train.lr = 0.5
    c.train.batch = 256
    c.train.steps = 512
    c.train.n_seeds = 2
    c.train.sweep_max_steps = 512
    c.train.sweep_seeds = 2
    c.stages.flat_tol = 0.05      # its plateaus last a few evaluations
    c.claims.n_boot = 100
  elif arg == "paper":
    c.task.S_sweep = (8, 32, 64, 128)
    c.train.n_seeds = 10
    c.train.sweep_max_steps = 2 ** 16
    c.train.sweep_seeds = 5
  elif arg in ("softmax", "softmax_paper"):
    c.model = "softmax"
    if arg == "softmax_paper":
      c.task.S_sweep = (8, 32, 64, 128)
      c.train.n_seeds = 10
      c.train.sweep_max_steps = 2 ** 16
      c.train.sweep_seeds = 5
  elif arg in ("transformer", "transformer_paper"):
    c.model = "transformer"
    c.task.table = "random"
    c.task.S = 64
    c.task.S_sweep = (16, 32, 128)
    c.train.optimizer = "adam"
    c.train.lr = 1e-3
    c.train.steps = 2048
    c.train.n_seeds = 3
    c.train.sweep_max_steps = 2048
    c.train.sweep_seeds = 3
    c.stages.scaling_measure = "uniform"
    if arg == "transformer_paper":
      c.task.S_sweep = (16, 32, 128, 256)
      c.train.steps = 2 ** 14
      c.train.n_seeds = 5
      c.train.sweep_max_steps = 2 ** 14
      c.train.sweep_seeds = 5
      c.transformer.d, c.transformer.d_h, c.transformer.m = 64, 16, 128
  return c


# Fields that only analyse the trained results (the claims' tolerances and
# bootstrap, and the S drawn in the stage figure): changing them re-fits
# summary.json and redraws the figures from results.jsonl without training
# again.
ANALYSIS = ("claims.", "plot_S")

# Fields added since results were first recorded: a workdir without one was
# recorded with this value.
ADDED = {"checkpoint_every": 30.0}

# What each field allows (factrecall.checks; the CLI checks every field
# before anything runs). Checks across fields are dynamics.validate's.
RULES = {
    "seed": Int(0),
    "model": OneOf(*dynamics.MODELS),
    "task.S": Int(1, 2 ** 16),
    "task.R": Int(1, 2 ** 16),
    "task.D": Int(1, 4096),
    "task.n_noise": Int(0, 2 ** 20, also=(-1,), note="-1 = S + R"),
    "task.T": Int(3, 4096),
    "task.table": OneOf(*tasks.TABLES),
    "task.S_sweep": Seq(Int(1, 2 ** 16), min_len=0, distinct=True),
    "transformer.d": Int(1, 8192),
    "transformer.H": Int(1, 1024),
    "transformer.d_h": Int(1, 8192),
    "transformer.m": Int(0, 2 ** 16, note="0 = attention-only"),
    "train.optimizer": OneOf(*dynamics.OPTIMIZERS),
    "train.lr": Real(0, 1e4, lo_open=True),
    "train.batch": Int(1, 2 ** 20),
    "train.chunk": Int(1, 32, note="plateaus need dense curves"),
    "train.steps": Int(1, 2 ** 24),
    "train.n_seeds": Int(1, 1000),
    "train.sweep_max_steps": Int(1, 2 ** 24),
    "train.sweep_seeds": Int(1, 1000),
    "stages.rel_frac": Real(0, 1, lo_open=True, hi_open=True),
    "stages.target": Real(0, 1, lo_open=True),
    "stages.kl_frac": Real(0, 1, lo_open=True, hi_open=True),
    "stages.flat_tol": Real(0, 1, lo_open=True, hi_open=True),
    "stages.min_plateau_steps": Int(0, 2 ** 24),
    "stages.scaling_measure": OneOf(*dynamics.MEASURES),
    "claims.loss_tol": Real(0, 1, lo_open=True, hi_open=True),
    "claims.n_boot": Int(10, 10 ** 6),
    "plot_S": Int(0, 2 ** 16, note="0 = task.S"),
    "memory_gib": Real(0, 2 ** 20, lo_open=True),
    "checkpoint_every": Real(0, 86400, note="seconds; 0 = every chunk"),
}

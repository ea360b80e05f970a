"""Sharp thresholds of linear associative memories: P(every association
retrieved) against the load n ln n / d^2 (top-1) and n / d^2 (listwise), for
the correlation-matrix memory (W = sum_i y_i x_i^T, no training) and the
trained linear memory of linear_memory, with fitted transition points and
widths (Barnfield, Kim, Nichani, Lee & Lu 2026, arXiv 2605.05189).

Presets: `smoke` (tests, seconds), default (2-core CPU, minutes), `paper`
(larger sizes and more seeds; hours on a CPU).
"""
import ml_collections

from factrecall.experiments import thresholds

PRESETS = ("smoke", "paper")


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.experiment = "factrecall.experiments.thresholds:run"
  c.seed = 0                      # base seed; seeds are seed + i
  c.embeddings = "sphere"         # sphere: unit rows, as linear_memory;
                                  # gaussian: N(0, I/d) rows (the papers'
                                  # isotropic Gaussian model)
  c.list_frac = 0.05              # listwise: the answer within the top
                                  # ceil(list_frac * n) candidates
  c.memories = ("correlation", "trained")

  c.correlation = ml_collections.ConfigDict()
  c.correlation.d_list = (16, 32, 64, 128, 256)
  c.correlation.n_seeds = 24      # Bernoulli outcomes per load
  c.correlation.load_range = (0.04, 0.6)  # n ln n / d^2, geometric grid;
                                  # spans both the top-1 (~1/8) and the
                                  # listwise (~0.25) transitions
  c.correlation.n_loads = 16

  c.trained = ml_collections.ConfigDict()
  c.trained.d_list = (8, 11, 16, 22, 32)  # linear_memory's sizes
  c.trained.n_seeds = 8
  c.trained.load_range = (0.4, 1.6)  # around the strict and 99% transitions
  c.trained.n_loads = 14
  c.trained.lr = 1000.0           # linear_memory's Adam learning rate
  c.trained.max_steps = 4096      # full-batch steps per member (as there)
  c.trained.chunk = 64            # steps between accuracy checks

  c.fit = ml_collections.ConfigDict()
  c.fit.n_boot = 300              # seed resamples for the CIs
  c.fit.flat_band = (-0.1, 0.1)   # slope of a transition load against d^2
                                  # inside -> the load is the scale
  c.fit.band_factor = 1.25        # a midpoint's CI within this factor of a
                                  # reference value -> "supported"
  c.memory_gib = 16.0             # largest size's working set must fit
  c.checkpoint_every = 30.0       # seconds between in-flight group checkpoints

  if arg == "smoke":
    c.correlation.d_list = (8, 16)
    c.correlation.n_seeds = 6
    c.correlation.n_loads = 6
    c.trained.d_list = (8,)
    c.trained.n_seeds = 3
    c.trained.load_range = (0.3, 1.2)
    c.trained.n_loads = 3
    c.trained.max_steps = 256
    c.fit.n_boot = 40
  elif arg == "paper":
    c.correlation.d_list = (16, 32, 64, 128, 256, 512)
    c.correlation.n_seeds = 64
    c.correlation.n_loads = 24
    c.trained.d_list = (8, 11, 16, 22, 32, 45, 64)
    c.trained.n_seeds = 16
    c.trained.n_loads = 14
  return c


RULES = thresholds.RULES

# Fields that only say how results are fitted: changing them re-analyses a
# workdir's records instead of refusing it.
ANALYSIS = ("fit.",)

# Fields added since results were first recorded: a workdir without one was
# recorded with this value.
ADDED = {"checkpoint_every": 30.0}

"""Linear associative memory capacity N*(d) (SPEC section 4; paper Fig. 1 left).

Presets: `smoke` (tests, seconds), default (2-core CPU, ~4 min), `paper`
(SPEC's grid d = 2^{3, 3.5, ..., 8}, 5 seeds; accelerators).
"""
import ml_collections

from factrecall import memories
from factrecall.checks import OneOf, Seq

PRESETS = ("smoke", "paper")


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.experiment = "factrecall.memories:run"
  c.memory = "linear"             # linear | mlp
  c.seed = 0                      # base seed; member seeds are seed + i
  c.n_seeds = 3                   # searches per size (different embeddings)
  c.d_list = (8, 11, 16, 23, 32, 45)  # embedding dimensions (2^{3, 3.5, ...})
  c.regimes = ("identity",)       # outputs: identity f*(x) = x, M = N
  c.n_fixed = 32                  # M of the fixed regime (unused here)

  c.train = ml_collections.ConfigDict()
  c.train.lrs = (1.0,)            # Adam learning rates; stored if any succeeds
  c.train.max_steps = 4096        # full-batch steps per member (SPEC)
  c.train.chunk = 64              # steps between accuracy checks
  c.train.target = 0.99           # accuracy that counts as stored
  c.train.patience = 8            # checks w/o accuracy gain -> stalled; 0=off

  c.search = ml_collections.ConfigDict()
  c.search.guess = ml_collections.ConfigDict(
      {"identity": 1.0, "fixed": 1.0})  # first guess c of N ln N = c d^2
  c.search.spread = 2.0           # first bracket: guess / spread .. * spread
  c.search.n_candidates = 4       # candidate N per seed and round
  c.search.resolution = 0.05      # stop when N_fail <= N_ok * (1 + resolution)
  c.search.max_rounds = 6         # refinement rounds per size
  c.search.n_max = 20000          # largest N searched
  c.search.prune = True           # stop members the bracket no longer needs
  c.search.mode = "bracket"       # bracket: candidates around the law's
                                  # guess, refined; bisect: the original
                                  # code's bisection on [d, hi_per_param *
                                  # params] (lo untested as stored, hi as not)
  c.search.hi_per_param = 0.5      # bisection's upper end: d^2 / 2 (original)

  c.fit = ml_collections.ConfigDict()
  c.fit.n_boot = 1000             # bootstrap resamples for CIs
  c.fit.slope_band = (0.85, 1.15)  # slope CI inside -> "supported"
  c.fit.guide_factor = 1.25       # constant CI within this factor of the
                                  # paper's hand-drawn guide -> "supported"

  # Memory a group may use, summed over its devices (GiB): one member must
  # fit, and a round's members are split into groups that fit.
  c.memory_gib = 16.0

  if arg == "smoke":
    c.n_seeds = 2
    c.d_list = (4, 6, 8)
    c.train.max_steps = 512
    c.search.n_candidates = 3
    c.search.resolution = 0.3
    c.search.max_rounds = 2
    c.fit.n_boot = 200
  elif arg == "paper":
    c.n_seeds = 5
    c.d_list = (8, 11, 16, 23, 32, 45, 64, 91, 128, 181, 256)
    c.train.lrs = (1000.0, 1.0)   # the reference's 1000, and 1.0
    c.train.max_steps = 4096
    c.train.patience = 0
    c.search.n_candidates = 8
    c.search.resolution = 0.02
    c.search.max_rounds = 10
    c.search.prune = False
  return c


# What each field allows (factrecall.checks; the CLI checks every field
# before anything runs). Checks across fields are memories.validate's.
RULES = {
    **memories.SEARCH_RULES,
    "memory": OneOf("linear"),
    "regimes": Seq(OneOf("identity")),
}

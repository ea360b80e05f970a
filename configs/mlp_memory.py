"""MLP associative memory capacity N*(m, d) (SPEC section 4; paper Fig. 1
right: identity outputs M = N; Fig. 6: a fixed number of outputs M = 32).

Presets: `smoke` (tests, seconds), default (2-core CPU, ~4 min), `paper`
(SPEC's grid: ratios m/d in {1, 2, 4, 8}, d up to 91, 5 seeds; accelerators).
"""
import ml_collections

from factrecall import memories
from factrecall.checks import OneOf, Real, Seq

PRESETS = ("smoke", "paper")


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.experiment = "factrecall.memories:run"
  c.memory = "mlp"                # linear | mlp
  c.seed = 0                      # base seed; member seeds are seed + i
  c.n_seeds = 3                   # searches per shape (different embeddings)
  c.d_list = (4, 6, 8, 11, 16)    # embedding dimensions (~2^{2, 2.5, ...})
  c.ratios = (1.0, 2.0)           # widths m = round(ratio * d)
  c.regimes = ("identity", "fixed")  # identity: M = N, f*(x) = x;
                                  # fixed: M = n_fixed, f*(i) = floor(i M / N)
  c.n_fixed = 32                  # M of the fixed regime

  c.train = ml_collections.ConfigDict()
  c.train.lrs = (3e-2,)           # Adam learning rates; stored if any succeeds
  c.train.max_steps = 2048        # full-batch steps per member
  c.train.chunk = 64              # steps between accuracy checks
  c.train.target = 0.99           # accuracy that counts as stored
  c.train.patience = 6            # checks w/o accuracy gain -> stalled; 0=off

  c.search = ml_collections.ConfigDict()
  c.search.guess = ml_collections.ConfigDict(
      {"identity": 2.5, "fixed": 1.0})  # first guess c of N ln N = c m d
                                  # (identity) and N = c m d (fixed)
  c.search.spread = 2.0           # first bracket: guess / spread .. * spread
  c.search.n_candidates = 3       # candidate N per seed and round
  c.search.resolution = 0.15      # stop when N_fail <= N_ok * (1 + resolution)
  c.search.max_rounds = 2         # refinement rounds per shape
  c.search.n_max = 50000          # largest N searched
  c.search.prune = True           # stop members the bracket no longer needs
  c.search.mode = "bracket"       # bracket: candidates around the law's
                                  # guess, refined; bisect: the original
                                  # code's bisection on [d, hi_per_param *
                                  # params] (lo untested as stored, hi as not)
  c.search.hi_per_param = 1.0      # bisection's upper end: m d (original)

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
    c.d_list = (4, 8)
    c.ratios = (1.0,)
    c.n_fixed = 8
    c.train.max_steps = 512
    c.search.n_candidates = 2
    c.search.resolution = 0.3
    c.search.max_rounds = 2
    c.fit.n_boot = 200
  elif arg == "paper":
    c.n_seeds = 5
    c.d_list = (8, 11, 16, 23, 32, 45, 64, 91)
    c.ratios = (1.0, 2.0, 4.0, 8.0)
    c.train.max_steps = 2 ** 15
    c.train.patience = 0
    c.search.n_candidates = 8
    c.search.resolution = 0.02
    c.search.max_rounds = 10
    c.search.prune = False
    # The largest member (d = 91, m = 728) may reach N = n_max = 50k, a
    # ~38 GiB member: an accelerator of 64 GB or more.
    c.memory_gib = 64.0
  return c


# What each field allows (factrecall.checks; the CLI checks every field
# before anything runs). Checks across fields are memories.validate's.
RULES = {
    **memories.SEARCH_RULES,
    "memory": OneOf("mlp"),
    "ratios": Seq(Real(0, 1024, lo_open=True), distinct=True),
    "regimes": Seq(OneOf(*memories.REGIMES), distinct=True),
}

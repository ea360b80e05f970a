"""MeMo single-layer capacity: stored pairs vs h*d_h*d (Zanzotto et al.
2025).

Presets: `smoke` (tests, seconds), default (2-core CPU, ~5 min), `paper`
(the authors' full grid with a 100,000-symbol vocabulary; accelerators, hours).
"""
import ml_collections

from factrecall.checks import Int, OneOf, Real, Seq

PRESETS = ("smoke", "paper")


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.experiment = "factrecall.experiments.memo:run_capacity"
  c.seed = 0                     # base seed; run seeds are seed + seeds[i]
  c.seeds = (0, 1)               # independent memories per grid point
  c.vocab = 100_000              # uniform random symbols
  c.h_list = (2, 4, 8)           # tokens per key
  c.d_h_list = (16, 32)          # size of a token's input vector
  c.d_list = (256, 512)          # size of the output vectors
  c.batch = 50                   # pairs stored between evaluations
  c.max_batches = 400            # storing budget per run (then censored)
  c.threshold = 0.9              # store while (acc first + acc current)/2 >
  c.stop_rule = "last_pass"      # stored pairs: before the failing batch
                                 # (last_pass) or with it, one batch when the
                                 # first fails (first_fail: the authors')
  c.chunk = 8192                 # vocabulary rows scored at once
  c.group_by = "d"               # one vmapped call per: d (h*d_h zero-padded,
                                 # same results) or n_d (h*d_h and d; less memory)
  c.guess_c = 0.05               # pairs per parameter, only for the ETA
  c.n_boot = 1000                # bootstrap resamples for CIs
  c.slope_band = (0.85, 1.15)    # log-log slope CI inside -> "supported"
  c.c_band = (0.9, 1.1)          # c's CI inside this x the authors' 0.0278
                                 # -> "supported"
  c.memory_gib = 16.0             # memory a run may use (GiB); see validate
  c.checkpoint_every = 30.0       # seconds between in-flight group checkpoints
  c.bits_band = 1.5              # bits/param within this factor of Allen-Zhu
                                 # & Li's 2 -> "supported"

  if arg == "smoke":
    c.vocab = 2000
    c.h_list = (2, 4)
    c.d_h_list = (8, 16)
    c.d_list = (64,)
    c.batch = 20
    c.max_batches = 100
    c.n_boot = 200
  elif arg == "paper":
    c.seeds = (0, 1, 2)
    c.h_list = (2, 4, 8, 16, 32)
    c.d_h_list = (16, 32, 64, 128, 256)
    c.d_list = (512, 1024, 2048, 4096, 8192)
    c.batch = 1000
    c.max_batches = 1_000_000
    c.group_by = "n_d"
    c.stop_rule = "first_fail"
  return c


# Fields that only judge the recorded runs: changing them re-analyses a
# workdir instead of storing again.
ANALYSIS = ("bits_band",)

# Fields added since results were first recorded: a workdir without one was
# recorded with this value.
ADDED = {"checkpoint_every": 30.0}

# What each field allows (factrecall.checks; the CLI checks every field
# before anything runs). Checks across fields are memo.validate's.
RULES = {
    "seed": Int(0),
    "seeds": Seq(Int(0), distinct=True),
    "vocab": Int(2, 10 ** 7),
    "h_list": Seq(Int(1, 1024), distinct=True),
    "d_h_list": Seq(Int(1, 2 ** 14), distinct=True),
    "d_list": Seq(Int(1, 2 ** 16), distinct=True),
    "batch": Int(1, 2 ** 20),
    "max_batches": Int(1),
    "threshold": Real(0, 1, lo_open=True, hi_open=True),
    "chunk": Int(1),
    "group_by": OneOf("d", "n_d"),
    "guess_c": Real(0, 1000, note="pairs per parameter, only for the ETA"),
    "n_boot": Int(10, 10 ** 6),
    "slope_band": Seq(Real(0, 100), min_len=2, max_len=2, increasing=True),
    "stop_rule": OneOf("last_pass", "first_fail"),
    "c_band": Seq(Real(0, 100), min_len=2, max_len=2, increasing=True),
    "memory_gib": Real(0, 2 ** 20, lo_open=True),
    "checkpoint_every": Real(0, 86400, note="seconds; 0 = every chunk"),
    "bits_band": Real(1, 1000),
}

"""Multi-layer MeMo with planted decoy windows, and forgetting (SPEC 6).

Presets: `smoke` (tests, seconds), default (2-core CPU, a few minutes),
`paper` (d = 4096, longer texts; accelerators).
"""
import ml_collections

from factrecall.checks import Int, Real, Seq

PRESETS = ("smoke", "paper")


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.experiment = "factrecall.memo:run_decoys"
  c.seed = 0                     # base seed; run seeds are seed + seeds[i]
  c.seeds = (0, 1)               # independent memories and texts
  c.vocab = 5000                 # uniform random token texts
  c.h = 4                        # heads: tokens per block
  c.d = 512                      # item / key / value size; C is d x d
  c.layers_list = (1, 2, 3)      # layer counts compared (contexts h^layers)
  c.decoys_list = (0, 20, 40)    # decoy windows planted per batch
  c.batch = 500                  # windows stored between evaluations
  c.n_batches = 30               # text stored = batch * n_batches windows
  c.threshold = 0.9              # "stored" while (first + current)/2 >
  c.chunk = 8192                 # vocabulary rows scored at once
  c.table_every = 3              # a table row every this many batches
  c.n_boot = 1000                # bootstrap resamples for CIs
  c.forget_words = (2000, 10000)  # words of texts A and B (0: no demo)
  c.memory_gib = 16.0             # memory a run may use (GiB); see validate

  if arg == "smoke":
    c.vocab = 500
    c.d = 64
    c.batch = 100
    c.n_batches = 4
    c.decoys_list = (0, 10)
    c.table_every = 2
    c.n_boot = 200
    c.forget_words = (300, 1000)
  elif arg == "paper":
    c.seeds = (0, 1, 2)
    c.vocab = 100_000
    c.d = 4096
    c.batch = 1000
    c.n_batches = 1000
    c.table_every = 50
  return c


# What each field allows (factrecall.checks; the CLI checks every field
# before anything runs). Checks across fields (d a multiple of h, decoys
# per batch, the stdlib words, memory) are memo.validate's.
RULES = {
    "seed": Int(0),
    "seeds": Seq(Int(0), distinct=True),
    "vocab": Int(2, 10 ** 7),
    "h": Int(1, 1024),
    "d": Int(1, 2 ** 15),
    "layers_list": Seq(Int(1, 32), distinct=True),
    "decoys_list": Seq(Int(0), distinct=True),
    "batch": Int(1, 2 ** 20),
    "n_batches": Int(1, 2 ** 24),
    "threshold": Real(0, 1, lo_open=True, hi_open=True),
    "chunk": Int(1),
    "table_every": Int(1),
    "n_boot": Int(10, 10 ** 6),
    "forget_words": Seq(Int(2, 10 ** 7, also=(0,), note="0: no demo"),
                        min_len=0, max_len=2),
    "memory_gib": Real(0, 2 ** 20, lo_open=True),
}

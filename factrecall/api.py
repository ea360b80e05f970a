"""The Python API: run an experiment and load a run's results in a notebook.

    import factrecall
    run = factrecall.run("capacity:smoke", workdir="runs/smoke",
                         fit__n_boot=100)       # or {"fit.n_boot": 100}
    run.claims_table()                           # what the CLI prints
    run.capacities                               # one row per shape
    run.records.to_pandas()                      # with pandas installed

`run` is the command line's run (the same checks, XLA flags, resume and
outputs: config.json, results.jsonl, summary.json, figures/, report.html);
`load` reads a workdir written by either.
"""
import json
import os
import sys
import warnings

from factrecall import output


class Table(list):
  """A list of flat dict rows, with .to_pandas() where pandas is installed."""

  def to_pandas(self):
    try:
      import pandas  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise ImportError("Table.to_pandas needs pandas: pip install pandas "
                        "(or pip install -e \".[pandas]\")") from None
    return pandas.DataFrame(list(self))

  def column(self, name):
    """The values of one field, None where a row lacks it."""
    return [r.get(name) for r in self]


class Run:
  """A workdir's results: config (dict), records (results.jsonl), summary
  (summary.json), claims and, for capacity experiments, capacities (one
  flat row per shape and protocol)."""

  def __init__(self, workdir):
    self.workdir = workdir
    cfg_path = os.path.join(workdir, "config.json")
    if not os.path.exists(cfg_path):
      raise output.UserError(f"{workdir}: no config.json; not a factrecall "
                             "workdir")
    with open(cfg_path) as f:
      self.config = json.load(f)
    # The records exactly as the CLI's resume reads them (a torn last line
    # from a killed run is left out).
    self.records = Table(output.read_records(
        os.path.join(workdir, "results.jsonl")))
    sp = os.path.join(workdir, "summary.json")
    self.summary = {}
    if os.path.exists(sp):
      with open(sp) as f:
        self.summary = json.load(f)
    self.claims = Table(self.summary.get("claims", []))
    self.capacities = Table(flat_capacities(self.summary))

  @property
  def figures(self):
    """Paths of the figures (PNG) the run wrote, by name."""
    d = os.path.join(self.workdir, "figures")
    if not os.path.isdir(d):
      return {}
    return {f[:-4]: os.path.join(d, f) for f in sorted(os.listdir(d))
            if f.endswith(".png")}

  def claim(self, cid):
    """The claim with id cid (KeyError if the run has none)."""
    for c in self.claims:
      if c["id"] == cid:
        return c
    raise KeyError(f"{cid}: claims are {', '.join(self.claims.column('id'))}")

  def claims_table(self):
    return output.claims_table(self.claims)

  def __repr__(self):
    name = f"{self.config.get('name')}:{self.config.get('preset')}"
    return (f"<factrecall.Run {name} at {self.workdir}: "
            f"{len(self.records)} records, {len(self.claims)} claims>\n" +
            self.claims_table())


def flat_capacities(summary):
  """summary.json's per-shape capacities as flat rows: one per shape and
  evaluation protocol, with the shape's fields, the protocol and its
  capacity (k, facts, the bracket and the seed band)."""
  rows = []
  for c in summary.get("capacities", []) or []:
    base = {k: v for k, v in c.items()
            if k != "protocols" and not isinstance(v, (dict, list))}
    for p, q in (c.get("protocols") or {"": {}}).items():
      row = dict(base, protocol=p)
      for k, v in q.items():
        if isinstance(v, dict):
          continue  # the seed table: per seed, in results.jsonl too
        if isinstance(v, list) and len(v) == 2:
          row[f"{k}_lo"], row[f"{k}_hi"] = v
        elif not isinstance(v, list):
          row[k] = v
      rows.append(row)
  return rows


def load(workdir):
  """The results of a workdir written by `run` or the command line."""
  return Run(workdir)


def _flags_apply():
  """Sets the CLI's XLA flags if jax has not started its backends yet;
  returns False if it has (then they cannot take effect)."""
  from factrecall import cli  # pylint: disable=g-import-not-at-top
  if "jax" in sys.modules:
    try:
      from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
      if xla_bridge.backends_are_initialized():
        return all(f.split("=")[0] in os.environ.get("XLA_FLAGS", "")
                   for f in cli.CPU_FLAGS)
    except (ImportError, AttributeError):
      pass
  cli.use_all_cores()
  return True


def run(config, workdir=None, overrides=None, *, echo=False, **fields):
  """Runs an experiment like `experiments/sweep.py` and returns load(workdir).

  config: "NAME[:PRESET]" or "path/to/config.py[:PRESET]"; workdir: default
  runs/NAME (runs/NAME_PRESET for a preset); overrides: {dotted field:
  value}; fields: the same as keywords, with "__" for "." (fit__n_boot=100).
  Values may be Python values or strings as on the command line. Raises
  factrecall.UserError (one line naming the field) on a bad config.

  Call it before anything else uses jax, so that the CLI's XLA flags (one
  device per core, XLA:CPU's own kernels) apply; if jax has started
  already, the run still works, with a warning, and its numbers may differ
  from the command line's in the last bits.
  """
  from factrecall import cli  # pylint: disable=g-import-not-at-top
  values = dict(overrides or {})
  values.update({k.replace("__", "."): v for k, v in fields.items()})
  cfg, mod, fn = cli.prepare(config, values=values)
  if not _flags_apply():
    warnings.warn("factrecall.run: jax started before factrecall set its XLA "
                  "flags (see factrecall.cli.CPU_FLAGS); results may differ "
                  "from the command line's in the last bits. Call "
                  "factrecall.run before other jax code.", stacklevel=2)
  summary, wd = cli.execute(cfg, mod, fn, workdir, echo=echo)
  del summary
  return load(wd.path)

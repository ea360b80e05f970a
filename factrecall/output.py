"""The output contract shared by every experiment: config.json, results.jsonl,
summary.json with its claims, figures/ and report.html.

WORKDIR/config.json, results.jsonl (append-only, one JSON object per finished
member), summary.json (claims) and figures/. Writes are atomic so that an
interrupted run never leaves a half-written record behind.
"""
import json
import math
import os
import tempfile

import numpy as np

# Signals received by the CLI's handler (cli.entry). Python can swallow the
# KeyboardInterrupt the handler raises (raised inside a garbage-collection
# callback it is printed and ignored), so long loops also check this list.
INTERRUPTS = []

# "untested": the run measured nothing the claim could be judged on (e.g. no
# shape inside the paper's figure's range); the claim says why in
# untested_because, and the claims table prints the reason under it.
VERDICTS = ("supported", "refuted", "inconclusive", "untested")


class UserError(Exception):
  """A mistake of the user (bad config, bad workdir): printed as one line."""


def _jsonable(x):
  if isinstance(x, dict):
    return {str(k): _jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_jsonable(v) for v in x]
  if isinstance(x, (np.integer,)):
    return int(x)
  if isinstance(x, (np.floating, float)):
    x = float(x)
    return x if math.isfinite(x) else None
  if isinstance(x, np.ndarray):
    return _jsonable(x.tolist())
  if isinstance(x, np.bool_):
    return bool(x)
  return x


def dumps(obj):
  return json.dumps(_jsonable(obj), sort_keys=True)


def atomic_write(path, text):
  """Writes text to path via a temporary file and rename (never half-written)."""
  d = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
  with os.fdopen(fd, "w") as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def flatten(d, prefix=""):
  """{dotted name: value} of a nested config dict."""
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(flatten(v, f"{prefix}{k}."))
    else:
      out[prefix + k] = v
  return out


def is_analysis(field, analysis):
  """Whether a dotted field is one of `analysis` (names, or prefixes that
  end in '.', like 'fit.')."""
  return any(field == a or (a.endswith(".") and field.startswith(a))
             for a in analysis)


def identity(config_dict, analysis=()):
  """What makes a workdir's results what they are: every field but the
  analysis fields, which only say how the results are fitted and drawn,
  and `experiment`, which names where the code is (a module moved in the
  library does not change what its results mean)."""
  return {k: v for k, v in flatten(config_dict).items()
          if k != "experiment" and not is_analysis(k, analysis)}


def read_records(results_path):
  """The complete records of a results.jsonl (a torn last line, from a
  killed run, is left out: its member is trained again on resume)."""
  if not os.path.exists(results_path):
    return []
  out = []
  with open(results_path) as f:
    for line in f:
      if not line.endswith("\n"):
        break
      try:
        out.append(json.loads(line))
      except json.JSONDecodeError:
        break
  return out


class Workdir:
  """One experiment's output directory; re-opening it resumes.

  Its identity is its config less the analysis fields (`analysis`, the
  config's ANALYSIS): a config that differs only there re-analyses the
  results already trained (reanalysis is True) instead of being refused.
  added: {dotted field: value} of fields added to the config since (its
  ADDED); a workdir recorded without one holds that value's results.
  """

  def __init__(self, path, config_dict, is_writer=True, analysis=(),
               added=None):
    self.path = path
    self.is_writer = is_writer
    self.reanalysis = False
    self.results_path = os.path.join(path, "results.jsonl")
    self.figures = os.path.join(path, "figures")
    self.checkpoints = os.path.join(path, "checkpoints")
    if not is_writer:
      return
    try:
      os.makedirs(self.figures, exist_ok=True)
      os.makedirs(self.checkpoints, exist_ok=True)
      probe = os.path.join(path, ".write-probe")
      with open(probe, "w") as f:
        f.write("ok")
      os.remove(probe)
    except OSError as e:
      raise UserError(f"--workdir={path}: not writable ({e.strerror})") from None
    cfg_path = os.path.join(path, "config.json")
    new = dumps(config_dict)
    if os.path.exists(cfg_path):
      with open(cfg_path) as f:
        old = f.read().strip()
      if old and json.loads(old) != json.loads(new):
        # A field added to the config after these results were recorded
        # (`added`: its name -> the value its absence meant) is compared
        # as that value.
        old_d = dict(added or {}, **identity(json.loads(old), analysis))
        new_d = identity(json.loads(new), analysis)
        diff = sorted(k for k in set(old_d) | set(new_d)
                      if old_d.get(k) != new_d.get(k))
        if diff:
          more = f" and {len(diff) - 5} more" if len(diff) > 5 else ""
          raise UserError(
              f"--workdir={path} holds results of a different config "
              f"(fields differ: {', '.join(diff[:5])}{more}); use another "
              "--workdir or delete it")
        old_f, new_f = flatten(json.loads(old)), flatten(json.loads(new))
        self.reanalysis = os.path.exists(self.results_path) and any(
            is_analysis(k, analysis) and old_f.get(k) != new_f.get(k)
            for k in set(old_f) | set(new_f))
    atomic_write(cfg_path, json.dumps(json.loads(new), indent=2) + "\n")

  def records(self):
    """All complete records in results.jsonl (a torn last line is ignored)."""
    return read_records(self.results_path)

  def append(self, records):
    """Appends records in one write + fsync, so a group lands whole or not."""
    if not self.is_writer or not records:
      return
    good = self.records()
    # Drop a torn tail left by a killed run before appending.
    if os.path.exists(self.results_path):
      with open(self.results_path) as f:
        raw = f.read()
      if not raw.endswith("\n") and raw:
        atomic_write(self.results_path, "".join(dumps(r) + "\n" for r in good))
    data = "".join(dumps(r) + "\n" for r in records).encode()
    fd = os.open(self.results_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
      os.write(fd, data)
      os.fsync(fd)
    finally:
      os.close(fd)

  def write_summary(self, summary):
    if self.is_writer:
      atomic_write(os.path.join(self.path, "summary.json"),
                   json.dumps(_jsonable(summary), indent=2, sort_keys=True) + "\n")

  def figure(self, name):
    """Base path (without extension) of a figure."""
    return os.path.join(self.figures, name)


STATUSES = ("success", "failed", "stalled", "diverged", "skipped")


def status_counts(records):
  """{status: count} over the records that have a status (every status of
  STATUSES, zeros included, so that "diverged" is always counted)."""
  statuses = [r["status"] for r in records if "status" in r]
  if not statuses:
    return {}
  return {st: statuses.count(st)
          for st in STATUSES + tuple(sorted(set(statuses) - set(STATUSES)))}


def reference(value, source):
  """The paper's number a claim is compared with: {value, source}.

  value: a number, a [lo, hi] pair or a short text (what the paper states);
  source: where it is stated (paper, figure, equation). A claim whose papers
  state no number passes no_reference(why) instead.
  """
  if not source:
    raise ValueError("a reference needs its source")
  return {"value": value, "source": source}


def no_reference(why):
  """The reference of a claim no paper gives a number for, and why."""
  if not why:
    raise ValueError("say why there is no published number")
  return {"value": None, "source": why}


def claim(cid, statement, measured, ci, verdict, *, reference, **extra):
  """One row of summary.json's claims. reference: output.reference(...) or
  output.no_reference(...) (every claim says what the paper reports)."""
  assert verdict in VERDICTS, verdict
  if (verdict == "untested") != ("untested_because" in extra):
    raise ValueError(f"claim {cid}: an untested claim, and only one, says "
                     "why in untested_because")
  if not (isinstance(reference, dict) and set(reference) == {"value", "source"}
          and reference["source"]):
    raise ValueError(f"claim {cid}: reference must come from "
                     "output.reference() or output.no_reference()")
  c = {"id": cid, "statement": statement, "measured": measured,
       "ci": [ci[0], ci[1]], "verdict": verdict, "reference": reference}
  c.update(extra)
  return c


def judged(verdict, untested_because=None):
  """A claim's verdict as output.claim's keywords: `verdict`, or "untested"
  with its reason where the run holds nothing to judge (reason not None):
  claim(..., **judged(interval_verdict(...), reason_or_none))."""
  if untested_because is None:
    return dict(verdict=verdict)
  return dict(verdict="untested", untested_because=untested_because)


def interval_verdict(ci, lo, hi):
  """supported if ci within [lo, hi], refuted if disjoint, else inconclusive."""
  a, b = ci
  if not (np.isfinite(a) and np.isfinite(b)):
    return "inconclusive"
  if lo <= a and b <= hi:
    return "supported"
  if b < lo or a > hi:
    return "refuted"
  return "inconclusive"


def sign_verdict(ci, positive=True):
  """supported if the CI lies strictly on the predicted side of 0."""
  a, b = ci
  if not (np.isfinite(a) and np.isfinite(b)):
    return "inconclusive"
  if (a > 0) if positive else (b < 0):
    return "supported"
  if (b < 0) if positive else (a > 0):
    return "refuted"
  return "inconclusive"


def fmt_number(x):
  """A claim's number as printed: 4 significant digits, None -> nan."""
  if x is None:
    return "nan"
  if isinstance(x, (int, np.integer)):
    return str(x)
  return f"{float(x):.4g}"


def fmt_reference(ref):
  """A claim's reference value as printed ("-" where there is none)."""
  v = (ref or {}).get("value")
  if v is None:
    return "-"
  if isinstance(v, (list, tuple)):
    return "[" + ", ".join(fmt_number(x) for x in v) + "]"
  if isinstance(v, str):
    return v
  return fmt_number(v)


def claims_table(claims):
  """The claims as a fixed-width text table (stdout ends with it); the
  `paper` column is the published value (- where no paper gives one)."""
  fmt = fmt_number
  head = ("claim", "measured", "95% CI", "paper", "verdict")
  rows = [head]
  for c in claims:
    ci = c.get("ci", [None, None])
    rows.append((c["id"], fmt(c["measured"]),
                 f"[{fmt(ci[0])}, {fmt(ci[1])}]",
                 fmt_reference(c.get("reference")), c["verdict"]))
  w = [max(len(r[i]) for r in rows) for i in range(len(head))]
  lines = ["  ".join(r[i].ljust(w[i]) for i in range(len(head))).rstrip()
           for r in rows]
  lines.insert(1, "  ".join("-" * w[i] for i in range(len(head))))
  lines += [f"untested {c['id']}: {c['untested_because']}" for c in claims
            if c["verdict"] == "untested"]
  return "\n".join(lines)

"""Field rules of configs: every field of a config has one, checked before
anything compiles; a value outside its rule is a UserError naming the field,
the value and what is allowed.

A config module declares `RULES = {"dotted.field": rule, ...}` next to its
fields; `check(cfg, rules)` applies them and refuses a field without a rule
(so a new field cannot slip in unchecked). Checks across fields (shapes that
round to zero, divisibility, memory) stay in the runner's `validate(cfg)`.
"""
import functools
import math

import ml_collections

from factrecall.output import UserError

# Fields every config has that the CLI sets itself.
BUILTIN = ("experiment", "name", "preset")

MAX_SIZE = 2 ** 31 - 1  # int32: the largest count or size any field may have


def _fmt(v):
  if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
    return str(int(v)) if abs(v) >= 1e4 else str(v)
  if isinstance(v, (tuple, list)):
    return "(" + ", ".join(_fmt(x) for x in v) + ("," if len(v) == 1 else "") + ")"
  return repr(v) if isinstance(v, str) else str(v)


def _interval(lo, hi, lo_open, hi_open):
  left = "(" if lo_open else "["
  right = ")" if hi_open else "]"
  return f"{left}{_fmt(lo) if lo is not None else '-inf'}, " \
         f"{_fmt(hi) if hi is not None else 'inf'}{right}"


class Rule:
  """A predicate on one value with a description of what it allows."""

  def allows(self, v):
    raise NotImplementedError

  def describe(self):
    raise NotImplementedError


class Int(Rule):
  """An integer in [lo, hi] (hi defaults to MAX_SIZE), or one of `also`."""

  def __init__(self, lo=None, hi=MAX_SIZE, also=(), note=""):
    self.lo, self.hi, self.also, self.note = lo, hi, tuple(also), note

  def allows(self, v):
    if isinstance(v, bool) or not isinstance(v, int):
      return False
    if v in self.also:
      return True
    return (self.lo is None or v >= self.lo) and (self.hi is None or v <= self.hi)

  def describe(self):
    s = f"an integer in {_interval(self.lo, self.hi, False, False)}"
    if self.also:
      s += " or " + " or ".join(_fmt(a) for a in self.also)
    return s + (f" ({self.note})" if self.note else "")


class Real(Rule):
  """A finite number in the interval (ends open or closed)."""

  def __init__(self, lo=None, hi=None, lo_open=False, hi_open=False, note=""):
    self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open
    self.note = note

  def allows(self, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
      return False
    if not math.isfinite(v):
      return False
    if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
      return False
    if self.hi is not None and (v >= self.hi if self.hi_open else v > self.hi):
      return False
    return True

  def describe(self):
    s = "a finite number in " + _interval(self.lo, self.hi, self.lo_open,
                                          self.hi_open)
    return s + (f" ({self.note})" if self.note else "")


class Bool(Rule):

  def allows(self, v):
    return isinstance(v, bool)

  def describe(self):
    return "true or false"


class OneOf(Rule):

  def __init__(self, *choices):
    self.choices = choices

  def allows(self, v):
    return any(type(v) is type(c) and v == c for c in self.choices)

  def describe(self):
    return "one of " + ", ".join(_fmt(c) for c in self.choices)


class Text(Rule):
  """Any string (a path, a name chosen by the user)."""

  def __init__(self, note=""):
    self.note = note

  def allows(self, v):
    return isinstance(v, str)

  def describe(self):
    return "a string" + (f" ({self.note})" if self.note else "")


class Seq(Rule):
  """A list of items, each allowed by `item` (a rule, or a tuple of rules
  for fixed-length tuples such as pairs), with a length in [min_len,
  max_len]; `distinct` refuses repeated items, `increasing` unsorted ones."""

  def __init__(self, item, min_len=1, max_len=None, distinct=False,
               increasing=False):
    self.item, self.min_len, self.max_len = item, min_len, max_len
    self.distinct, self.increasing = distinct, increasing

  def _item_ok(self, x):
    if isinstance(self.item, tuple):
      return (isinstance(x, (tuple, list)) and len(x) == len(self.item) and
              all(r.allows(y) for r, y in zip(self.item, x)))
    return self.item.allows(x)

  def allows(self, v):
    if not isinstance(v, (tuple, list)):
      return False
    if len(v) < self.min_len or (self.max_len is not None and
                                 len(v) > self.max_len):
      return False
    if not all(self._item_ok(x) for x in v):
      return False
    if self.distinct and len(set(map(_fmt, v))) < len(v):
      return False
    if self.increasing and any(a >= b for a, b in zip(v, v[1:])):
      return False
    return True

  def describe(self):
    if isinstance(self.item, tuple):
      item = "(" + ", ".join(r.describe() for r in self.item) + ")"
    else:
      item = self.item.describe()
    n = (f"exactly {self.min_len}" if self.max_len == self.min_len else
         f"{self.min_len} or more" if self.max_len is None else
         f"{self.min_len} to {self.max_len}")
    extra = "".join([", distinct" if self.distinct else "",
                     ", increasing" if self.increasing else ""])
    return f"a list of {n} items{extra}, each {item}"


def check_memory(need_bytes, memory_gib, sizes, what):
  """UserError if `what` would need more than memory_gib GiB; `sizes` names
  the fields, with their values, that make the need."""
  if need_bytes > memory_gib * 2 ** 30:
    raise UserError(f"{sizes}: {what} would need ~{need_bytes / 2 ** 30:.0f} "
                    f"GiB, over memory_gib={memory_gib}; lower one of them or "
                    "raise memory_gib")


def at_least(cfg, field, other):
  """UserError unless the dotted field of cfg is >= the dotted field other
  (e.g. a step budget of at least one evaluation chunk)."""
  get = lambda path: functools.reduce(lambda node, k: node[k],
                                      path.split("."), cfg)
  a, b = get(field), get(other)
  if a < b:
    raise UserError(f"{field}={_fmt(a)}: must be >= {other}={_fmt(b)}")


def leaves(cfg, prefix=""):
  """(dotted name, value) of every field of a ConfigDict, depth first."""
  for k in sorted(cfg.keys()):
    v = cfg[k]
    if isinstance(v, ml_collections.ConfigDict):
      yield from leaves(v, prefix + k + ".")
    else:
      yield prefix + k, v


def unchecked(cfg, rules):
  """Fields of cfg that have no rule (a config's own bug, not the user's)."""
  return [p for p, _ in leaves(cfg) if p not in rules and p not in BUILTIN]


def check(cfg, rules):
  """Raises UserError for the first field whose value its rule refuses."""
  missing = unchecked(cfg, rules)
  if missing:
    raise AssertionError(f"config fields without a rule: {', '.join(missing)}")
  for path, v in leaves(cfg):
    rule = rules.get(path)
    if rule is not None and not rule.allows(v):
      raise UserError(f"{path}={_fmt(v)}: must be {rule.describe()}")

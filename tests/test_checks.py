"""Config validation: every field of every preset has a rule, every preset
passes, rules by hand, and bad values on every field of every config give a
one-line error (exit 2), never a traceback."""
import math

import pytest

from factrecall import checks
from factrecall import cli
from factrecall.checks import Bool, Int, OneOf, Real, Seq, Text


def _presets(name):
  return ("",) + tuple(getattr(cli.config_module(name), "PRESETS",
                               ("smoke", "paper")))


def test_rules_by_hand():
  r = Int(1, 10, also=(-1,))
  assert [r.allows(v) for v in (1, 10, -1, 0, 11, 2.0, True, "3")] == [
      True, True, True, False, False, False, False, False]
  r = Real(0, 1, lo_open=True)
  assert [r.allows(v) for v in (1e-9, 1, 0, 1.5, math.nan, math.inf, 1)] == [
      True, True, False, False, False, False, True]
  assert Bool().allows(False) and not Bool().allows(0)
  assert OneOf("a", "b").allows("b") and not OneOf("a", "b").allows("c")
  assert not OneOf(1, 2).allows(True)
  assert Text().allows("") and not Text().allows(3)
  pair = Seq((Real(0, 1), Int(0)), distinct=True)
  assert pair.allows(((0.5, 3), (0.5, 4)))
  assert not pair.allows(((0.5, 3), (0.5, 3)))   # repeated
  assert not pair.allows(((0.5,),))              # wrong arity
  assert not pair.allows((0.5, 3))               # items are not pairs
  assert not pair.allows(())                     # min_len 1
  band = Seq(Real(0, 10), min_len=2, max_len=2, increasing=True)
  assert band.allows((1, 2)) and not band.allows((2, 1))
  assert not band.allows((1, 2, 3))
  assert "[1, 10] or -1" in Int(1, 10, also=(-1,)).describe()


def test_check_names_field_value_and_rule():
  import ml_collections
  cfg = ml_collections.ConfigDict({"a": {"b": 0}, "c": "x"})
  rules = {"a.b": Int(1, 5), "c": OneOf("x", "y")}
  with pytest.raises(checks.UserError, match=r"^a\.b=0: must be an integer in \[1, 5\]$"):
    checks.check(cfg, rules)
  with pytest.raises(AssertionError, match="without a rule: c"):
    checks.check(cfg, {"a.b": Int(0)})


@pytest.mark.parametrize("name", cli.config_names())
def test_every_preset_has_a_rule_per_field_and_passes(name, capsys):
  for preset in _presets(name):
    spec = name + (":" + preset if preset else "")
    cfg = cli.load_config(spec)
    assert not checks.unchecked(cfg, cli.config_module(name).RULES), spec
    assert cli.entry([f"--config={spec}", "--print_config"]) == 0, (
        spec, capsys.readouterr().err)
    capsys.readouterr()


def _bad_values(v):
  """(value text, must it be refused?) for a field whose default is v."""
  if isinstance(v, bool):
    return [("maybe", True)]
  if isinstance(v, int):
    return [("1000000000000", True), ("-1000000000000", True), ("-1", False),
            ("0", False), ("x", True)]
  if isinstance(v, float):
    return [("nan", True), ("inf", True), ("-inf", True), ("-1", False),
            ("0", False)]
  if isinstance(v, (tuple, list)):
    return [("()", False), ("-1", False), ("0", False), ("abc", True),
            ("1e30", v and isinstance(v[0], (int, float))),
            ("'a','a'", True)]
  return [("bogus", False)]


CASES = [(name, path, text, refuse)
         for name in cli.config_names()
         for path, v in checks.leaves(cli.load_config(name))
         if path not in checks.BUILTIN
         for text, refuse in _bad_values(v)]


@pytest.mark.parametrize("name", cli.config_names())
def test_bad_values_on_every_field_are_one_line_errors(name, capsys):
  """Values that make no sense for a field of its type (NaN, inf, 10^12,
  text for a number) are refused; the others may be allowed; none may raise
  or print more than one line."""
  for _, path, text, refuse in [c for c in CASES if c[0] == name]:
    argv = [f"--config={name}", f"--config.{path}={text}", "--print_config"]
    rc = cli.entry(argv)
    err = capsys.readouterr().err.strip()
    assert rc in (0, 2), (argv, err)
    if refuse:
      assert rc == 2, argv
    if rc == 2:
      assert err.startswith("error: ") and "\n" not in err, (argv, err)
      assert path in err, (argv, err)


@pytest.mark.parametrize("name,steps,chunk", [
    ("capacity", "train.max_steps", "train.chunk"),
    ("tradeoff", "train.max_steps", "train.chunk"),
    ("linear_memory", "train.max_steps", "train.chunk"),
    ("thresholds", "trained.max_steps", "trained.chunk"),
    ("crosstalk", "train.max_steps", "train.chunk")])
def test_a_budget_below_one_chunk_is_refused(name, steps, chunk, capsys):
  argv = [f"--config={name}", f"--config.{chunk}=64",
          f"--config.{steps}=32", "--print_config"]
  assert cli.entry(argv) == 2
  err = capsys.readouterr().err.strip()
  assert err == f"error: {steps}=32: must be >= {chunk}=64", err
  argv[2] = f"--config.{steps}=64"
  assert cli.entry(argv) == 0

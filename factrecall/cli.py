"""The command line behind experiments/sweep.py: config loading, overrides,
validation, workdir and the claims table. User mistakes exit with status 2 and
one line; nothing here is experiment-specific.

A config (configs/NAME.py) is `get_config(arg) -> ConfigDict` with a field
`experiment = "module:function"` naming the runner,
`run(config, workdir: output.Workdir) -> summary dict` (with "claims"), and
`RULES`, a factrecall.checks rule for every field, checked before anything
else. The runner's module may add `validate(config)` for checks across
fields, raising output.UserError.
"""
import ast
import functools
import importlib
import importlib.util
import json
import os
import platform
import signal
import sys

import ml_collections

from factrecall import checks
from factrecall import output
from factrecall.output import UserError

def _config_dir():
  """configs/ of the repository (a source checkout or editable install), else
  the copy installed as factrecall/configs (setup.py packages it there)."""
  here = os.path.dirname(os.path.abspath(__file__))
  for d in (os.path.join(os.path.dirname(here), "configs"),
            os.path.join(here, "configs")):
    if os.path.isfile(os.path.join(d, "capacity.py")):
      return d
  return os.path.join(here, "configs")


CONFIG_DIR = _config_dir()


def config_names():
  if not os.path.isdir(CONFIG_DIR):
    return []
  return sorted(f[:-3] for f in os.listdir(CONFIG_DIR)
                if f.endswith(".py") and not f.startswith("_"))


@functools.lru_cache(maxsize=None)
def config_module(name):
  """configs/NAME.py as a module (NAME must be one of config_names())."""
  path = os.path.join(CONFIG_DIR, name + ".py")
  mod_spec = importlib.util.spec_from_file_location(f"configs.{name}", path)
  mod = importlib.util.module_from_spec(mod_spec)
  mod_spec.loader.exec_module(mod)
  return mod


def load_config(spec):
  """'NAME[:PRESET]' -> ConfigDict from configs/NAME.py."""
  if not spec:
    raise UserError(f"--config is required; one of: {', '.join(config_names())}")
  name, _, preset = spec.partition(":")
  if name not in config_names():
    raise UserError(f"--config={spec}: unknown config {name!r}; "
                    f"one of: {', '.join(config_names())}")
  mod = config_module(name)
  presets = getattr(mod, "PRESETS", ("smoke", "paper"))
  if preset and preset not in presets:
    raise UserError(f"--config={spec}: unknown preset {preset!r} of {name}; "
                    f"one of: (default), {', '.join(presets)}")
  cfg = mod.get_config(preset or None)
  cfg.name = name
  cfg.preset = preset or "default"
  return cfg


def _parse_value(text, old):
  """Parses an override string to the type of the existing value."""
  if isinstance(old, bool):
    if text.lower() in ("true", "1", "yes"):
      return True
    if text.lower() in ("false", "0", "no"):
      return False
    raise ValueError("expected true or false")
  if isinstance(old, int):
    return int(text)
  if isinstance(old, float):
    return float(text)
  if isinstance(old, str) or old is None:
    return text
  if isinstance(old, (tuple, list)):
    try:
      v = ast.literal_eval(text if text.strip().startswith(("(", "["))
                           else f"({text},)")
    except (ValueError, SyntaxError):
      v = None
    if not isinstance(v, (tuple, list)):
      raise ValueError("expected a list of numbers or quoted strings, like "
                       "1,2,3 or ((1,0.5),(2,0.25)) or 'a','b'")
    return type(old)(v)
  raise ValueError(f"cannot override a field of type {type(old).__name__}")


def apply_overrides(cfg, argv):
  """Applies --config.a.b=v arguments; returns the remaining argv."""
  rest = []
  for arg in argv:
    if not arg.startswith("--config."):
      rest.append(arg)
      continue
    body = arg[len("--config."):]
    if "=" not in body:
      raise UserError(f"{arg}: an override needs a value, like --config.{body}=VALUE")
    path, text = body.split("=", 1)
    node = cfg
    parts = path.split(".")
    for i, p in enumerate(parts):
      keys = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      if not isinstance(node, ml_collections.ConfigDict) or p not in node:
        where = ".".join(parts[:i]) or "config"
        raise UserError(f"--config.{path}: unknown field {p!r} in {where}; "
                        f"fields: {', '.join(keys)}")
      if i < len(parts) - 1:
        node = node[p]
    old = node[parts[-1]]
    if isinstance(old, ml_collections.ConfigDict):
      raise UserError(f"--config.{path}: is a group of fields, set one of: "
                      f"{', '.join(sorted(old.keys()))}")
    try:
      with node.unlocked() if hasattr(node, "unlocked") else _null():
        node[parts[-1]] = _parse_value(text, old)
    except (ValueError, SyntaxError, TypeError) as e:
      raise UserError(f"--config.{path}={text}: not a valid "
                      f"{type(old).__name__} ({e})") from None
  return rest


class _null:
  def __enter__(self):
    return self

  def __exit__(self, *a):
    return False


def runner(cfg):
  mod_name, _, fn = cfg.experiment.partition(":")
  mod = importlib.import_module(mod_name)
  return mod, getattr(mod, fn)


def main(argv):
  """Entry point; returns the process exit status."""
  import argparse
  parser = argparse.ArgumentParser(
      prog="experiments/sweep.py",
      description="Run one factrecall experiment: --config=NAME[:PRESET].",
      epilog="Configs: " + ", ".join(config_names()) +
      ". Override any field with --config.FIELD=VALUE.")
  parser.add_argument("--config", default=None, help="NAME[:PRESET]")
  parser.add_argument("--workdir", default=None, help="default runs/NAME")
  parser.add_argument("--distributed", action="store_true",
                      help="call jax.distributed.initialize() first")
  parser.add_argument("--print_config", action="store_true")
  rest = [a for a in argv if a.startswith("--config.")]
  known = [a for a in argv if not a.startswith("--config.")]

  class _Parser(argparse.ArgumentParser):
    pass

  def fail(msg):
    raise UserError(msg)

  parser.error = fail
  args = parser.parse_args(known)
  cfg = load_config(args.config)
  apply_overrides(cfg, rest)
  checks.check(cfg, config_module(cfg.name).RULES)
  mod, run = runner(cfg)
  if hasattr(mod, "validate"):
    mod.validate(cfg)
  if args.print_config:
    print(cfg)
    return 0
  if args.distributed:
    import jax
    jax.distributed.initialize()
  import jax
  workdir = args.workdir or os.path.join("runs", cfg.name)
  cfg_dict = json.loads(cfg.to_json_best_effort())
  wd = output.Workdir(workdir, cfg_dict, is_writer=jax.process_index() == 0)
  print(f"factrecall: {cfg.name}:{cfg.preset} -> {workdir} "
        f"({jax.device_count()} {jax.devices()[0].platform} device(s))",
        file=sys.stderr, flush=True)
  summary = run(cfg, wd)
  summary = dict(summary)
  summary.setdefault("experiment", cfg.name)
  summary.setdefault("preset", cfg.preset)
  summary.setdefault("members", output.status_counts(wd.records()))
  wd.write_summary(summary)
  print(f"figures: {wd.figures}")
  if summary["members"]:
    print("members: " + ", ".join(f"{n} {st}" for st, n in
                                  summary["members"].items() if n))
  print(output.claims_table(summary.get("claims", [])))
  return 0


# XLA:CPU fuses ops into YNNPACK kernels by default (jax 0.10); for this
# simulator's many small matmuls and reductions they were slower than XLA's
# own kernels (train step at d=32: 2.6 ms -> 1.9 ms; see benchmarks/).
# On x86-64, XLA's own kernels are capped at AVX2: with AVX-512 a fused
# reduction rounds some rows differently depending on how many rows the
# array has, so padding changed a member's numbers in the last bit; capped,
# it does not, and the train step was also faster (benchmarks/bench_flags.py).
CPU_FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=",) + (
    ("--xla_cpu_max_isa=AVX2",)
    if platform.machine().lower() in ("x86_64", "amd64") else ())


def cpu_flags():
  """Adds CPU_FLAGS to XLA_FLAGS (unless the user set the same flag). Must
  run before jax initialises its backends; only affects the host platform."""
  flags = os.environ.get("XLA_FLAGS", "")
  for f in CPU_FLAGS:
    if f.split("=")[0] not in flags:
      flags = f"{flags} {f}".strip()
  os.environ["XLA_FLAGS"] = flags


def use_all_cores():
  """On CPU, one XLA device per core: members are independent, so devices
  running their blocks in parallel use every core (about 2x on 2 cores vs
  one multi-threaded device). Also sets cpu_flags(). Must run before jax
  initialises its backends; it only affects the host (CPU) platform, and an
  explicit --xla_force_host_platform_device_count in XLA_FLAGS wins.

  At least 2 devices, even on one core: XLA compiles a program for one
  device without SPMD partitioning, through passes that rewrite some
  arithmetic differently (last-bit differences in Adam's update and the
  attention gradient), while every count >= 2 gives the same numbers. So
  results.jsonl does not depend on the number of cores.
  """
  cpu_flags()
  flags = os.environ.get("XLA_FLAGS", "")
  if "xla_force_host_platform_device_count" not in flags:
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    n = max(n, 2)
    os.environ["XLA_FLAGS"] = (
        flags + f" --xla_force_host_platform_device_count={n}").strip()


def console():
  """The `factrecall` command that pip installs: experiments/sweep.py."""
  use_all_cores()
  sys.exit(entry())


def entry(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  signal.signal(signal.SIGTERM, signal.default_int_handler)
  try:
    return main(argv)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    cmd = " ".join(["python", "experiments/sweep.py"] + argv)
    print("\ninterrupted: finished members are in WORKDIR/results.jsonl and "
          "the group in flight is checkpointed; resume with the same "
          f"command: {cmd}", file=sys.stderr)
    return 130

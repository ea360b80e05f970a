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
import time

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
  return _module_from_file(os.path.join(CONFIG_DIR, name + ".py"),
                           f"configs.{name}")


def _module_from_file(path, mod_name):
  mod_spec = importlib.util.spec_from_file_location(mod_name, path)
  mod = importlib.util.module_from_spec(mod_spec)
  mod_spec.loader.exec_module(mod)
  return mod


def is_path_spec(spec):
  """'path/to/file.py[:PRESET]' (a config file of one's own) vs 'NAME'."""
  return _split_path_spec(spec)[0].endswith(".py")


def _split_path_spec(spec):
  if spec.endswith(".py"):
    return spec, ""
  path, _, preset = spec.rpartition(":")
  return path, preset


@functools.lru_cache(maxsize=None)
def _path_module(path, mtime):
  del mtime  # part of the cache key: an edited file is loaded again
  name = os.path.splitext(os.path.basename(path))[0]
  try:
    return _module_from_file(path, f"factrecall_user_config_{name}")
  except UserError:
    raise
  except Exception as e:  # the user's own file failed to import
    raise UserError(f"--config={path}: cannot load it "
                    f"({type(e).__name__}: {e})") from None


def resolve(spec):
  """'NAME[:PRESET]' or 'path/to/file.py[:PRESET]' -> (config module, name,
  preset or ''). A file is a config like those in configs/: get_config(arg)
  and RULES, a rule for every field (its name is the file's stem)."""
  if not spec:
    raise UserError(f"--config is required; one of: "
                    f"{', '.join(config_names())} or path/to/config.py")
  if is_path_spec(spec):
    path, preset = _split_path_spec(spec)
    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(full):
      raise UserError(f"--config={spec}: no such file {path!r}")
    mod = _path_module(full, os.path.getmtime(full))
    name = os.path.splitext(os.path.basename(full))[0]
    for attr in ("get_config", "RULES"):
      if not hasattr(mod, attr):
        raise UserError(f"--config={spec}: {path} defines no {attr} (a config "
                        "file needs get_config(preset) and RULES, like "
                        "configs/capacity.py)")
    return mod, name, preset
  name, _, preset = spec.partition(":")
  if name not in config_names():
    raise UserError(f"--config={spec}: unknown config {name!r}; "
                    f"one of: {', '.join(config_names())} or "
                    "path/to/config.py")
  return config_module(name), name, preset


def load_with_module(spec):
  """(ConfigDict, its config module) of a --config spec."""
  mod, name, preset = resolve(spec)
  presets = getattr(mod, "PRESETS", ("smoke", "paper"))
  if preset and preset not in presets:
    raise UserError(f"--config={spec}: unknown preset {preset!r} of {name}; "
                    f"one of: (default), {', '.join(presets)}")
  cfg = mod.get_config(preset or None)
  if not isinstance(cfg, ml_collections.ConfigDict) or "experiment" not in cfg:
    raise UserError(f"--config={spec}: get_config must return a ConfigDict "
                    "with a field experiment = 'module:function'")
  cfg.name = name
  cfg.preset = preset or "default"
  return cfg, mod


def load_config(spec):
  """'NAME[:PRESET]' (configs/NAME.py) or 'path/to/file.py[:PRESET]' ->
  ConfigDict."""
  return load_with_module(spec)[0]


def default_workdir(cfg):
  """runs/NAME for a config's default, runs/NAME_PRESET for a preset: two
  presets are two configs, and one workdir holds the results of one."""
  if cfg.preset in ("default", "", None):
    return os.path.join("runs", cfg.name)
  return os.path.join("runs", f"{cfg.name}_{cfg.preset}")


def _jsonable_added(mod):
  """A config module's ADDED ({dotted field: the value a config recorded
  before the field existed meant}) as config.json spells values."""
  return json.loads(json.dumps(dict(getattr(mod, "ADDED", {}))))


def analysis_fields(mod):
  """The fields of a config module that only analyse results (ANALYSIS:
  dotted names or prefixes ending in '.'): changing them re-analyses a
  workdir's results instead of training again."""
  return tuple(getattr(mod, "ANALYSIS", ()))


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
  """Applies --config.a.b=v arguments to cfg, in order."""
  for arg in argv:
    if not arg.startswith("--config."):
      raise UserError(f"{arg}: not a config override (--config.FIELD=VALUE)")
    body = arg[len("--config."):]
    if "=" not in body:
      raise UserError(f"{arg}: an override needs a value, like --config.{body}=VALUE")
    path, text = body.split("=", 1)
    set_field(cfg, path, text)


def set_field(cfg, path, value):
  """Sets the dotted field `path` of cfg. A string is parsed to the type of
  the field's value (as on the command line); any other value is taken as
  it is (a list for a tuple field becomes a tuple). Its rule is checked
  later, with every other field's."""
  flag = f"--config.{path}"
  node = cfg
  parts = path.split(".")
  for i, p in enumerate(parts):
    keys = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
    if not isinstance(node, ml_collections.ConfigDict) or p not in node:
      where = ".".join(parts[:i]) or "config"
      raise UserError(f"{flag}: unknown field {p!r} in {where}; "
                      f"fields: {', '.join(keys)}")
    if i < len(parts) - 1:
      node = node[p]
  old = node[parts[-1]]
  if isinstance(old, ml_collections.ConfigDict):
    raise UserError(f"{flag}: is a group of fields, set one of: "
                    f"{', '.join(sorted(old.keys()))}")
  try:
    if isinstance(value, str):
      new = _parse_value(value, old)
    elif isinstance(old, tuple) and isinstance(value, list):
      new = tuple(value)
    elif isinstance(old, float) and isinstance(value, int) and not isinstance(
        value, bool):
      new = float(value)
    else:
      new = value
    with node.unlocked() if hasattr(node, "unlocked") else _null():
      node[parts[-1]] = new
  except (ValueError, SyntaxError, TypeError) as e:
    raise UserError(f"{flag}={value}: not a valid "
                    f"{type(old).__name__} ({e})") from None


class _null:
  def __enter__(self):
    return self

  def __exit__(self, *a):
    return False


def runner(cfg):
  """(module, run function) that cfg.experiment = 'module:function' names
  (a config file of one's own may name a module beside it on sys.path)."""
  mod_name, _, fn = cfg.experiment.partition(":")
  try:
    mod = importlib.import_module(mod_name)
  except ImportError as e:
    raise UserError(f"experiment={cfg.experiment!r}: cannot import "
                    f"{mod_name!r} ({e})") from None
  if not callable(getattr(mod, fn, None)):
    raise UserError(f"experiment={cfg.experiment!r}: {mod_name} has no "
                    f"function {fn!r}")
  return mod, getattr(mod, fn)


def start_distributed(env):
  """jax.distributed.initialize() for --distributed. jax finds the cluster
  from TPU, SLURM or Open MPI variables and reads JAX_COORDINATOR_ADDRESS
  itself; JAX_NUM_PROCESSES and JAX_PROCESS_ID (which jax does not read) are
  passed from here. CPU processes talk through gloo unless
  JAX_CPU_COLLECTIVES_IMPLEMENTATION says otherwise (jax's CPU default
  has no cross-process collectives)."""
  import jax  # pylint: disable=g-import-not-at-top
  kw = {}
  for var, arg in (("JAX_NUM_PROCESSES", "num_processes"),
                   ("JAX_PROCESS_ID", "process_id")):
    if env.get(var):
      try:
        kw[arg] = int(env[var])
      except ValueError:
        raise UserError(f"{var}={env[var]!r}: must be an integer") from None
  if not env.get("JAX_CPU_COLLECTIVES_IMPLEMENTATION"):
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  try:
    jax.distributed.initialize(**kw)
  except (ValueError, RuntimeError) as e:
    raise UserError(f"--distributed: {e} (set JAX_COORDINATOR_ADDRESS, "
                    "JAX_NUM_PROCESSES and JAX_PROCESS_ID, or run under "
                    "SLURM, Open MPI or on a TPU slice)") from None


def prepare(spec, argv=(), values=None):
  """A checked config: spec's config, --config.FIELD=VALUE arguments `argv`
  and {dotted field: value} `values` applied, every field checked by its
  rule, then the runner's validate(cfg). Returns (cfg, config module,
  run function). Every mistake raises UserError naming the field."""
  cfg, mod = load_with_module(spec)
  apply_overrides(cfg, list(argv))
  for path, value in (values or {}).items():
    set_field(cfg, path, value)
  missing = checks.unchecked(cfg, mod.RULES)
  if missing:
    raise UserError(f"--config={spec}: fields without a rule in its RULES: "
                    f"{', '.join(missing)} (every field needs one)")
  checks.check(cfg, mod.RULES)
  rmod, run = runner(cfg)
  if hasattr(rmod, "validate"):
    rmod.validate(cfg)
  return cfg, mod, run


def execute(cfg, mod, run, workdir=None, echo=True):
  """Runs a prepared config in workdir (default_workdir(cfg) if None):
  trains what results.jsonl lacks, then writes summary.json, the figures
  and report.html. Returns (summary, Workdir)."""
  import jax  # pylint: disable=g-import-not-at-top
  from factrecall import report  # pylint: disable=g-import-not-at-top
  workdir = workdir or default_workdir(cfg)
  cfg_dict = json.loads(cfg.to_json_best_effort())
  wd = output.Workdir(workdir, cfg_dict, is_writer=jax.process_index() == 0,
                      analysis=analysis_fields(mod),
                      added=_jsonable_added(mod))
  n_before = len(wd.records())
  if echo:
    what = ("re-analysing its results (only analysis fields changed)"
            if wd.reanalysis else "")
    print(f"factrecall: {cfg.name}:{cfg.preset} -> {workdir} "
          f"({jax.device_count()} {jax.devices()[0].platform} device(s)) "
          f"{what}".rstrip(), file=sys.stderr, flush=True)
  t0 = time.time()
  summary = dict(run(cfg, wd))
  summary.setdefault("experiment", cfg.name)
  summary.setdefault("preset", cfg.preset)
  summary.setdefault("members", output.status_counts(wd.records()))
  summary["run"] = dict(wall_time_s=round(time.time() - t0, 3),
                        new_records=len(wd.records()) - n_before,
                        reanalysis=wd.reanalysis)
  wd.write_summary(summary)
  if wd.is_writer:
    report.write(wd.path)
  return summary, wd


def main(argv):
  """Entry point; returns the process exit status."""
  import argparse  # pylint: disable=g-import-not-at-top
  if argv and argv[0] == "compare":
    from factrecall import report  # pylint: disable=g-import-not-at-top
    return report.compare_main(argv[1:])
  parser = argparse.ArgumentParser(
      prog="experiments/sweep.py",
      description="Run one factrecall experiment: "
      "--config=NAME[:PRESET] or --config=path/to/config.py[:PRESET]. "
      "`experiments/sweep.py compare WORKDIR WORKDIR...` puts runs' claims "
      "side by side.",
      epilog="Configs: " + ", ".join(config_names()) +
      ". Override any field with --config.FIELD=VALUE.")
  parser.add_argument("--config", default=None,
                      help="NAME[:PRESET] or path/to/config.py[:PRESET]")
  parser.add_argument("--workdir", default=None,
                      help="default runs/NAME (runs/NAME_PRESET for a preset)")
  parser.add_argument("--distributed", action="store_true",
                      help="call jax.distributed.initialize() first")
  parser.add_argument("--print_config", action="store_true")
  rest = [a for a in argv if a.startswith("--config.")]
  known = [a for a in argv if not a.startswith("--config.")]

  def fail(msg):
    raise UserError(msg)

  parser.error = fail
  args = parser.parse_args(known)
  if args.distributed:  # before validate: its memory guards count devices
    start_distributed(os.environ)
  cfg, mod, run = prepare(args.config, rest)
  if args.print_config:
    print(cfg)
    return 0
  summary, wd = execute(cfg, mod, run, args.workdir)
  print(f"figures: {wd.figures}")
  print(f"report: {os.path.join(wd.path, 'report.html')}")
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


def _interrupt(signum, frame):
  del frame
  output.INTERRUPTS.append(signum)
  raise KeyboardInterrupt


def _unraisable(info, default=sys.unraisablehook):
  """Python's report of an exception it cannot raise (one inside a garbage-
  collection callback), silent for the interrupts the engine re-raises."""
  if issubclass(info.exc_type, KeyboardInterrupt) and output.INTERRUPTS:
    return
  default(info)


def entry(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  # SIGTERM, and SIGINT even where it was inherited as ignored (a shell
  # script's `cmd &` starts cmd with SIGINT ignored, so Python installs no
  # handler and a kill -INT would go unheard), end the run as Ctrl-C does:
  # with the in-flight group checkpointed and the resume message.
  # The handler also records the signal: a KeyboardInterrupt raised inside a
  # garbage-collection callback is printed and ignored by Python, so the
  # engine checks the record between chunks and the run ends as interrupted.
  output.INTERRUPTS.clear()
  sys.unraisablehook = _unraisable
  signal.signal(signal.SIGTERM, _interrupt)
  signal.signal(signal.SIGINT, _interrupt)
  try:
    code = main(argv)
    if not output.INTERRUPTS:
      return code
    raise KeyboardInterrupt
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    cmd = " ".join(["python", "experiments/sweep.py"] + argv)
    from factrecall import engine  # pylint: disable=g-import-not-at-top
    saved = bool(engine.INTERRUPT_SAVED) or any(os.path.exists(p)
                                                for p in engine.INFLIGHT)
    engine.INTERRUPT_SAVED.clear()
    engine.INFLIGHT.clear()
    inflight = ("the group in flight is checkpointed" if saved
                else "work in flight was not checkpointed and is redone")
    print("\ninterrupted: finished members are in WORKDIR/results.jsonl and "
          f"{inflight}; resume with the same command: {cmd}", file=sys.stderr)
    return 130

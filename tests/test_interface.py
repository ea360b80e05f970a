"""The researcher's interface: install layout, configs by path, the Python
API, re-analysis without retraining, reports and the progress line."""
import json
import os
import subprocess
import sys

import pytest

from factrecall import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_configs_are_found_after_a_non_editable_install(tmp_path):
  # build_py lays out exactly what an installed wheel holds under
  # site-packages; nothing of the source tree is on the path there.
  lib = tmp_path / "lib"
  subprocess.run([sys.executable, "setup.py", "-q", "build_py",
                  "--build-lib", str(lib)], cwd=ROOT, check=True,
                 capture_output=True)
  assert (lib / "factrecall" / "configs" / "capacity.py").exists()
  assert (lib / "factrecall" / "data" / "facts.txt").exists()
  code = ("import sys; from factrecall import cli; print(cli.CONFIG_DIR); "
          "print(' '.join(cli.config_names())); "
          "cfg = cli.load_config('capacity:square'); print(cfg.task.scaling)")
  out = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path),
                       env=dict(os.environ, PYTHONPATH=str(lib)),
                       check=True, capture_output=True, text=True).stdout
  lines = out.splitlines()
  assert lines[0] == str(lib / "factrecall" / "configs")
  assert "capacity" in lines[1].split() and "tradeoff" in lines[1].split()
  assert lines[2] == "square"


def test_constraints_pin_what_setup_requires():
  pins = {}
  for line in open(os.path.join(ROOT, "constraints.txt")):
    line = line.strip()
    if line and not line.startswith("#"):
      name, _, version = line.partition("==")
      assert version, line
      pins[name.lower().replace("_", "-")] = version
  for name in ("jax", "jaxlib", "flax", "optax", "numpy", "matplotlib",
               "ml-collections"):
    assert name in pins, name
  assert not any(p.startswith("factrecall") for p in pins)
  major, minor = (int(x) for x in pins["jax"].split(".")[:2])
  assert (major, minor) >= (0, 10)


def test_progress_on_a_narrow_terminal_stays_on_one_line():
  import fcntl
  import struct
  import termios
  from factrecall import progress
  master, slave = os.openpty()
  fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
  stream = os.fdopen(slave, "w")
  try:
    p = progress.Progress(1000, desc="capacity", stream=stream)
    assert p.tty and progress.terminal_width(stream) == 40
    for i in range(5):
      p.update(100, note="d8_H8_dh1_m8 round 3 of the search, seed 2 " * 2,
               force=True)
    stream.flush()
    import select
    chunks = []
    while select.select([master], [], [], 0.5)[0]:
      chunks.append(os.read(master, 65536))
    out = b"".join(chunks).decode()
  finally:
    stream.close()
    os.close(master)
  assert "\n" not in out.replace("\r\n", "") and out.count("\r") == 5
  for seg in out.split("\r")[1:]:
    assert 0 < len(seg) <= 39, (len(seg), seg)
    assert seg.startswith("capacity [")


def test_eta_is_planned_work_over_the_rate_since_the_first_work(monkeypatch):
  from factrecall import progress
  clock = [100.0]
  monkeypatch.setattr(progress.time, "time", lambda: clock[0])
  p = progress.Progress(1000, enabled=False)
  clock[0] = 160.0       # a minute of set-up (imports, compile) first
  p.update(10)           # the first chunk: the rate is timed from here
  assert p.eta() != p.eta()  # nan: no rate yet
  etas = []
  for _ in range(9):     # then a steady 10 units per second
    clock[0] += 10.0
    p.update(100)
    etas.append(p.eta())
  # 910 done, 90 left at 10/s; the set-up minute does not inflate it, and on
  # a steady machine the estimate only falls.
  assert etas[-1] == pytest.approx(9.0)
  assert etas[0] == pytest.approx(89.0)
  assert all(a > b for a, b in zip(etas, etas[1:]))


# --- configs by path, default workdirs -------------------------------------

USER_CONFIG = '''"""A config of one's own: capacity's, with a preset of its own."""
from factrecall import cli

base = cli.config_module("capacity")
PRESETS = base.PRESETS + ("tiny", "broken")
RULES = base.RULES
ANALYSIS = base.ANALYSIS


def get_config(arg=None):
  c = base.get_config("smoke" if arg in ("tiny", "broken") else arg)
  if arg == "tiny":
    c.model.d_list = (8,)
  if arg == "broken":
    c.train.batch = 0
  return c
'''


def _one_line_error(capsys, argv):
  assert cli.entry(argv) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("error: ") and "\n" not in err, err
  return err


def test_config_by_path_is_checked_by_its_rules(tmp_path, capsys):
  path = tmp_path / "my_capacity.py"
  path.write_text(USER_CONFIG)
  assert cli.entry([f"--config={path}:tiny", "--print_config"]) == 0
  assert "- 8" in capsys.readouterr().out
  cfg = cli.load_config(f"{path}:tiny")
  assert (cfg.name, cfg.preset, cfg.model.d_list) == ("my_capacity", "tiny",
                                                      (8,))
  assert cli.default_workdir(cfg) == os.path.join("runs", "my_capacity_tiny")
  wd = str(tmp_path / "w")
  # A field its preset sets badly, and one set badly on the command line.
  err = _one_line_error(capsys, [f"--config={path}:broken", "--workdir", wd])
  assert "train.batch=0" in err
  err = _one_line_error(capsys, [f"--config={path}", "--config.task.D=0",
                                 "--workdir", wd])
  assert "task.D=0" in err
  err = _one_line_error(capsys, [f"--config={path}:huge", "--workdir", wd])
  assert "unknown preset 'huge' of my_capacity" in err
  err = _one_line_error(capsys, [f"--config={tmp_path / 'nope.py'}"])
  assert "no such file" in err
  (tmp_path / "norules.py").write_text(
      "from factrecall import cli\n"
      "get_config = cli.config_module('capacity').get_config\n")
  err = _one_line_error(capsys, [f"--config={tmp_path / 'norules.py'}"])
  assert "defines no RULES" in err
  (tmp_path / "partial.py").write_text(
      USER_CONFIG.replace("RULES = base.RULES",
                          "RULES = {k: v for k, v in base.RULES.items() "
                          "if k != 'train.chunk'}"))
  err = _one_line_error(capsys, [f"--config={tmp_path / 'partial.py'}"])
  assert "fields without a rule" in err and "train.chunk" in err
  (tmp_path / "norunner.py").write_text(USER_CONFIG.replace(
      "  return c\n", "  c.experiment = 'factrecall.experiments.capacity:nope'\n"
      "  return c\n"))
  err = _one_line_error(capsys, [f"--config={tmp_path / 'norunner.py'}"])
  assert "experiment='factrecall.experiments.capacity:nope'" in err and "no function" in err
  (tmp_path / "crash.py").write_text("raise RuntimeError('oops')\n")
  err = _one_line_error(capsys, [f"--config={tmp_path / 'crash.py'}"])
  assert "cannot load it (RuntimeError: oops)" in err


def test_default_workdir_per_preset():
  assert cli.default_workdir(cli.load_config("capacity")) == os.path.join(
      "runs", "capacity")
  assert cli.default_workdir(cli.load_config("capacity:square")) == \
      os.path.join("runs", "capacity_square")


def test_analysis_fields_name_fields_of_their_config():
  from factrecall import checks
  from factrecall import output
  for name in cli.config_names():
    mod = cli.config_module(name)
    fields = [p for p, _ in checks.leaves(mod.get_config(None))]
    for a in cli.analysis_fields(mod):
      assert any(output.is_analysis(f, (a,)) for f in fields), (name, a)
      # training fields never count as analysis
      assert not any(f.startswith(("train.", "model.", "task.", "search."))
                     for f in fields if output.is_analysis(f, (a,))), a


# --- the Python API on one smoke run ----------------------------------------

SMOKE_OVERRIDES = {"search.max_rounds": 2}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
  import factrecall
  wd = str(tmp_path_factory.mktemp("api") / "capacity_smoke")
  run = factrecall.run("capacity:smoke", workdir=wd,
                       overrides=SMOKE_OVERRIDES)
  return wd, run


def _lines(path):
  with open(path) as f:
    return [json.loads(l) for l in f]


def test_api_run_and_load_equal_the_cli_files(smoke, capsys):
  import factrecall
  wd, run = smoke
  loaded = factrecall.load(wd)
  assert list(loaded.records) == _lines(os.path.join(wd, "results.jsonl"))
  assert len(loaded.records) == sum(run.summary["members"].values()) > 0
  with open(os.path.join(wd, "summary.json")) as f:
    summary = json.load(f)
  assert list(loaded.claims) == summary["claims"] == list(run.claims)
  assert loaded.config["search"]["max_rounds"] == 2
  assert loaded.claim("facts_per_param")["reference"]["value"] == 0.15
  # capacities: one flat row per shape and protocol, no nested values
  n_shapes = len(summary["capacities"])
  assert len(loaded.capacities) == n_shapes * len(summary["protocols"]) == 4
  for row in loaded.capacities:
    assert not any(isinstance(v, (dict, list)) for v in row.values())
    assert {"shape", "params", "protocol", "facts", "k", "band_lo",
            "band_hi"} <= set(row)
  assert set(loaded.figures) == {"capacity", "training_curves",
                                 "bits_per_param"}
  # The command line on the same workdir resumes it: nothing trained.
  before = open(os.path.join(wd, "results.jsonl"), "rb").read()
  assert cli.entry(["--config=capacity:smoke", "--config.search.max_rounds=2",
                    "--workdir", wd]) == 0
  assert open(os.path.join(wd, "results.jsonl"), "rb").read() == before
  assert factrecall.load(wd).summary["run"]["new_records"] == 0
  out = capsys.readouterr().out
  assert output_table(loaded) in out
  with pytest.raises(factrecall.UserError, match="train.batch=0"):
    factrecall.run("capacity:smoke", workdir=wd, train__batch=0)


def output_table(run):
  from factrecall import output
  return output.claims_table(run.claims)


def test_records_to_pandas(smoke):
  pytest.importorskip("pandas")
  import factrecall
  df = factrecall.load(smoke[0]).records.to_pandas()
  assert len(df) == len(factrecall.load(smoke[0]).records)


def test_reanalysis_refits_without_training(smoke, tmp_path, monkeypatch):
  import shutil
  import factrecall
  from factrecall import engine
  wd = str(tmp_path / "copy")
  shutil.copytree(smoke[0], wd)  # copy2: mtimes kept
  res = os.path.join(wd, "results.jsonl")
  before, mtime = open(res, "rb").read(), os.stat(res).st_mtime_ns
  fig = os.path.join(wd, "figures", "capacity.png")
  fig_mtime = os.stat(fig).st_mtime_ns
  old = factrecall.load(wd).summary

  def no_training(*a, **k):
    raise AssertionError("re-analysis trained a group")

  monkeypatch.setattr(engine, "run_group", no_training)
  fit = {"fit.n_boot": 57, "fit.guide_band": 4.0}
  new = factrecall.run("capacity:smoke", workdir=wd,
                       overrides=dict(SMOKE_OVERRIDES, **fit))
  assert open(res, "rb").read() == before and os.stat(res).st_mtime_ns == mtime
  assert new.summary["run"] == dict(new.summary["run"], new_records=0,
                                    reanalysis=True)
  assert new.config["fit"]["n_boot"] == 57
  assert os.stat(fig).st_mtime_ns != fig_mtime  # the figures are redrawn
  with open(os.path.join(wd, "summary.json")) as f:
    assert json.load(f) == new.summary != old
  # The same measurement, judged against the wider band: from 0.05 facts
  # per parameter, CI [0.042, 0.061], refuted within 1.5x of the paper's
  # 0.15, supported within 4x.
  was, now = (old["claims"][1], new.claim("facts_per_param"))
  assert was["id"] == "facts_per_param"
  assert now["measured"] == was["measured"]
  assert (was["verdict"], now["verdict"]) == ("refuted", "supported")
  assert "factor 4 of" in now["statement"]
  # A training field is a different config: refused, naming it.
  with pytest.raises(factrecall.UserError,
                     match="different config .*fields differ: train.batch"):
    factrecall.run("capacity:smoke", workdir=wd,
                   overrides=dict(SMOKE_OVERRIDES, **{"train.batch": 128}))


def test_report_holds_every_claim_and_figure(smoke):
  import re
  wd, run = smoke
  page = open(os.path.join(wd, "report.html")).read()
  for c in run.claims:
    assert f"<code>{c['id']}</code>" in page
  assert "0.15" in page and "paper" in page  # the paper's column
  pngs = [f for f in os.listdir(os.path.join(wd, "figures"))
          if f.endswith(".png")]
  assert len(re.findall(r'src="data:image/png;base64,', page)) == len(pngs)
  assert "src=\"figures/" not in page  # self-contained
  for status, n in run.summary["members"].items():
    assert f"<th>{status}</th>" in page
  assert "wall time" in page and "&quot;max_rounds&quot;: 2" in page


def test_compare_puts_runs_side_by_side(smoke, tmp_path, capsys):
  import shutil
  wd = smoke[0]
  other = str(tmp_path / "other")
  shutil.copytree(wd, other)
  out = str(tmp_path / "cmp.html")
  assert cli.entry(["compare", wd, other, "--out", out]) == 0
  text = capsys.readouterr().out
  head = text.splitlines()[0]
  assert "capacity:smoke (capacity_smoke)" in head and "(other)" in head
  for c in smoke[1].claims:
    assert c["id"] in text
  page = open(out).read()
  assert "Capacity curves" in page and "data:image/png;base64," in page
  err = _one_line_error(capsys, ["compare", wd])
  assert "two or more workdirs" in err
  err = _one_line_error(capsys, ["compare", wd, str(tmp_path / "none")])
  assert "no summary" in err


def test_example_script_resumes_loads_and_redraws(smoke):
  wd = smoke[0]
  r = subprocess.run([sys.executable, os.path.join(ROOT, "examples",
                                                   "capacity_smoke.py"), wd,
                      "--config.search.max_rounds=2"],
                     capture_output=True, text=True, cwd=ROOT,
                     env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert r.returncode == 0, r.stderr[-2000:]
  assert "redrawn:" in r.stdout and "facts_per_param" in r.stdout
  assert os.path.exists(os.path.join(wd, "capacity_redrawn.png"))


def test_plots_return_figures_without_switching_backend(smoke):
  code = ("import matplotlib, factrecall.plots, factrecall.experiments.memo_plots; "
          "print(matplotlib.get_backend())")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, check=True,
                       env=dict(os.environ, MPLBACKEND="svg")).stdout
  assert out.strip() == "svg"
  from matplotlib.figure import Figure
  from factrecall import plots
  run = smoke[1]
  fig = plots.capacity(None, run.summary["capacities"], run.summary)
  assert isinstance(fig, Figure) and fig.axes[0].get_xscale() == "log"
  fig = plots.capacity_overlay([("a", run.summary["capacities"])])
  assert isinstance(fig, Figure) and fig.axes[0].lines

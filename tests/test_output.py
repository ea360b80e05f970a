"""The claims contract: every claim carries the paper's number (or says why
there is none), and the printed table has a `paper` column."""
import pytest

from factrecall import output
from factrecall import report


def test_claim_requires_a_reference():
  with pytest.raises(TypeError):
    output.claim("x", "s", 1.0, [0.5, 1.5], "supported")  # pylint: disable=missing-kwoa
  with pytest.raises(ValueError):
    output.claim("x", "s", 1.0, [0.5, 1.5], "supported", reference={"value": 1})
  with pytest.raises(ValueError):
    output.reference(1.0, "")
  with pytest.raises(ValueError):
    output.no_reference("")
  c = output.claim("x", "s", 1.0, [0.5, 1.5], "supported",
                   reference=output.reference(2.0, "Fig. 4"))
  assert c["reference"] == {"value": 2.0, "source": "Fig. 4"}


def test_claims_table_has_a_paper_column():
  claims = [
      output.claim("slope", "s", 0.98765, [0.9, 1.1], "supported",
                   reference=output.reference(1.0, "Fig. 4")),
      output.claim("rate", "s", 1.5, [1.0, 2.5], "inconclusive",
                   reference=output.reference([1.9, 2.1], "Fig. 4 right")),
      output.claim("gain", "s", 0.1, [0.0, 0.2], "inconclusive",
                   reference=output.no_reference("no number")),
  ]
  lines = output.claims_table(claims).splitlines()
  assert lines[0].split() == ["claim", "measured", "95%", "CI", "paper",
                              "verdict"]
  assert lines[2].split() == ["slope", "0.9877", "[0.9,", "1.1]", "1",
                              "supported"]
  assert lines[3].split()[-3:] == ["[1.9,", "2.1]", "inconclusive"]
  assert lines[4].split()[-2:] == ["-", "inconclusive"]


def test_workdir_identity_ignores_where_the_code_is(tmp_path):
  """A workdir recorded when the experiment's module had another path
  resumes (not a re-analysis); a changed analysis field re-analyses; a
  changed training field is refused."""
  path = str(tmp_path / "wd")
  cfg = {"experiment": "factrecall.memories:run", "train": {"lr": 1.0},
         "fit": {"n_boot": 10}}
  output.Workdir(path, cfg, analysis=("fit.",)).append([{"key": "a"}])
  moved = dict(cfg, experiment="factrecall.experiments.associative:run")
  wd = output.Workdir(path, moved, analysis=("fit.",))
  assert not wd.reanalysis and wd.records() == [{"key": "a"}]
  refit = dict(moved, fit={"n_boot": 20})
  assert output.Workdir(path, refit, analysis=("fit.",)).reanalysis
  with pytest.raises(output.UserError, match="fields differ: train.lr"):
    output.Workdir(path, dict(refit, train={"lr": 2.0}), analysis=("fit.",))


def test_untested_claim_says_why_and_the_table_prints_it():
  with pytest.raises(ValueError):  # untested without a reason
    output.claim("slope", "s", float("nan"), [float("nan")] * 2, "untested",
                 reference=output.reference(1.0, "Fig. 4"))
  with pytest.raises(ValueError):  # a reason on a judged claim
    output.claim("slope", "s", 1.0, [0.9, 1.1], "supported",
                 untested_because="x", reference=output.reference(1.0, "F"))
  claims = [
      output.claim("slope", "s", float("nan"), [float("nan")] * 2, "untested",
                   untested_because="no shape in range",
                   reference=output.reference(1.0, "Fig. 4")),
      output.claim("gain", "s", 0.1, [0.0, 0.2], "inconclusive",
                   reference=output.no_reference("no number")),
  ]
  lines = output.claims_table(claims).splitlines()
  assert lines[2].split()[-1] == "untested"
  assert lines[-1] == "untested slope: no shape in range"
  assert len(lines) == 5
  assert "<em>untested: no shape in range</em>" in report.claims_html(claims)

"""The claims contract: every claim carries the paper's number (or says why
there is none), and the printed table has a `paper` column."""
import pytest

from factrecall import output


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

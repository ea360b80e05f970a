"""Runs one experiment: `python experiments/sweep.py --config=NAME[:PRESET]`.

Intentionally short: everything lives in factrecall.cli and the runner the
config names. `--workdir` (default runs/NAME); `--config.FIELD=VALUE`
overrides; re-running the same command resumes.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from factrecall import cli  # pylint: disable=g-import-not-at-top

if __name__ == "__main__":
  cli.use_all_cores()
  sys.exit(cli.entry())

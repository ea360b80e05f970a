"""A dependency-free progress bar with ETA, written to stderr."""
import sys
import time


def _fmt_time(s):
  s = int(max(s, 0))
  h, r = divmod(s, 3600)
  m, s = divmod(r, 60)
  return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
  """Progress over a known amount of work (e.g. member-steps).

  On a terminal the bar redraws in place; otherwise a line is printed at most
  every `every` seconds so logs stay short.
  """

  def __init__(self, total, desc="", stream=None, every=10.0, enabled=True):
    self.total = max(float(total), 1e-9)
    self.done = 0.0
    self.desc = desc
    self.stream = stream or sys.stderr
    self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
    self.every = 0.2 if self.tty else every
    self.start = time.time()
    self.last = 0.0
    self.enabled = enabled
    self.note = ""

  def add_total(self, extra):
    self.total += extra

  def update(self, n=0.0, note=None, force=False):
    self.done = min(self.done + n, self.total)
    if note is not None:
      self.note = note
    now = time.time()
    if not self.enabled or (not force and now - self.last < self.every):
      return
    self.last = now
    frac = self.done / self.total
    el = now - self.start
    eta = el * (1 - frac) / frac if frac > 0 else float("nan")
    bar = "#" * int(30 * frac)
    eta_s = _fmt_time(eta) if eta == eta else "--:--"
    line = (f"{self.desc} [{bar:<30}] {100 * frac:5.1f}% "
            f"{_fmt_time(el)}<{eta_s} {self.note}")
    if self.tty:
      self.stream.write("\r" + line[:160].ljust(160))
    else:
      self.stream.write(line + "\n")
    self.stream.flush()

  def close(self):
    self.done = self.total
    self.update(0, force=True)
    if self.enabled and self.tty:
      self.stream.write("\n")
      self.stream.flush()

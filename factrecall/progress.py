"""A dependency-free progress bar with ETA, written to stderr."""
import os
import shutil
import sys
import time


def _fmt_time(s):
  s = int(max(s, 0))
  h, r = divmod(s, 3600)
  m, s = divmod(r, 60)
  return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def terminal_width(stream, default=80):
  """Columns of the terminal `stream` writes to (its own, not stdout's:
  progress goes to stderr, which may be a terminal while stdout is a file)."""
  try:
    return os.get_terminal_size(stream.fileno()).columns or default
  except (AttributeError, OSError, ValueError):
    return shutil.get_terminal_size((default, 24)).columns


class Progress:
  """Progress over a known amount of work (e.g. member-steps).

  On a terminal the bar redraws in place on one line that fits the
  terminal's width (a wider line would wrap and print a new line at every
  redraw); otherwise a line is printed at most every `every` seconds so logs
  stay short.

  The ETA is the planned work left over the rate of the work done so far,
  timed from the first unit done: the set-up before it (imports, the first
  compile) is not work the rate should be charged with, or the first
  estimates are several times too long and drift down for minutes.
  """

  def __init__(self, total, desc="", stream=None, every=10.0, enabled=True):
    self.total = max(float(total), 1e-9)
    self.done = 0.0
    self.desc = desc
    self.stream = stream or sys.stderr
    self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
    self.every = 0.2 if self.tty else every
    self.start = time.time()
    self.t_first = None   # when the first work was reported, and how much
    self.first = 0.0
    self.last = 0.0
    self.enabled = enabled
    self.note = ""

  def add_total(self, extra):
    self.total += extra

  def set_total(self, total):
    """A revised plan: the total work, done included."""
    self.total = max(float(total), self.done, 1e-9)

  def skip(self, n, note=None):
    """Work done before this run (e.g. resumed records): counted as done,
    not in the rate (it took no time here)."""
    self.done = min(self.done + n, self.total)
    if self.t_first is not None:
      self.first += n
    self.update(0, note=note)

  def eta(self, now=None):
    """Seconds left at the rate measured since the first work (nan before)."""
    now = time.time() if now is None else now
    if self.t_first is None or now <= self.t_first or self.done <= self.first:
      return float("nan")
    rate = (self.done - self.first) / (now - self.t_first)
    return (self.total - self.done) / rate

  def line(self, now=None, width=None):
    """The status line, at most width - 1 characters (the last column
    would make some terminals wrap)."""
    now = time.time() if now is None else now
    frac = self.done / self.total
    eta = self.eta(now)
    eta_s = _fmt_time(eta) if eta == eta else "--:--"
    nbar = 30 if width is None else max(5, min(30, width // 4))
    bar = "#" * int(nbar * frac)
    line = (f"{self.desc} [{bar:<{nbar}}] {100 * frac:5.1f}% "
            f"{_fmt_time(now - self.start)}<{eta_s} {self.note}").rstrip()
    if width is not None and len(line) > width - 1:
      line = line[:max(1, width - 2)] + "…" if width > 2 else line[:1]
    return line

  def update(self, n=0.0, note=None, force=False):
    self.done = min(self.done + n, self.total)
    now = time.time()
    if n > 0 and self.t_first is None:
      # The rate is timed from here: this first report's work was done
      # during the set-up, so it is not counted in the rate either.
      self.t_first, self.first = now, self.done
    if note is not None:
      self.note = note
    if not self.enabled or (not force and now - self.last < self.every):
      return
    self.last = now
    if self.tty:
      w = terminal_width(self.stream)
      line = self.line(now, w)
      # \r then the line, blank to the end of what the last one covered.
      self.stream.write("\r" + line.ljust(w - 1))
    else:
      self.stream.write(self.line(now) + "\n")
    self.stream.flush()

  def close(self):
    self.done = self.total
    self.update(0, force=True)
    if self.enabled and self.tty:
      self.stream.write("\n")
      self.stream.flush()

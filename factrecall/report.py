"""WORKDIR/report.html, one self-contained page per run, and `compare`,
which puts two or more runs' claims side by side.

The report is made from the output contract only (config.json,
summary.json, figures/*.png), so it can be rebuilt for any workdir, and it
embeds the figures (base64 PNG) so that it can be mailed or archived as one
file.
"""
import argparse
import base64
import glob
import html
import json
import os

from factrecall import output
from factrecall.output import UserError


def _read_json(path, what):
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError:
    raise UserError(f"{os.path.dirname(path) or '.'}: no {what} "
                    f"({os.path.basename(path)}); is it a workdir of a "
                    "finished run?") from None


def _png_tag(path_or_bytes, alt):
  data = path_or_bytes
  if isinstance(path_or_bytes, str):
    with open(path_or_bytes, "rb") as f:
      data = f.read()
  b64 = base64.b64encode(data).decode("ascii")
  return (f'<img alt="{html.escape(alt)}" style="max-width:100%" '
          f'src="data:image/png;base64,{b64}">')


def _fmt_ci(ci):
  ci = ci or [None, None]
  return f"[{output.fmt_number(ci[0])}, {output.fmt_number(ci[1])}]"


_STYLE = """<style>
body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f3f3f3} .supported{color:#060} .refuted{color:#a00}
.inconclusive{color:#850} pre{background:#f7f7f7;padding:1em;overflow:auto}
small{color:#555} .untested{color:#777}
</style>"""


def _page(title, body):
  return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
          f"<title>{html.escape(title)}</title>{_STYLE}</head>\n<body>\n"
          f"<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")


def claims_html(claims):
  """The claims as an HTML table: measured, CI, the paper's value and
  source, verdict, statement."""
  rows = ["<tr><th>claim</th><th>measured</th><th>95% CI</th><th>paper</th>"
          "<th>verdict</th><th>statement</th></tr>"]
  for c in claims:
    ref = c.get("reference") or {}
    rows.append(
        f"<tr><td><code>{html.escape(c['id'])}</code></td>"
        f"<td>{output.fmt_number(c.get('measured'))}</td>"
        f"<td>{_fmt_ci(c.get('ci'))}</td>"
        f"<td>{html.escape(output.fmt_reference(ref))}<br><small>"
        f"{html.escape(str(ref.get('source', '')))}</small></td>"
        f"<td class=\"{c['verdict']}\">{c['verdict']}</td>"
        f"<td>{html.escape(str(c.get('statement', '')))}"
        + (f"<br><em>untested: {html.escape(c['untested_because'])}</em>"
           if "untested_because" in c else "") + "</td></tr>")
  return "<table>\n" + "\n".join(rows) + "\n</table>"


def render(workdir):
  """report.html's text for a workdir."""
  summary = _read_json(os.path.join(workdir, "summary.json"), "summary")
  config = _read_json(os.path.join(workdir, "config.json"), "config")
  title = (f"factrecall: {summary.get('experiment', config.get('name'))}:"
           f"{summary.get('preset', config.get('preset', 'default'))}")
  parts = [f"<p>workdir <code>{html.escape(os.path.abspath(workdir))}</code>"
           "</p>"]
  run = summary.get("run") or {}
  if run:
    what = ("re-analysis of trained results" if run.get("reanalysis")
            else f"{run.get('new_records', 0)} new records")
    parts.append(f"<p>wall time of the last invocation: "
                 f"{float(run.get('wall_time_s', 0)):.1f} s ({what})</p>")
  members = summary.get("members") or {}
  if members:
    parts.append("<h2>Members</h2><table><tr>" +
                 "".join(f"<th>{html.escape(k)}</th>" for k in members) +
                 "</tr><tr>" + "".join(f"<td>{v}</td>" for v in
                                       members.values()) + "</tr></table>")
  parts.append("<h2>Claims</h2>" + claims_html(summary.get("claims", [])))
  departures = (summary.get("departures") or
                (summary.get("protocol") or {}).get("departures") or [])
  if departures:
    parts.append("<h2>Where the run departs from the paper's protocol</h2>"
                 "<ul>" + "".join(f"<li>{html.escape(str(d))}</li>"
                                  for d in departures) + "</ul>")
  figs = sorted(glob.glob(os.path.join(workdir, "figures", "*.png")))
  if figs:
    parts.append("<h2>Figures</h2>")
    for f in figs:
      name = os.path.splitext(os.path.basename(f))[0]
      parts.append(f"<h3>{html.escape(name)}</h3>" + _png_tag(f, name))
  parts.append("<h2>Config</h2><pre>" +
               html.escape(json.dumps(config, indent=2, sort_keys=True)) +
               "</pre>")
  return _page(title, "\n".join(parts))


def write(workdir):
  """Writes WORKDIR/report.html; returns its path."""
  path = os.path.join(workdir, "report.html")
  output.atomic_write(path, render(workdir))
  return path


def _label(workdir, summary):
  return (f"{summary.get('experiment', '?')}:{summary.get('preset', '?')} "
          f"({os.path.basename(os.path.normpath(workdir))})")


def compare(workdirs):
  """Claims of several runs side by side: (text table, rows), one row per
  claim id (in first-seen order), one column per run."""
  if len(workdirs) < 2:
    raise UserError("compare: give two or more workdirs")
  sums = [_read_json(os.path.join(w, "summary.json"), "summary")
          for w in workdirs]
  labels = [_label(w, s) for w, s in zip(workdirs, sums)]
  ids = []
  for s in sums:
    for c in s.get("claims", []):
      if c["id"] not in ids:
        ids.append(c["id"])
  rows = []
  for cid in ids:
    cells, paper = [], "-"
    for s in sums:
      c = next((c for c in s.get("claims", []) if c["id"] == cid), None)
      if c is None:
        cells.append(None)
        continue
      if paper == "-":
        paper = output.fmt_reference(c.get("reference"))
      cells.append(c)
    rows.append((cid, paper, cells))
  head = ["claim", "paper"] + labels
  text_rows = [head]
  for cid, paper, cells in rows:
    text_rows.append([cid, paper] + [
        "-" if c is None else
        f"{output.fmt_number(c['measured'])} {_fmt_ci(c.get('ci'))} "
        f"{c['verdict']}" for c in cells])
  w = [max(len(r[i]) for r in text_rows) for i in range(len(head))]
  lines = ["  ".join(r[i].ljust(w[i]) for i in range(len(head))).rstrip()
           for r in text_rows]
  lines.insert(1, "  ".join("-" * x for x in w))
  return "\n".join(lines), dict(labels=labels, rows=rows, summaries=sums)


def compare_html(workdirs):
  """compare()'s table as a self-contained page, with the runs' capacity
  curves overlaid in one figure where the runs have them."""
  import io  # pylint: disable=g-import-not-at-top
  from factrecall import plots  # pylint: disable=g-import-not-at-top
  _, data = compare(workdirs)
  head = ("<tr><th>claim</th><th>paper</th>" +
          "".join(f"<th>{html.escape(l)}</th>" for l in data["labels"]) +
          "</tr>")
  body = [head]
  for cid, paper, cells in data["rows"]:
    tds = []
    for c in cells:
      if c is None:
        tds.append("<td>-</td>")
      else:
        tds.append(f"<td>{output.fmt_number(c['measured'])} "
                   f"{_fmt_ci(c.get('ci'))}<br><span class=\"{c['verdict']}\">"
                   f"{c['verdict']}</span></td>")
    body.append(f"<tr><td><code>{html.escape(cid)}</code></td>"
                f"<td>{html.escape(paper)}</td>{''.join(tds)}</tr>")
  parts = ["<table>\n" + "\n".join(body) + "\n</table>"]
  runs = [(l, s["capacities"]) for l, s in zip(data["labels"],
                                                 data["summaries"])
          if s.get("capacities")]
  if runs:
    fig = plots.capacity_overlay(runs)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    parts.append("<h2>Capacity curves</h2>" + _png_tag(buf.getvalue(),
                                                       "capacity overlay"))
  return _page("factrecall: compare", "\n".join(parts))


def compare_main(argv):
  """`experiments/sweep.py compare WORKDIR WORKDIR... [--out FILE]`."""
  parser = argparse.ArgumentParser(
      prog="experiments/sweep.py compare",
      description="Claims of two or more runs side by side (and their "
      "capacity curves overlaid, in the HTML page).")
  parser.add_argument("workdirs", nargs="*")
  parser.add_argument("--out", default="compare.html",
                      help="the HTML page written (default compare.html)")

  def fail(msg):
    raise UserError(f"compare: {msg}")

  parser.error = fail
  args = parser.parse_args(argv)
  text, _ = compare(args.workdirs)
  output.atomic_write(args.out, compare_html(args.workdirs))
  print(text)
  print(f"compare: {args.out}")
  return 0

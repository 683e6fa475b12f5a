"""Write the study report: one self-contained HTML page (figures embedded as PNG, tables, provenance).

Own code (plain HTML; no templating dependency). It reads the report fields of each stage's
summary (:class:`~incipient.workflows.summaries.StageSummary`): ``figures`` (paths of PNGs
relative to the study folder, with captions), ``comparisons`` (rows ``[quantity, this run,
reference, unit, note]``, built from the system's reference table), ``text`` (a short
paragraph) and ``tables`` (caption, header, rows; cells as strings). A plain dict summary (a
stage without a summary type) is read with the same keys. Stages the system could not run are
listed with their reasons.
"""

from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path

from incipient import __version__
from incipient.results import atomic_write_text
from incipient.workflows.summaries import StageSummary

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3} figure{display:inline-block;margin:.5em;vertical-align:top;max-width:520px}
figure img{max-width:520px;border:1px solid #eee} figcaption{font-size:.85em;color:#444}
.status-ran{color:#16691b}.status-cached{color:#555}.status-failed{color:#b00020}.status-skipped{color:#b06000}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em}
"""


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.name)}">'


def _summary(outcome) -> StageSummary:
    """The outcome's summary with the report fields as attributes (empty when it has none)."""
    s = outcome.summary
    return s if isinstance(s, StageSummary) else StageSummary.from_dict(s or {})


def write_report(root: Path, config, outcomes, *, title: str | None = None, system=None, removed=None) -> Path:
    root = Path(root)
    name = config.name or (system.name if system is not None else "")
    title = title or f"incipient study: {name}"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p>incipient {__version__}; written {time.strftime('%Y-%m-%d %H:%M:%S')}; results folder <code>{html.escape(str(root.resolve()))}</code>.</p>"]
    # the comparison table first: every number the paper states that this run computed
    rows = []
    for o in outcomes:
        for r in _summary(o).comparisons:
            rows.append((o.name, *r))
    if system is not None:
        parts.append(f"<p>System: {html.escape(repr(system))}.</p>")
    if rows:
        parts.append("<h2>This run vs reference</h2><p>Every number this run computed for which the system's reference "
                     "table holds a value; the note says what differs in the method.</p><table><tr><th>stage</th><th>quantity</th>"
                     "<th>this run</th><th>reference</th><th>unit</th><th>note</th></tr>")
        for r in rows:
            cells = list(r) + [""] * (6 - len(r))
            parts.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells[:6]) + "</tr>")
        parts.append("</table>")
    parts.append("<h2>Stages</h2><table><tr><th>stage</th><th>status</th><th>wall time (s)</th><th>note</th></tr>")
    for o in outcomes:
        ran_s = getattr(o, "ran_s", None)
        wall = f"{o.wall_s:.1f}" if o.status != "cached" or ran_s is None else \
            f"0.0 (reused; computed in {ran_s:.1f} s, started {html.escape(getattr(o, 'ran_at', ''))})"
        parts.append(f"<tr><td>{o.name}</td><td class='status-{o.status}'>{o.status}</td><td>{wall}</td><td>{html.escape(o.error)}</td></tr>")
    for name_, why in (removed or {}).items():
        parts.append(f"<tr><td>{html.escape(name_)}</td><td class='status-skipped'>removed</td><td>0.0</td><td>{html.escape(why)}</td></tr>")
    parts.append("</table>")
    for o in outcomes:
        s = _summary(o)
        if not (s.figures or s.text or s.comparisons or s.tables):
            continue
        parts.append(f"<h2>{html.escape(o.name)}</h2>")
        if s.text:
            parts.append(f"<p style='white-space:pre-wrap'>{html.escape(s.text)}</p>")
        for tab in s.tables:
            parts.append(f"<p>{html.escape(tab.caption)}</p><table><tr>"
                         + "".join(f"<th>{html.escape(str(h))}</th>" for h in tab.header) + "</tr>")
            for r in tab.rows:
                parts.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>")
            parts.append("</table>")
        for fig in s.figures:
            p = root / fig.path
            if p.exists():
                parts.append(f"<figure>{_img(p)}<figcaption>{html.escape(fig.caption)}</figcaption></figure>")
    parts.append("<h2>Provenance</h2><p>Configuration of this run:</p>")
    parts.append(f"<pre>{html.escape(json.dumps(config.to_dict(), indent=1))}</pre>")
    if system is not None:
        parts.append("<p>System:</p>")
        parts.append(f"<pre>{html.escape(json.dumps(system.to_dict(), indent=1, default=str))}</pre>")
    parts.append("<p>Each stage folder holds <code>done.json</code> with its inputs, package versions, seeds and timing.</p>")
    if system is not None and system.citation:
        parts.append(f"<p>Reference data: {html.escape(system.citation)}</p>")
    parts.append("</body></html>")
    out = root / "report.html"
    atomic_write_text(out, "\n".join(parts))
    return out

"""``replikv compare --html report.html``: one self-contained page (styles inline, figures
as base64 PNG, no script, no network) that reads on a phone-width screen: the table
scrolls sideways inside its box, figures shrink to the screen.

What may live here: rendering the comparison, its figures and claim verdicts as HTML.
Every cell links to its sweep in the "Runs" section, which gives the sweep's reproduce
line and each seed's.
"""

from __future__ import annotations

import base64
import html
import pathlib
import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from replikv.report.cells import COLUMNS, Cell
from replikv.report.claims import Verdict
from replikv.report.comparison import Comparison
from replikv.report.figures import Figure
from replikv.report.real_cells import REAL_COLUMNS
from replikv.report.real_comparison import RealComparison

_STYLE = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 1200px; padding: 0.8rem; color: #1d1d1f; background: #fff; }
h1 { font-size: 1.4rem; margin: 0.2rem 0 0.4rem; } h2 { font-size: 1.15rem; margin-top: 1.6rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; border: 1px solid #ddd; border-radius: 6px; }
table { border-collapse: collapse; min-width: 100%; font-size: 0.85rem; }
th, td { border-bottom: 1px solid #e5e5e5; padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f6f6f8; position: sticky; top: 0; }
th small { display: block; font-weight: normal; color: #666; }
#comparison td, #comparison th { min-width: 7.5rem; } #comparison td.scheme { min-width: 0; }
#real td, #real th { min-width: 7.5rem; } #real td.scheme { min-width: 0; }
td.scheme { font-weight: 600; white-space: nowrap; position: sticky; left: 0; background: #fff; }
td.na a { color: #777; } td.bad { background: #fff6e0; }
a { color: #0b5cad; text-decoration: none; } a:hover { text-decoration: underline; }
code { font-size: 0.8rem; word-break: break-all; background: #f3f3f5; padding: 0.05rem 0.25rem; border-radius: 3px; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #444; }
.verdict { font-weight: 600; } .reproduced { color: #137333; } .notreproduced { color: #b3261e; }
.pending { color: #777; }
details { margin: 0.3rem 0; } .run { margin: 0.6rem 0; padding-top: 0.2rem; }
@media (max-width: 600px) { body { font-size: 14px; padding: 0.5rem; } th, td { padding: 0.3rem; } }
"""


def anchor(key: str) -> str:
    """An HTML id for a sweep key (``raft/primary-crash/n3/x20`` -> ``run-raft-primary-crash-n3-x20``)."""
    return "run-" + re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-")


def _cell(cell: Cell) -> str:
    classes = "na" if cell.na else "bad" if cell.bad else ""
    text = html.escape(cell.text)
    if cell.sweep is not None:
        title = html.escape(cell.reproduce or "", quote=True)
        text = f'<a href="#{anchor(cell.sweep)}" title="{title}">{text}</a>'
    return f'<td class="{classes}">{text}</td>'


def _table(comparison: Comparison) -> str:
    return _scheme_table("comparison", comparison.specs, comparison.cells,
                         [(c.name, c.title, c.scenario) for c in COLUMNS])


def _scheme_table(table_id: str, specs, cells, columns: list[tuple[str, str, str]]) -> str:
    """One row a scheme, one column a (cell name, title, small print): the simulated and the real table."""
    head = "".join(f"<th>{html.escape(title)}<small>{html.escape(small)}</small></th>" for _, title, small in columns)
    rows = []
    for spec in specs:
        row = cells[spec.name]
        rows.append(f'<tr><td class="scheme" title="{html.escape(spec.summary, quote=True)}">'
                    f"{html.escape(spec.name)}</td>{''.join(_cell(row[name]) for name, _, _ in columns)}</tr>")
    return f'<div class="scroll"><table id="{table_id}"><thead><tr><th>scheme</th>{head}</tr></thead>' \
           f"<tbody>{''.join(rows)}</tbody></table></div>"


def _columns() -> str:
    items = "".join(f"<li><b>{html.escape(c.title)}</b> (<code>{html.escape(c.scenario)}</code>): "
                    f"{html.escape(c.help)}</li>" for c in COLUMNS)
    return f"<ul>{items}</ul>"


def _figure(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    return (f'<figure id="fig-{figure.name}"><img alt="{html.escape(figure.title, quote=True)}" '
            f'src="data:image/png;base64,{data}"><figcaption><b>{html.escape(figure.title)}.</b> '
            f"{html.escape(figure.caption)} <code>{html.escape(figure.source)}</code></figcaption></figure>")


def _claims(verdicts: list[Verdict], statements: dict[str, str]) -> str:
    parts = []
    for verdict in verdicts:
        css = verdict.status.replace(" ", "")
        rows = "".join(
            f"<tr><td>{html.escape(r['scheme'])}</td><td>{html.escape(r['group'])}: {html.escape(r['expect'])}</td>"
            f"<td>{html.escape(str(r['numbers']))}</td>"
            f"<td>{ {True: 'yes', False: 'no', None: 'n/a'}[r['holds']] }</td>"
            f"<td><code>{html.escape(r['reproduce'] or '')}</code></td></tr>" for r in verdict.rows)
        table = (f'<div class="scroll"><table><thead><tr><th>scheme</th><th>expected</th><th>measured</th>'
                 f"<th>as claimed</th><th>reproduce</th></tr></thead><tbody>{rows}</tbody></table></div>"
                 if rows else "")
        parts.append(f'<div class="claim" id="claim-{html.escape(verdict.claim)}"><h3>{html.escape(verdict.claim)}: '
                     f'<span class="verdict {css}">{html.escape(verdict.status)}</span></h3>'
                     f"<p>{html.escape(statements.get(verdict.claim, ''))}<br><small>{html.escape(verdict.summary)}"
                     f"</small></p>{table}</div>")
    return "".join(parts)


def _runs(comparison: Comparison) -> str:
    parts = []
    for key, sweep in comparison.sweeps.items():
        if sweep.unsupported is not None:
            body = f"<p>not run: {html.escape(sweep.unsupported)}</p>"
        else:
            seeds = "".join(f"<li><code>{html.escape(r['reproduce'])}</code>"
                            f"{' failed: ' + html.escape(', '.join(r['failed'])) if r['failed'] else ''}</li>"
                            for r in sweep.reports)
            errors = "".join(f"<li>{html.escape(e)}</li>" for e in sweep.errors)
            body = (f"<p>reproduce: <code>{html.escape(sweep.reproduce)} --json</code> (its <code>summary</code>, or "
                    f"the report of a single seed, holds the numbers of the cells that link here)</p>"
                    f"<details><summary>{len(sweep.reports)} runs</summary><ul>{seeds}</ul></details>"
                    + (f"<ul>{errors}</ul>" if errors else ""))
        parts.append(f'<div class="run" id="{anchor(key)}"><b>{html.escape(key)}</b>{body}</div>')
    return "".join(parts)


def _version() -> str:
    try:
        return version("replikv")
    except PackageNotFoundError:
        return "(not installed)"


def _real_table(real: RealComparison) -> str:
    return _scheme_table("real", real.specs, real.cells,
                         [(c.name, c.title, f"real, --nemesis {c.fault}") for c in REAL_COLUMNS])


def _real_runs(real: RealComparison) -> str:
    parts = []
    for key, run in real.runs.items():
        report = run.report or {}
        if run.error is not None:
            outcome = f"run failed: {html.escape(run.error)}"
        else:
            outcome = ("pass" if report.get("pass") else
                       f"failed: {html.escape(', '.join(report.get('failed') or [])) or 'undecided'}")
        folder = f", results in <code>{html.escape(str(run.folder))}</code>" if run.folder else ""
        parts.append(f'<div class="run" id="{anchor(key)}"><b>{html.escape(key)}</b> (measured on a local '
                     f"cluster, {run.wall_s or 0:g} s of wall time{folder}): {outcome}<br>"
                     f"reproduce: <code>{html.escape(run.experiment.reproduce())}</code></div>")
    return "".join(parts)


def real_section(real: RealComparison, figures: list[Figure]) -> list[str]:
    """The "measured on local clusters" part: its table, columns, figure and runs."""
    columns = "".join(f"<li><b>{html.escape(c.title)}</b> (<code>replikv test --nemesis {html.escape(c.fault)}"
                      f"</code>): {html.escape(c.help)}</li>" for c in REAL_COLUMNS)
    return [
        f'<h2 id="measured">Measured on local clusters</h2><p>Real processes over TCP through <code>replikv test'
        f"</code>'s machinery: {real.nodes} nodes per cluster, fsync always, 8 closed-loop clients, "
        f"{real.time_s:g} s of workload per run, {real.seeds} seed{'s' if real.seeds != 1 else ''} per cell, one "
        f"cluster at a time. Every cell links to its run and its <code>replikv test</code> line; process timing "
        f"varies from run to run, the seed fixes the faults and the clients' choices.</p>",
        _real_table(real), f"<ul>{columns}</ul>", "".join(_figure(f) for f in figures),
        "<h3>Real runs</h3>", _real_runs(real),
    ]


def _next_to_latency(figures: list[Figure], measured: list[Figure]) -> list[Figure]:
    """The simulator's figures with the measured ones right after its latency CDF."""
    at = next((i + 1 for i, f in enumerate(figures) if f.name == "latency-cdf"), len(figures))
    return [*figures[:at], *measured, *figures[at:]]


def _page(sections: list[str]) -> str:
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>replikv compare</title><style>{_STYLE}</style></head><body>{''.join(sections)}</body></html>")


def render(comparison: Comparison | None, figures: list[Figure], verdicts: list[Verdict] | None = None,
           statements: dict[str, str] | None = None, real: RealComparison | None = None,
           real_figures: list[Figure] | None = None) -> str:
    """The page: the simulated table (``comparison``), the measured one (``real``), or both."""
    if comparison is None:
        assert real is not None, "render needs a comparison, real runs, or both"
        schemes = ", ".join(s.name for s in real.specs)
        return _page([f"<h1>replikv compare --real</h1><p>The chapter's table (\u201cReplication\u201d, "
                      f"<i>Distributed systems: for fun and profit</i>, after Ryan Barrett), the columns a real "
                      f"cluster can measure: {html.escape(schemes)}. replikv {html.escape(_version())}.</p>",
                      *real_section(real, real_figures or [])])
    schemes = ", ".join(s.name for s in comparison.specs)
    sections: list[Any] = [
        f"<h1>replikv compare</h1><p>The chapter's table (\u201cReplication\u201d, <i>Distributed systems: for fun "
        f"and profit</i>, after Ryan Barrett) measured in the deterministic simulator: {html.escape(schemes)}; "
        f"{comparison.seeds} seeds per cell, N={comparison.nodes}. Every cell links to the runs behind it and "
        f"their <code>replikv sim</code> reproduce lines. replikv {html.escape(_version())}.</p>",
        "<h2>The table</h2>", _table(comparison), "<h2>Columns</h2>", _columns(),
    ]
    if real is not None:  # its figure goes next to the simulator's latency CDF, below
        sections += real_section(real, [])
    if verdicts:
        sections += ["<h2>The chapter's claims</h2>", _claims(verdicts, statements or {})]
    figures = _next_to_latency(figures, real_figures or [])
    if figures:
        sections += ["<h2>Figures</h2>", "".join(_figure(f) for f in figures)]
    sections += ["<h2>Runs</h2>", _runs(comparison)]
    return _page(sections)


def write_html(path: pathlib.Path, comparison: Comparison | None, figures: list[Figure],
               verdicts: list[Verdict] | None = None, statements: dict[str, str] | None = None,
               real: RealComparison | None = None, real_figures: list[Figure] | None = None) -> None:
    path.write_text(render(comparison, figures, verdicts, statements, real, real_figures), encoding="utf-8")

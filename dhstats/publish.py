"""Write one gate session's outputs from its health.json document.

``reports/health.json``, ``reports/badges/*.svg`` (overall, per check, trend), the run pages
``reports/runs/<set>/<run>.html`` and one line of ``history.jsonl`` — every file atomically
and under the manifest of :class:`dhstats.outputs.OutputSession`, so that files of an earlier
session that this one does not write again are removed (and nothing else). Reporting never
ends a session: a figure callback that raises becomes a one-line note on the page.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .badges import badges
from .health import RunIndex, append_history, dumps_json, read_history
from .outputs import OutputSession
from .pages import needs_page, page_path, render_run_page

HEALTH_JSON = "health.json"
REPORT_HTML = "report.html"
BADGES_DIR = "badges"

FiguresFor = Callable[[object], Sequence]


def _key(results: str, run: str):
    try:
        from .results import RunKey
    except ImportError:  # pragma: no cover - older results module
        return (results, run)
    return RunKey(results, run)


def planned_outputs(health: Mapping, html_report: bool = True, trend: bool = True,
                    index: RunIndex | None = None) -> list[str]:
    """Relative paths a session with this health document writes (the manifest's content);
    ``trend``: with ``badges/trend.svg`` (only sessions that keep a history have one);
    ``index``: :class:`dhstats.health.RunIndex` of ``health`` (built when not given)."""
    index = RunIndex(health) if index is None else index
    out = [HEALTH_JSON] + [f"{BADGES_DIR}/{b.filename}" for b in badges(health, with_trend=trend)]
    out += [page_path((r["results"], r["run"])) for r in health["runs"]
            if needs_page(r, index.cases_of(r["results"], r["run"]))]
    return out + ([REPORT_HTML] if html_report else [])


def _figures(figures_for: FiguresFor | None, key) -> list:
    if figures_for is None:
        return []
    try:
        return list(figures_for(key) or ())
    except Exception as exc:  # a plotting bug must not cost the page
        return [("figures", None, f"figures could not be drawn: {type(exc).__name__}: {exc}")]


def write_reports(
    reports_dir: str | os.PathLike,
    health: Mapping,
    figures_for: FiguresFor | None = None,
    history: str | os.PathLike | None = None,
    html_report: bool = True,
    commit: str | None = "auto",
) -> list[Path]:
    """Write health.json, badges, run pages and (when ``history`` is a path) append the
    history line (and ``badges/trend.svg``: this session against the history's last line);
    ``report.html`` is listed in the manifest when ``html_report`` (pytest-html
    writes it: redirect it to :func:`dhstats.outputs.temp_path` and :func:`~dhstats.outputs.publish`
    it). ``figures_for(RunKey)`` gives a run's figures. ``commit`` as for
    :func:`dhstats.health.append_history` (``"auto"``: look it up). Returns the paths written,
    health.json first."""
    session = OutputSession(reports_dir)
    index = RunIndex(health)  # one pass: the pages look their runs up here
    session.begin(planned_outputs(health, html_report, trend=bool(history), index=index))
    previous = read_history(history, last=1) if history else []
    written = [session.write_bytes(HEALTH_JSON, dumps_json(health))]
    for badge in badges(health, previous[-1] if previous else None, with_trend=bool(history)):
        written.append(session.write_text(f"{BADGES_DIR}/{badge.filename}", badge.svg()))
    for r in health["runs"]:
        if needs_page(r, index.cases_of(r["results"], r["run"])):
            key = _key(r["results"], r["run"])
            page = render_run_page(health, key, _figures(figures_for, key), index)
            written.append(session.write_text(page_path(key), page))
    if history:
        append_history(history, health, commit)
        written.append(Path(history))
    session.finish()
    return written


__all__ = ["BADGES_DIR", "HEALTH_JSON", "REPORT_HTML", "planned_outputs", "write_reports"]

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
from .health import RunIndex, append_history, dumps_json, load_history
from .outputs import OutputSession
from .pages import needs_page, page_path, render_run_page
from .records import RunKey
from .rendered import Figure

HEALTH_JSON = "health.json"
REPORT_HTML = "report.html"
BADGES_DIR = "badges"

FiguresFor = Callable[[object], Sequence]


def planned_outputs(health: Mapping, html_report: bool = True, trend: bool = True,
                    index: RunIndex | None = None) -> list[str]:
    """Relative paths a session with this health document writes (the manifest's content);
    ``trend``: with ``badges/trend.svg`` (only sessions that keep a history have one);
    ``index``: :class:`dhstats.health.RunIndex` of ``health`` (built when not given)."""
    index = RunIndex(health) if index is None else index
    out = [HEALTH_JSON] + [f"{BADGES_DIR}/{b.filename}" for b in badges(health, with_trend=trend)]
    out += [page_path((r["run_set"], r["run"])) for r in health["runs"]
            if needs_page(r, index.cases_of(r["run_set"], r["run"]))]
    return out + ([REPORT_HTML] if html_report else [])


def _figures(figures_for: FiguresFor | None, key) -> list:
    if figures_for is None:
        return []
    try:
        return list(figures_for(key) or ())
    except Exception as exc:  # a plotting bug must not cost the page
        return [Figure("figures", None, f"figures could not be drawn: {type(exc).__name__}: {exc}")]


def write_reports(
    reports_dir: str | os.PathLike,
    health: Mapping,
    figures_for: FiguresFor | None = None,
    history: str | os.PathLike | None = None,
    html_report: bool = True,
    commit: str | None = "auto",
    problems: list[str] | None = None,
) -> list[Path]:
    """Write health.json, badges, run pages and (when ``history`` is a path) append the
    history line (and ``badges/trend.svg``: this session against the last comparable session);
    ``report.html`` is listed in the manifest when ``html_report`` (pytest-html
    writes it: redirect it to :func:`dhstats.outputs.temp_path` and :func:`~dhstats.outputs.publish`
    it). ``figures_for(RunKey)`` gives a run's figures. ``commit`` as for
    :func:`dhstats.health.append_history` (``"auto"``: look it up). Returns the paths written,
    health.json first.

    Each output is written or fails on its own: a failure (an occupied path, a full disk) is
    one line in ``problems`` (with notes on history lines skipped and links replaced), and
    the other outputs are still written. Without ``problems`` the first failure raises."""
    def attempt(what: str, write: Callable[[], object], output: bool = True) -> None:
        try:
            result = write()
        except Exception as exc:  # noqa: BLE001 - one output never costs the others
            if problems is None:
                raise
            problems.append(f"dhstats: {what} not written: {type(exc).__name__}: {exc}")
        else:
            if output:
                written.append(result)

    written: list[Path] = []
    notes: list[str] = []
    session = OutputSession(reports_dir)
    index = RunIndex(health)  # one pass: the pages look their runs up here
    attempt("the manifest (.dhstats-manifest.json)",
            lambda: session.begin(planned_outputs(health, html_report, trend=bool(history), index=index)), output=False)
    previous: list[dict] = []
    if history:
        previous, skipped = load_history(history)  # the trend looks back for a comparable session
        notes += skipped
    attempt(HEALTH_JSON, lambda: session.write_bytes(HEALTH_JSON, dumps_json(health)))
    for badge in badges(health, previous, with_trend=bool(history)):
        attempt(f"{BADGES_DIR}/{badge.filename}", lambda b=badge: session.write_text(f"{BADGES_DIR}/{b.filename}", b.svg()))
    for r in health["runs"]:
        if needs_page(r, index.cases_of(r["run_set"], r["run"])):
            key = RunKey(r["run_set"], r["run"])
            attempt(f"the run page of {r['run_set']}/{r['run']}", lambda k=key: session.write_text(
                page_path(k), render_run_page(health, k, _figures(figures_for, k), index,
                                                report=REPORT_HTML if html_report else None)))
    if history:
        attempt(f"the history line ({history})", lambda: (append_history(history, health, commit), Path(history))[1])
    attempt("the manifest (.dhstats-manifest.json)", session.commit, output=False)
    if problems is not None:
        problems += notes + session.notes
    return written


__all__ = ["BADGES_DIR", "HEALTH_JSON", "REPORT_HTML", "planned_outputs", "write_reports"]

"""Write one gate session's outputs from its health.json document.

``reports/health.json``, ``reports/badges/*.svg`` (overall, per check, trend), the run pages
``reports/runs/<set>/<run>.html`` and one line of ``history.jsonl`` — every file atomically
and under the manifest of :class:`dhstats.gate.files.OutputSession`, so that files of an earlier
session that this one does not write again are removed (and nothing else). Reporting never
ends a session: a figure callback that raises becomes a one-line note on the page.

Pessimistic first: :func:`write_in_progress` replaces health.json, the badges and report.html
by a "session in progress" state before any judging; :func:`write_reports` writes the
verdict last (health.json, then the overall badge), marked with whatever failed before it.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from dhstats.report.badges import badges, in_progress_badges
from dhstats.report.health import RunIndex, dumps_json, in_progress, mark_unwritten, unwritten_exit, written
from dhstats.report.history import append_history, load_history
from dhstats.gate.files import MANIFEST, OutputSession, read_manifest
from dhstats.report.pages import needs_page, page_path, render_run_page
from dhstats.load.records import RunKey
from dhstats.figures.rendered import Figure

HEALTH_JSON = "health.json"
REPORT_HTML = "report.html"
BADGES_DIR = "badges"

FiguresFor = Callable[[object], Sequence]


def _compact(health: Mapping) -> bytes:
    """health.json's bytes: :func:`dhstats.report.health.written` as one line of compact JSON
    (no indentation: 20 % smaller than indent 2, and linear to write at 10⁴ runs), and a newline."""
    return dumps_json(written(health), indent=False) + b"\n"


def planned_outputs(health: Mapping, html_report: bool = True, trend: bool = True,
                    index: RunIndex | None = None) -> list[str]:
    """Relative paths a session with this health document writes (the manifest's content);
    ``trend``: with ``badges/trend.svg`` (only sessions that keep a history have one);
    ``index``: :class:`dhstats.report.health.RunIndex` of ``health`` (built when not given)."""
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
    health: dict,
    figures_for: FiguresFor | None = None,
    history: str | os.PathLike | None = None,
    html_report: bool = True,
    commit: str | None = "auto",
    problems: list[str] | None = None,
    notes: list[str] | None = None,
    append: bool = True,
    unwritten: list[str] | None = None,
) -> list[Path]:
    """Write the run pages, the check and trend badges, then health.json and the overall
    badge, and (when ``history`` is a path and ``append``) append the history line
    (``badges/trend.svg``: this session against the last comparable session of ``history``);
    ``report.html`` is listed when ``html_report`` (pytest-html writes it: redirect it to
    :func:`dhstats.gate.files.temp_path`, :func:`~dhstats.gate.files.publish` it and
    :meth:`~dhstats.gate.files.OutputSession.record` it). ``figures_for(RunKey)`` gives a run's
    figures. ``commit`` as for :func:`dhstats.report.history.append_history` (``"auto"``: look it up).
    Returns the paths written, health.json first.

    Each output is written or fails on its own: a failure (an occupied path, a full disk) is
    one line in ``problems`` and its name in ``unwritten``, and the other outputs are still
    written. The verdict comes last and says what failed: when anything before it failed,
    ``health`` is marked (:func:`dhstats.report.health.mark_unwritten`: exit status 1) before
    health.json and the overall badge are written, so that they never show a pass the exit
    status contradicts; health.json failing turns the overall badge red too. ``notes``
    (history lines skipped, links replaced, a manifest ignored) go to ``notes`` (or to
    ``problems`` when not given). Without ``problems`` the first failure raises."""
    def attempt(what: str, write: Callable[[], object], output: bool = True, name: str | None = None) -> bool:
        try:
            result = write()
        except Exception as exc:  # noqa: BLE001 - one output never costs the others
            if problems is None:
                raise
            problems.append(f"dhstats: {what} not written: {type(exc).__name__}: {exc}")
            failed.append(name or what)
            return False
        if output:
            written.append(result)
        return True

    written: list[Path] = []
    failed: list[str] = [] if unwritten is None else unwritten
    skipped: list[str] = []
    protect = [s["path"] for s in health.get("run_sets", ()) if s.get("path")]
    session = OutputSession(reports_dir, protect=protect)
    index = RunIndex(health)  # one pass: the pages look their runs up here
    attempt("the manifest (.dhstats-manifest.json)",
            lambda: session.begin(planned_outputs(health, html_report, trend=bool(history), index=index)),
            output=False, name=MANIFEST)
    previous: list[dict] = []
    if history:
        previous, lines_skipped = load_history(history)  # the trend looks back for a comparable session
        skipped += lines_skipped
    for r in health["runs"]:
        if needs_page(r, index.cases_of(r["run_set"], r["run"])):
            key = RunKey(r["run_set"], r["run"])
            attempt(f"the run page of {r['run_set']}/{r['run']}", lambda k=key: session.write_text(
                page_path(k), render_run_page(health, k, _figures(figures_for, k), index,
                                                report=REPORT_HTML if html_report else None)), name=page_path(key))
    overall, *others = badges(health, previous, with_trend=bool(history))
    for badge in others:
        rel = f"{BADGES_DIR}/{badge.filename}"
        attempt(rel, lambda b=badge, r=rel: session.write_text(r, b.svg()))
    mark_unwritten(health, failed)
    attempt(HEALTH_JSON, lambda: session.write_bytes(HEALTH_JSON, _compact(health)))
    mark_unwritten(health, failed)
    overall = badges(health, previous, with_trend=False)[0]
    rel = f"{BADGES_DIR}/{overall.filename}"
    attempt(rel, lambda: session.write_text(rel, overall.svg()))
    if HEALTH_JSON in written and f"{BADGES_DIR}/{overall.filename}" in failed:
        health["exit"] = unwritten_exit(health["exit"], [rel])  # health.json would contradict the exit status
        health["confidence"] = "failed"
        if not attempt(HEALTH_JSON, lambda: session.write_bytes(HEALTH_JSON, _compact(health)), output=False):
            restore_in_progress(session, health)
    if history and append:
        attempt(f"the history line ({history})", lambda: (append_history(history, health, commit), Path(history))[1])
    attempt("the manifest (.dhstats-manifest.json)", session.commit, output=False, name=MANIFEST)
    if notes is None:
        notes = problems if problems is not None else []
    notes += skipped + session.notes
    written.sort(key=lambda p: p.name != HEALTH_JSON)
    return written


def amend_verdict(reports_dir: str | os.PathLike, health: dict, unwritten: Sequence[str],
                  problems: list[str] | None = None) -> None:
    """An output that failed after the verdict was written (report.html, the history line):
    mark ``health`` (:func:`dhstats.report.health.mark_unwritten`) and rewrite health.json and the
    overall badge; what cannot be rewritten goes back to the in-progress state (or is removed),
    never left as a verdict the exit status contradicts."""
    mark_unwritten(health, unwritten)
    session = OutputSession(reports_dir)
    session.entries = read_manifest(reports_dir)
    try:
        session.write_bytes(HEALTH_JSON, _compact(health))
    except Exception as exc:  # noqa: BLE001
        if problems is not None:
            problems.append(f"dhstats: {HEALTH_JSON} not rewritten: {type(exc).__name__}: {exc}")
        restore_in_progress(session, health)
    badge = badges(health, with_trend=False)[0]
    rel = f"{BADGES_DIR}/{badge.filename}"
    try:
        session.write_text(rel, badge.svg())
    except Exception as exc:  # noqa: BLE001
        if problems is not None:
            problems.append(f"dhstats: {rel} not rewritten: {type(exc).__name__}: {exc}")
        try:
            session.write_text(rel, in_progress_badges(False)[0].svg())
        except Exception:  # noqa: BLE001
            with contextlib.suppress(OSError):
                (session.root / rel).unlink()
    with contextlib.suppress(Exception):
        session.commit()


def record_published(reports_dir: str | os.PathLike, rel: str) -> None:
    """List a file another writer published (report.html) in the manifest with its bytes'
    fingerprint, so that a later session may remove it."""
    session = OutputSession(reports_dir)
    session.entries = read_manifest(reports_dir)
    session.record(rel)
    session.commit()


def restore_in_progress(session: OutputSession, health: Mapping) -> None:
    """health.json back to the in-progress state (or removed, if even that cannot be written):
    never a verdict the exit status contradicts."""
    doc = in_progress(health.get("generated") or "", [])
    try:
        session.write_bytes(HEALTH_JSON, _compact(doc))
    except Exception:  # noqa: BLE001
        with contextlib.suppress(OSError):
            (session.root / HEALTH_JSON).unlink()


def in_progress_page(started: str, command: Sequence[str]) -> str:
    """report.html while a session runs (pytest-html replaces it at the end): what a killed
    session leaves; escaped."""
    from html import escape

    cmd = escape(" ".join(map(str, command)))
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>dhstats gate: session in progress</title>"
            "</head>\n<body><h1>dhstats gate: session in progress</h1>\n"
            f"<p>Started {escape(started)}: <code>{cmd}</code>.</p>\n"
            "<p>No verdict yet. If this page stays, the session ended before writing its verdict "
            "(killed, out of memory, a CI timeout, a failed write): there is no verdict.</p>\n</body></html>\n")


def in_progress_files(started: str, command: Sequence[str], trend: bool = True) -> tuple[list, list]:
    """The in-progress state's files as ``(verdicts, others)`` of ``(relative path, bytes)``:
    health.json, the overall badge and report.html; the other badges."""
    overall, *others = in_progress_badges(trend)
    verdicts = [(HEALTH_JSON, _compact(in_progress(started, command))),
                (f"{BADGES_DIR}/{overall.filename}", overall.svg().encode("utf-8")),
                (REPORT_HTML, in_progress_page(started, command).encode("utf-8"))]
    return verdicts, [(f"{BADGES_DIR}/{b.filename}", b.svg().encode("utf-8")) for b in others]


def write_in_progress(reports_dir: str | os.PathLike, started: str, command: Sequence[str],
                      trend: bool = True, problems: list[str] | None = None,
                      notes: list[str] | None = None, unwritten: list[str] | None = None,
                      prepared: tuple[list, list] | None = None) -> list[Path]:
    """Replace the previous session's verdict by the "session in progress" state before any
    judging: health.json (:func:`dhstats.report.health.in_progress`, ``exit.status`` null), the overall
    badge grey and report.html a page saying so — these three first, before the manifest is
    read, so that a kill leaves the earlier verdict for as short a time as three atomic writes
    — then the other badges grey; each atomically, under the manifest. A failure
    is a line in ``problems`` (raised without it); what cannot be replaced is then removed
    when the manifest shows its bytes are the gate's, so that no earlier verdict is left.
    ``notes``: links replaced, a manifest ignored; ``unwritten``: the names that failed;
    ``prepared``: :func:`in_progress_files`, rendered before the session took the directory."""
    session = OutputSession(reports_dir)
    out: list[Path] = []
    verdicts, others = prepared if prepared is not None else in_progress_files(started, command, trend)
    previous = read_manifest(reports_dir)  # what may be removed if its replacement fails

    def failed(what: str, exc: Exception) -> None:
        """One line in ``problems``; without ``problems`` the failure is raised."""
        if problems is None:
            raise exc
        problems.append(f"dhstats: {what}: {type(exc).__name__}: {exc}")

    def write(rel: str, data: bytes) -> None:
        try:
            out.append(session.write_bytes(rel, data))
        except Exception as exc:  # noqa: BLE001
            failed(f"{rel} (session in progress) not written", exc)
            if unwritten is not None:
                unwritten.append(rel)
            if rel in previous and session.deletable(rel, previous[rel]):
                (session.root / rel).unlink()  # the earlier session's verdict must not stay
                session.entries.pop(rel, None)

    for rel, data in verdicts:  # first, the moment the session holds the directory: a kill leaves no old verdict
        write(rel, data)
    replaced = dict(session.entries)
    try:  # then the earlier session's other outputs (run pages) go: no earlier verdict stays
        session.begin([rel for rel, _ in verdicts + others])
    except Exception as exc:  # noqa: BLE001
        failed("the manifest (.dhstats-manifest.json) not read", exc)
    session.entries.update(replaced)
    for rel, data in others:
        write(rel, data)
    try:
        session.commit()
    except Exception as exc:  # noqa: BLE001
        failed("the manifest (.dhstats-manifest.json) not written", exc)
        if unwritten is not None:
            unwritten.append(MANIFEST)
    if notes is not None:
        notes += session.notes
    return out


__all__ = ["BADGES_DIR", "HEALTH_JSON", "REPORT_HTML", "amend_verdict", "record_published", "in_progress_files", "in_progress_page", "planned_outputs", "restore_in_progress",
           "write_in_progress", "write_reports"]

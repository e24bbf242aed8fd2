"""The consumer of a gate session: records → health.json, badges, run pages, history and the
pytest-html summary.

:class:`SessionOutputs` collects what each test report carries (:class:`dhstats.gate.gate.Records`
and a failing case's figures) and writes the outputs from them; it knows the session's runs
and run sets (:class:`dhstats.gate.collection.Collection`) but nothing of how they were judged.
Reporting never ends a session: every run found is in health.json (a run none of whose
cases reported is judged for its run verdict by the ``run_verdict`` it is given), and an
output that fails is named in ``output_errors`` while the others are still written — and
makes the exit status non-zero.

A session's life (checks.md, "What a session may trust")::

    out.start(lock)          # holds the reports directory; the "session in progress" state
    out.collect(...); out.deselect(...)
    out.write(run_verdict, html, exit_status)   # the verdict, health.json last
    ...                      # pytest-html writes report.html
    out.finish(report_ok)    # a failed report.html marks the verdict; the history line; unlock
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from dhstats.verdicts import registry
from dhstats.gate.collection import Collection
from dhstats.figures.rendered import Figure, FigureScope, figures
from dhstats.load.results import RunFile, RunKey
from dhstats.load.settings import SessionOptions
from dhstats.report.health import mark_unwritten
from dhstats.verdicts.verdicts import RunOutcome, RunVerdict


class SessionOutputs:
    """The records of one session and the outputs written from them."""

    def __init__(self, options: SessionOptions, collection: Collection):
        self.options = options
        self.settings = options.settings
        self.collection = collection
        self.run_records: dict[RunKey, dict] = {}
        self.case_records: list[dict] = []
        self.figures: dict[tuple[str, str | None], dict[str, object]] = {}
        self.health: dict | None = None
        self.written: list[Path] = []
        self.output_errors: list[str] = []
        self.notices: list[str] = []  # said at the end of the session
        self.interrupted = False  # set by the driver (Ctrl-C): outputs then say so, never a pass
        self.deselected: dict[str, list[str]] = {}  # check → case ids removed by -k / -m / --deselect
        self.unwritten: list[str] = []  # outputs that failed: the exit status is then non-zero
        self.lock = None  # dhstats.gate.lock.ReportsLock held from start() to finish()
        self.started: str | None = None
        self.command: list[str] = []

    def start(self, lock=None, command: Sequence[str] | None = None, started: str | None = None) -> None:
        """Hold the reports directory (``lock``: a :class:`dhstats.gate.lock.ReportsLock`, taken
        by the caller before anything is written there) and replace the previous session's
        verdict by the "session in progress" state (:func:`begin`)."""
        self.adopt(begin(self.options, lock, command, started))

    def adopt(self, begun: Begun) -> None:
        """Take over what :func:`begin` did before this session's run sets were known."""
        self.lock, self.started, self.command = begun.lock, begun.started, begun.command
        self.notices += begun.notices
        self.output_errors += begun.errors
        self.unwritten += begun.unwritten

    def deselect(self, check: str, case_id: str) -> None:
        """A case removed from the session (``-k``, ``-m``, ``--deselect``): not a passed case."""
        self.deselected.setdefault(check, []).append(case_id)

    def collect(self, records: dict, figures: Sequence = (), failed: bool = False) -> None:
        """A test report's records (:meth:`dhstats.gate.gate.Records.wire`) and a failing case's figures."""
        run, case = records.get("run"), records.get("case")
        if run is not None:
            self.run_records[RunKey(run["run_set"], run["run"])] = run
        if case is not None:
            self.case_records.append(case)
            if failed and figures:  # captions name run and η: a run's page gets each figure once
                bucket = self.figures.setdefault((case["run_set"], case["run"]), {})
                for fig in map(Figure.of, figures):
                    bucket.setdefault(fig.caption, fig)

    def write(self, run_verdict: Callable[[RunFile], RunVerdict], html: bool = False,
              exit_status: int | None = None) -> dict:
        """health.json, badges, run pages and the history line, written from the collected
        records (:mod:`dhstats.report.plan`). Every run found is in health.json: a run none of
        whose cases reported (deselected, or a worker died) is judged by ``run_verdict`` —
        unless the session was interrupted (checked before each such run: Ctrl-C also stops
        this judging); then it is listed in ``not_judged`` and health.json's exit says
        "interrupted" (status 2), never a pass. A failing output is named in
        ``output_errors`` and ``unwritten`` and the others are still written; health.json's
        exit then says so (status 1). ``exit_status``: pytest's, recorded when the gate's
        own is 0 (5: nothing selected). The history line is appended by :meth:`finish`."""
        from dhstats.report.health import build_health
        from dhstats.report.plan import write_reports

        files = self.collection.files
        not_judged = []
        for f in files:
            if f.key in self.run_records:
                continue
            if self.interrupted:
                not_judged.append({"run_set": f.run_set, "run": f.run, "path": str(f.path),
                                   "message": "not judged: the session was interrupted before any case of this run"})
                continue
            rv = run_verdict(f)
            self.run_records[f.key] = {**rv.to_dict(), "message": rv.message or
                                       "no case of this run was reported in this session (deselected, or its "
                                       "process died)"}
        runs = [self.run_records[f.key] for f in files if f.key in self.run_records]
        cases = self._sorted_cases(runs)
        self.health = build_health(self.settings, self.collection.roots, runs, cases,
                                   run_sets=self._run_set_records(cases), figures_omitted=self.output_errors,
                                   interrupted=self.interrupted, not_judged=not_judged,
                                   baseline=self._baseline_block(cases),
                                   deselected=self.deselected, exit_status=exit_status)
        mark_unwritten(self.health, self.unwritten)  # at the start (the in-progress state, a history line)
        if self.health["counts"].get("deselected"):
            self.notices.append(f"dhstats: {self.health['counts']['deselected']} cases deselected (-k, -m, --deselect): "
                                "not judged, so not passed; confidence partial")
        try:  # each output is written or fails on its own (named in output_errors)
            self.written = write_reports(self.options.reports, self.health, self._figures_for, self.options.history,
                                         html_report=html, problems=self.output_errors, notes=self.notices,
                                         append=False, unwritten=self.unwritten)
        except Exception as exc:  # noqa: BLE001 - an output must never end the session
            self.output_errors.append(f"dhstats: writing the reports failed: {type(exc).__name__}: {exc}")
            mark_unwritten(self.health, ["the reports"])
        return self.health

    def finish(self, report_html: str | None = None) -> int:
        """After pytest-html: ``report_html`` the reason report.html could not be written (None:
        written, or not asked for) marks the verdict (:func:`dhstats.report.plan.amend_verdict`:
        health.json and the overall badge rewritten with exit status 1). Then the history line
        (this session's final exit status) and the lock released. Returns the exit status the
        outputs record (None-safe: 1 when no verdict was written)."""
        from dhstats.report.history import append_history
        from dhstats.report.plan import amend_verdict

        try:
            if self.health is None:  # no verdict was built: the in-progress state stays, the history says so
                if self.options.history and self.started is not None:
                    from dhstats.report.health import killed_line
                    from dhstats.report.history import append as append_line
                    from dhstats.load.jsonvalues import dumps_json

                    with contextlib.suppress(Exception):
                        append_line(self.options.history, dumps_json(killed_line(
                            {"pid": os.getpid(), "command": self.command}, self.started,
                            "the session ended before its verdict was built"), indent=False), 1000)
                return 1
            if report_html is not None:
                self.output_errors.append(f"dhstats: report.html not written: {report_html}")
                self.unwritten.append("report.html")
                amend_verdict(self.options.reports, self.health, ["report.html"], self.output_errors)
            if self.options.history:
                try:
                    append_history(self.options.history, self.health)
                except Exception as exc:  # noqa: BLE001 - reporting never ends a session
                    self.output_errors.append(f"dhstats: the history line ({self.options.history}) not written: "
                                              f"{type(exc).__name__}: {exc}")
                    self.unwritten.append(str(self.options.history))
                    amend_verdict(self.options.reports, self.health, [str(self.options.history)], self.output_errors)
            status = self.health["exit"]["status"]
            return (status or 1) if self.unwritten else status
        finally:
            self.release()

    def release(self) -> None:
        """Let the next session write the reports directory (idempotent)."""
        if self.lock is not None:
            self.lock.release()

    def _sorted_cases(self, runs: Iterable[dict]) -> list[dict]:
        """Cases of valid runs in session order: run by run (registry order, ascending η), then
        run sets."""
        order = {name: i for i, name in enumerate(registry.NAMES)}
        bad = {(r["run_set"], r["run"]) for r in runs if r["outcome"] == RunOutcome.ERROR}
        sets = {rs.name: i for i, rs in enumerate(self.collection.run_sets)}
        position = self.collection.order

        def key(c):
            run_pos = position.get(RunKey(c["run_set"], c["run"]), -1) if c["run"] is not None else None
            where = (0, run_pos) if run_pos is not None else (1, sets.get(c["run_set"], 0))
            return (*where, order.get(c["check"], 99), -1.0 if c["eta"] is None else c["eta"])

        return sorted((c for c in self.case_records if (c["run_set"], c["run"]) not in bad), key=key)

    def _baseline_block(self, cases: list[dict]) -> dict | None:
        """health.json's ``baseline`` (:func:`dhstats.report.against_baseline.block`); the outcome
        changes need the baseline's cases (judged now for a directory of run sets), not read
        when the session was interrupted."""
        col = self.collection
        if col.baseline is None:
            return None
        from dhstats.report.against_baseline import block

        theirs = None if self.interrupted else col.baseline.cases()
        return block(col.baseline.describe(), col.matching.matched, col.matching.unmatched, cases, theirs)

    def _figures_for(self, key) -> list:
        return list(self.figures.get((key[0], key[1]), {}).values())

    def _run_set_records(self, cases: list[dict]) -> list[dict]:
        from dhstats.verdicts.runsets import run_set_size

        return [{"name": rs.name, "path": str(rs.path),
                 "E": run_set_size(c for c in cases if c["run_set"] == rs.name), "runs": len(rs.files)}
                for rs in self.collection.run_sets]

    def summary_section(self) -> str:
        """The pytest-html summary: verdict tables, the cross-set figures (σ vs E, pooled
        ratio vs E) when several run sets were checked, the comparison with a baseline (its
        figure: both sides' pooled ratio vs η), the trend over past sessions. An
        interrupted session's summary has no figures (Ctrl-C may have cut an import short); a
        figure that cannot be drawn is a one-line note."""
        from dhstats.report.history import read_history
        from dhstats.report.pages import render_summary

        def figure(name, *args, **kw):
            try:
                from dhstats.figures import gallery as plots

                return plots.render(name, *args, **kw)
            except Exception as exc:  # noqa: BLE001 - a figure never costs the summary
                return Figure(name, None, f"not drawn: {type(exc).__name__}: {exc}")

        cross, trend, found, against = [], [], {}, []
        if not self.interrupted:
            from dhstats.report.findings import set_findings

            if self.health.get("baseline"):
                against = [figure(f.name, self.health) for f in figures(FigureScope.BASELINE)]

            for f in set_findings(self.health):  # each failing set's finding, with its most telling figure
                cases = [c for c in self.health["cases"] if c["run_set"] == f.run_set]
                found[f.run_set] = figure(f.figure, cases, where=f.run_set)
            if len(self.collection.run_sets) > 1:
                cross = [figure(f.name, self.health) for f in figures(FigureScope.SETS)]
            lines = read_history(self.options.history) if self.options.history else []
            trend = [figure(f.name, lines, k=self.settings.k) for f in figures(FigureScope.HISTORY) if len(lines) > 1]
        return render_summary(self.health, None, cross, trend, found, against)


@dataclass
class Begun:
    """What :func:`begin` did: the lock held, when and how the session started, what failed."""

    lock: object
    started: str
    command: list[str]
    notices: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unwritten: list[str] = field(default_factory=list)


def begin(options: SessionOptions, lock=None, command: Sequence[str] | None = None,
          started: str | None = None, prepared: tuple[list, list] | None = None) -> Begun:
    """The start of a session, before anything else is written to the reports directory and
    before any judging: ``lock`` (a :class:`dhstats.gate.lock.ReportsLock`) is held; the previous
    verdict becomes the "session in progress" state (:func:`dhstats.report.plan.write_in_progress`).
    A lock found stale (its holder was killed) is said, and its session gets the history line
    it could not write (:func:`dhstats.report.health.killed_line`). ``prepared``, ``started``: the
    in-progress files rendered before the lock was taken
    (:func:`dhstats.report.plan.in_progress_files`) and the time they name."""
    from dhstats.report.health import killed_line, now_utc
    from dhstats.report.history import append as append_line
    from dhstats.load.jsonvalues import dumps_json
    from dhstats.report.plan import write_in_progress

    b = Begun(lock, started or now_utc(), [str(c) for c in (sys.argv if command is None else command)])
    problems: list[str] = []  # the in-progress state first: nothing delays it
    write_in_progress(options.reports, b.started, b.command, trend=bool(options.history), problems=problems,
                      notes=b.notices, unwritten=b.unwritten, prepared=prepared)
    b.errors += problems
    if lock is not None and lock.stale:
        b.notices.append(lock.stale)
        if options.history:
            try:
                append_line(options.history, dumps_json(killed_line(lock.stale_holder or {}, b.started), indent=False),
                            1000)
            except Exception as exc:  # noqa: BLE001 - reporting never ends a session
                b.errors.append(f"dhstats: the history line of the killed session not written: {exc}")
                b.unwritten.append(str(options.history))
    return b


def abandon(options: SessionOptions, begun: Begun, why: str) -> None:
    """A session that started (the in-progress state is written) but ends before judging (a
    usage error found late): its history line says it has no verdict; the lock is released."""
    from dhstats.report.health import killed_line
    from dhstats.report.history import append as append_line
    from dhstats.load.jsonvalues import dumps_json

    try:
        if options.history:
            append_line(options.history, dumps_json(killed_line(begun.lock.info if begun.lock else {}, begun.started,
                                                                why), indent=False), 1000)
    except Exception:  # noqa: BLE001 - the usage error is what the user must see
        pass
    finally:
        if begun.lock is not None:
            begun.lock.release()


@contextlib.contextmanager
def deferred_interrupt(outputs: SessionOutputs):
    """While the outputs are written, Ctrl-C (SIGINT) does not raise: it sets
    ``outputs.interrupted`` (runs not yet judged are then left unjudged) and is reported after the
    outputs are complete — never a traceback, a half-published report or a pass for a session
    that did not finish. Yields a list that is non-empty when SIGINT arrived."""
    import signal
    import threading

    late: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield late
        return

    def note(signum, frame):
        late.append(signum)
        if outputs.health is None:  # still judging: stop, and say interrupted
            outputs.interrupted = True

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield late
    finally:
        signal.signal(signal.SIGINT, previous)

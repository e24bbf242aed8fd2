"""The consumer of a gate session: records → health.json, badges, run pages, history and the
pytest-html summary.

:class:`SessionOutputs` collects what each test report carries (:class:`dhstats.gate.Records`
and a failing case's figures) and writes the outputs from them; it knows the session's runs
and run sets (:class:`dhstats.collection.Collection`) but nothing of how they were judged.
Reporting never ends a session: every run found is in health.json (a run none of whose
cases reported is judged for its run verdict by the ``run_verdict`` it is given), and an
output that fails is named in ``output_errors`` while the others are still written.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from . import registry
from .collection import Collection
from .rendered import Figure, FigureScope, figures
from .results import RunFile, RunKey
from .settings import SessionOptions
from .verdicts import RunOutcome, RunVerdict


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

    def collect(self, records: dict, figures: Sequence = (), failed: bool = False) -> None:
        """A test report's records (:meth:`dhstats.gate.Records.wire`) and a failing case's figures."""
        run, case = records.get("run"), records.get("case")
        if run is not None:
            self.run_records[RunKey(run["run_set"], run["run"])] = run
        if case is not None:
            self.case_records.append(case)
            if failed and figures:  # captions name run and η: a run's page gets each figure once
                bucket = self.figures.setdefault((case["run_set"], case["run"]), {})
                for fig in map(Figure.of, figures):
                    bucket.setdefault(fig.caption, fig)

    def write(self, run_verdict: Callable[[RunFile], RunVerdict], html: bool = False) -> dict:
        """health.json, badges, run pages and the history line, written from the collected
        records (:mod:`dhstats.report_files`). Every run found is in health.json: a run none of
        whose cases reported (deselected, or a worker died) is judged by ``run_verdict`` —
        unless the session was interrupted (checked before each such run: Ctrl-C also stops
        this judging); then it is listed in ``not_judged`` and health.json's exit says
        "interrupted" (status 2), never a pass. A failing output is named in
        ``output_errors`` and the others are still written."""
        from .health import build_health
        from .report_files import write_reports

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
                                   baseline=self._baseline_block(cases))
        try:  # each output is written or fails on its own (named in output_errors)
            self.written = write_reports(self.options.reports, self.health, self._figures_for, self.options.history,
                                         html_report=html, problems=self.output_errors)
        except Exception as exc:  # noqa: BLE001 - an output must never end the session
            self.output_errors.append(f"dhstats: writing the reports failed: {type(exc).__name__}: {exc}")
        return self.health

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
        """health.json's ``baseline`` (:func:`dhstats.against_baseline.block`); the outcome
        changes need the baseline's cases (judged now for a directory of run sets), not read
        when the session was interrupted."""
        col = self.collection
        if col.baseline is None:
            return None
        from .against_baseline import block

        theirs = None if self.interrupted else col.baseline.cases()
        return block(col.baseline.describe(), col.matching.matched, col.matching.unmatched, cases, theirs)

    def _figures_for(self, key) -> list:
        return list(self.figures.get((key[0], key[1]), {}).values())

    def _run_set_records(self, cases: list[dict]) -> list[dict]:
        from .runsets import run_set_size

        return [{"name": rs.name, "path": str(rs.path),
                 "E": run_set_size(c for c in cases if c["run_set"] == rs.name), "runs": len(rs.files)}
                for rs in self.collection.run_sets]

    def summary_section(self) -> str:
        """The pytest-html summary: verdict tables, the cross-set figures (σ vs E, pooled
        ratio vs E) when several run sets were checked, the comparison with a baseline (its
        figure: both sides' pooled ratio vs η), the trend over past sessions. An
        interrupted session's summary has no figures (Ctrl-C may have cut an import short); a
        figure that cannot be drawn is a one-line note."""
        from .health import read_history
        from .pages import render_summary

        def figure(name, *args, **kw):
            try:
                from . import plots

                return plots.render(name, *args, **kw)
            except Exception as exc:  # noqa: BLE001 - a figure never costs the summary
                return Figure(name, None, f"not drawn: {type(exc).__name__}: {exc}")

        cross, trend, found, against = [], [], {}, []
        if not self.interrupted:
            from .findings import set_findings

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

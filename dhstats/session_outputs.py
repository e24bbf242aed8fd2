"""The output side of a gate session: health.json, badges, run pages, history and the
pytest-html summary, all from the records a :class:`dhstats.gate.Gate` collected.

Reporting never ends a session: every run found is in health.json (a run none of whose
cases reported is judged here for its run verdict), and an output that fails is named in
``gate.output_errors`` while the others are still written.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from . import registry
from .results import RunKey
from .verdicts import RunOutcome


def write_outputs(gate, html: bool = False) -> dict:
    """health.json, badges, run pages and the history line, written from the collected
    records (:mod:`dhstats.report_files`). Every run found is in health.json: a run none of
    whose cases reported (deselected, or a worker died) is judged here for its run
    verdict — unless the session was interrupted (``gate.interrupted``, checked before each
    such run: Ctrl-C also stops this judging); then it is listed in ``not_judged`` and
    health.json's exit says "interrupted" (status 2), never a pass. Reporting never ends the
    session: a failing output is named in ``output_errors`` and the others are still written."""
    from .health import build_health
    from .report_files import write_reports

    not_judged = []
    for f in gate.files:
        if f.key in gate.run_records:
            continue
        if gate.interrupted:
            not_judged.append({"run_set": f.run_set, "run": f.run, "path": str(f.path),
                               "message": "not judged: the session was interrupted before any case of this run"})
            continue
        rv = gate.run_verdict(f)
        gate.run_records[f.key] = {**rv.to_dict(), "message": rv.message or
                                   "no case of this run was reported in this session (deselected, or its "
                                   "process died)"}
    order = {name: i for i, name in enumerate(registry.NAMES)}
    runs = [gate.run_records[f.key] for f in gate.files if f.key in gate.run_records]
    bad = {(r["run_set"], r["run"]) for r in runs if r["outcome"] == RunOutcome.ERROR}
    sets = {rs.name: i for i, rs in enumerate(gate.run_sets)}

    def key(c):
        run_pos = gate._order.get(RunKey(c["run_set"], c["run"]), -1) if c["run"] is not None else None
        where = (0, run_pos) if run_pos is not None else (1, sets.get(c["run_set"], 0))
        return (*where, order.get(c["check"], 99), -1.0 if c["eta"] is None else c["eta"])

    cases = sorted((c for c in gate.case_records if (c["run_set"], c["run"]) not in bad), key=key)
    gate.health = build_health(gate.settings, gate.roots, runs, cases, run_sets=_run_set_records(gate, cases),
                               figures_omitted=gate.output_errors, interrupted=gate.interrupted,
                               not_judged=not_judged)
    try:  # each output is written or fails on its own (named in output_errors)
        gate.written = write_reports(gate.options.reports, gate.health, lambda key: _figures_for(gate, key),
                                     gate.options.history, html_report=html, problems=gate.output_errors)
    except Exception as exc:  # noqa: BLE001 - an output must never end the session
        gate.output_errors.append(f"dhstats: writing the reports failed: {type(exc).__name__}: {exc}")
    return gate.health


@contextlib.contextmanager
def deferred_interrupt(g):
    """While the outputs are written, Ctrl-C (SIGINT) does not raise: it sets
    ``g.interrupted`` (runs not yet judged are then left unjudged) and is reported after the
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
        if g.health is None:  # still judging: stop, and say interrupted
            g.interrupted = True

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield late
    finally:
        signal.signal(signal.SIGINT, previous)


def _figures_for(gate, key) -> list:
    return list(gate.figures.get((key[0], key[1]), {}).values())


def _run_set_records(gate, cases: list[dict]) -> list[dict]:
    from .runsets import run_set_size

    return [{"name": rs.name, "path": str(rs.path), "E": run_set_size(c for c in cases if c["run_set"] == rs.name),
             "runs": len(rs.files)} for rs in gate.run_sets]


def summary_section(gate) -> str:
    """The pytest-html summary: verdict tables, the cross-set figures (σ vs E, pooled
    ratio vs E) when several run sets were checked, the trend over past sessions. An
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

    cross, trend = [], []
    if not gate.interrupted:
        if len(gate.run_sets) > 1:
            cross = [figure(name, gate.health) for name in ("sigma_vs_e", "ratio_vs_e")]
        lines = read_history(gate.options.history) if gate.options.history else []
        trend = [figure("trend", lines, k=gate.settings.k)] if len(lines) > 1 else []
    return render_summary(gate.health, None, cross, trend)


def example_roots(reports: Path) -> list[Path]:
    """The embedded example run set, (re)written atomically under ``reports/example`` (safe
    when several processes race): what ``pytest checks/`` checks without ``--results``."""
    import shutil
    import tempfile

    from . import simulate
    from .outputs import current_umask

    directory = reports / "example"
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".example-", dir=directory.parent))
    tmp.chmod(0o777 & ~current_umask())  # mkdtemp makes it 0700: publishable like every other output
    simulate.write_example(tmp)
    old = directory.with_name(f"{directory.name}.old-{os.getpid()}")
    if os.path.lexists(directory):  # a link there is renamed itself (its target is never touched)
        directory.rename(old)
    tmp.rename(directory)
    if old.is_symlink() or old.is_file():
        old.unlink()
    else:
        shutil.rmtree(old, ignore_errors=True)
    return [directory / "E_example"]

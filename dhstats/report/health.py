"""``health.json`` schema 4, the gate's source of truth: the document, its counts and exit, and
what the file holds (:func:`written`).

Badges (:mod:`dhstats.report.badges`), pages (:mod:`dhstats.report.pages`) and the terminal table
(:mod:`dhstats.report.terminal`) render from the dict :func:`build_health` returns, never from
verdict objects. Check names, order and scope come from :data:`dhstats.verdicts.registry.CHECKS`.

The history of sessions, one line per session drawn from this document, is
:mod:`dhstats.report.history`. No pytest, no matplotlib, no HTML here.
"""
from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Mapping, Sequence

from dhstats.verdicts import registry
from dhstats.report.confidence import confidence, set_resolution, set_resolution_eta
from dhstats.load.jsonvalues import clean, dumps_json, selection  # noqa: F401 - selection: badges read it here
from dhstats.load.records import ProblemReason
from dhstats.verdicts.runsets import run_set_size
from dhstats.verdicts.verdicts import Outcome, Reason, RunOutcome

SCHEMA = 4  # docs/design.md, "health.json schema": what changed from 3
OUTCOMES = tuple(map(str, Outcome))
REASONS = tuple(map(str, Reason))
RUN_OUTCOMES = tuple(map(str, RunOutcome))
PROBLEM_REASONS = tuple(map(str, ProblemReason))


def _record(obj) -> dict:
    """A record as a dict: ``obj.to_dict()`` or a copy of the mapping."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _run_sets(paths: Sequence[str], runs: Sequence[Mapping], cases: Sequence[Mapping], run_sets) -> list[dict]:
    if run_sets is not None:
        return [clean(_record(s)) for s in run_sets]
    out = []
    for p in paths:
        name = os.path.basename(os.path.normpath(p))
        out.append({"name": name, "path": p, "E": run_set_size(c for c in cases if c["run_set"] == name),
                    "runs": sum(r["run_set"] == name for r in runs)})
    return out


def _where(c: Mapping) -> str:
    parts = [str(c.get("run_set")), *([str(c["run"])] if c.get("run") is not None else [])]
    if c.get("eta") is not None:
        parts.append(f"eta={c['eta']!r}")
    return "/".join(parts)


def validate_document(runs: Sequence[Mapping], cases: Sequence[Mapping], set_names: Iterable[str]) -> None:
    """Raise ``ValueError`` when records contradict the contract: unknown run outcome, problem
    reason, check, outcome or reason; a case of an unlisted or invalid run; a run-set case with
    a run, or a run/case-scope case without one; ``eta`` present where the scope has none."""
    outcome_of = {}
    for r in runs:
        if r.get("outcome") not in RUN_OUTCOMES:
            raise ValueError(f"run {r.get('run_set')}/{r.get('run')}: outcome {r.get('outcome')!r} "
                             f"not in {RUN_OUTCOMES}")
        for p in r.get("problems") or ():
            if not isinstance(p, Mapping) or p.get("reason") not in PROBLEM_REASONS:
                raise ValueError(f"run {r.get('run_set')}/{r.get('run')}: problem {p!r} has no reason in "
                                 f"{PROBLEM_REASONS}")
        outcome_of[(r["run_set"], r["run"])] = r["outcome"]
    sets = set(set_names) | {r["run_set"] for r in runs}
    for c in cases:
        where = _where(c)
        if c.get("check") not in registry.BY_NAME:
            raise ValueError(f"case {where}: unknown check {c.get('check')!r}")
        chk = registry.BY_NAME[c["check"]]
        if c.get("outcome") not in OUTCOMES:
            raise ValueError(f"case {where} ({chk.name}): outcome {c.get('outcome')!r} not in {OUTCOMES}")
        if c.get("reason", "ok") not in REASONS:
            raise ValueError(f"case {where} ({chk.name}): reason {c.get('reason')!r} not in {REASONS}")
        has_eta = chk.scope == registry.Scope.CASE or (chk.scope == registry.Scope.RUN_SET and chk.per_eta)
        if (c.get("eta") is not None) != has_eta:
            raise ValueError(f"case {where} ({chk.name}): a {chk.scope} check "
                             f"{'needs' if has_eta else 'has no'} eta")
        if chk.scope == registry.Scope.RUN_SET:
            if c.get("run") is not None:
                raise ValueError(f"case {where} ({chk.name}): run-set cases have run null")
            if c.get("run_set") not in sets:
                raise ValueError(f"case {where} ({chk.name}): run set {c.get('run_set')!r} not checked")
            continue
        run_outcome = outcome_of.get((c.get("run_set"), c.get("run")))
        if run_outcome is None:
            raise ValueError(f"case {where} ({chk.name}): its run is not in runs")
        if run_outcome == "error":
            raise ValueError(f"case {where} ({chk.name}): an invalid run has no cases")


def _tally(items: Iterable[Mapping]) -> dict:
    out = {"total": 0, **{o: 0 for o in OUTCOMES}}
    for c in items:
        out["total"] += 1
        out[c["outcome"]] += 1
    return out


def count(runs: Sequence[Mapping], cases: Sequence[Mapping], baseline: bool = False) -> dict:
    """``counts``: cases per outcome, the same per check (every check, registry order; the
    checks against a baseline only with ``baseline``, a session with ``--baseline``), runs;
    ``deselected`` (0 here: :func:`build_health` counts the cases ``-k``/``-m`` removed)."""
    errors = sum(r["outcome"] == "error" for r in runs)
    checks = {c.name: _tally(()) for c in registry.CHECKS if baseline or not c.baseline}
    for c in cases:  # one pass over the cases, not one per check
        if c["check"] in checks:
            tally = checks[c["check"]]
            tally["total"] += 1
            tally[c["outcome"]] += 1
    return {"cases": _tally(cases), "checks": checks,
            "runs": {"total": len(runs), "ok": len(runs) - errors, "error": errors}, "deselected": 0}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def exit_block(counts: Mapping) -> dict:
    """``exit``: status 1 when any case failed or any run is invalid, else 0; the summary says
    why (``"4 failed, 1 invalid run"``) or ``"all passed"`` (``"no failures, 3 skipped"`` when
    some cases were skipped, ``"no cases"`` when nothing was judged)."""
    failed, errors = counts["cases"]["failed"], counts["runs"]["error"]
    if failed or errors:
        why = ([f"{failed} failed"] if failed else []) + ([_plural(errors, "invalid run")] if errors else [])
        return {"status": 1, "summary": ", ".join(why)}
    c = counts["cases"]
    if c["total"] == 0:
        return {"status": 0, "summary": "no cases"}
    return {"status": 0, "summary": f"no failures, {c['skipped']} skipped" if c["skipped"] else "all passed"}


def interrupted_exit(counts: Mapping, not_judged: int) -> dict:
    """``exit`` of an interrupted session: status 2 (pytest's own for an interrupted
    session), never 0, whatever was judged before the interruption::

        {"status": 2, "summary": "interrupted: 5 of 6 runs not judged (1 failed so far)"}
    """
    total = counts["runs"]["total"] + not_judged
    summary = f"interrupted: {not_judged} of {_plural(total, 'run')} not judged"
    partial = exit_block(counts)
    if partial["status"]:
        summary += f" ({partial['summary']} so far)"
    return {"status": 2, "summary": summary}


PYTEST_EXITS = {1: "tests failed", 2: "interrupted", 3: "internal error", 4: "usage error",
                5: "no tests ran"}


def pytest_exit(status: int, counts: Mapping) -> dict:
    """``exit`` when pytest's own exit status is non-zero and the gate's is 0 (a test outside
    the gate failed, nothing was selected: 5): pytest's status, recorded as it is::

        {"status": 5, "summary": "no tests ran (170 deselected)"}
    """
    summary = PYTEST_EXITS.get(status, f"pytest exit status {status}")
    if counts.get("deselected"):
        summary += f" ({counts['deselected']} deselected)"
    return {"status": int(status), "summary": summary}


def unwritten_exit(exit: Mapping, unwritten: Sequence[str]) -> dict:
    """``exit`` of a session some of whose outputs could not be written: status 1 unless it
    was already non-zero, the summary naming them (``"all passed; not written: report.html"``)."""
    return {"status": exit.get("status") or 1,
            "summary": f"{exit.get('summary')}; not written: {', '.join(unwritten)}"}


def mark_unwritten(health: dict, unwritten: Sequence[str]) -> dict:
    """``health`` (changed in place and returned) for a session whose ``unwritten`` outputs
    failed: :func:`unwritten_exit`, ``confidence: failed``, ``unwritten`` listed."""
    new = [u for u in unwritten if u not in health.get("unwritten", ())]
    if new:
        health["exit"] = unwritten_exit(health["exit"], new)
        health["confidence"] = "failed"
        health["unwritten"] = [*health.get("unwritten", ()), *new]
    return health


def in_progress(started: str, command: Sequence[str], pid: int | None = None) -> dict:
    """health.json while a session runs (replaced by its verdict only when complete): no
    verdict, ``exit.status`` null — what a killed session leaves::

        {"schema": 4, "in_progress": true, "started", "command", "pid",
         "exit": {"status": null, "summary": "session in progress (started …)"},
         "confidence": "in_progress", "runs": [], "cases": [], "counts": {…zeros}}
    """
    return {"schema": SCHEMA, "generated": started, "in_progress": True, "started": started,
            "command": [str(c) for c in command], "pid": os.getpid() if pid is None else pid,
            "run_sets": [], "runs": [], "cases": [], "counts": count([], []),
            "exit": {"status": None, "summary": f"session in progress (started {started}); no verdict yet"},
            "confidence": "in_progress", "interrupted": False, "not_judged": []}


def killed_line(holder: Mapping, found: str | None = None, why: str | None = None) -> dict:
    """The history line a session appends for an earlier one that ended without a verdict
    (its lock was found stale: killed, out of memory, a CI timeout)::

        {"time": its start, "exit": {"status": null, "summary": "ended without a verdict …"},
         "checks": {}, "cases": {…zeros}, "runs": {…zeros}, "run_sets": [], "no_verdict": true}
    """
    zero = count([], [])
    return clean({
        "time": str(holder.get("started") or found or now_utc()), "commit": None,
        "exit": {"status": None, "summary": f"ended without a verdict ({why})" if why else
                 f"ended without a verdict (pid {holder.get('pid', '?')} was killed or crashed; found by the next "
                 f"session at {found or now_utc()})"},
        "interrupted": False, "no_verdict": True, "command": [str(c) for c in holder.get("command") or []],
        "run_sets": [], "settings": None, "cases": zero["cases"], "runs": zero["runs"], "checks": {}, "pooled_z": {},
    })


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_health(
    settings,
    results_paths: Iterable[str | os.PathLike],
    run_verdicts: Sequence,
    verdicts: Sequence,
    run_sets: Sequence | None = None,
    figures_omitted: Sequence[str] = (),
    generated: str | None = None,
    interrupted: bool = False,
    not_judged: Sequence[Mapping] = (),
    baseline: Mapping | None = None,
    deselected: Mapping[str, Sequence[str]] | None = None,
    exit_status: int | None = None,
) -> dict:
    """The health.json document, schema :data:`SCHEMA` (checks.md, "Outputs"; its fields: README, "Outputs", "health.json schema").

    ``settings`` has ``to_dict()`` and ``k``; records are verdict objects (``to_dict()``)
    or dicts; ``run_sets`` entries ``{"name", "path", "E", "runs"}`` (derived from the paths,
    runs and cases when omitted: name = directory name, E by :func:`dhstats.verdicts.runsets.run_set_size`).
    Order is kept. Raises ``ValueError`` (:func:`validate_document`) so that an inconsistent document is
    never written.
    ``interrupted``: the session stopped before every case ran (Ctrl-C); ``not_judged`` lists
    the runs found but never judged (``{"run_set", "run", "path", "message"}``); the exit is
    then :func:`interrupted_exit`, never a pass. ``baseline``: the ``baseline`` block of a
    session with ``--baseline`` (:func:`dhstats.report.against_baseline.block`).
    ``deselected``: ``{check: [case ids]}`` removed by ``-k``/``-m``/``--deselect`` (listed under
    ``deselected``, counted in ``counts.deselected``; ``confidence`` is then ``partial``).
    ``exit_status``: pytest's exit status when known; a non-zero one is recorded as it is
    (:func:`pytest_exit`) when the gate's own would be 0.
    """
    paths = [os.path.abspath(os.fspath(p)) for p in results_paths]
    runs = [clean(_record(r)) for r in run_verdicts]
    cases = [clean(_record(v)) for v in verdicts]
    sets = _run_sets(paths, runs, cases, run_sets)
    validate_document(runs, cases, (s["name"] for s in sets))
    for s in sets:
        s["resolution"] = clean(set_resolution(cases, s["name"]))
        s["resolution_eta"] = clean(set_resolution_eta(cases, s["name"]))
    counts = count(runs, cases, baseline is not None)
    deselected = {str(k): [str(i) for i in v] for k, v in (deselected or {}).items() if v}
    counts["deselected"] = sum(map(len, deselected.values()))
    ex = interrupted_exit(counts, len(not_judged)) if interrupted else exit_block(counts)
    if exit_status and not ex["status"]:
        ex = pytest_exit(exit_status, counts)
    elif counts["deselected"] and not ex["status"]:
        ex = {"status": 0, "summary": f"{ex['summary']}; {counts['deselected']} deselected"}
    doc = {
        "schema": SCHEMA,
        "generated": generated or now_utc(),
        "k": clean(settings.k),
        "settings": clean(settings.to_dict()),
        "run_sets": sets,
        "runs": runs,
        "cases": cases,
        "counts": counts,
        "exit": ex,
        "interrupted": bool(interrupted),
        "not_judged": [clean(dict(r)) for r in not_judged],
        "deselected": deselected,
    }
    if baseline is not None:
        doc["baseline"] = clean(dict(baseline))
    doc["confidence"] = confidence(doc, list(counts["checks"]))
    if figures_omitted:
        doc["figures_omitted"] = [str(f) for f in figures_omitted]
    return doc


def written_case(case: Mapping) -> dict:
    """A case as health.json's file holds it. A per-run case that did not fail keeps its
    location, outcome, reason, message — without its numbers in words (``detail``, which the
    numbers state) — and the numbers of :func:`dhstats.verdicts.registry.written_numbers`
    that are not null; a failed case and every run-set case (``run`` null) keep every number
    but a pooled case's ``z_runs`` (each run's z is its own case's ``z``). ``detail`` is never
    written. At 10⁴ runs of 31 cases this halves the file (docs/design.md, "health.json
    schema"); ``dhstats tables`` recomputes any number from the run files."""
    if case.get("run") is None or case.get("outcome") == "failed":
        return {k: v for k, v in case.items() if k not in _REPEATED}
    names, prefixes = registry.written_numbers(case.get("check"))
    out = {k: case[k] for k in _LOCATION if k in case}
    message, detail = case.get("message"), case.get("detail")
    if isinstance(message, str) and detail and message.startswith(f"{detail}; "):
        out["message"] = message[len(detail) + 2:]
    out.update((k, v) for k, v in case.items()
               if v is not None and k not in out and k != "detail" and (k in names or k.startswith(prefixes)))
    return out


_LOCATION = ("run_set", "run", "eta", "check", "outcome", "reason", "message")
_REPEATED = ("detail", "z_runs")  # the message's numbers in words; the per-run cases' z


def written(health: Mapping) -> dict:
    """The health.json document as written: its cases through :func:`written_case`."""
    return {**health, "cases": [written_case(c) for c in health.get("cases", ())]}


def cases_of(health: Mapping, run_set: str, run: str | None) -> list[dict]:
    """The cases of one run (``run`` None: the run-set cases of ``run_set``): one scan of
    every case — for one look-up; a loop over runs uses :class:`RunIndex`."""
    return [c for c in health["cases"] if c["run_set"] == run_set and c["run"] == run]


class RunIndex:
    """health.json's runs and cases by ``(run_set, run)`` (run None: a run set's cases), built
    in one pass: whatever renders per run (pages, links, the manifest) looks a run up here
    instead of scanning every case for every run (O(runs × cases): 9 of 23 s at 1 000 runs)."""

    def __init__(self, health: Mapping):
        self.runs = {(r["run_set"], r["run"]): r for r in health["runs"]}
        self.cases: dict[tuple, list[dict]] = {}
        for c in health["cases"]:
            self.cases.setdefault((c["run_set"], c["run"]), []).append(c)

    def cases_of(self, run_set: str, run: str | None) -> list[dict]:
        """The cases of one run, in document order (as :func:`cases_of`)."""
        return self.cases.get((run_set, run), [])

    def run(self, run_set: str, run: str) -> Mapping | None:
        return self.runs.get((run_set, run))


def reference_set(health: Mapping) -> str | None:
    """The run set the checks across run sets (``registry.ACROSS_SETS``: the largest E) judged
    the others against, as their cases name it; None when there is none."""
    across = {c.name for c in registry.ACROSS_SETS}
    return next((c["reference"] for c in health.get("cases", ())
                 if c["check"] in across and isinstance(c.get("reference"), str)), None)



__all__ = ["in_progress", "killed_line", "mark_unwritten", "pytest_exit", "unwritten_exit", "SCHEMA", "OUTCOMES",
           "PROBLEM_REASONS", "REASONS", "RUN_OUTCOMES", "RunIndex", "build_health", "cases_of", "written",
           "written_case", "clean", "count", "dumps_json", "exit_block", "interrupted_exit", "reference_set",
           "validate_document"]

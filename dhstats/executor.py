"""Judging one run, in whichever process does it: load, evaluate, and draw its failures.

The gate session (:mod:`dhstats.gate`) judges runs itself, or — with ``-n N`` — hands
:func:`judge_file` to N judging processes (:meth:`dhstats.gate.Gate.judge_ahead`). A figure
is rendered once per (figure, η) (run figures with η None, every failing η highlighted), within
the session's ``--max-plots`` budget (under -n one array shared by every process: the judging
processes draw their runs' failures, and -n N draws no more figures than a serial session).
"""
from __future__ import annotations

import contextlib

from . import registry
from .registry import evaluate
from .results import Run, RunFile, load_run
from .verdicts import Outcome


_JUDGING_BUDGET = [-1]  # figures the session may still render: under -n an array shared by every process


def start_judging(budget) -> None:
    """A judging process's initializer: ``budget`` is the session's shared ``--max-plots``
    budget (``multiprocessing.Array('i', [n])``), so that -n N draws no more figures than a
    serial session."""
    global _JUDGING_BUDGET
    _JUDGING_BUDGET = budget


def judge_file(f: RunFile, settings, max_bytes: int) -> tuple:
    """Load and judge one run in a judging process: its run verdict, verdicts, η's and the
    figures of its failing cases ({(figure, η): rendered}, within the session's budget)."""
    loaded = load_run(f, max_bytes=max_bytes)
    rv, verdicts = evaluate(loaded, settings)
    images: dict = {}
    if isinstance(loaded, Run):
        for v in verdicts:
            if v.outcome == Outcome.FAILED and not render_failure(
                    loaded, verdicts, figure_keys(v.check, v.eta), images, settings, _JUDGING_BUDGET):
                break
    return rv, verdicts, (loaded.etas if isinstance(loaded, Run) else ()), images


def render_set(name: str, data, where: str) -> tuple:
    """A run-set figure from health.json-like records (:func:`dhstats.plots.render`)."""
    from . import plots

    return plots.render(name, data, where=where)


def figure_keys(check: str, eta: float | None) -> list[tuple[str, float | None]]:
    """(figure, η) of a failing case's figures (registry order); run figures have η None."""
    from .plots import RUN_FIGURES

    return [(name, None if name in RUN_FIGURES else eta) for name in registry.check(check).figures]


def take(budget, n: int) -> bool:
    """Take ``n`` figures from ``budget`` (``budget[0]``: figures left, −1 no limit; a shared
    array is locked while it is read and decremented); False, and nothing taken, when fewer
    are left."""
    lock = budget.get_lock() if hasattr(budget, "get_lock") else contextlib.nullcontext()
    with lock:
        if 0 <= budget[0] < n:
            return False
        if budget[0] >= 0:
            budget[0] -= n
    return True


def render_failure(run: Run, verdicts, keys, cache: dict, settings, budget) -> bool:
    """Render the figures ``keys`` not yet in ``cache`` if the ``budget`` (:func:`take`)
    allows all of them; run figures highlight every failing η. False when over budget."""
    from . import plots

    missing = [k for k in keys if k not in cache]
    if missing and not take(budget, len(missing)):
        return False
    failing = sorted({v.eta for v in verdicts if v.eta is not None and v.outcome == Outcome.FAILED})
    for name, eta in missing:
        cache[(name, eta)] = plots.render(name, run, eta, settings, **({"highlight": failing} if eta is None else {}))
    return True

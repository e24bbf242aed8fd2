"""Judging one run, in whichever process does it: load, evaluate, and draw its failures.

The gate session (:mod:`dhstats.gate`) judges runs itself, or — with ``-n N`` — hands
:func:`judge_file` to N judging processes (:meth:`dhstats.gate.Gate.judge_ahead`). A figure
is rendered once per (figure, η) (run figures with η None, every failing η highlighted), within
the ``--max-plots`` budget of the process that draws it.
"""
from __future__ import annotations

from . import registry
from .registry import evaluate
from .results import Run, RunFile, load_run
from .verdicts import Outcome


_JUDGING_BUDGET = [-1]  # figures a judging process may still render (--max-plots, per process)


def start_judging(max_plots: int) -> None:
    _JUDGING_BUDGET[0] = max_plots


def judge_file(f: RunFile, settings, max_bytes: int) -> tuple:
    """Load and judge one run in a judging process: its run verdict, verdicts, η's and the
    figures of its failing cases ({(figure, η): rendered}, within this process's budget)."""
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


def render_failure(run: Run, verdicts, keys, cache: dict, settings, budget: list[int]) -> bool:
    """Render the figures ``keys`` not yet in ``cache`` if ``budget[0]`` (−1: no limit)
    allows all of them; run figures highlight every failing η. False when over budget."""
    from . import plots

    missing = [k for k in keys if k not in cache]
    if 0 <= budget[0] < len(missing):
        return False
    if budget[0] >= 0:
        budget[0] -= len(missing)
    failing = sorted({v.eta for v in verdicts if v.eta is not None and v.outcome == Outcome.FAILED})
    for name, eta in missing:
        cache[(name, eta)] = plots.render(name, run, eta, settings, **({"highlight": failing} if eta is None else {}))
    return True

"""Judging one run, in whichever process does it: load, evaluate, and draw its failures.

The gate session (:mod:`dhstats.gate.gate`) judges runs itself, or — with ``-n N`` — hands
:func:`judge_file` to judging processes (:class:`Executor`, :meth:`Executor.start`). A figure
is rendered once per (figure, η) (run figures with η None, every failing η highlighted), within
the session's ``--max-plots`` budget (under -n one array shared by every process: the judging
processes draw their runs' failures, and -n N draws no more figures than a serial session).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

from dhstats.verdicts import registry
from dhstats.verdicts.registry import evaluate
from dhstats.figures.rendered import FigureScope, figure_kind
from dhstats.load.results import Run, RunFile, RunKey, load_fingerprinted
from dhstats.verdicts.verdicts import Outcome


_JUDGING_BUDGET = [-1]  # figures the session may still render: under -n an array shared by every process


def start_judging(budget) -> None:
    """A judging process's initializer: ``budget`` is the session's shared ``--max-plots``
    budget (``multiprocessing.Array('i', [n])``), so that -n N draws no more figures than a
    serial session."""
    global _JUDGING_BUDGET
    _JUDGING_BUDGET = budget


def judge_file(f: RunFile, settings, max_bytes: int) -> tuple:
    """Load and judge one run in a judging process: its run verdict, verdicts, η's, the
    figures of its failing cases ({(figure, η): rendered}, within the session's budget) and its
    fingerprint (:mod:`dhstats.load.duplicates`, as a dict; None for an invalid run): whether it
    repeats an earlier run is decided by the session, which sees every run."""
    loaded, fp = load_fingerprinted(f, max_bytes=max_bytes)
    rv, verdicts = evaluate(loaded, settings)
    images: dict = {}
    if isinstance(loaded, Run):
        for v in verdicts:
            if v.outcome == Outcome.FAILED and not render_failure(
                    loaded, verdicts, figure_keys(v.check, v.eta), images, settings, _JUDGING_BUDGET):
                break
    return rv, verdicts, (loaded.etas if isinstance(loaded, Run) else ()), images, (fp and fp.to_dict())


def warm_figures() -> None:
    """Import the plotting modules (matplotlib, ≈ 0.5 s) in an idle judging process, before the
    run-set figures are asked for."""
    from dhstats.figures import gallery as plots  # noqa: F401


def render_set(name: str, data, where: str) -> tuple:
    """A run-set figure from health.json-like records (:func:`dhstats.figures.gallery.render`)."""
    from dhstats.figures import gallery as plots

    return plots.render(name, data, where=where)


def figure_keys(check: str, eta: float | None) -> list[tuple[str, float | None]]:
    """(figure, η) of a failing case's figures (registry order); run figures have η None."""
    return [(name, None if figure_kind(name).scope == FigureScope.RUN else eta)
            for name in registry.check(check).figures]


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
    from dhstats.figures import gallery as plots

    missing = [k for k in keys if k not in cache]
    if missing and not take(budget, len(missing)):
        return False
    failing = sorted({v.eta for v in verdicts if v.eta is not None and v.outcome == Outcome.FAILED})
    for name, eta in missing:
        cache[(name, eta)] = plots.render(name, run, eta, settings, **({"highlight": failing} if eta is None else {}))
    return True


class Executor:
    """Where runs are judged and figures drawn: in this process, or — after :meth:`start` —
    ahead, in judging processes, while this one runs the tests (what ``-n N`` does in the
    gate, docs/speed.md). ``budget[0]`` is the session's ``--max-plots`` budget (figures left,
    −1: no limit), one shared array once the processes start."""

    def __init__(self, max_plots: int):
        self.budget = [max_plots]
        self._pool = None
        self._ahead: dict[RunKey, object] = {}  # run → future of judge_file

    def start(self, processes: int, files: Sequence[RunFile], settings, max_bytes: int) -> None:
        """Judge ``files`` in ``processes`` other processes, in session order. Parsing and
        judging are most of a run's cost and need nothing from pytest; xdist's per-test
        overhead is larger than a gate test's own work."""
        import concurrent.futures
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.budget = context.Array("i", [self.budget[0]])  # one --max-plots for the session
        self._pool = concurrent.futures.ProcessPoolExecutor(
            processes, mp_context=context, initializer=start_judging, initargs=(self.budget,))
        for f in files:
            self._ahead[f.key] = self._pool.submit(judge_file, f, settings, max_bytes)
        self._pool.submit(warm_figures)  # once the runs are judged: run-set figures come last

    def result(self, key: RunKey) -> tuple | None:
        """What a judging process made of the run (:func:`judge_file`), or None: not handed
        out, or its process died (the caller then judges the run itself)."""
        made = self.peek(key)
        self._ahead.pop(key, None)
        return made

    def peek(self, key: RunKey) -> tuple | None:
        """:meth:`result` without handing the run out (it stays for :meth:`result`)."""
        future = self._ahead.get(key)
        if future is None:
            return None
        try:
            return future.result()
        except Exception:  # noqa: BLE001 - a judging process died: judged by the caller
            return None

    def forget(self, keep: Iterable[RunKey]) -> None:
        """Cancel the judging of runs not in ``keep`` (deselected) that has not started."""
        keep = set(keep)
        for key in [k for k in self._ahead if k not in keep]:
            if self._ahead[key].cancel():
                del self._ahead[key]

    def draw_set(self, names: Sequence[str], data, where: str) -> list:
        """Run-set figures (:func:`render_set`), by a judging process when there is one (it has
        matplotlib loaded and is idle by then), else here."""
        if self._pool is not None:
            try:
                return [self._pool.submit(render_set, name, data, where).result() for name in names]
            except Exception:  # noqa: BLE001 - a judging process died: draw it here
                pass
        return [render_set(name, data, where) for name in names]

    def close(self) -> None:
        """Stop the judging processes (if any)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._ahead.clear()

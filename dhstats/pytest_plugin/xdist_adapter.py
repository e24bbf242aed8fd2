"""pytest-xdist integration of the gate: ``-n N`` (default ``--dist load``) turned into
judging processes ahead of the tests, and, when xdist distributes (``--dist loadscope``,
``--tx`` hosts), each run's cases on one worker with run summaries shared through an
exchange directory that the controller creates and removes."""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from dhstats.session import Session
from dhstats.verdicts import registry
from dhstats.pytest_plugin.pytest_internals import scope_scheduler

EXCHANGE = "dhstats_exchange"  # the workerinput key naming the exchange directory


def worker_exchange(config: pytest.Config) -> str | None:
    """The exchange directory a worker shares with the controller (None: not a worker)."""
    exchange = config.workerinput.get(EXCHANGE) if hasattr(config, "workerinput") else None
    if exchange and not os.path.isdir(exchange):  # a worker on another host (--tx ssh=…):
        exchange = None  # no shared directory, it judges the runs its pooled cases need
    return exchange


def judge_ahead_instead(config: pytest.Config, s: Session) -> None:
    """-n N (xdist's default --dist load): N − 1 processes judge the runs ahead while this
    one runs the tests (N in all): xdist's per-test overhead exceeds a gate test's own
    work (docs/speed.md); an explicit --dist loadscope, or --tx (hosts), keeps xdist's
    distribution. Called on the controller only."""
    tx = getattr(config.option, "tx", None)
    if not (tx and getattr(config.option, "dist", "no") == "load" and getattr(config.option, "numprocesses", None)):
        return
    config.option.dist, config.option.tx, config.option.numprocesses = "no", [], 0
    g, notices, files = s.gate, s.outputs.notices, s.gate.collection.files
    if len(files) < 2 * len(tx):
        notices.append(f"-n {len(tx)} ignored: {len(files)} runs (fewer than 2 per process) are judged here")
    elif not config.option.collectonly:
        helpers = max(1, len(tx) - 1)  # this process is one of the N: it runs the tests
        try:
            g.judge_ahead(helpers)  # started now: the judging overlaps collection too
        except (OSError, RuntimeError, ValueError) as exc:  # no processes here: judge in this one
            g.close()
            notices.append(f"-n {len(tx)}: no judging process could start ({exc}); runs judged here")
        else:
            notices.append(f"-n {len(tx)}: the runs were read and judged in {helpers} separate "
                           f"process{'es' if helpers > 1 else ''} while this one ran the tests")


def gate_test(nodeid: str) -> tuple[str, str] | None:
    """(test function, case id) of a gate test's node id (``test_x``, ``E_2048/run_01/eta=…``
    of ``…test_gate.py::test_x[E_2048/run_01/eta=…]``), or None for any other test."""
    path, _, rest = nodeid.replace(os.sep, "/").partition("::")
    if not (path.endswith("test_gate.py") and "[" in rest and rest.endswith("]")):
        return None
    return rest[:rest.index("[")], rest[rest.index("[") + 1:-1]


def run_scope(nodeid: str) -> str | None:
    """A gate test's run (``E_2048/run_01``; the run set of a pooled case), or None for any
    other test."""
    test = gate_test(nodeid)
    return None if test is None else test[1].split("/eta=")[0]


def register(config: pytest.Config, s: Session) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(s), "dhstats-gate-xdist")


def deselected_cases(s: Session, ids) -> list[tuple[str, str]]:
    """(check, case id) of every gate case that a worker's collection (its test ids, after
    ``-k``, ``-m``, ``--deselect``) does not hold. Under xdist's own distribution only the
    workers collect, so the controller never sees pytest's deselection: the cases a worker did
    not collect were deselected (every worker collects the same tests)."""
    collected = {(test.removeprefix("test_"), case) for test, case in filter(None, map(gate_test, ids))}
    collection = s.gate.collection
    return [(check, case.id) for check in (registry.INPUT, *registry.names())
            for case in collection.cases(check) if (check, case.id) not in collected]


class XdistHooks:
    """pytest-xdist: each run's cases on one worker, in order; run summaries shared through
    an exchange directory that the controller creates and removes; the cases the workers'
    collection deselected are recorded on the controller (:func:`deselected_cases`)."""

    def __init__(self, s: Session):
        self.exchange: str | None = None
        self.session, self.counted = s, False

    def pytest_xdist_node_collection_finished(self, node, ids):
        if not self.counted:  # every worker collects the same tests: the first one says
            self.counted = True
            for check, case in deselected_cases(self.session, ids):
                self.session.outputs.deselect(check, case)

    def pytest_xdist_make_scheduler(self, config, log):
        return scope_scheduler(config, log, run_scope)

    def pytest_configure_node(self, node):
        if self.exchange is None:
            self.exchange = tempfile.mkdtemp(prefix="dhstats-exchange-")
        node.workerinput[EXCHANGE] = self.exchange

    def pytest_unconfigure(self, config):
        if self.exchange:
            shutil.rmtree(self.exchange, ignore_errors=True)

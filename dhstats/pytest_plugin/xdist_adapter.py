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


def run_scope(nodeid: str) -> str | None:
    """A gate test's run (``E_2048/run_01`` of ``…test_gate.py::test_x[E_2048/run_01/eta=…]``,
    the run set of a pooled case), or None for any other test."""
    if "[" in nodeid and "test_gate.py::" in nodeid.replace(os.sep, "/"):
        return nodeid[nodeid.index("[") + 1: nodeid.rindex("]")].split("/eta=")[0]
    return None


def register(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(), "dhstats-gate-xdist")


class XdistHooks:
    """pytest-xdist: each run's cases on one worker, in order; run summaries shared through
    an exchange directory that the controller creates and removes."""

    def __init__(self):
        self.exchange: str | None = None

    def pytest_xdist_make_scheduler(self, config, log):
        return scope_scheduler(config, log, run_scope)

    def pytest_configure_node(self, node):
        if self.exchange is None:
            self.exchange = tempfile.mkdtemp(prefix="dhstats-exchange-")
        node.workerinput[EXCHANGE] = self.exchange

    def pytest_unconfigure(self, config):
        if self.exchange:
            shutil.rmtree(self.exchange, ignore_errors=True)

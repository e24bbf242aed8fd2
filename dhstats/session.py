"""A whole gate session without pytest: the producer and the consumer joined.

    from dhstats.session import Session
    from dhstats.load.settings import parse
    session = Session(parse({"reported_se": "shard-mean", "reports": "out"}), ["../E_256", "../E_512"])
    health = session.run()       # holds out/, judges every case, writes it, returns health.json's dict

Without a reports directory (``SessionOptions.reports`` None, as ``parse`` gives when
``reports`` is not named) nothing is left on disk: the outputs are written to a temporary
directory removed after :meth:`Session.report`, with no figures (nobody would see them).

The pytest plugin (:mod:`dhstats.pytest_plugin.plugin`) drives the same two halves case by case: the
producer (:class:`dhstats.gate.gate.Gate`) names the cases and judges each one on the process
that runs its test; the records travel on the test reports to the controller, where the
consumer (:class:`dhstats.report.session.SessionOutputs`) collects them and writes the
outputs (:meth:`Session.report`).
"""
from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from dhstats.gate.gate import Gate
from dhstats.report.session import SessionOutputs
from dhstats.load.settings import SessionOptions
from dhstats.verdicts.verdicts import Outcome, Verdict


class Session:
    """``gate`` turns run sets into records, ``outputs`` turns records into reports."""

    def __init__(self, options: SessionOptions, roots: str | os.PathLike | Iterable[str | os.PathLike], *,
                 exchange: str | os.PathLike | None = None):
        if isinstance(roots, (str, os.PathLike)):  # one run set, as str or Path
            roots = [roots]
        self._scratch = None
        if options.reports is None:  # not told where to write: nothing stays on disk
            self._scratch = tempfile.TemporaryDirectory(prefix="dhstats-session-")
            options = dataclasses.replace(options, reports=Path(self._scratch.name), history=None, max_plots=0)
        self.gate = Gate(options, roots, exchange=exchange)
        self.outputs = SessionOutputs(options, self.gate.collection)

    def start(self, lock=None, command: Sequence[str] | None = None) -> None:
        """Before any judging: hold the reports directory (``lock``, a
        :class:`dhstats.gate.lock.ReportsLock`; taken here when None) and write the "session in
        progress" state (:meth:`SessionOutputs.start`)."""
        if lock is None:
            from dhstats.gate.lock import ReportsLock

            lock = ReportsLock(self.outputs.options.reports, sys.argv if command is None else command)
        self.outputs.start(lock, command)

    def report(self, html: bool = False, exit_status: int | None = None) -> dict:
        """Write health.json, badges and run pages from the collected records (a run none of
        whose cases reported is judged by the gate for its run verdict), stop the judging
        processes; returns health.json's dict. The history line: :meth:`SessionOutputs.finish`."""
        try:
            return self.outputs.write(self.gate.run_verdict, html, exit_status)
        finally:
            self.gate.close()

    def run(self) -> dict:
        """Hold the reports directory, judge every case, collect its records (and a failing
        case's figures), write the outputs and the history line, release the directory."""
        try:
            self.start()
            for case in self.gate.collection.all_cases():
                verdict = self.gate.judge(case)
                failed = isinstance(verdict, Verdict) and verdict.outcome == Outcome.FAILED
                self.outputs.collect(self.gate.payload(case, verdict), self.gate.images(case) if failed else (), failed)
            health = self.report()
            self.outputs.finish()
            return health
        finally:
            self.outputs.release()
            self.gate.close()
            if self._scratch is not None:  # after the lock's release: the lock file lives there too
                self._scratch.cleanup()

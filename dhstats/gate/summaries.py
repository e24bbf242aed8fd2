"""Run summaries: what the run-set checks need of each judged run, kept in memory and — under
pytest-xdist's own distribution — shared between workers through an exchange directory.

A summary is small (the run's outcome and its agreement cases as health.json dicts), written
atomically (:func:`dhstats.gate.files.write_bytes_atomic`, without fsync: the files live no
longer than the session) to ``<exchange>/<sha1 of the run key>.json``.
A worker judging a run-set case waits for the runs other workers were given (at most
:data:`POOL_WAIT` seconds); a run nobody judges is judged by the caller. A run's fingerprint
(:mod:`dhstats.load.duplicates`, ``kind="fingerprint"``) is shared the same way as soon as the run is
parsed, before it is judged, and is read without waiting (a worker that finds none parses the
run itself).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from dhstats.gate.files import write_bytes_atomic
from dhstats.load.results import RunKey

POOL_WAIT = 600.0  # seconds a pooled case waits for another worker's runs before judging them itself


class Summaries:
    """Run summaries by run key; ``exchange`` the directory shared with other xdist workers
    (None: one process)."""

    def __init__(self, exchange: str | os.PathLike | None = None):
        self.exchange = None if exchange is None else Path(exchange)
        self._kept: dict[tuple[str, RunKey], dict] = {}

    def put(self, key: RunKey, summary: dict, kind: str = "summary") -> None:
        self._kept[(kind, key)] = summary
        if self.exchange is not None:
            write_bytes_atomic(self.exchange / _file_name(key, kind), json.dumps(summary, allow_nan=True).encode(),
                               sync=False)  # a fresh temporary name per writer: writers of one key never share it

    def get(self, key: RunKey, expected: bool, kind: str = "summary") -> dict | None:
        """The run's summary: kept here, or written by another worker (waited for while
        ``expected``: a worker was given the run); None when nobody has judged it."""
        if (kind, key) in self._kept:
            return self._kept[(kind, key)]
        if self.exchange is None:
            return None
        path = self.exchange / _file_name(key, kind)
        if expected:
            deadline = time.monotonic() + POOL_WAIT
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        try:
            self._kept[(kind, key)] = json.loads(path.read_bytes())
        except (OSError, ValueError):  # not there, or a worker died while writing it
            return None
        return self._kept[(kind, key)]


def _file_name(key: RunKey, kind: str = "summary") -> str:
    stem = hashlib.sha1(str(key).encode("utf-8", "surrogatepass")).hexdigest()
    return stem + ("" if kind == "summary" else f".{kind}") + ".json"

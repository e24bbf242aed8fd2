"""Runs counted twice: the same file, the same bytes, or the same sampled sequences.

Contract (``shared/spec/checks.md``, "Runs must be independent"): two runs whose
``results.json`` resolve to the same file (a symbolic link, a hard link), have the same bytes,
or have the same per-sequence ``gdotv`` array and the same first entry's
``normalized_weights`` are one run counted twice. The later one, in session order (run sets
in the order of ``--results``, runs sorted by name), is invalid input with reason
``duplicate_run``, naming the first. Pooling a copy would shrink every pooled σ by √2 without
new evidence.

A run's :class:`Fingerprint` is one ``stat`` (``st_dev``, ``st_ino``: the file a path resolves
to) and a BLAKE2b of the parsed arrays (the first entry is the one of smallest η, as
:class:`dhstats.load.records.Run` sorts them). Two valid files with the same bytes parse to the same
arrays, so the bytes are not hashed for every run (a hash of a 3 MB file costs a quarter of its
parse): only when the arrays match are the two files compared, to say whether the later is a
byte copy or the same data written another way. :class:`DuplicateIndex` keeps the first run of
each key: deciding every run of a session is one dictionary look-up per key and run.
"""
from __future__ import annotations

import filecmp
import hashlib
import os
from dataclasses import dataclass

import numpy as np

from dhstats.load.records import InvalidRun, Problem, ProblemReason, Run, RunFile, RunKey

_DIGEST = 16  # bytes of BLAKE2b: collisions ~2⁻⁶⁴ among 2³² runs


def arrays_hash(run: Run) -> str:
    """BLAKE2b of the run's per-sequence ``gdotv`` (float64, or a marker when the file has none)
    and its first entry's ``normalized_weights``: equal for two files that hold the same
    sampled sequences, however the JSON is written."""
    h = hashlib.blake2b(digest_size=_DIGEST)
    for name, array in (("gdotv", run.gdotv), ("normalized_weights", run.entries[0].normalized_weights)):
        h.update(name.encode())
        if array is None:
            h.update(b"\0absent")
        else:
            values = np.ascontiguousarray(array, dtype=np.float64) + 0.0  # +0.0: −0.0 reads as 0.0
            h.update(len(values).to_bytes(8, "little"))
            h.update(values.tobytes())
    return h.hexdigest()


def file_identity(path) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of the file a path resolves to (links followed); None when it
    cannot be stat'ed."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def same_bytes(a, b) -> bool:
    """Whether two files hold the same bytes (read and compared; False when one cannot be read)."""
    try:
        return filecmp.cmp(a, b, shallow=False)
    except (OSError, ValueError):
        return False


@dataclass(frozen=True)
class Fingerprint:
    """What identifies a valid run's data: the file its path resolves to and its arrays."""

    identity: tuple[int, int] | None
    arrays: str

    def to_dict(self) -> dict:
        """As JSON (travels between processes)."""
        return {"identity": None if self.identity is None else list(self.identity), "arrays": self.arrays}

    @classmethod
    def of(cls, d: dict | None) -> "Fingerprint | None":
        if not d:
            return None
        identity = d.get("identity")
        return cls(None if identity is None else (int(identity[0]), int(identity[1])), d["arrays"])


def fingerprint(loaded: Run | InvalidRun, identity: tuple[int, int] | None) -> Fingerprint | None:
    """The fingerprint of a loaded run; None for an invalid run (it is invalid input already)."""
    if not isinstance(loaded, Run):
        return None
    return Fingerprint(identity, arrays_hash(loaded))


class DuplicateIndex:
    """The first run of each fingerprint key, fed in session order (:meth:`add`)."""

    def __init__(self) -> None:
        self._first: dict[tuple[str, object], RunFile] = {}

    def match(self, f: RunFile, fp: Fingerprint | None) -> tuple[RunKey, str] | None:
        """The earliest run added with a key of ``fp``, and how ``f`` repeats it; None if none."""
        if fp is None:
            return None
        first = fp.identity is not None and self._first.get(("identity", fp.identity))
        if first:
            how = "is the same file as {} (a symbolic or hard link)"
        elif first := self._first.get(("arrays", fp.arrays)):
            how = ("has the same bytes as {} (a copy)" if same_bytes(first.path, f.path) else
                   "has the same per-sequence gdotv and first entry's normalized_weights as {}")
        else:
            return None
        return first.key, how.format(first.display)

    def add(self, f: RunFile, fp: Fingerprint | None) -> None:
        """Record ``f`` under each key of ``fp`` not yet taken by an earlier run."""
        if fp is None:
            return
        if fp.identity is not None:
            self._first.setdefault(("identity", fp.identity), f)
        self._first.setdefault(("arrays", fp.arrays), f)


def duplicate_run(f: RunFile, first: RunKey, how: str) -> InvalidRun:
    """The later of two runs that are one: invalid input, reason ``duplicate_run``, naming the first."""
    message = (f"{how}: one run counted twice; only {first} is judged (runs must be independent: "
               "remove or regenerate this one)")
    return InvalidRun(f, (Problem(f.display, "", ProblemReason.DUPLICATE_RUN, message),))


def mark_duplicates(loaded: list[Run | InvalidRun], fingerprints: list[Fingerprint | None]) -> list[Run | InvalidRun]:
    """``loaded`` (in session order) with every later copy of a run replaced by its
    :func:`duplicate_run`."""
    index, out = DuplicateIndex(), []
    for run, fp in zip(loaded, fingerprints, strict=True):
        hit = index.match(run.file, fp)
        if hit is not None:
            run = duplicate_run(run.file, *hit)
        else:
            index.add(run.file, fp)
        out.append(run)
    return out


__all__ = ["DuplicateIndex", "Fingerprint", "arrays_hash", "duplicate_run", "file_identity", "fingerprint",
           "mark_duplicates", "same_bytes"]

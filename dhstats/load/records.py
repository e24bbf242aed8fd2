"""The load layer's records: where a run lives, what was read from it, what was wrong.

Plain frozen dataclasses with numpy arrays (no I/O, no validation): built by
:func:`dhstats.load.validation.validate`, read by ``stats``, ``verdicts`` and the reports. Field
meanings and units are those of ``shared/spec/results-format.md``.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

import numpy as np

RESULTS_FILE = "results.json"


class RunKey(NamedTuple):
    """The one name of a run everywhere (cases, caches, health.json, pages): run set + run.
    ``str(key)`` is ``E_2048/run_01``."""

    run_set: str  # run-set name, e.g. "E_2048" (the --results directory's name)
    run: str  # run directory name, e.g. "run_01"

    def __str__(self) -> str:
        return f"{self.run_set}/{self.run}"


@dataclass(frozen=True)
class RunFile:
    """Where one run lives: ``<run set>/<run>/results.json``."""

    run_set: str  # run-set name, e.g. "E_2048" (the --results directory's name)
    run: str  # run directory name, e.g. "run_01"
    path: Path

    @property
    def key(self) -> RunKey:
        return RunKey(self.run_set, self.run)

    @property
    def display(self) -> str:
        return f"{self.run_set}/{self.run}/{RESULTS_FILE}"


class ProblemReason(StrEnum):
    """What kind of input problem (health.json ``runs[].problems[].reason``)."""

    UNREADABLE = "unreadable"  # not found, not a regular file, an OS error while reading
    TOO_LARGE = "too_large"  # beyond --max-file-mb
    NOT_JSON = "not_json"  # empty, not UTF-8 JSON
    MISSING = "missing"  # a required field absent or null
    WRONG_TYPE = "wrong_type"  # e.g. a string or a boolean where a number belongs
    WRONG_LENGTH = "wrong_length"  # an array of another length than the run's n, or empty
    OUT_OF_RANGE = "out_of_range"  # not finite, |x| > 1e50, η ≤ 0, a count < 1
    DUPLICATE = "duplicate"  # the same η twice in true.entries
    DUPLICATE_RUN = "duplicate_run"  # the same file, bytes or sampled sequences as an earlier run


@dataclass(frozen=True)
class Problem:
    """One input problem: file, JSON path, its kind, what is wrong."""

    file: str
    json_path: str
    reason: ProblemReason
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.json_path}" if self.json_path else self.file
        return f"{where}: {self.message}"

    def to_dict(self) -> dict:
        """health.json's ``runs[].problems[]`` entry."""
        return {"file": self.file, "json_path": self.json_path, "reason": str(self.reason), "message": self.message}


@dataclass(frozen=True, eq=False)
class Entry:
    """One η of ``true.entries``. Arrays have length n, in the E-batch's sequence order."""

    eta: float
    delta_h_true: float  # nats per token
    normalized_weights: np.ndarray  # w̃_i
    token_counts: np.ndarray  # T_i (float64 holding integers ≥ 1)
    h_new: np.ndarray  # Σ_t H_t under θ+ηv, nats per sequence
    base_entropy: float  # H_base, nats per token
    h_base: np.ndarray | None = None  # Σ_t H_t under θ, nats per sequence
    log_weights: np.ndarray | None = None  # raw log π_new/π_old
    weights_sum: float | None = None
    ess: float | None = None  # reported 1/Σw̃²


@dataclass(frozen=True, eq=False)
class Quadratic:
    """``approx.quadratic``: Q = vHvv and its per-sequence split."""

    vhvv: float  # Q, nats per token per unit LR²
    gdotv: float  # G_q (falls back to G when absent)
    per_sequence_vhvv: np.ndarray | None = None
    se_gdotv: float | None = None
    se_vhvv: float | None = None
    num_shards: int | None = None


@dataclass(frozen=True, eq=False)
class Run:
    """A validated run. ``n`` sequences, ``entries`` sorted by η."""

    file: RunFile
    delta_h_per_lr: float  # G, nats per token per unit LR
    entries: tuple[Entry, ...]
    gdotv: np.ndarray | None = None  # approx.per_sequence[i].gdotv
    length: np.ndarray | None = None  # approx.per_sequence[i].length
    per_sequence_vhvv: np.ndarray | None = None  # approx.per_sequence[i].vhvv
    h_base_mean: float | None = None  # present only after the SNIS denominator correction
    se_shard: float | None = None
    se_jackknife: float | None = None
    num_shards: int | None = None
    quadratic: Quadratic | None = None

    @property
    def n(self) -> int:
        return int(self.entries[0].h_new.size)

    @property
    def etas(self) -> tuple[float, ...]:
        return tuple(e.eta for e in self.entries)

    def entry(self, eta: float) -> Entry:
        for e in self.entries:
            if e.eta == eta or abs(e.eta - eta) <= 1e-9 * abs(eta):
                return e
        raise KeyError(f"{self.file.key}: no entry with eta={eta!r}")


@dataclass(frozen=True)
class InvalidRun:
    """A run whose file cannot be used; ``problems`` lists everything found."""

    file: RunFile
    problems: tuple[Problem, ...]

    @property
    def message(self) -> str:
        return "\n".join(str(p) for p in self.problems)

"""The cases of a gate session: run sets found, η's scanned, one :class:`Case` per test.

Collection is a scan, not a parse: a run's cases are named from a regex scan of its file's
``true.entries[*].eta`` (:func:`dhstats.load.results.scan_etas`), the same on every process, so
that pytest (and xdist's workers) can list the tests before any run is judged. Which cases a
check has follows from its scope in :mod:`dhstats.verdicts.registry`. The checks against a baseline
have cases only for the run sets matched in ``--baseline`` (:mod:`dhstats.gate.baseline_source`), at
the η's both sides have.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dhstats.verdicts import registry
from dhstats.load.names import safe_name
from dhstats.verdicts.registry import INPUT, Scope
from dhstats.load.results import RunFile, RunKey, discover, scan_run
from dhstats.load.settings import SessionOptions


def case_id(run_set: str, run: str | None, eta: float | None) -> str:
    """``E_2048/run_01/eta=1.6e-06``; per run ``E_2048/run_01``; run set ``E_2048/eta=…`` or
    ``E_2048`` (η by repr: the shortest exact form; names by :func:`dhstats.load.names.safe_name`)."""
    parts = [safe_name(run_set)] + ([] if run is None else [safe_name(run)])
    return "/".join(parts) + ("" if eta is None else f"/eta={eta!r}")


@dataclass(frozen=True)
class RunSet:
    """A ``--results`` directory: its name (the directory's), path and runs in order."""

    name: str
    path: Path
    files: tuple[RunFile, ...]


@dataclass(frozen=True)
class Case:
    """One gate test: a check of a run (at one η, or per run / input) or of a run set."""

    check: str  # a registry name or "input"
    run_set: str
    file: RunFile | None  # None for run-set checks
    eta: float | None
    order: int  # groups items run by run; run-set cases after every run

    @property
    def key(self) -> RunKey | None:
        return None if self.file is None else self.file.key

    @property
    def id(self) -> str:
        return case_id(self.run_set, None if self.file is None else self.file.run, self.eta)


@dataclass(frozen=True)
class Skip:
    """A case with no verdict, and why (its run is invalid; an η only the scan found)."""

    reason: str


def run_sets_of(files: Sequence[RunFile]) -> list[RunSet]:
    """Run sets in discovery order; a run set's directory is its runs' grandparent."""
    sets: dict[str, list[RunFile]] = {}
    for f in files:
        sets.setdefault(f.run_set, []).append(f)
    return [RunSet(name, fs[0].path.parent.parent, tuple(fs)) for name, fs in sets.items()]


class Collection:
    """The run files under ``roots`` (:func:`dhstats.load.results.discover`), their run sets and
    the session's cases, in session order (run by run; run-set cases after every run)."""

    def __init__(self, roots: Iterable[str | os.PathLike], options: SessionOptions, baseline=None):
        self.roots = [Path(r).resolve() for r in roots]
        self.files = discover(self.roots)
        self.run_sets = run_sets_of(self.files)
        self.baseline = baseline  # a dhstats.gate.baseline_source.BaselineSource, or None
        self.matching = baseline.match([rs.name for rs in self.run_sets]) if baseline is not None else None
        self.order = {f.key: i for i, f in enumerate(self.files)}  # a run's position in the session
        self._max_bytes = options.max_file_bytes
        self._scanned: dict[RunKey, tuple[tuple[float, ...], bool]] = {}

    def _scan(self, f: RunFile) -> tuple[tuple[float, ...], bool]:
        if f.key not in self._scanned:
            self._scanned[f.key] = scan_run(f.path, self._max_bytes)
        return self._scanned[f.key]

    def etas(self, f: RunFile) -> tuple[float, ...]:
        """The η's the collection scan finds in ``f`` (scanned once)."""
        return self._scan(f)[0]

    def judgeable(self, f: RunFile) -> bool:
        """False when the scan proves ``f`` invalid input (:func:`dhstats.load.results.scan_run`): the
        run has its ``input`` case only, as every other case of it would be skipped."""
        return self._scan(f)[1]

    def set_etas(self, rs: RunSet) -> tuple[float, ...]:
        return tuple(sorted({eta for f in rs.files for eta in self.etas(f)}))

    def run_set(self, name: str) -> RunSet:
        return next(rs for rs in self.run_sets if rs.name == name)

    def cases(self, check: str) -> list[Case]:
        """The cases of ``check`` (a registry name or ``"input"``), in session order."""
        if check == INPUT:
            return [Case(INPUT, f.run_set, f, None, self.order[f.key]) for f in self.files]
        c = registry.check(check)
        base = len(self.files)
        if c.scope == Scope.RUN:
            return [Case(check, f.run_set, f, None, self.order[f.key]) for f in self.files if self.judgeable(f)]
        if c.scope == Scope.CASE:
            return [Case(check, f.run_set, f, eta, self.order[f.key]) for f in self.files for eta in self.etas(f)]
        if c.baseline:
            return self._baseline_cases(check, c.per_eta, base)
        if not c.per_eta:  # one case per run set, judged against the others: needs two at least
            if len(self.run_sets) < 2:
                return []
            return [Case(check, rs.name, None, None, base + i) for i, rs in enumerate(self.run_sets)]
        return [Case(check, rs.name, None, eta, base + i) for i, rs in enumerate(self.run_sets)
                for eta in self.set_etas(rs)]

    def _baseline_cases(self, check: str, per_eta: bool, base: int) -> list[Case]:
        """A check against the baseline: one case per matched run set (per η on both sides)."""
        if self.matching is None:
            return []
        out = []
        for i, rs in enumerate(self.run_sets):
            partner = self.matching.matched.get(rs.name)
            if partner is None:
                continue
            if not per_eta:
                out.append(Case(check, rs.name, None, None, base + i))
                continue
            theirs = set(self.baseline.set_etas.get(partner, ()))
            out += [Case(check, rs.name, None, eta, base + i) for eta in self.set_etas(rs) if eta in theirs]
        return out

    def all_cases(self) -> list[Case]:
        every = [case for name in (INPUT, *registry.NAMES) for case in self.cases(name)]
        return sorted(every, key=lambda c: c.order)  # stable: within a run, registry order

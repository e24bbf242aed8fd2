"""Verdicts: the records of the checks of ``shared/spec/checks.md``.

A check's judge returns a :class:`Judgement` (outcome, reason, message, numbers); the registry
stamps the check's name and the case's location on it, which makes a :class:`Verdict`: a small
frozen record (no arrays) that the gate asserts, the tables print and the reports render. Missing optional fields give
an explicit *skipped* outcome with the reason, never a pass. A statistic that is not finite
never passes: :func:`judgement` turns such a pass into a failure with reason
``not_finite`` (``h_base = [1e308]*n`` once passed every check).

The checks themselves: :mod:`dhstats.verdicts.run_checks` (file and SNIS checks, truncation),
:mod:`dhstats.verdicts.agreement` (linear, lin+quad, pooled), :mod:`dhstats.verdicts.runsets` (se_scaling); their
list: :mod:`dhstats.verdicts.registry`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from dhstats.verdicts.case_numbers import Numbers
from dhstats.load.results import InvalidRun, Problem, Run, RunKey
from dhstats.load.settings import Settings
from dhstats.stats.sigmas import run_sigmas
from dhstats.verdicts.wording import num


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunOutcome(StrEnum):
    OK = "ok"
    ERROR = "error"  # invalid input: the run has no cases


class Reason(StrEnum):
    """Why a case has its outcome (machine-readable, in health.json as ``reason``)."""

    OK = "ok"  # passed
    OUT_OF_BOUNDS = "out_of_bounds"  # a statistic outside its threshold
    NOT_FINITE = "not_finite"  # a statistic is NaN or infinite: never a pass
    MISSING_FIELD = "missing_field"  # skipped: an optional field the check needs is absent
    INCONCLUSIVE = "inconclusive"  # skipped: the evidence cannot decide
    OUT_OF_TOLERANCE = "out_of_tolerance"  # --tolerance: the pooled ratio is demonstrably outside 1 ± δ
    INTERNAL_ERROR = "internal_error"  # the check itself raised: failed, with the exception named
    NOT_DEMONSTRATED = "not_demonstrated"  # --tolerance: agreement within 1 ± δ is not demonstrated
    MOVED = "moved"  # --baseline: the pooled ratio moved against the baseline's (|z| > k)
    MOVED_BEYOND_TOLERANCE = "moved_beyond_tolerance"  # --baseline-tolerance: demonstrably moved by more than ±δ
    HETEROGENEOUS = "heterogeneous"  # the runs of a pooled case disagree with each other (Q's p < 2Φ(−k))


_DEFAULT_REASON = {Outcome.PASSED: Reason.OK, Outcome.FAILED: Reason.OUT_OF_BOUNDS,
                   Outcome.SKIPPED: Reason.MISSING_FIELD}


@dataclass(frozen=True)
class Verdict:
    """One case: (check, run set, run, η) → outcome with message and numbers. ``run`` is None
    for run-set checks, ``eta`` None for per-run checks and ``se_scaling``."""

    check: str
    outcome: Outcome
    message: str
    run_set: str
    run: str | None
    eta: float | None = None
    numbers: Numbers | dict = field(default_factory=dict)  # typed (case_numbers) where read back; else a dict
    reason: Reason = Reason.OK
    detail: str | None = None  # the numbers in words, without the rule: what Holm rewords

    def to_dict(self) -> dict:
        """health.json's case dict: location, outcome, reason, message, then the numbers."""
        out = {"run_set": self.run_set, "run": self.run, "eta": self.eta, "check": self.check,
               "outcome": str(self.outcome), "reason": str(self.reason), "message": self.message}
        out.update({k: _json_number(v) for k, v in self.numbers.items()})
        if self.detail is not None:
            out["detail"] = self.detail
        return out

    @classmethod
    def of(cls, record: Mapping, numbers: type[Numbers]) -> "Verdict":
        """A health.json case dict read back, its numbers typed as ``numbers`` (a partial record,
        e.g. a calibration's, reads as judged and passed)."""
        return cls(record.get("check", ""), Outcome(record.get("outcome", "passed")), record.get("message", ""),
                   record.get("run_set", ""), record.get("run"), record.get("eta"), numbers.of(record),
                   Reason(record.get("reason", "ok")), record.get("detail"))

    def _repr_html_(self) -> str:
        """Jupyter: the case as an escaped two-column table (:func:`dhstats.verdicts.display.verdict_html`)."""
        from dhstats.verdicts.display import verdict_html

        return verdict_html(self)


@dataclass(frozen=True)
class RunVerdict:
    """Whether a run's file could be used at all (``health.json`` ``runs``)."""

    run_set: str
    run: str
    path: str
    outcome: RunOutcome
    message: str = ""
    problems: tuple[Problem, ...] = ()

    @property
    def key(self) -> RunKey:
        return RunKey(self.run_set, self.run)

    def to_dict(self) -> dict:
        return {"run_set": self.run_set, "run": self.run, "path": self.path, "outcome": str(self.outcome),
                "message": self.message, "problems": [p.to_dict() for p in self.problems]}

    def _repr_html_(self) -> str:
        """Jupyter: the run verdict as an escaped table (:func:`dhstats.verdicts.display.run_verdict_html`)."""
        from dhstats.verdicts.display import run_verdict_html

        return run_verdict_html(self)


def _json_number(value):
    if isinstance(value, dict):
        return {k: _json_number(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; the reason code says why a judged number is missing
    return value


def fmt(x) -> str:
    """3 significant digits (:func:`dhstats.verdicts.wording.num`); ``n/a`` for None, ``nan``/``inf`` spelled out."""
    return num(x)


def not_finite(numbers: Numbers | dict) -> list[str]:
    """Names of the float numbers that are NaN or ±inf (None means "not available" and is fine)."""
    return [k for k, v in numbers.items() if isinstance(v, float) and not math.isfinite(v)]


def unbounded(x: float) -> float | None:
    """None for ±inf: a number infinite by its meaning (a resolution when Σ ΔH_true/σ = 0, an
    unbounded interval limit), not by a failed computation — null in health.json, said in the
    message. NaN stays NaN (never a pass)."""
    return None if math.isinf(x) else x


def close(a: float, b: float, rel: float, floor: float = 1e-12) -> bool:
    """|a − b| ≤ rel·max(|a|, |b|) + floor, and both finite (inf is close to nothing)."""
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= rel * max(abs(a), abs(b)) + floor


# --------------------------------------------------------------------------- run-level


def run_verdict(loaded: Run | InvalidRun) -> RunVerdict:
    f = loaded.file
    if isinstance(loaded, InvalidRun):
        n = len(loaded.problems)
        head = f"{f.display}: invalid input ({n} problem{'s' * (n != 1)})"
        return RunVerdict(f.run_set, f.run, str(f.path), RunOutcome.ERROR, head + "\n" + loaded.message,
                          loaded.problems)
    return RunVerdict(f.run_set, f.run, str(f.path), RunOutcome.OK)


class RunContext:
    """Per-run quantities shared by the checks of that run: the σ's of every η
    (:func:`dhstats.stats.sigmas.run_sigmas`, computed once)."""

    def __init__(self, run: Run, settings: Settings):
        self.run = run
        self.settings = settings
        self.sigmas = run_sigmas(run, settings.reported_se)

    def judgement(self, outcome, message, *, reason: Reason | None = None, typed: Numbers | None = None,
                  detail: str | None = None, **numbers) -> Judgement:
        """A judgement of this run (see :func:`judgement`): its numbers ``typed``, or as keywords.
        The registry stamps the check's name and the case's location on it."""
        return judgement(outcome, message, numbers if typed is None else typed, reason, detail)


@dataclass(frozen=True)
class RunSetRecords:
    """What a run-set check judges (never arrays): the per-run case records (health.json
    dicts) of the checks it pools (:attr:`dhstats.verdicts.registry.Check.pools`, in that order), by run
    set and check — at ``eta`` for a pooled check, every η for a check across run sets.
    ``estimator`` names the agreement checks of the check's estimator (its ``case`` and
    ``pooled`` check), for the checks that have one."""

    run_set: str
    eta: float | None
    by_set: dict  # run set → {pooled check → [case dict]}
    baseline: dict | None = None  # checks against a baseline: {"run_set": its matched set, "cases": [case dict]}
    pools: tuple[str, ...] = ()  # the pooled checks' names, in the entry's order
    estimator: object | None = None  # dhstats.verdicts.registry.EstimatorChecks of the check's estimator

    def of(self, check: str, run_set: str | None = None) -> list:
        """The records of ``check`` in ``run_set`` (default: the one judged)."""
        return list(self.by_set.get(self.run_set if run_set is None else run_set, {}).get(check, ()))

    def pooled(self, i: int = 0, run_set: str | None = None) -> list:
        """The records of the ``i``-th check the judged check pools (0: its own per-run check)."""
        return self.of(self.pools[i], run_set) if i < len(self.pools) else []


def crashed(check: str, run_set: str, run: str | None, eta: float | None, exc: BaseException) -> Verdict:
    """The verdict of a check that raised: failed with reason ``internal_error`` and the
    exception named — that check fails, the run's other checks keep their verdicts (a crash is
    never a pass, and never costs the run)."""
    return Verdict(check, Outcome.FAILED, f"internal error in {check}: {type(exc).__name__}: {exc} — a bug in "
                   "the check, not a verdict on the estimator; the other checks were judged",
                   run_set, run, eta, {"exception": type(exc).__name__}, Reason.INTERNAL_ERROR)


@dataclass(frozen=True)
class Judgement:
    """What a check's judge returns: outcome, reason, message and numbers — not which check nor
    where. The registry stamps both (:meth:`at`, :meth:`dhstats.verdicts.registry.Check.verdict`)."""

    outcome: Outcome
    message: str
    numbers: Numbers | dict = field(default_factory=dict)
    reason: Reason = Reason.OK
    detail: str | None = None

    def at(self, check: str, run_set: str, run: str | None, eta: float | None) -> Verdict:
        """The :class:`Verdict` of check ``check`` at (run set, run, η)."""
        return Verdict(check, self.outcome, self.message, run_set, run, eta, self.numbers, self.reason, self.detail)


def judgement(outcome, message, numbers: Numbers | dict | None = None, reason: Reason | None = None,
              detail: str | None = None) -> Judgement:
    """A Judgement; ``reason`` defaults to ok / out_of_bounds / missing_field. A pass whose
    numbers include a NaN or ±inf becomes a failure with reason ``not_finite``."""
    outcome, numbers = Outcome(outcome), {} if numbers is None else numbers
    bad = not_finite(numbers) if outcome != Outcome.FAILED else []
    if bad:
        outcome, reason = Outcome.FAILED, Reason.NOT_FINITE
        message = f"not finite: {', '.join(bad)} — a statistic that is NaN or infinite never passes ({message})"
    return Judgement(outcome, message, numbers, reason or _DEFAULT_REASON[outcome], detail)


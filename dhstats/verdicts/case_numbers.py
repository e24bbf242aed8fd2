"""Typed numbers of the cases that other checks read back: the agreement cases (pooled over
runs, across run sets, reworded by Holm), the pooled cases and se_scaling.

A field left :data:`ABSENT` is not in health.json; ``None`` is written as null (e.g. σ_Q of
a lin+quad case without a curvature σ). :meth:`Numbers.of` reads a health.json case dict
back (from a run summary, another xdist worker, or a health.json file): a field it lacks is
ABSENT. The other checks' numbers are a plain dict: nothing reads them but the reports,
which render health.json.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


class _Absent:
    """Not measured for this case (left out of health.json); falsy."""

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "ABSENT"  # one object in every process (judging processes send verdicts back pickled)


ABSENT: Any = _Absent()


def present(x):
    """``x``, or None when it is ABSENT."""
    return None if x is ABSENT else x


class Numbers:
    """Base of the typed number records (frozen dataclasses whose fields default to ABSENT)."""

    def to_dict(self) -> dict:
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not ABSENT}

    def items(self):
        return self.to_dict().items()

    @classmethod
    def of(cls, record: Mapping):
        """The numbers of a health.json case dict (a missing field is ABSENT)."""
        return cls(**{f.name: record.get(f.name, ABSENT) for f in fields(cls)})


@dataclass(frozen=True)
class AgreementNumbers(Numbers):
    """An agreement case (``linear_agreement``, ``linquad_agreement``): z = (P − ΔH_true)/σ with
    σ of the difference (``sigma_source`` paired or independent), the run's ratio P/ΔH_true ± SE,
    its resolution; TOST statistics under --tolerance; Holm's p under --holm."""

    z: float = ABSENT
    k: float = ABSENT
    n: int = ABSENT  # the run's num_sequences: E of its run set
    prediction: float = ABSENT
    delta_h_true: float = ABSENT
    sigma: float = ABSENT
    sigma_source: str = ABSENT
    sigma_prediction: float | None = ABSENT
    sigma_true: float = ABSENT
    sigma_true_source: str = ABSENT
    sigma_g: float | None = ABSENT
    sigma_g_source: str | None = ABSENT
    ratio: float = ABSENT
    ratio_se: float = ABSENT
    resolution: float | None = ABSENT
    tolerance: float = ABSENT
    tost_lo: float = ABSENT
    tost_hi: float = ABSENT
    sigma_q: float | None = ABSENT  # lin+quad only
    sigma_q_source: str | None = ABSENT
    finding: str = ABSENT
    p_value: float = ABSENT  # --holm
    holm_alpha: float = ABSENT
    z_critical: float = ABSENT  # --holm: Holm's critical |z| for this case (its resolution's)


@dataclass(frozen=True)
class PooledNumbers(Numbers):
    """A pooled case: R judged runs, their z's, Stouffer's Z, the pooled ratio
    ρ̂ = Σw·P/Σw·ΔH_true (w = 1/σ_1) with its delta-method SE and 1 − 2α Fieller interval, the
    heterogeneity Q of the runs and its p-value, the resolution; TOST under --tolerance; Holm's
    p and critical |z| (``z_critical``, at which the resolution is stated)."""

    R: int = ABSENT
    k: float = ABSENT
    z_runs: dict = ABSENT
    Z: float = ABSENT
    ratio: float = ABSENT
    ratio_se: float = ABSENT
    ratio_lo: float | None = ABSENT
    ratio_hi: float | None = ABSENT
    interval_alpha: float = ABSENT
    resolution: float | None = ABSENT
    heterogeneity_q: float = ABSENT
    heterogeneity_p: float = ABSENT
    finding: str = ABSENT
    tolerance: float = ABSENT
    equivalence_alpha: float = ABSENT
    tost_lo: float = ABSENT
    tost_hi: float = ABSENT
    runs_needed: float | None = ABSENT
    e_needed: float = ABSENT
    p_value: float = ABSENT
    holm_alpha: float = ABSENT
    z_critical: float = ABSENT


@dataclass(frozen=True)
class ScalingNumbers(Numbers):
    """``se_scaling``: this set's E and medians σ_G·√E, their ratios to the reference set's
    (the largest E) and the bounds."""

    E: int | None = ABSENT
    reference: str = ABSENT
    reference_E: int = ABSENT
    bounds: list = ABSENT
    sigma_g_scaled: float | None = ABSENT
    ratio_sigma_g: float = ABSENT
    ratio_sigma_true: float | None = ABSENT

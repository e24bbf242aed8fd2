"""Statistics of a comparison with a baseline: did the pooled ratio move between two sessions?

Two independent estimates of one quantity, ρ̂_C ± se_C (the candidate) and ρ̂_B ± se_B (the
baseline), each a run set's pooled ratio (checks.md, "One estimator behind every pooled
number"; its ``ratio`` and ``ratio_se``). Source: checks.md, "Comparison with a baseline".

    z          = (ρ̂_C − ρ̂_B) / √(se_C² + se_B²)            moved when |z| > k
    resolution = (k + z_0.80)·√(se_C² + se_B²)               the move seen with 80 % power
    TOST       z_lo = (d + δ)/se_d,  z_hi = (d − δ)/se_d     d = ρ̂_C − ρ̂_B, se_d as above
               (Schuirmann 1987): within ±δ when z_lo > z_{1−α} and z_hi < −z_{1−α}

A ratio only means something where its denominator does: :func:`unresolved` says when a
side's pooled ΔH_true is not distinguishable from 0 (its ratio and SE are then not usable).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dhstats.stats.equivalence import Equivalence, Z_POWER, Z_SIDE_POWER, normal_quantile, tost_decision


def difference_se(se_c: float, se_b: float) -> float:
    """se_d = √(se_C² + se_B²): the two sides are independent batches."""
    return math.hypot(se_c, se_b)


def difference_z(ratio_c: float, se_c: float, ratio_b: float, se_b: float) -> float:
    """z = (ρ̂_C − ρ̂_B)/√(se_C² + se_B²); 0 when the two ratios are equal (also with se_d = 0),
    NaN when any input is not finite or se_d = 0 with a difference."""
    values = (ratio_c, se_c, ratio_b, se_b)
    if not all(math.isfinite(x) for x in values):
        return math.nan
    d, se = ratio_c - ratio_b, difference_se(se_c, se_b)
    if d == 0.0:
        return 0.0
    return d / se if se > 0.0 else math.nan


def comparison_resolution(k: float, se_c: float, se_b: float) -> float:
    """(k + z_0.80)·√(se_C² + se_B²): the smallest move of the ratio the test at k detects
    with 80 % power, in ratio units (NaN when an SE is not finite)."""
    if not (math.isfinite(se_c) and math.isfinite(se_b)):
        return math.nan
    return (k + Z_POWER) * difference_se(se_c, se_b)


@dataclass(frozen=True)
class DifferenceTost:
    """The two one-sided tests of d = ρ̂_C − ρ̂_B against ±δ: statistics, critical z_{1−α}, verdict."""

    z_lo: float
    z_hi: float
    z: float
    verdict: Equivalence


def difference_tost(d: float, se_d: float, delta: float, alpha: float) -> DifferenceTost:
    """z_lo = (d + δ)/se_d, z_hi = (d − δ)/se_d; demonstrated (``ok``) when z_lo > z_{1−α} and
    z_hi < −z_{1−α}; ``out_of_tolerance`` when z_lo < −z_{1−α} or z_hi > z_{1−α}; else
    ``not_demonstrated``; ``not_finite`` when d or se_d is not finite or se_d ≤ 0."""
    z = normal_quantile(1.0 - alpha)
    if not (math.isfinite(d) and math.isfinite(se_d)) or se_d <= 0.0:
        return DifferenceTost(math.nan, math.nan, z, Equivalence.NOT_FINITE)
    z_lo, z_hi = (d + delta) / se_d, (d - delta) / se_d
    return DifferenceTost(z_lo, z_hi, z, tost_decision(z_lo, z_hi, z))


def runs_needed_each(runs_c: int, runs_b: int, se_d: float, delta: float, alpha: float) -> tuple[float, float]:
    """Runs of each side's precision that demonstrate d within ±δ with 80 % power at d = 0:
    both sides scaled by f = ((z_{1−α} + z_0.90)·se_d/δ)² (se ∝ 1/√R on each side), so
    ⌈R_C·f⌉ and ⌈R_B·f⌉ (NaN when se_d is not finite)."""
    if not math.isfinite(se_d):
        return math.nan, math.nan
    f = ((normal_quantile(1.0 - alpha) + Z_SIDE_POWER) * se_d / delta) ** 2
    return float(math.ceil(runs_c * f)), float(math.ceil(runs_b * f))


def unresolved(truths: Sequence[float], sigma_trues: Sequence[float], sigmas_1: Sequence[float], k: float) -> bool:
    """Whether a run set's pooled ΔH_true is indistinguishable from 0, so that its pooled ratio
    ρ̂ = Σ w_r P_r / Σ w_r T_r means nothing: |Σ_r w_r T_r| < k·√(Σ_r w_r² σ_true,r²) with
    Stouffer's weights w_r = 1/σ_1,r (σ_1 = σ_lin or σ_lq of run r; checks.md, "One estimator
    behind every pooled number"). True also when there is no run or any input is not finite
    or a σ_1 ≤ 0 (nothing resolved)."""
    if not truths or not (len(truths) == len(sigma_trues) == len(sigmas_1)):
        return True
    values = (*truths, *sigma_trues, *sigmas_1)
    if not all(math.isfinite(x) for x in values) or not all(s > 0.0 for s in sigmas_1):
        return True
    signal = abs(sum(t / s for t, s in zip(truths, sigmas_1)))
    noise = math.sqrt(sum((st / s) ** 2 for st, s in zip(sigma_trues, sigmas_1)))
    return signal == 0.0 or not signal >= k * noise


__all__ = ["DifferenceTost", "comparison_resolution", "difference_se", "difference_tost", "difference_z",
           "runs_needed_each", "unresolved"]

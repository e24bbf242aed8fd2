"""Runs needed to demonstrate equivalence at the *observed* pooled ratio (checks.md,
"Resolution and equivalence"): the TOST power at a ratio ρ other than 1.

With the pooled ratio estimated with standard error s from R runs, and R' runs of the same
precision (s' = s·√(R/R') = s/√f, f = R'/R), the two one-sided tests against
[1 − δ, 1 + δ] at level α both reject with probability (normal approximation; Chow & Liu,
*Design and Analysis of Bioavailability and Bioequivalence Studies*, 2009, §5.3)

    power(f) = Φ(√f·d_near/s − z_{1−α}) + Φ(√f·d_far/s − z_{1−α}) − 1
    d_near = δ − |ρ − 1|,   d_far = δ + |ρ − 1|

The runs needed are R' = ⌈R·f*⌉ with f* the smallest f where power(f) = 0.80 (found by
bisection: power rises with f). At ρ = 1 both sides are at δ and power = 0.80 means
Φ(√f·δ/s − z_{1−α}) = 0.90, so f* = ((z_{1−α} + z_0.90)·s/δ)², the formula of
:func:`dhstats.stats.equivalence.runs_to_demonstrate`. When ρ lies on or outside the band
(d_near ≤ 0) no number of runs demonstrates it: NaN. By σ ∝ 1/√E the same f* is the factor
on E at this R.
"""
from __future__ import annotations

import math
from statistics import NormalDist

POWER = 0.80
_N = NormalDist()


def tost_power(factor: float, ratio: float, ratio_se: float, delta: float, alpha: float) -> float:
    """power(f) of the module docstring at ``factor`` f = R'/R."""
    z = _N.inv_cdf(1.0 - alpha)
    off = abs(ratio - 1.0)
    s = ratio_se / math.sqrt(factor)
    return _N.cdf((delta - off) / s - z) + _N.cdf((delta + off) / s - z) - 1.0


def factor_at_ratio(ratio: float, ratio_se: float, delta: float, alpha: float, power: float = POWER) -> float:
    """f*, the factor on R (or on E at this R) for 80 % TOST power at the observed ``ratio``
    (module docstring); NaN when the ratio is on or outside 1 ± δ or an input is not finite."""
    if not all(math.isfinite(x) for x in (ratio, ratio_se, delta)) or ratio_se <= 0 or delta <= 0:
        return math.nan
    if abs(ratio - 1.0) >= delta:
        return math.nan
    lo, hi = 0.0, 1.0
    while tost_power(hi, ratio, ratio_se, delta, alpha) < power:
        lo, hi = hi, hi * 2.0
        if hi > 1e300:
            return math.nan
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= 0.0 or tost_power(mid, ratio, ratio_se, delta, alpha) < power:
            lo = mid
        else:
            hi = mid
    return hi


def runs_at_ratio(runs: int, ratio: float, ratio_se: float, delta: float, alpha: float) -> float:
    """⌈R·f*⌉: runs of this precision that demonstrate ±δ with 80 % power if the ratio stays
    at ``ratio`` (NaN when it lies on or outside the band)."""
    f = factor_at_ratio(ratio, ratio_se, delta, alpha)
    return float(math.ceil(runs * f - 1e-9)) if math.isfinite(f) else math.nan


__all__ = ["POWER", "factor_at_ratio", "runs_at_ratio", "tost_power"]

"""What a pass is worth: resolution of the difference test and equivalence by TOST
(checks.md, "Resolution and equivalence"). Pure functions of per-run numbers — the
predictions P_r, the truths ΔH_true,r and the σ_c of P_r − c·ΔH_true,r
(:func:`dhstats.sigmas.sigma_c`) — used by the agreement checks, the tables and the figures.

* Resolution: the smallest relative bias b (P = (1+b)·ΔH_true) that the difference test at k
  detects with 80 % power. With R runs (Stouffer; R = 1 is one run's case):

      resolution = (k + z_0.80)·√R / |Σ_r ΔH_true,r / σ_1,r|          (∞ when Σ = 0)

  Derivation: under P_r = (1+b)·T_r the runs' z_r have mean b·T_r/σ_1,r, so Stouffer's Z has
  mean b·Σ_r(T_r/σ_1,r)/√R and unit variance; |Z| > k with probability ≈ 0.8 when that mean
  is k + z_0.80.
* Equivalence (TOST, Schuirmann 1987) of the pooled ratio ΣP/ΣΔH_true with [1 − δ, 1 + δ],
  in Fieller form, s = sign(Σ_r ΔH_true,r):

      t_lo = s·Σ_r (P_r − (1−δ)·T_r) / √Σ_r σ_{1−δ,r}²
      t_hi = s·Σ_r (P_r − (1+δ)·T_r) / √Σ_r σ_{1+δ,r}²

  demonstrated when t_lo > z_{1−α} and t_hi < −z_{1−α}; out of tolerance when
  t_lo < −z_{1−α} or t_hi > z_{1−α}; otherwise not demonstrated. The 1 − 2α Fieller interval
  {c : |s·Σ(P − c·T)| ≤ z_{1−α}·σ_c} lies inside the band exactly when TOST demonstrates it.
* Runs to demonstrate ±δ with 80 % power at ratio 1: ⌈R·((z_{1−α} + z_0.90)·SE_ratio/δ)²⌉
  (each side's test must clear z_{1−α} with probability 0.9; SE_ratio ∝ 1/√R); by σ ∝ 1/√E
  the same factor on E at this R.

Normal quantiles come from :func:`normal_quantile` only (``statistics.NormalDist``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist

POWER = 0.80  # the power at which a resolution is stated


def normal_quantile(p: float) -> float:
    """z_p, the p-quantile of N(0, 1) (``statistics.NormalDist().inv_cdf``)."""
    return NormalDist().inv_cdf(p)


Z_POWER = normal_quantile(POWER)  # z_0.80 = 0.8416
Z_SIDE_POWER = normal_quantile(0.90)  # z_0.90: each one-sided test at 90 % gives ≈ 80 % for both


def resolution(k: float, truths: Sequence[float], sigmas_1: Sequence[float]) -> float:
    """(k + z_0.80)·√R / |Σ_r ΔH_true,r/σ_1,r| over R runs (one run: (k + z_0.80)·σ_1/|ΔH_true|).
    ∞ when the sum is 0; NaN when any input is not finite or a σ_1 is ≤ 0."""
    if not truths or len(truths) != len(sigmas_1):
        return math.nan
    if not all(math.isfinite(t) for t in truths) or not all(math.isfinite(s) and s > 0 for s in sigmas_1):
        return math.nan
    signal = abs(sum(t / s for t, s in zip(truths, sigmas_1)))
    return math.inf if signal == 0.0 else (k + Z_POWER) * math.sqrt(len(truths)) / signal


class Equivalence(StrEnum):
    DEMONSTRATED = "ok"
    OUT_OF_TOLERANCE = "out_of_tolerance"
    NOT_DEMONSTRATED = "not_demonstrated"
    NOT_FINITE = "not_finite"


@dataclass(frozen=True)
class Tost:
    """The two one-sided tests of one pooled case: statistics, critical value z_{1−α}, verdict."""

    t_lo: float
    t_hi: float
    z: float
    verdict: Equivalence


def tost(predictions: Sequence[float], truths: Sequence[float], sigma_lo: Sequence[float],
         sigma_hi: Sequence[float], delta: float, alpha: float) -> Tost:
    """TOST in Fieller form (module docstring). ``sigma_lo``/``sigma_hi``: each run's σ_c at
    c = 1 − δ and c = 1 + δ. Not finite (any input NaN, or a zero σ) → verdict not_finite."""
    z = normal_quantile(1.0 - alpha)
    s = math.copysign(1.0, sum(truths)) if sum(truths) != 0 else 0.0

    def t(c: float, sig: Sequence[float]) -> float:
        var = sum(x * x for x in sig)
        diff = sum(p - c * tr for p, tr in zip(predictions, truths))
        if not (math.isfinite(var) and math.isfinite(diff)) or var <= 0.0:
            return math.nan
        return s * diff / math.sqrt(var)

    t_lo, t_hi = t(1.0 - delta, sigma_lo), t(1.0 + delta, sigma_hi)
    if not (math.isfinite(t_lo) and math.isfinite(t_hi)):
        verdict = Equivalence.NOT_FINITE
    elif t_lo > z and t_hi < -z:
        verdict = Equivalence.DEMONSTRATED
    elif t_lo < -z or t_hi > z:
        verdict = Equivalence.OUT_OF_TOLERANCE
    else:
        verdict = Equivalence.NOT_DEMONSTRATED
    return Tost(t_lo, t_hi, z, verdict)


def fieller_interval(predictions: Sequence[float], truths: Sequence[float], sigma_at, z: float) -> tuple[float, float]:
    """The Fieller set {c : (ΣP − c·ΣT)² ≤ z²·Σ_r σ_c,r²} of the pooled ratio, where
    ``sigma_at(c)`` returns Σ_r σ_c,r² (a quadratic in c, A − 2Bc + Cc²: read off at c = 0, ±1).
    (lo, hi) when bounded; (−∞, ∞) when ΣT is not significantly non-zero (the set is then
    unbounded); (nan, nan) when not finite."""
    P, T = sum(predictions), sum(truths)
    v0, v1, vm = sigma_at(0.0), sigma_at(1.0), sigma_at(-1.0)
    A, B, C = v0, (vm - v1) / 4.0, (v1 + vm) / 2.0 - v0
    a, b, c = T * T - z * z * C, P * T - z * z * B, P * P - z * z * A
    if not all(math.isfinite(x) for x in (a, b, c)):
        return math.nan, math.nan
    disc = b * b - a * c
    if a <= 0.0 or disc < 0.0:
        return -math.inf, math.inf
    root = math.sqrt(disc)
    return (b - root) / a, (b + root) / a


def demonstration_factor(ratio_se: float, delta: float, alpha: float) -> float:
    """((z_{1−α} + z_0.90)·SE_ratio/δ)²: the factor on R (or, by σ ∝ 1/√E, on E at this R)
    that demonstrates ±δ with 80 % power at ratio 1 (nan when SE_ratio is not finite)."""
    if not math.isfinite(ratio_se):
        return math.nan
    return ((normal_quantile(1.0 - alpha) + Z_SIDE_POWER) * ratio_se / delta) ** 2


def runs_to_demonstrate(runs: int, ratio_se: float, delta: float, alpha: float) -> float:
    """⌈R·((z_{1−α} + z_0.90)·SE_ratio/δ)²⌉: runs of this precision that demonstrate ±δ with
    80 % power at ratio 1 (nan when SE_ratio is not finite)."""
    factor = demonstration_factor(ratio_se, delta, alpha)
    return float(math.ceil(runs * factor)) if math.isfinite(factor) else math.nan


def scale_to_resolve(resolution_now: float, target: float) -> float:
    """Factor on R (or, by σ ∝ 1/√E, on E at the same R) that brings a resolution to
    ``target``: (resolution/target)² (resolution ∝ 1/√(R·E) for runs like these)."""
    return (resolution_now / target) ** 2


def percent(x: float) -> str:
    """A relative size as a percentage with 2 significant figures: 0.3312 → "33 %",
    1.904 → "190 %", 0.0412 → "4.1 %"; "∞" for infinity."""
    if not math.isfinite(x):
        return "∞ %" if x > 0 else "n/a"
    v = float(f"{abs(x) * 100:.2g}")
    return f"{v:.0f} %" if v >= 10 else f"{v:.2g} %"


def about(x: float) -> str:
    """A count rounded to 2 significant figures with a thin space: 3697 → "3 700", 58 → "58"."""
    if not math.isfinite(x):
        return "∞"
    v = int(float(f"{x:.2g}")) if x >= 100 else int(math.ceil(x))
    return f"{v:,}".replace(",", " ")

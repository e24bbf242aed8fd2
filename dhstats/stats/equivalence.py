"""What a pass is worth: resolution of the difference test and equivalence by TOST
(checks.md, "Resolution and equivalence"). Pure functions of per-run numbers — the
predictions P_r, the truths ΔH_true,r and the σ_c of P_r − c·ΔH_true,r
(:func:`dhstats.stats.sigmas.sigma_c`) — used by the agreement checks, the tables and the figures.

* Resolution: the smallest relative bias b (P = (1+b)·ΔH_true) that the difference test at k
  detects with 80 % power. With R runs (Stouffer; R = 1 is one run's case):

      resolution = (k + z_0.80)·√R / |Σ_r ΔH_true,r / σ_1,r|          (∞ when Σ = 0)

  Derivation: under P_r = (1+b)·T_r the runs' z_r have mean b·T_r/σ_1,r, so Stouffer's Z has
  mean b·Σ_r(T_r/σ_1,r)/√R and unit variance; |Z| > k with probability ≈ 0.8 when that mean
  is k + z_0.80.
* One estimator behind every pooled number (checks.md, "Shared statistics"). Run r gets
  Stouffer's weight w_r = 1/σ_1,r (:func:`stouffer_weights`); the pooled ratio, its SE, its
  1 − 2α Fieller interval and the TOST all use it:

      ρ̂ = Σ_r w_r·P_r / Σ_r w_r·T_r
      t(c) = s·Σ_r w_r·(P_r − c·T_r) / √(Σ_r w_r²·σ_{c,r}²),   s = sign(Σ_r w_r·T_r)
      SE(ρ̂) = √(Σ_r w_r²·σ_{ρ̂,r}²) / |Σ_r w_r·T_r|            (delta method)
      interval = {c : |t(c)| ≤ z_{1−α}}                          (Fieller 1954)

  t(1) is Stouffer's Z times s (Σ_r w_r²σ_1,r² = R); with equal σ's ρ̂ is ΣP/ΣT.
* Equivalence (TOST, Schuirmann 1987) of ρ̂ with [1 − δ, 1 + δ]: t_lo = t(1 − δ),
  t_hi = t(1 + δ); demonstrated when t_lo > z_{1−α} and t_hi < −z_{1−α}; out of tolerance
  when t_lo < −z_{1−α} or t_hi > z_{1−α}; otherwise not demonstrated. The Fieller interval
  lies inside the band exactly when TOST demonstrates it.
* Heterogeneity (Cochran's Q in Fieller form): Q = min_c Σ_r (P_r − c·T_r)²/σ_{c,r}², χ²_{R−1}
  when the runs share one ratio (:func:`heterogeneity`, :func:`chi2_sf`).
* Runs to demonstrate ±δ with 80 % power at ratio 1: ⌈R·((z_{1−α} + z_0.90)·SE_ratio/δ)²⌉
  (each side's test must clear z_{1−α} with probability 0.9; SE_ratio ∝ 1/√R); by σ ∝ 1/√E
  the same factor on E at this R.

Normal quantiles come from :func:`normal_quantile` only (``statistics.NormalDist``).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist

import numpy as np

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


def resolution_at(resolution_k: float, k: float, z_critical: float) -> float:
    """The same resolution stated at another critical |z| (Holm's for a case, instead of k):
    resolution ∝ (critical + z_0.80), so × (z_critical + z_0.80)/(k + z_0.80); ∞ stays ∞."""
    return resolution_k * (z_critical + Z_POWER) / (k + Z_POWER)


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


SigmaAt = Callable[[float], Sequence[float]]  # c ↦ every run's σ_c,r (SE of P_r − c·T_r)


def stouffer_weights(sigmas_1: Sequence[float]) -> list[float]:
    """w_r = 1/σ_1,r: the weight Stouffer's Z = Σ_r z_r/√R gives run r's difference P_r − T_r
    (checks.md, "One estimator behind every pooled number"). NaN for a σ_1 that is not finite
    and > 0."""
    return [1.0 / s if math.isfinite(s) and s > 0.0 else math.nan for s in sigmas_1]


def _finite(*xs: float) -> bool:
    return all(math.isfinite(x) for x in xs)


def weighted_ratio(predictions: Sequence[float], truths: Sequence[float], weights: Sequence[float]) -> float:
    """ρ̂ = Σ_r w_r·P_r / Σ_r w_r·T_r (NaN when Σ w·T = 0 or an input is not finite)."""
    num = sum(w * p for w, p in zip(weights, predictions))
    den = sum(w * t for w, t in zip(weights, truths))
    if not _finite(num, den) or den == 0.0:
        return math.nan
    return num / den


def t_statistic(c: float, predictions: Sequence[float], truths: Sequence[float], weights: Sequence[float],
                sigma_at: SigmaAt) -> float:
    """t(c) = s·Σ_r w_r(P_r − c·T_r) / √(Σ_r w_r²σ_{c,r}²), s = sign(Σ_r w_r·T_r) (0 when that
    sum is 0); NaN when not finite or the variance is 0."""
    den = sum(w * t for w, t in zip(weights, truths))
    s = math.copysign(1.0, den) if den != 0.0 else 0.0
    diff = sum(w * (p - c * t) for w, p, t in zip(weights, predictions, truths))
    var = sum((w * sc) ** 2 for w, sc in zip(weights, sigma_at(c)))
    if not _finite(diff, var) or var <= 0.0:
        return math.nan
    return s * diff / math.sqrt(var)


def ratio_se(predictions: Sequence[float], truths: Sequence[float], weights: Sequence[float],
             sigma_at: SigmaAt) -> float:
    """Delta-method SE of ρ̂: √(Σ_r w_r²σ_{ρ̂,r}²) / |Σ_r w_r·T_r| (σ_{ρ̂,r}: σ_c of run r at c = ρ̂);
    NaN when ρ̂ is not finite."""
    rho = weighted_ratio(predictions, truths, weights)
    if not math.isfinite(rho):
        return math.nan
    var = sum((w * sc) ** 2 for w, sc in zip(weights, sigma_at(rho)))
    den = abs(sum(w * t for w, t in zip(weights, truths)))
    return math.sqrt(var) / den if _finite(var) else math.nan


def _quadratic(sigma_at: SigmaAt, weights: Sequence[float]) -> tuple[float, float, float]:
    """Σ_r w_r²σ_{c,r}² = A − 2Bc + Cc² (each σ_c² is quadratic in c): read off at c = 0, ±1."""
    def v(c: float) -> float:
        return sum((w * sc) ** 2 for w, sc in zip(weights, sigma_at(c)))

    v0, v1, vm = v(0.0), v(1.0), v(-1.0)
    return v0, (vm - v1) / 4.0, (v1 + vm) / 2.0 - v0


def fieller_interval(predictions: Sequence[float], truths: Sequence[float], sigma_at: SigmaAt, z: float,
                     weights: Sequence[float] | None = None) -> tuple[float, float]:
    """The Fieller set {c : |t(c)| ≤ z} = {c : (Σw·P − c·Σw·T)² ≤ z²·Σ_r w_r²σ_{c,r}²} of ρ̂
    (``weights`` None: equal weights, ΣP/ΣT). (lo, hi) when bounded; (−∞, ∞) when Σw·T is not
    significantly non-zero (the set is then unbounded); (nan, nan) when not finite."""
    w = [1.0] * len(truths) if weights is None else list(weights)
    P = sum(wr * p for wr, p in zip(w, predictions))
    T = sum(wr * t for wr, t in zip(w, truths))
    A, B, C = _quadratic(sigma_at, w)
    a, b, c = T * T - z * z * C, P * T - z * z * B, P * P - z * z * A
    if not all(math.isfinite(x) for x in (a, b, c)):
        return math.nan, math.nan
    disc = b * b - a * c
    if a <= 0.0 or disc < 0.0:
        return -math.inf, math.inf
    root = math.sqrt(disc)
    return (b - root) / a, (b + root) / a


def tost(predictions: Sequence[float], truths: Sequence[float], sigma_lo: Sequence[float],
         sigma_hi: Sequence[float], delta: float, alpha: float, weights: Sequence[float] | None = None) -> Tost:
    """TOST in Fieller form (module docstring): t_lo = t(1 − δ), t_hi = t(1 + δ) with Stouffer's
    ``weights`` (None: equal). ``sigma_lo``/``sigma_hi``: each run's σ_c at c = 1 − δ and
    c = 1 + δ. Not finite (any input NaN, or a zero σ) → verdict not_finite."""
    z = normal_quantile(1.0 - alpha)
    w = [1.0] * len(truths) if weights is None else list(weights)
    t_lo = t_statistic(1.0 - delta, predictions, truths, w, lambda _c: sigma_lo)
    t_hi = t_statistic(1.0 + delta, predictions, truths, w, lambda _c: sigma_hi)
    return Tost(t_lo, t_hi, z, tost_decision(t_lo, t_hi, z))


def tost_decision(t_lo: float, t_hi: float, z: float) -> "Equivalence":
    """Two one-sided tests (Schuirmann 1987) from their statistics at the lower and upper bound:
    demonstrated when t_lo > z and t_hi < −z, out of tolerance when t_lo < −z or t_hi > z, else
    not demonstrated; not finite when either statistic is NaN or infinite. The one rule behind
    the pooled TOST (t(1 ∓ δ)) and the baseline comparison's ((d ± δ)/se_d)."""
    if not (math.isfinite(t_lo) and math.isfinite(t_hi)):
        return Equivalence.NOT_FINITE
    if t_lo > z and t_hi < -z:
        return Equivalence.DEMONSTRATED
    if t_lo < -z or t_hi > z:
        return Equivalence.OUT_OF_TOLERANCE
    return Equivalence.NOT_DEMONSTRATED


# --------------------------------------------------------------------------- heterogeneity


@dataclass(frozen=True)
class Heterogeneity:
    """Q = min_c Σ_r (P_r − c·T_r)²/σ_{c,r}² at its minimiser ``c``, each run's share of it
    (``terms``, in the runs' order), its degrees of freedom R − 1 and p = P(χ²_{R−1} ≥ Q)."""

    q: float
    c: float
    terms: tuple[float, ...]
    dof: int
    p_value: float


def heterogeneity(predictions: Sequence[float], truths: Sequence[float], sigma_at: SigmaAt) -> Heterogeneity:
    """Cochran's Q of the runs' ratios in Fieller form (checks.md, "Heterogeneity"):

        Q = min_c Σ_r (P_r − c·T_r)² / σ_{c,r}²      ~ χ²_{R−1} when every run has ratio c

    The minimum is sought over the span of the runs' own ratios P_r/T_r: each term is 0 at its
    run's ratio and grows away from it up to its one interior maximum (a ratio of quadratics
    in c), so no smaller value lies just outside. A grid of 201 points, then golden-section
    search in the best cell. NaN (p NaN) for fewer than 2 runs, a run with T_r = 0 or input
    that is not finite."""
    P = np.asarray(predictions, dtype=np.float64)
    T = np.asarray(truths, dtype=np.float64)
    R = P.size
    nan = Heterogeneity(math.nan, math.nan, tuple([math.nan] * R), max(R - 1, 0), math.nan)
    if R < 2 or not (np.isfinite(P).all() and np.isfinite(T).all()) or (T == 0.0).any():
        return nan
    # each run's σ_c² = a_r − 2b_r·c + C_r·c², read off at c = 0, ±1
    s0, s1, sm = (np.asarray(sigma_at(c), dtype=np.float64) ** 2 for c in (0.0, 1.0, -1.0))
    a, b, C = s0, (sm - s1) / 4.0, (s1 + sm) / 2.0 - s0
    if not all(np.isfinite(x).all() for x in (a, b, C)):
        return nan

    def terms(c: np.ndarray) -> np.ndarray:  # c: shape (m,) → (m, R)
        c = c[:, None]
        var = a - 2.0 * b * c + C * c * c
        with np.errstate(all="ignore"):
            out = (P - c * T) ** 2 / var
        return np.where(var > 0.0, out, np.where((P - c * T) == 0.0, 0.0, np.inf))

    ratios = P / T
    lo, hi = float(ratios.min()), float(ratios.max())
    if lo == hi:
        best = lo
    else:
        grid = np.linspace(lo, hi, 201)
        i = int(np.argmin(terms(grid).sum(axis=1)))
        left, right = float(grid[max(i - 1, 0)]), float(grid[min(i + 1, grid.size - 1)])
        runs = list(zip(P.tolist(), T.tolist(), a.tolist(), b.tolist(), C.tolist()))

        def q_at(c: float) -> float:  # scalar Q(c) for the golden-section steps
            total = 0.0
            for p_r, t_r, a_r, b_r, c_r in runs:
                var = a_r - 2.0 * b_r * c + c_r * c * c
                d = p_r - c * t_r
                total += d * d / var if var > 0.0 else (0.0 if d == 0.0 else math.inf)
            return total

        g = (math.sqrt(5.0) - 1.0) / 2.0
        x1, x2 = right - g * (right - left), left + g * (right - left)
        q1, q2 = q_at(x1), q_at(x2)
        for _ in range(60):  # golden section: the bracket shrinks by 0.618 a step (to ~1e-12 of a cell)
            if q1 <= q2:
                right, x2, q2 = x2, x1, q1
                x1 = right - g * (right - left)
                q1 = q_at(x1)
            else:
                left, x1, q1 = x1, x2, q2
                x2 = left + g * (right - left)
                q2 = q_at(x2)
        candidates = np.array([grid[i], 0.5 * (left + right)])
        best = float(candidates[int(np.argmin(terms(candidates).sum(axis=1)))])
    each = terms(np.array([best]))[0]
    Q = float(each.sum())
    return Heterogeneity(Q, best, tuple(float(x) for x in each), R - 1, chi2_sf(Q, R - 1))


def chi2_sf(x: float, dof: int) -> float:
    """P(χ²_dof ≥ x) = Γ(dof/2, x/2)/Γ(dof/2), the regularized upper incomplete gamma
    (Numerical Recipes §6.2: the series of P(a, x) for x < a + 1, Lentz's continued fraction
    of Q(a, x) otherwise; relative accuracy ~1e-14). NaN for NaN x or dof < 1; 1 for x ≤ 0."""
    if math.isnan(x) or dof < 1:
        return math.nan
    if x <= 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    return _gamma_q(0.5 * dof, 0.5 * x)


def _gamma_q(a: float, x: float) -> float:
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:  # P(a, x) = e^{−x} x^a / Γ(a) · Σ_n x^n / (a (a+1) … (a+n))
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300  # Q(a, x) = e^{−x} x^a / Γ(a) · 1/(x + 1 − a − 1·(1 − a)/(x + 3 − a − …))
    bb = x + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / bb
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        bb += 2.0
        d = an * d + bb
        d = tiny if abs(d) < tiny else d
        c = bb + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-16:
            break
    return math.exp(log_front) * h


def holm_z(alpha: float, m: int, rank: int) -> float:
    """Holm's critical |z| for the case of 0-based ``rank`` (ascending p) in a family of m:
    p ≤ α/(m − rank) ⇔ |z| ≥ z_{1 − α/(2(m − rank))} (Holm 1979, two-sided), computed as
    −z_{α/(2(m − rank))} so that α = 1e-80 does not round 1 − α/2 to 1."""
    return -normal_quantile(alpha / (2.0 * (m - rank)))


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
    1.904 → "190 %", 0.0412 → "4.1 %", 2200.4 → "220 000 %" (thin-space groups); "∞" for
    infinity."""
    if not math.isfinite(x):
        return "∞ %" if x > 0 else "n/a"
    v = float(f"{abs(x) * 100:.2g}")
    return f"{v:,.0f} %".replace(",", " ") if v >= 10 else f"{v:.2g} %"


def about(x: float) -> str:
    """A count rounded to 2 significant figures with a thin space: 3697 → "3 700", 58 → "58"."""
    if not math.isfinite(x):
        return "∞"
    v = int(float(f"{x:.2g}")) if x >= 100 else int(math.ceil(x))
    return f"{v:,}".replace(",", " ")

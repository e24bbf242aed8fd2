"""Pareto k-hat diagnostic of importance ratios (PSIS), pure numpy.

References
----------
* Vehtari, Simpson, Gelman, Yao, Gabry (2024), "Pareto smoothed importance sampling",
  JMLR 25(72). Tail length M, sample-size dependent threshold, weakly informative prior.
* Zhang & Stephens (2009), "A new and efficient estimation method for the generalized
  Pareto distribution", Technometrics 51:316-325. Empirical-Bayes GPD fit.
* Reference implementations followed: ``posterior::gpdfit`` / ``loo::psis`` (R) and
  ``arviz.stats.stats._psislw`` / ``_gpdfit`` (Python).

Sign convention: k > 0 is a heavy (power-law) tail, k = 0 exponential, k < 0 bounded.
The ratios have finite variance iff k < 1/2 and finite mean iff k < 1.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MIN_TAIL",
    "MIN_DISTINCT",
    "REASON_ALL_EQUAL",
    "ParetoKhat",
    "gpd_fit",
    "khat_threshold",
    "pareto_khat",
    "tail_length",
]

#: Minimum number of strictly positive exceedances for a GPD fit (loo/arviz: tail_len >= 5).
MIN_TAIL = 5
#: Minimum number of distinct exceedance values for a GPD fit.
MIN_DISTINCT = 3
#: ``ParetoKhat.reason`` when every importance ratio is identical (perfect, zero-variance
#: weights). Callers may treat this case as a pass.
REASON_ALL_EQUAL = "all importance ratios equal"

_PRIOR_BS = 3.0  # Zhang & Stephens grid scale
_PRIOR_K = 10.0  # PSIS weakly informative prior: pseudo-count 10 at k = 0.5
_TINY = float(np.finfo(np.float64).tiny)  # smallest normal float64


def _as_count(n) -> int:
    n = operator.index(n)
    if n < 1:
        raise ValueError(f"sample size must be >= 1, got {n}")
    return n


def tail_length(n: int) -> int:
    """Tail length M = ceil(min(0.2 n, 3 sqrt(n))) (Vehtari et al., JMLR 2024, with r_eff = 1).

    Computed in exact integer arithmetic: M = min(ceil(n/5), ceil(sqrt(9 n))). (loo/arviz use
    floating point, where e.g. 0.2*15 = 3.0000000000000004 gives 4 instead of 3; this only
    affects multiples of 5 below n = 225.)
    """
    n = _as_count(n)
    a = -(-n // 5)  # ceil(n / 5)
    s = math.isqrt(9 * n)
    b = s if s * s == 9 * n else s + 1  # ceil(3 sqrt(n))
    return min(a, b)


def khat_threshold(n: int) -> float:
    """Sample-size dependent k-hat threshold min(1 - 1/log10(n), 0.7) (Vehtari et al., 2024).

    Capped at 0.7 for n >= 10**(10/3) ~ 2155. Negative for n < 10; n = 1 returns -inf
    (the limit), since log10(1) = 0.
    """
    n = _as_count(n)
    if n == 1:
        return -math.inf
    return min(1.0 - 1.0 / math.log10(n), 0.7)


def _gpd_fit_sorted(x: np.ndarray) -> tuple[float, float]:
    """Zhang-Stephens fit on ascending, strictly positive, finite x (no validation)."""
    N = x.size
    scale = x[-1]
    y = x / scale  # the estimator is scale-equivariant; keeps y in (0, 1]
    m = 30 + math.isqrt(N)
    j = np.arange(1, m + 1, dtype=np.float64)
    xstar = y[max((N + 2) // 4, 1) - 1]  # x[floor(N/4 + 1/2)] (1-based): first quartile
    # grid of theta (= -k/sigma in Zhang-Stephens' parametrisation), all < 1/x_max
    theta = 1.0 / y[-1] + (1.0 - np.sqrt(m / (j - 0.5))) / (_PRIOR_BS * xstar)
    k = np.log1p(-np.outer(theta, y)).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # -theta/k -> 1/mean(y) as theta -> 0 (exponential limit; theta == 0 can happen exactly
        # for tied / integer-valued data)
        inv_sigma = np.where(k != 0.0, -theta / k, 1.0 / y.mean())
        ll = N * (np.log(inv_sigma) - k - 1.0)  # profile log-likelihood
    ll = np.where(np.isfinite(ll), ll, -np.inf)  # defensive: drop any degenerate node
    w = np.exp(ll - ll.max())
    w /= w.sum()
    theta_hat = float(w @ theta)
    k_hat = float(np.log1p(-theta_hat * y).mean())
    sigma = (-k_hat / theta_hat if theta_hat != 0.0 else float(y.mean())) * float(scale)
    k_hat = (N * k_hat + _PRIOR_K * 0.5) / (N + _PRIOR_K)  # weakly informative prior
    return k_hat, sigma


def _log1p_scaled(beta: np.ndarray, d: np.ndarray) -> np.ndarray:
    """log1p(beta * exp(d)) without overflow, for beta * exp(d) > -1 (elementwise, broadcast).

    beta > 0: logaddexp(0, log(beta) + d) (exact rewrite of log(1 + e^t));
    beta < 0: log1p(-exp(log(-beta) + d)), where the exponent is < 0; beta = 0: 0.
    """
    beta, d = np.broadcast_arrays(beta, d)
    out = np.zeros(beta.shape)
    with np.errstate(divide="ignore"):
        mag = np.log(np.abs(beta))
    pos, neg = beta > 0, beta < 0
    out[pos] = np.logaddexp(0.0, mag[pos] + d[pos])
    out[neg] = np.log1p(-np.exp(mag[neg] + d[neg]))
    return out


def _gpd_fit_log(log_x: np.ndarray) -> tuple[float, float]:
    """The fit of :func:`_gpd_fit_sorted` from ascending log-exceedances l_i = log x_i, for
    tails whose exceedances span more than the float64 range (subnormal or overflowing
    ratios x_(N)/x*). Same estimator, computed in the units of x* = x_(floor(N/4 + 1/2)):
    with d_i = l_i − l*, r = exp(l* − l_N) and beta_j = −theta_j·x* = −(1 − sqrt(m/(j − 1/2)))/3 − r,

        k(theta_j) = mean_i log1p(beta_j e^{d_i})            (:func:`_log1p_scaled`)
        l(theta_j) = N (log(beta_j / k_j) − k_j − 1)        (+ a constant common to all j)

    and log(1/mean(y)) in the exponential limit k_j = 0. sigma = (k/beta_hat)·x* (may
    under/overflow; informational). Agrees with the direct fit to ~1e-13 where both run.
    """
    N = log_x.size
    m = 30 + math.isqrt(N)
    j = np.arange(1, m + 1, dtype=np.float64)
    l_star = log_x[max((N + 2) // 4, 1) - 1]
    d = log_x - l_star
    r = math.exp(l_star - log_x[-1])
    beta = -(1.0 - np.sqrt(m / (j - 0.5))) / _PRIOR_BS - r
    k = _log1p_scaled(beta[:, None], d[None, :]).mean(axis=1)
    log_mean_y = float(np.logaddexp.reduce(d)) - math.log(N)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_inv_sigma = np.where(k != 0.0, np.log(beta / k), -log_mean_y)
        ll = N * (log_inv_sigma - k - 1.0)
    ll = np.where(np.isfinite(ll), ll, -np.inf)
    w = np.exp(ll - ll.max())
    w /= w.sum()
    beta_hat = float(w @ beta)
    k_hat = float(_log1p_scaled(np.array([beta_hat]), d).mean())
    with np.errstate(over="ignore", under="ignore"):
        if beta_hat != 0.0:
            sigma = float(np.exp(math.log(k_hat / beta_hat) + l_star))
        else:
            sigma = float(np.exp(log_mean_y + l_star))
    k_hat = (N * k_hat + _PRIOR_K * 0.5) / (N + _PRIOR_K)
    return k_hat, sigma


def gpd_fit(exceedances: np.ndarray) -> tuple[float, float]:
    """Empirical-Bayes GPD fit of Zhang & Stephens (2009) with the PSIS prior on k.

    With x_(1) <= ... <= x_(N) the sorted exceedances, m = 30 + floor(sqrt(N)),
    x* = x_(floor(N/4 + 1/2)) (first quartile):

        theta_j = 1/x_(N) + (1 - sqrt(m / (j - 1/2))) / (3 x*),   j = 1..m
        k(theta) = mean_i log1p(-theta x_i)
        l(theta) = N (log(-theta / k(theta)) - k(theta) - 1)       (profile log-lik)
        theta_hat = sum_j theta_j softmax(l)_j
        k = mean_i log1p(-theta_hat x_i),  sigma = -k / theta_hat
        k <- (N k + 10 * 0.5) / (N + 10)                            (Vehtari et al. 2024)

    sigma is computed before the prior adjustment (as in loo/arviz). Returns (k, sigma),
    k > 0 = heavy tail (scipy ``genpareto`` c = k).

    ``exceedances`` must be a non-empty 1-D array of finite, strictly positive values
    (ties at the threshold, i.e. zeros, must be removed by the caller); else ValueError.
    """
    x = np.asarray(exceedances, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"exceedances must be a non-empty 1-D array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("exceedances must be finite")
    if not np.all(x > 0):
        raise ValueError("exceedances must be strictly positive (drop ties at the threshold)")
    return _gpd_fit_sorted(np.sort(x))


@dataclass(frozen=True)
class ParetoKhat:
    """Result of :func:`pareto_khat`.

    khat:        estimated GPD shape of the upper tail, or None if it cannot be estimated
    tail_length: nominal tail length M = tail_length(n) (ties at the threshold are excluded
                 from the fit, so the fit may use fewer than M values)
    n:           number of log-weights
    threshold:   khat_threshold(n)
    reason:      "" when estimated, else why not (== REASON_ALL_EQUAL for equal weights)
    """

    khat: float | None
    tail_length: int
    n: int
    threshold: float
    reason: str


def _checked(log_weights) -> np.ndarray:
    """``log_weights`` as a float64 1-D array; ValueError for empty, NaN, +inf or all -inf."""
    lw = np.asarray(log_weights, dtype=np.float64)
    if lw.ndim != 1 or lw.size == 0:
        raise ValueError(f"log_weights must be a non-empty 1-D array, got shape {lw.shape}")
    if np.isnan(lw).any() or np.isposinf(lw).any():
        raise ValueError("log_weights contain NaN or +inf")
    if lw.max() == -np.inf:
        raise ValueError("log_weights are all -inf (all importance ratios are zero)")
    return lw


def _tail_khat(tail: np.ndarray, u: float) -> float:
    """k of the GPD fitted to the exceedances exp(tail) − exp(u) (shifted log scale, sorted
    tail > u): directly when no exceedance is subnormal (bitwise as loo/arviz), else in log space."""
    with np.errstate(under="ignore"):
        exc = np.exp(tail) * -np.expm1(u - tail)  # r - u, with r = exp(x), u = exp(u_log)
    k = math.nan
    if exc.min() >= _TINY:
        exc.sort()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            k, _ = _gpd_fit_sorted(exc)
    if not math.isfinite(k):  # exceedances beyond the float64 range: fit in log space
        log_exc = np.sort(tail + np.log(-np.expm1(u - tail)))
        k, _ = _gpd_fit_log(log_exc)
    return k


def pareto_khat(log_weights: np.ndarray) -> ParetoKhat:
    """Pareto k-hat of the upper tail of r = exp(log_weights - max(log_weights)).

    Algorithm (PSIS, Vehtari et al. 2024): M = tail_length(n); the M largest ratios form the
    tail and the (M+1)-th largest, u, is the threshold; the exceedances r - u of the tail
    values with r > u are fitted with :func:`gpd_fit`. Exceedances are computed as
    exp(x) * (-expm1(u_log - x)) in the shifted log scale (accurate for near-ties).

    Ties: tail values equal to u (zero exceedances) are dropped before the fit, as in arviz
    (``x > xcutoff``); loo keeps them as zeros, which biases k towards 0 and can produce NaN.
    khat is None (with ``reason``) when
      * M < 5 (n <= 20),
      * all ratios are equal: reason == REASON_ALL_EQUAL (a perfectly light tail; weights
        carry no variance, so a caller may treat it as passing),
      * fewer than 5 tail values exceed u, or they take fewer than 3 distinct values
        (e.g. weights clipped so that the tail ties).
    Otherwise khat is a finite float (never NaN). Negative values mean a bounded tail.

    Tails spanning more than the float64 range (log-weights spread over ≳ 700 nats: the
    smallest exceedance is subnormal or 0, or 1/x* overflows in the fit) are fitted in log
    space (:func:`_gpd_fit_log`, the same estimator in shifted units), so k̂ is finite and
    large (e.g. 37.5 for 30·t₃ draws at n = 1482, seed 11) and the reliability check fails on it.
    ArviZ's ``_psislw`` instead floors the threshold at log(tiny) and fits only the tail above
    it (k̂ ≈ 51.5 there); both flag such weights as unusable.

    Invariant to permutations of log_weights (bitwise) and to adding a constant c
    (bitwise whenever lw + c - max(lw + c) == lw - max(lw) exactly in floating point).

    -inf entries are allowed and mean a ratio of exactly 0 (treated like any other value;
    if they reach the tail they tie at u = 0 and are dropped). NaN, +inf, all -inf, empty
    or non-1-D input raise ValueError. r_eff = 1 (independent draws) is assumed.
    """
    lw = _checked(log_weights)
    top = lw.max()
    n = lw.size
    M = tail_length(n)
    thr = khat_threshold(n)

    def fail(reason: str) -> ParetoKhat:
        return ParetoKhat(None, M, n, thr, reason)

    if M < MIN_TAIL:
        return fail(f"too few draws: n={n} gives tail length M={M} < {MIN_TAIL}")
    with np.errstate(over="ignore"):
        x = lw - top  # may overflow to -inf for spreads > 1.8e308: a ratio of 0, as documented
    if x.min() == 0.0:
        return fail(REASON_ALL_EQUAL)

    kth = n - M - 1
    part = np.partition(x, kth)[kth:]  # the M+1 largest; part[0] is the (M+1)-th largest
    part.sort()
    u = part[0]
    tail = part[1:]
    tail = tail[tail > u]  # drop ties at the threshold (zero exceedances)
    n_exc = tail.size
    if n_exc < MIN_TAIL:
        return fail(
            f"only {n_exc} of the M={M} tail ratios exceed the threshold (ties); "
            f"need >= {MIN_TAIL}"
        )
    n_distinct = 1 + int(np.count_nonzero(tail[1:] > tail[:-1]))
    if n_distinct < MIN_DISTINCT:
        return fail(f"tail has only {n_distinct} distinct values above the threshold")

    k = _tail_khat(tail, u)
    if not math.isfinite(k):  # defensive; not expected to happen
        return fail("GPD fit did not produce a finite k")
    return ParetoKhat(float(k), M, n, thr, "")

"""Tests for dhstats.stats.psis (Pareto k-hat diagnostic, PSIS)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from dhstats.stats.psis import (
    REASON_ALL_EQUAL,
    _gpd_fit_log,
    ParetoKhat,
    gpd_fit,
    khat_threshold,
    pareto_khat,
    tail_length,
)

# ----------------------------------------------------------------------------------------------
# Reference: direct transcription of arviz.stats.stats._gpdfit / _psislw (loop-free as there),
# used only to cross-check the vectorised implementation on tie-free data.
# ----------------------------------------------------------------------------------------------


def _ref_gpdfit(ary):
    prior_bs, prior_k = 3, 10
    n = len(ary)
    m_est = 30 + int(n**0.5)
    b_ary = 1 - np.sqrt(m_est / (np.arange(1, m_est + 1, dtype=float) - 0.5))
    b_ary /= prior_bs * ary[int(n / 4 + 0.5) - 1]
    b_ary += 1 / ary[-1]
    k_ary = np.log1p(-b_ary[:, None] * ary).mean(axis=1)
    len_scale = n * (np.log(-(b_ary / k_ary)) - k_ary - 1)
    weights = 1 / np.exp(len_scale - len_scale[:, None]).sum(axis=1)
    keep = weights >= 10 * np.finfo(float).eps
    weights, b_ary = weights[keep], b_ary[keep]
    weights /= weights.sum()
    b_post = np.sum(b_ary * weights)
    k_post = np.log1p(-b_post * ary).mean()
    sigma = -k_post / b_post
    k_post = (n * k_post + prior_k * 0.5) / (n + prior_k)
    return k_post, sigma


def _ref_khat(lw):
    n = len(lw)
    x = lw - lw.max()
    cutoff_ind = -int(np.ceil(min(0.2 * n, 3 * np.sqrt(n)))) - 1
    xs = np.sort(x)
    xcut = max(xs[cutoff_ind], np.log(np.finfo(float).tiny))
    tail = np.sort(x[x > xcut])
    return _ref_gpdfit(np.exp(tail) - np.exp(xcut))[0]


def _check_result(res: ParetoKhat, n: int) -> None:
    assert isinstance(res, ParetoKhat)
    assert res.n == n
    assert res.tail_length == tail_length(n)
    assert res.threshold == khat_threshold(n)
    if res.khat is None:
        assert res.reason
    else:
        assert isinstance(res.khat, float)
        assert math.isfinite(res.khat)
        assert res.reason == ""


# ----------------------------------------------------------------------------------------------
# tail_length / khat_threshold: exact numbers
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, expected",
    [
        (1, 1),  # min(0.2, 3) = 0.2 -> 1
        (15, 3),  # min(3, 11.62) = 3 -> 3 (float 0.2*15 = 3.0000000000000004 would give 4)
        (20, 4),  # min(4, 13.42) = 4 -> 4   (below MIN_TAIL = 5)
        (21, 5),  # min(4.2, 13.75) -> 5     (smallest n with M >= 5)
        (100, 20),  # min(20, 30) = 20
        (225, 45),  # min(45, 3*15 = 45) = 45
        (256, 48),  # min(51.2, 3*16 = 48) = 48
        (2048, 136),  # min(409.6, 3*45.2548 = 135.76) -> 136
        (4000, 190),  # min(800, 3*63.2456 = 189.74) -> 190
        (8192, 272),  # min(1638.4, 3*90.5097 = 271.53) -> 272
    ],
)
def test_tail_length_exact(n, expected):
    assert tail_length(n) == expected


def test_tail_length_matches_float_formula_off_multiples_of_5():
    for n in range(1, 20001):
        if n % 5:
            assert tail_length(n) == math.ceil(min(0.2 * n, 3 * math.sqrt(n))), n
        else:
            assert tail_length(n) == min(n // 5, math.ceil(3 * math.sqrt(n))), n


@pytest.mark.parametrize(
    "n, expected",
    [
        (10, 0.0),  # 1 - 1/1
        (100, 0.5),  # 1 - 1/2
        (1000, 1 - 1 / 3),  # 0.6667
        (256, 1 - 1 / math.log10(256)),  # 1 - 1/2.40824 = 0.58476
        (2048, 1 - 1 / math.log10(2048)),  # 1 - 1/3.31130 = 0.69800
        (2154, 1 - 1 / math.log10(2154)),  # log10 = 3.33325 -> 0.699995 (just below the cap)
        (2155, 0.7),  # log10 = 3.33345 -> 0.700013, capped
        (10**10, 0.7),  # 1 - 1/10 = 0.9, capped at 0.7
    ],
)
def test_khat_threshold_exact(n, expected):
    assert khat_threshold(n) == pytest.approx(expected, abs=1e-15)


def test_khat_threshold_small_n():
    assert khat_threshold(1) == -math.inf  # log10(1) = 0: the limit
    assert khat_threshold(2) == pytest.approx(1 - 1 / math.log10(2))  # -2.32
    assert khat_threshold(2048) == pytest.approx(0.698, abs=5e-4)


@pytest.mark.parametrize("bad", [0, -3])
def test_sizes_must_be_positive(bad):
    with pytest.raises(ValueError):
        tail_length(bad)
    with pytest.raises(ValueError):
        khat_threshold(bad)


# ----------------------------------------------------------------------------------------------
# gpd_fit
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gpd_fit_recovers_shape(k, seed):
    sigma = 2.0
    x = stats.genpareto.rvs(c=k, scale=sigma, size=5000, random_state=seed)
    k_hat, s_hat = gpd_fit(x)
    assert abs(k_hat - k) < 0.1
    assert s_hat == pytest.approx(sigma, rel=0.15)


def test_gpd_fit_bounded_tail_negative_k():
    x = stats.genpareto.rvs(c=-0.3, size=5000, random_state=3)
    k_hat, _ = gpd_fit(x)
    assert abs(k_hat - (-0.3)) < 0.1


def test_gpd_fit_matches_reference_and_prior():
    rng = np.random.default_rng(11)
    for size in (5, 7, 48, 136, 272, 1000):
        x = np.sort(stats.genpareto.rvs(c=0.4, size=size, random_state=rng))
        k, s = gpd_fit(x[::-1])  # order must not matter
        k_ref, s_ref = _ref_gpdfit(x)
        assert k == pytest.approx(k_ref, abs=1e-12)
        assert s == pytest.approx(s_ref, rel=1e-10)


def test_gpd_fit_prior_pulls_small_samples_to_half():
    # k_post = (M k + 5) / (M + 10): with M = 5 the prior has weight 2/3.
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    k, _ = gpd_fit(x)
    k_ref, _ = _ref_gpdfit(x)
    assert k == pytest.approx(k_ref, abs=1e-12)
    raw = (k * 15 - 5) / 5  # undo the prior
    assert raw < 0  # uniform-like data: bounded tail
    assert k > raw


def test_gpd_fit_scale_equivariant():
    x = stats.genpareto.rvs(c=0.3, size=200, random_state=5)
    k1, s1 = gpd_fit(x)
    k2, s2 = gpd_fit(1e-200 * x)
    assert k2 == pytest.approx(k1, abs=1e-12)
    assert s2 == pytest.approx(1e-200 * s1, rel=1e-10)


@pytest.mark.parametrize(
    "bad",
    [[], [[1.0, 2.0]], [1.0, 0.0, 2.0], [1.0, -1.0], [1.0, np.nan], [1.0, np.inf]],
)
def test_gpd_fit_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        gpd_fit(np.array(bad, dtype=float))


def test_gpd_fit_all_equal_is_finite():
    k, s = gpd_fit(np.full(10, 3.0))
    assert math.isfinite(k) and math.isfinite(s)


# ----------------------------------------------------------------------------------------------
# pareto_khat: reference values and known distributions
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [21, 100, 256, 2048, 4000, 8192])
def test_pareto_khat_matches_reference_psislw(n):
    lw = np.random.default_rng(n).normal(0.0, 1.0, n)
    res = pareto_khat(lw)
    _check_result(res, n)
    assert res.khat == pytest.approx(_ref_khat(lw), abs=1e-12)


def test_light_tail_below_half():
    # log ratios ~ N(0, 0.1^2), n = 2048 (M = 136): observed khat in about [-0.2, 0.1].
    for seed in range(20):
        res = pareto_khat(np.random.default_rng(seed).normal(0.0, 0.1, 2048))
        assert res.khat is not None and res.khat < 0.5
        assert res.khat < res.threshold


def test_heavy_tail_pareto_alpha_one():
    # r ~ Pareto(alpha = 1, x_m = 1): true k = 1.
    # n = 8192 (M = 272): seeds 0-9 all above 0.7 (over 300 seeds: mean 0.98, sd 0.11).
    for seed in range(10):
        lw = np.log1p(np.random.default_rng(seed).pareto(1.0, 8192))
        res = pareto_khat(lw)
        assert res.khat is not None and res.khat > 0.7 and res.khat > res.threshold
    # n = 2048 (M = 136): over 300 seeds mean 0.96, sd 0.16, 4 % below 0.7.
    ks = [pareto_khat(np.log1p(np.random.default_rng(s).pareto(1.0, 2048))).khat for s in range(20)]
    assert np.median(ks) > 0.85


def test_lognormal_sigma_one():
    # r = exp(z), z ~ N(0, 1), n = 4000 (M = 190). The lognormal is in the Gumbel domain
    # (asymptotic k = 0), but at this depth the pre-asymptotic khat is positive. Observed over
    # 200 seeds: mean 0.27, sd 0.09, range 0.07-0.53 (scipy's GPD MLE on the same exceedances
    # agrees); lower than the 0.5-0.6 sometimes quoted. Seed 0 gives 0.105.
    ks = np.array(
        [pareto_khat(np.random.default_rng(s).normal(0.0, 1.0, 4000)).khat for s in range(40)]
    )
    assert 0.18 < ks.mean() < 0.36
    assert np.all(ks < 0.7) and np.all(ks > -0.2)
    # with sigma = 2 the tail is clearly heavier
    ks2 = [pareto_khat(np.random.default_rng(s).normal(0.0, 2.0, 4000)).khat for s in range(10)]
    assert np.mean(ks2) > ks.mean() + 0.15


# ----------------------------------------------------------------------------------------------
# pareto_khat: ties, tiny inputs, special values
# ----------------------------------------------------------------------------------------------


def test_all_equal():
    for n in (21, 256, 2048):
        res = pareto_khat(np.full(n, -3.7))
        _check_result(res, n)
        assert res.khat is None and res.reason == REASON_ALL_EQUAL


@pytest.mark.parametrize("n", [1, 2, 5, 20])
def test_too_small(n):
    res = pareto_khat(np.random.default_rng(0).normal(size=n))
    _check_result(res, n)
    assert res.khat is None and "too few draws" in res.reason


def test_clipped_tail_ties():
    # weights clipped at their 90 % quantile: the M = 136 largest all tie with u -> no fit.
    lw = np.random.default_rng(1).normal(0.0, 1.0, 2048)
    lw = np.minimum(lw, np.quantile(lw, 0.9))
    res = pareto_khat(lw)
    _check_result(res, 2048)
    assert res.khat is None and "exceed the threshold" in res.reason


def test_two_distinct_tail_values():
    lw = np.zeros(256)
    lw[:40] = 1.0
    lw[40:45] = 2.0  # M = 48: u = 1, exceedances take 2 distinct values (e - 1, e^2 - 1)
    res = pareto_khat(lw)
    assert res.khat is None and "2 distinct" in res.reason


def test_zero_exceedances_mixed_with_positive():
    # M = 136 for n = 2048; make the 120 largest continuous and the next 100 tie, so the
    # threshold u ties with 16 tail values (zero exceedances) that are excluded from the fit.
    rng = np.random.default_rng(7)
    lw = rng.normal(0.0, 1.0, 2048)
    order = np.argsort(lw)
    lw[order[-220:-120]] = lw[order[-121]]  # ranks 121..220 tie with rank 121
    res = pareto_khat(lw)
    _check_result(res, 2048)
    assert res.khat is not None
    x = np.sort(lw - lw.max())
    u = x[-137]
    pos = x[-136:][x[-136:] > u]
    assert pos.size == 120
    assert res.khat == pytest.approx(gpd_fit(np.exp(pos) - np.exp(u))[0], abs=1e-12)
    assert res.khat == pytest.approx(_ref_khat(lw), abs=1e-12)  # arviz does the same


def test_minus_inf_is_zero_weight():
    rng = np.random.default_rng(3)
    lw = rng.normal(0.0, 1.0, 2048)
    base = pareto_khat(lw)
    lw2 = lw.copy()
    lw2[np.argsort(lw)[:100]] = -np.inf  # zero weights in the body: no effect on the tail
    assert pareto_khat(lw2) == base
    lw3 = np.full(2048, -np.inf)
    lw3[:3] = [0.0, -1.0, -2.0]  # only 3 non-zero ratios: tail ties at u = 0
    res = pareto_khat(lw3)
    _check_result(res, 2048)
    assert res.khat is None


@pytest.mark.parametrize(
    "bad",
    [
        np.array([]),
        np.array([[0.0, 1.0], [2.0, 3.0]]),
        np.array([0.0, np.nan] * 20),
        np.array([0.0, np.inf] * 20),
        np.full(30, -np.inf),
    ],
)
def test_pareto_khat_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        pareto_khat(bad)


def test_tail_beyond_float_range_gives_large_khat():
    # ratios exp(-10 i): the 136 largest span 1350 nats, beyond double precision. Fitted in
    # log space: k̂ finite and far above any threshold (was: None, "exceedances underflow").
    res = pareto_khat(-10.0 * np.arange(2048))
    _check_result(res, 2048)
    assert res.khat is not None and res.khat > 100 and res.khat > res.threshold


@pytest.mark.parametrize("seed, arviz", [(11, 51.52074585033826), (68, 54.27682602553719)])
def test_subnormal_smallest_exceedance(seed, arviz):
    # Regression: 30·t₃ log-weights at n = 1482 span ~740-750 nats over the
    # M = 116 tail; the smallest exceedance is subnormal (seed 11: 9.9e-324) or 0 (seed 68), so
    # 1/x* overflowed and the old code returned "GPD fit did not produce a finite k" (seed 11)
    # or "exceedances underflow" (seed 68). Now k̂ is finite and large, as in ArviZ, whose
    # _psislw floors the threshold at log(tiny) and fits the shorter tail above it (its k̂,
    # from the transcription _ref_khat, is given for comparison; both fail the threshold).
    lw = 30.0 * np.random.default_rng(seed).standard_t(3, 1482)
    res = pareto_khat(lw)
    _check_result(res, 1482)
    assert res.khat > 10 and res.khat > res.threshold
    assert _ref_khat(lw) == pytest.approx(arviz, rel=1e-12)


@pytest.mark.parametrize("size", [5, 7, 48, 136, 272, 1000])
def test_log_space_fit_matches_direct_fit(size):
    # the log-space fit is the same estimator: equal to the direct fit where both run, and
    # scale-equivariant far beyond the float64 range (shifts of ±800 nats)
    x = np.sort(stats.genpareto.rvs(c=0.4, size=size, random_state=size))
    k, s = gpd_fit(x)
    for c in (0.0, 800.0, -800.0):
        k_log, s_log = _gpd_fit_log(np.log(x) + c)
        assert k_log == pytest.approx(k, abs=1e-12)
        if c == 0.0:
            assert s_log == pytest.approx(s, rel=1e-12)


def test_accepts_lists_and_normalised_log_weights():
    lw = np.random.default_rng(9).normal(0.0, 1.0, 300)
    lw_norm = lw - np.log(np.sum(np.exp(lw)))  # log of normalised weights
    assert pareto_khat(list(lw)) == pareto_khat(lw)
    assert pareto_khat(lw_norm).khat == pytest.approx(pareto_khat(lw).khat, abs=1e-10)


# ----------------------------------------------------------------------------------------------
# Property tests (hypothesis)
# ----------------------------------------------------------------------------------------------

_finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
_any_finite = st.floats(allow_nan=False, allow_infinity=False)
_small_set = st.sampled_from([-3.0, -1.0, -0.5, 0.0, 0.25, 2.0])

_arrays = st.one_of(
    st.lists(_finite, min_size=1, max_size=400),
    st.lists(_any_finite, min_size=1, max_size=100),
    st.lists(_small_set, min_size=1, max_size=400),  # heavy ties
    st.lists(st.one_of(_small_set, _finite), min_size=1, max_size=400),
    st.lists(st.one_of(_small_set, st.just(-math.inf)), min_size=1, max_size=300).filter(
        lambda v: max(v) > -math.inf
    ),
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_arrays)
def test_never_raises_never_nan(values):
    res = pareto_khat(np.array(values, dtype=float))
    _check_result(res, len(values))


@settings(deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(21, 3000),
    st.floats(0.05, 3.0),
)
def test_never_nan_continuous(seed, n, scale):
    lw = np.random.default_rng(seed).normal(0.0, scale, n)
    res = pareto_khat(lw)
    _check_result(res, n)
    assert res.khat is not None


# dyadic log-weights j/64 and dyadic constants: lw + c and (lw + c) - max(lw + c) are exact,
# so the result must be bitwise identical.
_dyadic = st.lists(st.integers(-4000, 4000), min_size=1, max_size=600).map(
    lambda v: np.array(v, dtype=float) / 64.0
)


@settings(deadline=None)
@given(_dyadic, st.integers(-(2**30), 2**30))
def test_shift_invariance_exact(lw, c_int):
    c = c_int / 64.0
    assert pareto_khat(lw + c) == pareto_khat(lw)


@settings(deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1), st.integers(21, 4000), st.floats(-700.0, 700.0))
def test_shift_invariance_float(seed, n, c):
    lw = np.random.default_rng(seed).normal(0.0, 1.0, n)
    a, b = pareto_khat(lw), pareto_khat(lw + c)
    assert a.reason == b.reason
    assert b.khat == pytest.approx(a.khat, abs=1e-10)


@settings(deadline=None)
@given(
    st.one_of(
        st.lists(_finite, min_size=1, max_size=400),
        st.lists(_small_set, min_size=1, max_size=400),
    ),
    st.randoms(use_true_random=False),
)
def test_permutation_invariance(values, rnd):
    lw = np.array(values, dtype=float)
    perm = list(range(lw.size))
    rnd.shuffle(perm)
    assert pareto_khat(lw[perm]) == pareto_khat(lw)


@settings(deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1))
def test_light_tail_property(seed):
    res = pareto_khat(np.random.default_rng(seed).normal(0.0, 0.1, 2048))
    assert res.khat is not None and res.khat < 0.5


@settings(deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1))
def test_heavy_tail_property(seed):
    # Pareto(alpha = 1): k = 1. Over 300 seeds at n = 8192 (M = 272): mean 0.98, sd 0.11,
    # min 0.73, so "> 0.7" fails for ~0.5 % of seeds; a property over arbitrary seeds therefore
    # asserts the 4-sd bound 0.5 (the fixed-seed test above asserts > 0.7).
    res = pareto_khat(np.log1p(np.random.default_rng(seed).pareto(1.0, 8192)))
    assert res.khat is not None and res.khat > 0.5


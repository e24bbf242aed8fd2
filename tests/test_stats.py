"""Tests for dhstats.stats.stats: the numpy kernels of the ΔH gate.

Three layers:

1. exact numbers on tiny hand-built arrays (n = 3…5); each expected value is worked out by hand
   in a comment from the formula in shared/spec/checks.md or results-format.md;
2. hypothesis properties for every statistic (invariances, sums, bounds, monotonicity);
3. a seeded Monte Carlo calibration: σ_true (paired delta method) against the empirical
   spread of ΔH_true over repetitions of a model whose true ratio change is known exactly.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dhstats.stats import stats
from dhstats.stats.stats import (
    agreement_z,
    base_entropy_of,
    holm_reject,
    kish_ess,
    linquad_prediction,
    notebook_contributions,
    paired_influence,
    reported_total_se,
    se_ratio,
    se_sum,
    sigma_from,
    sigma_true_paired,
    snis_delta,
    snis_delta_uncorrected,
    snis_ratio,
    two_sided_p,
)

from builders import POS, SCALE, SIGNED, arrays, batches

# The small SNIS example used throughout section 1 (n = 3):
W3 = np.array([0.5, 0.25, 0.25])  # w̃, Σ = 1
T3 = np.array([1.0, 2.0, 1.0])  # D = Σ T = 4
HNEW3 = np.array([2.0, 3.0, 1.0])
HBASE3 = np.array([1.0, 3.0, 2.0])  # Σ h_base / Σ T = 6/4 = 1.5


# =========================================================================== 1. exact numbers


class TestSeSum:
    def test_hand_value(self):
        # mean 2.5, deviations ±1.5, ±0.5 → Σd² = 5, var(ddof=1) = 5/3, std = 1.2909944487358056
        # se_sum = √4 · std = 2.581988897471611
        assert se_sum([1.0, 2.0, 3.0, 4.0]) == pytest.approx(2 * math.sqrt(5 / 3), rel=1e-15)
        assert se_sum(np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(2.581988897471611, rel=1e-15)

    def test_three_values(self):
        # x = [0, 0, 3]: mean 1, Σd² = 1 + 1 + 4 = 6, var = 3, se_sum = √3·√3 = 3
        assert se_sum([0.0, 0.0, 3.0]) == pytest.approx(3.0, rel=1e-15)

    def test_constant_is_zero(self):
        assert se_sum([2.0, 2.0, 2.0]) == 0.0

    @pytest.mark.parametrize("x", [[], [1.0]])
    def test_fewer_than_two_is_nan(self, x):
        assert math.isnan(se_sum(x))


class TestSnis:
    def test_snis_ratio_and_delta(self):
        # Σ w̃ h_new = .5·2 + .25·3 + .25·1 = 2.0;  B = Σ w̃ T = .5 + .5 + .25 = 1.25
        # H_new = 2.0/1.25 = 1.6;  ΔH = 1.6 − H_base(=1.0) = 0.6
        assert snis_ratio(W3, T3, HNEW3) == pytest.approx(1.6, rel=1e-15)
        assert snis_delta(W3, T3, HNEW3, 1.0) == pytest.approx(0.6, rel=1e-14)

    def test_snis_ratio_ignores_weight_scale(self):
        # unnormalised weights [2, 1, 1]: Σ w h = 8, Σ w T = 5 → 1.6 as well
        assert snis_ratio(np.array([2.0, 1.0, 1.0]), T3, HNEW3) == pytest.approx(1.6, rel=1e-15)

    def test_uncorrected(self):
        # Σ w̃ h_new / (D · mean w̃) = 2.0 / (4 · 1/3) = 1.5;  − 1.0 → 0.5
        assert snis_delta_uncorrected(W3, T3, HNEW3, 1.0) == pytest.approx(0.5, rel=1e-15)

    def test_base_entropy_of(self):
        # Σ h_base / Σ T = 6 / 4
        assert base_entropy_of(HBASE3, T3) == 1.5

    def test_notebook_contributions(self):
        # c_i = w̃_i h_new_i / B − (T_i/D)·H_base with B = 1.25, D = 4, H_base = 1
        #     = [1/1.25, .75/1.25, .25/1.25] − [1/4, 2/4, 1/4] = [.8, .6, .2] − [.25, .5, .25]
        #     = [0.55, 0.1, −0.05];  Σ = 0.6 = snis_delta
        c = notebook_contributions(W3, T3, HNEW3, 1.0)
        np.testing.assert_allclose(c, [0.55, 0.1, -0.05], rtol=0, atol=1e-15)
        assert c.sum() == pytest.approx(snis_delta(W3, T3, HNEW3, 1.0), rel=1e-14)
        # unnormalised weights are normalised first: same split
        np.testing.assert_allclose(notebook_contributions(4 * W3, T3, HNEW3, 1.0), c, atol=1e-15)

    def test_kish_ess(self):
        # 1 / Σ w̃² = 1 / (.25 + .0625 + .0625) = 1/0.375 = 8/3; unnormalised [2,1,1]: 16/6 = 8/3
        assert kish_ess(W3) == pytest.approx(8 / 3, rel=1e-15)
        assert kish_ess(np.array([2.0, 1.0, 1.0])) == pytest.approx(8 / 3, rel=1e-15)
        assert kish_ess(np.ones(4)) == 4.0
        assert kish_ess(np.array([1.0, 0.0, 0.0])) == 1.0

    def test_kish_ess_huge_and_tiny_scales(self):
        # regression: (Σw)² overflowed for w ~ 1e160 and the old code gave
        # inf/inf = NaN; divided by max first, [2,1,1]·c gives 8/3 at any scale.
        for c in (1e160, 1e300, 1e-300, 5e-324):  # 5e-324: the smallest subnormal
            assert kish_ess(c * np.array([2.0, 1.0, 1.0])) == pytest.approx(8 / 3, rel=1e-15)

    def test_kish_ess_degenerate_is_nan(self):
        assert math.isnan(kish_ess(np.zeros(3)))  # no weight at all: no ESS
        assert math.isnan(kish_ess(np.array([1.0, np.inf])))
        assert math.isnan(kish_ess(np.array([1.0, np.nan])))
        assert math.isnan(kish_ess(np.array([])))


class TestPaired:
    def test_paired_influence_hand_value(self):
        # R1 = 1.6 (above), R0 = 6/4 = 1.5, Σ w̃T = 1.25, D = 4
        # h_new − R1 T = [0.4, −0.2, −0.6]; ·w̃ = [0.2, −0.05, −0.15]; /1.25 = [0.16, −0.04, −0.12]
        # h_base − R0 T = [−0.5, 0, 0.5];   /4 = [−0.125, 0, 0.125]
        # ψ = [0.285, −0.04, −0.245]  (Σ ψ = 0)
        psi = paired_influence(W3, T3, HNEW3, HBASE3)
        np.testing.assert_allclose(psi, [0.285, -0.04, -0.245], rtol=0, atol=1e-15)
        assert abs(psi.sum()) < 1e-15

    def test_sigma_true_paired_hand_value(self):
        # Σ ψ² = .081225 + .0016 + .060025 = .14285;  σ = √(3/2 · .14285) = √.214275 = 0.462898…
        assert sigma_true_paired(W3, T3, HNEW3, HBASE3) == pytest.approx(math.sqrt(1.5 * 0.14285), rel=1e-13)
        assert sigma_true_paired(W3, T3, HNEW3, HBASE3) == pytest.approx(0.46289847699036557, rel=1e-13)

    def test_sigma_true_paired_n1_is_nan(self):
        one = np.array([1.0])
        assert math.isnan(sigma_true_paired(one, one, one, one))

class TestReportedSE:
    def test_reported_total_se_conventions(self):
        assert reported_total_se(0.1, 32, "total") == 0.1
        assert reported_total_se(0.1, 32, "shard-mean") == pytest.approx(3.2, rel=1e-15)  # M·se_shard
        assert reported_total_se(None, 32, "shard-mean") is None
        assert reported_total_se(0.1, None, "shard-mean") is None  # cannot convert without M
        assert reported_total_se(0.1, None, "total") == 0.1
        with pytest.raises(ValueError, match="convention"):
            reported_total_se(0.1, 32, "mean")

    def test_sigma_from(self):
        x = np.array([1.0, 2.0, 3.0, 4.0])
        s = sigma_from(x, 99.0, 8, "total")  # per-sequence wins over the reported value
        assert s.value == pytest.approx(2.581988897471611, rel=1e-15)
        assert s.source == "per_sequence"
        r = sigma_from(None, 0.5, 8, "total")
        assert (r.value, r.source) == (0.5, "reported")
        m = sigma_from(None, 0.5, 8, "shard-mean")
        assert (m.value, m.source) == (4.0, "reported ×num_shards")
        assert sigma_from(np.array([1.0]), 0.5, None, "total").source == "reported"  # n < 2
        assert sigma_from(None, None, 8, "total") is None

    def test_se_ratio_and_shard_mean(self):
        # se_sum([1,2,3,4]) = 2.5819888…; a producer reporting se_sum/M with M = 4 gives ρ = 1/4,
        # ρ·M = 1: the shard-mean convention
        x = np.array([1.0, 2.0, 3.0, 4.0])
        r = se_ratio(2.581988897471611 / 4, x, 4)
        assert r.rho == pytest.approx(0.25, rel=1e-14)
        assert r.measured == pytest.approx(2.581988897471611, rel=1e-15)
        assert r.shard_mean((1 / 3, 3.0))
        assert not se_ratio(2.581988897471611, x, 4).shard_mean((1 / 3, 3.0))  # ρ·M = 4
        assert not se_ratio(2.581988897471611 / 4, x, None).shard_mean((1 / 3, 3.0))
        assert not se_ratio(2.581988897471611, x, 1).shard_mean((1 / 3, 3.0))  # M = 1: no evidence
        assert se_ratio(1.0, np.array([2.0, 2.0, 2.0]), 4).rho == math.inf  # nothing measured

    def test_se_ratio_non_finite_is_nan(self):
        # regression: 0/0 gave inf, and a NaN measurement (n = 1) gave ρ = inf
        x = np.array([1.0, 2.0, 3.0, 4.0])
        assert math.isnan(se_ratio(0.0, np.array([2.0, 2.0]), 4).rho)
        assert math.isnan(se_ratio(1.0, np.array([2.0]), 4).rho)
        assert math.isnan(se_ratio(math.inf, x, 4).rho)
        assert math.isnan(se_ratio(math.nan, x, 4).rho)
        assert math.isnan(se_ratio(1.0, np.array([1.0, np.inf]), 4).rho)


class TestAgreement:
    def test_agreement_z(self):
        # (1.0 − 0.5) / √(0.3² + 0.4²) = 0.5 / 0.5 = 1
        assert agreement_z(1.0, 0.5, 0.3, 0.4) == pytest.approx(1.0, rel=1e-15)
        assert agreement_z(0.5, 1.0, 0.3, 0.4) == pytest.approx(-1.0, rel=1e-15)
        # three parts (lin+quad): (3 − 1)/√(1² + 2² + 2²) = 2/3
        assert agreement_z(3.0, 1.0, 1.0, 2.0, 2.0) == pytest.approx(2 / 3, rel=1e-15)

    def test_agreement_z_non_finite_is_nan(self):
        # regression: an infinite σ gave z = 0, a pass
        assert math.isnan(agreement_z(1.0, 0.5, math.inf))
        assert math.isnan(agreement_z(1.0, 0.5, 0.3, math.inf))
        assert math.isnan(agreement_z(1.0, 0.5, math.nan))
        assert math.isnan(agreement_z(math.inf, 0.5, 0.3))
        assert math.isnan(agreement_z(1.0, -math.inf, 0.3))
        assert math.isnan(agreement_z(math.nan, 0.5, 0.3))

    def test_agreement_z_zero_sigma(self):
        assert agreement_z(1.0, 1.0, 0.0, 0.0) == 0.0
        assert agreement_z(2.0, 1.0, 0.0) == math.inf
        assert agreement_z(1.0, 2.0, 0.0) == -math.inf

    def test_linquad_prediction(self):
        # η G_q + ½ η² Q = 2·3 + ½·4·4 = 14
        assert linquad_prediction(2.0, 3.0, 4.0) == 14.0

    def test_two_sided_p(self):
        assert two_sided_p(0.0) == 1.0
        # the 97.5% normal quantile 1.959963984540054 gives p = 0.05; symmetric in z
        assert two_sided_p(1.959963984540054) == pytest.approx(0.05, rel=1e-12)
        assert two_sided_p(-1.959963984540054) == two_sided_p(1.959963984540054)
        # P(|N| ≥ 3) = 0.0026997960632601866 (erfc(3/√2))
        assert two_sided_p(3.0) == pytest.approx(0.0026997960632601866, rel=1e-12)
        assert two_sided_p(math.inf) == 0.0


class TestHolm:
    def test_known_vector(self):
        # m = 4, α = .05: sorted p = .005, .01, .03, .04 vs α/(m−j) = .0125, .0167, .025, .05
        # .005 ≤ .0125 ✓, .01 ≤ .0167 ✓, .03 > .025 ✗ stop → reject .005 and .01 only
        # (.04 ≤ .05 but Holm stops at the first acceptance)
        got = holm_reject([0.01, 0.04, 0.03, 0.005], 0.05)
        assert got.tolist() == [True, False, False, True]

    @pytest.mark.parametrize(
        "p, alpha, expected",
        [
            ([0.001, 0.5, 0.04], 0.05, [True, False, False]),  # .04 > α/2 = .025
            ([0.02, 0.049, 0.01], 0.05, [True, True, True]),  # .01≤.0167, .02≤.025, .049≤.05
            ([0.02, 0.02], 0.05, [True, True]),  # ties: .02 ≤ .025 and ≤ .05
            ([0.03, 0.03], 0.05, [False, False]),  # .03 > .025 at the first step
            ([0.05], 0.05, [True]),  # boundary: p ≤ α rejects
            ([], 0.05, []),
        ],
    )
    def test_cases(self, p, alpha, expected):
        assert holm_reject(p, alpha).tolist() == expected

    @pytest.mark.parametrize(
        "p, expected",
        [
            # regression: argsort put NaN last, the loop stopped before it and
            # the NaN case was "not rejected", i.e. passed
            ([0.001, math.nan], [True, True]),
            ([0.5, math.nan], [False, True]),
            ([math.nan], [True]),
            ([math.nan, math.nan], [True, True]),
            # NaN left out of the family: m = 2, .02 ≤ .025 and .04 ≤ .05 (with m = 3: none)
            ([0.02, math.nan, 0.04], [True, True, True]),
        ],
    )
    def test_nan_is_rejected_and_does_not_change_the_others(self, p, expected):
        assert holm_reject(p, 0.05).tolist() == expected


# =========================================================================== 2. properties

PROPS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

def _psi_scale(b) -> float:
    """Σ of the magnitudes entering ψ: the floating-point error of ψ is ~ε times this."""
    w, T, hn, hb = b["w"], b["T"], b["h_new"], b["h_base"]
    r1 = np.dot(w, hn) / np.dot(w, T)
    r0 = hb.sum() / T.sum()
    return float(np.sum(w * (hn + r1 * T)) / np.dot(w, T) + np.sum(hb + r0 * T) / T.sum())


def _permuted(b, *keys):
    p = b["perm"]
    return [b[k][p] for k in keys]


class TestSeSumProperties:
    @PROPS
    @given(x=st.integers(3, 50).flatmap(lambda n: arrays(n, SIGNED)), data=st.data())
    def test_permutation_invariant(self, x, data):
        perm = np.array(data.draw(st.permutations(range(x.size))))
        assert se_sum(x[perm]) == pytest.approx(se_sum(x), rel=1e-9, abs=1e-9 * np.abs(x).max())

    @PROPS
    @given(x=st.integers(3, 50).flatmap(lambda n: arrays(n, SIGNED)), c=SIGNED)
    def test_scales_with_abs_c_and_nonnegative(self, x, c):
        s = se_sum(x)
        assert s >= 0
        assert se_sum(c * x) == pytest.approx(abs(c) * s, rel=1e-9, abs=1e-9 * abs(c) * np.abs(x).max() * x.size)

    @PROPS
    @given(x=st.integers(3, 50).flatmap(lambda n: arrays(n, SIGNED)), a=SIGNED)
    def test_shift_invariant(self, x, a):
        tol = 1e-12 * (np.abs(x).max() + abs(a)) * x.size
        assert se_sum(x + a) == pytest.approx(se_sum(x), abs=tol)


class TestSnisProperties:
    @PROPS
    @given(b=batches(), c=SCALE)
    def test_ratio_and_delta_weight_scale_invariant(self, b, c):
        w, T, hn = b["w"], b["T"], b["h_new"]
        assert snis_ratio(c * w, T, hn) == pytest.approx(snis_ratio(w, T, hn), rel=1e-12)
        base = base_entropy_of(b["h_base"], T)
        # Δ = ratio − H_base may cancel: tolerance relative to the terms, not to Δ
        tol = 1e-12 * (abs(snis_ratio(w, T, hn)) + abs(base))
        assert snis_delta(c * w, T, hn, base) == pytest.approx(snis_delta(w, T, hn, base), abs=tol)
        assert snis_delta_uncorrected(c * w, T, hn, base) == pytest.approx(
            snis_delta_uncorrected(w, T, hn, base), abs=1e-12 * (abs(snis_delta_uncorrected(w, T, hn, 0.0)) + abs(base)))

    @PROPS
    @given(b=batches())
    def test_ratio_and_delta_permutation_invariant(self, b):
        w, T, hn, hb = b["w"], b["T"], b["h_new"], b["h_base"]
        pw, pT, phn, phb = _permuted(b, "w", "T", "h_new", "h_base")
        assert snis_ratio(pw, pT, phn) == pytest.approx(snis_ratio(w, T, hn), rel=1e-12)
        assert base_entropy_of(phb, pT) == pytest.approx(base_entropy_of(hb, T), rel=1e-12)
        base = base_entropy_of(hb, T)
        tol = 1e-12 * (abs(snis_ratio(w, T, hn)) + abs(base))
        assert snis_delta(pw, pT, phn, base) == pytest.approx(snis_delta(w, T, hn, base), abs=tol)

    @PROPS
    @given(b=batches())
    def test_notebook_contributions_sum_to_delta(self, b):
        w, T, hn = b["w"], b["T"], b["h_new"]
        base = base_entropy_of(b["h_base"], T)
        c = notebook_contributions(w, T, hn, base)
        tol = 1e-12 * (np.abs(c).sum() + abs(base))
        assert c.sum() == pytest.approx(snis_delta(w, T, hn, base), abs=tol)

    @PROPS
    @given(b=batches())
    def test_kish_ess_bounds(self, b):
        w = b["w"]
        n = w.size
        ess = kish_ess(w)
        assert 1.0 - 1e-12 <= ess <= n * (1 + 1e-12)
        assert kish_ess(w[b["perm"]]) == pytest.approx(ess, rel=1e-12)

    @PROPS
    @given(n=st.integers(3, 50), w=POS, c=SCALE)
    def test_kish_ess_equal_weights_is_n(self, n, w, c):
        assert kish_ess(np.full(n, w)) == pytest.approx(n, rel=1e-12)
        assert kish_ess(c * np.full(n, w)) == pytest.approx(n, rel=1e-12)


class TestPairedProperties:
    @PROPS
    @given(b=batches())
    def test_psi_sums_to_zero(self, b):
        psi = paired_influence(b["w"], b["T"], b["h_new"], b["h_base"])
        assert abs(psi.sum()) <= 1e-12 * _psi_scale(b)

    @PROPS
    @given(b=batches(), c=SCALE)
    def test_weight_scale_invariant(self, b, c):
        w, T, hn, hb = b["w"], b["T"], b["h_new"], b["h_base"]
        tol = 1e-12 * _psi_scale(b)
        np.testing.assert_allclose(paired_influence(c * w, T, hn, hb), paired_influence(w, T, hn, hb), rtol=1e-9, atol=tol)
        assert sigma_true_paired(c * w, T, hn, hb) == pytest.approx(
            sigma_true_paired(w, T, hn, hb), rel=1e-9, abs=tol * math.sqrt(T.size))

    @PROPS
    @given(b=batches())
    def test_joint_permutation(self, b):
        w, T, hn, hb = b["w"], b["T"], b["h_new"], b["h_base"]
        pw, pT, phn, phb = _permuted(b, "w", "T", "h_new", "h_base")
        tol = 1e-12 * _psi_scale(b)
        psi = paired_influence(w, T, hn, hb)
        np.testing.assert_allclose(paired_influence(pw, pT, phn, phb), psi[b["perm"]], rtol=1e-9, atol=tol)
        assert sigma_true_paired(pw, pT, phn, phb) == pytest.approx(
            sigma_true_paired(w, T, hn, hb), rel=1e-9, abs=tol * math.sqrt(T.size))

    @PROPS
    @given(b=batches())
    def test_sigma_is_rms_of_psi(self, b):
        w, T, hn, hb = b["w"], b["T"], b["h_new"], b["h_base"]
        psi = paired_influence(w, T, hn, hb)
        n = w.size
        s = sigma_true_paired(w, T, hn, hb)
        assert s >= 0
        assert s == pytest.approx(math.sqrt(n / (n - 1) * float(np.sum(psi**2))), rel=1e-12)

class TestAgreementProperties:
    @PROPS
    @given(pred=SIGNED, truth=SIGNED, sigmas=st.lists(SCALE, min_size=1, max_size=3))
    def test_antisymmetric(self, pred, truth, sigmas):
        assert agreement_z(pred, truth, *sigmas) == -agreement_z(truth, pred, *sigmas)

    @PROPS
    @given(pred=SIGNED, truth=SIGNED, sigmas=st.lists(SCALE, min_size=1, max_size=3),
           c=SCALE, sign=st.sampled_from([1.0, -1.0]))
    def test_scale_equivariant(self, pred, truth, sigmas, c, sign):
        # z(c·pred, c·truth, |c|·σ) = sign(c)·z(pred, truth, σ)
        z = agreement_z(pred, truth, *sigmas)
        zc = agreement_z(sign * c * pred, sign * c * truth, *(c * s for s in sigmas))
        scale = math.sqrt(sum(s * s for s in sigmas))
        assert zc == pytest.approx(sign * z, rel=1e-9, abs=1e-12 * (abs(pred) + abs(truth)) / scale)

    @PROPS
    @given(z1=st.floats(-40, 40), z2=st.floats(-40, 40))
    def test_two_sided_p(self, z1, z2):
        p1, p2 = two_sided_p(z1), two_sided_p(z2)
        assert 0.0 <= p1 <= 1.0
        assert two_sided_p(-z1) == p1
        if abs(z1) <= abs(z2):
            assert p1 >= p2


def _holm_reference(p, alpha):
    """Number of Holm rejections: the first j (ascending p) with p_(j) > α/(m − j)."""
    s = sorted(p)
    m = len(s)
    for j, pj in enumerate(s):
        if pj > alpha / (m - j):
            return j
    return m


class TestHolmProperties:
    P = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30)

    @PROPS
    @given(p=P, alpha=st.floats(0.001, 0.5))
    def test_rejections_are_a_prefix_of_sorted_p(self, p, alpha):
        rej = holm_reject(p, alpha)
        pa = np.asarray(p)
        if rej.any() and (~rej).any():
            assert pa[rej].max() < pa[~rej].min()  # ties are never split
        assert rej.sum() == _holm_reference(p, alpha)

    @PROPS
    @given(p=P, a1=st.floats(0.001, 0.5), a2=st.floats(0.001, 0.5))
    def test_monotone_in_alpha(self, p, a1, a2):
        lo, hi = sorted((a1, a2))
        r_lo, r_hi = holm_reject(p, lo), holm_reject(p, hi)
        assert np.all(r_hi[r_lo])  # everything rejected at the smaller α stays rejected

    @PROPS
    @given(p=P, alpha=st.floats(0.001, 0.5))
    def test_no_more_than_bonferroni_less_than_unadjusted(self, p, alpha):
        rej = holm_reject(p, alpha)
        pa = np.asarray(p)
        assert np.all(rej[pa <= alpha / pa.size])  # Bonferroni rejections ⊆ Holm
        assert not np.any(rej[pa > alpha])  # never rejects above α


class TestSEProperties:
    @PROPS
    @given(x=st.integers(3, 50).flatmap(lambda n: arrays(n, SIGNED)), se=SCALE,
           m=st.one_of(st.none(), st.integers(1, 256)))
    def test_se_ratio(self, x, se, m):
        r = se_ratio(se, x, m)
        assert r.measured == se_sum(x) and r.reported == se
        if r.measured > 0:
            assert r.rho * r.measured == pytest.approx(se, rel=1e-12)

    @PROPS
    @given(se=SCALE, m=st.integers(1, 256))
    def test_reported_total_se_is_linear(self, se, m):
        assert reported_total_se(se, m, "shard-mean") == pytest.approx(m * reported_total_se(se, m, "total"), rel=1e-15)


# =========================================================================== 3. calibration


def test_sigma_true_paired_calibration_monte_carlo():
    """σ_true (paired delta method) matches the empirical std of ΔH_true across repetitions.

    Model (n = 400 sequences, 300 repetitions, seeded): T_i ~ 1 + Poisson(30);
    h_base_i = 0.5·T_i + N(0, 1); log-weights ~ N(0, 0.3²), independent of everything;
    h_new_i = h_base_i + δ·T_i + N(0, 0.5²). Since the weights are independent of (T, h), the
    true ratio change is exactly E[h_new]/E[T] − E[h_base]/E[T] = δ.
    The relative sampling error of an empirical std from 300 draws is ≈ 1/√598 ≈ 4%, so ±15%
    leaves > 3 of its σ for the delta method's own error.
    """
    rng = np.random.default_rng(20240501)
    n, reps, delta = 400, 300, 0.02
    deltas, sigmas = np.empty(reps), np.empty(reps)
    for r in range(reps):
        T = 1.0 + rng.poisson(30, n)
        h_base = 0.5 * T + rng.normal(0.0, 1.0, n)
        lw = rng.normal(0.0, 0.3, n)
        w = np.exp(lw - lw.max())
        w /= w.sum()
        h_new = h_base + delta * T + rng.normal(0.0, 0.5, n)
        deltas[r] = snis_delta(w, T, h_new, base_entropy_of(h_base, T))
        sigmas[r] = sigma_true_paired(w, T, h_new, h_base)
    empirical = deltas.std(ddof=1)
    assert sigmas.mean() == pytest.approx(empirical, rel=0.15)
    # the estimator is (nearly) unbiased for the known ΔH: bias ≪ its SE
    assert abs(deltas.mean() - delta) < 0.25 * empirical


def test_notebook_se_true_exact():
    # c = [1, 2, 3, 4]: std(ddof=1) = √(5/3) = 1.2909944…, /√4 → 0.6454972…
    assert stats.notebook_se_true(np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(0.6454972243679028, rel=1e-12)
    assert math.isnan(stats.notebook_se_true(np.array([1.0])))


def test_pooled_ratio_never_raises_when_truth_is_tiny():
    """ΔH_true ≈ 0: the ratio is huge and its SE overflows — inf/NaN, never OverflowError."""
    from dhstats.stats.stats import pooled_ratio

    ratio, se = pooled_ratio([-1e-3], [1e-300], [1e-4], [1e-4], [0.0])
    assert ratio == -1e297 and not math.isfinite(se)

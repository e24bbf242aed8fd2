"""Tests for dhstats.stats.truncation: the keep-mask, the re-estimated ratio L_S/Δ_S with its
sampling error, and the notebook's clip and truncation sweeps — exact numbers on hand-built
arrays (worked out in comments from shared/spec/checks.md), then hypothesis properties."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dhstats.stats import truncation as trunc
from dhstats.stats.stats import base_entropy_of, sigma_true_paired, snis_delta, snis_ratio
from dhstats.stats.truncation import clip_sweep, keep_mask, truncation

from builders import batches

PROPS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


# =========================================================================== 1. exact numbers


class TestKeepMaskAndTruncation:
    LINEAR = np.array([1.0, -2.0, 2.0, 3.0, 0.5])  # |.| sorted: .5, 1, 2, 2, 3

    @pytest.mark.parametrize(
        "q, expected",
        [
            # position q·(n−1) = 3.2 → 2 + .2·(3 − 2) = 2.2: both tied 2's kept, 3 dropped
            (0.8, [True, True, True, False, True]),
            # position 3 → exactly 2: ties at the quantile are kept (≤)
            (0.75, [True, True, True, False, True]),
            (0.5, [True, True, True, False, True]),
            # position 1 → 1
            (0.25, [True, False, False, False, True]),
            (1.0, [True, True, True, True, True]),
            (0.0, [False, False, False, False, True]),
        ],
    )
    def test_keep_mask_with_ties(self, q, expected):
        assert keep_mask(self.LINEAR, q).tolist() == expected

    def test_truncation_hand_example(self):
        # η = .1, gdotv = [1,2,3,4,10] → |linear| = [.1,.2,.3,.4,1]; q = .8: position 3.2 →
        # .4 + .2·.6 = .52 → S = {0,1,2,3}.
        # L_S = .1·(1+2+3+4) · ΣT/Σ_S T = 1.0 · 8/6 = 4/3
        # Σ_S w h_new = .15 + .2 + .75 + .4 = 1.5, Σ_S w T = .1+.2+.6+.4 = 1.3, Σ_S h_base/Σ_S T = 1
        # Δ_S = 1.5/1.3 − 1 = 0.2/1.3 = 0.153846…;  r = (4/3)/(0.2/1.3) = 26/3
        # ψ on S: h_new − (15/13)T = [4.5, −2, 2.5, −4]/13; ·w/1.3 = [.45, −.4, .75, −.8]/16.9;
        #         h_base − 1·T = 0.  Σψ² = 1.565/285.61;  σ_S = √(4/3 · 1.565/285.61) = 0.0854751…
        # notebook: B = 1.7, H_base = 8/8 = 1, Σ_S c = 1.5/1.7 − 6/8 = .132353…, ratio 1/.132353 = 68/9
        eta = 0.1
        gdotv = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
        w = np.array([0.1, 0.2, 0.3, 0.2, 0.2])
        T = np.array([1.0, 1.0, 2.0, 2.0, 2.0])
        h_base = np.array([1.0, 1.0, 2.0, 2.0, 2.0])
        h_new = np.array([1.5, 1.0, 2.5, 2.0, 2.0])
        t = truncation(eta, gdotv, w, T, h_new, h_base, 1.0, 0.8, k=1.0)
        assert t.keep_quantile == 0.8 and t.kept == 4
        assert t.linear == pytest.approx(4 / 3, rel=1e-14)
        assert t.true == pytest.approx(0.2 / 1.3, rel=1e-12)
        assert t.ratio == pytest.approx(26 / 3, rel=1e-12)
        assert t.sigma == pytest.approx(math.sqrt(4 / 3 * 1.565 / 285.61), rel=1e-12)
        assert t.notebook_ratio == pytest.approx(68 / 9, rel=1e-12)
        assert t.conclusive  # .1538 ≥ 1·.0855
        # k = 2: 2σ_S = .171 > .1538 → inconclusive
        assert not truncation(eta, gdotv, w, T, h_new, h_base, 1.0, 0.8, k=2.0).conclusive

    def test_truncation_one_kept_is_inconclusive(self):
        # q = 0: only the smallest |linear| is kept; σ_L and σ_S of 1 value are NaN: the
        # quantile can neither pass nor fail (every number must be finite to be conclusive).
        gdotv = np.array([1.0, 2.0, 3.0])
        w = np.array([0.2, 0.3, 0.5])
        T = np.array([1.0, 2.0, 1.0])
        t = truncation(0.1, gdotv, w, T, np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.0, 1.0]),
                       0.625, 0.0, k=1.0)
        assert t.kept == 1 and math.isnan(t.sigma_linear) and not t.conclusive


class TestSweeps:
    def test_clip_sweep_hand_example(self):
        # |linear| = [1,2,3,4]; quantiles at .5², .5¹, .5⁰ = .25, .5, 1 → positions .75, 1.5, 3
        # → thresholds 1.75, 2.5, 4. Clipped Σ linear: 1+1.75·3 = 6.25; 1+2+2.5+2.5 = 8; 10.
        linear = np.array([1.0, 2.0, 3.0, 4.0])
        true = np.array([0.5, -3.0, 1.0, 0.0])
        thr, series = clip_sweep(linear, true, base_quantile=0.5, steps=2)
        np.testing.assert_allclose(thr, [1.75, 2.5, 4.0], rtol=1e-15)
        np.testing.assert_allclose(series["linear"], [6.25, 8.0, 10.0], rtol=1e-15)
        # true clipped at ±1.75: .5 − 1.75 + 1 + 0 = −.25; at ±2.5: −1; at ±4: −1.5
        np.testing.assert_allclose(series["true"], [-0.25, -1.0, -1.5], rtol=1e-15)
        assert "linquad" not in series
        _, with_lq = clip_sweep(linear, true, linear * 2, base_quantile=0.5, steps=2)
        np.testing.assert_allclose(with_lq["linquad"], [1.75 * 4, 2 + 2.5 * 3, 2 + 4 * 3], rtol=1e-15)

    def test_clip_sweep_monotone(self):
        rng = np.random.default_rng(3)
        linear = rng.standard_normal(50)
        thr, series = clip_sweep(linear, np.abs(rng.standard_normal(50)), np.abs(linear))
        assert np.all(np.diff(thr) >= 0)
        assert thr[-1] == np.abs(linear).max()  # quantile 0.999⁰ = 1: nothing clipped at the end
        assert series["linear"][-1] == pytest.approx(linear.sum(), rel=1e-12)
        assert np.all(np.diff(series["true"]) >= 0)  # non-negative series: sums grow with c
        assert np.all(np.diff(series["linquad"]) >= 0)

    def test_truncation_summary_and_clip_summary(self):
        linear = np.array([1.0, -2.0, 2.0, 3.0, 0.5])
        true = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
        row = trunc.truncation_summary(0.8, linear, true, linquad=2 * linear)
        # S = all but index 3 (see keep_mask): Σ_S true = 1.1, Σ_S linear = 1.5
        assert row["threshold"] == pytest.approx(2.2, rel=1e-15)
        assert row["kept_percent"] == pytest.approx(80.0)
        assert row["delta_true_trunc"] == pytest.approx(1.1, rel=1e-15)
        assert row["delta_linear_trunc"] == pytest.approx(1.5, rel=1e-15)
        assert row["delta_linquad_trunc"] == pytest.approx(3.0, rel=1e-15)
        c = trunc.clip_summary(1.0, linear, true)
        # clip at ±1: 1 − 1 + 1 + 1 + .5 = 2.5;  true all ≤ 1 → 1.5
        assert (c["delta_linear_clip"], c["delta_true_clip"]) == (2.5, pytest.approx(1.5))


# =========================================================================== 2. properties


class TestTruncationProperties:
    @PROPS
    @given(b=batches(), eta=st.floats(1e-8, 1e-2), k=st.floats(0.5, 5.0))
    def test_keep_everything(self, b, eta, k):
        w, T, hn, hb, g = b["w"], b["T"], b["h_new"], b["h_base"], b["gdotv"]
        base = base_entropy_of(hb, T)
        t = truncation(eta, g, w, T, hn, hb, base, 1.0, k)
        assert t.kept == w.size
        assert keep_mask(eta * g, 1.0).all()
        assert t.linear == pytest.approx(eta * g.sum(), rel=1e-12, abs=1e-12 * eta * np.abs(g).sum())
        tol = 1e-12 * (abs(snis_ratio(w, T, hn)) + abs(base))
        assert t.true == pytest.approx(snis_delta(w, T, hn, base), abs=tol)
        assert t.sigma == pytest.approx(sigma_true_paired(w, T, hn, hb), rel=1e-12)

    @PROPS
    @given(b=batches(), q=st.floats(0.0, 1.0))
    def test_keep_mask_drops_only_the_largest(self, b, q):
        a = np.abs(b["gdotv"])
        s = keep_mask(b["gdotv"], q)
        assert s.any()  # the minimum is always kept
        if (~s).any():
            assert a[s].max() < a[~s].min()

    @PROPS
    @given(b=batches(), eta=st.floats(1e-8, 1e-2), k=st.floats(0.5, 5.0), q=st.sampled_from([0.99, 0.95, 0.9]))
    def test_weight_scale_invariant(self, b, eta, k, q):
        w, T, hn, hb, g = b["w"], b["T"], b["h_new"], b["h_base"], b["gdotv"]
        base = base_entropy_of(hb, T)
        t1 = truncation(eta, g, w, T, hn, hb, base, q, k)
        t2 = truncation(eta, g, 7.0 * w, T, hn, hb, base, q, k)
        assert t1.kept == t2.kept and t1.linear == t2.linear
        tol = 1e-12 * (abs(snis_ratio(w, T, hn)) + abs(base))
        assert t2.true == pytest.approx(t1.true, abs=tol)


class TestClipSweepProperties:
    @PROPS
    @given(b=batches(), base_q=st.floats(0.9, 0.9999), steps=st.integers(1, 12))
    def test_monotone(self, b, base_q, steps):
        linear = b["gdotv"]
        thr, series = clip_sweep(linear, b["h_new"], np.abs(linear), base_quantile=base_q, steps=steps)
        assert thr.shape == (steps + 1,)
        assert np.all(np.diff(thr) >= 0)
        assert thr[-1] == np.abs(linear).max()
        for name in ("true", "linquad"):  # non-negative series: clipped sums grow with the threshold
            assert np.all(np.diff(series[name]) >= -1e-9 * series[name][-1])
        assert series["linear"][-1] == pytest.approx(linear.sum(), abs=1e-12 * np.abs(linear).sum())

"""Tests for the case σ's (dhstats.stats.stats: centred, Sigmas, case_sigmas, stouffer,
pooled_ratio, softmax_clipped) and their adapter dhstats.stats.sigmas.

1. exact numbers on the n = 3 example of test_stats (ψ = [.285, −.04, −.245], worked out there);
2. hypothesis properties (Σ centred = 0, permutation invariance, paired = independent when ψ
   and g̃ are exactly uncorrelated, Stouffer invariances, pooled-ratio invariances);
3. the paired σ_lin against a bootstrap over sequences: a simulated run (within 10 %) and the
   real producer files (within 5 %; skipped when ../shared is absent).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dhstats.stats import stats
from dhstats.load.results import Run, RunFile, load_run, validate
from dhstats.stats.sigmas import run_parts, run_sigmas
from dhstats.simulate import simulate_run
from dhstats.stats.sigmas import case_sigmas, cov_from
from dhstats.stats.stats import Sigma, centred, pooled_ratio, se_sum, stouffer

from paths import REAL, needs_real

W3 = np.array([0.5, 0.25, 0.25])
T3 = np.array([1.0, 2.0, 1.0])  # ΣT = 4
HNEW3 = np.array([2.0, 3.0, 1.0])
HBASE3 = np.array([1.0, 3.0, 2.0])  # ψ = [.285, −.04, −.245], Σψ² = .14285
GDOTV3 = np.array([1.0, 2.0, 3.0])  # G = 6: G·T/ΣT = [1.5, 3, 1.5] → g̃ = [−.5, −1, 1.5]
VHVV3 = np.array([2.0, 0.0, 2.0])  # Q = 4: Q·T/ΣT = [1, 2, 1] → q̃ = [1, −2, 1]
ETA = 0.1
CASE3 = dict(T=T3, w=W3, h_new=HNEW3)


# =========================================================================== 1. exact numbers


class TestCentred:
    def test_hand_values(self):
        np.testing.assert_allclose(centred(GDOTV3, T3, 6.0), [-0.5, -1.0, 1.5], rtol=0, atol=1e-15)
        np.testing.assert_allclose(centred(VHVV3, T3, 4.0), [1.0, -2.0, 1.0], rtol=0, atol=1e-15)
        # total defaults to Σx
        np.testing.assert_array_equal(centred(GDOTV3, T3), centred(GDOTV3, T3, 6.0))
        # a total ≠ Σx leaves Σx − total: [1,2,3] − 8·[.25,.5,.25] = [−1, −2, 1]
        np.testing.assert_allclose(centred(GDOTV3, T3, 8.0), [-1.0, -2.0, 1.0], atol=1e-15)

    def test_sigma_from_centres_with_T(self):
        # se_sum(g̃) = √(3 · Σg̃²/2) = √(1.5 · 3.5) = √5.25 (uncentred se_sum([1,2,3]) = √3)
        s = stats.sigma_from(GDOTV3, None, None, "total", T=T3, total=6.0)
        assert (s.value, s.source) == (pytest.approx(math.sqrt(5.25), rel=1e-15), "per_sequence")
        assert stats.sigma_from(GDOTV3, None, None, "total").value == pytest.approx(math.sqrt(3), rel=1e-15)


class TestCaseSigmas:
    def test_fully_paired(self):
        s = case_sigmas(ETA, **CASE3, h_base=HBASE3, gdotv=GDOTV3, G=6.0, vhvv=VHVV3, Q=4.0)
        assert s.g == Sigma(pytest.approx(math.sqrt(5.25), rel=1e-15), "per_sequence")
        # se_sum(q̃) = √(1.5 · 6) = 3
        assert s.q.value == pytest.approx(3.0, rel=1e-15) and s.q.source == "per_sequence"
        assert s.true.source == "paired"
        assert s.true.value == pytest.approx(math.sqrt(1.5 * 0.14285), rel=1e-13)
        # η g̃ − ψ = [−.335, −.06, .395]; Σ² = .27185; σ_lin = √(1.5·.27185) = √.407775
        assert s.linear.source == "paired"
        assert s.linear.value == pytest.approx(math.sqrt(0.407775), rel=1e-13)
        # + ½η² q̃ = .005·[1, −2, 1]: [−.33, −.07, .40]; Σ² = .2738; σ_lq = √.4107
        assert s.linquad.source == "paired"
        assert s.linquad.value == pytest.approx(math.sqrt(0.4107), rel=1e-13)
        assert s.prediction_linear == pytest.approx(0.1 * math.sqrt(5.25), rel=1e-15)
        # η g̃ + ½η² q̃ = [−.045, −.11, .155]; Σ² = .03815; √(1.5·.03815) = √.057225
        assert s.prediction_linquad == pytest.approx(math.sqrt(0.057225), rel=1e-13)
        # cov = (.0525 + .214275 − .407775)/2 = −.0705 = 1.5·Σ ηg̃ψ = 1.5·(−.047)
        assert s.cov("linear") == pytest.approx(-0.0705, rel=1e-12)
        # lin+quad: 1.5·Σ(ηg̃ + ½η²q̃)ψ = 1.5·(−.012825 + .0044 − .037975) = 1.5·(−.0464)
        assert s.cov("linquad") == pytest.approx(-0.0696, rel=1e-12)
        assert cov_from(s.prediction_linear, s.true.value, s.linear.value) == pytest.approx(-0.0705, rel=1e-12)

    def test_paired_without_per_sequence_vhvv(self):
        # σ_Q reported 3: σ_lq = √(se_sum(ηg̃ − ψ)² + (.005·3)²) = √(.407775 + .000225) = √.408
        s = case_sigmas(ETA, **CASE3, h_base=HBASE3, gdotv=GDOTV3, G=6.0,
                        sigma_q_reported=Sigma(3.0, "reported ×num_shards"))
        assert s.q.source == "reported ×num_shards"
        assert s.linquad == Sigma(pytest.approx(math.sqrt(0.408), rel=1e-13), "paired")
        # prediction: √((η σ_G)² + (½η²σ_Q)²) = √(.0525 + .000225); its cov = the linear one
        assert s.prediction_linquad == pytest.approx(math.sqrt(0.052725), rel=1e-13)
        assert s.cov("linquad") == pytest.approx(-0.0705, rel=1e-12)

    def test_independent_without_per_sequence(self):
        # σ_G = 2, σ_Q = 3 reported, paired σ_true: σ_lin = √(.04 + .214275),
        # σ_lq = √(.04 + .000225 + .214275) = √.2545
        s = case_sigmas(ETA, **CASE3, h_base=HBASE3, sigma_g_reported=Sigma(2.0, "reported"),
                        sigma_q_reported=Sigma(3.0, "reported"))
        assert s.true.source == "paired"
        assert s.linear == Sigma(pytest.approx(math.sqrt(0.254275), rel=1e-13), "independent")
        assert s.linquad == Sigma(pytest.approx(math.sqrt(0.2545), rel=1e-13), "independent")
        assert s.cov("linear") == 0.0 and s.cov("linquad") == 0.0

    def test_approximate_without_h_base(self):
        # σ_true ≈ η σ_G = .1·√5.25; σ_lin = √2 · η σ_G = √(2·.0525) = √.105
        s = case_sigmas(ETA, **CASE3, gdotv=GDOTV3, G=6.0)
        assert s.true == Sigma(pytest.approx(0.1 * math.sqrt(5.25), rel=1e-15), "approximate")
        assert s.linear == Sigma(pytest.approx(math.sqrt(0.105), rel=1e-14), "independent")
        assert s.q is None and s.linquad is None and s.prediction_linquad is None
        assert s.cov("linear") == 0.0 and s.cov("linquad") is None

    def test_nothing_to_go_on(self):
        s = case_sigmas(ETA, **CASE3)
        assert (s.g, s.true, s.linear, s.linquad, s.prediction_linear) == (None,) * 5
        assert s.cov("linear") is None
        # h_base alone: σ_true, but no σ of a difference without σ_G
        s = case_sigmas(ETA, **CASE3, h_base=HBASE3)
        assert s.true.source == "paired" and s.linear is None

    @pytest.mark.parametrize("bad", [math.inf, math.nan])
    def test_non_finite_gives_nan_never_a_number(self, bad):
        s = case_sigmas(ETA, **CASE3, sigma_g_reported=Sigma(bad, "reported"),
                        sigma_q_reported=Sigma(3.0, "reported"))
        for sig in (s.g, s.true, s.linear, s.linquad):
            assert math.isnan(sig.value)
        s = case_sigmas(ETA, **CASE3, h_base=np.array([1.0, bad, 2.0]), gdotv=GDOTV3, G=6.0)
        assert math.isnan(s.true.value) and math.isnan(s.linear.value)
        s = case_sigmas(bad, **CASE3, h_base=HBASE3, gdotv=GDOTV3, G=6.0)
        assert math.isnan(s.true.value) and math.isnan(s.linear.value)
        assert math.isnan(s.prediction_linear)

    def test_one_sequence_is_nan(self):
        one = np.array([1.0])
        s = case_sigmas(ETA, T=one, w=one, h_new=one, h_base=one, gdotv=one, G=1.0,
                        sigma_g_reported=Sigma(2.0, "reported"))
        assert s.g.source == "reported"  # no spread from 1 sequence: the reported SE
        assert s.true.source == "paired" and math.isnan(s.true.value)
        assert math.isnan(s.linear.value)


class TestPooling:
    def test_stouffer_hand_value(self):
        assert stouffer([1.0, 2.0, 3.0, 0.0]) == 3.0  # 6/√4
        assert stouffer([2.0]) == 2.0
        assert stouffer([math.inf, 1.0]) == math.inf

    @pytest.mark.parametrize("z", [[], [1.0, math.nan], [math.nan]])
    def test_stouffer_nan(self, z):
        assert math.isnan(stouffer(z))

    def test_pooled_ratio_hand_value(self):
        # a = [1.2, 1.4], b = [1, 1]: R̂ = 2.6/2 = 1.3;
        # SE² = [(.01 + 1.69·.04 − 2.6·.01) + (.04 + 1.69·.01 − 0)] / 4
        #     = [(.01 + .0676 − .026) + (.04 + .0169)] / 4 = .1085/4 = .027125
        r, se = pooled_ratio([1.2, 1.4], [1.0, 1.0], [0.1, 0.2], [0.2, 0.1], [0.01, 0.0])
        assert r == pytest.approx(1.3, rel=1e-15)
        assert se == pytest.approx(math.sqrt(0.027125), rel=1e-13)

    def test_pooled_ratio_one_run_is_delta_method(self):
        # R = 2: SE = √(σa² + R²σb² − 2R cov)/|b| = √(1 + 4·.25 − 4·.25)/1 = 1
        r, se = pooled_ratio([2.0], [1.0], [1.0], [0.5], [0.25])
        assert (r, se) == (2.0, pytest.approx(1.0, rel=1e-15))

    @pytest.mark.parametrize(
        "args",
        [
            ([1.0], [0.0], [1.0], [1.0], [0.0]),  # Σb = 0
            ([1.0, 1.0], [1.0, -1.0], [1.0, 1.0], [1.0, 1.0], [0.0, 0.0]),
            ([1.0], [1.0], [math.nan], [1.0], [0.0]),
            ([1.0], [1.0], [1.0], [math.inf], [0.0]),
            ([math.inf], [1.0], [1.0], [1.0], [0.0]),
            ([], [], [], [], []),
        ],
    )
    def test_pooled_ratio_nan(self, args):
        assert all(math.isnan(v) for v in pooled_ratio(*args))

    def test_softmax_clipped(self):
        # clip([0, ln 3, 20]) = [0, ln 3, 10]; softmax: [1, 3, e¹⁰]/(4 + e¹⁰)
        w = stats.softmax_clipped(np.array([0.0, math.log(3.0), 20.0]))
        np.testing.assert_allclose(w, np.array([1.0, 3.0, math.exp(10)]) / (4 + math.exp(10)), rtol=1e-14)
        w = stats.softmax_clipped(np.array([-1000.0, 1000.0]), clip=1000.0)  # no overflow
        np.testing.assert_allclose(w, [0.0, 1.0], atol=1e-300)


# =========================================================================== 2. properties

PROPS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
POS = st.floats(1e-2, 1e2)
SIGNED = st.floats(-1e2, 1e2).filter(lambda x: x == 0.0 or abs(x) > 1e-3)


@st.composite
def batches(draw, min_n=3, max_n=40):
    n = draw(st.integers(min_n, max_n))
    arr = lambda el: draw(hnp.arrays(np.float64, n, elements=el))  # noqa: E731
    return {
        "w": arr(POS), "T": draw(hnp.arrays(np.int64, n, elements=st.integers(1, 500))).astype(float),
        "h_new": arr(POS), "h_base": arr(POS), "gdotv": arr(SIGNED), "vhvv": arr(SIGNED),
        "perm": np.array(draw(st.permutations(range(n)))),
        "eta": draw(st.floats(1e-3, 1.0)),
    }


def _psi_scale(b) -> float:
    """Σ of the magnitudes entering ψ: its floating-point error is ~ε times this."""
    w, T, hn, hb = b["w"], b["T"], b["h_new"], b["h_base"]
    r1, r0 = np.dot(w, hn) / np.dot(w, T), hb.sum() / T.sum()
    return float(np.sum(w * (hn + r1 * T)) / np.dot(w, T) + np.sum(hb + r0 * T) / T.sum())


def _case(b, perm=None):
    p = slice(None) if perm is None else perm
    return case_sigmas(b["eta"], T=b["T"][p], w=b["w"][p], h_new=b["h_new"][p],
                       h_base=b["h_base"][p], gdotv=b["gdotv"][p], vhvv=b["vhvv"][p],
                       G=float(b["gdotv"].sum()), Q=float(b["vhvv"].sum()))


class TestSigmaProperties:
    @PROPS
    @given(b=batches(), total=st.none() | st.floats(-1e3, 1e3))
    def test_centred_sums_to_sum_minus_total(self, b, total):
        x = b["gdotv"]
        c = centred(x, b["T"], total)
        expected = 0.0 if total is None else x.sum() - total
        assert c.sum() == pytest.approx(expected, abs=1e-12 * (np.abs(x).sum() + abs(total or 0)))

    @PROPS
    @given(b=batches())
    def test_permutation_invariant(self, b):
        s, sp = _case(b), _case(b, b["perm"])
        for name in ("g", "q", "true", "linear", "linquad"):
            a, c = getattr(s, name), getattr(sp, name)
            assert c.source == a.source
            assert c.value == pytest.approx(a.value, rel=1e-9, abs=1e-12)
        assert sp.prediction_linquad == pytest.approx(s.prediction_linquad, rel=1e-9, abs=1e-12)

    @PROPS
    @given(b=batches(min_n=4))
    def test_paired_equals_independent_when_uncorrelated(self, b):
        # Build g̃ ⟂ ψ exactly: project a zero-sum vector off ψ, then gdotv = g̃ + G·T/ΣT.
        w, T, hn, hb, eta = b["w"], b["T"], b["h_new"], b["h_base"], b["eta"]
        psi = stats.paired_influence(w, T, hn, hb)
        x = b["gdotv"] - b["gdotv"].mean()
        if np.dot(psi, psi) > 0:
            x = x - psi * np.dot(x, psi) / np.dot(psi, psi)
        G = 0.7
        s = case_sigmas(eta, T=T, w=w, h_new=hn, h_base=hb, gdotv=x + G * T / T.sum(), G=G)
        assert s.linear.source == "paired"
        independent = math.hypot(s.prediction_linear, s.true.value)
        scale = (eta * np.abs(b["gdotv"]).sum() + _psi_scale(b)) * math.sqrt(T.size)
        assert s.linear.value == pytest.approx(independent, rel=1e-9, abs=1e-12 * scale)
        assert s.cov("linear") == pytest.approx(0.0, abs=1e-9 * scale**2)

    @PROPS
    @given(b=batches())
    def test_cov_is_sample_covariance(self, b):
        # the polarisation identity equals n/(n−1)·Σ (a − ā)ψ exactly (Σψ = 0)
        s = _case(b)
        g_t = centred(b["gdotv"], b["T"])
        psi = stats.paired_influence(b["w"], b["T"], b["h_new"], b["h_base"])
        n = b["T"].size
        direct = n / (n - 1) * float(np.dot(b["eta"] * g_t - (b["eta"] * g_t).mean(), psi))
        scale = n * (b["eta"] * np.abs(b["gdotv"]).sum() + _psi_scale(b)) ** 2
        assert s.cov("linear") == pytest.approx(direct, rel=1e-8, abs=1e-12 * scale)


Z = st.floats(-50.0, 50.0)


class TestPoolingProperties:
    @PROPS
    @given(z=st.lists(Z, min_size=1, max_size=64), data=st.data())
    def test_stouffer_invariant_to_run_order(self, z, data):
        perm = data.draw(st.permutations(z))
        assert stouffer(perm) == pytest.approx(stouffer(z), rel=1e-12, abs=1e-12)

    @PROPS
    @given(z=st.lists(Z, min_size=1, max_size=64), c=Z)
    def test_stouffer_shift(self, z, c):
        R = len(z)
        shifted = stouffer([zi + c for zi in z])
        assert shifted == pytest.approx(stouffer(z) + c * math.sqrt(R), rel=1e-12, abs=1e-10)

    @PROPS
    @given(R=st.integers(1, 16), data=st.data(), c=st.floats(1e-6, 1e6), sign=st.sampled_from([-1.0, 1.0]))
    def test_pooled_ratio_invariances(self, R, data, c, sign):
        col = lambda el: np.array(data.draw(st.lists(el, min_size=R, max_size=R)))  # noqa: E731
        a, b = col(st.floats(-10, 10)), col(st.floats(0.5, 10))
        sa, sb = col(st.floats(0.01, 5)), col(st.floats(0.01, 5))
        cov = col(st.floats(-1, 1)) * sa * sb  # |ρ| ≤ 1: a valid covariance
        r, se = pooled_ratio(a, b, sa, sb, cov)
        assert math.isfinite(r) and se >= 0
        # scaling predictions and truths together (c may be negative): ratio and SE unchanged
        # SE = √(variance) amplifies rounding when the variance cancels (|ρ| = 1): ~1e-8·scale
        tol = 1e-7 * float(np.sum(sa + abs(r) * sb)) / abs(b.sum())
        k = sign * c
        r2, se2 = pooled_ratio(k * a, k * b, c * sa, c * sb, k * k * cov)
        assert r2 == pytest.approx(r, rel=1e-9, abs=1e-12) and se2 == pytest.approx(se, rel=1e-9, abs=tol)
        p = np.array(data.draw(st.permutations(range(R))))
        r3, se3 = pooled_ratio(a[p], b[p], sa[p], sb[p], cov[p])
        assert r3 == pytest.approx(r, rel=1e-12, abs=1e-12) and se3 == pytest.approx(se, rel=1e-9, abs=tol)


# =========================================================================== 3. bootstrap


def _bootstrap_sd(eta, run: Run, entry, draws: int, seed: int) -> float:
    """SD over sequence resamples of η·G_b − ΔH_b, both re-estimated on the resample:
    G_b = Σ_b gdotv·ΣT / Σ_b T (G is a per-token ratio whose influence is g̃) and
    ΔH_b = Σ_b w h_new / Σ_b w T − Σ_b h_base / Σ_b T (the SNIS estimate, results-format.md)."""
    n = run.n
    idx = np.random.default_rng(seed).integers(0, n, size=(draws, n))
    w, T, hn, hb = entry.normalized_weights, entry.token_counts, entry.h_new, entry.h_base
    Tb = T[idx].sum(1)
    G_b = run.gdotv[idx].sum(1) * T.sum() / Tb
    dh_b = (w * hn)[idx].sum(1) / (w * T)[idx].sum(1) - hb[idx].sum(1) / Tb
    return float(np.std(eta * G_b - dh_b, ddof=1))


def test_paired_sigma_matches_bootstrap_on_a_simulated_run():
    doc = simulate_run(n=512, seed=20261125, entropy_noise=0.01)
    run = validate(doc, RunFile("E_512", "run_01", Path("results.json")))
    assert isinstance(run, Run)
    sig = run_sigmas(run, "total")
    for j, e in enumerate(run.entries):
        s = sig[e.eta]
        assert s.linear.source == "paired" and s.true.source == "paired"
        boot = _bootstrap_sd(e.eta, run, e, 2000, seed=j)
        assert s.linear.value == pytest.approx(boot, rel=0.10), (e.eta, s.linear.value, boot)


def test_adapter_uses_reported_se_and_convention():
    doc = simulate_run(n=64, seed=5, num_shards=8)
    doc["approx"].pop("per_sequence")
    doc["approx"].pop("per_sequence_meta", None)
    doc["approx"]["quadratic"].pop("per_sequence_vhvv")
    run = validate(doc, RunFile("E_64", "run_01", Path("results.json")))
    assert isinstance(run, Run) and run.gdotv is None
    total, mean = run_parts(run, "total"), run_parts(run, "shard-mean")
    assert total.g == Sigma(run.se_shard, "reported")
    assert mean.g == Sigma(pytest.approx(8 * run.se_shard, rel=1e-15), "reported ×num_shards")
    assert mean.q.source == "reported ×num_shards"
    e = run.entries[-1]
    s = run_sigmas(run, "shard-mean")[e.eta]
    assert s.linear.source == "independent" and s.linquad.source == "independent"
    assert s.true.source == "paired"


# real producer files (see tests/test_real_data.py for where they live)
REAL_KEYS = [f"{s}/run_{i:02d}" for s in ("E_256", "E_512") for i in range(1, 5)]


@needs_real
@pytest.mark.parametrize("key", REAL_KEYS)
def test_paired_sigma_matches_bootstrap_on_real_runs(key):
    results, name = key.split("/")
    run = load_run(RunFile(results, name, REAL / results / name / "results.json"))
    assert isinstance(run, Run)
    for j, (eta, s) in enumerate(run_sigmas(run, "shard-mean").items()):
        assert s.linear.source == "paired" and s.linquad.source == "paired"
        boot = _bootstrap_sd(eta, run, run.entry(eta), 2000, seed=j)
        assert s.linear.value == pytest.approx(boot, rel=0.05), (eta, s.linear.value, boot)
        # σ_G from centred contributions: same spread as gdotv on the real files (spec: 1.00)
        assert s.g.value == pytest.approx(se_sum(run.gdotv), rel=0.05)

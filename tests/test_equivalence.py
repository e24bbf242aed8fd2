"""Resolution and equivalence (dhstats.stats.equivalence, σ_c of dhstats.stats.sigmas, the pooled TOST of
dhstats.verdicts.agreement): hand-computed numbers, a bootstrap of σ_c, hypothesis properties."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dhstats.stats import equivalence
from dhstats.verdicts.pooling import case_sigma_c
from dhstats.verdicts.registry import pooled_verdict
from dhstats.verdicts.case_numbers import AgreementNumbers
from dhstats.load.results import Run, RunFile, validate
from dhstats.stats.sigmas import run_sigmas, sigma_c
from dhstats.simulate import simulate_run
from dhstats.stats.stats import centred, paired_influence


def case(run, prediction, truth, sigma_prediction, sigma_true, cov=0.0, n=256):
    """A per-run linear agreement case dict as the gate records it (paired when cov ≠ 0)."""
    sigma = math.sqrt(sigma_prediction**2 + sigma_true**2 - 2 * cov)
    return {"run_set": "E_x", "run": run, "eta": 1e-6, "check": "linear_agreement", "outcome": "passed",
            "z": (prediction - truth) / sigma, "prediction": prediction, "delta_h_true": truth, "sigma": sigma,
            "sigma_source": "paired" if cov else "independent", "sigma_prediction": sigma_prediction,
            "sigma_true": sigma_true, "n": n}


# =========================================================================== hand-computed


TWO_RUNS = [case("run_01", 1.05, 1.0, 0.06, 0.05), case("run_02", 0.95, 1.0, 0.08, 0.05)]


def test_quantiles_from_one_place():
    assert equivalence.Z_POWER == pytest.approx(0.8416212, abs=1e-7)
    assert equivalence.normal_quantile(0.95) == pytest.approx(1.6448536, abs=1e-7)


def test_tost_by_hand_demonstrated_at_20_percent():
    # Stouffer's weights w = 1/σ_1: w_1 = 1/√0.0061 = 12.80369, w_2 = 1/√0.0089 = 10.60000.
    # σ_c² = σ_P² + c²σ_true² (independent). c = 0.8: Σw(P − 0.8T) = 0.25·w_1 + 0.15·w_2 = 4.790919,
    # Σw²σ_c² = 0.0052/0.0061 + 0.008/0.0089 = 1.751335 → t_lo = 3.620213.
    # c = 1.2: Σw(P − 1.2T) = −0.15·w_1 − 0.25·w_2 = −4.570548, Σw²σ_c² = 0.0072/0.0061 +
    # 0.0100/0.0089 = 2.303923 → t_hi = −3.011163. Both beyond z_0.95 = 1.64485: demonstrated.
    # (Unweighted, ΣP − 0.8ΣT over √Σσ_c², they would be 3.481553 and −3.049971.)
    v = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, TWO_RUNS, 3.0, tolerance=0.2, alpha=0.05)
    assert v.to_dict()["tost_lo"] == pytest.approx(3.620213, abs=1e-6)
    assert v.to_dict()["tost_hi"] == pytest.approx(-3.011163, abs=1e-6)
    assert str(v.outcome) == "passed" and str(v.reason) == "ok" and v.to_dict()["tolerance"] == 0.2
    assert "within ±20 % demonstrated" in v.message
    assert v.to_dict()["ratio_lo"] > 0.8 and v.to_dict()["ratio_hi"] < 1.2  # the 90 % interval inside the band
    # resolution: (3 + 0.841621)·√2 / (1/√0.0061 + 1/√0.0089) = 0.232138 (σ_1² = σ_P² + σ_true²)
    assert v.to_dict()["resolution"] == pytest.approx(0.232138, abs=1e-6)


def test_tost_by_hand_not_demonstrated_at_5_percent():
    # Weights as above. c = 0.95: t_lo = 1.280369/√1.932653 = 0.920997; c = 1.05: t_hi =
    # −1.059998/√2.070800 = −0.736607: neither beyond 1.64485. ρ̂ = (1.05·w_1 + 0.95·w_2)/(w_1 + w_2)
    # = 1.004708; SE = √(w_1²(0.0036 + ρ̂²·0.0025) + w_2²(0.0064 + ρ̂²·0.0025))/(w_1 + w_2)
    # = 0.0605254; runs needed ⌈2·((1.64485 + 1.28155)·0.0605254/0.05)²⌉ = ⌈25.0977⌉ = 26,
    # E ≈ 256·12.54886 = 3212.5.
    v = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, TWO_RUNS, 3.0, tolerance=0.05, alpha=0.05)
    assert v.to_dict()["tost_lo"] == pytest.approx(0.920997, abs=1e-6)
    assert v.to_dict()["tost_hi"] == pytest.approx(-0.736607, abs=1e-6)
    assert v.to_dict()["ratio"] == pytest.approx(1.0047080, abs=1e-7)
    assert v.to_dict()["ratio_se"] == pytest.approx(0.0605254, abs=1e-7)
    assert str(v.outcome) == "failed" and str(v.reason) == "not_demonstrated"
    assert v.to_dict()["runs_needed"] == 26 and v.to_dict()["e_needed"] == pytest.approx(3212.5, abs=0.1)
    assert "≈ 26 runs of this precision (or E ≈ 3 200 at 2 runs)" in v.message


def test_tost_out_of_tolerance_and_significant_bias_inside():
    far = [case(r, 1.6, 1.0, 0.06, 0.05) for r in ("run_01", "run_02")]
    v = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, far, 3.0, tolerance=0.2, alpha=0.05)
    assert str(v.reason) == "out_of_tolerance" and v.to_dict()["tost_hi"] > 1.645
    # 10 % high with tiny σ: |Z| > k, but inside ±20 % → passes and says so
    near = [case(f"run_0{i}", 1.1, 1.0, 0.005, 0.005) for i in range(1, 5)]
    v = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, near, 3.0, tolerance=0.2, alpha=0.05)
    assert str(v.outcome) == "passed" and abs(v.to_dict()["Z"]) > 3 and "significant bias" in v.message
    assert str(pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, near, 3.0).outcome) == "failed"


def test_one_run_is_pooled_only_under_tolerance():
    one = TWO_RUNS[:1]
    skipped = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, one, 3.0)
    assert str(skipped.outcome) == "skipped"
    # its resolution is the run's: (3 + 0.841621)·σ_1/|ΔH_true| with σ_1 = √0.0061, ΔH_true = 1
    assert skipped.to_dict()["resolution"] == pytest.approx(3.841621 * math.sqrt(0.0061), abs=1e-6)
    judged = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, one, 3.0, tolerance=0.5, alpha=0.05)
    assert judged.to_dict()["R"] == 1 and str(judged.outcome) == "passed"


def test_pass_message_states_resolution():
    v = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, TWO_RUNS, 3.0)
    assert str(v.outcome) == "passed" and v.message.endswith("— would detect a bias of ±23 % or more.")


# =========================================================================== σ_c vs bootstrap


def test_sigma_c_matches_bootstrap_of_the_pooled_difference():
    """σ_c of one simulated run (paired, from arrays and from the case's numbers) against the SD
    of η·G_b − c·ΔH_b over 2 000 sequence resamples, c = 0.5 and 1.5, within 10 %."""
    run = validate(simulate_run(n=512, seed=11, entropy_noise=0.01), RunFile("E_512", "run_01", Path("r.json")))
    assert isinstance(run, Run)
    e = run.entries[2]
    w, T, hn, hb = e.normalized_weights, e.token_counts, e.h_new, e.h_base
    p = e.eta * centred(run.gdotv, T, run.delta_h_per_lr)
    psi = paired_influence(w, T, hn, hb)
    s = run_sigmas(run, "total")[e.eta]
    rec = {"sigma_prediction": s.prediction_linear, "sigma_true": s.true.value, "sigma": s.linear.value,
           "sigma_source": "paired"}
    idx = np.random.default_rng(3).integers(0, run.n, size=(2000, run.n))
    Tb = T[idx].sum(1)
    G_b = run.gdotv[idx].sum(1) * T.sum() / Tb
    dh_b = (w * hn)[idx].sum(1) / (w * T)[idx].sum(1) - hb[idx].sum(1) / Tb
    for c in (0.5, 1.5):
        boot = float(np.std(e.eta * G_b - c * dh_b, ddof=1))
        assert sigma_c(c, p=p, psi=psi) == pytest.approx(boot, rel=0.10)
        assert case_sigma_c(AgreementNumbers.of(rec), c) == pytest.approx(sigma_c(c, p=p, psi=psi), rel=1e-9)
    assert sigma_c(1.0, p=p, psi=psi) == pytest.approx(s.linear.value, rel=1e-12)  # σ_1 = σ_lin


# =========================================================================== properties


@st.composite
def run_sets(draw, max_runs=6):
    R = draw(st.integers(1, max_runs))
    sign = draw(st.sampled_from([-1.0, 1.0]))
    ratio = draw(st.floats(0.3, 2.0))
    out = []
    for r in range(R):
        truth = sign * draw(st.floats(0.1, 10.0))
        sp, st_ = draw(st.floats(0.01, 2.0)), draw(st.floats(0.01, 2.0))
        rho = draw(st.floats(-0.9, 0.9))
        pred = ratio * truth + draw(st.floats(-1.0, 1.0)) * sp
        out.append(case(f"run_{r:02d}", pred, truth, sp, st_, rho * sp * st_ or 1e-9))
    return out


@settings(deadline=None)  # no deadline: the shared machine is slow under load
@given(one=run_sets(max_runs=1), R=st.integers(1, 30))
def test_resolution_of_identical_runs_is_over_sqrt_r(one, R):
    c = one[0]
    single = equivalence.resolution(3.0, [c["delta_h_true"]], [c["sigma"]])
    pooled = equivalence.resolution(3.0, [c["delta_h_true"]] * R, [c["sigma"]] * R)
    assert pooled == pytest.approx(single / math.sqrt(R), rel=1e-12)
    assert single == pytest.approx((3.0 + equivalence.Z_POWER) * c["sigma"] / abs(c["delta_h_true"]), rel=1e-12)


@settings(deadline=None)  # no deadline: the shared machine is slow under load
@given(cases=run_sets(), delta=st.floats(0.01, 1.5), more=st.floats(0.0, 3.0))
def test_demonstrated_stays_demonstrated_at_larger_tolerance(cases, delta, more):
    def verdict(d):
        return pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, cases, 3.0, tolerance=d).reason

    if str(verdict(delta)) == "ok":
        assert str(verdict(delta + more)) == "ok"


@settings(deadline=None)  # no deadline: the shared machine is slow under load
@given(cases=run_sets(), delta=st.one_of(st.none(), st.floats(0.05, 1.0)))
def test_swapping_every_sign_changes_no_verdict(cases, delta):
    flipped = [case(c["run"], -c["prediction"], -c["delta_h_true"], c["sigma_prediction"], c["sigma_true"],
                    0.5 * (c["sigma_prediction"] ** 2 + c["sigma_true"] ** 2 - c["sigma"] ** 2)) for c in cases]
    a = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, cases, 3.0, tolerance=delta)
    b = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, flipped, 3.0, tolerance=delta)
    assert (a.outcome, a.reason) == (b.outcome, b.reason)
    assert b.to_dict().get("resolution") == pytest.approx(a.to_dict().get("resolution"), rel=1e-9)
    if delta is not None:
        assert b.to_dict()["tost_lo"] == pytest.approx(a.to_dict()["tost_lo"], rel=1e-9, abs=1e-12)


# =========================================================================== one estimator, heterogeneity


def _numbers(cases):
    return [AgreementNumbers.of(c) for c in cases]


def test_chi2_tail_is_the_regularized_upper_gamma():
    """chi2_sf against scipy.stats.chi2.sf (scipy: a dev dependency only), over the series and
    the continued-fraction branches, down to 1e-300."""
    chi2 = pytest.importorskip("scipy.stats").chi2
    for dof in (1, 2, 3, 4, 7, 15, 63, 200):
        for x in (1e-6, 0.05, 0.5, 1.0, 2.9, 3.0, 5.0, 10.0, 30.0, 100.0, 400.0, 1200.0):
            assert equivalence.chi2_sf(x, dof) == pytest.approx(float(chi2.sf(x, dof)), rel=1e-11, abs=1e-300)
    # by hand: χ²_2 tail is e^{−x/2}; χ²_1 tail at 8 is erfc(2) = 0.004677735
    assert equivalence.chi2_sf(6.0, 2) == pytest.approx(math.exp(-3.0), rel=1e-14)
    assert equivalence.chi2_sf(8.0, 1) == pytest.approx(math.erfc(2.0), rel=1e-13)
    assert equivalence.chi2_sf(0.0, 3) == 1.0 and math.isnan(equivalence.chi2_sf(math.nan, 3))


def test_heterogeneity_by_hand():
    # σ_c constant (σ_true = 0): Cochran's Q = Σ(P − P̄)²/σ² = (0.2² + 0.2²)/0.01 = 8 at c = 1
    h = equivalence.heterogeneity([1.2, 0.8], [1.0, 1.0], lambda c: [0.1, 0.1])
    assert h.q == pytest.approx(8.0, rel=1e-12) and h.c == pytest.approx(1.0, abs=1e-9) and h.dof == 1
    assert h.p_value == pytest.approx(math.erfc(2.0), rel=1e-12)
    # σ_c² = 0.01·(1 + c²): Q(c) = (2c² − 4c + 2.08)/(0.01(1 + c²)); Q'(c) = 0 ⇔ 4c² − 0.16c − 4 = 0,
    # c* = (0.16 + √64.0256)/8 = 1.0202000, Q(c*) = 3.9600040 (not 8/(0.01·2) … at c = 1: 4.0)
    h = equivalence.heterogeneity([1.2, 0.8], [1.0, 1.0], lambda c: [0.1 * math.sqrt(1 + c * c)] * 2)
    assert h.c == pytest.approx((0.16 + math.sqrt(64.0256)) / 8, abs=1e-7)
    assert h.q == pytest.approx(3.9600039992, rel=1e-9)
    assert h.terms[0] + h.terms[1] == pytest.approx(h.q, rel=1e-12) and h.terms[1] > h.terms[0]


def test_four_runs_that_disagree_fail_heterogeneous():
    """+65 %, +65 %, −60 %, −60 %: each |z| < 3 alone, Stouffer's Z ≈ 0, yet Q's p ≈ 1e-5."""
    sp = st_ = 0.25 / math.sqrt(2)  # σ_1 = 0.25
    runs = [case(f"run_0{i + 1}", 1.0 + off, 1.0, sp, st_) for i, off in enumerate((0.65, 0.65, -0.60, -0.60))]
    assert all(abs(c["z"]) < 3 for c in runs)
    v = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, runs, 3.0)
    d = v.to_dict()
    assert abs(d["Z"]) < 0.2 and str(v.outcome) == "failed" and str(v.reason) == "heterogeneous"
    assert d["heterogeneity_p"] < 1e-4 and d["heterogeneity_q"] > 20
    head = v.message.splitlines()[0]
    assert head.startswith("the runs disagree with each other (Q = ")
    assert "ratio 1.65" in head and "ratio 0.4" in head
    # under --tolerance too: one pooled ratio does not describe them
    v = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, runs, 3.0, tolerance=2.0)
    assert str(v.reason) == "heterogeneous"
    # the same runs brought together (±5 %) pass
    near = [case(f"run_0{i + 1}", 1.0 + off, 1.0, sp, st_) for i, off in enumerate((0.05, 0.05, -0.05, -0.05))]
    assert str(pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, near, 3.0).reason) == "ok"


def test_threshold_of_heterogeneity_is_two_sided_normal_tail_at_k():
    # two runs, σ_c = 0.1 constant (σ_true = 0): Q = (P_1 − P_2)²/(2σ²), p = erfc(|d|/(2σ)),
    # d = P_1 − P_2;
    # at k = 3 the case fails iff p < 2Φ(−3) ⇔ |d|/(σ√2) > 3. d = 0.43 → 3.04 (fails), 0.42 → 2.97 (not).
    def pooled(d):
        runs = [case("run_01", 1.0 + d / 2, 1.0, 0.1, 1e-12), case("run_02", 1.0 - d / 2, 1.0, 0.1, 1e-12)]
        return pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, runs, 3.0)
    assert str(pooled(0.43).reason) == "heterogeneous"
    assert str(pooled(0.42).reason) == "ok"


def test_a_precise_ratio_is_not_drowned_by_noisy_runs():
    """Four precise runs at ratio 1 and three runs 10× off under a huge σ: the unweighted ΣP/ΣT
    would be 4.86 ("overshoots by 386 %"); Stouffer's weights give ≈ 1, and the interval agrees
    with the resolution beside it."""
    precise = [case(f"run_0{i}", 1.0, 1.0, 0.01 / math.sqrt(2), 0.01 / math.sqrt(2)) for i in range(1, 5)]
    noisy = [case(f"run_0{i}", 10.0, 1.0, 20 / math.sqrt(2), 20 / math.sqrt(2)) for i in range(5, 8)]
    v = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, precise + noisy, 3.0)
    d = v.to_dict()
    # ρ̂ = (4·100·1 + 3·0.05·10)/(4·100 + 3·0.05) = 401.5/400.15 = 1.0033737
    assert d["ratio"] == pytest.approx(401.5 / 400.15, rel=1e-12)
    assert str(v.outcome) == "passed" and d["ratio_lo"] < d["ratio"] < d["ratio_hi"]
    assert d["ratio_hi"] - d["ratio_lo"] < d["resolution"]  # the 90 % interval inside what it could see
    assert "386" not in v.message and "±" not in v.message.split("—")[0]
    assert "90 % interval [" in v.message


# ----------------------------------------------------------------- properties of the estimator


def _estimate(cases, alpha=0.05):
    from dhstats.verdicts.pooling import pooled_estimate
    return pooled_estimate(_numbers(cases), alpha)


@settings(deadline=None)
@given(cases=run_sets(max_runs=6), sigma=st.floats(0.05, 2.0))
def test_equal_sigmas_give_the_unweighted_ratio(cases, sigma):
    same = [case(c["run"], c["prediction"], c["delta_h_true"], sigma / math.sqrt(2), sigma / math.sqrt(2))
            for c in cases]
    est = _estimate(same)
    P, T = sum(c["prediction"] for c in same), sum(c["delta_h_true"] for c in same)
    assert est.ratio == pytest.approx(P / T, rel=1e-9)


@settings(deadline=None)
@given(cases=run_sets(max_runs=6), data=st.data())
def test_estimate_invariant_under_permuting_runs(cases, data):
    perm = data.draw(st.permutations(cases))
    a, b = _estimate(cases), _estimate(list(perm))
    for x, y in ((a.ratio, b.ratio), (a.ratio_se, b.ratio_se), (a.lo, b.lo), (a.hi, b.hi)):
        assert y == pytest.approx(x, rel=1e-9, abs=1e-12) or (math.isinf(x) and x == y)
    if a.heterogeneity is not None:
        assert b.heterogeneity.q == pytest.approx(a.heterogeneity.q, rel=1e-6, abs=1e-9)


@settings(deadline=None)
@given(cases=run_sets(max_runs=6), scale=st.floats(1e-3, 1e3))
def test_estimate_invariant_under_scaling_prediction_and_truth_together(cases, scale):
    scaled = [case(c["run"], scale * c["prediction"], scale * c["delta_h_true"], scale * c["sigma_prediction"],
                   scale * c["sigma_true"], 0.5 * scale**2 * (c["sigma_prediction"] ** 2 + c["sigma_true"] ** 2
                                                               - c["sigma"] ** 2)) for c in cases]
    a, b = _estimate(cases), _estimate(scaled)
    assert b.ratio == pytest.approx(a.ratio, rel=1e-9) and b.ratio_se == pytest.approx(a.ratio_se, rel=1e-6)
    if a.heterogeneity is not None:
        assert b.heterogeneity.q == pytest.approx(a.heterogeneity.q, rel=1e-6, abs=1e-9)


@settings(deadline=None)
@given(cases=run_sets(max_runs=6))
def test_q_is_non_negative_and_the_interval_holds_the_ratio(cases):
    est = _estimate(cases)
    if est.heterogeneity is not None:
        assert est.heterogeneity.q >= 0.0 and 0.0 <= est.heterogeneity.p_value <= 1.0
    if math.isfinite(est.lo) and math.isfinite(est.ratio):
        assert est.lo <= est.ratio <= est.hi


@settings(deadline=None)
@given(cases=run_sets(max_runs=6), ratio=st.floats(0.2, 5.0))
def test_q_is_zero_when_every_run_has_the_same_ratio(cases, ratio):
    same = [case(c["run"], ratio * c["delta_h_true"], c["delta_h_true"], c["sigma_prediction"], c["sigma_true"],
                 0.5 * (c["sigma_prediction"] ** 2 + c["sigma_true"] ** 2 - c["sigma"] ** 2)) for c in cases]
    est = _estimate(same)
    assert est.ratio == pytest.approx(ratio, rel=1e-9)
    if est.heterogeneity is not None:
        assert est.heterogeneity.q == pytest.approx(0.0, abs=1e-9) and est.heterogeneity.c == pytest.approx(ratio)


@settings(deadline=None)
@given(cases=run_sets(max_runs=6))
def test_t_at_one_is_stouffers_z(cases):
    """t(1) = s·Σ w(P − T)/√Σ w²σ_1² = s·Σ z/√R: the TOST, the interval and Z share one estimator."""
    n = _numbers(cases)
    w = equivalence.stouffer_weights([x.sigma for x in n])
    from dhstats.verdicts.pooling import case_sigma_c
    t1 = equivalence.t_statistic(1.0, [x.prediction for x in n], [x.delta_h_true for x in n], w,
                                 lambda c: [case_sigma_c(x, c) for x in n])
    s = math.copysign(1.0, sum(wr * x.delta_h_true for wr, x in zip(w, n)))
    assert t1 == pytest.approx(s * sum(x.z for x in n) / math.sqrt(len(n)), rel=1e-9, abs=1e-9)


def test_percent_groups_thousands():
    assert [equivalence.percent(x) for x in (0.3312, 1.904, 0.0412, 34.0, 2200.4)] == [
        "33 %", "190 %", "4.1 %", "3 400 %", "220 000 %"]

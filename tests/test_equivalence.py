"""Resolution and equivalence (dhstats.equivalence, σ_c of dhstats.sigmas, the pooled TOST of
dhstats.agreement): hand-computed numbers, a bootstrap of σ_c, hypothesis properties."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dhstats import equivalence
from dhstats.agreement import case_sigma_c, pooled_agreement
from dhstats.case_numbers import AgreementNumbers
from dhstats.results import Run, RunFile, validate
from dhstats.sigmas import run_sigmas, sigma_c
from dhstats.simulate import simulate_run
from dhstats.stats import centred, paired_influence


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
    v = pooled_agreement("pooled_linear_agreement", "E_x", 1e-6, TWO_RUNS, 3.0, tolerance=0.2, alpha=0.05)
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
    v = pooled_agreement("pooled_linear_agreement", "E_x", 1e-6, TWO_RUNS, 3.0, tolerance=0.05, alpha=0.05)
    assert v.to_dict()["tost_lo"] == pytest.approx(0.920997, abs=1e-6)
    assert v.to_dict()["tost_hi"] == pytest.approx(-0.736607, abs=1e-6)
    assert v.to_dict()["ratio"] == pytest.approx(1.0047080, abs=1e-7)
    assert v.to_dict()["ratio_se"] == pytest.approx(0.0605254, abs=1e-7)
    assert str(v.outcome) == "failed" and str(v.reason) == "not_demonstrated"
    assert v.to_dict()["runs_needed"] == 26 and v.to_dict()["e_needed"] == pytest.approx(3212.5, abs=0.1)
    assert "≈ 26 runs of this precision (or E ≈ 3 200 at 2 runs)" in v.message


def test_tost_out_of_tolerance_and_significant_bias_inside():
    far = [case(r, 1.6, 1.0, 0.06, 0.05) for r in ("run_01", "run_02")]
    v = pooled_agreement("pooled_linear_agreement", "E_x", 1e-6, far, 3.0, tolerance=0.2, alpha=0.05)
    assert str(v.reason) == "out_of_tolerance" and v.to_dict()["tost_hi"] > 1.645
    # 10 % high with tiny σ: |Z| > k, but inside ±20 % → passes and says so
    near = [case(f"run_0{i}", 1.1, 1.0, 0.005, 0.005) for i in range(1, 5)]
    v = pooled_agreement("pooled_linear_agreement", "E_x", 1e-6, near, 3.0, tolerance=0.2, alpha=0.05)
    assert str(v.outcome) == "passed" and abs(v.to_dict()["Z"]) > 3 and "significant bias" in v.message
    assert str(pooled_agreement("pooled_linear_agreement", "E_x", 1e-6, near, 3.0).outcome) == "failed"


def test_one_run_is_pooled_only_under_tolerance():
    one = TWO_RUNS[:1]
    skipped = pooled_agreement("pooled_linear_agreement", "E_x", 1e-6, one, 3.0)
    assert str(skipped.outcome) == "skipped"
    # its resolution is the run's: (3 + 0.841621)·σ_1/|ΔH_true| with σ_1 = √0.0061, ΔH_true = 1
    assert skipped.to_dict()["resolution"] == pytest.approx(3.841621 * math.sqrt(0.0061), abs=1e-6)
    judged = pooled_agreement("pooled_linear_agreement", "E_x", 1e-6, one, 3.0, tolerance=0.5, alpha=0.05)
    assert judged.to_dict()["R"] == 1 and str(judged.outcome) == "passed"


def test_pass_message_states_resolution():
    v = pooled_agreement("pooled_linear_agreement", "E_x", 1e-6, TWO_RUNS, 3.0)
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
        return pooled_agreement("pooled_linear_agreement", "E_x", 1e-6, cases, 3.0, tolerance=d).reason

    if str(verdict(delta)) == "ok":
        assert str(verdict(delta + more)) == "ok"


@settings(deadline=None)  # no deadline: the shared machine is slow under load
@given(cases=run_sets(), delta=st.one_of(st.none(), st.floats(0.05, 1.0)))
def test_swapping_every_sign_changes_no_verdict(cases, delta):
    flipped = [case(c["run"], -c["prediction"], -c["delta_h_true"], c["sigma_prediction"], c["sigma_true"],
                    0.5 * (c["sigma_prediction"] ** 2 + c["sigma_true"] ** 2 - c["sigma"] ** 2)) for c in cases]
    a = pooled_agreement("pooled_linear_agreement", "E_x", 1e-6, cases, 3.0, tolerance=delta)
    b = pooled_agreement("pooled_linear_agreement", "E_x", 1e-6, flipped, 3.0, tolerance=delta)
    assert (a.outcome, a.reason) == (b.outcome, b.reason)
    assert b.to_dict().get("resolution") == pytest.approx(a.to_dict().get("resolution"), rel=1e-9)
    if delta is not None:
        assert b.to_dict()["tost_lo"] == pytest.approx(a.to_dict()["tost_lo"], rel=1e-9, abs=1e-12)

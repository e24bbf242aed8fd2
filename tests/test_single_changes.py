"""Single-point changes to the statistics that no other test noticed, each pinned here by
exact numbers worked out by hand: the TOST's rule and sign, σ_L of the truncation rule,
se_scaling's medians, the boundaries |z| = k and k̂ = k̂_max, runs-needed, σ_c and the amber
rules. ``bench/single_changes.py`` applies each change and runs these tests (and the files
that cover the same code) to show that each one fails."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dhstats.report import confidence
from dhstats.stats import equivalence
from dhstats.verdicts.agreement import LINEAR
from dhstats.verdicts.pooling import case_sigma_c, pooled_agreement
from dhstats.verdicts.case_numbers import AgreementNumbers
from dhstats.verdicts.registry import evaluate_run
from dhstats.load.results import Run, RunFile, validate
from dhstats.verdicts.runsets import scaling_medians, scaling_verdict
from dhstats.load.settings import Settings
from dhstats.stats.sigmas import sigma_c
from dhstats.simulate import simulate_run
from dhstats.stats.truncation import truncation

from health_records import case as record, run as run_record
from dhstats.report.health import build_health

Z95 = 1.6448536269514722  # z_0.95
Z90 = 1.2815515655446004  # z_0.90
Z80 = 0.8416212335729143  # z_0.80


# =========================================================================== TOST (equal σ's per run)


def test_tost_needs_t_hi_below_minus_z_not_below_z():
    # P = 1.5 per run, ΔH_true = 1, σ_c = 0.1 per run, δ = 0.5, α = 0.05: Σσ² = 0.02, √ = 0.141421.
    # t_lo = (3 − 0.5·2)/0.141421 = 14.1421 > z; t_hi = (3 − 1.5·2)/0.141421 = 0: −z ≤ t_hi < z.
    # The ratio sits on the band's upper edge: not demonstrated (t_hi < z would call it demonstrated).
    t = equivalence.tost([1.5, 1.5], [1.0, 1.0], [0.1, 0.1], [0.1, 0.1], 0.5, 0.05)
    assert t.t_lo == pytest.approx(14.142136, abs=1e-6) and t.t_hi == 0.0
    assert t.z == pytest.approx(Z95, abs=1e-12)
    assert t.verdict == equivalence.Equivalence.NOT_DEMONSTRATED
    # just inside the edge by 1.2σ of the sum: t_hi = −1.2 ∈ [−z, z): still not demonstrated
    t = equivalence.tost([1.44, 1.44], [1.0, 1.0], [0.1, 0.1], [0.1, 0.1], 0.5, 0.05)
    assert t.t_hi == pytest.approx(-0.12 / 0.1414213562, abs=1e-6)
    assert t.verdict == equivalence.Equivalence.NOT_DEMONSTRATED


def test_tost_of_negative_truths_takes_the_sign_of_their_sum():
    # ΔH_true = −1 per run, P = −1.1, −0.9 (ratio 1), σ_c = 0.1, δ = 0.5: s = sign(ΣT) = −1.
    # t_lo = −(−2 − 0.5·(−2))/0.141421 = 7.0711; t_hi = −(−2 − 1.5·(−2))/0.141421 = −7.0711.
    t = equivalence.tost([-1.1, -0.9], [-1.0, -1.0], [0.1, 0.1], [0.1, 0.1], 0.5, 0.05)
    assert t.t_lo == pytest.approx(7.0710678, abs=1e-6) and t.t_hi == pytest.approx(-7.0710678, abs=1e-6)
    assert t.verdict == equivalence.Equivalence.DEMONSTRATED
    # predictions of the other sign (ratio −0.2): s still from ΣT = +2, not from ΣP = −0.4.
    # t_lo = (−0.4 − 1)/0.141421 = −9.8995; t_hi = (−0.4 − 3)/0.141421 = −24.0416: out of tolerance below
    t = equivalence.tost([-0.2, -0.2], [1.0, 1.0], [0.1, 0.1], [0.1, 0.1], 0.5, 0.05)
    assert t.t_lo == pytest.approx(-9.8994949, abs=1e-6) and t.t_hi == pytest.approx(-24.0416306, abs=1e-6)
    assert t.verdict == equivalence.Equivalence.OUT_OF_TOLERANCE
    # ΣT = 0: no direction, t = 0 on both sides: never demonstrated
    t = equivalence.tost([0.1, -0.1], [1.0, -1.0], [0.1, 0.1], [0.1, 0.1], 0.5, 0.05)
    assert (t.t_lo, t.t_hi, t.verdict) == (0.0, 0.0, equivalence.Equivalence.NOT_DEMONSTRATED)


# =========================================================================== runs needed, σ_c


def test_runs_to_demonstrate_by_hand():
    # ((z_0.95 + z_0.90)·SE_ratio/δ)² = ((1.644854 + 1.281552)·0.1/0.2)² = 1.463203² = 2.140962;
    # 3 runs · 2.140962 = 6.4229 → ⌈⌉ = 7 runs
    assert equivalence.demonstration_factor(0.1, 0.2, 0.05) == pytest.approx(((Z95 + Z90) / 2) ** 2, rel=1e-12)
    assert equivalence.demonstration_factor(0.1, 0.2, 0.05) == pytest.approx(2.1409618, abs=1e-7)
    assert equivalence.runs_to_demonstrate(3, 0.1, 0.2, 0.05) == 7.0
    # α = 0.01: ((2.326348 + 1.281552)·0.05/0.1)² = 3.254874, ·10 = 32.55 → 33
    assert equivalence.runs_to_demonstrate(10, 0.05, 0.1, 0.01) == 33.0
    assert math.isnan(equivalence.runs_to_demonstrate(3, math.nan, 0.2, 0.05))


def test_pooled_runs_needed_of_three_equal_runs():
    # three runs at ratio 1: P = T = 1, σ_P = 0.1, σ_true = 0.05 (independent): σ_1² = 0.0125 each.
    # SE_ratio = √(3·0.0125)/3 = 0.0645497; δ = 0.05: factor = (2.926406·1.290994)² = 14.273224,
    # runs needed ⌈3·14.273224⌉ = ⌈42.82⌉ = 43; E ≈ 256·14.273224 = 3 654.0.
    # TOST: t_lo = 0.15/√(3·(0.01 + 0.9025·0.0025)) = 0.15/0.1917518 = 0.7822613 < z;
    # t_hi = −0.15/√(3·(0.01 + 1.1025·0.0025)) = −0.15/0.1956240 = −0.7667771 > −z: not demonstrated.
    runs = [{"run_set": "E_x", "run": f"run_0{i}", "eta": 1e-6, "check": "linear_agreement", "outcome": "passed",
             "z": 0.0, "prediction": 1.0, "delta_h_true": 1.0, "sigma": math.sqrt(0.0125),
             "sigma_source": "independent", "sigma_prediction": 0.1, "sigma_true": 0.05, "n": 256} for i in (1, 2, 3)]
    v = pooled_agreement(LINEAR, 1e-6, runs, 3.0, tolerance=0.05, alpha=0.05).at(
        "pooled_linear_agreement", "E_x", None, 1e-6).to_dict()
    assert v["reason"] == "not_demonstrated"
    assert v["tost_lo"] == pytest.approx(0.7822613, abs=1e-6) and v["tost_hi"] == pytest.approx(-0.7667771, abs=1e-6)
    assert v["runs_needed"] == 43 and v["e_needed"] == pytest.approx(3654.0, abs=0.1)


def test_sigma_c_from_numbers_and_from_arrays_by_hand():
    # √(σ_P² − 2c·cov + c²σ_true²): c = 0.5, σ_P = 0.3, σ_true = 0.2, cov = 0.02:
    # 0.09 − 0.02 + 0.01 = 0.08 → 0.2828427; c = 1.5: 0.09 − 0.06 + 0.09 = 0.12 → 0.3464102
    assert sigma_c(0.5, sigma_prediction=0.3, sigma_true=0.2, cov=0.02) == pytest.approx(math.sqrt(0.08), rel=1e-12)
    assert sigma_c(1.5, sigma_prediction=0.3, sigma_true=0.2, cov=0.02) == pytest.approx(math.sqrt(0.12), rel=1e-12)
    assert sigma_c(1.5, sigma_prediction=0.3, sigma_true=0.2) == pytest.approx(math.sqrt(0.18), rel=1e-12)
    # paired: se_sum(p − cψ); p = [1, 2, 3], ψ = [1, 0, −1], c = 2: [−1, 2, 5], sd 3, √3·3 = 5.196152
    p, psi = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, -1.0])
    assert sigma_c(2.0, p=p, psi=psi) == pytest.approx(3 * math.sqrt(3), rel=1e-12)
    # a paired case's covariance from its σ's: cov = (σ_P² + σ_true² − σ²)/2 = (0.09 + 0.04 − 0.09)/2 = 0.02
    paired = AgreementNumbers.of({"sigma_prediction": 0.3, "sigma_true": 0.2, "sigma": 0.3, "sigma_source": "paired"})
    assert case_sigma_c(paired, 0.5) == pytest.approx(math.sqrt(0.08), rel=1e-12)
    assert case_sigma_c(paired, 1.0) == pytest.approx(0.3, rel=1e-12)  # σ_1 is the case's σ


# =========================================================================== truncation: σ_L


def test_truncation_sigma_linear_carries_the_token_factor():
    # the hand example of test_truncation: η = 0.1, S = {0, 1, 2, 3}, ΣT/Σ_S T = 8/6.
    # σ_L = η·(ΣT/Σ_S T)·√4·sd([1, 2, 3, 4]) = 0.1·(4/3)·2·√(5/3) = 0.3442652
    gdotv = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    w = np.array([0.1, 0.2, 0.3, 0.2, 0.2])
    T = np.array([1.0, 1.0, 2.0, 2.0, 2.0])
    h_base = np.array([1.0, 1.0, 2.0, 2.0, 2.0])
    h_new = np.array([1.5, 1.0, 2.5, 2.0, 2.0])
    t = truncation(0.1, gdotv, w, T, h_new, h_base, 1.0, 0.8, k=1.0)
    assert t.sigma_linear == pytest.approx(0.1 * 4 / 3 * 2 * math.sqrt(5 / 3), rel=1e-12)
    # which decides the verdict: r = 26/3 is above hi = 2 by L − 2Δ = 1.02564; with σ_L it is
    # within k = 1.85 of its error √(σ_L² + 4σ_S²) = 0.38327·… (1.85·0.3834 = 0.709 < 1.026: outside);
    # at k = 2.8: 2.8·0.38343 = 1.0736 > 1.02564, not outside; without the factor σ_L = 0.258199,
    # √(0.258199² + 4·0.0854751²) = 0.32083, 2.8·0.32083 = 0.8983 < 1.02564: outside.
    assert t.outside((0.5, 2.0), 1.85)
    assert not t.outside((0.5, 2.0), 2.8)


# =========================================================================== se_scaling: medians


def _scaling_case(run, eta, E, sigma_g, sigma_true, run_set="E_a"):
    return {"run_set": run_set, "run": run, "eta": eta, "check": "linear_agreement", "n": E,
            "sigma_g": sigma_g, "sigma_true": sigma_true}


def test_se_scaling_takes_medians_over_runs():
    # E = 100: σ_G·√E = 10·[0.1, 0.1, 1.0] = [1, 1, 10] → median 1 (the mean would be 4);
    # σ_true·√E/η at η = 1e-6: 10·[1e-7, 1e-7, 1e-6]/1e-6 = [1, 1, 10] → median 1
    a = [_scaling_case(f"run_0{i}", 1e-6, 100, g, s)
         for i, (g, s) in enumerate([(0.1, 1e-7), (0.1, 1e-7), (1.0, 1e-6)], start=1)]
    m = scaling_medians(a)
    assert m["E"] == 100 and m["m_g"] == pytest.approx(1.0, rel=1e-12)
    assert m["m_true"] == {1e-6: pytest.approx(1.0, rel=1e-12)}
    # against a reference of E = 400 whose runs all have 1: ratios 1, within [1/2, 2]
    ref = [_scaling_case(f"run_0{i}", 1e-6, 400, 0.05, 5e-8, "E_b") for i in (1, 2, 3)]
    v = scaling_verdict("E_a", {"E_a": m, "E_b": scaling_medians(ref)}, (0.5, 2.0)).at("se_scaling", "E_a", None, None)
    assert str(v.outcome) == "passed"
    assert v.to_dict()["ratio_sigma_g"] == pytest.approx(1.0) and v.to_dict()["ratio_sigma_true"] == pytest.approx(1.0)


def test_se_scaling_reference_without_the_eta_uses_its_median_over_eta():
    # the reference (E = 400) has η = 1e-6, 2e-6, 4e-6 with σ_true·√E/η = 1, 1, 10: median 1 (mean 4);
    # E_a has only η = 8e-6, σ_true·√E/η = 1: ratio 1/1 = 1 (with a mean, 0.25: out of [1/2, 2])
    ref = [_scaling_case("run_01", eta, 400, 0.05, x * eta / 20, "E_b") for eta, x in ((1e-6, 1), (2e-6, 1), (4e-6, 10))]
    a = [_scaling_case("run_01", 8e-6, 100, 0.1, 8e-6 / 10)]
    v = scaling_verdict("E_a", {"E_a": scaling_medians(a), "E_b": scaling_medians(ref)}, (0.5, 2.0)).at(
        "se_scaling", "E_a", None, None)
    assert v.to_dict()["ratio_sigma_true"] == pytest.approx(1.0, rel=1e-12) and str(v.outcome) == "passed"


# =========================================================================== exact boundaries


def _run(seed=4) -> Run:
    run = validate(simulate_run(n=256, seed=seed, entropy_noise=0.01, score_noise=0.3),
                   RunFile("E_256", "run_01", Path("results.json")))
    assert isinstance(run, Run)
    return run


def _verdicts(run: Run, **settings) -> dict:
    return {(v.check, v.eta): v for v in evaluate_run(run, Settings(**settings))}


def test_z_equal_to_k_passes_and_just_above_fails():
    """checks.md: a case passes when |z| ≤ k — at |z| = k exactly too."""
    run = _run()
    eta = run.entries[-1].eta
    z = abs(_verdicts(run)[("linear_agreement", eta)].to_dict()["z"])
    assert z > 0
    at = _verdicts(run, k=z)[("linear_agreement", eta)]
    assert str(at.outcome) == "passed" and at.to_dict()["z"] == pytest.approx(math.copysign(z, at.to_dict()["z"]))
    below = _verdicts(run, k=math.nextafter(z, 0.0))[("linear_agreement", eta)]
    assert str(below.outcome) == "failed"


def test_pooled_z_equal_to_k_passes():
    runs = [{"run_set": "E_x", "run": f"run_0{i}", "eta": 1e-6, "check": "linear_agreement", "outcome": "passed",
             "z": z, "prediction": 1.0 + 0.1 * z, "delta_h_true": 1.0, "sigma": 0.1, "sigma_source": "independent",
             "sigma_prediction": 0.08, "sigma_true": 0.06, "n": 256} for i, z in ((1, 1.3), (2, 2.1))]
    Z = (1.3 + 2.1) / math.sqrt(2)
    at = pooled_agreement(LINEAR, 1e-6, runs, Z).at("pooled_linear_agreement", "E_x", None, 1e-6)
    assert at.to_dict()["Z"] == Z and str(at.outcome) == "passed"
    assert str(pooled_agreement(LINEAR, 1e-6, runs, math.nextafter(Z, 0.0)).outcome) == "failed"


def test_khat_equal_to_khat_max_passes_and_just_above_fails():
    """checks.md: k̂ ≤ k̂_max passes."""
    run = _run(seed=5)
    eta = run.entries[-1].eta
    khat = _verdicts(run)[("snis_reliability", eta)].to_dict()["khat"]
    assert khat is not None
    assert str(_verdicts(run, khat_max=khat)[("snis_reliability", eta)].outcome) == "passed"
    assert str(_verdicts(run, khat_max=math.nextafter(khat, -math.inf))[("snis_reliability", eta)].outcome) == "failed"


# =========================================================================== amber rules


def _health(resolutions, skipped, total=4, warn=0.5):
    """One run set: a pooled linear case per η with the given resolutions; one run's
    truncation_ratio with ``skipped`` of ``total`` cases inconclusive."""
    cases = [record("E_1", None, 1e-6 * (j + 1), "pooled_linear_agreement", "passed", resolution=r, Z=0.1)
             for j, r in enumerate(resolutions)]
    cases += [record("E_1", "run_01", 1e-6 * (j + 1), "truncation_ratio", "skipped" if j < skipped else "passed",
                     reason="inconclusive" if j < skipped else "ok") for j in range(total)]
    sets = [{"name": "E_1", "path": "/data/E_1", "E": 256, "runs": 1}]
    return build_health(Settings(resolution_warn=warn), ["/data/E_1"], [run_record("E_1", "run_01")], cases,
                        run_sets=sets, generated="2026-12-02T22:00:00Z")


def test_low_resolution_is_strictly_worse_than_the_warning():
    # one η (its median and its worst are the same): resolution 0.5 = resolution_warn is not
    # low (resolution > warn is); 0.51 is, and the words say it
    h = _health((0.5,), skipped=0)
    assert confidence.low_resolution(h, "pooled_linear_agreement") is None and h["confidence"] == "resolved"
    h = _health((0.51,), skipped=0)
    assert confidence.low_resolution(h, "pooled_linear_agreement") == "resolves ±51 %"
    assert h["confidence"] == "low_resolution"
    h = _health((2.0,), skipped=0, warn=2.0)  # the threshold is the setting's, boundary included
    assert confidence.low_resolution(h, "pooled_linear_agreement") is None


def test_more_than_half_skipped_is_low_resolution_and_half_is_not():
    h = _health((0.1,), skipped=2, total=4)  # exactly half: not low
    assert confidence.low_resolution(h, "truncation_ratio") is None and h["confidence"] == "resolved"
    h = _health((0.1,), skipped=3, total=5)  # 3 of 5
    assert confidence.low_resolution(h, "truncation_ratio") == "3 of 5 inconclusive"
    assert h["confidence"] == "low_resolution"
    h = _health((0.1,), skipped=1, total=1)
    assert confidence.low_resolution(h, "truncation_ratio") == "1 of 1 inconclusive"

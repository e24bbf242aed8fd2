"""Smoke test of bench/calibration.py: the calibration machinery, in seconds.

1. exact numbers of its helpers (normal tails from tables, a hand-computed cluster SE);
2. hypothesis properties of the helpers (symmetry, monotonicity, bounds, invariances);
3. the power shift is what it claims: adding δ·T_i/ΣT to every gdotv_i (G → G + δ,
   δ = b·σ_lin/η) moves the gate's linear z by exactly b and leaves σ_lin unchanged;
4. a few dozen simulated runs through the benchmark's own code path: coverage, pooled false
   alarms and power fall in wide bands around their targets (the full numbers come from
   ``python bench/calibration.py``);
5. the real-file statistics on a simulated run set written to disk.
"""
from __future__ import annotations

import copy
import importlib.util
import math
import statistics
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dhstats.verdicts import registry
from dhstats.load.results import RunFile, validate
from dhstats.load.settings import Settings
from dhstats.simulate import DEFAULT_ETAS, simulate_run, write_run_set
from dhstats.verdicts.verdicts import RunContext

from paths import PROJECT_ROOT

_PATH = PROJECT_ROOT / "bench" / "calibration.py"
_SPEC = importlib.util.spec_from_file_location("calibration_bench", _PATH)
cal = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(cal)


# =========================================================================== 1. exact numbers


def test_tail_prob_matches_normal_tables():
    # 2Φ(−3) = 0.0026997961; Φ(1) = 0.8413447461 (+Φ(−7) = 1.28e-12);
    # Φ(−2) + Φ(−4) = 0.0227501319 + 0.0000316712 (Abramowitz & Stegun, table 26.1)
    assert math.isclose(cal.tail_prob(0.0), 0.0026997961, rel_tol=1e-7)
    assert math.isclose(cal.tail_prob(4.0), 0.8413447461 + 1.28e-12, rel_tol=1e-9)
    assert math.isclose(cal.tail_prob(1.0), 0.0227501319 + 0.0000316712, rel_tol=1e-7)
    # the power target: b = 0.5, R = 64 gives Φ(1) as well
    assert cal.tail_prob(0.5 * math.sqrt(64)) == cal.tail_prob(4.0)
    # sd 2: P(|N(0, 4)| > 3) = 2Φ(−1.5) = 0.1336144
    assert math.isclose(cal.tail_prob(0.0, 3.0, 2.0), 0.1336144, rel_tol=1e-6)


def test_cluster_rate_hand_values():
    # clusters [1, 0] and [1, 1]: means 0.5 and 1 → rate 0.75, SE = std([.5, 1], ddof=1)/√2 = 0.25
    rate, se = cal.cluster_rate(np.array([[True, False], [True, True]]))
    assert rate == 0.75 and math.isclose(se, 0.25, rel_tol=1e-15)
    # 1-D input: one item per cluster → the binomial-like SE of 0/1 values
    rate, se = cal.cluster_rate(np.array([1.0, 0.0, 0.0, 1.0]))
    assert rate == 0.5 and math.isclose(se, math.sqrt(1 / 3) / 2, rel_tol=1e-15)


def test_implied_rate_of_calibrated_z_is_the_normal_tail():
    z = np.array([[-1.0, -1.0], [1.0, 1.0]])  # μ = 0, s = √2 at each η
    assert math.isclose(cal.implied_rate(z, 0.0, 4), cal.tail_prob(0.0, 3.0, math.sqrt(2)), rel_tol=1e-15)
    # shift b at R runs: centre √R·b
    assert math.isclose(cal.implied_rate(z, 1.0, 4), cal.tail_prob(2.0, 3.0, math.sqrt(2)), rel_tol=1e-15)


def test_exact_differences_are_the_policy_truncation_terms():
    ex = cal.exact_differences()
    eta = np.array(DEFAULT_ETAS)
    # the linear prediction misses ½η²R'' (R'' ≈ 2.27e6): −½η²R'' to within O(η³)
    half_curv = 0.5 * eta**2 * 2271054.612328005
    np.testing.assert_allclose(ex["lin"], -half_curv, rtol=0.05)
    # lin+quad leaves only O(η³): ≥ 10× smaller than the curvature at every η
    assert np.all(np.abs(ex["lq"]) < 0.1 * half_curv)


# =========================================================================== 2. properties


@given(st.floats(-20, 20), st.floats(0.1, 5), st.floats(0.1, 5))
def test_tail_prob_symmetric_and_bounded(mean, k, sd):
    p = cal.tail_prob(mean, k, sd)
    assert 0.0 <= p <= 1.0
    assert math.isclose(p, cal.tail_prob(-mean, k, sd), rel_tol=1e-12, abs_tol=1e-300)


@given(st.floats(0, 10), st.floats(0, 10))
def test_tail_prob_increases_with_the_shift(a, b):
    lo, hi = sorted((a, b))
    assert cal.tail_prob(lo) <= cal.tail_prob(hi) + 1e-15


@given(st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=2, max_size=30), st.randoms())
def test_cluster_rate_is_the_mean_with_the_se_of_cluster_means(rows, rnd):
    """rate = mean of all items; SE = sd(ddof=1) of the per-cluster means / √clusters, so it
    does not change when clusters are reordered or when the items inside a cluster are."""
    hits = np.array(rows)
    rate, se = cal.cluster_rate(hits)
    means = [sum(r) / len(r) for r in rows]
    assert math.isclose(rate, sum(means) / len(means), rel_tol=1e-12, abs_tol=1e-15)
    assert math.isclose(se, statistics.stdev(means) / math.sqrt(len(rows)), rel_tol=1e-9, abs_tol=1e-15)
    # a cluster whose items all agree weighs as one observation, not as three
    agreed = np.repeat(hits[:, :1], 3, axis=1)
    assert math.isclose(cal.cluster_rate(agreed)[1], cal.cluster_rate(hits[:, 0])[1], rel_tol=1e-9, abs_tol=1e-15)
    perm = list(range(len(rows)))
    rnd.shuffle(perm)
    shuffled = np.array([rnd.sample(list(r), len(r)) for r in hits[perm]])
    rate2, se2 = cal.cluster_rate(shuffled)
    assert math.isclose(rate, rate2, rel_tol=1e-12, abs_tol=1e-15) and math.isclose(se, se2, rel_tol=1e-9, abs_tol=1e-15)


# =========================================================================== 3. the power shift


def test_shifting_gdotv_by_b_sigma_moves_z_by_b():
    doc = simulate_run(128, DEFAULT_ETAS, seed=3, entropy_noise=0.01, score_noise=0.5)
    file = RunFile("E_128", "run_01", Path("<memory>"))
    run = validate(doc, file)
    ctx = RunContext(run, Settings())
    j, b = 2, 1.0
    entry = run.entries[j]
    before = registry.check("linear_agreement").verdict(ctx, entry).to_dict()
    delta = b * before["sigma"] / entry.eta
    shifted = copy.deepcopy(doc)
    T = np.array([s["length"] for s in doc["approx"]["per_sequence"]], dtype=float)
    for s, t in zip(shifted["approx"]["per_sequence"], T):
        s["gdotv"] += delta * t / T.sum()
    shifted["approx"]["delta_h_per_lr"] += delta
    run2 = validate(shifted, file)
    after = registry.check("linear_agreement").verdict(RunContext(run2, Settings()),
                                                       run2.entries[j]).to_dict()
    assert after["sigma_source"] == before["sigma_source"] == "paired"
    assert math.isclose(after["sigma"], before["sigma"], rel_tol=1e-9)
    assert math.isclose(after["z"], before["z"] + b, rel_tol=0, abs_tol=1e-7)


# =========================================================================== 4. the machinery on few runs


def _pool(n, score_noise, runs, tag):
    pool = cal.simulate_pool(n, score_noise, runs, seed=7, processes=1, tag=tag)
    cal.remove_curvature(pool, cal.exact_differences())
    return pool


def test_coverage_pooled_and_power_smoke():
    exact = cal.exact_differences()
    pool = _pool(128, 0.5, 48, 1)
    assert pool["lin_z"].shape == (48, len(DEFAULT_ETAS))
    rows = {r["interval"]: r for r in cal.coverage(pool, exact)}
    lin = rows["ηG − ΔH_true ± 1.96σ_lin"]
    assert lin["paired"] == 1.0 and lin["runs"] == 48
    for r in rows.values():  # 95 % nominal; 48 runs: a wide band
        assert 0.8 <= r["coverage"] <= 1.0, r
        assert 0.6 <= r["sd_z"] <= 1.5, r
    # healthy sets of 4: the pooled checks rarely fire, Z has sd ≈ 1
    alarms = [r for r in cal.false_alarms(pool, 128) if r["variant"] != "linear (raw)"]
    assert {r["R"] for r in alarms} == {4}
    for r in alarms:
        assert r["rate"] <= 0.1 and 0.4 <= r["sd_Z"] <= 1.8, r
    # a shared bias of 3σ per run: Z ≈ 6 over 4 runs (power ≈ 1); per run |z + 3| > 3 about half
    failed, Z = cal.pooled_failures(pool, "linear − curvature", 4, shift=3.0, n=128)
    assert failed.mean() >= 0.9 and 4.0 <= np.median(Z) <= 8.0
    assert 0.2 <= np.mean(np.abs(pool["lin0_z"] + 3.0) > 3.0) <= 0.8


def test_heterogeneity_and_tost_diagnostic_smoke():
    """bench/calibration_resolution.py's heterogeneity rows and TOST diagnostic on 32 runs: the
    healthy sets are rarely heterogeneous, a split of ±200 % nearly always is."""
    spec = importlib.util.spec_from_file_location("calibration_resolution_bench",
                                                  PROJECT_ROOT / "bench" / "calibration_resolution.py")
    res = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(res)
    pool = _pool(256, 0.5, 32, 3)
    dh = res.exact_delta_h()
    rows = res.heterogeneity_rows(pool, dh, splits=(2.0,))
    assert {(r["R"], r["estimator"]) for r in rows["size"]} == {(R, e) for R in (2, 4, 16) for e in ("linear", "lin+quad")}
    assert all(r["rate"] <= 0.1 for r in rows["size"])
    assert [(r["R"], r["b"]) for r in rows["split"]] == [(4, 2.0), (16, 2.0)]
    assert all(r["rate"] >= 0.8 for r in rows["split"])
    d = res.tost_diagnostic(pool, dh)
    assert [(c["R"], c["delta"], c["at"], c["sets"]) for c in d["cells"]] == [(16, 0.5, "1 − δ", 2), (16, 0.5, "1 + δ", 2)]
    assert all(0.0 <= c[form][0] <= 1.0 for c in d["cells"] for form in ("weighted", "unweighted"))
    assert abs(d["prediction"][0]) < 1.0


def test_raw_linear_pooled_sees_the_curvature_without_gradient_noise():
    # without gradient noise ηG − ΔH_true is precise enough that the curvature ½η²R'' at the
    # largest η is a ≳ 1σ offset per run: pooled over 4 runs it fires, the corrected one does not
    pool = _pool(256, 0.0, 16, 2)
    z_raw, z_fixed = pool["lin_z"][:, -1], pool["lin0_z"][:, -1]
    assert np.mean(z_raw) < -1.0 and abs(np.mean(z_fixed)) < 0.75
    raw, _ = cal.pooled_failures(pool, "linear (raw)", 4, n=256)
    fixed, _ = cal.pooled_failures(pool, "linear − curvature", 4, n=256)
    assert raw[:, -1].mean() >= 0.75 and fixed.mean() <= 0.1


def test_real_file_statistics_on_a_simulated_run_set(tmp_path):
    write_run_set(tmp_path, name="E_128", runs=2, n=128, entropy_noise=0.01, score_noise=0.5)
    rows = cal.real_files(tmp_path)
    assert len(rows) == 2 * len(DEFAULT_ETAS)
    for r in rows:
        assert -1.0 <= r["corr"] <= 1.0
        # σ_ind² − σ_paired² = 2·cov: the ratio exceeds 1 exactly when the correlation is positive
        assert (r["ratio"] > 1.0) == (r["corr"] > 0.0)

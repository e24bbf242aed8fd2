"""Tests for dhstats.verdicts.verdicts: every check of shared/spec/checks.md on small hand-built runs.

``make_run`` builds a valid, internally consistent :class:`Run` (n = 40, seeded): gdotv sums to
G, per_sequence_vhvv to Q, delta_h_true is the corrected SNIS reconstruction, base_entropy =
Σh_base/ΣT, ess = 1/Σw̃², token_counts equal across entries. Each test then introduces one
minimal defect with ``dataclasses.replace`` and asserts the outcome and the message.
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

from dhstats.stats import stats
from dhstats.load.results import Entry, InvalidRun, Problem, ProblemReason, Quadratic, Run, RunFile
from dhstats.verdicts.registry import pooled_verdict
from dhstats.verdicts.case_numbers import AgreementNumbers
from dhstats.verdicts.holm import apply_holm
from dhstats.gate.collection import case_id
from dhstats.verdicts.registry import BY_NAME, Scope, evaluate, evaluate_run
from dhstats.load.settings import Settings
from dhstats.verdicts.verdicts import Outcome, Reason, RunContext, Verdict

#: the checks judged per run (the run-set checks are judged by the gate, see test_gate.py)
CHECKS = tuple(c.name for c in BY_NAME.values() if c.scope != Scope.RUN_SET)
RUN_CHECKS = tuple(c.name for c in BY_NAME.values() if c.scope == Scope.RUN)

from builders import consistent_entry, make_run

N = 40
ETAS = (1e-6, 2e-6)
M_SHARDS = 8
RUN_FILE = RunFile("E_test", "run_01", Path("/data/E_test/run_01/results.json"))
HEALTH_KEYS = {"run_set", "run", "eta", "check", "outcome", "message", "reason"}  # checks.md + reason code  # checks.md, "cases"


# --------------------------------------------------------------------------- builders


def rebuild(e: Entry, **changes) -> Entry:
    """``e`` with some arrays changed and every derived field recomputed (still consistent)."""
    w = changes.pop("normalized_weights", e.normalized_weights)
    T = changes.pop("token_counts", e.token_counts)
    h_new = changes.pop("h_new", e.h_new)
    h_base = changes.pop("h_base", e.h_base)
    assert not changes, changes
    return consistent_entry(e.eta, w, T, h_new, h_base, with_h_base=e.h_base is not None)


def with_entry(run: Run, j: int, entry: Entry) -> Run:
    entries = list(run.entries)
    entries[j] = entry
    return replace(run, entries=tuple(entries))


def judge(check: str, run: Run, j: int = 0, settings: Settings = Settings()) -> Verdict:
    ctx = RunContext(run, settings)
    if check in RUN_CHECKS:
        return BY_NAME[check].verdict(ctx)
    return BY_NAME[check].verdict(ctx, run.entries[j])


def judge_all(check: str, run: Run, settings: Settings = Settings()) -> list[Verdict]:
    return [v for v in evaluate_run(run, settings) if v.check == check]


@pytest.fixture(scope="module")
def healthy() -> Run:
    return make_run()


# --------------------------------------------------------------------------- healthy run


def test_builder_is_consistent(healthy):
    run = healthy
    assert run.gdotv.sum() == pytest.approx(run.delta_h_per_lr, rel=1e-12)
    assert run.quadratic.per_sequence_vhvv.sum() == pytest.approx(run.quadratic.vhvv, rel=1e-12)
    for e in run.entries:
        assert np.array_equal(e.token_counts, run.entries[0].token_counts)
        assert e.normalized_weights.sum() == pytest.approx(1.0, abs=1e-12)
        assert e.delta_h_true == pytest.approx(stats.snis_delta(e.normalized_weights, e.token_counts, e.h_new, e.base_entropy), rel=1e-12)


def test_healthy_run_passes_every_check(healthy):
    verdicts = evaluate_run(healthy)
    # one case per (check, η), one per run for se_consistency, in CHECKS order
    assert len(verdicts) == (len(CHECKS) - len(RUN_CHECKS)) * len(ETAS) + len(RUN_CHECKS)
    assert list(dict.fromkeys(v.check for v in verdicts)) == list(CHECKS)
    for v in verdicts:
        assert v.outcome == Outcome.PASSED, f"{v.check} η={v.eta}: {v.message}"
        assert (v.run_set, v.run) == ("E_test", "run_01")
        assert (v.eta is None) if v.check in RUN_CHECKS else (v.eta in ETAS)
    assert [v.eta for v in verdicts if v.check == "linear_agreement"] == list(ETAS)
    assert [v.eta for v in verdicts if v.check == "se_consistency"] == [None]


def test_healthy_verdicts_are_json_serialisable(healthy):
    for v in evaluate_run(healthy):
        d = v.to_dict()
        assert set(d) == HEALTH_KEYS | set(dict(v.numbers.items())) | ({"detail"} if v.detail else set())
        json.dumps(d, allow_nan=False)  # no NaN/inf, no arrays


# --------------------------------------------------------------------------- consistency


class TestConsistency:
    def test_sum_gdotv_off(self, healthy):
        run = replace(healthy, gdotv=healthy.gdotv * 1.01)
        for v in judge_all("consistency", run):
            assert v.outcome == Outcome.FAILED
            assert "Σ gdotv" in v.message and "rel. tol. 1e-5" in v.message
            assert v.to_dict()["sum_gdotv"] == pytest.approx(1.01 * healthy.delta_h_per_lr, rel=1e-12)

    def test_sum_gdotv_within_tolerance(self, healthy):
        run = replace(healthy, gdotv=healthy.gdotv * (1 + 2e-7))  # the producer's observed 2e-7
        assert judge("consistency", run).outcome == Outcome.PASSED

    def test_sum_vhvv_off(self, healthy):
        q = replace(healthy.quadratic, per_sequence_vhvv=healthy.quadratic.per_sequence_vhvv * 1.01)
        v = judge("consistency", replace(healthy, quadratic=q))
        assert v.outcome == Outcome.FAILED and "Σ per_sequence_vhvv" in v.message

    def test_uncorrected_snis_denominator(self, healthy):
        e = healthy.entries[0]
        w, T = e.normalized_weights, e.token_counts
        # pre-correction producer: Σ w̃ h_new / (D · mean w̃) − H_base
        old = float(np.dot(w, e.h_new) / (T.sum() * w.mean())) - e.base_entropy
        assert abs(old - e.delta_h_true) > 1e-6 * abs(e.delta_h_true)  # the defect is visible
        v = judge("consistency", with_entry(healthy, 0, replace(e, delta_h_true=old)))
        assert v.outcome == Outcome.FAILED
        assert "uncorrected SNIS denominator" in v.message
        assert v.to_dict()["reconstructed_uncorrected"] == pytest.approx(old, rel=1e-12)

    def test_delta_h_true_off_otherwise(self, healthy):
        e = healthy.entries[0]
        v = judge("consistency", with_entry(healthy, 0, replace(e, delta_h_true=e.delta_h_true * 1.001)))
        assert v.outcome == Outcome.FAILED
        assert "Σ c_i" in v.message and "uncorrected" not in v.message

    def test_misaligned(self, healthy):
        length = healthy.length.copy()
        length[3] += 1
        v = judge("consistency", replace(healthy, length=length))
        assert v.outcome == Outcome.FAILED
        assert "1 sequence(s) misaligned" in v.message
        assert "approx.per_sequence[3].length" in v.message and "token_counts[3]" in v.message

    def test_base_entropy_off(self, healthy):
        e = healthy.entries[0]
        # shift H_base and delta_h_true together: the reconstruction still holds, only
        # base_entropy = Σh_base/ΣT is broken
        bad = replace(e, base_entropy=e.base_entropy + 1e-3, delta_h_true=e.delta_h_true - 1e-3)
        v = judge("consistency", with_entry(healthy, 0, bad))
        assert v.outcome == Outcome.FAILED
        assert v.message.startswith("base_entropy = ") and "Σh_base/ΣT" in v.message

    def test_reported_ess_off(self, healthy):
        e = healthy.entries[1]
        v = judge("consistency", with_entry(healthy, 1, replace(e, ess=e.ess * 1.01)), j=1)
        assert v.outcome == Outcome.FAILED and "reported ess" in v.message
        ok = judge("consistency", with_entry(healthy, 1, replace(e, ess=e.ess * (1 + 5e-4))), j=1)
        assert ok.outcome == Outcome.PASSED  # within rel. 1e-3

    def test_token_counts_differ_across_entries(self):
        run = make_run(per_sequence=False)  # isolate from the alignment check
        e1 = run.entries[1]
        T = e1.token_counts.copy()
        T[5] += 1
        run = with_entry(run, 1, rebuild(e1, token_counts=T))  # entry 1 consistent in itself
        v0, v1 = judge_all("consistency", run)
        assert v0.outcome == Outcome.PASSED
        assert v1.outcome == Outcome.FAILED
        assert "token_counts differ" in v1.message and "η=1e-06" in v1.message and "[5]" in v1.message
        assert "misaligned" not in v1.message and "Σ c_i" not in v1.message

    def test_no_per_sequence_says_what_was_not_checked(self):
        v = judge("consistency", make_run(per_sequence=False))
        assert v.outcome == Outcome.PASSED
        assert "Not checked: Σ gdotv and alignment (no approx.per_sequence)" in v.message

    def test_no_h_base_says_what_was_not_checked(self):
        v = judge("consistency", make_run(h_base=False))
        assert v.outcome == Outcome.PASSED and "base_entropy (no h_base)" in v.message


# --------------------------------------------------------------------------- snis_weights


class TestSnisWeights:
    def test_negative_weight(self, healthy):
        e = healthy.entries[0]
        w = e.normalized_weights.copy()
        a = w[0]
        w[0], w[1] = -a, w[1] + 2 * a  # Σ w̃ stays 1
        v = judge("snis_weights", with_entry(healthy, 0, replace(e, normalized_weights=w)))
        assert v.outcome == Outcome.FAILED
        assert "1 negative weight(s), first normalized_weights[0]" in v.message
        assert "not normalised" not in v.message
        assert v.to_dict()["min_weight"] == pytest.approx(-a)

    def test_not_normalised(self, healthy):
        e = healthy.entries[0]
        v = judge("snis_weights", with_entry(healthy, 0, replace(e, normalized_weights=e.normalized_weights * 1.1)))
        assert v.outcome == Outcome.FAILED
        assert "Σ w̃ = 1.1" in v.message and "not normalised" in v.message
        assert v.to_dict()["sum_weights"] == pytest.approx(1.1, rel=1e-12)

    def test_sum_within_abs_tolerance(self, healthy):
        e = healthy.entries[0]
        w = e.normalized_weights.copy()
        w[0] += 5e-7
        assert judge("snis_weights", with_entry(healthy, 0, replace(e, normalized_weights=w))).outcome == Outcome.PASSED

    def test_weights_sum_not_positive(self, healthy):
        e = healthy.entries[0]
        v = judge("snis_weights", with_entry(healthy, 0, replace(e, weights_sum=0.0)))
        assert v.outcome == Outcome.FAILED and "weights_sum = 0, expected > 0" in v.message


# --------------------------------------------------------------------------- snis_reliability


class TestSnisReliability:
    def test_one_dominating_weight(self, healthy):
        w = np.full(N, 0.1 / (N - 1))
        w[0] = 0.9
        # ESS = 1/(0.81 + 39·(0.1/39)²) = 1.2341…, ESS/n = 0.0309 < 0.1
        run = with_entry(healthy, 0, rebuild(healthy.entries[0], normalized_weights=w))
        v = judge("snis_reliability", run)
        assert v.outcome == Outcome.FAILED
        assert v.to_dict()["ess_fraction"] == pytest.approx(1 / (0.81 + 0.01 / 39) / 40, rel=1e-12)
        assert "ESS/n = 0.0309 < 0.1" in v.message
        assert v.to_dict()["khat"] is None  # one value above the tied rest: no tail to fit

    def test_heavy_tail(self, healthy):
        # Pareto quantiles r_i = ((i + ½)/n)^(−1/2): a tail of shape k = 0.5 by construction,
        # while ESS/n = 0.64 is fine. k̂ ≈ 0.48 > 1 − 1/log10(40) = 0.3758.
        r = ((np.arange(N) + 0.5) / N) ** -0.5
        run = with_entry(healthy, 0, rebuild(healthy.entries[0], normalized_weights=r / r.sum()))
        v = judge("snis_reliability", run)
        assert v.outcome == Outcome.FAILED
        assert v.to_dict()["khat_max"] == pytest.approx(1 - 1 / math.log10(40), rel=1e-12)
        assert v.to_dict()["khat"] > v.to_dict()["khat_max"]
        assert v.to_dict()["ess_fraction"] > 0.1
        assert "Pareto k̂" in v.message and "ESS/n" not in v.message
        # a looser threshold (--khat-max 0.6) accepts the same weights
        assert judge("snis_reliability", run, settings=Settings(khat_max=0.6)).outcome == Outcome.PASSED

    def test_equal_weights_pass(self, healthy):
        run = with_entry(healthy, 0, rebuild(healthy.entries[0], normalized_weights=np.full(N, 1 / N)))
        v = judge("snis_reliability", run)
        assert v.outcome == Outcome.PASSED
        assert v.to_dict()["ess_fraction"] == pytest.approx(1.0, rel=1e-12)
        assert "nearly uniform" in v.message

    def test_all_zero_weights_fail_without_crashing_the_run(self, healthy):
        # all-zero w̃ passes load validation (finite, right length); pareto_khat raises on
        # all-zero ratios, which used to turn the whole run into an internal error, no cases
        e = healthy.entries[0]
        run = with_entry(healthy, 0, replace(e, normalized_weights=np.zeros(N)))
        with np.errstate(divide="ignore", invalid="ignore"):
            rv, cases = evaluate(run)
        assert rv.outcome == "ok" and len(cases) == len(evaluate_run(healthy))
        v = next(c for c in cases if c.check == "snis_reliability" and c.eta == e.eta)
        assert v.outcome == Outcome.FAILED and "no positive weight" in v.message
        w = next(c for c in cases if c.check == "snis_weights" and c.eta == e.eta)
        assert w.outcome == Outcome.FAILED and "not normalised" in w.message

    def test_small_n_khat_not_estimable_is_skipped(self):
        # n = 20: tail length M = ⌈min(4, 13.4)⌉ = 4 < 5, k̂ cannot be fitted; ESS/n < 0.99
        v = judge("snis_reliability", make_run(n=20, weight_sd=0.5))
        assert v.outcome == Outcome.SKIPPED
        assert "cannot be estimated" in v.message and "too few draws" in v.message


# --------------------------------------------------------------------------- se_consistency


class TestSeConsistency:
    def test_healthy_numbers(self, healthy):
        v = judge("se_consistency", healthy)
        assert v.outcome == Outcome.PASSED and v.eta is None
        assert v.to_dict()["rho_se_shard"] == pytest.approx(1.05, rel=1e-12)
        assert v.to_dict()["rho_se_vHvv"] == pytest.approx(1.05, rel=1e-12)

    @staticmethod
    def shard_mean_run(healthy):
        """The producer's bug: every reported SE is se_sum/num_shards."""
        q = healthy.quadratic
        T = healthy.entries[0].token_counts
        se_g = stats.se_sum(stats.centred(healthy.gdotv, T)) / M_SHARDS
        se_q = stats.se_sum(stats.centred(q.per_sequence_vhvv, T)) / M_SHARDS
        return replace(healthy, se_shard=se_g, se_jackknife=se_g,
                       quadratic=replace(q, se_vhvv=se_q, se_gdotv=se_g))

    def test_shard_mean_convention_is_named(self, healthy):
        v = judge("se_consistency", self.shard_mean_run(healthy))
        assert v.outcome == Outcome.FAILED
        assert "shard-mean" in v.message and "num_shards = 8" in v.message
        assert "--reported-se shard-mean" in v.message
        assert v.to_dict()["rho_se_shard"] == pytest.approx(1 / 8, rel=1e-12)
        assert v.to_dict()["num_shards"] == 8
        # the corrected value num_shards·se_shard = se_sum(g̃) is printed
        assert f"{stats.se_sum(stats.centred(healthy.gdotv, healthy.entries[0].token_counts)):.3g}" in v.message

    def test_shard_mean_setting_passes(self, healthy):
        v = judge("se_consistency", self.shard_mean_run(healthy), settings=Settings(reported_se="shard-mean"))
        assert v.outcome == Outcome.PASSED
        assert v.to_dict()["rho_se_shard"] == pytest.approx(1.0, rel=1e-12)
        assert v.to_dict()["reported_se"] == "shard-mean"

    def test_shard_mean_setting_needs_num_shards(self, healthy):
        run = replace(self.shard_mean_run(healthy), num_shards=None,
                      quadratic=replace(healthy.quadratic, num_shards=None))
        v = judge("se_consistency", run, settings=Settings(reported_se="shard-mean"))
        assert v.outcome == Outcome.FAILED and "needs num_shards" in v.message

    def test_ratio_out_of_bounds(self, healthy):
        run = replace(healthy, se_shard=4.0 * stats.se_sum(healthy.gdotv))  # ρ = 4, ρ·M = 32
        v = judge("se_consistency", run)
        assert v.outcome == Outcome.FAILED
        assert "outside [0.333, 3]" in v.message and "shard-mean" not in v.message

    def test_no_per_sequence_data_skipped(self):
        v = judge("se_consistency", make_run(per_sequence=False))
        assert v.outcome == Outcome.SKIPPED and "no per-sequence data" in v.message

    def test_no_reported_se_skipped(self):
        v = judge("se_consistency", make_run(reported_se=False))
        assert v.outcome == Outcome.SKIPPED and "no reported SEs" in v.message


# --------------------------------------------------------------------------- agreement


def _centred(x, T, total):
    return x - total * T / T.sum()


def _psi(e: Entry):
    w, T, hn, hb = e.normalized_weights, e.token_counts, e.h_new, e.h_base
    B, D = float(np.sum(w * T)), float(np.sum(T))
    R1, R0 = float(np.sum(w * hn)) / B, float(np.sum(hb)) / D
    return w * (hn - R1 * T) / B - (hb - R0 * T) / D


def _se_sum(x):
    return math.sqrt(x.size) * float(np.std(x, ddof=1))


def _hand_sigmas(run: Run, e: Entry):
    """σ_G = √n·std(g̃, ddof=1), g̃ = gdotv − G·T/ΣT, and σ_true = √(n/(n−1)·Σψ²), written out (checks.md)."""
    n = e.h_new.size
    sigma_g = _se_sum(_centred(run.gdotv, e.token_counts, run.delta_h_per_lr))
    w, T, hn, hb = e.normalized_weights, e.token_counts, e.h_new, e.h_base
    B, D = float(np.sum(w * T)), float(np.sum(T))
    R1, R0 = float(np.sum(w * hn)) / B, float(np.sum(hb)) / D
    psi = w * (hn - R1 * T) / B - (hb - R0 * T) / D
    sigma_true = math.sqrt(n / (n - 1) * float(np.sum(psi * psi)))
    return sigma_g, sigma_true


class TestLinearAgreement:
    @pytest.mark.parametrize("j", range(len(ETAS)))
    def test_healthy_exact_z(self, healthy, j):
        """z with the paired σ of the difference: se_sum(η·g̃ − ψ) (checks.md)."""
        e = healthy.entries[j]
        sg, st_ = _hand_sigmas(healthy, e)
        g_t = _centred(healthy.gdotv, e.token_counts, healthy.delta_h_per_lr)
        sigma = _se_sum(e.eta * g_t - _psi(e))
        z = (e.eta * healthy.delta_h_per_lr - e.delta_h_true) / sigma
        v = judge("linear_agreement", healthy, j)
        assert v.outcome == Outcome.PASSED
        assert v.to_dict()["z"] == pytest.approx(z, rel=1e-9)
        assert v.to_dict()["sigma"] == pytest.approx(sigma, rel=1e-12)
        assert v.to_dict()["sigma_prediction"] == pytest.approx(e.eta * sg, rel=1e-12)
        assert v.to_dict()["sigma_true"] == pytest.approx(st_, rel=1e-12)
        assert (v.to_dict()["sigma_g_source"], v.to_dict()["sigma_true_source"]) == ("per_sequence", "paired")
        assert v.to_dict()["sigma_source"] == "paired" and "paired" in v.message

    def test_far_from_eta_g_fails(self, healthy):
        e = healthy.entries[0]
        g_t = _centred(healthy.gdotv, e.token_counts, healthy.delta_h_per_lr)
        combined = _se_sum(e.eta * g_t - _psi(e))
        truth = e.delta_h_true + 10 * combined  # ΔH_true 10 σ away from where it was
        z = (e.eta * healthy.delta_h_per_lr - truth) / combined
        v = judge("linear_agreement", with_entry(healthy, 0, replace(e, delta_h_true=truth)))
        assert v.outcome == Outcome.FAILED
        assert abs(v.to_dict()["z"]) > v.to_dict()["k"] == 3.0
        assert v.to_dict()["z"] == pytest.approx(z, rel=1e-9)
        assert v.to_dict()["sigma"] == pytest.approx(combined, rel=1e-12)
        head, detail = v.message.split("\n")
        assert head.startswith(f"|z| = {abs(z):.3g} > k = 3: ") and f"z = {z:.3g}" in detail
        assert detail.startswith("ηG = ") and "σ_lin = se_sum(η·g̃ − ψ)" in detail
        assert "se_sum" not in head and "√" not in head  # the formula is in the detail, not the headline

    def test_sigma_option(self, healthy):
        # --sigma k: the same healthy case fails once k < |z|
        z = judge("linear_agreement", healthy).to_dict()["z"]
        assert 0 < abs(z) <= 3
        v = judge("linear_agreement", healthy, settings=Settings(k=abs(z) / 2))
        assert v.outcome == Outcome.FAILED and v.to_dict()["k"] == abs(z) / 2

    def test_without_h_base_approximate_sigma_true_and_independent_sigma(self):
        run = make_run(h_base=False)
        v = judge("linear_agreement", run)
        sg = _se_sum(_centred(run.gdotv, run.entries[0].token_counts, run.delta_h_per_lr))
        assert v.to_dict()["sigma_true"] == pytest.approx(ETAS[0] * sg, rel=1e-12)  # η·σ_G
        assert v.to_dict()["sigma_true_source"] == "approximate" and "approximate" in v.message
        assert v.to_dict()["sigma_source"] == "independent"
        assert v.to_dict()["sigma"] == pytest.approx(math.sqrt(2) * ETAS[0] * sg, rel=1e-12)

    def test_reported_sigma_g_without_per_sequence(self):
        run = make_run(per_sequence=False)
        v = judge("linear_agreement", run)
        assert v.to_dict()["sigma_g_source"] == "reported" and v.to_dict()["sigma_source"] == "independent"
        assert v.to_dict()["sigma_prediction"] == pytest.approx(ETAS[0] * run.se_shard, rel=1e-12)
        v8 = judge("linear_agreement", run, settings=Settings(reported_se="shard-mean"))
        assert v8.to_dict()["sigma_g_source"] == "reported ×num_shards"
        assert v8.to_dict()["sigma_prediction"] == pytest.approx(ETAS[0] * M_SHARDS * run.se_shard, rel=1e-12)

    def test_no_sigma_g_skipped(self):
        v = judge("linear_agreement", make_run(per_sequence=False, reported_se=False))
        assert v.outcome == Outcome.SKIPPED and "no σ_G" in v.message


class TestLinquadAgreement:
    @pytest.mark.parametrize("j", range(len(ETAS)))
    def test_healthy_exact_z(self, healthy, j):
        e, q = healthy.entries[j], healthy.quadratic
        T = e.token_counts
        g_t = _centred(healthy.gdotv, T, healthy.delta_h_per_lr)
        q_t = _centred(q.per_sequence_vhvv, T, q.vhvv)
        eta = e.eta
        pred = eta * q.gdotv + 0.5 * eta**2 * q.vhvv
        sigma = _se_sum(eta * g_t + 0.5 * eta**2 * q_t - _psi(e))
        z = (pred - e.delta_h_true) / sigma
        v = judge("linquad_agreement", healthy, j)
        assert v.outcome == Outcome.PASSED
        assert v.to_dict()["z"] == pytest.approx(z, rel=1e-9)
        assert v.to_dict()["prediction"] == pytest.approx(pred, rel=1e-12)
        assert v.to_dict()["sigma"] == pytest.approx(sigma, rel=1e-12) and v.to_dict()["sigma_source"] == "paired"
        assert v.to_dict()["sigma_q"] == pytest.approx(_se_sum(q_t), rel=1e-12)

    def test_no_quadratic_skipped(self):
        v = judge("linquad_agreement", make_run(quadratic=False))
        assert v.outcome == Outcome.SKIPPED and "no approx.quadratic block" in v.message

    def test_no_sigma_q_skipped(self, healthy):
        run = replace(healthy, per_sequence_vhvv=None,
                      quadratic=replace(healthy.quadratic, per_sequence_vhvv=None, se_vhvv=None))
        v = judge("linquad_agreement", run)
        assert v.outcome == Outcome.SKIPPED and "σ_Q" in v.message


# --------------------------------------------------------------------------- truncation_ratio


class TestTruncationRatio:
    def test_healthy_ratios_near_one(self, healthy):
        for v in judge_all("truncation_ratio", healthy):
            assert v.outcome == Outcome.PASSED
            for q in (0.99, 0.95, 0.9):
                assert 0.9 < v.numbers[f"ratio_q{q:g}"] < 1.1
            assert "notebook_ratio_q0.99" in v.to_dict()

    def test_no_h_base_skipped(self):
        v = judge("truncation_ratio", make_run(h_base=False))
        assert v.outcome == Outcome.SKIPPED and "diagnostics.h_base" in v.message

    def test_no_per_sequence_skipped(self):
        v = judge("truncation_ratio", make_run(per_sequence=False))
        assert v.outcome == Outcome.SKIPPED and "approx.per_sequence" in v.message

    def test_all_inconclusive_skipped(self):
        # no true change (G = Q = 0) and 1 nat of per-sequence noise: |Δ_S| < 3σ_S everywhere
        run = make_run(G=0.0, Q=0.0, noise=1.0)
        for v in judge_all("truncation_ratio", run):
            assert v.outcome == Outcome.SKIPPED
            assert "no keep-quantile conclusive" in v.message

    def test_spiky_spurious_mass_fails(self, healthy):
        # 80% of G moved onto one sequence that carries no true change; the true effect stays
        # spread over all 40 sequences. Σ gdotv = G still, so ηG ≈ ΔH_true overall, but on the
        # bulk S (the spike is dropped already at q = 0.99) L_S ≈ 0.2·Δ_S.
        g = healthy.gdotv * 0.2
        g[7] += 0.8 * healthy.delta_h_per_lr
        run = replace(healthy, gdotv=g)
        assert run.gdotv.sum() == pytest.approx(run.delta_h_per_lr, rel=1e-9)
        for v in judge_all("truncation_ratio", run):
            assert v.outcome == Outcome.FAILED
            assert "ratio outside [0.5, 2] beyond 3σ at q = 0.99, 0.95, 0.9" in v.message
            assert v.numbers["ratio_q0.99"] == pytest.approx(0.2, rel=0.1)

    def test_ratio_bounds_option(self, healthy):
        g = healthy.gdotv * 0.2
        g[7] += 0.8 * healthy.delta_h_per_lr
        run = replace(healthy, gdotv=g)
        v = judge("truncation_ratio", run, settings=Settings(ratio_bounds=(0.1, 10.0)))
        assert v.outcome == Outcome.PASSED


# --------------------------------------------------------------------------- records, evaluate, Holm


def test_evaluate_invalid_run_is_an_error_without_cases():
    bad = InvalidRun(RUN_FILE, (Problem(RUN_FILE.display, "true.entries", ProblemReason.MISSING, "missing"),))
    rv, cases = evaluate(bad)
    assert cases == []
    assert rv.outcome == "error"
    assert (rv.run_set, rv.run, rv.path) == ("E_test", "run_01", str(RUN_FILE.path))
    assert "invalid input (1 problem)" in rv.message and "true.entries: missing" in rv.message
    assert rv.to_dict()["outcome"] == "error"
    assert rv.to_dict()["problems"] == [{"file": RUN_FILE.display, "json_path": "true.entries", "reason": "missing",
                                         "message": "missing"}]


def test_evaluate_valid_run(healthy):
    rv, cases = evaluate(healthy)
    assert rv.outcome == "ok" and rv.message == ""
    assert [v.to_dict() for v in cases] == [v.to_dict() for v in evaluate_run(healthy)]


def test_verdict_to_dict_keys_and_nan():
    v = Verdict("linear_agreement", Outcome.FAILED, "msg", "E_2048", "run_01", 1.6e-06,
                {"z": math.nan, "sigma_true": math.inf, "k": 3.0, "sigma_g_source": "reported", "num_shards": 8})
    d = v.to_dict()
    assert set(d) == HEALTH_KEYS | {"z", "sigma_true", "k", "sigma_g_source", "num_shards"}
    assert d["outcome"] == "failed" and isinstance(d["outcome"], str) and type(d["outcome"]) is str
    assert (d["run_set"], d["run"], d["eta"], d["check"], d["message"]) == ("E_2048", "run_01", 1.6e-06, "linear_agreement", "msg")
    assert d["z"] is None and d["sigma_true"] is None  # JSON has no NaN/inf
    assert d["k"] == 3.0 and d["sigma_g_source"] == "reported" and d["num_shards"] == 8
    json.dumps(d, allow_nan=False)


def test_verdict_to_dict_numpy_nan_is_none():
    v = Verdict("truncation_ratio", Outcome.PASSED, "m", "E", "r", 1e-6, {"ratio_q0.99": np.float64("nan")})
    assert v.to_dict()["ratio_q0.99"] is None


@pytest.mark.parametrize(
    "eta, expected",
    [
        (1.6e-06, "E_2048/run_01/eta=1.6e-06"),
        (2e-06, "E_2048/run_01/eta=2e-06"),
        (1e-05, "E_2048/run_01/eta=1e-05"),
        (0.1 + 0.2, "E_2048/run_01/eta=0.30000000000000004"),  # repr: exact, never rounded
        (None, "E_2048/run_01"),
    ],
)
def test_case_id(eta, expected):
    assert case_id("E_2048", "run_01", eta) == expected


def _z_for_p(p: float) -> float:
    """|z| with two-sided p-value p: Φ⁻¹(1 − p/2)."""
    return NormalDist().inv_cdf(1 - p / 2)


def test_apply_holm_fails_exactly_the_rejected():
    # linear_agreement family: p = .01, .04, .03, .005 (α = .05) → Holm rejects .005 and .01
    # (see test_stats.TestHolm). All four pass at k = 3 (|z| ≤ 2.81) before Holm.
    ps = [0.01, 0.04, 0.03, 0.005]
    signs = [1, -1, 1, -1]
    lin = [
        Verdict("linear_agreement", Outcome.PASSED, f"ηG = … ; z = {s * _z_for_p(p):.3g}, k = 3.",
                "E_2048", "run_01", eta, AgreementNumbers(z=s * _z_for_p(p), k=3.0),
                detail=f"ηG = … ; z = {s * _z_for_p(p):.3g}")
        for p, s, eta in zip(ps, signs, (1e-6, 2e-6, 4e-6, 8e-6))
    ]
    # a separate family: one linquad case with p = .03 ≤ α/1 is rejected on its own
    lq = Verdict("linquad_agreement", Outcome.PASSED, "z = 2.17, k = 3.", "E_2048", "run_01", 1e-6,
                 AgreementNumbers(z=_z_for_p(0.03), k=3.0), detail="z = 2.17")
    skipped = Verdict("linear_agreement", Outcome.SKIPPED, "no σ_G.", "E_2048", "run_02", 1e-6, AgreementNumbers())
    other = Verdict("consistency", Outcome.FAILED, "Σ gdotv off.", "E_2048", "run_01", 1e-6, {"z": 10.0})
    out = apply_holm(lin + [lq, skipped, other], alpha=0.05)

    assert [v.outcome for v in out[:4]] == [Outcome.FAILED, Outcome.PASSED, Outcome.PASSED, Outcome.FAILED]
    assert out[4].outcome == Outcome.FAILED
    assert out[5] is skipped and out[6] is other  # untouched
    for v, p in zip(out[:4], ps):
        assert v.numbers.p_value == pytest.approx(p, rel=1e-9)
        assert v.numbers.holm_alpha == 0.05 and "k" not in v.to_dict()
        assert "Holm–Bonferroni over 4 cases at α = 0.05" in v.message
        assert ", k = 3" not in v.message
    assert out[0].message.startswith("rejected by Holm–Bonferroni over 4 cases")
    assert "not rejected by Holm–Bonferroni" in out[1].message
    assert "over 1 cases" in out[4].message
    # the inputs are not mutated
    assert all(v.outcome == Outcome.PASSED for v in lin)


def test_apply_holm_states_each_resolution_at_its_own_critical_value():
    # the family of test_apply_holm_fails_exactly_the_rejected with a resolution of 0.1 at k = 3 on
    # every case; ranks by p: .005 → 0, .01 → 1, .03 → 2, .04 → 3, so the critical |z| is
    # −Φ⁻¹(.05/(2·(4 − rank))): 2.4977, 2.3940, 2.2414, 1.9600, and the resolution
    # 0.1·(z_crit + 0.841621)/(3 + 0.841621)
    ps, ranks = [0.01, 0.04, 0.03, 0.005], [1, 3, 2, 0]
    lin = [Verdict("linear_agreement", Outcome.PASSED, "…", "E_2048", "run_01", eta,
                   AgreementNumbers(z=_z_for_p(p), k=3.0, resolution=0.1), detail="…")
           for p, eta in zip(ps, (1e-6, 2e-6, 4e-6, 8e-6))]
    out = apply_holm(lin, alpha=0.05)
    for v, rank in zip(out, ranks):
        z_crit = -NormalDist().inv_cdf(0.05 / (2 * (4 - rank)))
        assert v.numbers.z_critical == pytest.approx(z_crit, rel=1e-12)
        assert v.numbers.resolution == pytest.approx(0.1 * (z_crit + 0.8416212) / 3.8416212, rel=1e-6)
    assert [round(v.numbers.z_critical, 4) for v in out] == [2.394, 1.96, 2.2414, 2.4977]


def test_holm_at_1e_80_does_not_claim_the_resolution_of_k():
    """Runs biased by 25 % (pooled Z ≈ −16.7): Holm at α = 1e-80 (critical |z| = 19.03) passes the
    pooled case, and says what it could see at that threshold: ±30 %, not k's ±5.8 %."""
    runs = [{"run_set": "E_x", "run": f"run_0{i}", "eta": 1e-6, "check": "linear_agreement", "outcome": "failed",
             "z": -0.25 / 0.03, "prediction": 0.75, "delta_h_true": 1.0, "sigma": 0.03,
             "sigma_source": "independent", "sigma_prediction": 0.03 / math.sqrt(2),
             "sigma_true": 0.03 / math.sqrt(2)} for i in range(1, 5)]
    pooled = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, runs, 3.0)
    # at k: (3 + 0.841621)·√4/(4/0.03) = 0.0576243
    assert pooled.numbers.resolution == pytest.approx(0.0576243, rel=1e-5) and pooled.numbers.Z < -16
    (v,) = apply_holm([pooled], alpha=1e-80)
    z_crit = -NormalDist().inv_cdf(0.5e-80)
    assert v.numbers.z_critical == pytest.approx(z_crit, rel=1e-12) and z_crit == pytest.approx(19.028, abs=1e-3)
    assert v.outcome == Outcome.PASSED
    assert v.numbers.resolution == pytest.approx(0.0576243 * (z_crit + 0.8416212) / 3.8416212, rel=1e-5)
    assert "would detect a bias of ±30 % or more" in v.message and "5.8 %" not in v.message


def test_holm_leaves_tost_judged_and_heterogeneous_pooled_cases_alone():
    """--holm with --tolerance: a pooled case judged by the TOST keeps the TOST's verdict (Holm
    re-judging it on Z would pass this not-demonstrated case: its |Z| is 0.1); a heterogeneous
    case stays failed."""
    two = [{"run_set": "E_x", "run": f"run_0{i}", "eta": 1e-6, "check": "linear_agreement", "outcome": "passed",
            "z": z, "prediction": 1.0 + 0.1 * z, "delta_h_true": 1.0, "sigma": 0.1, "sigma_source": "independent",
            "sigma_prediction": 0.1 / math.sqrt(2), "sigma_true": 0.1 / math.sqrt(2)}
           for i, z in ((1, 0.5), (2, -0.3))]
    tost = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, two, 3.0, tolerance=0.05)
    assert tost.reason == Reason.NOT_DEMONSTRATED
    apart = [dict(c, z=z, prediction=1.0 + 0.1 * z) for c, z in zip(two, (2.9, -2.9))]
    het = pooled_verdict("pooled_linear_agreement", "E_x", 2e-6, apart, 3.0)
    assert het.reason == Reason.HETEROGENEOUS
    out = apply_holm([tost, het], alpha=0.05)
    assert out[0] is tost
    assert (out[1].outcome, out[1].reason, out[1].message) == (Outcome.FAILED, Reason.HETEROGENEOUS, het.message)
    assert out[1].numbers.z_critical == pytest.approx(-NormalDist().inv_cdf(0.025), rel=1e-12)
    # a pooled case of one run (skipped, with that run's resolution) is restated at rank 0 too
    one = pooled_verdict("pooled_linear_agreement", "E_x", 4e-6, two[:1], 3.0)
    assert one.outcome == Outcome.SKIPPED and one.numbers.resolution == pytest.approx(3.8416212 * 0.1, rel=1e-6)
    (after,) = apply_holm([one], alpha=0.05)
    assert after.outcome == Outcome.SKIPPED
    assert after.numbers.resolution == pytest.approx(0.1 * (1.9599640 + 0.8416212), rel=1e-6)


def test_apply_holm_on_evaluated_runs(healthy):
    # a far-off truth (|z| ≈ 10) is rejected, the healthy η is not; other checks are unchanged
    e = healthy.entries[0]
    run = with_entry(healthy, 0, replace(e, delta_h_true=e.delta_h_true + 0.05))
    verdicts = evaluate_run(run)
    out = apply_holm(verdicts, alpha=0.05)
    lin = [v for v in out if v.check == "linear_agreement"]
    assert [v.outcome for v in lin] == [Outcome.FAILED, Outcome.PASSED]
    assert lin[0].message.startswith("rejected by Holm–Bonferroni over 2 cases")
    for before, after in zip(verdicts, out):
        if before.check not in ("linear_agreement", "linquad_agreement"):
            assert after is before


class TestTruncationSamplingError:
    """The ratio's numerator L_S has its own sampling error (σ_L); a ratio outside the bounds
    by less than that error is inconclusive, not a failure (docs/design.md, "Truncation ratio")."""

    def test_noisy_gdotv_outside_bounds_is_inconclusive_not_failed(self, healthy):
        rng = np.random.default_rng(5)
        noise = rng.standard_normal(healthy.n)
        noise -= noise.mean()  # keeps Σ gdotv = G
        g = healthy.gdotv + 50 * abs(healthy.delta_h_per_lr) / healthy.n * noise
        run = replace(healthy, gdotv=g)
        for v in judge_all("truncation_ratio", run):
            assert v.outcome != Outcome.FAILED, v.message

    def test_outside_is_fieller_style(self):
        from dhstats.stats.truncation import Truncation

        t = Truncation(0.99, 10, linear=3.0, sigma_linear=0.1, true=1.0, sigma=0.1, ratio=3.0,
                       notebook_ratio=3.0, conclusive=True)
        # L − 2Δ = 1.0 vs 3·√(0.1² + (2·0.1)²) = 0.671 → outside
        assert t.outside((0.5, 2.0), 3.0)
        wide = replace(t, sigma_linear=0.5)  # 3·√(0.25 + 0.04) = 1.616 > 1.0 → not outside
        assert not wide.outside((0.5, 2.0), 3.0)
        low = replace(t, linear=0.2, ratio=0.2)  # 0.5 − 0.2 = 0.3 > 3·√(0.01 + 0.0025) = 0.335? no
        assert not low.outside((0.5, 2.0), 3.0)
        assert replace(low, linear=0.1, sigma_linear=0.01).outside((0.5, 2.0), 3.0)  # 0.4 > 0.153


def test_reason_codes(healthy):
    assert {v.reason for v in evaluate_run(healthy)} == {Reason.OK}
    no_q = replace(healthy, quadratic=None)
    (v, *_) = [v for v in evaluate_run(no_q) if v.check == "linquad_agreement"]
    assert v.outcome == Outcome.SKIPPED and v.reason == Reason.MISSING_FIELD
    assert v.to_dict()["reason"] == "missing_field"
    run = make_run(G=0.0, Q=0.0, noise=1.0)
    assert {v.reason for v in evaluate_run(run) if v.check == "truncation_ratio"} == {Reason.INCONCLUSIVE}


# --------------------------------------------------------------------------- garbage never passes


def test_per_sequence_vhvv_must_match_the_quadratic_block(healthy):
    vhvv = healthy.per_sequence_vhvv.copy()
    vhvv[5] *= 1.01
    v = judge("consistency", replace(healthy, per_sequence_vhvv=vhvv))
    assert v.outcome == Outcome.FAILED
    assert "approx.per_sequence[5].vhvv" in v.message and "approx.quadratic.per_sequence_vhvv[5]" in v.message


def test_log_weights_must_give_the_normalized_weights(healthy):
    e = healthy.entries[1]
    lw = e.log_weights.copy()
    lw[[3, 7]] = lw[[7, 3]]  # two log-weights swapped: the weights no longer follow them
    v = judge("consistency", with_entry(healthy, 1, replace(e, log_weights=lw)), j=1)
    assert v.outcome == Outcome.FAILED and "softmax(clip(log_weights, ±10))" in v.message
    assert v.to_dict()["max_weight_gap"] > 1e-6
    assert judge("consistency", healthy, j=1).to_dict()["max_weight_gap"] <= 1e-9


def test_infinite_h_base_fails_instead_of_passing(healthy):
    """h_base = [1e308]*n: Σ h_base overflows; once `_close(inf, x)` passed consistency and
    σ_true = inf gave z = 0, a pass of both agreements."""
    e = healthy.entries[0]
    run = with_entry(healthy, 0, replace(e, h_base=np.full_like(e.h_base, 1e308)))
    rv, verdicts = evaluate(run)
    mine = [v for v in verdicts if v.eta == e.eta]
    assert rv.outcome == "ok"
    by = {v.check: v for v in mine}
    assert by["consistency"].outcome == Outcome.FAILED
    for check in ("linear_agreement", "linquad_agreement", "truncation_ratio"):
        assert by[check].outcome == Outcome.FAILED and by[check].reason == Reason.NOT_FINITE, by[check].message


def test_a_pass_with_a_non_finite_number_becomes_a_failure():
    from dhstats.verdicts.verdicts import close, judgement

    v = judgement("passed", "fine.", {"ess": math.inf, "khat": None})
    assert v.outcome == Outcome.FAILED and v.reason == Reason.NOT_FINITE and "ess" in v.message
    assert judgement("passed", "ok", {"khat": None}).outcome == Outcome.PASSED
    assert not close(math.inf, 1.0, 1e-6) and not close(math.nan, math.nan, 1e-6) and close(1.0, 1.0 + 1e-9, 1e-6)


# --------------------------------------------------------------------------- messages that explain


def test_constant_ratio_across_eta_names_a_biased_g(healthy):
    three = make_run(etas=(1e-6, 2e-6, 4e-6))
    run = replace(three, delta_h_per_lr=2 * three.delta_h_per_lr, gdotv=2 * three.gdotv)
    for v in judge_all("linear_agreement", run):
        assert v.outcome == Outcome.FAILED
        assert "constant ratio across η" in v.message and "a biased G, not curvature" in v.message
    assert len(healthy.entries) == 2  # never judged "constant" from two η
    run = replace(healthy, delta_h_per_lr=2 * healthy.delta_h_per_lr, gdotv=2 * healthy.gdotv)
    for v in judge_all("linear_agreement", run):
        assert v.outcome == Outcome.FAILED and "constant ratio" not in v.message


def test_curvature_is_named_when_lin_quad_holds(healthy):
    e = healthy.entries[1]
    q = healthy.quadratic
    truth = e.eta * q.gdotv + 0.5 * e.eta**2 * q.vhvv  # lin+quad exact, ηG off by ½η²Q
    run = with_entry(healthy, 1, replace(e, delta_h_true=truth))
    run = replace(run, quadratic=replace(q, vhvv=q.vhvv * 1e3))  # a large curvature term
    v_lin = judge("linear_agreement", with_entry(run, 1, replace(e, delta_h_true=e.eta * q.gdotv + 0.5 * e.eta**2 * q.vhvv * 1e3)), 1)
    assert v_lin.outcome == Outcome.FAILED
    assert "beyond the linear regime: the lin+quad prediction holds at this η" in v_lin.message


def test_shard_mean_convention_is_suggested_without_per_sequence_data():
    run = make_run(per_sequence=False, h_base=False)  # every σ from the reported se_shard
    run = replace(run, se_shard=run.se_shard / M_SHARDS, se_jackknife=run.se_shard / M_SHARDS)
    e = run.entries[0]
    small = judge("linear_agreement", run).to_dict()["sigma"]
    run = with_entry(run, 0, replace(e, delta_h_true=e.eta * run.delta_h_per_lr - 5 * small))
    v = judge("linear_agreement", run)
    assert v.outcome == Outcome.FAILED and v.to_dict()["sigma_source"] == "independent"
    assert "shard-mean convention is the likely cause" in v.message and "--reported-se shard-mean" in v.message


def test_linquad_message_gives_the_formula_of_sigma_lq(healthy):
    e = healthy.entries[0]
    run = with_entry(healthy, 0, replace(e, delta_h_true=e.delta_h_true * 1.5))
    v = judge("linquad_agreement", run)
    assert v.outcome == Outcome.FAILED and v.to_dict()["sigma_source"] == "paired"
    assert "σ_lq = se_sum(η·g̃ + ½η²·q̃ − ψ)" in v.message and "σ_lin" not in v.message
    assert judge("linear_agreement", run).message.count("σ_lin = se_sum(η·g̃ − ψ)") == 1


def _pooled_cases(check: str, zs) -> list[dict]:
    """Per-run agreement case dicts with the given z's (prediction 1 + 0.1·z against truth 1,
    σ_1 = 0.1 = √(σ_P² + σ_true²))."""
    return [{"run_set": "E_8", "run": f"run_{i + 1:02d}", "eta": 1e-6, "check": check, "z": z,
             "outcome": "failed" if abs(z) > 2 else "passed", "prediction": 1.0 + 0.1 * z, "delta_h_true": 1.0,
             "sigma": 0.1, "sigma_prediction": 0.1 / math.sqrt(2), "sigma_true": 0.1 / math.sqrt(2),
             "sigma_source": "independent"}
            for i, z in enumerate(zs)]


def test_pooled_message_names_the_run_that_drives_it_and_what_lin_quad_says():
    # Z = −4.2/2 = −2.1; the runs do not disagree significantly (Q ≈ 4.4 on 3 d.f., p ≈ 0.2)
    lin = _pooled_cases("linear_agreement", [-2.8, -0.8, -0.6, 0.0])
    holds = _pooled_cases("linquad_agreement", [0.1, 0.2, -0.3, 0.1])
    v = pooled_verdict("pooled_linear_agreement", "E_8", 1e-6, lin, 2.0, holds)
    head = v.message.splitlines()[0]
    assert v.outcome == Outcome.FAILED and v.to_dict()["Z"] == pytest.approx(-2.1)
    assert head.startswith("|Z| = 2.1 > k = 2: the linear prediction undershoots ΔH by ")
    assert "1 of 4 runs fails on its own" in head
    assert "without run_01 Z = −0.808; the other runs point the same way too, less precisely" in head and "drives it" not in head
    assert "pooled lin+quad holds at this η (Z = 0.05): curvature" in head and "if " not in head
    assert v.to_dict()["finding"] == "beyond_linear"
    assert "run_02 z = -0.8" in v.message.splitlines()[1]  # the per-run z's in the detail
    fails = _pooled_cases("linquad_agreement", [-5.0, -4.0, -3.0, -3.0])
    v = pooled_verdict("pooled_linear_agreement", "E_8", 1e-6, _pooled_cases("linear_agreement", [-5, -4, -3, -3]),
                         2.0, fails)
    head = v.message.splitlines()[0]
    assert "4 of 4 runs fail on their own" in head and "shared by the run set, not one batch (largest: run_01" in head
    assert "pooled lin+quad fails at this η too (Z = −7.5): not curvature — a biased gdotv" in head
    assert "finding" not in v.to_dict()


def test_a_pooled_message_names_every_runs_z_up_to_ten_runs_then_the_ten_largest():
    """Up to 10 runs every z in run order; beyond, the 10 largest |z| (a message stays one
    line at 10⁴ runs; every z is in the per-run cases)."""
    from types import SimpleNamespace

    from dhstats.verdicts.pooling import LISTED_RUNS, _each_z

    def runs(zs):
        return [SimpleNamespace(run=f"r{i:02d}", numbers=SimpleNamespace(z=z)) for i, z in enumerate(zs)]

    assert LISTED_RUNS == 10
    assert _each_z(runs([0.5, -2.0])) == "r00 z = 0.5, r01 z = -2"
    many = runs([0.1 * i * (-1) ** i for i in range(12)])  # |z| grows with i: r11, r10, … r02
    assert _each_z(many) == ("10 largest |z| of 12: " + ", ".join(
        f"r{i:02d} z = {0.1 * i * (-1) ** i:.3g}" for i in range(11, 1, -1)))

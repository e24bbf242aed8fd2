"""The facts of ``shared/spec/results-format.md``, reproduced on the eight real producer files
(``shared/data/real/E_256`` and ``E_512``, Qwen2.5-1.5B + LoRA on GSM8K) with dhstats'
own functions, plus what the gate concludes on them with its default settings.

Observed worst cases over all 8 runs × 5 η (numpy 2.4, recorded when this file was written):

    |Σ gdotv − G| / |G|                       1.66e-7   (spec: ≤ 2e-7)
    |Σ per_sequence_vhvv − Q| / |Q|           2.74e-7   (spec: ≤ 3e-7)
    delta_h_true reconstruction with B        1.58e-10  (spec: 2e-10)
    base_entropy vs Σ h_base / Σ T            0 (bit-identical)
    softmax(clip(log_weights, ±10)) vs w̃     0 (bit-identical, abs. and rel.); no weight is clipped
    ess vs 1/Σ w̃²                            4.5e-16 rel.
    weights_sum vs 1/max(w̃)                  1.4e-16 rel.; vs Σ exp(clip lw − max clip lw): 0
    se_jackknife vs se_shard                  3.2e-16 rel.
    num_shards·se_shard / se_sum(gdotv)       0.808 … 1.079 (spec: 0.8–1.1)
      same for quadratic se_gdotv vs gdotv    0.807 … 1.079
      same for se_vHvv vs per_sequence_vhvv   0.812 … 1.062
    |quadratic.gdotv − G| / |G|               0.40%     (spec: up to ~1.4%)

The gate (verdicts.evaluate, default Settings) passes consistency, snis_weights,
snis_reliability, linear_agreement and linquad_agreement on all 40 cases and fails
se_consistency on all 8 runs (shard-mean convention). truncation_ratio is not asserted here:
it is skipped (inconclusive) on the E_256 runs and E_512/run_03 and fails on some η of
E_512/run_01, run_02 and run_04.
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pytest

from dhstats.stats import stats
from dhstats.load.results import Run, RunFile, discover, load_run, scan_etas
from dhstats.verdicts.registry import evaluate
from dhstats.load.settings import Settings
from dhstats.verdicts.verdicts import Outcome

from paths import REAL, needs_real

pytestmark = needs_real

RUN_SETS = ("E_256", "E_512")
RUN_KEYS = [f"{s}/run_{i:02d}" for s in RUN_SETS for i in range(1, 5)]
PASSING_CHECKS = ("consistency", "snis_weights", "snis_reliability", "linear_agreement", "linquad_agreement")


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b))


@lru_cache(maxsize=None)
def run_files() -> dict[str, RunFile]:
    return {str(f.key): f for f in discover([REAL / s for s in RUN_SETS])}


@lru_cache(maxsize=None)
def real_run(key: str) -> Run:
    run = load_run(run_files()[key])
    assert isinstance(run, Run), getattr(run, "message", run)
    return run


@lru_cache(maxsize=None)
def raw_document(key: str) -> dict:
    return json.loads(run_files()[key].path.read_bytes())


@lru_cache(maxsize=None)
def verdicts(key: str, reported_se: str = "total"):
    return evaluate(real_run(key), Settings(reported_se=reported_se))


by_run = pytest.mark.parametrize("key", RUN_KEYS)


def test_discover_finds_the_eight_runs():
    assert list(run_files()) == RUN_KEYS


@by_run
def test_every_run_validates(key):
    run = real_run(key)
    n = int(key.split("/")[0][2:])
    assert run.n == n
    assert len(run.entries) == 5  # this η grid: 8e-7 … 1.28e-5
    assert run.gdotv is not None and run.quadratic is not None and run.quadratic.per_sequence_vhvv is not None
    assert run.h_base_mean is not None  # produced after the SNIS denominator correction
    for e in run.entries:
        assert e.h_base is not None and e.log_weights is not None
        assert e.ess is not None and e.weights_sum is not None


@by_run
def test_sum_gdotv_is_g(key):
    run = real_run(key)
    assert rel(run.gdotv.sum(), run.delta_h_per_lr) <= 2e-7  # observed ≤ 1.66e-7


@by_run
def test_sum_per_sequence_vhvv_is_q(key):
    q = real_run(key).quadratic
    assert rel(q.per_sequence_vhvv.sum(), q.vhvv) <= 3e-7  # observed ≤ 2.74e-7


@by_run
def test_per_sequence_vhvv_is_quadratic_per_sequence_vhvv(key):
    run = real_run(key)
    np.testing.assert_array_equal(run.per_sequence_vhvv, run.quadratic.per_sequence_vhvv)  # exact


@by_run
def test_lengths_align_with_token_counts_in_every_entry(key):
    run = real_run(key)
    for e in run.entries:
        np.testing.assert_array_equal(run.length, e.token_counts)
        np.testing.assert_array_equal(e.token_counts, run.entries[0].token_counts)  # same E-batch
        np.testing.assert_array_equal(e.h_base, run.entries[0].h_base)  # same θ


@by_run
def test_delta_h_true_is_the_corrected_snis_estimate(key):
    run = real_run(key)
    for e in run.entries:
        w, T = e.normalized_weights, e.token_counts
        assert rel(stats.snis_delta(w, T, e.h_new, e.base_entropy), e.delta_h_true) <= 2e-10  # observed ≤ 1.58e-10
        # the notebook's split sums to it too
        c = stats.notebook_contributions(w, T, e.h_new, e.base_entropy)
        assert rel(c.sum(), e.delta_h_true) <= 1e-9
        # and the uncorrected denominator D·mean(w̃) does not reproduce it
        assert rel(stats.snis_delta_uncorrected(w, T, e.h_new, e.base_entropy), e.delta_h_true) > 1e-6


@by_run
def test_base_entropy_is_per_token_mean_of_h_base(key):
    for e in real_run(key).entries:
        assert rel(stats.base_entropy_of(e.h_base, e.token_counts), e.base_entropy) <= 1e-14  # observed 0


@by_run
def test_weights_are_softmax_of_clipped_log_weights(key):
    for e in real_run(key).entries:
        lw = np.clip(e.log_weights, -10.0, 10.0)
        unnormalised = np.exp(lw - lw.max())
        # observed: bit-identical (max abs. and rel. difference 0)
        np.testing.assert_allclose(unnormalised / unnormalised.sum(), e.normalized_weights, rtol=1e-12, atol=0)
        assert abs(e.normalized_weights.sum() - 1.0) <= 1e-12  # observed ≤ 2.2e-16
        # weights_sum = Σ exp(clip(lw) − max clip(lw)) ∈ [1, n] = 1/max(w̃)
        assert rel(e.weights_sum, unnormalised.sum()) <= 1e-12  # observed 0
        assert rel(e.weights_sum, 1.0 / e.normalized_weights.max()) <= 1e-12  # observed ≤ 1.4e-16
        assert 1.0 <= e.weights_sum <= e.normalized_weights.size


@by_run
def test_ess_is_kish(key):
    for e in real_run(key).entries:
        w = e.normalized_weights
        assert rel(e.ess, 1.0 / np.dot(w, w)) <= 1e-12  # observed ≤ 4.5e-16
        assert rel(e.ess, stats.kish_ess(w)) <= 1e-12


@by_run
def test_reported_se_follows_the_shard_mean_convention(key):
    run = real_run(key)
    M = run.num_shards
    assert M == {"E_256": 32, "E_512": 64}[run.file.run_set]
    assert rel(run.se_jackknife, run.se_shard) <= 1e-12  # observed ≤ 3.2e-16
    assert 0.8 <= M * run.se_shard / stats.se_sum(run.gdotv) <= 1.1  # observed 0.808 … 1.079
    q = run.quadratic
    assert q.num_shards == M
    assert 0.8 <= M * q.se_gdotv / stats.se_sum(run.gdotv) <= 1.1  # observed 0.807 … 1.079
    assert 0.8 <= M * q.se_vhvv / stats.se_sum(q.per_sequence_vhvv) <= 1.1  # observed 0.812 … 1.062
    # as the SE of the total, se_shard is too small by ~M
    assert stats.se_sum(run.gdotv) / run.se_shard > 0.8 * M


@by_run
def test_quadratic_gdotv_is_close_to_g(key):
    run = real_run(key)
    assert rel(run.quadratic.gdotv, run.delta_h_per_lr) <= 0.014  # observed ≤ 0.40%


@by_run
def test_scan_etas_matches_the_parse(key):
    run = real_run(key)
    assert scan_etas(run.file.path) == run.etas == (8e-7, 1.6e-6, 3.2e-6, 6.4e-6, 1.28e-5)


@by_run
def test_diagnostics_copies(key):
    """Fields dhstats does not load: diagnostics.delta_h_true is a copy of delta_h_true,
    delta_h_seq = h_new − h_base; ratio_pred is mis-computed (~1e-31) with string keys."""
    d = raw_document(key)
    for e in d["true"]["entries"]:
        g = e["diagnostics"]
        assert g["delta_h_true"] == e["delta_h_true"]
        np.testing.assert_array_equal(np.subtract(g["h_new"], g["h_base"]), g["delta_h_seq"])
        assert all(isinstance(t, int) for t in g["token_counts"])
    ratio_pred = d["approx"]["quadratic"]["ratio_pred"]
    assert set(ratio_pred) == {"8e-07", "1.6e-06", "3.2e-06", "6.4e-06", "1.28e-05"}
    assert all(abs(v) < 1e-29 for v in ratio_pred.values())


# --------------------------------------------------------------------------- the gate's verdicts


@by_run
def test_gate_healthy_checks_pass_on_every_case(key):
    rv, cases = verdicts(key)
    assert rv.outcome == "ok"
    for check in PASSING_CHECKS:
        mine = [v for v in cases if v.check == check]
        assert len(mine) == 5
        assert [(v.eta, v.outcome) for v in mine] == [(v.eta, Outcome.PASSED) for v in mine], \
            [v.message for v in mine if v.outcome != Outcome.PASSED]


@by_run
def test_gate_se_consistency_fails_and_names_the_shard_mean_convention(key):
    run = real_run(key)
    _, cases = verdicts(key)
    (v,) = [v for v in cases if v.check == "se_consistency"]
    assert v.eta is None
    assert v.outcome == Outcome.FAILED
    assert "shard-mean convention" in v.message
    assert f"num_shards = {run.num_shards}" in v.message
    assert "--reported-se shard-mean" in v.message
    # both reported SEs are explained by the convention, which is named once, in the first line
    head = v.message.splitlines()[0]
    assert v.message.count("shard-mean convention") == 1 and head.endswith("use --reported-se shard-mean.")
    assert "num_shards·se_shard = " in v.message and "num_shards·se_vHvv = " in v.message
    assert v.to_dict()["finding"] == "shard_mean_se"


@by_run
def test_gate_se_consistency_passes_with_declared_shard_mean(key):
    _, cases = verdicts(key, "shard-mean")
    (v,) = [v for v in cases if v.check == "se_consistency"]
    assert v.outcome == Outcome.PASSED, v.message
    assert 0.8 <= v.to_dict()["rho_se_shard"] <= 1.1
    assert 0.8 <= v.to_dict()["rho_se_vHvv"] <= 1.1


@by_run
def test_gate_truncation_ratio_does_not_fail_for_the_noise_of_L_S(key):
    """On the real files G/σ_G ≈ 1–4: L_S on the bulk is mostly sampling noise. checks.md's
    rule alone (judge when |Δ_S| ≥ 3σ_S) failed 13 of the 20 E_512 cases for that reason; the
    gate requires r to be outside the bounds beyond its own error (docs/design.md, "Truncation ratio")."""
    _, cases = verdicts(key)
    trunc = [v for v in cases if v.check == "truncation_ratio"]
    assert len(trunc) == 5
    assert all(v.outcome in (Outcome.PASSED, Outcome.SKIPPED) for v in trunc), [v.message for v in trunc]

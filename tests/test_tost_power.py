"""Runs needed at the observed ratio (dhstats.stats.tost_power) and the two kinds of
``not_demonstrated`` (dhstats.verdicts.pooling, through its pooled TOST):
hand-computed numbers."""
from __future__ import annotations

import math

import pytest

from dhstats.stats import equivalence, tost_power
from dhstats.verdicts.registry import pooled_verdict
from tests.test_equivalence import case


def test_runs_at_ratio_by_hand():
    # ρ = 1.35, SE = 0.05, δ = 0.4, α = 0.05: d_near = 0.05, d_far = 0.75. The far side's term is
    # Φ(15·√f − 1.64485) = 1 at the solution, so Φ(√f·0.05/0.05 − 1.64485) = 0.80:
    # √f = 1.644854 + 0.841621 = 2.486475, f = 6.182557, R' = ⌈4·6.182557⌉ = ⌈24.73⌉ = 25.
    assert tost_power.factor_at_ratio(1.35, 0.05, 0.4, 0.05) == pytest.approx(6.182557, abs=1e-5)
    assert tost_power.runs_at_ratio(4, 1.35, 0.05, 0.4, 0.05) == 25


def test_runs_at_ratio_one_is_the_ratio_one_formula():
    # at ρ = 1 both sides are at δ: 2Φ(√f·δ/s − z) − 1 = 0.8 → f = ((z_0.95 + z_0.90)·s/δ)²
    # = (2.926405·0.2/0.2)² = 8.563847; R' = ⌈4·8.563847⌉ = ⌈34.26⌉ = 35
    assert tost_power.factor_at_ratio(1.0, 0.2, 0.2, 0.05) == pytest.approx(8.563847, abs=1e-5)
    assert tost_power.runs_at_ratio(4, 1.0, 0.2, 0.2, 0.05) == 35 == equivalence.runs_to_demonstrate(4, 0.2, 0.2, 0.05)


def test_no_runs_when_the_ratio_is_outside_the_band():
    assert math.isnan(tost_power.runs_at_ratio(4, 1.55, 0.05, 0.5, 0.05))
    assert math.isnan(tost_power.runs_at_ratio(4, 0.5, 0.05, 0.5, 0.05))  # on the bound


NEAR = [case(f"run_0{i}", 1.36, 1.0, 0.05, 0.02) for i in range(1, 5)]


def test_not_demonstrated_narrow_near_a_bound():
    # pooled ratio 1.36, 90 % interval [1.31, 1.41], band 1 ± 0.4: narrow, crossing 1.4
    v = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, NEAR, 3.0, tolerance=0.4, alpha=0.05)
    d = v.to_dict()
    assert str(v.reason) == "not_demonstrated"
    head = v.message.splitlines()[0]
    assert "sits at 1.36, near the bound 1.4" in head and "[1.31, 1.41] crosses it" in head
    assert "too few or too noisy" not in head and "too imprecise" not in head
    assert d["runs_needed"] == tost_power.runs_at_ratio(4, d["ratio"], d["ratio_se"], 0.4, 0.05) == 13
    assert "≈ 13 runs of this precision" in head and "if the ratio stays at 1.36" in head


def test_not_demonstrated_with_the_ratio_beyond_the_bound():
    v = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, NEAR, 3.0, tolerance=0.35, alpha=0.05)
    head = v.message.splitlines()[0]
    assert str(v.reason) == "not_demonstrated"
    assert "sits at 1.36, beyond the bound 1.35" in head and "would not demonstrate ±35 %" in head
    assert v.to_dict()["runs_needed"] is None and "runs of this precision" not in head


def test_not_demonstrated_too_imprecise_says_so():
    wide = [case("run_01", 1.05, 1.0, 0.06, 0.05), case("run_02", 0.95, 1.0, 0.08, 0.05)]
    v = pooled_verdict("pooled_linear_agreement", "E_x", 1e-6, wide, 3.0, tolerance=0.05, alpha=0.05)
    assert "too imprecise" in v.message.splitlines()[0] and "wider than the band 1 ± 0.05" in v.message

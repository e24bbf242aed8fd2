"""Statistics of the comparison with a baseline (dhstats.stats.comparison): exact numbers on small
inputs, and the properties a comparison must have (swapping the sides flips z; a set compared
with itself never moves)."""
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dhstats.stats import comparison
from dhstats.stats.equivalence import Equivalence

ratios = st.floats(-5, 5, allow_nan=False)
ses = st.floats(1e-3, 3, allow_nan=False)


def test_z_and_resolution_of_the_spec_example():
    """checks.md: "the linear ratio moved from 0.86 ± 0.08 to 1.45 ± 0.11, z = 4.3"; a move
    under ±0.52 would go unseen."""
    se_d = math.hypot(0.11, 0.08)
    assert comparison.difference_se(0.11, 0.08) == pytest.approx(0.1360147, rel=1e-6)
    assert comparison.difference_z(1.45, 0.11, 0.86, 0.08) == pytest.approx(0.59 / se_d, rel=1e-12)
    assert comparison.difference_z(1.45, 0.11, 0.86, 0.08) == pytest.approx(4.3378, abs=1e-4)
    assert comparison.comparison_resolution(3, 0.11, 0.08) == pytest.approx((3 + 0.8416212) * se_d, rel=1e-6)
    assert comparison.comparison_resolution(3, 0.11, 0.08) == pytest.approx(0.5225, abs=1e-4)


def test_z_not_finite_inputs():
    assert math.isnan(comparison.difference_z(math.nan, 0.1, 1.0, 0.1))
    assert math.isnan(comparison.difference_z(1.0, math.inf, 1.0, 0.1))
    assert math.isnan(comparison.difference_z(1.1, 0.0, 1.0, 0.0))  # a difference with no noise
    assert comparison.difference_z(1.0, 0.0, 1.0, 0.0) == 0.0
    assert math.isnan(comparison.comparison_resolution(3, math.nan, 0.1))


@pytest.mark.parametrize("d, se_d, verdict, z_lo, z_hi", [
    (0.1, 0.05, Equivalence.DEMONSTRATED, 8.0, -4.0),
    (0.5, 0.05, Equivalence.OUT_OF_TOLERANCE, 16.0, 4.0),
    (-0.5, 0.05, Equivalence.OUT_OF_TOLERANCE, -4.0, -16.0),
    (0.1, 0.2, Equivalence.NOT_DEMONSTRATED, 2.0, -1.0),
    (math.nan, 0.2, Equivalence.NOT_FINITE, math.nan, math.nan),
])
def test_tost_of_the_difference(d, se_d, verdict, z_lo, z_hi):
    t = comparison.difference_tost(d, se_d, 0.3, 0.05)
    assert t.verdict == verdict
    assert t.z == pytest.approx(1.6448536, rel=1e-6)
    if math.isnan(z_lo):
        assert math.isnan(t.z_lo) and math.isnan(t.z_hi)
    else:
        assert (t.z_lo, t.z_hi) == (pytest.approx(z_lo), pytest.approx(z_hi))


def test_runs_needed_on_each_side():
    """f = ((z_0.95 + z_0.90)·se_d/δ)² = (2.926·0.2/0.3)² = 3.806: ⌈4f⌉ = 16, ⌈8f⌉ = 31."""
    assert comparison.runs_needed_each(4, 8, 0.2, 0.3, 0.05) == (16.0, 31.0)
    assert all(math.isnan(x) for x in comparison.runs_needed_each(4, 8, math.inf, 0.3, 0.05))


def test_unresolved_uses_stouffers_weights():
    """|Σ T/σ_1| < k·√Σ (σ_true/σ_1)²."""
    assert comparison.unresolved([1.0, 1.0], [1.0, 1.0], [1.0, 1.0], 3)  # 2 < 3·√2
    assert not comparison.unresolved([5.0, 5.0], [1.0, 1.0], [1.0, 1.0], 3)  # 10 ≥ 4.24
    # weights 1, 1/2: signal 3 + 1.5 = 4.5, noise √(1 + 1/4) = 1.118
    assert not comparison.unresolved([3.0, 3.0], [1.0, 1.0], [1.0, 2.0], 4.0)  # 4.5 ≥ 4.47
    assert comparison.unresolved([3.0, 3.0], [1.0, 1.0], [1.0, 2.0], 4.1)  # 4.5 < 4.58
    # unweighted, the same runs would resolve at 4.1: 6 ≥ 4.1·√2 = 5.80
    assert comparison.unresolved([3.0, 3.0], [1.0, 1.0], [1.0, 2.0], 4.1) != comparison.unresolved(
        [3.0, 3.0], [1.0, 1.0], [1.0, 1.0], 4.1)


def test_unresolved_when_nothing_is_known():
    assert comparison.unresolved([], [], [], 3)
    assert comparison.unresolved([1.0], [math.nan], [1.0], 3)
    assert comparison.unresolved([1.0], [0.1], [0.0], 3)
    assert comparison.unresolved([0.0], [0.0], [1.0], 3)  # ΔH_true = 0 exactly: nothing to divide by


@given(ratios, ses, ratios, ses)
def test_swapping_the_sides_flips_z(rc, sc, rb, sb):
    z = comparison.difference_z(rc, sc, rb, sb)
    assert comparison.difference_z(rb, sb, rc, sc) == pytest.approx(-z, rel=1e-12, abs=1e-12)
    assert comparison.comparison_resolution(3, sc, sb) == comparison.comparison_resolution(3, sb, sc)


@given(ratios, ses)
def test_a_set_compared_with_itself_never_moves(r, s):
    assert comparison.difference_z(r, s, r, s) == 0.0
    assert comparison.difference_tost(0.0, comparison.difference_se(s, s), 0.3, 0.05).verdict != \
        Equivalence.OUT_OF_TOLERANCE

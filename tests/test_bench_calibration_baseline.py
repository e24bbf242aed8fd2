"""Smoke test of bench/calibration_baseline.py: its code path on a few dozen simulated runs
(the full numbers come from ``python bench/calibration_baseline.py``; docs/calibration.md)."""
from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np

from paths import PROJECT_ROOT

_PATH = PROJECT_ROOT / "bench" / "calibration_baseline.py"
sys.path.insert(0, str(_PATH.parent))
_SPEC = importlib.util.spec_from_file_location("calibration_baseline_bench", _PATH)
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)


def test_masked_rate_by_hand():
    hits = np.array([[True, False], [True, True], [False, False]])
    mask = np.array([[True, True], [True, False], [True, True]])
    rate, se = bench.masked_rate(hits, mask)
    assert rate == 2 / 5  # the second pair's unjudged hit does not count
    # per-pair residuals h − r·m: 1 − 0.8, 1 − 0.4, 0 − 0.8; SE = √(Σ²/(3·2)) / mean(m)
    assert se == math.sqrt((0.2 ** 2 + 0.6 ** 2 + 0.8 ** 2) / 6) / (5 / 3)


def test_the_planted_move_is_the_stated_resolution_and_healthy_pairs_rarely_move():
    pool = bench.cal.simulate_pool(bench.N, bench.SCORE_NOISE, 32, 0, 1, tag=27)
    res = bench.measure(pool, 32)
    for row in res["power"]:
        assert 0.9 < row["planted_over_stated"] < 1.1  # the ratio moved by s·ΔH·Σw/ΣwT ≈ s
        assert row["median_resolution"] > 0
    three = [r for r in res["null"] if r["k"] == 3.0]
    assert all(r["moved"] <= 0.1 for r in three)
    for row in res["tost"]:
        assert row["delta"] > 0 and {"+δ", "−δ", "0"} <= row.keys()
    assert "| R | pairs | k |" in bench.markdown(res, 32, 1.0)

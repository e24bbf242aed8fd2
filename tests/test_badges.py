"""Badges (dhstats.report.badges): skipped never counts as failed; the overall badge is red whenever
the exit status is non-zero and says why; trend against the previous history line."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st
from health_records import health

from dhstats.report import badges
from dhstats.report.health import count, exit_block
from dhstats.report.history import history_line
from dhstats.verdicts.registry import NAMES


def _tally(p=0, f=0, s=0):
    return {"total": p + f + s, "passed": p, "failed": f, "skipped": s}


@pytest.mark.parametrize("tally, value, colour", [
    (_tally(0, 0, 40), "40 skipped", "lightgrey"),  # a set without per-sequence data: not red
    (_tally(), "no cases", "lightgrey"),
    (_tally(38, 0, 2), "38/38 passed · 2 skipped", "green"),
    (_tally(36, 2, 2), "36/38 passed · 2 skipped", "red"),
    (_tally(5, 0, 0), "5/5 passed", "green"),
])
def test_check_badge(tally, value, colour):
    b = badges.check_badge("truncation_ratio", tally)
    assert (b.filename, b.label, b.value, b.colour) == ("truncation_ratio.svg", "truncation_ratio", value, colour)


def test_health_badge_red_with_reason():
    b = badges.health_badge(health())
    assert (b.value, b.colour) == ("3 failed, 1 invalid run", "red")


@pytest.mark.parametrize("cases, runs, value, colour", [
    (_tally(48, 4, 0), {"error": 0}, "4 failed", "red"),  # 48/52 is not "green-ish"
    (_tally(52, 0, 0), {"error": 1}, "1 invalid run", "red"),
    (_tally(52, 0, 0), {"error": 0}, "52 passed", "green"),
    (_tally(48, 0, 4), {"error": 0}, "48 passed · 4 skipped", "green"),
    (_tally(0, 0, 4), {"error": 0}, "4 skipped", "lightgrey"),
    (_tally(), {"error": 0}, "no cases", "lightgrey"),
])
def test_health_badge_values(cases, runs, value, colour):
    counts = {"cases": cases, "runs": {"total": 3, "ok": 3 - runs["error"], **runs}}
    b = badges.health_badge({"counts": counts, "exit": exit_block(counts)})
    assert (b.value, b.colour) == (value, colour)


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50), st.integers(0, 3))
def test_overall_green_only_at_exit_zero(p, f, s, errors):
    counts = {"cases": _tally(p, f, s), "runs": {"total": 5, "ok": 5 - errors, "error": errors}}
    ex = exit_block(counts)
    b = badges.health_badge({"counts": counts, "exit": ex})
    assert (b.colour == "red") == (ex["status"] != 0)
    assert b.colour != "green" or (f == 0 and errors == 0 and p > 0)
    c = badges.check_badge("x", _tally(p, f, s))
    assert (c.colour == "red") == (f > 0)  # skips never make a check red


def test_every_badge_is_svg_with_its_text():
    h = health()
    all_badges = badges.badges(h, None)
    assert [b.filename for b in all_badges] == (["estimator-health.svg"] + [f"{n}.svg" for n in NAMES
                                                                           if not n.startswith("baseline_")]
                                                + ["baseline.svg", "trend.svg"])
    for b in all_badges:
        root = ET.fromstring(b.svg())
        texts = "".join(root.itertext())
        assert b.label in texts and b.value in texts


def _with(h, failed_delta=0, errors_delta=0, sets=None):
    line = history_line(h, None)
    line["cases"] = {**line["cases"], "failed": line["cases"]["failed"] + failed_delta}
    line["runs"] = {**line["runs"], "error": line["runs"]["error"] + errors_delta}
    if sets is not None:
        line["run_sets"] = [{"name": n} for n in sets]
    return line


@pytest.mark.parametrize("delta, errors, word, value, colour", [
    (2, 0, "improved", "improved (−2 failed)", "green"),  # previous had 2 more failures
    (-1, 0, "worsened", "worsened (+1 failed)", "red"),
    (0, 1, "improved", "improved (−1 failed)", "green"),  # an invalid run counts as a failure
    (0, 0, "unchanged", "unchanged", "orange"),  # unchanged, but still failing
])
def test_trend(delta, errors, word, value, colour):
    h = health()
    previous = _with(h, delta, errors)
    assert badges.trend(h, previous)[0] == word
    b = badges.trend_badge(h, previous)
    assert (b.filename, b.value, b.colour) == ("trend.svg", value, colour)


def test_trend_first_session_and_changed_sets():
    h = health()
    assert badges.trend_badge(h, None).value == "first session"
    b = badges.trend_badge(h, _with(h, sets=["E_2048"]))
    assert (b.value, b.colour) == ("run sets changed", "lightgrey")


def test_trend_compares_like_with_like():
    """A session is compared with the last one on the same run sets and settings: a change of
    --reported-se is "settings changed", never "improved (−8 failed)"; an earlier comparable
    session is found behind sessions on other run sets."""
    h = health()
    other_settings = {**_with(h, 8), "settings": {**h["settings"], "reported_se": "shard-mean"}}
    b = badges.trend_badge(h, [other_settings])
    assert (b.value, b.colour) == ("settings changed", "lightgrey")
    same = _with(h, 2)  # 2 more failures, same run sets and settings
    b = badges.trend_badge(h, [same, _with(h, 0, sets=["E_2048"]), other_settings])
    assert b.value == "improved (−2 failed)"
    assert badges.trend(h, [_with(h, -1), same])[0] == "improved"  # the last comparable one wins
    assert badges.failures(h) == badges.failures(history_line(h)) == 4
    assert count(h["runs"], h["cases"]) == h["counts"]

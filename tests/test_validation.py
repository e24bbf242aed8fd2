"""Validation's magnitude rule (dhstats.load.validation): every number the gate reads is finite and
|x| ≤ 1e50, so no sum or product the statistics form can overflow (a finite
``h_base = [1e308]*256`` made σ_true = inf and both agreements pass)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dhstats.load.results import InvalidRun, Run, RunFile, load_run, validate
from dhstats.load.validation import MAGNITUDE_BOUND, Validator

from builders import results_doc as doc
from paths import REAL, needs_real

FILE = "E_4/run_01/results.json"
RF = RunFile("E_4", "run_01", Path("/nonexistent/E_4/run_01/results.json"))
BOUND = "expected |x| ≤ 1e50 (bound on every number the gate reads)"


def problems(d) -> list[str]:
    result = validate(d, RF)
    assert isinstance(result, InvalidRun)
    return [str(p) for p in result.problems]


def test_the_bound_is_1e50():
    assert MAGNITUDE_BOUND == 1e50
    # six factors at the bound stay finite, and so does a sum of 1e8 of them
    assert math.isfinite(1e8 * MAGNITUDE_BOUND**6)


def test_h_base_1e308_is_invalid_with_its_path():
    # The reported reproducer: finite, but Σ h_base overflows to inf.
    d = doc()
    d["true"]["entries"][1]["diagnostics"]["h_base"] = [1e308] * 4
    with np.errstate(over="ignore"):
        assert np.isinf(np.sum(np.array([1e308] * 4)))
    assert problems(d) == [f"{FILE}: true.entries[1].diagnostics.h_base[0]: 1e+308, {BOUND}"]


@pytest.mark.parametrize("path, value, shown", [
    (("approx", "delta_h_per_lr"), 1e308, "1e+308"),
    (("approx", "delta_h_per_lr"), -1e51, "-1e+51"),
    (("approx", "delta_h_per_lr"), 10**60, "1e+60"),  # an integer within float64, beyond the bound
    (("true", "entries", 0, "eta"), 1e308, "1e+308"),
    (("true", "entries", 1, "delta_h_true"), -1.5e300, "-1.5e+300"),
    (("true", "entries", 0, "diagnostics", "base_entropy"), 2e50, "2e+50"),
    (("true", "entries", 0, "diagnostics", "ess"), 1e200, "1e+200"),
    (("approx", "quadratic", "vHvv"), -1e308, "-1e+308"),
])
def test_scalars_beyond_the_bound(path, value, shown):
    d = doc()
    target = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    json_path = ".".join(f"[{k}]" if isinstance(k, int) else k for k in path).replace(".[", "[")
    assert problems(d) == [f"{FILE}: {json_path}: {shown}, {BOUND}"]


@pytest.mark.parametrize("field, i", [
    ("normalized_weights", 3), ("token_counts", 0), ("h_new", 2), ("log_weights", 1), ("h_base", 3),
])
def test_array_element_beyond_the_bound_is_named(field, i):
    d = doc()
    d["true"]["entries"][0]["diagnostics"][field][i] = -1e60
    assert problems(d) == [f"{FILE}: true.entries[0].diagnostics.{field}[{i}]: -1e+60, {BOUND}"]


def test_per_sequence_records_beyond_the_bound():
    d = doc()
    d["approx"]["per_sequence"][2]["gdotv"] = 1e51
    d["approx"]["per_sequence"][1]["length"] = 1e300
    assert problems(d) == [
        f"{FILE}: approx.per_sequence[2].gdotv: 1e+51, {BOUND}",
        f"{FILE}: approx.per_sequence[1].length: 1e+300, {BOUND}",
    ]


def test_values_at_the_bound_are_valid():
    d = doc()
    d["approx"]["delta_h_per_lr"] = -1e50
    d["true"]["entries"][0]["diagnostics"]["h_new"] = [1e50, -1e50, 0.0, 5e-324]
    run = validate(d, RF)
    assert isinstance(run, Run)
    assert run.delta_h_per_lr == -1e50
    np.testing.assert_array_equal(run.entries[0].h_new, [1e50, -1e50, 0.0, 5e-324])


def test_per_sequence_null_is_not_missing():
    d = doc()
    d["approx"]["per_sequence"][1]["gdotv"] = None
    assert problems(d) == [f"{FILE}: approx.per_sequence[1].gdotv: null, expected a number"]


def test_booleans_are_not_numbers_even_where_0_and_1_are():
    # numpy casts True/False among numbers to 1.0/0.0: the fast path must not accept them
    d = doc()
    d["true"]["entries"][0]["diagnostics"]["h_new"][1] = False
    d["true"]["entries"][1]["diagnostics"]["token_counts"] = [True] * 4
    assert problems(d) == [
        f"{FILE}: true.entries[0].diagnostics.h_new[1]: boolean false, expected a number",
        f"{FILE}: true.entries[1].diagnostics.token_counts[0]: boolean true, expected a number",
    ]


def test_nan_and_infinity_tokens_through_the_parser(tmp_path):
    d = tmp_path / "E_4" / "run_01"
    d.mkdir(parents=True)
    rf = RunFile("E_4", "run_01", d / "results.json")
    text = json.dumps(doc()).replace('"delta_h_per_lr": -1.0', '"delta_h_per_lr": -Infinity')
    text = text.replace('"h_base": [5.0, 5.0', '"h_base": [5.0, NaN', 1)
    rf.path.write_text(text)
    result = load_run(rf)
    assert [str(p) for p in result.problems] == [
        f"{FILE}: approx.delta_h_per_lr: -inf is not finite",
        f"{FILE}: true.entries[0].diagnostics.h_base[1]: nan is not finite",
    ]


@needs_real
def test_real_files_are_far_inside_the_bound():
    files = sorted(REAL.glob("E_*/run_*/results.json"))
    assert files
    for p in files:
        run = load_run(RunFile(p.parent.parent.name, p.parent.name, p))
        assert isinstance(run, Run), run.message
        arrays = [run.gdotv, run.length, run.per_sequence_vhvv, run.quadratic.per_sequence_vhvv]
        for e in run.entries:
            arrays += [e.normalized_weights, e.token_counts, e.h_new, e.h_base, e.log_weights]
        biggest = max(float(np.max(np.abs(a))) for a in arrays if a is not None)
        biggest = max(biggest, abs(run.quadratic.vhvv), abs(run.delta_h_per_lr))
        assert biggest < 1e8 < MAGNITUDE_BOUND / 1e40


# --------------------------------------------------------------------------- property: fast path == reference

json_items = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, -0.0, 1e50, -1e50, 1.0000000000000002e50, 5e-324, 1e308]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 10**400, -(10**400), 2**63, 2**64]),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.lists(st.floats(allow_nan=False), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


def reference(value: list):
    """Per-element reference: (index of the first item that is not a JSON number within the
    bound, or None) — what the numpy fast path must agree with."""
    for i, x in enumerate(value):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            return i
        try:
            if not abs(x) <= MAGNITUDE_BOUND:
                return i
        except OverflowError:  # pragma: no cover - int/float comparison is exact
            return i
    return None


@settings(deadline=None)
@given(st.lists(json_items, min_size=1, max_size=12))
def test_array_fast_path_agrees_with_the_per_element_rule(value):
    v = Validator(FILE)
    arr = v.values(value, "x", None)
    bad = reference(value)
    if bad is None:
        assert not v.problems
        assert arr.dtype == np.float64 and arr.shape == (len(value),)
        assert arr.tolist() == [float(x) for x in value]
    else:
        assert arr is None
        (p,) = v.problems
        assert p.json_path == f"x[{bad}]"


@settings(deadline=None)
@given(st.lists(st.floats(min_value=-1e50, max_value=1e50), min_size=1, max_size=20), st.data())
def test_one_bad_item_in_a_good_array_is_found(value, data):
    i = data.draw(st.integers(0, len(value) - 1))
    bad = data.draw(st.sampled_from([True, False, None, "1", math.nan, math.inf, 1e51, [1.0], 10**400]))
    value = list(value)
    value[i] = bad
    v = Validator(FILE)
    assert v.values(value, "x", None) is None
    (p,) = v.problems
    assert p.json_path == f"x[{i}]"

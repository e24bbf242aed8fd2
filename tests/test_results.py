"""Tests for dhstats.load.results: discovery, parsing and validation of ``results.json``.

The documents are built by hand (:func:`doc`) to the field list of
``shared/spec/results-format.md``; every defect test asserts the exact problem text a user
sees (``str(Problem)``: file, JSON path, message).
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dhstats.load.results import (
    DiscoveryError,
    InvalidRun,
    Problem,
    Run,
    RunFile,
    discover,
    load_run,
    scan_etas,
    scan_run,
    validate,
)

from builders import results_doc as doc

FILE = "E_4/run_01/results.json"  # RunFile.display of the run every test writes


@pytest.fixture
def run_file(tmp_path) -> RunFile:
    d = tmp_path / "E_4" / "run_01"
    d.mkdir(parents=True)
    return RunFile("E_4", "run_01", d / "results.json")


def write(run_file: RunFile, document=None, text: str | None = None) -> RunFile:
    """Write a document (or raw text, e.g. with NaN tokens) to the run's results.json."""
    if text is None:
        text = json.dumps(document)
    run_file.path.write_text(text)
    return run_file


def problems(document, run_file: RunFile) -> list[str]:
    """Validate and return the problems as the user sees them; the run must be invalid."""
    result = validate(document, run_file)
    assert isinstance(result, InvalidRun), "expected an invalid run"
    assert result.problems
    return [str(p) for p in result.problems]


def loaded_problems(run_file: RunFile, text: str) -> list[str]:
    result = load_run(write(run_file, text=text))
    assert isinstance(result, InvalidRun)
    return [str(p) for p in result.problems]


# --------------------------------------------------------------------------- valid documents


def test_valid_document_loads(run_file):
    d = doc()
    run = load_run(write(run_file, d))
    assert isinstance(run, Run)
    assert run.file == run_file
    assert run.n == 4
    assert run.etas == (1e-6, 2e-6)
    assert run.delta_h_per_lr == -1.0
    np.testing.assert_array_equal(run.gdotv, [-0.25] * 4)
    np.testing.assert_array_equal(run.length, [10, 11, 12, 13])
    assert run.per_sequence_vhvv is None  # the records carry no vhvv
    assert run.quadratic.vhvv == 2.0 and run.quadratic.gdotv == -1.01
    np.testing.assert_array_equal(run.quadratic.per_sequence_vhvv, [0.5] * 4)
    e = run.entries[1]
    assert e.eta == 2e-6 and e.delta_h_true == -2e-6
    for name in ("normalized_weights", "token_counts", "h_new", "h_base", "log_weights"):
        arr = getattr(e, name)
        assert arr.dtype == np.float64 and arr.shape == (4,)
        np.testing.assert_array_equal(arr, d["true"]["entries"][1]["diagnostics"][name])
    assert (e.base_entropy, e.ess, e.weights_sum) == (5.0 * 4 / 46, 4.0, 4.0)
    assert run.entry(2e-6) is e
    with pytest.raises(KeyError):
        run.entry(3e-6)


def test_entries_come_back_sorted_by_eta(run_file):
    d = doc(etas=(3e-6, 1e-6, 2e-6))
    run = validate(d, run_file)
    assert isinstance(run, Run)
    assert run.etas == (1e-6, 2e-6, 3e-6)
    for e in run.entries:  # each entry moved with its own arrays
        raw = next(r for r in d["true"]["entries"] if r["eta"] == e.eta)
        np.testing.assert_array_equal(e.h_new, raw["diagnostics"]["h_new"])
        assert e.delta_h_true == raw["delta_h_true"]


def test_unknown_fields_are_ignored(run_file):
    d = doc()
    d["extras"] = {"anything": [1, "x", None]}
    d["control_variates"] = None
    d["approx"]["per_sequence"][0]["extras"] = {"sum_w": "not a number"}
    d["approx"]["quadratic"]["ratio_pred"] = {"1.6e-06": -1.45e-31}
    d["true"]["entries"][0]["diagnostics"]["logweight_stats"] = {"min": -0.05}
    d["true"]["entries"][0]["diagnostics"]["delta_h_seq"] = ["ignored"]
    d["true"]["entries"][0]["note"] = float("nan")  # not used by the gate, so not checked
    assert isinstance(validate(d, run_file), Run)


def test_optional_fields_absent_give_none(run_file):
    d = doc()
    del d["approx"]["per_sequence"], d["approx"]["quadratic"]
    for e in d["true"]["entries"]:
        for key in ("h_base", "log_weights", "weights_sum", "ess"):
            del e["diagnostics"][key]
    run = validate(d, run_file)
    assert isinstance(run, Run)
    assert run.gdotv is run.length is run.per_sequence_vhvv is None
    assert run.h_base_mean is run.se_shard is run.se_jackknife is run.num_shards is None
    assert run.quadratic is None
    for e in run.entries:
        assert e.h_base is e.log_weights is e.weights_sum is e.ess is None


def test_optional_fields_present_are_read(run_file):
    d = doc()
    d["approx"]["per_sequence_meta"] = {"H_base_mean": 0.43}
    d["approx"]["variance"] = {"se_shard": 0.5, "se_jackknife": 0.5, "num_shards": 2}
    d["approx"]["quadratic"]["variance"] = {"se_gdotv": 0.6, "se_vHvv": 7.0, "num_shards": 2}
    for i, r in enumerate(d["approx"]["per_sequence"]):
        r["vhvv"] = float(i)
    run = validate(d, run_file)
    assert isinstance(run, Run)
    assert (run.h_base_mean, run.se_shard, run.se_jackknife, run.num_shards) == (0.43, 0.5, 0.5, 2)
    q = run.quadratic
    assert (q.se_gdotv, q.se_vhvv, q.num_shards) == (0.6, 7.0, 2)
    np.testing.assert_array_equal(run.per_sequence_vhvv, [0.0, 1.0, 2.0, 3.0])


def test_quadratic_gdotv_falls_back_to_g(run_file):
    d = doc()
    del d["approx"]["quadratic"]["gdotv"]
    run = validate(d, run_file)
    assert run.quadratic.gdotv == run.delta_h_per_lr == -1.0


def test_integral_floats_are_valid_token_counts(run_file):
    d = doc()
    d["true"]["entries"][0]["diagnostics"]["token_counts"] = [10.0, 11.0, 12.0, 13.0]
    assert isinstance(validate(d, run_file), Run)


# --------------------------------------------------------------------------- discovery


def make_run(root, name, document=None):
    d = root / name
    d.mkdir(parents=True)
    if document is not None:
        (d / "results.json").write_text(json.dumps(document))
    return d


def test_discover_sorted_run_dirs(tmp_path):
    root = tmp_path / "E_4"
    for name in ("run_03", "run_01", "run_10", "run_02"):
        make_run(root, name, doc())
    (root / "run_99.txt").write_text("a file, not a run")
    (root / "other").mkdir()
    found = discover([root])
    assert [f.run for f in found] == ["run_01", "run_02", "run_03", "run_10"]
    assert {f.run_set for f in found} == {"E_4"}
    assert found[0].path == root.resolve() / "run_01" / "results.json"
    assert str(found[0].key) == "E_4/run_01" and found[0].display == FILE


def test_run_dir_without_results_is_returned_and_invalid(tmp_path):
    root = tmp_path / "E_4"
    make_run(root, "run_01", doc())
    make_run(root, "run_02")  # no results.json
    found = discover([root])
    assert [f.run for f in found] == ["run_01", "run_02"]
    missing = load_run(found[1])
    assert isinstance(missing, InvalidRun)
    assert [str(p) for p in missing.problems] == ["E_4/run_02/results.json: file not found"]
    assert missing.message == "E_4/run_02/results.json: file not found"


def test_discover_root_without_runs(tmp_path):
    root = tmp_path / "E_4"
    (root / "not_a_run").mkdir(parents=True)
    with pytest.raises(DiscoveryError, match=r"no run_\*/results.json found"):
        discover([root])


def test_discover_missing_root(tmp_path):
    with pytest.raises(DiscoveryError, match="not a directory"):
        discover([tmp_path / "E_nowhere"])


def test_discover_two_roots_with_the_same_name(tmp_path):
    a, b = tmp_path / "a" / "E_4", tmp_path / "b" / "E_4"
    make_run(a, "run_01", doc())
    make_run(b, "run_01", doc())
    with pytest.raises(DiscoveryError, match="two run sets are both named 'E_4'"):
        discover([a, b])
    # a single run of another directory named E_4 clashes as well
    with pytest.raises(DiscoveryError, match="two run sets are both named 'E_4'"):
        discover([a, b / "run_01"])


def test_discover_root_that_is_a_run_dir(tmp_path):
    run_dir = make_run(tmp_path / "E_4", "run_01", doc())
    found = discover([run_dir])
    assert found == [RunFile("E_4", "run_01", run_dir.resolve() / "results.json")]
    assert isinstance(load_run(found[0]), Run)


def test_discover_two_run_dirs_of_one_run_set(tmp_path):
    # Regression: two runs of the same set given as separate roots were reported as two
    # different run sets "both named E_4".
    root = tmp_path / "E_4"
    r1, r2 = make_run(root, "run_01", doc()), make_run(root, "run_02", doc())
    assert [str(f.key) for f in discover([r1, r2])] == ["E_4/run_01", "E_4/run_02"]


def test_discover_several_run_sets_in_order(tmp_path):
    make_run(tmp_path / "E_8", "run_01", doc())
    make_run(tmp_path / "E_4", "run_01", doc())
    found = discover([tmp_path / "E_8", tmp_path / "E_4"])
    assert [str(f.key) for f in found] == ["E_8/run_01", "E_4/run_01"]


# --------------------------------------------------------------------------- unreadable files


def test_empty_file(run_file):
    assert loaded_problems(run_file, "") == [f"{FILE}: empty file"]
    assert loaded_problems(run_file, " \n\t ") == [f"{FILE}: empty file"]


def test_truncated_json(run_file):
    text = json.dumps(doc())
    (p,) = loaded_problems(run_file, text[: len(text) // 2])
    assert p.startswith(f"{FILE}: not valid JSON: ")


def test_not_utf8(run_file):
    run_file.path.write_bytes(b'{"approx": "\xff\xfe"}')
    result = load_run(run_file)
    assert isinstance(result, InvalidRun)
    assert str(result.problems[0]).startswith(f"{FILE}: not valid JSON: ")


def test_deeply_nested_json_is_invalid_not_a_crash(run_file):
    # Regression: json.loads raised RecursionError, which escaped load_run.
    (p,) = loaded_problems(run_file, "[" * 100_000 + "]" * 100_000)
    assert p.startswith(f"{FILE}: not valid JSON: ")


def test_results_path_is_a_directory(run_file):
    run_file.path.mkdir()
    result = load_run(run_file)
    assert isinstance(result, InvalidRun)
    assert [str(p) for p in result.problems] == [
        f"{FILE}: not a regular file (a directory); only regular files are read"
    ]


def test_top_level_list(run_file):
    assert loaded_problems(run_file, "[1, 2]") == [f"{FILE}: top level is an array, expected an object"]


def test_top_level_scalar(run_file):
    assert loaded_problems(run_file, '"x"') == [f"{FILE}: top level is string 'x', expected an object"]


# --------------------------------------------------------------------------- non-finite tokens


def test_nan_token_in_h_new(run_file):
    text = json.dumps(doc())
    d = doc()
    h = d["true"]["entries"][0]["diagnostics"]["h_new"]
    old = json.dumps(h)
    h[2] = "__NAN__"
    text = text.replace(old, json.dumps(h).replace('"__NAN__"', "NaN"), 1)
    assert "NaN" in text
    probs = loaded_problems(run_file, text)
    assert probs == [f"{FILE}: true.entries[0].diagnostics.h_new[2]: nan is not finite"]
    assert "true.entries[0].diagnostics.h_new[2]" in probs[0] and "not finite" in probs[0]


@pytest.mark.parametrize("token, shown", [("Infinity", "inf"), ("-Infinity", "-inf")])
def test_infinity_in_delta_h_true(run_file, token, shown):
    text = json.dumps(doc()).replace('"delta_h_true": -2e-06', f'"delta_h_true": {token}', 1)
    assert token in text
    assert loaded_problems(run_file, text) == [
        f"{FILE}: true.entries[1].delta_h_true: {shown} is not finite"
    ]


def test_nan_g_from_python_value(run_file):
    d = doc()
    d["approx"]["delta_h_per_lr"] = math.nan
    assert problems(d, run_file) == [f"{FILE}: approx.delta_h_per_lr: nan is not finite"]


def test_integer_beyond_float64_range(run_file):
    # Regression: float(10**400) raised OverflowError out of validate().
    d = doc()
    d["approx"]["delta_h_per_lr"] = 10**400
    d["true"]["entries"][0]["diagnostics"]["h_new"][1] = -(10**400)
    assert problems(d, run_file) == [
        f"{FILE}: approx.delta_h_per_lr: integer out of the float64 range, not finite",
        f"{FILE}: true.entries[0].diagnostics.h_new[1]: integer out of the float64 range, not finite",
    ]
    # and through the parser (orjson rejects big ints, the json fallback parses them)
    text = json.dumps(doc()).replace('"delta_h_per_lr": -1.0', '"delta_h_per_lr": 1' + "0" * 400)
    assert loaded_problems(run_file, text) == [
        f"{FILE}: approx.delta_h_per_lr: integer out of the float64 range, not finite"
    ]


# --------------------------------------------------------------------------- one defect each


def _set(path, value):
    def mutate(d):
        *parents, last = path
        target = d
        for key in parents:
            target = target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return mutate


_DELETE = object()
E0 = ("true", "entries", 0)
E1 = ("true", "entries", 1)
D0 = (*E0, "diagnostics")
D1 = (*E1, "diagnostics")

DEFECTS = {
    "h_new short": (
        _set((*D1, "h_new"), [5.0, 5.0, 5.0]),
        "true.entries[1].diagnostics.h_new: 3 values, expected 4",
    ),
    "optional h_base long": (
        _set((*D0, "h_base"), [5.0] * 5),
        "true.entries[0].diagnostics.h_base: 5 values, expected 4",
    ),
    "h_new not an array": (
        _set((*D0, "h_new"), 5.0),
        "true.entries[0].diagnostics.h_new: a number, expected an array of numbers",
    ),
    "missing G": (_set(("approx", "delta_h_per_lr"), _DELETE), "approx.delta_h_per_lr: missing"),
    "null G": (_set(("approx", "delta_h_per_lr"), None), "approx.delta_h_per_lr: null, expected a number"),
    "bool G": (_set(("approx", "delta_h_per_lr"), False), "approx.delta_h_per_lr: boolean false, expected a number"),
    "missing approx": (_set(("approx",), _DELETE), "approx: missing"),
    "approx a list": (_set(("approx",), []), "approx: an array, expected an object"),
    "missing true": (_set(("true",), _DELETE), "true: missing"),
    "missing entries": (_set(("true", "entries"), _DELETE), "true.entries: missing"),
    "entries an object": (_set(("true", "entries"), {}), "true.entries: an object, expected an array"),
    "no entries": (_set(("true", "entries"), []), "true.entries: empty, expected at least one entry"),
    "entry not an object": (_set(E1, "x"), "true.entries[1]: string 'x', expected an object"),
    "missing diagnostics": (_set((*E0, "diagnostics"), _DELETE), "true.entries[0].diagnostics: missing"),
    "missing delta_h_true": (_set((*E0, "delta_h_true"), _DELETE), "true.entries[0].delta_h_true: missing"),
    "missing base_entropy": (
        _set((*D1, "base_entropy"), _DELETE),
        "true.entries[1].diagnostics.base_entropy: missing",
    ),
    "missing normalized_weights": (
        _set((*D0, "normalized_weights"), _DELETE),
        "true.entries[0].diagnostics.normalized_weights: missing",
    ),
    "eta a string": (_set((*E0, "eta"), "1e-6"), "true.entries[0].eta: string '1e-6', expected a number"),
    "eta zero": (_set((*E0, "eta"), 0), "true.entries[0].eta: 0.0, expected η > 0"),
    "eta negative": (_set((*E1, "eta"), -2e-6), "true.entries[1].eta: -2e-06, expected η > 0"),
    "duplicate eta": (_set((*E1, "eta"), 1e-6), "true.entries[1].eta: duplicate η 1e-06"),
    "token count 0": (
        _set((*D0, "token_counts", 1), 0),
        "true.entries[0].diagnostics.token_counts[1]: 0.0, expected an integer ≥ 1",
    ),
    "token count 1.5": (
        _set((*D0, "token_counts", 2), 1.5),
        "true.entries[0].diagnostics.token_counts[2]: 1.5, expected an integer ≥ 1",
    ),
    "per_sequence 3 records": (
        _set(("approx", "per_sequence", 3), _DELETE),
        "approx.per_sequence: 3 records, expected 4",
    ),
    "per_sequence 5 records": (
        lambda d: d["approx"]["per_sequence"].append({"gdotv": 0.0, "length": 1}),
        "approx.per_sequence: 5 records, expected 4",
    ),
    "per_sequence not an array": (
        _set(("approx", "per_sequence"), {"gdotv": 1.0}),
        "approx.per_sequence: an object, expected an array of records",
    ),
    "per_sequence record null": (
        _set(("approx", "per_sequence", 2), None),
        "approx.per_sequence[2]: null, expected an object",
    ),
    "per_sequence gdotv missing": (
        _set(("approx", "per_sequence", 2, "gdotv"), _DELETE),
        "approx.per_sequence[2].gdotv: missing",
    ),
    "per_sequence length missing": (
        _set(("approx", "per_sequence", 0, "length"), _DELETE),
        "approx.per_sequence[0].length: missing",
    ),
    "per_sequence gdotv string": (
        _set(("approx", "per_sequence", 1, "gdotv"), "x"),
        "approx.per_sequence[1].gdotv: string 'x', expected a number",
    ),
    "per_sequence vhvv partial": (
        _set(("approx", "per_sequence", 0, "vhvv"), 0.5),
        "approx.per_sequence[1].vhvv: missing",
    ),
    "quadratic without vHvv": (_set(("approx", "quadratic", "vHvv"), _DELETE), "approx.quadratic.vHvv: missing"),
    "quadratic a number": (_set(("approx", "quadratic"), 3.0), "approx.quadratic: a number, expected an object"),
    "per_sequence_vhvv short": (
        _set(("approx", "quadratic", "per_sequence_vhvv"), [1.0]),
        "approx.quadratic.per_sequence_vhvv: 1 values, expected 4",
    ),
    "bool in an array": (
        _set((*D0, "normalized_weights", 3), True),
        "true.entries[0].diagnostics.normalized_weights[3]: boolean true, expected a number",
    ),
    "null in an array": (
        _set((*D1, "log_weights", 0), None),
        "true.entries[1].diagnostics.log_weights[0]: null, expected a number",
    ),
    "nested array in an array": (
        _set((*D1, "h_base", 0), [5.0]),
        "true.entries[1].diagnostics.h_base[0]: an array, expected a number",
    ),
    "num_shards fractional": (
        _set(("approx", "variance"), {"se_shard": 1.0, "num_shards": 2.5}),
        "approx.variance.num_shards: 2.5, expected an integer ≥ 1",
    ),
    "num_shards zero": (
        _set(("approx", "quadratic", "variance"), {"num_shards": 0}),
        "approx.quadratic.variance.num_shards: 0.0, expected an integer ≥ 1",
    ),
    "se_shard string": (
        _set(("approx", "variance"), {"se_shard": "11.9"}),
        "approx.variance.se_shard: string '11.9', expected a number",
    ),
    "weights_sum string": (
        _set((*D0, "weights_sum"), "4"),
        "true.entries[0].diagnostics.weights_sum: string '4', expected a number",
    ),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_one_defect_one_exact_problem(run_file, defect):
    mutate, expected = DEFECTS[defect]
    d = doc()
    mutate(d)
    assert problems(d, run_file) == [f"{FILE}: {expected}"]


def test_example_from_the_brief(run_file):
    d = doc()
    d["true"]["entries"][1]["diagnostics"]["h_new"].pop()
    (result,) = validate(d, run_file).problems
    assert isinstance(result, Problem)
    assert (result.file, result.json_path) == (FILE, "true.entries[1].diagnostics.h_new")
    assert str(result) == "E_4/run_01/results.json: true.entries[1].diagnostics.h_new: 3 values, expected 4"
    assert result.to_dict() == {"file": FILE, "json_path": "true.entries[1].diagnostics.h_new",
                                "reason": "wrong_length", "message": "3 values, expected 4"}


def test_empty_approx_and_true_objects_are_invalid(run_file):
    # Regression: `{"approx": {}, "true": {}}` validated as a Run with G = None and no entries.
    assert problems({"approx": {}, "true": {}}, run_file) == [
        f"{FILE}: approx.delta_h_per_lr: missing",
        f"{FILE}: true.entries: missing",
    ]
    assert problems({}, run_file) == [f"{FILE}: approx: missing", f"{FILE}: true: missing"]


def test_duplicate_eta_after_an_invalid_entry_names_its_own_index(run_file):
    # Regression: the duplicate's index was counted among valid entries only.
    d = doc(etas=(1e-6, 2e-6, 2e-6))
    d["true"]["entries"][0] = "x"
    assert problems(d, run_file) == [
        f"{FILE}: true.entries[0]: string 'x', expected an object",
        f"{FILE}: true.entries[2].eta: duplicate η 2e-06",
    ]


def test_token_counts_reported_in_every_entry(run_file):
    d = doc()
    for e in d["true"]["entries"]:
        e["diagnostics"]["token_counts"][0] = -3
    assert problems(d, run_file) == [
        f"{FILE}: true.entries[{j}].diagnostics.token_counts[0]: -3.0, expected an integer ≥ 1"
        for j in (0, 1)
    ]


def test_only_first_bad_element_of_an_array_is_named(run_file):
    d = doc()
    h = d["true"]["entries"][0]["diagnostics"]["h_new"]
    h[1], h[3] = math.inf, "x"
    assert problems(d, run_file) == [f"{FILE}: true.entries[0].diagnostics.h_new[1]: inf is not finite"]


def test_all_problems_of_a_file_are_reported(run_file):
    d = doc()
    del d["approx"]["delta_h_per_lr"]
    d["true"]["entries"][0]["eta"] = "1e-6"
    d["true"]["entries"][0]["diagnostics"]["normalized_weights"][0] = None
    d["true"]["entries"][1]["diagnostics"]["h_new"].pop()
    d["true"]["entries"][1]["diagnostics"]["token_counts"][3] = 1.5
    del d["approx"]["per_sequence"][2]["gdotv"]
    del d["approx"]["quadratic"]["vHvv"]
    d["approx"]["variance"] = {"num_shards": 0.5}
    result = validate(d, run_file)
    assert isinstance(result, InvalidRun)
    expected = [
        "approx.delta_h_per_lr: missing",
        "true.entries[0].eta: string '1e-6', expected a number",
        "true.entries[0].diagnostics.normalized_weights[0]: null, expected a number",
        "true.entries[1].diagnostics.token_counts[3]: 1.5, expected an integer ≥ 1",
        "true.entries[1].diagnostics.h_new: 3 values, expected 4",
        "approx.per_sequence[2].gdotv: missing",
        "approx.variance.num_shards: 0.5, expected an integer ≥ 1",
        "approx.quadratic.vHvv: missing",
    ]
    got = [str(p) for p in result.problems]
    assert sorted(got) == sorted(f"{FILE}: {x}" for x in expected)
    assert result.message == "\n".join(got)


def test_load_run_with_raw_bytes_does_not_read_the_file(run_file):
    # the path does not exist: raw bytes given by the caller are used instead
    assert isinstance(load_run(run_file, json.dumps(doc()).encode()), Run)


# --------------------------------------------------------------------------- property tests

KEYS = sorted({
    "approx", "true", "entries", "delta_h_per_lr", "per_sequence", "gdotv", "length", "vhvv",
    "quadratic", "vHvv", "per_sequence_vhvv", "variance", "se_shard", "se_jackknife",
    "num_shards", "se_gdotv", "se_vHvv", "per_sequence_meta", "H_base_mean", "eta",
    "delta_h_true", "diagnostics", "normalized_weights", "token_counts", "h_new", "h_base",
    "base_entropy", "ess", "weights_sum", "log_weights",
})

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([0, 1, -1, 10**400, -(10**400), 1e50, -1e51, 1e308, 5e-324])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=5),
    max_leaves=25,
)


def _paths(value, prefix=()):
    """Every path (tuple of keys/indices) inside a JSON value, the root excluded."""
    out = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        out.append((*prefix, key))
        out.extend(_paths(child, (*prefix, key)))
    return out


PATHS = _paths(doc())
mutations = st.lists(
    st.tuples(
        st.sampled_from(["drop", "replace", "truncate"]),
        st.sampled_from(PATHS),
        json_values,
        st.integers(min_value=0, max_value=5),
    ),
    min_size=1,
    max_size=4,
)


def _mutate(d, op, path, value, keep):
    """Apply one mutation; silently skip paths an earlier mutation removed."""
    target = d
    for key in path[:-1]:
        try:
            target = target[key]
        except (KeyError, IndexError, TypeError):
            return
    last = path[-1]
    try:
        current = target[last]
    except (KeyError, IndexError, TypeError):
        return
    if op == "drop":
        del target[last]
    elif op == "replace":
        target[last] = value
    elif isinstance(current, list):
        del current[keep:]


def check_outcome(result, run_file):
    """validate()'s contract: a Run satisfying the format's invariants, or an InvalidRun whose
    problems each name the file and carry a non-empty message."""
    assert isinstance(result, (Run, InvalidRun))
    if isinstance(result, InvalidRun):
        assert result.problems
        for p in result.problems:
            assert isinstance(p, Problem)
            assert p.file == FILE
            assert isinstance(p.message, str) and p.message.strip()
            assert str(p).startswith(FILE + ": ")
        return
    assert math.isfinite(result.delta_h_per_lr) and abs(result.delta_h_per_lr) <= 1e50
    assert result.entries
    etas = result.etas
    assert all(e > 0 for e in etas) and all(a < b for a, b in zip(etas, etas[1:]))
    n = result.n
    assert n >= 1
    arrays = [result.gdotv, result.length, result.per_sequence_vhvv]
    if result.quadratic is not None:
        assert math.isfinite(result.quadratic.vhvv)
        arrays.append(result.quadratic.per_sequence_vhvv)
    for e in result.entries:
        assert math.isfinite(e.delta_h_true) and math.isfinite(e.base_entropy)
        T = e.token_counts
        assert (T >= 1).all() and (T == np.floor(T)).all()
        arrays += [e.normalized_weights, T, e.h_new, e.h_base, e.log_weights]
    for a in arrays:
        if a is not None:
            assert a.shape == (n,) and a.dtype == np.float64 and np.isfinite(a).all()
            assert (np.abs(a) <= 1e50).all()  # the magnitude bound (dhstats.load.validation)


FAST = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(value=json_values)
def test_validate_never_raises_on_arbitrary_json(run_file, value):
    check_outcome(validate(value, run_file), run_file)


@FAST
@given(approx=json_values, true=json_values)
def test_validate_never_raises_on_arbitrary_top_level_fields(run_file, approx, true):
    check_outcome(validate({"approx": approx, "true": true}, run_file), run_file)


@FAST
@given(ops=mutations)
def test_validate_never_raises_on_mutated_documents(run_file, ops):
    d = doc()
    for op in ops:
        _mutate(d, *op)
    result = validate(copy.deepcopy(d), run_file)
    check_outcome(result, run_file)
    # the parser path (orjson, json fallback for NaN/Infinity and big ints) agrees
    parsed = load_run(run_file, json.dumps(d).encode())
    assert type(parsed) is type(result)
    if isinstance(result, InvalidRun):
        assert parsed.problems == result.problems


# --------------------------------------------------------------------------- scan_etas


def test_scan_etas_finds_the_entries_etas(run_file):
    write(run_file, doc(etas=(3.2e-6, 8e-7, 1.6e-6)))
    run = load_run(run_file)
    assert scan_etas(run_file.path) == (8e-7, 1.6e-6, 3.2e-6) == run.etas


def test_scan_etas_reads_every_number_syntax(run_file):
    write(run_file, text='{"eta": 1e-6, "x": {"eta" :2.5E-06}, "y": [{"eta":3}], "z": {"eta": 1.0e-6}}')
    assert scan_etas(run_file.path) == (1e-6, 2.5e-6, 3.0)


def test_scan_etas_unreadable_files(run_file):
    assert scan_etas(run_file.path) == ()  # missing
    run_file.path.mkdir()
    assert scan_etas(run_file.path) == ()  # a directory


def test_scan_run_proves_only_what_cannot_be_a_json_object(run_file):
    text = json.dumps(doc(etas=(1e-6, 2e-6)))
    assert scan_run(write(run_file, text=text).path) == ((1e-6, 2e-6), True)
    assert scan_run(write(run_file, text=" \n" + text + "\n" * 100).path) == ((1e-6, 2e-6), True)  # blanks
    assert scan_run(write(run_file, text=text[: len(text) // 2]).path) == ((), False)  # truncated
    assert scan_run(write(run_file, text="").path) == ((), False)
    assert scan_run(write(run_file, text="[" + text + "]").path) == ((), False)  # not an object
    run_file.path.unlink()
    assert scan_run(run_file.path) == ((), True)  # missing: not proven here, judged (and named) later


def test_a_run_the_scan_proves_invalid_has_its_input_test_only(run_file, tmp_path):
    from dhstats.session import Session
    from dhstats.load.settings import parse

    text = json.dumps(doc())
    write(run_file, text=text[:-10])
    other = RunFile("E_4", "run_02", tmp_path / "E_4" / "run_02" / "results.json")
    other.path.parent.mkdir()
    write(other, text=text)
    s = Session(parse({"reports": str(tmp_path / "reports"), "history": "none"}), [tmp_path / "E_4"])
    cases = s.gate.collection.all_cases()
    assert {c.check for c in cases if c.file and c.file.run == "run_01"} == {"input"}
    assert {c.check for c in cases if c.file and c.file.run == "run_02"} > {"input", "se_consistency"}
    health = s.run()
    assert [(r["run"], r["outcome"]) for r in health["runs"]] == [("run_01", "error"), ("run_02", "ok")]
    assert "not valid JSON" in health["runs"][0]["message"]


def test_scan_etas_ignores_non_numbers(run_file):
    write(run_file, text='{"eta": "1e-6", "eta2": 5, "eta": NaN}')
    assert scan_etas(run_file.path) == ()


def test_planted_eta_keys_do_not_multiply_the_cases(run_file, tmp_path):
    # 5 000 "eta" keys in an unknown field: the cases come from true.entries[*].eta only
    from dhstats.session import Session
    from dhstats.load.settings import parse

    d = doc(etas=(1e-6, 2e-6, 4e-6))
    d["extra"] = [{"eta": 1e-3 + i * 1e-9} for i in range(5000)]
    write(run_file, d)
    assert scan_etas(run_file.path) == (1e-6, 2e-6, 4e-6)
    g = Session(parse({"reports": str(tmp_path / "reports"), "history": "none"}), [tmp_path / "E_4"])
    assert [c.eta for c in g.gate.collection.cases("linear_agreement")] == [1e-6, 2e-6, 4e-6]
    assert len(g.gate.collection.all_cases()) < 40
    health = g.run()
    assert [r["outcome"] for r in health["runs"]] == ["ok"]  # still judged
    assert {c["eta"] for c in health["cases"] if c["eta"] is not None} == {1e-6, 2e-6, 4e-6}


def test_at_most_max_etas_per_run_then_invalid_input(run_file, tmp_path):
    from dhstats.session import Session
    from dhstats.load.results import MAX_ETAS
    from dhstats.load.settings import parse

    etas = tuple(1e-7 * (i + 1) for i in range(MAX_ETAS + 3))
    write(run_file, doc(n=2, etas=etas))
    assert scan_etas(run_file.path) == etas[:MAX_ETAS]
    g = Session(parse({"reports": str(tmp_path / "reports"), "history": "none"}), [tmp_path / "E_4"])
    assert len(g.gate.collection.cases("linear_agreement")) == MAX_ETAS
    (run,) = g.run()["runs"]
    assert run["outcome"] == "error"
    assert f"{MAX_ETAS + 3} true.entries η values: at most {MAX_ETAS} per run are checked" in run["message"]

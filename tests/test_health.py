"""health.json schema 4 and the history file (dhstats.report.health). Expected numbers by hand from
tests/health_records.records()."""
from __future__ import annotations

import json
import math
import os
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st
from builders import umask
from health_records import EVIL_RUN, case, health, records, run

from dhstats.report import health as H
from dhstats.report import history as Y
from dhstats.verdicts.registry import NAMES
from dhstats.load.settings import Settings


def test_schema_4_document():
    h = health()
    assert list(h) == ["schema", "generated", "k", "settings", "run_sets", "runs", "cases", "counts", "exit",
                       "interrupted", "not_judged", "deselected", "confidence"]
    assert h["schema"] == 4 and h["k"] == 3.0 and h["generated"] == "2026-11-25T21:30:00Z"
    assert h["settings"] == Settings().to_dict() and h["settings"]["k"] == 3.0 and "sigma" not in h["settings"]
    none = {}  # no case carries a resolution
    # E: the runs' n (their agreement cases carry it); E_512's one run has no agreement case
    assert h["run_sets"] == [{"name": "E_256", "path": "/data/E_256", "E": 256, "runs": 3, "resolution": none,
                              "resolution_eta": none},
                             {"name": "E_512", "path": "/data/E_512", "E": None, "runs": 1, "resolution": none,
                              "resolution_eta": none}]
    assert h["confidence"] == "failed"
    assert h["runs"][2]["problems"][0] == {"file": "E_256/run_03/results.json", "json_path": "entries[0].eta",
                                           "reason": "out_of_range", "message": "must be > 0"}
    assert [r["run"] for r in h["runs"]] == ["run_01", EVIL_RUN, "run_03", "run_01"]
    trunc = next(c for c in h["cases"] if c["check"] == "truncation_ratio")
    assert trunc["ratio_q0.95"] is None and trunc["ratio_q0.99"] == 5.1  # NaN → null
    counts = h["counts"]
    assert counts["cases"] == {"total": 11, "passed": 7, "failed": 3, "skipped": 1}
    assert counts["runs"] == {"total": 4, "ok": 3, "error": 1}
    # every check, registry order, zeros included; the checks against a baseline only with one
    assert list(counts["checks"]) == [n for n in NAMES if not n.startswith("baseline_")]
    assert counts["checks"]["consistency"] == {"total": 3, "passed": 3, "failed": 0, "skipped": 0}
    assert counts["checks"]["se_scaling"] == {"total": 2, "passed": 1, "failed": 1, "skipped": 0}
    assert counts["checks"]["snis_weights"] == {"total": 0, "passed": 0, "failed": 0, "skipped": 0}
    assert h["exit"] == {"status": 1, "summary": "3 failed, 1 invalid run"}
    assert "figures_omitted" not in h
    assert health(figures_omitted=["E_256/run_01: figure 'x' could not be drawn"])["figures_omitted"] == [
        "E_256/run_01: figure 'x' could not be drawn"]


def test_run_set_paths_are_absolute():
    h = health(paths=("E_256", "/data/E_512"))
    assert [s["path"] for s in h["run_sets"]] == [os.path.abspath("E_256"), "/data/E_512"]


def test_a_problem_without_a_known_reason_is_refused():
    runs, cases = records()
    runs[2]["problems"][0] = dict(runs[2]["problems"][0], reason="weird")
    with pytest.raises(ValueError, match="has no reason"):
        H.build_health(Settings(), ["/data/E_256", "/data/E_512"], runs, cases)


@pytest.mark.parametrize("bad, match", [
    (case("E_256", "run_03", 1e-6, "consistency", "passed"), "invalid run has no cases"),
    (case("E_9", "r", 1e-6, "consistency", "passed"), "its run is not in runs"),
    (case("E_256", "run_01", 1e-6, "vibes", "passed"), "unknown check"),
    (case("E_256", "run_01", 1e-6, "consistency", "great"), "outcome 'great'"),
    (case("E_256", "run_01", 1e-6, "consistency", "passed", reason="meh"), "reason 'meh'"),
    (case("E_256", "run_01", 1e-6, "pooled_linear_agreement", "passed"), "run-set cases have run null"),
    (case("E_256", None, None, "pooled_linear_agreement", "passed"), "needs eta"),
    (case("E_256", "run_01", 1e-6, "se_consistency", "passed"), "has no eta"),
    (case("E_256", "run_01", None, "linear_agreement", "passed"), "needs eta"),
    (case("E_999", None, None, "se_scaling", "passed"), "not checked"),
])
def test_inconsistent_records_raise(bad, match):
    runs, cases = records()
    with pytest.raises(ValueError, match=match):
        H.build_health(Settings(), ["/data/E_256", "/data/E_512"], runs, cases + [bad])


def test_unknown_run_outcome_raises():
    with pytest.raises(ValueError, match="outcome 'maybe'"):
        H.build_health(Settings(), [], [run("E_1", "r", "maybe")], [])


@pytest.mark.parametrize("failed, errors, skipped, total, expected", [
    (4, 1, 0, 10, {"status": 1, "summary": "4 failed, 1 invalid run"}),
    (0, 2, 0, 10, {"status": 1, "summary": "2 invalid runs"}),
    (1, 0, 3, 10, {"status": 1, "summary": "1 failed"}),
    (0, 0, 0, 10, {"status": 0, "summary": "all passed"}),
    (0, 0, 3, 10, {"status": 0, "summary": "no failures, 3 skipped"}),
    (0, 0, 0, 0, {"status": 0, "summary": "no cases"}),
])
def test_exit_block(failed, errors, skipped, total, expected):
    counts = {"cases": {"total": total, "passed": total - failed - skipped, "failed": failed, "skipped": skipped},
              "runs": {"total": 5, "ok": 5 - errors, "error": errors}}
    assert H.exit_block(counts) == expected


outcomes = st.sampled_from(H.OUTCOMES)


@given(st.lists(st.tuples(st.sampled_from(NAMES[:3]), outcomes), max_size=30),
       st.lists(st.booleans(), min_size=1, max_size=6))
def test_counts_add_up(cases, invalid):
    """Per outcome, the check tallies sum to the case tally; passed + failed + skipped = total;
    exit status is non-zero exactly when something failed or a run is invalid."""
    runs = [run("E_1", f"r{i}", "error" if bad else "ok") for i, bad in enumerate(invalid)]
    recs = [case("E_1", "r", 1e-6, chk, o) for chk, o in cases]
    counts = H.count(runs, recs)
    for key in ("total", *H.OUTCOMES):
        assert sum(t[key] for t in counts["checks"].values()) == counts["cases"][key]
    for t in [counts["cases"], *counts["checks"].values()]:
        assert t["passed"] + t["failed"] + t["skipped"] == t["total"]
    assert counts["runs"]["ok"] + counts["runs"]["error"] == len(runs)
    failing = counts["cases"]["failed"] > 0 or any(invalid)
    assert (H.exit_block(counts)["status"] == 1) == failing


def test_run_index_groups_runs_and_cases_by_key():
    """RunIndex: every case under (results, run) in document order, run-set cases under run
    None, an invalid run with no cases → []; the same lists as one scan per key (cases_of)."""
    h = health()
    index = H.RunIndex(h)
    assert [c["check"] for c in index.cases_of("E_256", "run_01")] == [
        "consistency", "consistency", "linear_agreement", "linear_agreement", "se_consistency"]
    assert [c["check"] for c in index.cases_of("E_256", EVIL_RUN)] == ["truncation_ratio"]
    assert [(c["check"], c["eta"]) for c in index.cases_of("E_256", None)] == [
        ("pooled_linear_agreement", 1e-06), ("pooled_linear_agreement", 2e-06), ("se_scaling", None)]
    assert index.cases_of("E_256", "run_03") == [] and index.cases_of("E_9", "run_01") == []
    assert index.run("E_256", "run_03")["outcome"] == "error" and index.run("E_256", "run_04") is None
    keys = {(c["run_set"], c["run"]) for c in h["cases"]} | {(r["run_set"], r["run"]) for r in h["runs"]}
    assert sum(len(index.cases_of(*k)) for k in keys) == len(h["cases"])
    for k in keys:
        assert index.cases_of(*k) == H.cases_of(h, *k)


@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=20))
def test_dumps_json_is_strict_json(obj):
    """Any nesting of numbers (NaN, ±inf included) dumps to strict JSON; non-finite → null."""
    text = H.dumps_json({"x": obj}).decode("utf-8")
    back = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict token {c}"))

    def finite(o):
        if isinstance(o, float):
            return math.isfinite(o)
        if isinstance(o, list):
            return all(map(finite, o))
        if isinstance(o, dict):
            return all(map(finite, o.values()))
        return True

    assert finite(back)


def test_undecodable_names_dump_as_text():
    """A run directory with invalid UTF-8 bytes (surrogateescape) still gives valid JSON."""
    name = b"run_\xff".decode("utf-8", "surrogateescape")
    h = H.build_health(Settings(), ["/d/E_1"], [run("E_1", name)], [case("E_1", name, 1e-6, "consistency", "passed")])
    doc = json.loads(H.dumps_json(h))
    assert doc["runs"][0]["run"] == doc["cases"][0]["run"] == "run_\\udcff"


# --------------------------------------------------------------------------- history


def test_history_line():
    line = Y.history_line(health(), "a" * 40)
    assert line["time"] == "2026-11-25T21:30:00Z" and line["commit"] == "a" * 40
    assert line["exit"] == {"status": 1, "summary": "3 failed, 1 invalid run"}
    assert line["run_sets"] == [{"name": "E_256", "E": 256, "runs": 3}, {"name": "E_512", "E": None, "runs": 1}]
    assert line["checks"]["linear_agreement"] == {"total": 2, "passed": 1, "failed": 1, "skipped": 0}
    assert line["pooled_z"] == {"pooled_linear_agreement": {"E_256": {"1e-06": 1.2, "2e-06": 0.4}}}


def test_append_history_atomic_bounded_and_tolerant(tmp_path):
    path = tmp_path / "reports" / "history.jsonl"
    for i in range(5):
        Y.append_history(path, health(), commit=None, max_lines=3)
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(ln)["commit"] is None for ln in lines)
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~umask())
    with open(path, "a") as fh:  # a torn line, garbage and a JSON non-record
        fh.write('{"time": "x", "checks"\nnot json\n[1, 2]\n')
    assert len(Y.read_history(path)) == 3
    assert Y.read_history(path, last=2) == [json.loads(ln) for ln in lines[-2:]]
    assert Y.read_history(tmp_path / "missing.jsonl") == []
    assert not list(path.parent.glob(".*.tmp"))


@pytest.mark.slow
def test_git_commit(tmp_path):
    assert Y.git_commit(tmp_path) is None  # not a repository
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("x")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "-C", str(tmp_path), "add", "f"], check=True, env=env)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-qm", "x"], check=True, env=env)
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert Y.git_commit(tmp_path) == head.strip()
    line = Y.append_history(tmp_path / "h.jsonl", health(paths=(tmp_path,)))  # commit looked up
    assert line["commit"] == head.strip()


AGREEMENT_PASS = {
    "run_set": "E_256", "run": "run_01", "eta": 8e-07, "check": "linear_agreement", "outcome": "passed",
    "reason": "ok", "message": "ηG = -0.00025 vs ΔH_true = -0.00049 (diff 0.00024); z = 0.77; |z| ≤ k = 3 — would "
    "detect a bias of ±240 % or more.", "z": 0.77, "k": 3.0, "n": 256, "prediction": -0.00025,
    "delta_h_true": -0.00049, "sigma": 0.00031, "sigma_source": "paired", "sigma_prediction": 0.0003,
    "sigma_true": 0.0002, "sigma_true_source": "paired", "sigma_g": 370.0, "sigma_g_source": "per_sequence",
    "ratio": 0.51, "ratio_se": 0.58, "resolution": 2.44,
    "detail": "ηG = -0.00025 vs ΔH_true = -0.00049 (diff 0.00024); z = 0.77"}


def test_a_passed_per_run_case_is_written_with_its_verdict_numbers_and_message_without_detail():
    """A per-run case that did not fail keeps its location, outcome, reason, the message
    without its numbers in words, and the numbers figures and a baseline read back."""
    assert H.written_case(AGREEMENT_PASS) == {
        "run_set": "E_256", "run": "run_01", "eta": 8e-07, "check": "linear_agreement", "outcome": "passed",
        "reason": "ok", "message": "|z| ≤ k = 3 — would detect a bias of ±240 % or more.", "z": 0.77, "n": 256,
        "delta_h_true": -0.00049, "sigma": 0.00031, "sigma_source": "paired", "sigma_true": 0.0002,
        "sigma_true_source": "paired", "sigma_g": 370.0, "ratio": 0.51, "ratio_se": 0.58, "resolution": 2.44}
    trunc = {"run_set": "E", "run": "r", "eta": 1e-6, "check": "truncation_ratio", "outcome": "skipped",
             "reason": "inconclusive", "message": "no keep-quantile conclusive at 3σ_S: q=0.9: …", "linear_S_q0.9": 1.0,
             "ratio_q0.9": None, "ratio_q0.99": 0.8, "notebook_ratio_q0.9": 2.0}
    assert H.written_case(trunc) == {"run_set": "E", "run": "r", "eta": 1e-6, "check": "truncation_ratio",
                                     "outcome": "skipped", "reason": "inconclusive",
                                     "message": "no keep-quantile conclusive at 3σ_S: q=0.9: …", "ratio_q0.99": 0.8}


def test_a_failed_case_and_a_run_set_case_keep_every_number_but_detail_and_z_runs():
    failed = {**AGREEMENT_PASS, "outcome": "failed", "reason": "out_of_bounds"}
    pooled = {**AGREEMENT_PASS, "run": None, "check": "pooled_linear_agreement", "z_runs": {"run_01": 0.77}}
    for case in (failed, pooled):
        assert H.written_case(case) == {k: v for k, v in case.items() if k not in ("detail", "z_runs")}
    doc = H.written({"schema": 4, "cases": [AGREEMENT_PASS, failed]})
    assert doc["schema"] == 4 and [len(c) for c in doc["cases"]] == [18, len(failed) - 1]


def test_an_unknown_check_keeps_its_location_and_message_only():
    case = {"run_set": "E", "run": "r", "eta": None, "check": "plugin_check", "outcome": "passed", "reason": "ok",
            "message": "fine", "x": 1.0}
    assert H.written_case(case) == {k: v for k, v in case.items() if k != "x"}

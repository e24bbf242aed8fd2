"""The gate end to end: real ``pytest checks/ --results …`` command lines in a subprocess.

Each test lays out a checkout (conftest.py, pytest.ini, checks/, dhstats/) in a pytester
directory, writes simulated run sets *next to it* (``../E_…``, the user's layout) and runs
the literal command, then asserts exit codes, outcomes, health.json and report files.
"""
from __future__ import annotations

import json
import re
import os
import shutil
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from dhstats import simulate
from dhstats.report.pages import page_path
from dhstats.verdicts.registry import NAMES as CHECKS

from paths import PROJECT_ROOT
from builders import NOISE, gate, health, make_checkout, umask, write_run

REPO = PROJECT_ROOT
pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow  # every test runs pytest in a subprocess


@pytest.fixture
def checkout(pytester: pytest.Pytester) -> Path:
    """A fresh checkout of the gate inside the pytester directory."""
    return make_checkout(pytester.path)


def cases(h: dict, check: str | None = None, outcome: str | None = None) -> list[dict]:
    return [c for c in h["cases"] if (check is None or c["check"] == check)
            and (outcome is None or c["outcome"] == outcome)]


# --------------------------------------------------------------------------- the embedded example


def test_example_without_results_fails_linear_at_largest_eta(pytester, checkout):
    result = gate(pytester, checkout)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*test_linear_agreement[[]E_example/run_0?/eta=0.000256[]]*",
                                 "*test_pooled_linear_agreement[[]E_example/eta=0.000256[]]*"])
    result.stdout.fnmatch_lines(["*dhstats gate*"])  # the gate's table comes after the failures
    h = health(checkout)
    assert h["schema"] == 4 and h["k"] == 3.0 and h["exit"]["status"] == 1
    failed = cases(h, outcome="failed")
    assert {c["check"] for c in failed} == {"linear_agreement", "pooled_linear_agreement"}
    assert len(failed) == 4
    top = max(c["eta"] for c in h["cases"] if c["eta"] is not None)
    assert {c["eta"] for c in failed} == {top}
    assert all(abs(c.get("z") or c["Z"]) > 3 for c in failed)
    assert all(c["sigma_source"] == "paired" for c in cases(h, "linear_agreement"))
    pooled = cases(h, "pooled_linear_agreement", "failed")[0]
    assert "3 of 3 runs fail on their own" in pooled["message"]
    assert "pooled lin+quad holds at this η" in pooled["message"] and pooled["finding"] == "beyond_linear"
    # lin+quad holds where the linear term breaks down
    assert all(c["outcome"] == "passed" for c in cases(h, "linquad_agreement") if c["eta"] == top)
    reports = checkout / "reports"
    html = (reports / "report.html").read_text()
    assert html.count("data:image/png;base64") >= len(failed)
    assert (reports / "badges" / "estimator-health.svg").read_text().startswith("<?xml")
    for check in CHECKS:  # the checks against a baseline have badges only with one
        assert (reports / "badges" / f"{check}.svg").is_file() != check.startswith("baseline_")
    assert "no baseline" in (reports / "badges" / "baseline.svg").read_text()
    for c in failed:
        if c["run"] is not None:
            page = reports / page_path((c["run_set"], c["run"]))
            assert "data:image/png;base64" in page.read_text()


def test_collect_only_writes_no_report(pytester, checkout):
    result = gate(pytester, checkout, "--co", "-q")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*test_input[[]E_example/run_01[]]*", "*test_se_consistency[[]E_example/run_01[]]*"])
    assert not (checkout / "reports" / "health.json").exists()


# --------------------------------------------------------------------------- planted defects


@pytest.fixture
def planted(pytester, checkout) -> Path:
    """``../E_128``: one healthy run, one run per defect, and malformed files."""
    root = checkout.parent / "E_128"
    write_run(root, "run_01", **NOISE)
    write_run(root, "run_02", defects=["biased_gdotv"])
    write_run(root, "run_03", defects=["uncorrected_denominator"])
    write_run(root, "run_04", defects=["negative_weights"])
    write_run(root, "run_05", seed=5, defects=["shard_mean_se"])  # own seeds: runs must be independent
    write_run(root, "run_06", n=512, defects=["spiky_mass"], etas=(1.28e-5, 2.56e-5))
    write_run(root, "run_07", seed=7, defects=["no_quadratic", "no_h_base"])
    simulate.write_malformed(root / "run_08" / "results.json", "short_array")
    simulate.write_malformed(root / "run_09" / "results.json", "truncated")
    (root / "run_10").mkdir()  # a run directory without results.json
    write_run(root, "run_11", defects=["scaled_gdotv"])
    return root


def test_planted_defects_are_caught_and_every_run_reported(pytester, checkout, planted):
    result = gate(pytester, checkout, "--results", "../E_128")
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "*FAILED*test_input[[]E_128/run_08[]]*",
        "*FAILED*test_input[[]E_128/run_09[]]*",
        "*FAILED*test_input[[]E_128/run_10[]]*",
    ])
    assert "Traceback" not in result.stdout.str()
    h = health(checkout)
    runs = {r["run"]: r for r in h["runs"]}
    assert sorted(runs) == [f"run_{i:02d}" for i in range(1, 12)]
    for bad in ("run_08", "run_09", "run_10"):
        assert runs[bad]["outcome"] == "error"
        assert not [c for c in h["cases"] if c["run"] == bad]
    assert "true.entries[1].diagnostics.h_new: 15 values, expected 16" in runs["run_08"]["message"]
    assert "not valid JSON" in runs["run_09"]["message"]
    assert "file not found" in runs["run_10"]["message"]

    def outcomes(run, check):
        return {c["outcome"] for c in h["cases"] if c["run"] == run and c["check"] == check}

    assert outcomes("run_01", "linear_agreement") == {"passed"}
    assert "failed" in outcomes("run_02", "linear_agreement")
    assert outcomes("run_03", "consistency") == {"failed"}
    assert all("uncorrected SNIS denominator" in c["message"] for c in cases(h, "consistency", "failed") if c["run"] == "run_03")
    assert outcomes("run_04", "snis_weights") == {"failed"}
    se = [c for c in h["cases"] if c["run"] == "run_05" and c["check"] == "se_consistency"][0]
    assert se["outcome"] == "failed" and "shard-mean" in se["message"] and "num_shards" in se["message"]
    # 1% of sequences carry spurious gdotv mass: the bulk agrees (the mask removes them),
    # the totals do not — caught by linear_agreement at n = 512 (z ≈ √(#spikes))
    assert outcomes("run_06", "truncation_ratio") == {"passed"}
    assert outcomes("run_11", "truncation_ratio") == {"failed"}  # bulk bias: r ≈ 2.5
    assert outcomes("run_07", "linquad_agreement") == {"skipped"}
    assert outcomes("run_07", "truncation_ratio") == {"skipped"}
    # the healthy run passes everything it can judge
    assert all(c["outcome"] != "failed" for c in h["cases"] if c["run"] == "run_01")
    pages = {p.name for p in (checkout / "reports" / "runs" / "E_128").iterdir()}
    assert "run_01.html" not in pages and {"run_02.html", "run_08.html", "run_10.html"} <= pages


def test_healthy_run_set_exits_zero(pytester, checkout):
    root = checkout.parent / "E_256"
    for i in range(1, 4):
        write_run(root, f"run_{i:02d}", n=256, seed=10 + i, **NOISE)
    result = gate(pytester, checkout, "--results", "../E_256")
    assert result.ret == 0, result.stdout.str()[-3000:]
    h = health(checkout)
    assert not cases(h, outcome="failed") and all(r["outcome"] == "ok" for r in h["runs"])
    assert not (checkout / "reports" / "runs").exists() or not any((checkout / "reports" / "runs").rglob("*.html"))
    html = (checkout / "reports" / "report.html").read_text()
    assert "data:image/png;base64" not in html  # passing cases carry no plots


def test_options_change_verdicts(pytester, checkout):
    root = checkout.parent / "E_128"
    write_run(root, "run_01", defects=["shard_mean_se"], **NOISE)
    result = gate(pytester, checkout, "--results", "../E_128", "--reported-se", "shard-mean")
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert cases(health(checkout), "se_consistency")[0]["outcome"] == "passed"
    # the example's breakdown is within 10σ, even pooled (|Z| ≈ 8)
    assert gate(pytester, checkout, "--sigma", "10").ret == 0
    result = gate(pytester, checkout, "--holm", "0.05", "--reports", "holm-reports")
    assert result.ret == 1
    failed = cases(health(checkout, "holm-reports"), outcome="failed")
    assert {c["check"] for c in failed} == {"linear_agreement", "pooled_linear_agreement"}
    assert all("Holm" in c["message"] for c in failed)


def test_ini_settings_apply(pytester, checkout):
    ini = checkout / "pytest.ini"
    text = ini.read_text()
    ini.write_text(text + "dhstats_sigma = 10\ndhstats_reports = ini-reports\n")  # the alias of dhstats_k
    assert gate(pytester, checkout).ret == 0
    assert health(checkout, "ini-reports")["k"] == 10.0
    ini.write_text(text + "dhstats_k = 9\ndhstats_sigma = 2\ndhstats_reports = ini-reports\n")  # the name wins
    assert gate(pytester, checkout).ret == 0
    assert health(checkout, "ini-reports")["k"] == 9.0
    assert gate(pytester, checkout, "--k", "8").ret == 0 and health(checkout, "ini-reports")["k"] == 8.0


def test_bad_results_directory_is_a_usage_error(pytester, checkout):
    result = gate(pytester, checkout, "--results", "../does-not-exist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "does-not-exist" in result.stderr.str()


# --------------------------------------------------------------------------- layout, escaping, xdist


def test_sibling_layout_under_foreign_pytest_config(pytester, checkout):
    """The literal command from the project root, with the run set next to the checkout and
    a research repo's pytest configuration in the directory above both."""
    if not any(ep.value == "dhstats.pytest_plugin.layout" for ep in entry_points(group="pytest11")):
        pytest.skip("dhstats is not installed (pip install -e .): its pytest11 entry point keeps pytest.ini")
    parent = checkout.parent
    (parent / "conftest.py").write_text("raise RuntimeError('the research repo conftest must not load')\n")
    (parent / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = "--strict-markers -x --this-option-does-not-exist"\n'
        'testpaths = ["nowhere"]\npython_functions = "nothing_*"\n')
    (parent / "tox.ini").write_text("[pytest]\naddopts = --also-bogus\n")
    (parent / "setup.cfg").write_text("[tool:pytest]\naddopts = --bogus-too\n")
    root = parent / "E_2048"
    write_run(root, "run_01", n=256, seed=3, **NOISE)
    write_run(root, "run_02", n=256, seed=4, defects=["biased_gdotv"])
    result = gate(pytester, checkout, "--results", "../E_2048")
    assert result.ret == 1
    result.stdout.fnmatch_lines([f"rootdir: {checkout}*", "configfile: pytest.ini*"])
    result.stdout.fnmatch_lines(["*FAILED*test_linear_agreement[[]E_2048/run_02/eta=*"])
    assert len(health(checkout)["runs"]) == 2


def test_hostile_run_name_stays_inert(pytester, checkout):
    root = checkout.parent / "E_128"
    evil = "run_<img src=x onerror=alert(1)>"
    write_run(root, evil, defects=["biased_gdotv"])
    simulate.write_malformed(root / "run_<script>alert(2)<" / "results.json", "nan")
    result = gate(pytester, checkout, "--results", "../E_128")
    assert result.ret == 1
    reports = checkout / "reports"
    pages = list((reports / "runs" / "E_128").glob("*.html"))
    assert len(pages) == 2
    for text in [(reports / "report.html").read_text()] + [p.read_text() for p in pages]:
        assert "<img src=x" not in text and "<script>alert(2)" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in (reports / page_path(("E_128", evil))).read_text()


def test_xdist_matches_serial(pytester, checkout, planted):
    pytest.importorskip("xdist")
    serial = gate(pytester, checkout, "--results", "../E_128", "--reports", "serial")
    parallel = gate(pytester, checkout, "--results", "../E_128", "--reports", "parallel", "-n", "2", "--dist",
                    "loadscope", "-v")  # xdist distributes the tests (plain -n 2: judging processes)
    workers: dict[str, set[str]] = {}
    for m in re.finditer(r"\[(gw\d+)\].*?test_\w+\[(E_128/run_\d+)", parallel.stdout.str()):
        workers.setdefault(m.group(2), set()).add(m.group(1))
    assert len(workers) == 11 and all(len(w) == 1 for w in workers.values()), workers  # a run stays on one worker
    assert len(set().union(*workers.values())) == 2  # and both workers got runs
    assert serial.ret == parallel.ret == 1
    a, b = health(checkout, "serial"), health(checkout, "parallel")
    assert a["runs"] == b["runs"]
    assert a["cases"] == b["cases"]  # same order, same numbers: pooled Z identical with -n 2
    assert (checkout / "parallel" / "report.html").read_text().count("data:image/png;base64") > 0
    pages = sorted(p.name for p in (checkout / "parallel" / "runs" / "E_128").iterdir())
    assert pages == sorted(p.name for p in (checkout / "serial" / "runs" / "E_128").iterdir())


@pytest.mark.slow
def test_tx_gateways_write_the_serial_health_json(pytester, checkout, planted):
    """``-d --tx 2*popen``: xdist's multi-host engine, two local gateways standing in for two
    hosts, distributes the runs (not the gate's judging processes of -n) and writes the serial
    health.json, every field but the time it was generated."""
    pytest.importorskip("xdist")
    serial = gate(pytester, checkout, "--results", "../E_128", "--reports", "serial")
    hosts = gate(pytester, checkout, "--results", "../E_128", "--reports", "hosts", "-d", "--tx", "2*popen", "-v")
    assert {"[gw0]", "[gw1]"} <= set(re.findall(r"\[gw\d\]", hosts.stdout.str()))
    assert "separate process" not in hosts.stdout.str()
    assert serial.ret == hosts.ret == 1
    a, b = health(checkout, "serial"), health(checkout, "hosts")
    assert a.pop("generated") and b.pop("generated")
    assert a == b


def test_gate_runs_without_pytest_html_and_xdist(pytester, checkout):
    """The gate's outputs do not depend on pytest-html or xdist being active."""
    result = gate(pytester, checkout, "-p", "no:html", "-p", "no:xdist")
    assert result.ret == 1
    reports = checkout / "reports"
    assert not (reports / "report.html").exists()
    assert len(cases(health(checkout), outcome="failed")) == 4
    assert "data:image/png;base64" in (reports / "runs" / "E_example" / "run_01.html").read_text()


def test_max_plots_bounds_rendering_and_says_how_to_get_the_rest(pytester, checkout):
    # 4 figures of run_01's case (run_02's do not fit in what is left); the pooled case's 2 (pooled
    # ratio, pooled interval) are run-set figures, outside the budget, and so is the pooled-ratio
    # figure under the run set's finding at the top of the summary
    result = gate(pytester, checkout, "--max-plots", "5")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*plots omitted*dhstats plot --results*--run run_02 --eta 0.000256*"])
    html = (checkout / "reports" / "report.html").read_text()
    assert html.count("data:image/png;base64") == 7


def test_selecting_cases_with_k_still_reports_every_selected_run(pytester, checkout, planted):
    """The run verdict travels on the first case of a run that runs, not only on input[...]:
    with -k deselecting the input cases, health.json still lists each run (and invalid runs
    still fail nothing silently: their selected cases skip)."""
    result = gate(pytester, checkout, "--results", "../E_128", "-k", "linear_agreement")
    assert result.ret == 1
    h = health(checkout)
    runs = {r["run"]: r["outcome"] for r in h["runs"]}
    assert runs["run_01"] == "ok" and runs["run_08"] == "error"  # run_08: short h_new
    assert {c["check"] for c in h["cases"]} == {"linear_agreement", "pooled_linear_agreement"}
    assert not [c for c in h["cases"] if c["run"] == "run_08"]
    assert len(h["runs"]) == 11  # every run found is in health.json, selected or not


# --------------------------------------------------------------------------- nothing from the data runs, no crash


@pytest.mark.parametrize("form", ["--results DIR", "--results=DIR"])
def test_conftest_in_a_results_directory_is_never_imported(pytester, checkout, form):
    root = checkout.parent / "E_128"
    write_run(root, "run_01", **NOISE)
    write_run(root, "run_02", seed=2, **NOISE)
    marker = checkout.parent / "PWNED"
    (root / "conftest.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (root / "run_01" / "conftest.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    args = ["--results", "../E_128"] if form == "--results DIR" else ["--results=../E_128"]
    result = gate(pytester, checkout, *args)
    assert result.ret == 0, result.stdout.str()[-2000:]
    assert not marker.exists()


@pytest.mark.parametrize("args, words", [
    (["--sigma", "1e400"], "--sigma"),
    (["--max-plots", "1.5"], "--max-plots"),
    (["--khat-max", "inf"], "--khat-max"),
    (["--reports", "a-file"], "--reports"),
    (["--reports", "/proc/not-writable"], "--reports"),
])
def test_bad_options_are_usage_errors_not_internal_errors(pytester, checkout, args, words):
    (checkout / "a-file").write_text("not a directory")
    result = gate(pytester, checkout, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str() and "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_the_same_results_twice_checks_each_case_once(pytester, checkout):
    root = checkout.parent / "E_128"
    write_run(root, "run_01", **NOISE)
    write_run(root, "run_02", seed=2, **NOISE)
    once = gate(pytester, checkout, "--results", "../E_128", "--co", "-q")
    twice = gate(pytester, checkout, "--results", "../E_128", "--results", str(root), "--co", "-q")
    count = lambda r: r.stdout.lines[-1].split(" tests collected")[0]  # noqa: E731
    # 2 runs × (input, se) + 2×3 η × 6 checks + 3 η × 2 pooled = 46 cases, each once; pytest's count adds
    # one empty-parameter item per check with no case here (se_scaling and the 3 baseline checks)
    assert count(once) == count(twice) == "50"


def test_fifo_and_device_are_input_errors_and_report_html_is_published_whole(pytester, checkout):
    root = checkout.parent / "E_128"
    write_run(root, "run_01", **NOISE)
    (root / "run_02").mkdir()
    os.mkfifo(root / "run_02" / "results.json")
    (root / "run_03").mkdir()
    os.symlink("/dev/zero", root / "run_03" / "results.json")
    result = gate(pytester, checkout, "--results", "../E_128")
    assert result.ret == 1
    runs = {r["run"]: r for r in health(checkout)["runs"]}
    assert runs["run_01"]["outcome"] == "ok"
    assert runs["run_02"]["outcome"] == runs["run_03"]["outcome"] == "error"
    reports = checkout / "reports"
    assert (reports / "report.html").stat().st_size > 0
    assert not list(reports.glob(".*.tmp")) and not list(reports.rglob("*.tmp"))
    assert oct((reports / "health.json").stat().st_mode & 0o777) == oct(0o666 & ~umask())


def test_n2_on_a_few_runs_runs_in_one_process(pytester, checkout):
    """With fewer than 2 runs per process -n is ignored (said): starting processes costs more."""
    pytest.importorskip("xdist")
    result = gate(pytester, checkout, "-n", "2")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*-n 2 ignored: 3 runs (fewer than 2 per process) are judged here*"])
    assert "bringing up nodes" not in result.stdout.str()
    assert len(cases(health(checkout), outcome="failed")) == 4


def test_n2_judges_runs_in_two_processes_with_the_same_verdicts(pytester, checkout, planted):
    """-n 2: runs are parsed, judged and their failures drawn in another process while this one
    runs the tests; health.json is the serial one, pooled Z included, figures included."""
    pytest.importorskip("xdist")
    serial = gate(pytester, checkout, "--results", "../E_128", "--reports", "serial", "--max-plots", "-1")
    ahead = gate(pytester, checkout, "--results", "../E_128", "--reports", "ahead", "-n", "2", "--max-plots", "-1")
    ahead.stdout.fnmatch_lines(["*-n 2: the runs were read and judged in 1 separate process while this one ran the tests*"])
    assert "bringing up nodes" not in ahead.stdout.str()
    assert serial.ret == ahead.ret == 1
    a, b = health(checkout, "serial"), health(checkout, "ahead")
    assert a["runs"] == b["runs"] and a["cases"] == b["cases"]
    assert [c["Z"] for c in b["cases"] if c["run"] is None and "Z" in c] == \
        [c["Z"] for c in a["cases"] if c["run"] is None and "Z" in c]
    for name in ("serial", "ahead"):
        pages = sorted((checkout / name / "runs" / "E_128").iterdir())
        assert pages and all("data:image/png;base64" in p.read_text() for p in pages
                             if "run_08" not in p.name and "run_09" not in p.name and "run_10" not in p.name)


def test_n2_draws_no_more_figures_than_serial(pytester, checkout, planted):
    """--max-plots is the session's budget: under -n 2 the judging process and this one draw
    from one shared budget (not one each), the same figures as a serial session."""
    pytest.importorskip("xdist")
    figures = {}
    for name, extra in (("serial", ()), ("ahead", ("-n", "2"))):
        result = gate(pytester, checkout, "--results", "../E_128", "--reports", name, "--max-plots", "3", *extra)
        assert result.ret == 1
        html = (checkout / name / "report.html").read_text()
        figures[name] = html.count("data:image/png;base64")
    assert figures["serial"] == figures["ahead"] >= 3


def test_index_teardowns_looks_up_what_pytest_does_from_one_scan():
    """The failure summary's teardown look-up: pytest's answers, one scan of the reports for
    any number of failures (pytest scans them all per failure)."""
    import importlib
    import importlib.util
    from types import SimpleNamespace

    from _pytest.terminal import TerminalReporter

    from dhstats.pytest_plugin.pytest_internals import index_teardowns

    # (id: what pytest ≥ 9.2 compares, a NodeId there; its string form here)
    reports = [SimpleNamespace(when=w, nodeid=n, id=n, sections=[]) for n in ("a", "b", "a") for w in ("setup", "teardown")]
    tr = SimpleNamespace(stats={"": reports + [SimpleNamespace(when="collect", nodeid="c")]}, scans=[])
    tr.getreports = lambda name: tr.scans.append(name) or TerminalReporter.getreports(tr, name)
    tr._get_teardown_reports = lambda nodeid: TerminalReporter._get_teardown_reports(tr, nodeid)
    expected = {n: tr._get_teardown_reports(n) for n in "abcz"}
    assert [len(v) for v in expected.values()] == [2, 1, 0, 0]
    tr.scans.clear()
    index_teardowns(tr)
    assert {n: tr._get_teardown_reports(n) for n in "abcz"} == expected
    assert tr.scans == [""]
    NodeId = getattr(importlib.util.find_spec("_pytest.nodeid") and importlib.import_module("_pytest.nodeid"),
                     "NodeId", None)
    if NodeId is not None:  # pytest ≥ 9.2 passes a NodeId, not a str
        assert tr._get_teardown_reports(NodeId.parse("a")) == expected["a"]


def test_a_session_without_pytest_writes_the_plugins_health_json(pytester, checkout, planted):
    """dhstats.session.Session(...).run() — no pytest — judges the same run sets as
    `pytest checks/ --results …` into the same health.json."""
    from dhstats.report.health import written
    from dhstats.session import Session
    from dhstats.load.settings import parse

    assert gate(pytester, checkout, "--results", "../E_128", "--reports", "plugin", "--max-plots", "0").ret == 1
    options = parse({"reports": str(checkout / "library"), "history": "none", "max_plots": "0"}, checkout,
                    inifile=checkout / "pytest.ini")  # the file the plugin read its settings from
    mine = Session(options, [planted]).run()
    theirs = health(checkout, "plugin")
    for key in ("schema", "k", "settings", "run_sets", "runs", "cases", "counts", "exit"):
        assert written(mine)[key] == theirs[key], key


def test_duplicate_runs_are_invalid_input_serial_and_under_n2(pytester, checkout):
    """A symlinked run, a hard link, a byte copy, a reformatted copy and a copy in another run
    set: each the later of two runs that are one — invalid input, ``duplicate_run``, naming the
    first — in health.json, report.html and the terminal, the same serial, with -n 2 (judging
    processes) and with xdist distributing the tests."""
    pytest.importorskip("xdist")
    a, b = checkout.parent / "E_128", checkout.parent / "E_256"
    for i in range(1, 5):
        write_run(a, f"run_{i:02d}", seed=i, **NOISE)
    os.symlink(a / "run_01", a / "run_05")
    (a / "run_06").mkdir()
    os.link(a / "run_02" / "results.json", a / "run_06" / "results.json")
    (a / "run_07").mkdir()
    (a / "run_07" / "results.json").write_text(json.dumps(json.loads((a / "run_03" / "results.json").read_text()),
                                                          indent=3))
    write_run(b, "run_01", n=256, seed=9, **NOISE)
    (b / "run_02").mkdir()
    shutil.copy(a / "run_04" / "results.json", b / "run_02" / "results.json")
    expected = {("E_128", "run_05"): "E_128/run_01", ("E_128", "run_06"): "E_128/run_02",
                ("E_128", "run_07"): "E_128/run_03", ("E_256", "run_02"): "E_128/run_04"}
    results = ("--results", "../E_128", "--results", "../E_256")
    serial = gate(pytester, checkout, *results, "--reports", "serial")
    ahead = gate(pytester, checkout, *results, "--reports", "ahead", "-n", "2")
    spread = gate(pytester, checkout, *results, "--reports", "spread", "-n", "2", "--dist", "loadscope")
    assert serial.ret == ahead.ret == spread.ret == 1
    runs = {name: health(checkout, name)["runs"] for name in ("serial", "ahead", "spread")}
    assert runs["serial"] == runs["ahead"] == runs["spread"]
    found = {(r["run_set"], r["run"]): r["problems"] for r in runs["serial"] if r["outcome"] == "error"}
    assert set(found) == set(expected)
    for key, first in expected.items():
        (p,) = found[key]
        assert p["reason"] == "duplicate_run" and f"{first}/results.json" in p["message"]
    cases_of = lambda name: [{k: v for k, v in c.items() if k != "duration"}  # noqa: E731
                             for c in health(checkout, name)["cases"]]
    assert cases_of("serial") == cases_of("ahead") == cases_of("spread")
    for name, result in (("serial", serial), ("ahead", ahead), ("spread", spread)):
        out = result.stdout.str()
        assert "one run counted twice" in out and "4 invalid" in out, name
        html = (checkout / name / "report.html").read_text()
        assert html.count("one run counted twice") >= 4 and "duplicate_run" in html

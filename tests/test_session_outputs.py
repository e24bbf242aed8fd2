"""A gate session's outputs under hostile conditions, end to end (``pytest checks/`` in a
subprocess): Ctrl-C, odd ``--history`` files, symbolic links and occupied paths inside the
reports directory, ``--html``, odd run names. Every file a test makes is inside its tmp_path.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from output_hazards import tree as _tree
from builders import NOISE, gate, health, make_checkout, write_run

pytestmark = pytest.mark.slow
pytest_plugins = ["pytester"]


@pytest.fixture
def checkout(pytester: pytest.Pytester) -> Path:
    """A fresh checkout of the gate inside the pytester directory."""
    return make_checkout(pytester.path)


@pytest.fixture
def healthy(checkout) -> Path:
    """``../E_64``: six healthy runs (every case passes)."""
    root = checkout.parent / "E_64"
    for i in range(1, 7):
        write_run(root, f"run_{i:02d}", n=64, seed=20 + i, **NOISE)
    return root


INTERRUPT_PLUGIN = """
import os, signal, sys
seen = []
def pytest_runtest_call(item):
    seen.append(item.nodeid)
    if len(seen) == {after}:
        sys.modules["matplotlib"] = None  # as when Ctrl-C cuts an import of it short
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the session
"""
LATE_INTERRUPT_PLUGIN = """
import os, signal
import pytest
@pytest.hookimpl(tryfirst=True)
def pytest_{hook}(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C once every case has run
"""


def _interrupting(pytester, checkout, after: int) -> str:
    (checkout / "ctrl_c.py").write_text(INTERRUPT_PLUGIN.format(after=after))
    return "ctrl_c"


# --------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_is_never_a_pass(pytester, checkout, healthy):
    plugin = _interrupting(pytester, checkout, after=5)
    (checkout / "reports").mkdir()
    line = {"checks": {}, "cases": {"failed": 0}, "runs": {"error": 0}, "run_sets": [{"name": "E_64"}]}
    (checkout / "reports" / "history.jsonl").write_text(2 * (json.dumps(line) + "\n"))  # a trend to draw
    result = gate(pytester, checkout, "--results", "../E_64", "-p", plugin)  # cwd is on sys.path
    out = result.stdout.str()
    assert result.ret == 2, out[-3000:]  # pytest's own status for an interrupted session
    assert "exit status 0" not in out and "Traceback" not in out + result.stderr.str()
    h = health(checkout)
    assert h["exit"]["status"] == 2 and h["exit"]["summary"].startswith("interrupted")
    assert h["interrupted"] is True
    # every run found is listed; those no case reported are named, not judged after Ctrl-C
    listed = {r["run"] for r in h["runs"]} | {r["run"] for r in h["not_judged"]}
    assert listed == {f"run_{i:02d}" for i in range(1, 7)}
    assert h["not_judged"] and all(r["message"] for r in h["not_judged"])
    badge = (checkout / "reports" / "badges" / "estimator-health.svg").read_text()
    assert "interrupted" in badge and "#4C1" not in badge.upper()  # not green
    *_, line = [json.loads(ln) for ln in (checkout / "reports" / "history.jsonl").read_text().splitlines()]
    assert line["exit"]["status"] == 2 and line["interrupted"] is True
    assert "summary not written" not in out
    assert h["exit"]["summary"] in (checkout / "reports" / "report.html").read_text()  # its summary says so
    assert "interrupted" in out.splitlines()[-1] or "exit status 2" in out


@pytest.mark.parametrize("hook", ["html_results_summary", "terminal_summary"])
def test_ctrl_c_after_every_case_ran_completes_the_outputs(pytester, checkout, healthy, hook):
    (checkout / "late_ctrl_c.py").write_text(LATE_INTERRUPT_PLUGIN.format(hook=hook))
    result = gate(pytester, checkout, "--results", "../E_64", "-p", "late_ctrl_c")
    out = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in out and "KeyboardInterrupt" not in out
    assert result.ret == 0 and health(checkout)["exit"]["status"] == 0  # the session had finished
    assert (checkout / "reports" / "report.html").is_file()


# --------------------------------------------------------------------------- --history


@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink"])
def test_a_history_that_is_not_a_regular_file_is_a_usage_error(pytester, checkout, healthy, kind):
    path = checkout.parent / "odd-history"
    target = checkout.parent / "other.jsonl"
    target.write_text("a line of someone else's\n")
    {"fifo": lambda: os.mkfifo(path), "directory": path.mkdir, "symlink": lambda: path.symlink_to(target)}[kind]()
    result = gate(pytester, checkout, "--results", "../E_64", "--history", str(path))  # a FIFO must not hang
    assert result.ret == 4
    assert f"--history: {path} is a" in result.stderr.str() and "Traceback" not in result.stderr.str()
    assert not (checkout / "reports" / "health.json").exists()  # refused before any work
    assert target.read_text() == "a line of someone else's\n"


def test_a_linked_history_inside_reports_is_refused(pytester, checkout, healthy):
    other = checkout.parent / "other.jsonl"
    other.write_text("not the gate's\n")
    (checkout / "reports").mkdir()
    (checkout / "reports" / "history.jsonl").symlink_to(other)
    result = gate(pytester, checkout, "--results", "../E_64")
    assert result.ret == 4 and "is a symbolic link" in result.stderr.str()
    assert other.read_text() == "not the gate's\n"


# --------------------------------------------------------------------------- links in reports/


def test_links_inside_reports_are_never_followed(pytester, checkout):
    runs = checkout.parent / "E_64"
    write_run(runs, "run_01", n=64, seed=3, defects=["biased_gdotv"])  # fails: a run page is written
    outside = checkout.parent / "outside"
    for d in ("pages", "badges"):
        (outside / d).mkdir(parents=True)
        (outside / d / "keep.txt").write_text("keep")
    (outside / "health.json").write_text("{}")
    (outside / "manifest.json").write_text(json.dumps({"files": ["mine.txt"]}))
    reports = checkout / "reports"
    reports.mkdir()
    (reports / "mine.txt").write_text("the user's file inside reports/")
    (reports / "runs").symlink_to(outside / "pages")
    (reports / "badges").symlink_to(outside / "badges")
    (reports / "health.json").symlink_to(outside / "health.json")
    (reports / ".dhstats-manifest.json").symlink_to(outside / "manifest.json")
    before = _tree(outside)
    # a previous session's manifest would list runs/keep.txt: written through the link it is outside
    result = gate(pytester, checkout, "--results", "../E_64")
    assert result.ret == 1, result.stdout.str()[-3000:]
    assert _tree(outside) == before  # nothing outside reports/ written, read into reports/ or deleted
    assert (reports / "mine.txt").read_text() == "the user's file inside reports/"
    for name in ("runs", "badges", "health.json", ".dhstats-manifest.json"):
        assert not (reports / name).is_symlink()  # the link itself was replaced
    assert (reports / "runs" / "E_64" / "run_01.html").is_file()
    assert health(checkout)["runs"][0]["run"] == "run_01"
    out = result.stdout.str()
    assert "a symbolic link (to " in out and "was replaced by a directory" in out
    # the next session cleans only inside reports/: a manifest entry behind a new link is kept
    (reports / "runs").rename(checkout.parent / "old-runs")
    (reports / "runs").symlink_to(outside / "pages")
    manifest = json.loads((reports / ".dhstats-manifest.json").read_text())
    manifest["files"].append("runs/keep.txt")
    (reports / ".dhstats-manifest.json").write_text(json.dumps(manifest))
    write_run(runs, "run_01", n=64, seed=3, **NOISE)  # passes now: no page to write
    gate(pytester, checkout, "--results", "../E_64")
    assert _tree(outside) == before


# --------------------------------------------------------------------------- --html


def test_a_users_html_path_is_honoured(pytester, checkout, healthy):
    mine = checkout.parent / "elsewhere" / "my.html"
    result = gate(pytester, checkout, "--results", "../E_64", f"--html={mine}", "--self-contained-html")
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert mine.is_file()  # stays where the user asked
    copy = checkout / "reports" / "report.html"
    assert copy.read_bytes() == mine.read_bytes() and not copy.is_symlink()
    assert f"Generated html report: {mine.as_uri()}" in result.stdout.str()


def test_an_occupied_report_path_is_a_message_not_a_traceback(pytester, checkout, healthy):
    (checkout / "reports" / "report.html").mkdir(parents=True)
    result = gate(pytester, checkout, "--results", "../E_64")
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == 0 and "Traceback" not in out  # the exit status stays the gate's
    assert f"dhstats: {checkout / 'reports' / 'report.html'} not written: Is a directory" in out
    assert health(checkout)["exit"]["status"] == 0


# --------------------------------------------------------------------------- each output on its own


def test_each_output_is_written_or_fails_on_its_own(pytester, checkout):
    runs = checkout.parent / "E_64"
    write_run(runs, "run_01", n=64, seed=3, defects=["biased_gdotv"])
    reports = checkout / "reports"
    reports.mkdir()
    (reports / "badges").write_text("a file where the badges directory belongs")
    (reports / "history.jsonl").write_text('{"time": "t", "checks": {}, "cases": "?"}\n')  # another shape
    result = gate(pytester, checkout, "--results", "../E_64")
    out = result.stdout.str()
    assert result.ret == 1 and "Traceback" not in out + result.stderr.str()
    assert f"dhstats: badges/estimator-health.svg not written: OutputError: {reports / 'badges'} is not a directory" in out
    assert "line(s) the gate cannot read were skipped: line 1 (no integer 'cases.failed')" in out
    assert (reports / "runs" / "E_64" / "run_01.html").is_file() and health(checkout)["exit"]["status"] == 1
    lines = (reports / "history.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["exit"]["status"] == 1  # the odd line is kept
    (reports / "badges").unlink()
    (reports / "health.json").unlink()
    (reports / "health.json").mkdir()
    result = gate(pytester, checkout, "--results", "../E_64")
    assert "dhstats: health.json not written: IsADirectoryError" in result.stdout.str()
    assert (reports / "badges" / "trend.svg").is_file() and len((reports / "history.jsonl").read_text().splitlines()) == 3


# --------------------------------------------------------------------------- odd run names


def _mkrun(root: Path, name: bytes, **kw) -> None:
    """A run directory whose name is raw bytes (not UTF-8 when so)."""
    write_run(root, os.fsdecode(name), n=64, **kw)


def test_non_utf8_run_names_reach_every_output(pytester, checkout):
    root = checkout.parent / "E_64"
    _mkrun(root, b"run_\xff\xfe", seed=3, defects=["biased_gdotv"])
    _mkrun(root, b"run_ok", seed=4, **NOISE)
    result = gate(pytester, checkout, "--results", "../E_64")
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == 1 and "Traceback" not in out and "not written" not in out
    h = health(checkout)
    assert sorted(r["run"] for r in h["runs"]) == ["run_\\udcff\\udcfe", "run_ok"]  # escaped, every run
    reports = checkout / "reports"
    (page,) = (reports / "runs" / "E_64").iterdir()
    assert page.name.startswith("run__udcff_udcfe-") and "run_\\udcff\\udcfe" in page.read_text()
    html = (reports / "report.html").read_text(encoding="utf-8")
    assert "run_\\udcff\\udcfe" in html
    assert len((reports / "history.jsonl").read_text(encoding="utf-8").splitlines()) == 1


def test_a_plain_name_that_looks_sanitised_gets_its_own_page(pytester, checkout):
    import hashlib

    root = checkout.parent / "E_64"
    twin = "run_a_b-" + hashlib.sha1(b"run_a b").hexdigest()[:8]  # what "run_a b" was sanitised to
    for name, seed in (("run_a b", 3), (twin, 5)):
        write_run(root, name, n=64, seed=seed, defects=["biased_gdotv"])
    result = gate(pytester, checkout, "--results", "../E_64")
    assert result.ret == 1
    pages = sorted((checkout / "reports" / "runs" / "E_64").iterdir())
    assert len(pages) == 2
    assert sorted(p.read_text().count(f"E_64/{twin}") > 0 for p in pages) == [False, True]
    assert len({c["run"] for c in health(checkout)["cases"]} - {None}) == 2


def test_dangling_and_looping_run_links_are_invalid_runs(pytester, checkout):
    root = checkout.parent / "E_64"
    write_run(root, "run_01", n=64, seed=3, **NOISE)
    (root / "run_02").symlink_to(checkout.parent / "gone")
    (root / "run_03").symlink_to(root / "run_03")  # a loop
    result = gate(pytester, checkout, "--results", "../E_64")
    assert result.ret == 1 and "Traceback" not in result.stdout.str()
    runs = {r["run"]: r for r in health(checkout)["runs"]}
    assert sorted(runs) == ["run_01", "run_02", "run_03"]
    assert runs["run_01"]["outcome"] == "ok"
    assert runs["run_02"]["outcome"] == "error" and "dangling symbolic link" in runs["run_02"]["message"]
    assert runs["run_03"]["outcome"] == "error" and "symbolic link loop" in runs["run_03"]["message"]


@pytest.mark.parametrize("target", ["outside", "nowhere"])
def test_a_link_where_the_example_goes_is_replaced(pytester, checkout, target):
    outside = checkout.parent / "outside"
    (outside / "E_example").mkdir(parents=True)
    (outside / "E_example" / "keep.txt").write_text("keep")
    (checkout / "reports").mkdir()
    (checkout / "reports" / "example").symlink_to(checkout.parent / target)
    before = _tree(outside)
    result = gate(pytester, checkout)  # no --results: the embedded example under reports/example
    assert result.ret == 1 and "Traceback" not in result.stdout.str() + result.stderr.str()
    assert _tree(outside) == before
    assert not (checkout / "reports" / "example").is_symlink()
    assert sorted(p.name for p in (checkout / "reports").iterdir() if p.name.startswith("example")) == ["example"]

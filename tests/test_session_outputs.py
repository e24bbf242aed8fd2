"""A gate session's outputs under hostile conditions, end to end (``pytest checks/`` in a
subprocess): Ctrl-C, odd ``--history`` files, symbolic links and occupied paths inside the
reports directory, ``--html``, odd run names. Every file a test makes is inside its tmp_path.
"""
from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
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
# Ctrl-C as in a terminal: a SIGINT ignored or blocked here can only come from the process that
# started this session (the gate never ignores or blocks it), and was seen once under xdist
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    sys.stderr.write("ctrl_c: SIGINT was ignored when the session started\\n")
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []):
    sys.stderr.write("ctrl_c: SIGINT was blocked when the session started\\n")
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
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
    manifest["files"]["runs/keep.txt"] = {"sha256": hashlib.sha256(b"keep").hexdigest(), "bytes": 4}
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
    assert result.ret == 1 and "Traceback" not in out  # an output not written: never exit 0
    assert "dhstats: report.html not written: Is a directory" in out
    assert health(checkout)["exit"] == {"status": 1, "summary": "all passed; not written: report.html"}
    assert not list((checkout / "reports").glob("*.tmp"))


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
    (checkout / "reports" / ".dhstats-example").symlink_to(checkout.parent / target)
    before = _tree(outside)
    result = gate(pytester, checkout)  # no --results: the embedded example under reports/.dhstats-example
    assert result.ret == 1 and "Traceback" not in result.stdout.str() + result.stderr.str()
    assert _tree(outside) == before
    assert not (checkout / "reports" / ".dhstats-example").is_symlink()
    assert sorted(p.name for p in (checkout / "reports").iterdir() if "example" in p.name) == [".dhstats-example"]


def test_a_users_files_where_the_example_went_are_never_removed(pytester, checkout):  # noqa: F811
    """reports/example/ (where the example used to go) is the user's; so is a
    reports/.dhstats-example/ the gate did not mark: the session refuses (exit 4), deletes nothing."""
    reports = checkout / "reports"
    (reports / "example").mkdir(parents=True)
    (reports / "example" / "notes.txt").write_text("mine")
    result = gate(pytester, checkout)
    assert result.ret == 1 and (reports / "example" / "notes.txt").read_text() == "mine"
    marker = reports / ".dhstats-example" / ".written-by-dhstats"
    marker.unlink()
    (reports / ".dhstats-example" / "notes.txt").write_text("mine too")
    result = gate(pytester, checkout)
    assert result.ret == 4 and "was not written by the gate" in result.stderr.str()
    assert (reports / ".dhstats-example" / "notes.txt").read_text() == "mine too"
    assert health(checkout)["exit"]["status"] is None  # the session started: in progress, never the last verdict
    line = json.loads((reports / "history.jsonl").read_text().splitlines()[-1])
    assert line["exit"]["status"] is None and "ended without a verdict" in line["exit"]["summary"]


# --------------------------------------------------------------------------- outputs that never outlive their session

SLOW_PLUGIN = """
import time
def pytest_runtest_call(item):
    time.sleep({seconds})
"""
VERDICT_FILES = ("health.json", "badges/estimator-health.svg", "report.html")


def _verdicts(reports: Path) -> dict[str, bytes]:
    return {rel: (reports / rel).read_bytes() for rel in VERDICT_FILES if (reports / rel).is_file()}


def _popen(checkout: Path, *args: str, fsize: int | None = None) -> subprocess.Popen:  # noqa: F811
    """``python -m pytest checks/ ARGS`` from the checkout, in the background; ``fsize``: the
    largest file it may write (RLIMIT_FSIZE, as ``ulimit -f``: a full disk)."""
    def limit():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.Popen([sys.executable, "-m", "pytest", "checks/", "-p", "no:cacheprovider", "--max-plots", "0",
                             *args], cwd=checkout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=limit, env={**os.environ, "PYTHONPATH": str(checkout)})


def _in_progress(reports: Path, files=VERDICT_FILES) -> list[str]:
    """The files among ``files`` that show the "session in progress" state."""
    out = []
    for rel in files:
        text = (reports / rel).read_text() if (reports / rel).is_file() else ""
        if rel == "health.json" and text and json.loads(text)["exit"]["status"] is None and json.loads(text)["in_progress"]:
            out.append(rel)
        elif rel != "health.json" and "session in progress" in text:
            out.append(rel)
    return out


def _wait_for_in_progress(proc: subprocess.Popen, reports: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if "health.json" in _in_progress(reports, ("health.json",)):
            return
        time.sleep(0.05)
    raise AssertionError(f"no in-progress health.json (exit {proc.poll()})")


def _biased(checkout: Path, name: str = "E_bad") -> Path:  # noqa: F811
    root = checkout.parent / name
    for i in range(1, 4):
        write_run(root, f"run_{i:02d}", n=64, seed=40 + i, defects=["biased_gdotv"])
    return root


@pytest.mark.parametrize("html", [True, False])
def test_a_failed_write_never_leaves_the_last_pass(pytester, checkout, healthy, html):  # noqa: F811
    """A passing session, then a failing one whose writes fail (RLIMIT_FSIZE of 20 kB, as a full
    disk): health.json, the overall badge and report.html are the new session's verdict or the
    in-progress state, never the earlier pass; the failed writes are named, the exit status is
    non-zero, no temporary file is left."""
    reports = checkout / "reports"
    no_html = () if html else ("-p", "no:html")
    assert gate(pytester, checkout, "--results", "../E_64", *no_html).ret == 0
    old = _verdicts(reports)
    assert set(old) == set(VERDICT_FILES) - ({"report.html"} if not html else set())
    _biased(checkout)
    proc = _popen(checkout, "--results", "../E_bad", *no_html, fsize=20_000)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "Traceback" not in out + err and "INTERNALERROR" not in out + err
    assert "health.json not written: OSError: [Errno 27] File too large" in out
    new = _verdicts(reports)
    for rel, data in new.items():
        assert data != old.get(rel), f"{rel}: the earlier session's verdict"
    assert "health.json" in _in_progress(reports)  # 20 kB is too small for its verdict
    badge = new["badges/estimator-health.svg"].decode()
    assert "session in progress" in badge or "not written: health.json" in badge
    if html:
        assert "report.html" in _in_progress(reports) and "report.html not written" in out
    assert not [p for p in reports.rglob("*") if p.name.endswith(".tmp")]
    line = json.loads((reports / "history.jsonl").read_text().splitlines()[-1])
    assert line["exit"]["status"] == 1 and "not written: health.json" in line["exit"]["summary"]


def test_a_killed_session_leaves_its_in_progress_state(pytester, checkout, healthy):  # noqa: F811
    """A passing session, then one killed by SIGKILL mid-way (out of memory, a CI timeout): the
    in-progress state (grey badge, exit.status null), never the earlier pass; the next session
    takes the stale lock over, says so, removes the killed one's temporary files and records in
    the history that it ended without a verdict."""
    reports = checkout / "reports"
    assert gate(pytester, checkout, "--results", "../E_64").ret == 0
    old = _verdicts(reports)
    (checkout / "slow.py").write_text(SLOW_PLUGIN.format(seconds=0.2))
    proc = _popen(checkout, "--results", "../E_64", "-p", "slow")
    _wait_for_in_progress(proc, reports)
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _in_progress(reports) == list(VERDICT_FILES)
    assert all(_verdicts(reports)[rel] != old[rel] for rel in VERDICT_FILES)
    assert "#d3d3d3" in (reports / "badges" / "estimator-health.svg").read_text().lower()  # grey (lightgrey)
    assert list(reports.glob(".dhstats-*.tmp"))  # pytest-html's reserved name: the next session removes it
    result = gate(pytester, checkout, "--results", "../E_64")
    assert result.ret == 0
    assert f"took over a stale lock of {reports} (pid {proc.pid}," in result.stdout.str()
    assert not [p for p in reports.rglob("*") if p.name.endswith(".tmp")]
    lines = [json.loads(ln) for ln in (reports / "history.jsonl").read_text().splitlines()]
    assert [ln["exit"]["status"] for ln in lines] == [0, None, 0]
    assert lines[1]["no_verdict"] and f"pid {proc.pid} was killed" in lines[1]["exit"]["summary"]


def test_two_sessions_on_one_reports_directory_never_mix(pytester, checkout, healthy):  # noqa: F811
    """A passing session holds reports/; a failing one started meanwhile waits for it (then
    writes its own verdict whole) or, past --lock-timeout, exits 4 naming the holder."""
    reports = checkout / "reports"
    _biased(checkout)
    (checkout / "slow.py").write_text(SLOW_PLUGIN.format(seconds=0.05))
    first = _popen(checkout, "--results", "../E_64", "-p", "slow")
    _wait_for_in_progress(first, reports)
    refused = _popen(checkout, "--results", "../E_bad", "--lock-timeout", "0.5")
    out, err = refused.communicate(timeout=120)
    assert refused.returncode == 4, out + err
    assert f"another gate session is writing there (pid {first.pid}, started " in err and "-p slow" in err
    second = _popen(checkout, "--results", "../E_bad")  # waits (default 60 s) for the first
    first.communicate(timeout=300)
    out, err = second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 1, out + err
    h = health(checkout)
    assert [s["name"] for s in h["run_sets"]] == ["E_bad"] and h["exit"]["status"] == 1
    assert "dhstats gate: E_bad" in (reports / "report.html").read_text()
    assert h["exit"]["summary"] in (reports / "badges" / "estimator-health.svg").read_text()


# --------------------------------------------------------------------------- a deselected case is not a passed case


def test_deselected_cases_are_counted_and_never_green(pytester, checkout):  # noqa: F811
    _biased(checkout)
    assert gate(pytester, checkout, "--results", "../E_bad").ret == 1  # the agreement checks fail
    result = gate(pytester, checkout, "--results", "../E_bad", "-k", "not agreement")
    assert result.ret == 0
    h = health(checkout)
    assert h["confidence"] == "partial" and h["counts"]["deselected"] == 3 * 3 * 2 + 3 * 2
    assert sorted(h["deselected"]) == ["linear_agreement", "linquad_agreement", "pooled_linear_agreement",
                                       "pooled_linquad_agreement"]
    assert "E_bad/run_01/eta=8e-07" in h["deselected"]["linear_agreement"]
    assert h["exit"] == {"status": 0, "summary": "all passed; 24 deselected"}
    badge = (checkout / "reports" / "badges" / "estimator-health.svg").read_text()
    assert f"{h['counts']['cases']['passed']} passed · 24 deselected" in badge and "#ffbf00" in badge
    result = gate(pytester, checkout, "--results", "../E_bad", "-k", "nomatch")
    assert result.ret == 5
    h = health(checkout)
    assert h["exit"]["status"] == 5 and h["confidence"] == "failed"
    line = json.loads((checkout / "reports" / "history.jsonl").read_text().splitlines()[-1])
    assert line["exit"]["status"] == 5 and line["deselected"] == h["counts"]["deselected"]


def test_deselected_cases_are_counted_when_xdist_distributes_the_tests(pytester, checkout):  # noqa: F811
    """Under xdist's own distribution (--dist loadscope) only the workers collect: the cases
    their collection left out are deselected on the controller too, the same as serially."""
    pytest.importorskip("xdist")
    _biased(checkout)
    serial = gate(pytester, checkout, "--results", "../E_bad", "-k", "not agreement")
    want = health(checkout)
    spread = gate(pytester, checkout, "--results", "../E_bad", "-k", "not agreement", "-n", "2", "--dist", "loadscope")
    assert serial.ret == spread.ret == 0
    h = health(checkout)
    assert h["confidence"] == "partial" and h["counts"] == want["counts"] and h["exit"] == want["exit"]
    assert {k: sorted(v) for k, v in h["deselected"].items()} == {k: sorted(v) for k, v in want["deselected"].items()}

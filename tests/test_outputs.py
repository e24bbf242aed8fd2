"""Atomic writes, file modes and the manifest (dhstats.gate.files, dhstats.report.plan): each gate
session leaves exactly its own outputs; a user's files survive."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from health_records import EVIL_RUN, PNG, case, health, records, run

from dhstats.gate import example, lock
from dhstats.gate import files as outputs
from dhstats.report import plan as report_files
from dhstats.report.health import build_health
from dhstats.report.pages import page_path
from dhstats.figures.rendered import Figure
from dhstats.load.settings import Settings


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _second_health():
    """A later session on E_512 only, everything passing: no run pages at all."""
    runs = [run("E_512", "run_01")]
    cases = [case("E_512", "run_01", 1e-6, "consistency", "passed", "sums hold.")]
    return build_health(Settings(), ["/data/E_512"], runs, cases)


def test_two_sessions_leave_only_the_second_ones_files(tmp_path, umask022):
    reports = tmp_path / "reports"
    first = report_files.write_reports(reports, health(), lambda key: [Figure("ratio vs η", PNG)], history=None)
    pages = {page_path(("E_256", "run_01")), page_path(("E_256", EVIL_RUN)), page_path(("E_256", "run_03"))}
    assert pages <= _files(reports)
    (reports / "notes.txt").write_text("mine")  # a user's files, also inside dhstats' folders
    (reports / "runs" / "E_256" / "keep.html").write_text("mine")
    (reports / "report.html").write_text("pytest-html's, from session 1")
    report_files.record_published(reports, "report.html")  # published by the gate: listed with its hash

    report_files.write_reports(reports, _second_health(), history=reports / "history.jsonl", html_report=False)
    left = _files(reports)
    assert not pages & left  # stale pages of session 1 are gone
    assert "report.html" not in left  # listed by session 1, not planned by session 2
    assert {"notes.txt", "runs/E_256/keep.html", "health.json", "badges/estimator-health.svg",
            "badges/trend.svg", "history.jsonl", outputs.MANIFEST} <= left
    assert json.loads((reports / "health.json").read_text())["run_sets"][0]["path"] == "/data/E_512"
    manifest = json.loads((reports / outputs.MANIFEST).read_text())["files"]
    assert "history.jsonl" not in manifest and "notes.txt" not in manifest
    assert manifest["health.json"] == outputs.digest((reports / "health.json").read_bytes())
    for rel in left - {"notes.txt", "runs/E_256/keep.html"}:
        assert (reports / rel).stat().st_mode & 0o777 == 0o644, rel
    assert len(first) == 1 + 12 + 3  # health.json, 10 check badges + overall + baseline (+ trend: none w/o history), pages


def test_emptied_page_directories_are_removed(tmp_path):
    reports = tmp_path / "r"
    report_files.write_reports(reports, health())
    report_files.write_reports(reports, _second_health())
    assert not (reports / "runs").exists()


def test_manifest_entries_outside_reports_are_ignored(tmp_path):
    reports = tmp_path / "r"
    (reports / "runs").mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    keep = outputs.digest(b"keep")
    ours = b"dhstats wrote it"
    (reports / "runs" / "ok.html").write_bytes(ours)
    (reports / "ok.txt").write_bytes(ours)  # the gate never writes such a name: never deleted
    (reports / outputs.MANIFEST).write_text(json.dumps({"files": {
        "../victim.txt": keep, str(victim): keep, "3": keep, "ok.txt": outputs.digest(ours),
        "runs/ok.html": outputs.digest(ours)}}))
    removed = outputs.OutputSession(reports).begin([])
    assert victim.read_text() == "keep" and (reports / "ok.txt").read_bytes() == ours
    assert removed == [reports / "runs" / "ok.html"]
    with pytest.raises(ValueError, match="not inside"):
        outputs.OutputSession(reports).path("../escape.html")


def test_atomic_write_mode_and_failure(tmp_path, monkeypatch, umask022):
    target = tmp_path / "a" / "health.json"
    outputs.write_text_atomic(target, "old")
    assert target.stat().st_mode & 0o777 == 0o644

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(outputs.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        outputs.write_text_atomic(target, "new")
    assert target.read_text() == "old"  # readers never see half a file
    assert list(target.parent.iterdir()) == [target]  # no temporary left behind


def test_file_mode_follows_umask(tmp_path):
    old = os.umask(0o077)
    try:
        assert outputs.file_mode() == 0o600
        assert outputs.write_text_atomic(tmp_path / "x", "y").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_publish_report_html(tmp_path, umask022):
    final = tmp_path / "report.html"
    tmp = outputs.temp_path(final)
    assert tmp.parent == tmp_path and tmp.name.startswith(f".dhstats-{os.getpid()}-report.html.")
    tmp.write_text("<html></html>")  # what pytest-html would do
    outputs.publish(tmp, final)
    assert final.read_text() == "<html></html>" and final.stat().st_mode & 0o777 == 0o644
    assert not tmp.exists()


@pytest.mark.slow
def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (tmp_path / "badges").mkdir()
    stale = tmp_path / "badges" / f".dhstats-{dead}-trend.svg.abc123.tmp"
    live = tmp_path / f".dhstats-{os.getpid()}-report.html.xyz.tmp"
    old_live = tmp_path / f".dhstats-{os.getpid()}-health.json.old.tmp"
    users = tmp_path / ".mine.tmp"
    for p in (stale, live, old_live, users):
        p.write_text("")
    day_ago = time.time() - 2 * outputs.STALE_AFTER_S
    os.utime(old_live, (day_ago, day_ago))
    removed = outputs.remove_stale_temps(tmp_path)
    assert set(removed) == {stale, old_live}
    assert live.exists() and users.exists()


def test_figure_callback_that_raises_becomes_a_note(tmp_path):
    def broken(key):
        raise RuntimeError("np.histogram range [nan, nan]")

    written = report_files.write_reports(tmp_path, health(), broken)
    page = (tmp_path / page_path(("E_256", "run_01"))).read_text()
    assert "figures could not be drawn: RuntimeError: np.histogram range [nan, nan]" in page
    assert len(written) == 16


def test_planned_outputs_cover_what_is_written(tmp_path):
    h = health()
    planned = set(report_files.planned_outputs(h, html_report=False))
    written = report_files.write_reports(tmp_path, h, history=tmp_path / "history.jsonl", html_report=False)
    rel = {str(Path(p).relative_to(tmp_path)) for p in written} - {"history.jsonl"}
    assert rel == planned
    runs, _ = records()
    assert len([p for p in planned if p.startswith("runs/")]) == 3  # run_01, EVIL_RUN (failed), run_03 (invalid)


def test_hostile_names_get_distinct_bounded_pages(tmp_path):
    """`run_x\\y` and `run_x_y` do not overwrite each other; a 230-character name does not
    raise ENAMETOOLONG; the markup in a name is text on its page."""
    names = ["run_x\\y", "run_x_y", "r" * 230, EVIL_RUN]
    runs = [run("E_1", n) for n in names]
    cases = [case("E_1", n, 1e-6, "consistency", "failed", f"broken in {n}") for n in names]
    h = build_health(Settings(), ["/d/E_1"], runs, cases)
    written = report_files.write_reports(tmp_path, h, html_report=False)
    pages_written = [p for p in written if p.suffix == ".html"]
    assert len(set(pages_written)) == 4
    for name, path in zip(names, pages_written):
        assert len(path.name) <= 255 and path.parent == tmp_path / "runs" / "E_1"
        assert f"broken in {name}".replace("<", "&lt;").replace(">", "&gt;") in path.read_text()


def test_copy_into_never_renames_across_directories(tmp_path, monkeypatch):
    # --html on another filesystem: a rename from there would fail with EXDEV
    import errno

    real_replace = os.replace

    def same_directory_only(src, dst):
        if Path(src).parent != Path(dst).parent:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", same_directory_only)
    monkeypatch.setattr(os, "rename", same_directory_only)
    source = tmp_path / "elsewhere" / "my.html"
    source.parent.mkdir()
    source.write_text("<html>mine</html>")
    final = outputs.copy_into(source, tmp_path / "reports" / "report.html")
    assert final.read_text() == source.read_text() == "<html>mine</html>"
    assert sorted(p.name for p in final.parent.iterdir()) == ["report.html"]


# --------------------------------------------------------------------------- what the manifest may delete


def test_an_input_under_reports_is_never_deleted_whatever_the_manifest_says(tmp_path):
    """A manifest entry naming a results.json stored under reports/ — even with the right
    fingerprint — removes nothing: only a file of a gate output's shape whose bytes match, under
    no results directory, is ever deleted."""
    reports = tmp_path / "reports"
    data = reports / "data" / "E_256" / "run_01"
    data.mkdir(parents=True)
    raw = b'{"eta": [1e-6]}'
    (data / "results.json").write_bytes(raw)
    page = reports / "runs" / "E_256" / "run_01.html"  # a results directory under reports/ holding a page
    page.parent.mkdir(parents=True)
    page.write_bytes(b"<p>mine</p>")
    entries = {"data/E_256/run_01/results.json": outputs.digest(raw), "runs/E_256/run_01.html": outputs.digest(b"<p>mine</p>")}
    (reports / outputs.MANIFEST).write_text(json.dumps({"files": entries}))
    session = outputs.OutputSession(reports, protect=[reports / "runs" / "E_256"])
    assert session.begin([]) == []
    assert (data / "results.json").read_bytes() == raw and page.is_file()
    assert json.loads((reports / outputs.MANIFEST).read_text())["files"] == {}  # not the gate's: no longer listed
    # the same page outside any results directory, its bytes the gate's: removed
    (reports / outputs.MANIFEST).write_text(json.dumps({"files": entries}))
    assert outputs.OutputSession(reports).begin([]) == [page]


def test_a_listed_file_whose_bytes_changed_is_kept(tmp_path):
    reports = tmp_path / "reports"
    report_files.write_reports(reports, health(), history=None, html_report=False)
    page = reports / page_path(("E_256", "run_01"))
    data = page.read_bytes()
    page.write_bytes(data[:-6] + b"mine!\n")  # the user's now (same size: the hash tells)
    report_files.write_reports(reports, _second_health(), history=None, html_report=False)
    assert page.is_file() and page.read_bytes().endswith(b"mine!\n")
    assert not (reports / page_path(("E_256", "run_03"))).exists()  # unchanged: removed


@pytest.mark.parametrize("kind", ["huge", "not json", "old list", "deep"])
def test_a_large_or_malformed_manifest_is_ignored_with_a_note(tmp_path, kind):
    """A manifest over 1 MiB (here 32 MB) or malformed deletes nothing, costs no time, and is
    named in a note."""
    reports = tmp_path / "reports"
    report_files.write_reports(reports, health(), history=None, html_report=False)
    before = _files(reports) - {outputs.MANIFEST}
    listed = {rel: outputs.digest((reports / rel).read_bytes()) for rel in before}
    text = {"huge": json.dumps({"files": listed, "pad": "x" * (32 * 2**20)}),
            "not json": "{" + json.dumps(listed)[:100],
            "old list": json.dumps({"files": sorted(before)}),
            "deep": "[" * 100_000 + "]" * 100_000}[kind]
    (reports / outputs.MANIFEST).write_text(text)
    session = outputs.OutputSession(reports)
    started = time.perf_counter()
    assert session.begin([]) == []
    assert time.perf_counter() - started < 2.0
    assert before <= _files(reports)
    if kind != "old list":  # a list of names without fingerprints: nothing is deletable, silently
        assert len(session.notes) == 1 and "ignored" in session.notes[0] and "no earlier output was removed" in session.notes[0]


# --------------------------------------------------------------------------- the example's home


def test_the_example_lives_in_a_marked_directory_and_a_users_is_never_removed(tmp_path):
    reports = tmp_path / "reports"
    (reports / "example").mkdir(parents=True)
    (reports / "example" / "notes.txt").write_text("mine")  # where older versions wrote the example
    roots = example.example_roots(reports)
    assert roots == [reports / example.EXAMPLE_DIR / "E_example"]
    assert (reports / example.EXAMPLE_DIR / example.EXAMPLE_MARKER).is_file()
    assert (reports / "example" / "notes.txt").read_text() == "mine"
    assert example.example_roots(reports) == roots  # marked: replaced
    assert sorted(p.name for p in reports.iterdir()) == [example.EXAMPLE_DIR, "example"]  # no leftovers
    (reports / example.EXAMPLE_DIR / example.EXAMPLE_MARKER).unlink()
    (reports / example.EXAMPLE_DIR / "notes.txt").write_text("mine too")
    with pytest.raises(outputs.SettingsError, match="was not written by the gate"):
        example.example_roots(reports)
    assert (reports / example.EXAMPLE_DIR / "notes.txt").read_text() == "mine too"


@pytest.mark.slow
def test_a_killed_sessions_example_temporaries_are_removed_only_when_marked(tmp_path):
    reports = tmp_path / "reports"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    ours, theirs = reports / f".dhstats-example-{pid}-abc", reports / f".dhstats-example-{pid}-def"
    for d in (ours, theirs):
        d.mkdir(parents=True)
        (d / "x").write_text("x")
    (ours / example.EXAMPLE_MARKER).write_text("written by dhstats")
    example.example_roots(reports)
    assert not ours.exists() and (theirs / "x").is_file()


# --------------------------------------------------------------------------- the lock


@pytest.mark.slow
def test_the_lock_names_its_holder_and_a_dead_holder_is_stale(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    first = lock.ReportsLock(reports, ["pytest", "checks/"], timeout=0)
    started = time.perf_counter()
    with pytest.raises(lock.LockError, match=rf"pid {os.getpid()}, started .*command: pytest checks/\); waited 0.2 s"):
        lock.ReportsLock(reports, ["second"], timeout=0.2)
    assert 0.2 <= time.perf_counter() - started < 2
    first.release()
    second = lock.ReportsLock(reports, ["second"], timeout=0)
    assert second.stale is None  # released properly: not stale
    second.release()
    # a holder killed with the lock held: the kernel releases it, the file still names it
    code = ("import sys, os, signal; sys.path.insert(0, sys.argv[2]); from dhstats.gate.lock import ReportsLock; "
            "ReportsLock(sys.argv[1], ['killed'], timeout=0); os.kill(os.getpid(), signal.SIGKILL)")
    subprocess.run([sys.executable, "-c", code, str(reports), str(Path(outputs.__file__).parents[1])], check=False)
    third = lock.ReportsLock(reports, ["third"], timeout=0)
    assert third.stale and "took over a stale lock" in third.stale and "command: killed" in third.stale
    assert third.stale_holder["command"] == ["killed"]
    third.release()
    assert (reports / lock.LOCK).read_bytes() == b""


# --------------------------------------------------------------------------- pessimistic first


def test_the_in_progress_state_replaces_every_verdict(tmp_path):
    reports = tmp_path / "reports"
    report_files.write_reports(reports, health(), history=None, html_report=False)
    (reports / "report.html").write_text("<p>OLD VERDICT</p>")
    report_files.record_published(reports, "report.html")
    problems: list[str] = []
    report_files.write_in_progress(reports, "2026-01-01T00:00:00Z", ["pytest", "checks/", "<b>"], problems=problems)
    assert problems == []
    doc = json.loads((reports / "health.json").read_text())
    assert doc["in_progress"] and doc["exit"]["status"] is None and doc["command"] == ["pytest", "checks/", "<b>"]
    assert doc["confidence"] == "in_progress" and doc["started"] == "2026-01-01T00:00:00Z"
    for badge in (reports / "badges").iterdir():
        assert "session in progress" in badge.read_text(), badge.name
    page = (reports / "report.html").read_text()
    assert "session in progress" in page and "&lt;b&gt;" in page and "OLD VERDICT" not in page
    assert not (reports / page_path(("E_256", "run_01"))).exists()  # the earlier run pages go too


def test_an_in_progress_write_that_fails_removes_the_earlier_verdict(tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    report_files.write_reports(reports, health(), history=None, html_report=False)
    real = outputs.write_bytes_atomic

    def full_disk(path, data):
        if Path(path).name == "health.json":
            raise OSError(27, "File too large")
        return real(path, data)

    monkeypatch.setattr(outputs, "write_bytes_atomic", full_disk)
    problems, unwritten = [], []
    report_files.write_in_progress(reports, "t", ["pytest"], problems=problems, unwritten=unwritten)
    assert unwritten == ["health.json"] and "health.json (session in progress) not written" in problems[0]
    assert not (reports / "health.json").exists()  # never the earlier verdict


def test_an_output_that_fails_marks_the_verdict_written_last(tmp_path, monkeypatch):
    """A run page that cannot be written: health.json and the overall badge, written after it,
    say so (exit status 1), never "all passed"."""
    reports = tmp_path / "reports"
    real = outputs.write_bytes_atomic

    def no_pages(path, data):
        if Path(path).suffix == ".html":
            raise OSError(28, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(outputs, "write_bytes_atomic", no_pages)
    problems, unwritten = [], []
    doc = _second_health()
    doc["runs"][0]["outcome"] = "error"  # a run page to write (the verdict as built: "all passed")
    doc["cases"] = []
    report_files.write_reports(reports, doc, history=None, html_report=False, problems=problems, unwritten=unwritten)
    written = json.loads((reports / "health.json").read_text())
    assert unwritten == ["runs/E_512/run_01.html"]
    assert written["exit"] == {"status": 1, "summary": "all passed; not written: runs/E_512/run_01.html"}
    assert written["unwritten"] == unwritten and written["confidence"] == "failed"
    assert "not written: runs/E_512/run_01.html" in (reports / "badges" / "estimator-health.svg").read_text()

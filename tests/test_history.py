"""The history file on disk (dhstats.report.history): which paths may be one, bounded reads, locked
appends, unreadable lines. Every file is made inside tmp_path (FIFOs with os.mkfifo, a
character device with os.mknod where permitted)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from dhstats.report import history
from dhstats.report.history import usable_history
from dhstats.load.settings import SettingsError

LINE = {"time": "t", "checks": {}, "cases": {"failed": 0}, "runs": {"error": 0}, "run_sets": []}


def _line(i: int) -> bytes:
    return json.dumps({**LINE, "time": str(i)}).encode()


def _odd_paths(tmp_path):
    """A FIFO, a directory, a symbolic link to a regular file and a dangling one."""
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    directory = tmp_path / "dir.jsonl"
    directory.mkdir()
    target = tmp_path / "target.jsonl"
    target.write_bytes(_line(0) + b"\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    dangling = tmp_path / "dangling.jsonl"
    dangling.symlink_to(tmp_path / "nowhere")
    return {"a FIFO": fifo, "a directory": directory, "a symbolic link": link, "dangling": dangling}


def test_only_a_regular_or_new_file_is_a_history(tmp_path):
    (tmp_path / "h.jsonl").write_bytes(b"")
    history.check_path(tmp_path / "h.jsonl")
    history.check_path(tmp_path / "new.jsonl")  # absent, in an existing directory
    with pytest.raises(history.HistoryError, match="does not exist"):
        history.check_path(tmp_path / "no-such-dir" / "h.jsonl")
    for kind, path in _odd_paths(tmp_path).items():
        with pytest.raises(history.HistoryError, match="a symbolic link" if kind == "dangling" else kind):
            history.check_path(path)
        with pytest.raises(SettingsError, match="--history: .* not a regular file"):
            usable_history(path)
    usable_history(None)  # --history none


def test_a_character_device_is_refused(tmp_path):
    dev = tmp_path / "null"
    try:
        os.mknod(dev, 0o600 | 0o020000, os.makedev(1, 3))  # like /dev/null, inside tmp_path
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    with pytest.raises(history.HistoryError, match="a character device"):
        history.check_path(dev)
    with pytest.raises(history.HistoryError, match="a character device"):
        history.read_bytes(dev)


def test_reads_never_block_follow_links_or_leave_regular_files(tmp_path):
    odd = _odd_paths(tmp_path)
    for kind in ("a FIFO", "a directory", "a symbolic link"):
        with pytest.raises(history.HistoryError, match=kind):
            history.read_bytes(odd[kind])  # a FIFO without a writer: refused at once, not read
        records, notes = history.load(odd[kind])
        assert records == [] and notes and "history not read" in notes[0]
    assert history.read_bytes(tmp_path / "absent.jsonl") == b""


def test_reads_are_bounded_and_start_at_a_line(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_bytes(b"".join(_line(i) + b"\n" for i in range(1000)))
    size = len(_line(999)) + 1
    data = history.read_bytes(path, max_bytes=10 * size + 3)
    assert len(data) <= 10 * size + 3 and data.startswith(b"{")
    assert [json.loads(ln)["time"] for ln in data.splitlines()] == [str(i) for i in range(990, 1000)]
    records, notes = history.load(path, last=3, max_bytes=10 * size + 3)
    assert [r["time"] for r in records] == ["997", "998", "999"] and notes == []


def test_unreadable_lines_are_skipped_with_a_note(tmp_path):
    path = tmp_path / "h.jsonl"
    other_shape = {"time": "x", "checks": {"a": 1}, "cases": "many"}  # valid JSON, another shape
    path.write_bytes(_line(1) + b"\nnot json\n\n" + json.dumps(other_shape).encode() + b"\n[1]\n"
                     + _line(2) + b"\n\xff\xfe\n")
    records, notes = history.load(path)
    assert [r["time"] for r in records] == ["1", "2"]
    (note,) = notes
    assert note.startswith(f"{path}: 4 line(s) the gate cannot read were skipped: line 2 (not JSON), "
                           "4 (no integer 'cases.failed'), 5 (not a JSON object), 7 (not JSON)")
    history.append(path, _line(3), max_lines=100)  # kept in the file: the history is the user's
    assert path.read_bytes().count(b"not json") == 1 and history.load(path)[0][-1]["time"] == "3"


APPENDER = textwrap.dedent("""
    import json, sys
    from dhstats.report import history
    path, who = sys.argv[1], sys.argv[2]
    for i in range(200):
        history.append(path, json.dumps({"who": who, "i": i}).encode(), max_lines=1000)
""")


@pytest.mark.slow
def test_concurrent_appends_lose_no_line(tmp_path):
    path = tmp_path / "reports" / "history.jsonl"
    path.parent.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(path), who]) for who in ("a", "b")]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    lines = [json.loads(ln) for ln in path.read_text().splitlines()]
    assert len(lines) == 400
    for who in ("a", "b"):
        assert [ln["i"] for ln in lines if ln["who"] == who] == list(range(200))  # in order, none lost
    assert sorted(p.name for p in path.parent.iterdir()) == ["history.jsonl"]  # no lock file left


# --------------------------------------------------------------------------- sessions without a verdict


def test_a_session_without_a_verdict_has_a_line_that_says_so(tmp_path):
    """A killed session (its lock found stale by the next one) and a session that started but
    ended before judging get a line with exit status null — readable, never counted as a pass
    by the trend (no judged case)."""
    from dhstats.report.health import killed_line
    from dhstats.gate.lock import ReportsLock
    from dhstats.report.session import abandon, begin
    from dhstats.load.settings import parse

    reports = tmp_path / "reports"
    options = parse({"reports": str(reports)}, tmp_path)
    reports.mkdir()
    line = killed_line({"pid": 123, "started": "2026-01-01T00:00:00Z", "command": ["pytest", "checks/"]}, "later")
    assert line["exit"] == {"status": None, "summary": "ended without a verdict (pid 123 was killed or crashed; found by "
                                                       "the next session at later)"}
    assert line["time"] == "2026-01-01T00:00:00Z" and line["no_verdict"] and history.unusable(line) is None
    begun = begin(options, ReportsLock(reports, ["pytest", "x"], timeout=0), ["pytest", "x"])
    abandon(options, begun, "SettingsError: no results")
    lines = [json.loads(ln) for ln in (reports / "history.jsonl").read_text().splitlines()]
    assert [ln["exit"] for ln in lines] == [{"status": None, "summary": "ended without a verdict (SettingsError: no results)"}]
    assert (reports / ".dhstats-lock").read_bytes() == b""  # released
    assert json.loads((reports / "health.json").read_text())["exit"]["status"] is None  # the in-progress state stays

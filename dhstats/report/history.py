"""The history file on disk (``reports/history.jsonl``): which paths may be one, bounded reads,
locked appends, lines that cannot be read.

What a line holds is :func:`history_line` (from a health.json document); :func:`append_history`
and :func:`load_history` store and read them.

* **Only a regular file** (or an absent one in an existing directory) is a history:
  :func:`check_path` refuses a FIFO (reading it would hang), a device (``/dev/null`` would be
  replaced by a file, ``/dev/full`` read without end), a directory or a symbolic link, before
  a session does any work.
* **Bounded reads**: at most :data:`MAX_BYTES` from the end of the file are read, opened
  ``O_NONBLOCK | O_NOFOLLOW`` and checked with ``fstat`` (a file swapped for a FIFO or a link
  after the check is refused, not read).
* **Locked appends**: read, add a line, trim to the last ``max_lines`` and rename over the
  file, all under an exclusive ``flock`` on the file's directory, so concurrent sessions
  never lose each other's lines (two processes × 200 appends give 400 lines; tested).
* **Unreadable lines** (not JSON, or not the shape the badges and the trend need) are
  skipped with a note naming them, and kept in the file: the history is the user's record.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from dhstats.gate.files import write_bytes_atomic
from dhstats.load.jsonvalues import clean, dumps_json
from dhstats.load.settings import SettingsError
from dhstats.report.health import exit_block, now_utc
from dhstats.verdicts import registry

HISTORY_MAX_LINES = 1000
MAX_BYTES = 32 * 2**20  # ~1000 lines of 1–30 KB: the file is trimmed to max_lines on each append
LOCK_TIMEOUT_S = 60.0

_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


class HistoryError(OSError):
    """A history path that is not a usable file (``str(exc)`` says why)."""


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_path(path: str | os.PathLike) -> None:
    """Raise :class:`HistoryError` unless ``path`` is a regular file (not a symbolic link) or
    absent in an existing directory; nothing is opened."""
    path = Path(path)
    try:
        st = path.lstat()
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise HistoryError(f"{path}: its directory {path.parent} does not exist") from None
        return
    except OSError as exc:
        raise HistoryError(f"{path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise HistoryError(f"{path} is {_kind(st.st_mode)}, not a regular file")


def read_bytes(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> bytes:
    """The file's last ``max_bytes`` at most (starting at a line when cut); b"" when absent.
    Never blocks, never follows a link, never reads a device: :class:`HistoryError`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return b""
    except OSError as exc:  # ELOOP: a symbolic link
        check_path(path)
        raise HistoryError(f"{path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise HistoryError(f"{path} is {_kind(st.st_mode)}, not a regular file")
        start = max(0, st.st_size - max_bytes)
        os.lseek(fd, start, os.SEEK_SET)
        chunks, total = [], 0
        while total < max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if start > 0:  # cut inside a line: drop its tail
        data = data[data.find(b"\n") + 1:] if b"\n" in data else b""
    return data


def unusable(rec) -> str | None:
    """Why a parsed line cannot be used (None when it can): the badges and the trend need
    ``checks`` (object), ``cases.failed`` and ``runs.error`` (integers), ``run_sets`` (list)."""
    if not isinstance(rec, Mapping):
        return "not a JSON object"
    if not isinstance(rec.get("checks"), Mapping):
        return "no 'checks' object"
    for block, key in (("cases", "failed"), ("runs", "error")):
        value = rec.get(block)
        if not isinstance(value, Mapping) or type(value.get(key)) is not int:
            return f"no integer '{block}.{key}'"
    sets = rec.get("run_sets", [])
    if not isinstance(sets, list) or not all(isinstance(s, Mapping) for s in sets):
        return "'run_sets' is not a list of objects"
    return None


def parse_lines(data: bytes, name: str = "history") -> tuple[list[dict], list[str]]:
    """The usable records of the bytes of a history file, oldest first, and one note naming
    the lines skipped (numbered within ``data``) when there are any."""
    records, skipped = [], []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            why = unusable(rec)
        except (ValueError, UnicodeDecodeError, RecursionError):
            why = "not JSON"
        if why is None:
            records.append(rec)
        else:
            skipped.append(f"{number} ({why})")
    notes = []
    if skipped:
        shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        notes.append(f"{name}: {len(skipped)} line(s) the gate cannot read were skipped: line {shown}")
    return records, notes


def load(path: str | os.PathLike, last: int = 50, max_bytes: int = MAX_BYTES) -> tuple[list[dict], list[str]]:
    """The last ``last`` usable records (oldest first) and notes (skipped lines; a file that
    cannot be read at all is one note and no record)."""
    try:
        data = read_bytes(path, max_bytes)
    except OSError as exc:
        return [], [f"history not read: {exc}"]
    records, notes = parse_lines(data, str(path))
    return (records[-last:] if last > 0 else []), notes


@contextlib.contextmanager
def locked(directory: str | os.PathLike, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """An exclusive ``flock`` on ``directory`` (no lock file is created); waits up to
    ``timeout`` seconds for another session's append, then raises :class:`HistoryError`."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: the rename stays atomic, unlocked
        yield
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise HistoryError(f"{directory}: another session held the history lock for {timeout:g} s") from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)  # releases the lock


def append(path: str | os.PathLike, line: bytes, max_lines: int) -> None:
    """Append one line (bytes, no newline) under the lock, keeping the last ``max_lines``
    non-blank lines (unreadable ones included: they are the user's), atomically renamed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.parent):
        old = [ln for ln in read_bytes(path).splitlines() if ln.strip()]
        keep = old[-(max_lines - 1):] if max_lines > 1 else []
        write_bytes_atomic(path, b"".join(ln + b"\n" for ln in keep) + line + b"\n")


def usable_history(history: Path | None) -> None:
    """``--history`` must be a regular file, or absent in an existing directory (SettingsError
    otherwise: a FIFO would hang the session, a device or a link be replaced or read without
    end). Checked at the start, after :func:`writable_reports` created the reports directory."""
    if history is None:
        return
    try:
        check_path(history)
    except HistoryError as exc:
        raise SettingsError(f"--history: {exc}; give a regular file, a new file in an existing directory, "
                            "or 'none'") from None


# --------------------------------------------------------------------------- what a line holds


def git_commit(directory: str | os.PathLike, timeout: float = 2.0) -> str | None:
    """``git -C DIR rev-parse HEAD`` (short timeout); None when DIR is not in a git
    repository, git is missing or slow."""
    try:
        out = subprocess.run(["git", "-C", os.fspath(directory), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=timeout, check=False,
                             env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", sha) else None


def history_line(health: Mapping, commit: str | None = None) -> dict:
    """One history record::

        {"time", "commit", "exit", "run_sets": [{"name", "E", "runs"}], "settings",
         "cases": {...}, "runs": {...}, "checks": {check: {total, passed, failed, skipped}},
         "pooled_z": {check: {set: {repr(eta): Z}}}, "baseline": source}

    (``baseline``: the ``--baseline`` PATH, only in a session with one).
    """
    pooled: dict = {}
    pooled_checks = {p.name for p in registry.pooled()}
    for c in health["cases"]:
        if c["check"] in pooled_checks and c.get("eta") is not None:
            pooled.setdefault(c["check"], {}).setdefault(c["run_set"], {})[repr(c["eta"])] = c.get("Z")
    counts = health["counts"]
    extra = {"baseline": health["baseline"]["source"]} if health.get("baseline") else {}
    return clean({
        "time": health.get("generated") or now_utc(),
        "commit": commit,
        "exit": health.get("exit", exit_block(counts)),
        "interrupted": bool(health.get("interrupted", False)),
        "deselected": int(counts.get("deselected", 0)),
        "run_sets": [{k: s.get(k) for k in ("name", "E", "runs")} for s in health.get("run_sets", [])],
        "settings": health.get("settings"),
        "cases": counts["cases"],
        "runs": counts["runs"],
        "checks": counts["checks"],
        "pooled_z": pooled,
        **extra,
    })


def append_history(path: str | os.PathLike, health: Mapping, commit: str | None = "auto",
                   max_lines: int = HISTORY_MAX_LINES) -> dict:
    """Append :func:`history_line` to the JSONL file ``path`` (:func:`append`:
    under a lock, the whole new file written to a temporary name and renamed, keeping the last
    ``max_lines`` lines; a path that is not a regular file raises ``HistoryError``).
    ``commit`` ``"auto"`` looks up the git commit of the first results directory in a
    repository (None: no commit). Returns the line."""
    if commit == "auto":
        paths = [s["path"] for s in health.get("run_sets", []) if s.get("path")]
        commit = next((c for c in map(git_commit, paths) if c), None)
    line = history_line(health, commit)
    append(path, dumps_json(line, indent=False), max_lines)
    return line


def load_history(path: str | os.PathLike, last: int = 50) -> tuple[list[dict], list[str]]:
    """The last ``last`` usable records of a history file, oldest first, and notes naming
    the lines skipped (:func:`load`: bounded read, regular files only)."""
    return load(path, last)


def read_history(path: str | os.PathLike, last: int = 50) -> list[dict]:
    """The last ``last`` usable records of a history file, oldest first (lines that are not
    JSON objects of a history line's shape are skipped); a missing file gives []."""
    return load_history(path, last)[0]


__all__ = ["HISTORY_MAX_LINES", "HistoryError", "MAX_BYTES", "append", "append_history", "check_path", "git_commit",
           "history_line", "load", "load_history", "locked", "parse_lines", "read_bytes", "read_history", "unusable",
           "usable_history"]

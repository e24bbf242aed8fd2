"""One session per reports directory: :class:`ReportsLock`, an advisory ``flock`` on
``<reports>/.dhstats-lock`` held for the whole session (checks.md, "What a session may trust").
The file names its holder (pid, start time, command) so that a second session can name it,
and a holder that died (the kernel released its lock, the file still names it) is reported
as a stale lock taken over.
"""
from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterable
from pathlib import Path

from dhstats.gate.files import current_umask
from dhstats.load.settings import SettingsError

LOCK = ".dhstats-lock"


class LockError(SettingsError):
    """Another session holds the reports directory (the message names it)."""


def _holder_text(raw: bytes) -> str:
    try:
        info = json.loads(raw.decode("utf-8"))
        return (f"pid {int(info['pid'])}, started {info.get('started', '?')}, "
                f"command: {' '.join(map(str, info.get('command') or []))[:300]}")
    except (ValueError, KeyError, TypeError, AttributeError):
        return "a holder that did not say who it is"


class ReportsLock:
    """An exclusive advisory ``flock`` on ``<reports>/.dhstats-lock`` for a whole session.

    The lock file holds its holder's ``{"pid", "started", "command"}`` (emptied on release);
    a second session polls for up to ``timeout`` seconds, then raises :class:`LockError`
    naming the holder. The kernel releases a lock whose holder died (SIGKILL included); the
    file then still names the dead holder: :attr:`stale` says so (``None`` otherwise).
    """

    def __init__(self, reports: str | os.PathLike, command: Iterable[str] = (), timeout: float = 60.0,
                 started: str | None = None, poll: float = 0.05):
        self.path = Path(reports) / LOCK
        self.fd: int | None = None
        self.stale: str | None = None
        self.stale_holder: dict | None = None  # what a stale lock file said: {"pid", "started", "command"}
        self.waited = 0.0
        self.info = {"pid": os.getpid(), "started": started or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "command": [str(c) for c in command]}
        self._acquire(float(timeout), poll)

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, flags, 0o666 & ~current_umask())
        except OSError as exc:
            if not self.path.is_symlink():
                raise LockError(f"--reports: {self.path} cannot be opened as the session lock "
                                f"({exc.strerror or exc})") from None
            self.path.unlink()  # a link where the lock goes: the link itself, never its target
            fd = os.open(self.path, flags, 0o666 & ~current_umask())
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise LockError(f"--reports: {self.path} is not a regular file (the session lock goes there)")
        return fd

    def _acquire(self, timeout: float, poll: float) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        fd = self._open()
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - started >= timeout:
                    holder = _holder_text(os.pread(fd, 4096, 0))
                    os.close(fd)
                    raise LockError(f"--reports {self.path.parent}: another gate session is writing there ({holder}); "
                                    f"waited {timeout:g} s (--lock-timeout)") from None
                time.sleep(poll)
        self.waited = time.monotonic() - started
        self.fd = fd
        previous = os.pread(fd, 4096, 0)
        if previous.strip():  # emptied on every release: its holder ended without releasing it
            try:
                holder = json.loads(previous.decode("utf-8"))
                self.stale_holder = holder if isinstance(holder, dict) else {}
            except ValueError:
                self.stale_holder = {}
            self.stale = (f"dhstats: took over a stale lock of {self.path.parent} ({_holder_text(previous)}): "
                          "that session ended without finishing its outputs")
        try:  # who holds it, for a second session's message (a full disk leaves it unnamed, still held)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(self.info).encode("utf-8"), 0)
        except OSError:
            pass

    def release(self) -> None:
        """Empty the lock file and close it (which releases the lock). Idempotent."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        finally:
            os.close(fd)




__all__ = ["LOCK", "LockError", "ReportsLock"]

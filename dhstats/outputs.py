"""Files a gate session writes: atomic, with the umask's usual mode, under a manifest.

* Atomic: every file is written to a temporary name in its own directory, fsync'ed, given the
  mode a plain ``open()`` would give (``0o666 & ~umask``: 0644 under umask 022 — ``mkstemp``
  alone gives 0600) and renamed over the target (``os.replace``). Readers see the old file or
  the new one, never half a file; a kill leaves at most a temporary file.
* Temporary names are ``.dhstats-<pid>-<name>.<random>.tmp``: recognisably ours, so a later
  session removes the ones whose process is gone (:func:`remove_stale_temps`) and never
  touches a user's ``.tmp`` files.
* Manifest: ``<reports>/.dhstats-manifest.json`` lists (relative paths) what the last session
  wrote. :meth:`OutputSession.begin` removes the files of the previous manifest that this
  session does not plan to write again — only those, never a user's other files — so each
  session leaves exactly its own outputs.

No other dhstats module is imported here.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from .settings import SettingsError

MANIFEST = ".dhstats-manifest.json"
TEMP_PREFIX = ".dhstats-"
_TEMP = re.compile(r"^\.dhstats-(\d+)-.*\.tmp$")
STALE_AFTER_S = 24 * 3600  # a temporary file this old is stale even if its pid is reused


def file_mode() -> int:
    """``0o666 & ~umask``: the mode ``open(path, "w")`` would give a new file."""
    umask = current_umask()
    return 0o666 & ~umask


def current_umask() -> int:
    """The process umask (files are created 0666 & ~umask, directories 0777 & ~umask)."""
    try:  # Linux: read it without changing it (os.umask is process-wide, not thread-safe)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_path(final: str | os.PathLike) -> Path:
    """A fresh temporary name next to ``final`` (``.dhstats-<pid>-<name>.<random>.tmp``), for
    writers that insist on opening the file themselves (pytest-html's report.html): let them
    write there, then :func:`publish` it. The name is reserved (created empty, our mode)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f"{TEMP_PREFIX}{os.getpid()}-{final.name}.",
                               suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def publish(tmp: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Give ``tmp`` the umask's mode, fsync it and rename it over ``final`` (atomic)."""
    tmp, final = Path(tmp), Path(final)
    os.chmod(tmp, file_mode())
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    return final


def copy_into(source: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Copy ``source`` (any filesystem; left as it is) to ``final`` atomically: a temporary
    name next to ``final``, then :func:`publish`."""
    tmp = temp_path(final)
    try:
        shutil.copyfile(source, tmp)
        return publish(tmp, final)
    except BaseException:
        _unlink(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + chmod + rename)."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        return publish(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def _fsync_dir(directory: Path) -> None:
    try:  # make the rename itself durable; not possible everywhere (e.g. Windows)
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists (someone else's) or cannot tell: keep
    return True


def remove_stale_temps(root: str | os.PathLike, now: float | None = None) -> list[Path]:
    """Remove ``.dhstats-<pid>-*.tmp`` files under ``root`` left by a process that is gone
    (or older than a day); a live concurrent session's temporaries are kept."""
    now = time.time() if now is None else now
    removed = []
    root = Path(root)
    if not root.is_dir():
        return removed
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            m = _TEMP.match(name)
            if not m:
                continue
            path = Path(dirpath) / name
            try:
                old = now - path.lstat().st_mtime > STALE_AFTER_S
            except FileNotFoundError:
                continue
            if (old or not _pid_alive(int(m.group(1)))) and _unlink(path):
                removed.append(path)
    return removed


def _relative(rel: str | os.PathLike) -> str:
    """A manifest entry: a relative POSIX path inside the reports directory (no '..')."""
    p = PurePosixPath(os.fspath(rel).replace(os.sep, "/"))
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"output path {os.fspath(rel)!r} is not inside the reports directory")
    return str(p)


class OutputError(OSError):
    """An output that cannot be written where it belongs (``str(exc)`` says why)."""


MANIFEST_MAX_BYTES = 64 * 2**20


def read_own(path: str | os.PathLike, max_bytes: int = MANIFEST_MAX_BYTES) -> bytes:
    """The bytes of one of the gate's own files: a regular file, never through a symbolic
    link (``O_NOFOLLOW``), never blocking (``O_NONBLOCK``), at most ``max_bytes``."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
            raise OutputError(f"{path}: not a regular file of at most {max_bytes} bytes")
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(max_bytes + 1)[:max_bytes]
    finally:
        os.close(fd)


def real_directories(root: Path, rel: str) -> list[str]:
    """Make every directory between ``root`` and the file ``rel`` a real directory inside
    ``root``: a missing one is created; a symbolic link there is replaced by a directory
    (the link itself is removed, never its target: nothing outside ``root`` is written or
    deleted); a file there raises :class:`OutputError`. Returns notes on links replaced."""
    notes = []
    current = root
    for part in PurePosixPath(rel).parts[:-1]:
        current = current / part
        try:
            st = current.lstat()
        except FileNotFoundError:
            current.mkdir(exist_ok=True)
            continue
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(current)
            current.unlink()
            current.mkdir()
            notes.append(f"{current}: a symbolic link (to {target}) was replaced by a directory; "
                         "its target was not touched")
        elif not stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{current} is not a directory: {rel} not written")
    return notes


def _within(root: Path, rel: str) -> bool:
    """Every directory between ``root`` and ``rel`` is a real directory (no link, no file):
    the file ``rel`` names is inside ``root``, not behind a link."""
    current = root
    for part in PurePosixPath(rel).parts[:-1]:
        current = current / part
        try:
            if not stat.S_ISDIR(current.lstat().st_mode):
                return False
        except OSError:
            return False
    return True


def read_manifest(root: str | os.PathLike) -> set[str]:
    """Relative paths the previous session listed (empty when there is no readable manifest:
    a link or anything but a regular file is not read; entries that are not plain relative
    paths are ignored)."""
    try:
        doc = json.loads(read_own(Path(root) / MANIFEST))
        entries = doc.get("files", []) if isinstance(doc, dict) else []
    except (OSError, ValueError):
        return set()
    out = set()
    for e in entries:
        try:
            out.add(_relative(e))
        except (TypeError, ValueError):
            continue
    return out


class OutputSession:
    """One gate session's outputs under ``root``::

        out = OutputSession("reports")
        out.begin(planned)            # removes last session's files not in `planned`
        out.write_bytes("health.json", data); ...
        out.commit()                  # the manifest lists what this session wrote / planned

    ``planned`` holds every relative path this session may write, including files written by
    others (``report.html``, published later); the manifest written by :meth:`begin` is the
    union of the previous one and ``planned``, so a kill mid-way leaves nothing unlisted.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.planned: set[str] = set()
        self.written: list[Path] = []
        self.removed: list[Path] = []
        self.notes: list[str] = []  # symbolic links replaced

    def begin(self, planned: Iterable[str | os.PathLike] = ()) -> list[Path]:
        self.root.mkdir(parents=True, exist_ok=True)
        self.planned = {_relative(p) for p in planned}
        previous = read_manifest(self.root)
        self._save(previous | self.planned)
        self.removed = remove_stale_temps(self.root)
        for rel in sorted(previous - self.planned):
            path = self.root / rel
            if not _within(self.root, rel):  # behind a link: outside the reports directory
                continue
            if (path.is_symlink() or path.is_file()) and _unlink(path):  # a link itself, not its target
                self.removed.append(path)
                self._prune(path.parent)
        return self.removed

    def path(self, rel: str | os.PathLike) -> Path:
        """``root/rel``, its directories made real directories (:func:`real_directories`)."""
        rel = _relative(rel)
        self.planned.add(rel)
        self.notes += real_directories(self.root, rel)
        return self.root / rel

    def write_bytes(self, rel: str | os.PathLike, data: bytes) -> Path:
        path = write_bytes_atomic(self.path(rel), data)
        self.written.append(path)
        return path

    def write_text(self, rel: str | os.PathLike, text: str) -> Path:
        return self.write_bytes(rel, text.encode("utf-8"))

    def commit(self) -> Path:
        """Write the manifest: every file this session planned or wrote."""
        return self._save(self.planned)

    def _save(self, files: set[str]) -> Path:
        doc = {"schema": 1, "written_by": "dhstats", "files": sorted(files)}
        return write_bytes_atomic(self.root / MANIFEST, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))

    def _prune(self, directory: Path) -> None:
        """Remove directories emptied by the clean-up, up to (not including) the root (never
        resolved: a link is not a directory, ``rmdir`` refuses it)."""
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent


def example_roots(reports: Path) -> list[Path]:
    """The embedded example run set, (re)written atomically under ``reports/example`` (safe
    when several processes race): what ``pytest checks/`` checks without ``--results``."""
    from . import simulate

    directory = reports / "example"
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".example-", dir=directory.parent))
    tmp.chmod(0o777 & ~current_umask())  # mkdtemp makes it 0700: publishable like every other output
    simulate.write_example(tmp)
    old = directory.with_name(f"{directory.name}.old-{os.getpid()}")
    if os.path.lexists(directory):  # a link there is renamed itself (its target is never touched)
        directory.rename(old)
    tmp.rename(directory)
    if old.is_symlink() or old.is_file():
        old.unlink()
    else:
        shutil.rmtree(old, ignore_errors=True)
    return [directory / "E_example"]


def writable_reports(reports: Path) -> None:
    """Create ``--reports`` and check that a file can be written there (SettingsError if not):
    a gate session must fail at the start, not lose its outputs at the end."""
    try:
        reports.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=reports).close()
    except OSError as exc:
        raise SettingsError(f"--reports: {reports} is not a writable directory ({exc.strerror or exc})") from None


__all__ = ["MANIFEST", "OutputError", "OutputSession", "copy_into", "example_roots", "read_own", "real_directories", "file_mode", "publish", "read_manifest", "remove_stale_temps",
           "temp_path", "writable_reports", "write_bytes_atomic", "write_text_atomic"]

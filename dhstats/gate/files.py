"""Files a gate session writes: atomic, with the umask's usual mode, under a manifest.

* Atomic: every file is written to a temporary name in its own directory, fsync'ed, given the
  mode a plain ``open()`` would give (``0o666 & ~umask``: 0644 under umask 022 — ``mkstemp``
  alone gives 0600) and renamed over the target (``os.replace``). Readers see the old file or
  the new one, never half a file; a kill leaves at most a temporary file.
* Temporary names are ``.dhstats-<pid>-<name>.<random>.tmp``: recognisably ours, so a later
  session removes the ones whose process is gone (:func:`remove_stale_temps`) and never
  touches a user's ``.tmp`` files.
* Manifest: ``<reports>/.dhstats-manifest.json`` lists (relative paths) what the gate wrote,
  each with the SHA-256 and size of the bytes written. :meth:`OutputSession.begin` removes the
  files of the previous manifest that this session does not plan to write again — only a
  regular file inside the reports directory (no link on the way), of the shape of a gate
  output (``health.json``, ``report.html``, ``badges/*.svg``, ``runs/**.html``), under no
  results directory, whose bytes still hash to the entry. A manifest larger than
  :data:`MANIFEST_MAX_BYTES` or malformed is ignored with a note: nothing is deleted.

One session per reports directory: :mod:`dhstats.gate.lock`; the embedded example's own
directory: :mod:`dhstats.gate.example`.

No other dhstats module is imported here.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from dhstats.load.settings import SettingsError

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


def publish(tmp: str | os.PathLike, final: str | os.PathLike, *, sync: bool = True) -> Path:
    """Give ``tmp`` the umask's mode, fsync it (``sync``) and rename it over ``final`` (atomic)."""
    tmp, final = Path(tmp), Path(final)
    os.chmod(tmp, file_mode())
    if sync:
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    os.replace(tmp, final)
    if sync:
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


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, sync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + chmod + rename). ``sync=False``
    skips the fsyncs, for files that live no longer than the session (the xdist exchange)."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        return publish(tmp, path, sync=sync)
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


MANIFEST_MAX_BYTES = 2**20  # a manifest of 10⁴ run pages is ~1 MB; a larger one is not ours
HASH_MAX_BYTES = 2**32  # a listed file larger than this is not hashed (nor deleted)
_OUTPUT_SHAPE = re.compile(r"^(health\.json|report\.html|badges/[^/]+\.svg|runs/.+\.html)$")


def read_own(path: str | os.PathLike, max_bytes: int = MANIFEST_MAX_BYTES) -> bytes:
    """The bytes of one of the gate's own files: a regular file, never through a symbolic
    link (``O_NOFOLLOW``), never blocking (``O_NONBLOCK``), at most ``max_bytes`` (a larger
    file raises :class:`OutputError` before anything is read)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
            raise OutputError(f"{path}: not a regular file of at most {max_bytes} bytes")
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(max_bytes + 1)[:max_bytes]
    finally:
        os.close(fd)


def digest(data: bytes) -> dict:
    """A manifest entry's fingerprint of ``data``: ``{"sha256": hex, "bytes": len}``."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def file_digest(path: str | os.PathLike, max_bytes: int = HASH_MAX_BYTES) -> dict | None:
    """:func:`digest` of a regular file's bytes (read in 1 MiB chunks, never through a link);
    None when it is not a regular file or larger than ``max_bytes``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
            return None
        h, size = hashlib.sha256(), 0
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
            size += len(chunk)
        return {"sha256": h.hexdigest(), "bytes": size}
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


def _fingerprint(value) -> dict | None:
    if (isinstance(value, dict) and isinstance(value.get("sha256"), str)
            and re.fullmatch(r"[0-9a-f]{64}", value["sha256"]) and type(value.get("bytes")) is int):
        return {"sha256": value["sha256"], "bytes": value["bytes"]}
    return None


def read_manifest(root: str | os.PathLike, notes: list[str] | None = None) -> dict[str, dict]:
    """The previous session's entries ``{relative path: {"sha256", "bytes"}}``. Empty — with a
    note in ``notes`` saying why, so that nothing is deleted — when the manifest is absent,
    not a regular file, larger than :data:`MANIFEST_MAX_BYTES`, not JSON or not of the
    manifest's shape; entries that are not plain relative paths with a fingerprint are
    ignored (an earlier manifest without fingerprints lists nothing deletable)."""
    path = Path(root) / MANIFEST
    if not os.path.lexists(path):
        return {}
    try:
        doc = json.loads(read_own(path))
        files = doc.get("files") if isinstance(doc, dict) else None
        if not isinstance(files, (dict, list)):
            raise ValueError("no 'files'")
    except (OSError, ValueError, RecursionError) as exc:
        if notes is not None:
            notes.append(f"dhstats: {path} ignored ({exc}): no earlier output was removed")
        return {}
    out = {}
    for rel, value in (files.items() if isinstance(files, dict) else ()):
        fp = _fingerprint(value)
        try:
            if fp is not None:
                out[_relative(rel)] = fp
        except (TypeError, ValueError):
            continue
    return out


def _inside(path: Path, roots: Iterable[Path]) -> bool:
    try:
        real = path.parent.resolve()
    except (OSError, RuntimeError):
        return True  # cannot tell: treat as protected
    return any(real == r or r in real.parents for r in roots)


class OutputSession:
    """One gate session's outputs under ``root``::

        out = OutputSession("reports", protect=results_dirs)
        out.begin(planned)            # removes last session's files not in `planned`
        out.write_bytes("health.json", data); ...
        out.commit()                  # the manifest: what the gate wrote, with fingerprints

    The manifest lists only files whose bytes the gate wrote (or published: :meth:`record`),
    each with its :func:`digest`; :meth:`begin` saves the previous entries it kept, so a kill
    mid-way leaves every earlier output listed. ``protect``: directories (the results
    directories) under which nothing is ever deleted.
    """

    def __init__(self, root: str | os.PathLike, protect: Iterable[str | os.PathLike] = ()):
        self.root = Path(root)
        self.protect = []
        for p in protect:
            try:
                self.protect.append(Path(p).resolve())
            except (OSError, RuntimeError):
                continue
        self.planned: set[str] = set()
        self.entries: dict[str, dict] = {}
        self.written: list[Path] = []
        self.removed: list[Path] = []
        self.notes: list[str] = []  # symbolic links replaced, a manifest ignored

    def deletable(self, rel: str, fingerprint: dict) -> bool:
        """``rel`` may be removed: the shape of a gate output, inside the root with no link on
        the way, a regular file under no protected directory, its bytes still ``fingerprint``."""
        if not _OUTPUT_SHAPE.match(rel) or not _within(self.root, rel):
            return False
        path = self.root / rel
        try:
            st = path.lstat()
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != fingerprint["bytes"] or _inside(path, self.protect):
            return False
        return file_digest(path) == fingerprint

    def begin(self, planned: Iterable[str | os.PathLike] = ()) -> list[Path]:
        self.root.mkdir(parents=True, exist_ok=True)
        self.planned = {_relative(p) for p in planned}
        previous = read_manifest(self.root, self.notes)
        self.removed = remove_stale_temps(self.root)
        self.entries = {}
        for rel, fp in sorted(previous.items()):
            if rel in self.planned:
                self.entries[rel] = fp  # rewritten below; listed meanwhile (a kill keeps it listed)
                continue
            if not os.path.lexists(self.root / rel):
                continue
            if self.deletable(rel, fp):
                path = self.root / rel
                if _unlink(path):
                    self.removed.append(path)
                    self._prune(path.parent)
        self._save(self.entries)
        return self.removed

    def path(self, rel: str | os.PathLike) -> Path:
        """``root/rel``, its directories made real directories (:func:`real_directories`)."""
        rel = _relative(rel)
        self.planned.add(rel)
        self.notes += real_directories(self.root, rel)
        return self.root / rel

    def write_bytes(self, rel: str | os.PathLike, data: bytes) -> Path:
        path = write_bytes_atomic(self.path(rel), data)
        self.entries[_relative(rel)] = digest(data)
        self.written.append(path)
        return path

    def write_text(self, rel: str | os.PathLike, text: str) -> Path:
        return self.write_bytes(rel, text.encode("utf-8"))

    def record(self, rel: str | os.PathLike) -> None:
        """List a file published by another writer (pytest-html's report.html) with the
        fingerprint of its bytes now."""
        rel = _relative(rel)
        fp = file_digest(self.root / rel)
        if fp is not None:
            self.entries[rel] = fp

    def commit(self) -> Path:
        """Write the manifest: every file the gate wrote and still lists."""
        return self._save(self.entries)

    def _save(self, files: dict[str, dict]) -> Path:
        doc = {"schema": 2, "written_by": "dhstats", "files": dict(sorted(files.items()))}
        return write_bytes_atomic(self.root / MANIFEST, (json.dumps(doc, separators=(",", ":")) + "\n").encode("utf-8"))

    def _prune(self, directory: Path) -> None:
        """Remove directories emptied by the clean-up, up to (not including) the root (never
        resolved: a link is not a directory, ``rmdir`` refuses it)."""
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent


def writable_reports(reports: Path) -> None:
    """Create ``--reports`` and check that a file can be written there (SettingsError if not):
    a gate session must fail at the start, not lose its outputs at the end."""
    try:
        reports.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=reports).close()
    except OSError as exc:
        raise SettingsError(f"--reports: {reports} is not a writable directory ({exc.strerror or exc})") from None


__all__ = ["MANIFEST", "OutputError", "OutputSession", "copy_into", "current_umask", "digest", "file_digest",
           "file_mode", "publish", "read_manifest", "read_own", "real_directories", "remove_stale_temps", "temp_path",
           "writable_reports", "write_bytes_atomic", "write_text_atomic"]

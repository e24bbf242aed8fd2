"""Find, read, parse and validate producer ``results.json`` files (the load layer).

Format and invariants: ``shared/spec/results-format.md``. Loading never raises for bad
input: a file that cannot be used becomes an :class:`InvalidRun` listing every problem
(file, JSON path, message), so the other runs are still checked. The records live in
:mod:`dhstats.load.records`, the validation rules in :mod:`dhstats.load.validation`; this module is
the file-system side and re-exports both.

Decisions (see docs/design.md, "Validity vs consistency"):

* **Only regular files are read**, with a size cap (``max_bytes``, the gate's
  ``--max-file-mb``, default 1024 MiB). ``os.stat`` decides before anything is opened: a FIFO,
  a socket, a device (e.g. a symlink to ``/dev/zero``) or a directory is an input problem of
  that run ("not a regular file (a FIFO)"), never a hang or a MemoryError. The file is opened
  with ``O_NONBLOCK``, re-checked with ``fstat`` (it may have been swapped since the stat)
  and at most ``max_bytes + 1`` bytes are read. :func:`scan_etas` obeys the same rule.
* **Discovery**: run directories are the ``run_*`` sub-directories of each root, sorted by
  name; their names are kept as on disk (any character; reports sanitise them), bytes that
  are not UTF-8 escaped (``run_\\udcff``: :func:`dhstats.load.names.text_name`) so that every
  output can hold them. A ``run_*`` symbolic link that leads nowhere is a run, invalid with
  the reason. A directory given twice (same resolved path), or a run given both alone and
  through its run set, is checked once, in the position of its first mention; two runs whose
  names would share a page or test id are a :class:`DiscoveryError`.
"""
from __future__ import annotations

import errno
import gc
import json
import math
import mmap
import os
import re
import stat
from pathlib import Path
from typing import Any

from dhstats.load.records import (
    RESULTS_FILE,
    Entry,
    InvalidRun,
    Problem,
    ProblemReason,
    Quadratic,
    Run,
    RunFile,
    RunKey,
)
from dhstats.load.duplicates import Fingerprint, file_identity, fingerprint, mark_duplicates
from dhstats.load.names import clashes, text_name
from dhstats.load.validation import MAGNITUDE_BOUND, validate

try:  # orjson is ~3x faster than json and rejects NaN/Infinity tokens by itself
    import orjson

    _fast_loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is a declared dependency
    _fast_loads = json.loads

#: default size cap of one results.json (the gate's --max-file-mb 1024)
MAX_FILE_BYTES = 1024 * 2**20

__all__ = [
    "RESULTS_FILE", "MAX_FILE_BYTES", "MAGNITUDE_BOUND", "DiscoveryError", "Entry", "InvalidRun",
    "Problem", "ProblemReason", "Quadratic", "ReadError", "Run", "RunFile", "RunKey", "discover", "load_fingerprinted", "load_run",
    "load_runs", "parse_document", "read_regular", "scan_etas", "scan_run", "entry_etas", "TooLarge", "validate",
]


# --------------------------------------------------------------------------- discovery


class DiscoveryError(ValueError):
    """A ``--results`` directory that does not exist or holds no run."""


def _run_dirs(root: Path) -> list[Path]:
    """The ``run_*`` sub-directories of ``root``, sorted by name (names kept verbatim)."""
    try:
        children = list(root.iterdir())
    except OSError as exc:
        raise DiscoveryError(f"{root}: cannot list: {exc}") from None
    # a run_* link that leads nowhere (dangling, a loop) is a run too: invalid, with the reason
    return sorted((d for d in children if d.name.startswith("run_") and (d.is_dir() or d.is_symlink())),
                  key=lambda d: d.name)


def discover(roots) -> list[RunFile]:
    """Runs under each run-set directory of ``roots`` (one path, ``str`` or ``Path``, or an
    iterable of them): every ``run_*`` sub-directory, sorted by name.

    A run directory without ``results.json`` is still returned (it loads as an
    :class:`InvalidRun`), so no run is lost. A root that itself holds ``results.json`` is
    taken as a single run of the run set named after its parent. The same directory given
    twice (same resolved path), or a run given alone and through its run set, yields its
    runs once, where first mentioned.
    """
    if isinstance(roots, (str, os.PathLike)):  # one path, as str or Path
        roots = [roots]
    found: list[RunFile] = []
    seen_roots: set[Path] = set()
    seen_runs: set[Path] = set()
    names: dict[str, Path] = {}
    for root in roots:
        root = Path(root).resolve()
        if root in seen_roots:
            continue
        seen_roots.add(root)
        if os.path.lexists(root / RESULTS_FILE) and not root.name.startswith("E_"):
            runs = [RunFile(text_name(root.parent.name), text_name(root.name), root / RESULTS_FILE)]
            set_name, set_dir = text_name(root.parent.name), root.parent
        elif root.is_dir():
            set_name, set_dir = text_name(root.name), root
            runs = [RunFile(set_name, text_name(d.name), d / RESULTS_FILE) for d in _run_dirs(root)]
            if not runs:
                raise DiscoveryError(f"{root}: no run_*/{RESULTS_FILE} found")
        else:
            raise DiscoveryError(f"{root}: not a directory")
        other = names.setdefault(set_name, set_dir)
        if other != set_dir:
            raise DiscoveryError(
                f"two run sets are both named {set_name!r} ({other} and {set_dir}); "
                "rename one: the run-set name identifies cases in reports"
            )
        for run in runs:
            if run.path not in seen_runs:
                seen_runs.add(run.path)
                found.append(run)
    keys: dict[RunKey, Path] = {}
    for f in found:  # two directories whose names read the same once escaped
        other = keys.setdefault(f.key, f.path)
        if other != f.path:
            raise DiscoveryError(f"{other.parent} and {f.path.parent} are both named {str(f.key)!r}; rename one")
    clash = clashes((f.run_set, f.run) for f in found)
    if clash:
        a, b = clash[0]
        raise DiscoveryError(f"runs {a!r} and {b!r} would share one page and test id; rename one")
    return found


def _link_problem(run_dir: Path) -> str | None:
    """Why a run directory that is a symbolic link leads nowhere (None when it does not)."""
    if not run_dir.is_symlink():
        return None
    target = os.readlink(run_dir)
    try:
        run_dir.stat()
    except FileNotFoundError:
        return f"the run directory is a dangling symbolic link (to {target}, which does not exist)"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"the run directory is a symbolic link loop (to {target})"
        return f"the run directory is a symbolic link (to {target}) that cannot be followed: {exc.strerror}"
    return None if run_dir.is_dir() else f"the run directory is a symbolic link to {target}, not a directory"


# --------------------------------------------------------------------------- reading


class ReadError(OSError):
    """A results file that is not read: missing, not a regular file, too big, unreadable.
    ``str(exc)`` is the user-facing message (no path: the caller names the file)."""

    reason = ProblemReason.UNREADABLE


class TooLarge(ReadError):
    """A results file beyond the size cap (``--max-file-mb``)."""

    reason = ProblemReason.TOO_LARGE


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _not_regular(mode: int) -> str:
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return f"not a regular file ({kind}); only regular files are read"


def _too_big(size: int, max_bytes: int, *, at_least: bool = False) -> str:
    """e.g. ``1536.0 MB (1,610,612,736 bytes) exceeds --max-file-mb 1024``."""
    more = "+" if at_least else ""  # at least this much: reading stopped at the cap
    return (f"{size / 2**20:.1f}{more} MB ({size:,}{more} bytes) "
            f"exceeds --max-file-mb {max_bytes / 2**20:g}")


def read_regular(path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; else :class:`ReadError`.

    Never blocks and never reads more than ``max_bytes + 1`` bytes: the type is checked with
    ``os.stat`` before opening, the file is opened ``O_NONBLOCK`` and checked again with
    ``fstat`` (a FIFO swapped in between is refused, not read)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ReadError("file not found") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise ReadError(f"cannot read: {exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ReadError(_not_regular(st.st_mode))
    if st.st_size > max_bytes:
        raise TooLarge(_too_big(st.st_size, max_bytes))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ReadError(f"cannot read: {exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ReadError(_not_regular(st.st_mode))
        chunks: list[bytes] = []
        total, want = 0, min(st.st_size, max_bytes) + 1  # +1: see the end of a file that grew
        while total <= max_bytes:
            chunk = os.read(fd, min(want, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            want = 1 << 20
        if total > max_bytes:
            raise TooLarge(_too_big(total, max_bytes, at_least=True))
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except ReadError:
        raise
    except OSError as exc:
        raise ReadError(f"cannot read: {exc}") from None
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- parsing


def parse_document(raw: bytes) -> tuple[Any, str | None]:
    """Parse JSON bytes (UTF-8, RFC 8259); returns (document, error). NaN/Infinity tokens and
    integers beyond 64 bits are parsed by the stdlib fallback so that validation can name
    their JSON path.
    The cyclic garbage collector is paused while parsing: a parse allocates ~10⁵ containers,
    none cyclic, and would trigger full collections over everything else alive (measured:
    −3 % gate time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _fast_loads(raw), None
    except Exception:
        pass
    finally:
        if enabled:
            gc.enable()
    try:  # strict UTF-8 first: json.loads(bytes) would let encoded surrogates through
        return json.loads(raw.decode("utf-8")), None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return None, f"not valid JSON: {exc}"
    except MemoryError:
        return None, "not parsed: out of memory"


def load_run(run_file: RunFile, raw: bytes | None = None, *,
             max_bytes: int = MAX_FILE_BYTES) -> Run | InvalidRun:
    """Read (:func:`read_regular`), parse and validate one run. Never raises for bad input.
    ``raw``: the file's bytes when the caller already has them (the cap applies too)."""
    def invalid(reason: ProblemReason, message: str) -> InvalidRun:
        return InvalidRun(run_file, (Problem(run_file.display, "", reason, message),))

    if raw is None:
        try:
            raw = read_regular(run_file.path, max_bytes)
        except ReadError as exc:
            return invalid(exc.reason, _link_problem(run_file.path.parent) or str(exc))
    elif len(raw) > max_bytes:
        return invalid(ProblemReason.TOO_LARGE, _too_big(len(raw), max_bytes))
    if not raw.strip():
        return invalid(ProblemReason.NOT_JSON, "empty file")
    doc, error = parse_document(raw)
    if error:
        return invalid(ProblemReason.NOT_JSON, error)
    return validate(doc, run_file)


def load_fingerprinted(run_file: RunFile, *, max_bytes: int = MAX_FILE_BYTES) -> tuple[Run | InvalidRun, Fingerprint | None]:
    """:func:`load_run` and the run's :class:`dhstats.load.duplicates.Fingerprint` (None for an
    invalid run): one ``stat`` and a hash of the parsed arrays."""
    identity = file_identity(run_file.path)
    loaded = load_run(run_file, max_bytes=max_bytes)
    return loaded, fingerprint(loaded, identity)


def load_runs(roots, *, max_bytes: int = MAX_FILE_BYTES) -> list[Run | InvalidRun]:
    """All runs under ``roots`` (loaded eagerly; the gate loads one run at a time); a run that
    repeats an earlier one is invalid input, ``duplicate_run`` (:mod:`dhstats.load.duplicates`)."""
    pairs = [load_fingerprinted(f, max_bytes=max_bytes) for f in discover(roots)]
    return mark_duplicates([run for run, _ in pairs], [fp for _, fp in pairs])


# --------------------------------------------------------------------------- cheap η scan

_ETA = re.compile(rb'"eta"\s*:\s*(-?[0-9][0-9.eE+-]*)')


def _scan(path, max_bytes: int) -> tuple[list[bytes], bool]:
    """``"eta": <number>`` tokens of a regular file, through a read-only memory map (half the
    time of reading the bytes first), the same checks as :func:`read_regular`; and whether the
    bytes can be a JSON object at all (first and last non-blank bytes ``{`` and ``}``: a
    truncated file cannot)."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
        raise ReadError("not a regular file of at most max_bytes")
    if st.st_size == 0:
        return [], False
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ReadError("not a regular file")
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as view:
            head, tail = view[:64].lstrip(), view[-64:].rstrip()  # (blank beyond 64 bytes: not judged here)
            return _ETA.findall(view), (not head or head[:1] == b"{") and (not tail or tail[-1:] == b"}")
    finally:
        os.close(fd)


#: more ``"eta"`` tokens than this in one file is not a producer's file (the real ones hold 5):
#: the η values are then taken from a parse, exactly ``true.entries[*].eta``
SCAN_MAX_TOKENS = 64
#: at most this many η values of one run become test cases; a run with more is invalid input
MAX_ETAS = 256


def entry_etas(path: Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[float, ...]:
    """Exactly the finite numbers at ``true.entries[*].eta``, by a parse (the slow path of
    :func:`scan_etas`); ``()`` when the file cannot be read or parsed or lacks the field."""
    try:
        doc, error = parse_document(read_regular(path, max_bytes))
    except ReadError:
        return ()
    entries = doc.get("true", {}).get("entries") if isinstance(doc, dict) and isinstance(doc.get("true"), dict) else None
    if error or not isinstance(entries, list):
        return ()
    out = set()
    for e in entries:
        eta = e.get("eta") if isinstance(e, dict) else None
        if isinstance(eta, (int, float)) and not isinstance(eta, bool) and math.isfinite(eta):
            out.add(float(eta))
    return tuple(sorted(out))


def scan_etas(path: Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[float, ...]:
    """The η values of a results file *without parsing it*: every ``"eta": <number>`` key,
    sorted, each once (~1 ms for a 3 MB file instead of ~5–25 ms for a parse).

    Used to name the gate's test cases at collection time, so that collection stays cheap
    and identical on every xdist worker. It is a scan, not a parse: the gate compares it
    with ``true.entries[].eta`` once the file is parsed, and a mismatch fails the run's
    ``input`` case (an η the scan missed) or skips the case (an ``"eta"`` key elsewhere).
    Reads like :func:`read_regular` (never blocks, never beyond the cap): a file that is
    missing, not regular, unreadable or too big gives ``()``.

    More than :data:`SCAN_MAX_TOKENS` ``"eta"`` keys (``"eta"`` keys planted in an unknown
    field to multiply the test items): the η values come from a parse instead, exactly
    ``true.entries[*].eta``. Either way at most :data:`MAX_ETAS` values are returned (the
    smallest); the run's parse then finds the rest missing and the run is invalid input.
    """
    return scan_run(path, max_bytes)[0]


def scan_run(path: Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[tuple[float, ...], bool]:
    """:func:`scan_etas`, and False when the scan proves the run invalid input (not a regular
    file, beyond the cap, empty, or bytes that cannot be a JSON object): the gate then gives it
    only its ``input`` test, which fails — the other cases would all be skipped."""
    try:
        tokens, whole = _scan(path, max_bytes)
    except ReadError:
        return (), False
    except (OSError, ValueError):  # perhaps passing (e.g. a file being replaced): judged later
        return (), True
    if not whole:
        return (), False
    if len(tokens) > SCAN_MAX_TOKENS:
        return entry_etas(path, max_bytes)[:MAX_ETAS], True
    out: set[float] = set()
    for token in tokens:
        try:
            out.add(float(token))
        except ValueError:
            continue
    return tuple(sorted(x for x in out if x == x))[:MAX_ETAS], True

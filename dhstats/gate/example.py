"""The embedded example run set's own directory, ``<reports>/.dhstats-example/``: what
``pytest checks/`` checks without ``--results``. The gate marks it with a file it writes
(:data:`EXAMPLE_MARKER`); a directory there without the mark is the user's and is never removed.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

from dhstats.gate.files import _pid_alive, current_umask
from dhstats.load.settings import SettingsError

EXAMPLE_DIR = ".dhstats-example"
EXAMPLE_MARKER = ".written-by-dhstats"
_EXAMPLE_TEMP = re.compile(r"^\.dhstats-example-(\d+)-")


def _marked(directory: Path) -> bool:
    """A real directory (not a link) holding the gate's marker file: the gate made it."""
    try:
        return stat.S_ISDIR(directory.lstat().st_mode) and stat.S_ISREG((directory / EXAMPLE_MARKER).lstat().st_mode)
    except OSError:
        return False


def _remove_marked(directory: Path) -> None:
    if _marked(directory):
        shutil.rmtree(directory, ignore_errors=True)


def example_roots(reports: Path) -> list[Path]:
    """The embedded example run set, (re)written atomically under ``reports/.dhstats-example``
    (safe when several processes race): what ``pytest checks/`` checks without ``--results``.

    The directory is the gate's only when it holds :data:`EXAMPLE_MARKER` (written first into
    a fresh temporary directory, then renamed into place): a marked directory is replaced, a
    symbolic link there is removed itself (never its target), and anything else there — the
    user's — is never removed: :class:`SettingsError` names it. Temporary directories of a
    process that is gone (a kill) are removed when marked."""
    from dhstats import simulate

    directory = reports / EXAMPLE_DIR
    reports.mkdir(parents=True, exist_ok=True)
    for entry in reports.iterdir():  # leftovers of a killed session (marked, their pid gone)
        m = _EXAMPLE_TEMP.match(entry.name)
        if m and not _pid_alive(int(m.group(1))):
            _remove_marked(entry)
    if os.path.lexists(directory) and not directory.is_symlink() and not _marked(directory):
        raise SettingsError(f"{directory} exists and was not written by the gate (no {EXAMPLE_MARKER} in it): "
                            "the embedded example goes there; move it away, or give --results")
    tmp = Path(tempfile.mkdtemp(prefix=f".dhstats-example-{os.getpid()}-", dir=reports))
    try:
        (tmp / EXAMPLE_MARKER).write_text("written by dhstats: the embedded example run set, replaced by each "
                                          "session run without --results\n")
        tmp.chmod(0o777 & ~current_umask())  # mkdtemp makes it 0700: publishable like every other output
        simulate.write_example(tmp)
        old = reports / f".dhstats-example-{os.getpid()}-old"
        if directory.is_symlink():
            directory.unlink()  # the link itself (its target is never touched)
        elif os.path.lexists(directory):
            directory.rename(old)  # marked: ours
        tmp.rename(directory)
    except BaseException:
        _remove_marked(tmp)
        raise
    _remove_marked(old)
    return [directory / "E_example"]


__all__ = ["EXAMPLE_DIR", "EXAMPLE_MARKER", "example_roots"]

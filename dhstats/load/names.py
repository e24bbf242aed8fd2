"""Safe names: a run or run-set name as it appears in test ids and page file names.

Run names are directory names and may hold any character (``run_<img src=x onerror=…>``,
``run_x\\y``, 230 characters). Test ids reach pytest-html's page unescaped (pytest-dev/
pytest-dev/pytest-html#1024) and page names must be unique and bounded, so both use
:func:`safe_name`: readable, markup-free, bounded, and distinct for distinct names.
"""
from __future__ import annotations

import hashlib
import re

NAME_MAX = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_HASHED = re.compile(r"-[0-9a-f]{8}$")  # the suffix safe_name appends


def safe_name(name: str) -> str:
    """``name`` unchanged when it is plain ([A-Za-z0-9._-], not starting with ``.``, at most
    :data:`NAME_MAX` characters) and does not end like a sanitised name (``-`` + 8 hex
    digits); otherwise other characters become ``_`` (a leading ``.`` too), it is cut to
    NAME_MAX characters and ``-`` + 8 hex digits of sha1(name) are appended. Names kept
    never end in ``-<8 hex>`` and changed ones always do, so distinct names (``run_x\\y``,
    ``run_x_y``, and a literal ``run_x_y-<its 8 hex>``) stay distinct; two changed names
    collide only if their sha1 prefixes do, which :func:`clashes` detects per session."""
    raw = str(name)
    safe = _UNSAFE.sub("_", raw)
    if safe.startswith(".") or not safe:
        safe = "_" + safe[1:]
    short = safe[:NAME_MAX]
    if short != raw or _HASHED.search(raw):
        short += "-" + hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return short


def text_name(name: str) -> str:
    """A directory name as text every output can hold: bytes that are not UTF-8 (decoded by
    Python as lone surrogates) become ``\\udcff`` escapes, as in health.json; other names are
    unchanged. The run's path keeps the real bytes."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def clashes(names) -> list[tuple[str, str]]:
    """Pairs of distinct names (each an iterable of components, e.g. (run set, run)) whose
    safe names are equal: what must not happen within one session (pages, test ids)."""
    seen: dict[tuple, tuple] = {}
    out = []
    for name in names:
        name = tuple(name)
        key = tuple(safe_name(n) for n in name)
        other = seen.setdefault(key, name)
        if other != name:
            out.append(("/".join(other), "/".join(name)))
    return out

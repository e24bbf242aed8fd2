"""Safe names: a run or run-set name as it appears in test ids and page file names.

Run names are directory names and may hold any character (``run_<img src=x onerror=…>``,
``run_x\\y``, 230 characters). Test ids reach pytest-html's page unescaped (pytest-dev/
pytest-html issue 1024) and page names must be unique and bounded, so both use
:func:`safe_name`: readable, markup-free, bounded, and distinct for distinct names.
"""
from __future__ import annotations

import hashlib
import re

NAME_MAX = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(name: str) -> str:
    """``name`` unchanged when it is plain ([A-Za-z0-9._-], not starting with ``.``, at most
    :data:`NAME_MAX` characters); otherwise other characters become ``_`` (a leading ``.``
    too), it is cut to NAME_MAX characters and ``-`` + 8 hex digits of sha1(name) are
    appended, so that distinct names (``run_x\\y`` vs ``run_x_y``) stay distinct."""
    raw = str(name)
    safe = _UNSAFE.sub("_", raw)
    if safe.startswith(".") or not safe:
        safe = "_" + safe[1:]
    short = safe[:NAME_MAX]
    if short != raw:
        short += "-" + hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return short

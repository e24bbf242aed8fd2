"""Deprecated: the old report names, forwarding to the modules that now do each job.

:mod:`dhstats.health` (health.json, counts, history), :mod:`dhstats.badges`,
:mod:`dhstats.pages` (run pages, pytest-html summary), :mod:`dhstats.terminal`,
:mod:`dhstats.outputs` (atomic writes, manifest) and :mod:`dhstats.publish` (one session's
files). Kept only until ``plugin.py`` imports those directly; then this file is deleted.
"""
from __future__ import annotations

import os

from .health import build_health, count, dumps_json
from .outputs import write_bytes_atomic
from .pages import needs_page, page_path
from .pages import summary_html as _summary_html
from .terminal import summary_lines


def run_label(results: str, run: str) -> str:
    return f"{results}/{run}"


def run_page_relpath(results: str, run: str) -> str:
    return page_path((results, run))


def summary_html(health, run_page_links=None) -> str:
    return _summary_html(health, run_page_links)


def write_json_atomic(path: str | os.PathLike, obj):
    return write_bytes_atomic(path, dumps_json(obj))


def write_reports(reports_dir, health, figures_for=None):
    """Old signature: ``figures_for(results, run)``."""
    from .publish import write_reports as _write

    return _write(reports_dir, health, None if figures_for is None else (lambda key: figures_for(key[0], key[1])))


__all__ = ["build_health", "count", "dumps_json", "needs_page", "run_label", "run_page_relpath", "summary_html",
           "summary_lines", "write_json_atomic", "write_reports"]

"""HTML tables for Jupyter (``_repr_html_``): verdicts, run sets and health documents.

One small jinja2 template rendered with autoescape escapes every cell, header and caption:
run names, messages and paths come from input files and may contain markup. No pandas, no
matplotlib (verdicts import this module lazily). Numbers are shown to 4
significant digits (:func:`cell`).

:class:`HealthDocument` is health.json's dict (as :meth:`dhstats.session.Session.run` returns it, or
read from a file) with a readable HTML view: the counts, the run sets, the invalid runs and
the failed cases first.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence

import jinja2

_ENV = jinja2.Environment(autoescape=True)

STYLE = "border-collapse:collapse;font-size:90%"
CELL = "border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top"
COLOURS = {"passed": "#1a7f37", "failed": "#cf222e", "skipped": "#6e7781", "error": "#cf222e", "ok": "#1a7f37"}


def cell(value) -> str:
    """The text of one cell: floats to 4 significant digits, None empty, booleans yes/no
    (escaped when the table is rendered, not here)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


# Rendered with autoescape: every header, cell and caption is escaped by jinja2.
_TABLE = _ENV.from_string(
    '<table style="{{ style }}">'
    '{% if caption %}<caption style="text-align:left;font-weight:bold">{{ caption }}</caption>{% endif %}'
    '<thead><tr>{% for c in columns %}<th style="{{ td }}">{{ c }}</th>{% endfor %}</tr></thead><tbody>'
    '{% for row in rows %}<tr>{% for text, colour in row %}<td style="{{ td }}">'
    '{% if colour %}<span style="color:{{ colour }};font-weight:bold">{{ text }}</span>'
    '{% else %}{% for line in text.split("\\n") %}{{ line }}{% if not loop.last %}<br>{% endif %}{% endfor %}'
    '{% endif %}</td>{% endfor %}</tr>{% endfor %}</tbody></table>')


def html_table(columns: Sequence[str], rows: Iterable[Sequence], caption: str | None = None) -> str:
    """``<table>`` with one header row (``columns``) and one row per item of ``rows``
    (:func:`cell` text; an outcome word — passed/failed/skipped/error/ok — coloured);
    rendered by jinja2 with autoescape, so markup in names and messages is shown, not run.
    Multi-line cells keep their line breaks."""
    body = [[(cell(v), COLOURS.get(cell(v))) for v in row] for row in rows]
    return _TABLE.render(style=STYLE, td=CELL, caption=caption, columns=[str(c) for c in columns], rows=body)


CASE_COLUMNS = ("run_set", "results", "run", "eta", "check", "outcome", "z", "resolution", "message")


def cases_html(cases: Sequence[Mapping], caption: str | None = None) -> str:
    """Cases (health.json dicts or ``Verdict.to_dict()``) as one table; columns
    :data:`CASE_COLUMNS` that at least one case has."""
    columns = [c for c in CASE_COLUMNS if any(c in case for case in cases)] or ["check", "outcome"]
    return html_table(columns, ([case.get(c) for c in columns] for case in cases), caption)


def verdict_html(verdict) -> str:
    """One verdict (``to_dict()``: check, outcome, message and its numbers) as a two-column
    table: name, value."""
    d = verdict.to_dict()
    title = " · ".join(str(d[k]) for k in ("run_set", "results", "run") if d.get(k)) or None
    return html_table(("field", "value"), d.items(), title)


def run_verdict_html(run_verdict) -> str:
    """A run verdict (ok / error with its input problems) as a two-column table."""
    d = run_verdict.to_dict()
    return html_table(("field", "value"), d.items(), f"{_set_of(d)}/{d.get('run')}")


class HealthDocument(dict):
    """health.json's document (a dict) that displays as HTML tables in Jupyter.

    ``HealthDocument(session.run())`` or :meth:`read` a health.json file. The view: the counts
    and exit status, the run sets, invalid runs, then the failed cases (all of them), and
    how many cases passed or skipped per check. Paths are not shown (they name the machine);
    the dict has them."""

    @classmethod
    def read(cls, path: str | os.PathLike) -> "HealthDocument":
        """Read a health.json file (UTF-8 JSON)."""
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f))

    def failed(self) -> list[dict]:
        """The failed cases, in the document's order."""
        return [c for c in self.get("cases", ()) if c.get("outcome") == "failed"]

    def by_check(self) -> list[tuple[str, int, int, int]]:
        """(check, passed, failed, skipped) per check, in order of first appearance."""
        counts: dict[str, list[int]] = {}
        for c in self.get("cases", ()):
            row = counts.setdefault(str(c.get("check")), [0, 0, 0])
            i = ("passed", "failed", "skipped").index(c["outcome"]) if c.get("outcome") in ("passed", "failed", "skipped") else None
            if i is not None:
                row[i] += 1
        return [(k, *v) for k, v in counts.items()]

    def __repr__(self) -> str:
        """One line: the exit summary and the case counts (the dict itself is long)."""
        exit_ = self.get("exit") or {}
        cases = (self.get("counts") or {}).get("cases") or {}
        counts = ", ".join(f"{k} {v}" for k, v in cases.items())
        return f"HealthDocument(exit {exit_.get('status')}: {exit_.get('summary')}; cases: {counts})"

    def _repr_html_(self) -> str:
        parts = []
        counts = self.get("counts") or {}
        top = [(f"{what} {k}", v) for what in ("cases", "runs")
               for k, v in (counts.get(what) or {}).items()]
        top += [(key, self[key]) for key in ("confidence", "sigma") if key in self]
        if isinstance(self.get("exit"), Mapping):
            top += [(f"exit {k}", v) for k, v in self["exit"].items()]
        parts.append(html_table(("", "value"), top, "health.json"))
        sets = self.get("run_sets") or []
        if sets:
            cols = [c for c in ("name", "E", "runs", "resolution") if any(c in s for s in sets)]
            parts.append(html_table(cols, ([_short(s.get(c)) for c in cols] for s in sets), "run sets"))
        bad = [r for r in self.get("runs", ()) if r.get("outcome") == "error"]
        if bad:
            parts.append(html_table(("run set", "run", "message"),
                                    ((_set_of(r), r.get("run"), r.get("message")) for r in bad), "invalid runs"))
        failed = self.failed()
        parts.append(cases_html(failed, f"failed cases ({len(failed)})") if failed
                     else "<p>no failed case</p>")
        parts.append(html_table(("check", "passed", "failed", "skipped"), self.by_check(), "cases per check"))
        return "".join(parts)


def _short(value):
    """A list cell shortened to its length, a dict to ``key value, …`` (run-set runs, resolution)."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {cell(v)}" for k, v in value.items())
    return value


def _set_of(record: Mapping):
    """The run-set name of a record (``run_set``, or ``results`` in schema ≤ 2)."""
    return record.get("run_set", record.get("results"))

"""Report layer: ``health.json``, badges, per-run HTML pages and the terminal/summary tables.

Everything here is rendered from verdict records (:class:`dhstats.verdicts.Verdict`,
:class:`dhstats.verdicts.RunVerdict`) through one dict, the ``health.json`` document of
``shared/spec/checks.md`` ("Outputs"), which is the source of truth: badges, run pages,
the terminal table and the pytest-html summary all read that dict, never the records.

Pure Python + anybadge (+ orjson when available). No pytest, no matplotlib: figures arrive
as ``(title, base64-PNG)`` pairs from the caller. All text that comes from input (run-set
and run names, paths, messages, problems, figure titles) is HTML-escaped with
:func:`html.escape`; hrefs are URL-quoted with :func:`urllib.parse.quote`.
"""
from __future__ import annotations

import html
import math
import numbers
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from .verdicts import CHECKS, RunVerdict, Settings, Verdict, case_id

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a declared dependency
    orjson = None
import json

SCHEMA = 1
OUTCOMES = ("passed", "failed", "skipped")
RUN_OUTCOMES = ("ok", "error")
HEALTH_BADGE = "estimator-health.svg"

#: Short column headers of the terminal table (``summary_lines``).
SHORT_NAMES = {
    "consistency": "consist",
    "snis_weights": "weights",
    "snis_reliability": "reliab",
    "se_consistency": "se",
    "linear_agreement": "linear",
    "linquad_agreement": "linquad",
    "truncation_ratio": "trunc",
}
TERMINAL_WIDTH = 120

FiguresFor = Callable[[str, str], Sequence[tuple[str, str]]]


# --------------------------------------------------------------------------- health.json


def _record(obj) -> dict:
    """A verdict record: the object's ``to_dict()``, or the record itself (e.g. as it travelled
    on a pytest report)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def build_health(
    settings: Settings,
    results_paths: Iterable[str | os.PathLike],
    run_verdicts: Sequence[RunVerdict | Mapping],
    verdicts: Sequence[Verdict | Mapping],
) -> dict:
    """The ``health.json`` document (checks.md, "Outputs"), schema 1::

        {"schema": 1, "sigma": k, "settings": {...}, "results": [abs paths],
         "runs": [RunVerdict.to_dict()...], "cases": [Verdict.to_dict()...],
         "counts": {"cases": {...}, "checks": {check: {...}}, "runs": {...}}}

    ``runs`` and ``cases`` keep the given order. ``counts.cases`` and each ``counts.checks``
    entry hold ``total, passed, failed, skipped``; ``counts.runs`` holds ``total, ok, error``.
    Non-finite numbers become null. Raises ``ValueError`` when the records contradict the
    contract (unknown check or outcome, a case of an invalid or unlisted run), so that an
    inconsistent document is never written.
    """
    runs = [_clean(_record(rv)) for rv in run_verdicts]
    cases = [_clean(_record(v)) for v in verdicts]
    outcome_of = {}
    for r in runs:
        if r["outcome"] not in RUN_OUTCOMES:
            raise ValueError(f"run {r['results']}/{r['run']}: outcome {r['outcome']!r} not in {RUN_OUTCOMES}")
        outcome_of[(r["results"], r["run"])] = r["outcome"]
    for c in cases:
        where = case_id(c["results"], c["run"], c["eta"])
        if c["check"] not in CHECKS:
            raise ValueError(f"case {where}: unknown check {c['check']!r}")
        if c["outcome"] not in OUTCOMES:
            raise ValueError(f"case {where}: outcome {c['outcome']!r} not in {OUTCOMES}")
        run_outcome = outcome_of.get((c["results"], c["run"]))
        if run_outcome is None:
            raise ValueError(f"case {where} ({c['check']}): its run is not in run_verdicts")
        if run_outcome == "error":
            raise ValueError(f"case {where} ({c['check']}): an invalid run has no cases")
    return {
        "schema": SCHEMA,
        "sigma": _clean(settings.sigma),
        "settings": _clean(settings.to_dict()),
        "results": [os.path.abspath(os.fspath(p)) for p in results_paths],
        "runs": runs,
        "cases": cases,
        "counts": count(runs, cases),
    }


def count(runs: Sequence[Mapping], cases: Sequence[Mapping]) -> dict:
    """``counts`` block of health.json: totals per outcome, per check (CHECKS order), runs."""
    def tally(items: Iterable[Mapping]) -> dict:
        out = {"total": 0, **{o: 0 for o in OUTCOMES}}
        for c in items:
            out["total"] += 1
            out[c["outcome"]] = out.get(c["outcome"], 0) + 1
        return out

    checks = list(CHECKS) + sorted({c["check"] for c in cases} - set(CHECKS))
    errors = sum(r["outcome"] == "error" for r in runs)
    return {
        "cases": tally(cases),
        "checks": {chk: tally(c for c in cases if c["check"] == chk) for chk in checks},
        "runs": {"total": len(runs), "ok": len(runs) - errors, "error": errors},
    }


def _clean(obj):
    """JSON-safe copy: non-finite floats → None, tuples → lists, keys → str, paths → str."""
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "tolist"):  # numpy scalar or array slipped through: still JSON, still clean
        return _clean(obj.tolist())
    return str(obj)


def dumps_json(obj) -> bytes:
    """UTF-8 JSON (indent 2, trailing newline) of ``_clean(obj)``: never NaN/Infinity tokens."""
    clean = _clean(obj)
    if orjson is not None:
        return orjson.dumps(clean, option=orjson.OPT_INDENT_2) + b"\n"
    return (json.dumps(clean, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def write_json_atomic(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (temp file in the same directory, fsync,
    ``os.replace``): readers see the old file or the new one, never half a file."""
    return _write_bytes_atomic(path, dumps_json(obj))


def _write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable; not possible everywhere (e.g. Windows)
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
    return path


def _write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return _write_bytes_atomic(path, text.encode("utf-8"))


# --------------------------------------------------------------------------- badges


def badge_colour(passed: int, total: int, failed: int, errors: int) -> str:
    """Badge colour (anybadge colour name).

    * ``lightgrey`` — no cases and no invalid run (nothing was checked);
    * ``green`` — at least one case, none failed, no run invalid;
    * otherwise by share s = passed/total: s ≥ 0.9 ``yellowgreen``, ≥ 0.75 ``yellow``,
      ≥ 0.5 ``orange``, else ``red``. Invalid runs with no cases at all (s undefined) → ``red``.
    """
    if total <= 0:
        return "red" if errors > 0 else "lightgrey"
    if failed == 0 and errors == 0:
        return "green"
    share = passed / total
    if share >= 0.9:
        return "yellowgreen"
    if share >= 0.75:
        return "yellow"
    if share >= 0.5:
        return "orange"
    return "red"


def badge_value(passed: int, total: int, errors: int) -> str:
    """``"passed/total"``, plus ``" · N invalid"`` when N runs could not be checked."""
    return f"{passed}/{total}" + (f" · {errors} invalid" if errors else "")


def write_badges(badges_dir: str | os.PathLike, health: Mapping) -> list[Path]:
    """``estimator-health.svg`` (label "estimator health", all cases) and ``<check>.svg``
    per check in CHECKS (label = check name). Value :func:`badge_value`, colour
    :func:`badge_colour`; invalid runs count against every badge (no check could judge
    them). Existing files are replaced atomically."""
    import anybadge

    counts = count(health["runs"], health["cases"])
    errors = counts["runs"]["error"]
    items = [(HEALTH_BADGE, "estimator health", counts["cases"])]
    items += [(f"{chk}.svg", chk, counts["checks"][chk]) for chk in CHECKS]
    written = []
    for filename, label, c in items:
        badge = anybadge.Badge(
            label,
            badge_value(c["passed"], c["total"], errors),
            default_color=badge_colour(c["passed"], c["total"], c["failed"], errors),
        )
        written.append(_write_text_atomic(Path(badges_dir) / filename, badge.badge_svg_text))
    return written


# --------------------------------------------------------------------------- HTML helpers


def _e(text) -> str:
    """HTML-escape anything (quotes too: safe inside attribute values)."""
    return html.escape("" if text is None else str(text), quote=True)


def _href(relative: str) -> str:
    """URL-quote a relative href (keeping '/'), then escape it for the attribute."""
    return _e(quote(str(relative), safe="/"))


def _num(x) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return str(x)
    if isinstance(x, numbers.Integral):
        return str(int(x))
    x = float(x)
    return "n/a" if not math.isfinite(x) else f"{x:.4g}"


def _eta_label(eta) -> str:
    return "run" if eta is None else f"η = {eta!r}"


def run_label(results: str, run: str) -> str:
    """``E_2048/run_01`` — the key of a run in tables and in ``run_page_links``."""
    return case_id(results, run, None)


def run_page_relpath(results: str, run: str) -> str:
    """Page of one run, relative to the reports directory: ``runs/<run set>/<run>.html``
    (raw, not URL-quoted; :func:`summary_html` quotes it)."""
    return f"runs/{_path_component(results)}/{_path_component(run)}.html"


def _path_component(name: str) -> str:
    """Run and run-set names are directory names (no '/'); guard anyway against a
    component that would leave ``runs/``."""
    name = str(name).replace("/", "_").replace("\\", "_").replace("\0", "_")
    return "_" + name if name in ("", ".", "..") else name


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#222;max-width:1400px}
h1{font-size:1.4em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em;word-break:break-all}
.pill{display:inline-block;padding:.1em .6em;border-radius:.8em;font-weight:600;color:#fff}
.pill.ok{background:#3c8d3c}.pill.error{background:#b52b27}.pill.warn{background:#c77c02}
table.grid{border-collapse:collapse;margin:.5em 0}
table.grid th,table.grid td{border:1px solid #ccc;padding:.3em .5em;vertical-align:top;text-align:left}
table.grid th{background:#f3f3f3;white-space:nowrap}
td.passed{background:#dff0d8} td.failed{background:#f2dede} td.skipped{background:#f5f5e8}
td.none{background:#fafafa;color:#aaa;text-align:center}
td a{color:inherit} .o{font-weight:600} td.failed .o{color:#a12622} td.passed .o{color:#2b6b2b}
td.skipped .o{color:#7a6a12} .n{display:block;font-size:.85em;color:#444;white-space:nowrap}
ol.details li{margin:.4em 0 .8em} .msg{white-space:pre-wrap;margin:.2em 0}
.nums{font-size:.85em;color:#555} .note{font-size:.85em;color:#7a4b00}
pre.problems,pre.message{background:#fbf3f2;border:1px solid #e6c4c1;padding:.6em;white-space:pre-wrap}
figure{margin:1em 0;border:1px solid #ddd;padding:.5em;display:inline-block;max-width:100%}
figure img{max-width:100%;height:auto} figcaption{font-weight:600;margin-bottom:.3em}
table.settings td{padding:.1em .8em .1em 0}
"""

_B64 = re.compile(r"[A-Za-z0-9+/=\s]*")


def _case_notes(case: Mapping) -> list[str]:
    """Provenance notes the spec asks to show (σ sources)."""
    notes = []
    for key, what in (("sigma_g_source", "σ_G"), ("sigma_q_source", "σ_Q")):
        src = case.get(key)
        if isinstance(src, str) and src.startswith("reported"):
            notes.append(f"{what} from the producer's reported SE ({src}): reported, unverified.")
    if case.get("sigma_true_source") == "first-order":
        notes.append("σ_true = η·σ_G (no h_base: to first order in η the SNIS estimate's "
                     "sampling error is the linear term's).")
    return notes


def _headline(case: Mapping) -> list[str]:
    """The few numbers shown in a table cell: z and σ when present, plus per-check ones."""
    out = []
    if case.get("z") is not None:
        out.append(f"z = {_num(case['z'])}")
    if case.get("combined_se") is not None:
        out.append(f"σ = {_num(case['combined_se'])}")
    check = case.get("check")
    if check == "snis_reliability":
        if case.get("ess_fraction") is not None:
            out.append(f"ESS/n = {_num(case['ess_fraction'])}")
        if case.get("khat") is not None:
            out.append(f"k̂ = {_num(case['khat'])}")
    elif check == "se_consistency":
        for key in ("rho_se_shard", "rho_se_vHvv"):
            if case.get(key) is not None:
                out.append(f"ρ({key[4:]}) = {_num(case[key])}")
    elif check == "truncation_ratio":
        for key, value in case.items():
            if key.startswith("ratio_q") and value is not None:
                out.append(f"r@{key[7:]} = {_num(value)}")
    return out


_BASE_KEYS = ("results", "run", "eta", "check", "outcome", "message")


def render_run_page(
    run: Mapping,
    cases: Sequence[Mapping],
    figures: Sequence[tuple[str, str]],
    health_settings: Mapping,
    notes: Sequence[str] = (),
) -> str:
    """One self-contained HTML page (inline CSS, images as data URIs, no scripts, no
    external resources) for one run: outcome, input problems (invalid runs), the table
    checks × η (+ a "run" column for per-run checks) with outcome, z, σ and the message
    (cell ``title`` and the numbered details list), the figures and the settings.

    ``run`` is a health.json run, ``cases`` its health.json cases, ``figures`` pairs
    ``(title, base64 PNG)``, ``health_settings`` the health.json ``settings``; ``notes``
    are extra lines shown under the title (e.g. why figures are missing)."""
    results, name = str(run.get("results", "")), str(run.get("run", ""))
    label = run_label(results, name)
    outcome = run.get("outcome", "")
    n = {o: sum(c.get("outcome") == o for c in cases) for o in OUTCOMES}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(label)} — estimator health</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Run set <span class=\"mono\">{_e(results)}</span> · run <span class=\"mono\">{_e(name)}</span></h1>",
        f"<p>File: <code>{_e(run.get('path', ''))}</code></p>",
    ]
    if outcome == "error":
        parts.append('<p><span class="pill error">invalid input</span> '
                     "the file could not be used; no check was run on it.</p>")
    else:
        pill, word = ("warn", f"{n['failed']} failed") if n["failed"] else ("ok", "no failures")
        parts.append(
            f'<p>Input {_e(outcome or "ok")} · <span class="pill {pill}">{word}</span> '
            f"{len(cases)} cases: {n['passed']} passed, {n['failed']} failed, {n['skipped']} skipped.</p>"
        )
    parts += [f'<p class="note">{_e(t)}</p>' for t in notes]

    if outcome == "error":
        if run.get("message"):
            parts += ["<h2>Message</h2>", f'<pre class="message">{_e(run["message"])}</pre>']
        problems = list(run.get("problems") or [])
        parts.append(f"<h2>Input problems ({len(problems)})</h2>")
        if problems:
            parts.append('<ol class="problems">' + "".join(f"<li><code>{_e(p)}</code></li>" for p in problems) + "</ol>")
        else:
            parts.append("<p>None listed.</p>")

    if cases:
        parts += _checks_table(cases)

    if figures:
        parts.append("<h2>Figures</h2>")
        for title, b64 in figures:
            data = b64.decode("ascii", "replace") if isinstance(b64, (bytes, bytearray)) else str(b64)
            if not _B64.fullmatch(data):
                parts.append(f'<p class="note">figure {_e(title)}: not base64 data, omitted.</p>')
                continue
            data = "".join(data.split())
            parts.append(
                f'<figure><figcaption>{_e(title)}</figcaption>'
                f'<img alt="{_e(title)}" src="data:image/png;base64,{data}"></figure>'
            )

    parts.append("<h2>Settings</h2>")
    parts.append('<table class="settings">' + "".join(
        f"<tr><td><code>{_e(k)}</code></td><td><code>{_e(_setting(v))}</code></td></tr>"
        for k, v in health_settings.items()
    ) + "</table>")
    parts.append('<p class="note">Rendered from health.json (the source of truth) by dhstats.report.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _setting(v) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_num(x) for x in v) + "]"
    return "null" if v is None else _num(v)


def _checks_table(cases: Sequence[Mapping]) -> list[str]:
    etas = sorted({c["eta"] for c in cases if c.get("eta") is not None})
    columns: list = list(etas) + [None]
    checks = list(CHECKS) + sorted({c["check"] for c in cases} - set(CHECKS))
    order = {chk: i for i, chk in enumerate(checks)}
    ordered = sorted(
        enumerate(cases),
        key=lambda ic: (order[ic[1]["check"]], ic[1].get("eta") is None, ic[1].get("eta") or 0.0, ic[0]),
    )
    anchor = {id(c): f"case-{k + 1}" for k, (_, c) in enumerate(ordered)}
    cell: dict = {}
    for _, c in ordered:
        cell.setdefault((c["check"], c.get("eta")), c)

    out = ["<h2>Checks × η</h2>", '<table class="grid"><thead><tr><th>check</th>']
    out += [f"<th>{_e(_eta_label(eta))}</th>" for eta in columns]
    out.append("</tr></thead><tbody>")
    for chk in checks:
        out.append(f"<tr><th><code>{_e(chk)}</code></th>")
        for eta in columns:
            c = cell.get((chk, eta))
            if c is None:
                out.append('<td class="none">—</td>')
                continue
            o = str(c.get("outcome", ""))
            nums = "".join(f'<span class="n">{_e(h)}</span>' for h in _headline(c))
            out.append(
                f'<td class="{_e(o)}" title="{_e(c.get("message", ""))}">'
                f'<a class="o" href="#{anchor[id(c)]}">{_e(o)}</a>{nums}</td>'
            )
        out.append("</tr>")
    out.append("</tbody></table>")
    out.append('<p class="nums">z = (prediction − ΔH_true)/σ with σ the combined standard error '
               "(nats per token); ρ = reported SE / measured SE; r@q = truncation ratio L_S/Δ_S at "
               "keep-quantile q. Hover a cell for its message; click it for the details.</p>")

    out.append("<h2>Details</h2>")
    out.append('<ol class="details">')
    for _, c in ordered:
        extra = [(k, v) for k, v in c.items() if k not in _BASE_KEYS]
        nums = "; ".join(f"{k} = {_num(v)}" for k, v in extra)
        where = "per run" if c.get("eta") is None else _eta_label(c["eta"])
        out.append(
            f'<li id="{anchor[id(c)]}"><b><code>{_e(c["check"])}</code></b> · {_e(where)} · '
            f'<span class="o">{_e(c.get("outcome", ""))}</span>'
            f'<div class="msg">{_e(c.get("message", ""))}</div>'
            + "".join(f'<div class="note">{_e(t)}</div>' for t in _case_notes(c))
            + (f'<div class="nums">{_e(nums)}</div>' if nums else "")
            + "</li>"
        )
    out.append("</ol>")
    return out


# --------------------------------------------------------------------------- run pages


def _cases_of(health: Mapping, results: str, run: str) -> list[dict]:
    return [c for c in health["cases"] if c["results"] == results and c["run"] == run]


def needs_page(run: Mapping, cases: Sequence[Mapping]) -> bool:
    """A run gets a page when its input is invalid or any of its cases failed."""
    return run.get("outcome") == "error" or any(c.get("outcome") == "failed" for c in cases)


def write_run_pages(
    reports_dir: str | os.PathLike,
    health: Mapping,
    figures_for: FiguresFor | None = None,
) -> list[Path]:
    """Write ``reports_dir/runs/<run set>/<run>.html`` for every run with a failed case or
    outcome "error" (:func:`render_run_page`); return the paths in ``health["runs"]`` order.
    ``figures_for(results, run)`` gives the ``(title, base64 PNG)`` figures; if it raises,
    the page is written without figures and says why."""
    written = []
    for run in health["runs"]:
        results, name = run["results"], run["run"]
        cases = _cases_of(health, results, name)
        if not needs_page(run, cases):
            continue
        figures: Sequence[tuple[str, str]] = ()
        notes = []
        if figures_for is not None:
            try:
                figures = list(figures_for(results, name) or ())
            except Exception as exc:  # a plotting bug must not cost the page
                notes.append(f"figures could not be drawn: {exc!r}")
        page = render_run_page(run, cases, figures, health.get("settings", {}), notes)
        written.append(_write_text_atomic(Path(reports_dir) / run_page_relpath(results, name), page))
    return written


# --------------------------------------------------------------------------- terminal table


def _printable(text: str) -> str:
    """No control characters (escape sequences in a directory name must not drive the terminal)."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


def _cell(tally: Mapping) -> str:
    """``5P`` / ``3P1F1S`` (zero counts omitted; ``-`` when there is no case)."""
    text = "".join(f"{tally.get(o, 0)}{o[0].upper()}" for o in OUTCOMES if tally.get(o, 0))
    return text or "-"


def _middle_truncate(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    keep = width - 1
    head = keep // 2
    return text[:head] + "…" + text[len(text) - (keep - head):]


def summary_lines(health: Mapping, written: Sequence[str | os.PathLike] = ()) -> list[str]:
    """The terminal table shown at the end of a pytest session (≤ 120 columns): one row per
    run (``E_2048/run_01``), one column per check, cells ``5P``/``3P1F1S``/``ERR``
    (P passed, F failed, S skipped, ERR invalid input); a totals row and line; then the
    reports written."""
    runs, cases = health["runs"], health["cases"]
    counts = count(runs, cases)
    checks = list(counts["checks"])
    per_run: dict = {}
    for c in cases:
        t = per_run.setdefault((c["results"], c["run"], c["check"]), {})
        t[c["outcome"]] = t.get(c["outcome"], 0) + 1

    rows = []
    for r in runs:
        key = (r["results"], r["run"])
        if r["outcome"] == "error":
            cells = ["ERR"] * len(checks)
        else:
            cells = [_cell(per_run.get((*key, chk), {})) for chk in checks]
        rows.append((_printable(run_label(*key)), cells))
    total_cells = [_cell(counts["checks"][chk]) for chk in checks]
    headers = [SHORT_NAMES.get(chk, chk[:8]) for chk in checks]
    widths = [max([len(h), len(t)] + [len(cells[i]) for _, cells in rows]) for i, (h, t) in
              enumerate(zip(headers, total_cells))]
    budget = TERMINAL_WIDTH - sum(w + 2 for w in widths)
    label_w = max(5, min(budget, max([len("total")] + [len(lbl) for lbl, _ in rows])))

    def line(label: str, cells: Sequence[str]) -> str:
        return (_middle_truncate(label, label_w).ljust(label_w) + "".join(
            "  " + cell.ljust(w) for cell, w in zip(cells, widths))).rstrip()

    settings = health.get("settings") or {}
    rule = (f"Holm–Bonferroni α = {settings['holm']:g}" if settings.get("holm") is not None
            else f"k = {_num(health.get('sigma'))}σ")
    c, n_runs = counts["cases"], counts["runs"]
    out = [f"dhstats estimator health ({rule})", line("run", headers)]
    out += [line(lbl, cells) for lbl, cells in rows]
    out.append(line("total", total_cells))
    out.append(
        f"{c['total']} cases: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped; "
        f"{n_runs['total']} runs: {n_runs['ok']} ok, {n_runs['error']} invalid"
    )
    out.append("P passed · F failed · S skipped · ERR invalid input (no cases)")
    if written:
        out.append("reports written:")
        out += [f"  {_printable(os.fspath(p))}" for p in written]
    return out


# --------------------------------------------------------------------------- pytest-html summary


def summary_html(health: Mapping, run_page_links: Mapping[str, str] | None = None) -> str:
    """HTML fragment for the pytest-html summary: run sets checked (abs paths), settings,
    counts per check, invalid runs (first message line and first problem) and runs with
    failures, linked to their pages. ``run_page_links`` maps ``E_2048/run_01``
    (:func:`run_label`) to a relative href (e.g. :func:`run_page_relpath`), URL-quoted here."""
    links = dict(run_page_links or {})
    counts = count(health["runs"], health["cases"])

    def run_ref(r: Mapping) -> str:
        label = run_label(r["results"], r["run"])
        text = f"<code>{_e(label)}</code>"
        return f'<a href="{_href(links[label])}">{text}</a>' if label in links else text

    c, n_runs = counts["cases"], counts["runs"]
    out = ['<div class="dhstats-summary">',
           f"<p><b>Estimator health</b>: {c['total']} cases in {n_runs['total']} runs — "
           f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped; "
           f"{n_runs['error']} invalid run{'s' * (n_runs['error'] != 1)}.</p>"]
    out.append("<p>Run sets checked:</p><ul>" + "".join(
        f"<li><code>{_e(p)}</code></li>" for p in health.get("results", [])) + "</ul>")
    settings = health.get("settings") or {"sigma": health.get("sigma")}
    out.append("<p>Settings: " + ", ".join(
        f"<code>{_e(k)}={_e(_setting(v))}</code>" for k, v in settings.items()) + "</p>")
    out.append('<table class="dhstats-counts"><thead><tr><th>check</th><th>passed</th>'
               "<th>failed</th><th>skipped</th></tr></thead><tbody>")
    for chk, t in counts["checks"].items():
        out.append(f"<tr><td><code>{_e(chk)}</code></td><td>{t['passed']}</td>"
                   f"<td>{t['failed']}</td><td>{t['skipped']}</td></tr>")
    out.append("</tbody></table>")

    invalid = [r for r in health["runs"] if r["outcome"] == "error"]
    if invalid:
        out.append("<p>Invalid runs (no checks run):</p><ul>")
        for r in invalid:
            first = (str(r.get("message") or "").splitlines() or [""])[0]
            problems = r.get("problems") or []
            more = f" — first problem: <code>{_e(problems[0])}</code>" if problems else ""
            out.append(f"<li>{run_ref(r)}: {_e(first)}{more}</li>")
        out.append("</ul>")
    failing = []
    for r in health["runs"]:
        if r["outcome"] == "error":
            continue
        bad = [c for c in _cases_of(health, r["results"], r["run"]) if c["outcome"] == "failed"]
        if bad:
            checks = sorted({c["check"] for c in bad}, key=lambda k: (CHECKS + (k,)).index(k))
            failing.append(f"<li>{run_ref(r)}: {len(bad)} failed ({_e(', '.join(checks))})</li>")
    if failing:
        out.append("<p>Runs with failures:</p><ul>" + "".join(failing) + "</ul>")
    out.append("</div>")
    return "\n".join(out)


# --------------------------------------------------------------------------- everything at once


def write_reports(
    reports_dir: str | os.PathLike,
    health: Mapping,
    figures_for: FiguresFor | None = None,
) -> list[Path]:
    """Convenience for the plugin: ``health.json``, ``badges/*.svg`` and the run pages under
    ``reports_dir``; returns every path written (health.json first)."""
    reports_dir = Path(reports_dir)
    written = [write_json_atomic(reports_dir / "health.json", health)]
    written += write_badges(reports_dir / "badges", health)
    written += write_run_pages(reports_dir, health, figures_for)
    return written


__all__ = [
    "SCHEMA", "SHORT_NAMES", "build_health", "count", "dumps_json", "write_json_atomic",
    "badge_colour", "badge_value", "write_badges", "render_run_page", "write_run_pages",
    "needs_page", "run_label", "run_page_relpath", "summary_lines", "summary_html",
    "write_reports",
]

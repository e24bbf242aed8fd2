"""HTML pages rendered from health.json with Jinja2 templates (``dhstats/report/templates/``).

* ``runs/<set>/<run>.html`` (:func:`render_run_page`) for every run with a failure or invalid
  input: failures first, then the figures, then the checks × η table and the other cases;
  each message appears once. Figures arrive as ``(caption, base64 PNG)`` or
  ``(caption, None, note)``; identical notes collapse into one line (a run without
  per-sequence data shows one line, not 15 empty panels). Images are 640 px wide; a click
  enlarges one (CSS ``:target``, no script).
* :func:`render_summary`: the fragment for pytest-html's summary (failures first, invalid runs,
  runs with failures linked, per-check table, pooled run-set verdicts, cross-set figures,
  trend figure).

The Jinja environment autoescapes everything; no hand escaping here. Page names are
sanitised, bounded and unique (:func:`page_path`). No pytest, no matplotlib.
"""
from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import jinja2

from dhstats.verdicts import registry
from dhstats.verdicts import wording
from dhstats.report.against_baseline import change_text, set_lines
from dhstats.report.confidence import run_set_sentence, seen_kind
from dhstats.stats.equivalence import percent
from dhstats.report.findings import set_findings
from dhstats.report.health import OUTCOMES, RunIndex, count, exit_block, reference_set
from dhstats.load.names import safe_name
from dhstats.figures.rendered import Figure

TEMPLATES = Path(__file__).with_name("templates")
MAX_SUMMARY_FAILURES = 100
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BASE_KEYS = {"run_set", "run", "eta", "check", "outcome", "reason", "message", "finding",
              "detail"}  # detail: the message's numbers part (kept for Holm's re-wording), not shown twice


# --------------------------------------------------------------------------- names


def page_path(key) -> str:
    """``runs/<set>/<run>.html`` for a run key (``RunKey`` or ``(run_set, run)``), relative to
    the reports directory; each component by :func:`dhstats.load.names.safe_name` (unique, bounded,
    ``[A-Za-z0-9._-]`` only)."""
    run_set, run = key
    return f"runs/{safe_name(run_set)}/{safe_name(run)}.html"


def needs_page(run: Mapping, cases: Sequence[Mapping]) -> bool:
    """A run gets a page when its input is invalid or any of its cases failed."""
    return run.get("outcome") == "error" or any(c.get("outcome") == "failed" for c in cases)


def page_links(health: Mapping, index: RunIndex | None = None) -> dict[str, str]:
    """``{"E_2048/run_01": "runs/E_2048/run_01.html"}`` for every run that gets a page
    (``index``: :class:`dhstats.report.health.RunIndex` of ``health``, built when not given)."""
    index = RunIndex(health) if index is None else index
    return {f"{r['run_set']}/{r['run']}": page_path((r["run_set"], r["run"])) for r in health["runs"]
            if needs_page(r, index.cases_of(r["run_set"], r["run"]))}


# --------------------------------------------------------------------------- formatting


def num(x) -> str:
    """3 significant digits (:func:`dhstats.verdicts.wording.num`); ``n/a`` for null; dicts and lists element-wise."""
    if isinstance(x, Mapping):
        return ", ".join(f"{k}: {num(v)}" for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(num(v) for v in x) + "]"
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        return wording.num(int(x) if isinstance(x, numbers.Integral) else float(x))
    return wording.num(x)


def eta_label(eta) -> str:
    return "per run" if eta is None else f"η = {eta:g}"


def _pm(c: Mapping, key: str, se: str) -> str | None:
    if c.get(key) is None:
        return None
    return f"{key} = " + (wording.pm(c[key], c[se]) if c.get(se) is not None else num(c[key]))


def headline(c: Mapping) -> list[str]:
    """The few numbers shown in a table cell."""
    chk = c.get("check")
    out = [f"{k} = {num(c[k])}" for k in ("z", "Z") if c.get(k) is not None]
    if c.get("sigma") is not None:
        out.append(f"σ = {num(c['sigma'])}")
    for key, label in registry.BY_NAME[chk].headline if chk in registry.BY_NAME else ():  # the check's own
        if key.endswith("*"):
            out += [f"{label.format(k[len(key) - 1:])} = {num(v)}" for k, v in c.items()
                    if k.startswith(key[:-1]) and v is not None]
        elif c.get(key) is not None:
            out.append(f"{label} = {num(c[key])}")
    if c.get("R") is not None:
        out.append(f"R = {num(c['R'])}")
    ratio = _pm(c, "ratio", "ratio_se")
    out += [ratio] if ratio else []
    if "resolution" in c:  # what the test could see (null: no bias of any size)
        out.append("resolves nothing" if c["resolution"] is None else f"resolves ±{percent(c['resolution'])}")
    return out


def pooled_cell(c: Mapping) -> dict:
    """A run-set table cell: ``headline`` (shown) and ``more`` (on demand). Under --tolerance the
    equivalence is the headline ("1.28 [1.12, 1.45] within 1 ± 0.5: demonstrated") and the
    difference test's Z goes to ``more``; otherwise the usual numbers (:func:`headline`)."""
    band = wording.against_band(c)
    if band is None:
        return {"headline": headline(c), "more": []}
    more = [f"difference test: Z = {num(c['Z'])}"] if c.get("Z") is not None else []
    more += [x for x in headline(c) if not x.startswith(("Z = ", "ratio = "))]
    return {"headline": [band], "more": more}


def case_numbers(c: Mapping) -> list[tuple[str, str]]:
    """Every number of a case (not its base fields nor the σ sources) as ``(key, text)``."""
    return [(k, num(v)) for k, v in c.items() if k not in _BASE_KEYS and not k.endswith("_source")]


def source_notes(c: Mapping) -> list[str]:
    """Provenance the spec asks to show: where σ_G, σ_Q, σ_true and σ come from — unless the
    case's message says it already (the agreement messages do: no line shown twice)."""
    message = str(c.get("message") or "")
    notes = []
    for key, what in (("sigma_g_source", "σ_G"), ("sigma_q_source", "σ_Q")):
        src = c.get(key)
        if isinstance(src, str) and src.startswith("reported") and f"{what} from the producer" not in message:
            notes.append(f"{what} from the producer's reported SE ({src}): reported, unverified.")
    if c.get("sigma_true_source") == "approximate" and "approximate" not in message:
        notes.append("σ_true approximate: no paired per-sequence h_base, so σ_true = η·σ_G to first order.")
    if c.get("sigma_source") == "independent" and "independent" not in message:
        notes.append("σ combines the prediction's and the truth's errors as independent (no paired data).")
    return notes


def collapse_notes(items: Iterable[Mapping]) -> list[dict]:
    """Figures that could not be drawn, one line per distinct note with the captions it covers."""
    out: dict[str, list[str]] = {}
    for f in items:
        out.setdefault(str(f.get("note") or "figure not available"), []).append(str(f.get("caption", "")))
    return [{"note": note, "captions": caps} for note, caps in out.items()]


def normalise_figures(figures: Iterable[Figure]) -> list[dict]:
    """:class:`dhstats.figures.rendered.Figure` → ``{caption, src, note}`` (``src``: the PNG as base64
    for a ``data:`` URI); data that is not PNG bytes becomes a note."""
    out = []
    for f in figures or ():
        caption, data, note = f.caption, f.base64, f.note
        if f.png is not None and not (data and bytes(f.png).startswith(PNG_SIGNATURE)):
            data, note = None, f"figure '{caption}' is not PNG data; omitted"
        out.append({"caption": str(caption), "src": data,
                    "note": note or (None if data else f"figure '{caption}' not available")})
    return out


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=False)
    env.filters.update(notes=collapse_notes)
    return env


def _settings(health: Mapping) -> list[tuple[str, str]]:
    return [(k, "null" if v is None else num(v)) for k, v in (health.get("settings") or {}).items()]


def assumed(settings: Mapping) -> list[str]:
    """What a verdict assumed, in words, for the summary's first lines: k (or Holm), the
    reported-SE convention, the tolerance when there is one."""
    k = settings.get("k", settings.get("sigma"))
    out = []
    if settings.get("holm") is not None:
        out.append(f"Holm–Bonferroni at family-wise α = {num(settings['holm'])} (k not used)")
    else:
        out.append(f"k = {num(k)}: a z-check fails when |z| > {num(k)}; Holm–Bonferroni off")
    conv = settings.get("reported_se")
    if conv is not None:
        out.append("reported SEs: shard-mean, ×num_shards (declared)" if conv == "shard-mean"
                   else "reported SEs: SEs of the total (--reported-se total)")
    tol = settings.get("tolerance")
    if "tolerance" in settings:
        out.append("tolerance: none (difference test only)" if tol is None else
                   f"tolerance ±{wording.percent_of(100 * tol)}: pooled agreement by TOST at α = "
                   f"{num(settings.get('equivalence_alpha'))}")
    if "inifile" in settings:
        out.append("configuration: " + (_shown_path(settings["inifile"]) or "none (defaults and the command line)"))
    return out


def _shown_path(path: str | None) -> str | None:
    """A path as the reader knows it: relative to the working directory (where the session was
    started) when it lies below it, else as recorded (health.json keeps it absolute)."""
    if not path:
        return path
    try:
        rel = Path(path).relative_to(Path.cwd())
    except ValueError:
        return path
    return str(rel)


def _first_line(text, limit: int = 0) -> str:
    """The first line of a message, cut to ``limit`` characters (0: whole) with "…"."""
    line = (str(text or "").splitlines() or [""])[0]
    return line if not limit or len(line) <= limit else line[:limit - 1].rstrip() + "…"


def _group_key(c: Mapping) -> tuple[str, str]:
    """Failures share a finding when a check named the same cause (``finding``), or when they
    are of one check and their first lines say the same after the rule (``|z| = 5.1 > k = 3: …``)."""
    if c.get("finding") in wording.FINDINGS:
        return ("finding", c["finding"])
    if c.get("run") is None and c["check"] in {p.name for p in registry.pooled()}:  # one table for the pooled failures
        return ("pooled", "tolerance" if c.get("tolerance") is not None else "")
    head = wording.headline_of(c.get("message"))
    rule, sep, meaning = head.partition(": ")
    return (c["check"], meaning if sep and any(ch.isdigit() for ch in rule) else head)


def findings(failed: Sequence[Mapping], links: Mapping[str, str]) -> list[dict]:
    """Failures grouped by shared cause (:func:`_group_key`), each said once: the finding's
    headline, then its cases (where, η, the key numbers, the detail on demand). Findings named
    by a check first, then larger groups, then in the order given."""
    groups: dict[tuple, list[Mapping]] = {}
    for c in failed:
        groups.setdefault(_group_key(c), []).append(c)
    out = []
    for (kind, text), cases in groups.items():
        pooled = kind == "pooled"
        if kind == "finding":
            head, strip = wording.finding_headline(text, cases), True
        elif pooled:  # each case's own first line (its interval and reason), one header for all
            head, strip = _pooled_headline(cases), False
        elif len(cases) > 1 and text != wording.headline_of(cases[0].get("message")):
            head, strip = f"{_who(cases)} ({registry.BY_NAME[kind].title}): {text}", True
        else:
            head, strip = None, False  # a case of its own: its first line is the finding
        rows = []
        for c in cases:
            first = "" if strip else wording.headline_of(c.get("message"))  # else the numbers say it
            band = wording.against_band(c) if pooled else None
            rows.append({"label": _label(c), "href": links.get(_label(c)), "check": c["check"],
                         "title": registry.BY_NAME[c["check"]].title, "eta": wording.eta(c["eta"]) if c["eta"] is not None
                         else "per run", "first_line": first, "numbers": headline(c) if strip else [band] if band else [],
                         "detail": wording.detail_of(c.get("message"))})
        out.append({"headline": head, "cases": rows, "named": kind == "finding", "why": not strip})
    out.sort(key=lambda g: (not g["named"], -len(g["cases"]) if g["headline"] else 0))  # stable: run sets first
    return out


def _pooled_headline(cases: Sequence[Mapping]) -> str:
    """``6 pooled cases failed (run sets E_2048): agreement within 1 ± 0.3 judged by TOST`` —
    said once above the one table of pooled failures."""
    sets = ", ".join(dict.fromkeys(str(c["run_set"]) for c in cases))
    tol = next((c["tolerance"] for c in cases if c.get("tolerance") is not None), None)
    how = (f": agreement within 1 ± {tol:g} judged by TOST (interval of the pooled ratio against the band)"
           if tol is not None else ": Stouffer's Z of the runs' z at each η")
    return f"{wording.plural(len(cases), 'pooled case')} failed ({sets}){how}"


def _who(cases: Sequence[Mapping]) -> str:
    runs = {(c["run_set"], c["run"]) for c in cases if c["run"] is not None}
    return wording.plural(len(cases), "case") + (f" in {wording.plural(len(runs), 'run')}" if runs else "")


def _check_order() -> dict[str, int]:
    return {n: i for i, n in enumerate(registry.NAMES)}


# --------------------------------------------------------------------------- run page


def problem_text(p: Mapping) -> str:
    """An input problem of health.json (``runs[].problems[]``) as one line: file, JSON path, message."""
    where = f"{p.get('file')}: {p['json_path']}" if p.get("json_path") else str(p.get("file"))
    return f"{where}: {p.get('message')}"


def render_run_page(health: Mapping, key, figures=(), index: RunIndex | None = None,
                    report: str | None = None) -> str:
    """One self-contained page (inline CSS, data-URI images, no script) for the run ``key``
    (``index``: :class:`dhstats.report.health.RunIndex` of ``health``, built when not given: a
    caller rendering many pages builds it once). ``report``: the session's report page
    (relative to the reports directory, e.g. ``report.html``), linked back from the top."""
    run_set, name = key
    index = RunIndex(health) if index is None else index
    run = index.run(run_set, name)
    if run is None:
        raise KeyError(f"run {run_set}/{name} is not in health.json")
    cases = index.cases_of(run_set, name)
    order = _check_order()
    ordered = sorted(cases, key=lambda c: (order[c["check"]], c["eta"] is None, c["eta"] or 0.0))
    views = []
    for i, c in enumerate(ordered):
        views.append({**c, "anchor": f"case-{i + 1}", "where": eta_label(c["eta"]),
                      "title": registry.BY_NAME[c["check"]].title, "headline": headline(c),
                      "numbers": case_numbers(c), "notes": source_notes(c)})
    etas = sorted({c["eta"] for c in cases if c["eta"] is not None})
    columns = [{"eta": e, "label": eta_label(e)} for e in etas]
    if any(c["eta"] is None for c in cases):
        columns.append({"eta": None, "label": "per run"})
    cell = {}
    for v in views:
        cell.setdefault((v["check"], v["eta"]), v)
    rows = [{"check": chk.name, "title": chk.title, "cells": [cell.get((chk.name, col["eta"])) for col in columns]}
            for chk in registry.CHECKS if any(c["check"] == chk.name for c in cases)]
    rank = {"failed": 0, "skipped": 1, "passed": 2}
    others = sorted((v for v in views if v["outcome"] != "failed"), key=lambda v: rank[v["outcome"]])
    message = str(run.get("message") or "")
    problems = [problem_text(p) for p in run.get("problems") or []]
    return environment().get_template("run_page.html").render(
        label=f"{run_set}/{name}", run=run, invalid=run.get("outcome") == "error",
        first_line=_first_line(message), rest="\n".join(message.splitlines()[1:]), problems=problems,
        n={o: sum(c["outcome"] == o for c in cases) for o in OUTCOMES}, cases=cases,
        failed=[v for v in views if v["outcome"] == "failed"], others=others, columns=columns, rows=rows,
        figures=normalise_figures(figures), settings=_settings(health), generated=health.get("generated"),
        back=None if report is None else "../" * page_path(key).count("/") + report,
    )


# --------------------------------------------------------------------------- summary


def _label(c: Mapping) -> str:
    return f"{c['run_set']}/{c['run']}" if c["run"] is not None else f"{c['run_set']} (pooled)"


def _run_sets_view(health: Mapping, index: RunIndex) -> tuple[list[dict], list[dict]]:
    per_eta = list(registry.POOLED)
    views = []
    reference = reference_set(health)
    for s in health.get("run_sets", []):
        set_cases = index.cases_of(s["name"], None)
        if not set_cases:
            continue
        etas = sorted({c["eta"] for c in set_cases if c["eta"] is not None})
        cell = {(c["check"], c["eta"]): {**c, **pooled_cell(c)} for c in set_cases}
        rows = [{"eta": f"{e:g}", "cells": [cell.get((chk.name, e)) for chk in per_eta]} for e in etas]
        whole = [c for c in set_cases if c["eta"] is None]
        views.append({"name": s["name"], "E": num(s.get("E")), "runs": num(s.get("runs")), "rows": rows,
                      "whole": whole, "reference": s["name"] == reference})
    return views, [{"name": c.name, "title": c.title} for c in per_eta]


def render_summary(health: Mapping, links: Mapping[str, str] | None = None, cross_set=(), trend=(),
                   finding_figures: Mapping[str, Figure] | None = None, against=()) -> str:
    """HTML fragment for the pytest-html summary. ``links`` maps ``"E_2048/run_01"`` to a
    relative href (default :func:`page_links`); ``cross_set`` and ``trend`` are figures
    (:class:`dhstats.figures.rendered.Figure`) drawn by :mod:`dhstats.figures.gallery`. First come the
    findings of the failing run sets (:func:`dhstats.report.findings.set_findings`), each with its
    figure from ``finding_figures`` (run set → Figure) when given; ``against`` is the figure of
    the comparison with a baseline (section "Against the baseline", with its lines and the
    outcome changes: :mod:`dhstats.report.against_baseline`)."""
    index = RunIndex(health)
    links = page_links(health, index) if links is None else dict(links)
    counts = health.get("counts") or count(health["runs"], health["cases"])
    order = _check_order()
    failed = sorted((c for c in health["cases"] if c["outcome"] == "failed"),
                    key=lambda c: (c["run"] is not None, order[c["check"]]))
    failures = findings(failed[:MAX_SUMMARY_FAILURES], links)
    invalid = [{"label": f"{r['run_set']}/{r['run']}", "href": links.get(f"{r['run_set']}/{r['run']}"),
                "first_line": _first_line(r.get("message")), "problem": next(map(problem_text, r.get("problems") or []), None)}
               for r in health["runs"] if r["outcome"] == "error"]
    checks = [{"name": n, "title": registry.BY_NAME[n].title, **counts["checks"][n]} for n in registry.NAMES
              if n in counts["checks"]]  # the checks against a baseline: only in a session with one
    run_sets, pooled_checks = _run_sets_view(health, index)
    figs = finding_figures or {}
    found = [{"sentence": f.sentence, "figures": normalise_figures([figs[f.run_set]] if f.run_set in figs else [])}
             for f in set_findings(health)]
    return environment().get_template("summary.html").render(
        set_findings=found, seen=[{"text": run_set_sentence(health, s), "kind": seen_kind(health, s)} for s in health.get("run_sets", [])],
        confidence=health.get("confidence"),
        exit=health.get("exit") or exit_block(counts), counts=counts, failures=failures,
        more_failures=max(0, len(failed) - MAX_SUMMARY_FAILURES), invalid=invalid,
        checks=checks, run_sets=run_sets, pooled_checks=pooled_checks, cross_set=normalise_figures(cross_set),
        trend=normalise_figures(trend), omitted=health.get("figures_omitted", []),
        paths=[s.get("path") for s in health.get("run_sets", [])], settings=_settings(health),
        assumed=assumed(health.get("settings") or {}),
        baseline=_baseline_view(health), against=normalise_figures(against),
    )


def _baseline_view(health: Mapping) -> dict | None:
    """Section "Against the baseline": its lines (one per matched set) and the outcome changes."""
    if not health.get("baseline"):
        return None
    lines = set_lines(health)
    changes = health["baseline"].get("changes") or []
    return {"head": lines[0], "sets": [ln.strip() for ln in lines[1:] if not ln.startswith("  outcome changes")
                                       and not ln.startswith("    ")],
            "changes": [change_text(c) for c in changes[:MAX_SUMMARY_FAILURES]],
            "more_changes": max(0, len(changes) - MAX_SUMMARY_FAILURES), "n_changes": len(changes),
            "new_failures": sum(c["outcome"] == "failed" for c in changes)}


__all__ = ["assumed", "environment", "findings", "headline", "needs_page", "normalise_figures", "num", "page_links",
           "page_path", "problem_text", "render_run_page", "render_summary"]

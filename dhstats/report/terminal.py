"""The gate's terminal summary (printed last by the plugin, ≤ 120 columns but the one sentence
per run set on what a pass is worth, :func:`dhstats.report.confidence.run_set_sentence`), from health.json.

Runs × checks table for the per-run checks (column headers: :attr:`Check.short` of the
registry), cells ``5P`` / ``3P1F1S`` / ``ERR``; one line per run set with the pooled verdicts
per η and ``se_scaling``; under ``--baseline`` one line per matched run set and the outcome
changes (:func:`dhstats.report.against_baseline.set_lines`); totals in the same words as health.json's counts ("passed, failed,
skipped" cases, "invalid runs") and the exit summary last, where the eye lands.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path
from collections.abc import Mapping, Sequence

from dhstats.verdicts import registry
from dhstats.report.against_baseline import set_lines
from dhstats.report.confidence import run_set_sentence
from dhstats.report.findings import set_findings
from dhstats.report.health import OUTCOMES, RunIndex, count, exit_block, reference_set
from dhstats.verdicts.wording import against_band, plural

WIDTH = 120


def printable(text) -> str:
    """No control characters: escape sequences in a directory name must not drive the terminal."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


def cell(tally: Mapping) -> str:
    """``5P`` / ``3P1F1S`` (zero counts omitted; ``-`` when there is no case)."""
    return "".join(f"{tally[o]}{o[0].upper()}" for o in OUTCOMES if tally.get(o, 0)) or "-"


def middle_truncate(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def _fit(line: str) -> str:
    return line if len(line) <= WIDTH else line[:WIDTH - 1] + "…"


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.3g}" if isinstance(x, float) else str(x)


def run_table(health: Mapping) -> list[str]:
    """Rows ``E_2048/run_01  5P  3P1F1S …`` for every run; ``ERR`` cells for invalid input."""
    checks = [c for c in registry.CHECKS if c.scope != registry.Scope.RUN_SET]
    per_run: dict = {}
    for c in health["cases"]:
        if c["run"] is not None:
            t = per_run.setdefault((c["run_set"], c["run"], c["check"]), {})
            t[c["outcome"]] = t.get(c["outcome"], 0) + 1
    rows = []
    for r in health["runs"]:
        key = (r["run_set"], r["run"])
        cells = (["ERR"] * len(checks) if r["outcome"] == "error"
                 else [cell(per_run.get((*key, c.name), {})) for c in checks])
        rows.append((printable(f"{r['run_set']}/{r['run']}"), cells))
    counts = health.get("counts") or count(health["runs"], health["cases"])
    totals = [cell(counts["checks"][c.name]) for c in checks]
    headers = [c.short for c in checks]
    widths = [max([len(h), len(t)] + [len(cells[i]) for _, cells in rows]) for i, (h, t) in
              enumerate(zip(headers, totals))]
    label_w = max(5, min(WIDTH - sum(w + 2 for w in widths), max([5] + [len(lbl) for lbl, _ in rows])))

    def line(label: str, cells: Sequence[str]) -> str:
        return (middle_truncate(label, label_w).ljust(label_w)
                + "".join("  " + c.ljust(w) for c, w in zip(cells, widths))).rstrip()

    return [line("run", headers)] + [line(lbl, cells) for lbl, cells in rows] + [line("total", totals)]


def pooled_line(cases: Sequence[Mapping]) -> str:
    """``4/5 passed · 1 skipped · max |Z| 0.98 at η=6.4e-06`` or, with failures, the failing η
    and their Z first: ``failed at η=1.6e-06 (Z=4.1), … · 3/5 passed``."""
    n = {o: sum(c["outcome"] == o for c in cases) for o in OUTCOMES}
    judged = n["passed"] + n["failed"]
    parts = [f"{n['passed']}/{judged} passed"] + ([f"{n['skipped']} skipped"] if n["skipped"] else [])
    zs = [c for c in cases if isinstance(c.get("Z"), (int, float))]
    if n["failed"]:
        bad = ", ".join(f"η={c['eta']:.3g} (Z={_num(c.get('Z'))})" for c in cases if c["outcome"] == "failed")
        return f"failed at {bad} · " + " · ".join(parts)
    if zs:
        worst = max(zs, key=lambda c: abs(c["Z"]))
        parts.append(f"max |Z| {abs(worst['Z']):.3g} at η={worst['eta']:.3g}")
    return " · ".join(parts)


def tolerance_lines(label: str, cases: Sequence[Mapping]) -> list[str]:
    """Under --tolerance the equivalence is the headline: ``E_2048 pool-lin: 2 of 3 η
    demonstrated within 1 ± 0.5 (TOST)``, then one line per η with the interval against the
    band (:func:`dhstats.verdicts.wording.against_band`); the difference test's Z is in the detail."""
    tol = next(c["tolerance"] for c in cases if c.get("tolerance") is not None)
    judged = [c for c in cases if c["outcome"] != "skipped"]
    shown = sum(c["outcome"] == "passed" for c in judged)
    out = [f"{label}: {shown} of {len(judged)} η demonstrated within 1 ± {tol:g} (TOST)"]
    for c in cases:
        text = against_band(c) if c["outcome"] != "skipped" else None
        out.append(f"  η={c['eta']:.3g}: " + (text or f"{c['outcome']} ({c.get('reason')})"))
    return out


def run_set_lines(health: Mapping) -> list[str]:
    """One line per run set and run-set check: ``E_256 pool-lin: 5/5 passed · max |Z| 0.78 …``;
    ``se_scaling``: its outcome and σ ratio."""
    out, index = [], RunIndex(health)
    for s in health.get("run_sets", []):
        name = s["name"]
        for chk in registry.CHECKS:
            if chk.scope != registry.Scope.RUN_SET or chk.baseline:  # against_baseline.set_lines
                continue
            cases = sorted((c for c in index.cases_of(name, None) if c["check"] == chk.name),
                           key=lambda c: c["eta"] or 0.0)
            if not cases and not chk.per_eta and reference_set(health) == name:
                out.append(printable(f"{name} {chk.short}: ") + "reference set (largest E), not a case")
                continue
            if not cases:
                continue
            if chk.per_eta and any(c.get("tolerance") is not None for c in cases):
                out += tolerance_lines(printable(f"{name} {chk.short}"), cases)
                continue
            if chk.per_eta:
                text = pooled_line(cases)
            else:
                text = " · ".join(c["outcome"] + (f" (σ ratio {_num(c.get('ratio_sigma_g'))})"
                                                  if c.get("ratio_sigma_g") is not None else "") for c in cases)
            out.append(printable(f"{name} {chk.short}: ") + text)
    return out




def _written(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Files in the reports directory one per line; ``runs/`` and ``badges/`` as counts."""
    paths = [Path(p) for p in paths]
    out, grouped = [], {}
    for p in paths:
        parent = p.parent.parent if p.parent.parent.name == "runs" else p.parent
        if parent.name in ("runs", "badges"):
            grouped.setdefault(parent, []).append(p)
        else:
            out.append(printable(os.fspath(p)))
    for directory, files in grouped.items():
        kind = "run page" if directory.name == "runs" else "badge"
        out.append(f"{printable(os.fspath(directory))}/ ({plural(len(files), kind)})")
    return out


def summary_lines(health: Mapping, written: Sequence[str | os.PathLike] = ()) -> list[str]:
    """Everything the plugin prints at the very end: title, runs × checks table, run-set
    verdicts, reports written, totals and the exit summary (last)."""
    counts = health.get("counts") or count(health["runs"], health["cases"])
    settings = health.get("settings") or {}
    rule = (f"Holm–Bonferroni α = {settings['holm']:g}" if settings.get("holm") is not None
            else f"|z| ≤ {_num(health.get('k'))}")
    out = [f"dhstats estimator health ({rule})"]
    html = any(Path(p).name == "report.html" for p in written)
    paths = {s["name"]: s.get("path") or s["name"] for s in health.get("run_sets", [])}
    found = set_findings(health)
    if found:  # first: what is wrong in each failing run set, and the figure that shows it
        out.append(f"{plural(len(found), 'finding')} (one per failing run set):")
        for f in found:  # wrapped, never cut: the sentence is the point
            out += textwrap.wrap(printable(f.sentence), WIDTH, subsequent_indent="  ", break_on_hyphens=False)
            out += textwrap.wrap(printable(f"see the figure '{f.figure_caption}' " + (
                "at the top of report.html" if html else
                f"(no report.html in this session; draw it with: dhstats plot --results "
                f"{paths.get(f.run_set, f.run_set)} --figure {f.figure})")), WIDTH, initial_indent="  ",
                                 subsequent_indent="    ", break_on_hyphens=False)
    out += run_table(health)
    out.append("P passed · F failed · S skipped · ERR invalid run (input unusable, no cases)")
    pooled = run_set_lines(health)
    if pooled:
        out += ["run sets (pooled over runs):"] + [_fit("  " + ln) for ln in pooled]
    out += [printable(line) for line in set_lines(health)]  # one line per matched set, not cut
    seen = [printable(run_set_sentence(health, s)) for s in health.get("run_sets", [])]
    if seen:  # one line each, not cut: the sentence is the point
        out += ["what a pass is worth (bias detected with 80 % power):"] + seen
    if written:
        out.append("reports written:")
        out += [_fit("  " + line) for line in _written(written)]
    c, r = counts["cases"], counts["runs"]
    index = RunIndex(health)
    reference = reference_set(health)  # a test pytest skips, not a case
    across = [c.name for c in registry.ACROSS_SETS]
    ref = reference is not None and not any(c["check"] in across for c in index.cases_of(reference, None))
    tests = [plural(c["total"], "case"), plural(r["total"], "input test") + ", one per run"]
    tests += [f"the {' / '.join(across)} reference"] if ref else []
    out.append(f"pytest ran {c['total'] + r['total'] + ref} tests = {' + '.join(tests)}")
    out.append(f"{plural(c['total'], 'case')}: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped; "
               f"{plural(r['total'], 'run')}: {r['ok']} valid, {r['error']} invalid")
    ex = health.get("exit") or exit_block(counts)
    low = " · low resolution" if ex["status"] == 0 and health.get("confidence") == "low_resolution" else ""
    out.append(f"dhstats gate: {ex['summary']}{low} (exit status {ex['status']})")
    return out


__all__ = ["WIDTH", "cell", "pooled_line", "printable", "run_set_lines", "run_table", "summary_lines"]

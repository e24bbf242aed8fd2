"""The comparison with a baseline in the session's outputs (checks.md, "Comparison with a
baseline"): health.json's ``baseline`` block, one terminal line per matched run set, the
outcome changes and the ``baseline.svg`` badge's words — all from health.json's cases and the
block, never from verdict objects. Judging is :mod:`dhstats.verdicts.baseline`.

    "baseline": {"source": PATH, "kind": "results" | "health", "matched": {set: set},
                 "unmatched": [{"run_set", "side"}], "changes": [{"run_set", "baseline_run_set",
                 "run", "eta", "check", "baseline_outcome", "outcome", "baseline_reason", "reason"}]}
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from dhstats.verdicts import registry
from dhstats.verdicts.baseline import outcome_changes
from dhstats.verdicts.wording import num

CHANGES_SHOWN = 10  # outcome changes listed in the terminal (all are in health.json)


def block(source: Mapping, matched: Mapping[str, str], unmatched: Sequence[Mapping], cases: Sequence[Mapping],
          baseline_cases: Sequence[Mapping] | None) -> dict:
    """health.json's ``baseline``: ``source`` is ``{"source", "kind"}``; ``baseline_cases``
    None when they were not read (an interrupted session): no ``changes`` then."""
    out = {**source, "matched": dict(matched), "unmatched": [dict(u) for u in unmatched]}
    if baseline_cases is not None:
        comparisons = {c.name for c in registry.baseline_checks()}
        out["changes"] = outcome_changes(cases, baseline_cases, matched, comparisons)
    return out


def _ratio_words() -> dict[str, str]:
    """Each check of a pooled ratio against the baseline → its estimator's word (registry order)."""
    return {c.name: c.estimator.word for c in registry.ratio_comparisons()}


def _worst_resolution(cases: Sequence[Mapping]) -> float | None:
    values = [math.inf if c.get("resolution") is None else c["resolution"] for c in cases
              if c["check"] in _ratio_words() and "resolution" in c and c["outcome"] != "skipped"]
    return max(values) if values else None


def _pm(x) -> str:
    return "±∞" if x is None or (isinstance(x, float) and math.isinf(x)) else f"±{num(x, 2)}"


def _estimator_text(word: str, cases: Sequence[Mapping]) -> str:
    if not cases:
        return f"{word} no η on both sides"
    moved = [c for c in cases if c["outcome"] == "failed"]
    skipped = [c for c in cases if c["outcome"] == "skipped"]
    if moved:
        worst = max(moved, key=lambda c: abs(c.get("z") or 0.0))
        what = {"moved": "moved", "moved_beyond_tolerance": "moved beyond the tolerance",
                "not_demonstrated": "no move beyond the tolerance not demonstrated"}.get(worst.get("reason"),
                                                                                        worst.get("reason"))
        shift = (f"{num(worst['baseline_ratio'])} → {num(worst['ratio'])}, z = {num(worst.get('z'), 2)}"
                 if worst.get("ratio") is not None and worst.get("baseline_ratio") is not None else "")
        return f"{word} {what} at {len(moved)}/{len(cases)} η (worst η={worst['eta']:.3g}: {shift})"
    text = f"{word} no move at {len(cases) - len(skipped)}/{len(cases)} η"
    res = _worst_resolution(cases)
    if res is not None:
        text += f" (a move under {_pm(res)} unseen)"
    if skipped:
        text += f", {len(skipped)} inconclusive"
    return text


def set_lines(health: Mapping) -> list[str]:
    """One line per matched run set, ``unmatched`` named, then the outcome changes (new
    failures first, at most :data:`CHANGES_SHOWN`)."""
    base = health.get("baseline")
    if not base:
        return []
    out = [f"against the baseline ({base['kind']}: {base['source']}):"]
    mine = [c for c in health["cases"] if c["check"] in {b.name for b in registry.baseline_checks()}]
    efficiency = {b.name for b in registry.baseline_checks() if b.estimator is None}
    for cand, theirs in base["matched"].items():
        parts = []
        for check, word in _ratio_words().items():
            cases = sorted((c for c in mine if c["check"] == check and c["run_set"] == cand), key=lambda c: c["eta"])
            parts.append(_estimator_text(word, cases))
        eff = [c for c in mine if c["check"] in efficiency and c["run_set"] == cand]
        if eff:
            e = eff[0]
            ratios = [(abs(math.log(r)), f"{label} ×{num(r)}") for label, key in (("σ_G", "ratio_sigma_g"),
                                                                                 ("σ_true", "ratio_sigma_true"))
                      if isinstance(r := e.get(key), (int, float)) and r > 0]
            parts.append(f"σ·√E {e['outcome']}" + (f" ({max(ratios)[1]})" if ratios else ""))
        out.append(f"  {cand} vs {theirs}: " + " · ".join(parts))
    for u in base.get("unmatched", ()):
        out.append(f"  {u['run_set']} ({u['side']}): no run set to compare with on the other side")
    changes = base.get("changes") or []
    if changes:
        new = sum(c["outcome"] == "failed" for c in changes)
        out.append(f"  outcome changes: {len(changes)} ({new} new failure{'s' * (new != 1)})")
        for c in changes[:CHANGES_SHOWN]:
            out.append("    " + change_text(c))
        if len(changes) > CHANGES_SHOWN:
            out.append(f"    … {len(changes) - CHANGES_SHOWN} more in health.json (baseline.changes)")
    elif "changes" in base:
        out.append("  outcome changes: none")
    return out


def change_text(c: Mapping) -> str:
    """``new failure: E_512/run_01 linear_agreement η=1.6e-06: passed → failed``."""
    kind = "new failure" if c["outcome"] == "failed" else "fixed" if c["baseline_outcome"] == "failed" else "changed"
    where = "/".join([c["run_set"]] + ([c["run"]] if c.get("run") else []))
    eta = f" η={c['eta']:.3g}" if c.get("eta") is not None else ""
    return f"{kind}: {where} {c['check']}{eta}: {c['baseline_outcome']} → {c['outcome']}"


def badge_words(health: Mapping) -> tuple[str, str]:
    """``(value, colour)`` of ``baseline.svg``, colour one of green, red, amber, grey: "no
    baseline" (grey); "moved: linear +0.57" (red: the largest move, signed); "no move · ±0.52"
    (the worst resolution; amber when worse than ``resolution_warn``); "inconclusive" (grey)."""
    base = health.get("baseline")
    if not base:
        return "no baseline", "grey"
    mine = [c for c in health["cases"] if c["check"] in {b.name for b in registry.baseline_checks()}]
    if not mine:
        return "no matched run set", "grey"
    failed = [c for c in mine if c["outcome"] == "failed"]
    words = _ratio_words()
    moved = [c for c in failed if c["check"] in words and c.get("ratio") is not None
             and c.get("baseline_ratio") is not None]
    if moved:
        worst = max(moved, key=lambda c: abs(c["ratio"] - c["baseline_ratio"]))
        d = worst["ratio"] - worst["baseline_ratio"]
        word = words[worst["check"]]
        label = {"not_demonstrated": "not demonstrated"}.get(worst.get("reason"), "moved")
        return f"{label}: {word} {d:+.2g}".replace("-", "−"), "red"
    if failed:
        return f"{len(failed)} failed", "red"
    judged = [c for c in mine if c["outcome"] == "passed"]
    if not judged:
        return "inconclusive", "grey"
    res = _worst_resolution(mine)
    warn = (health.get("settings") or {}).get("resolution_warn", 0.5)
    tol = (health.get("settings") or {}).get("baseline_tolerance")
    value = f"no move beyond ±{tol:g}" if tol is not None else f"no move · {_pm(res)}"
    return value, "amber" if tol is None and (res is None or res > warn) else "green"


__all__ = ["CHANGES_SHOWN", "badge_words", "block", "change_text", "set_lines"]

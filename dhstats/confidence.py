"""What a green is worth, from health.json's cases (checks.md, "Resolution and equivalence",
"Honest colours"): each run set's resolution per estimator, which checks are *low resolution*,
the session's ``confidence`` and one sentence per run set on what the gate could not see.

* A run set's resolution for an estimator: the median over η of its pooled cases'
  ``resolution`` (a pooled case of one run carries that run's); ``null`` in a case means ∞.
* A check is low resolution when none of its cases failed and either its best resolution
  — its own pooled cases (``pooled_*``) or, for a per-run agreement check, its pooled
  counterpart's where they exist, else its per-run cases; the median over η, the worst run
  set — is worse than ``resolution_warn``, or more than half of its cases skipped.
* ``confidence``: ``failed`` (exit status ≠ 0) | ``partial`` (cases were deselected: ``-k``,
  ``-m``, ``--deselect``; a deselected case is not a passed one) | ``low_resolution`` (some
  check) | ``resolved``.

Renders nothing: badges, pages and the terminal read these words.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from . import registry
from .equivalence import about, percent, scale_to_resolve

ESTIMATORS = {e.name: (e.case, e.pooled) for e in registry.ESTIMATORS}  # "linear": (per-run, pooled check)
POOLED_OF = {run: pooled for run, pooled in ESTIMATORS.values()} | {p: p for _, p in ESTIMATORS.values()}
DEFAULT_WARN = 0.5


def _resolution(case: Mapping) -> float | None:
    """A case's resolution; ∞ for a stated null (Σ ΔH_true/σ = 0); None when it has none."""
    if "resolution" not in case:
        return None
    r = case["resolution"]
    return math.inf if r is None else float(r)


def _median(values: Sequence[float]) -> float | None:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else None


def _set_check_resolution(cases: Sequence[Mapping], run_set: str, check: str) -> float | None:
    """Median over η of the cases of ``check`` in ``run_set`` (per-run cases: median over runs
    at each η first)."""
    by_eta: dict = {}
    for c in cases:
        if c["run_set"] == run_set and c["check"] == check and c.get("eta") is not None:
            r = _resolution(c)
            if r is not None:
                by_eta.setdefault(c["eta"], []).append(r)
    return _median([_median(rs) for rs in by_eta.values()])


def set_resolution(cases: Sequence[Mapping], run_set: str) -> dict[str, float]:
    """{"linear": r, "linquad": r} of one run set: median over η of its pooled cases (its
    per-run cases when it has no pooled case with a resolution); an estimator without any
    case with a resolution is left out (in health.json null then means ∞)."""
    out = {}
    for name, (per_run, pooled) in ESTIMATORS.items():
        r = _set_check_resolution(cases, run_set, pooled)
        r = r if r is not None else _set_check_resolution(cases, run_set, per_run)
        if r is not None:
            out[name] = r
    return out


def check_resolution(cases: Sequence[Mapping], check: str) -> float | None:
    """The best resolution of an agreement check (module docstring): worst run set."""
    if check not in POOLED_OF:
        return None
    sets = sorted({c["run_set"] for c in cases if c["check"] == check})
    values = []
    for s in sets:
        r = _set_check_resolution(cases, s, POOLED_OF[check])
        values.append(r if r is not None else _set_check_resolution(cases, s, check))
    values = [v for v in values if v is not None]
    return max(values) if values else None


def low_resolution(health: Mapping, check: str) -> str | None:
    """Why a check that failed nothing is low resolution ("resolves ±190 %", "32 of 40
    inconclusive"), or None when it is not (or when a case failed: red says more)."""
    mine = [c for c in health["cases"] if c["check"] == check]
    if not mine or any(c["outcome"] == "failed" for c in mine):
        return None
    warn = (health.get("settings") or {}).get("resolution_warn", DEFAULT_WARN)
    why = []
    r = check_resolution(health["cases"], check)
    if r is not None and r > warn:
        why.append(f"resolves ±{percent(r)}")
    skipped = [c for c in mine if c["outcome"] == "skipped"]
    if 2 * len(skipped) > len(mine):
        word = "inconclusive" if all(c.get("reason") == "inconclusive" for c in skipped) else "skipped"
        why.append(f"{len(skipped)} of {len(mine)} {word}")
    return " · ".join(why) or None


def confidence(health: Mapping, checks: Sequence[str]) -> str:
    """``failed`` | ``partial`` | ``low_resolution`` | ``resolved`` (module docstring)."""
    if (health.get("exit") or {}).get("status", 0) != 0:
        return "failed"
    if (health.get("counts") or {}).get("deselected"):
        return "partial"
    return "low_resolution" if any(low_resolution(health, c) for c in checks) else "resolved"


def _worst(run_set: Mapping) -> float | None:
    """The worse estimator's resolution of a run_sets entry (null: ∞); None without any."""
    values = [math.inf if r is None else r for r in (run_set.get("resolution") or {}).values()]
    return max(values) if values else None


def seen_kind(health: Mapping, run_set: Mapping) -> str:
    """``failed`` (a case of the set failed) | ``low`` (its resolution is worse than
    ``resolution_warn``, or unknown) | ``resolved``: how a run set's sentence is coloured."""
    if any(c["outcome"] == "failed" for c in health["cases"] if c["run_set"] == run_set["name"]):
        return "failed"
    res, warn = _worst(run_set), (health.get("settings") or {}).get("resolution_warn", DEFAULT_WARN)
    return "low" if res is None or res > warn else "resolved"


def run_set_sentence(health: Mapping, run_set: Mapping) -> str:
    """One sentence on what the gate could and could not see in a run set: "E_256: no
    disagreement found, but a bias under ±190 % would go unseen; ≈ 58 runs, or E ≈ 3 700 at 4
    runs, would resolve ±50 %" (resolution: the worse estimator's)."""
    name = run_set["name"]
    cases = [c for c in health["cases"] if c["run_set"] == name]
    failed = sum(c["outcome"] == "failed" for c in cases)
    warn = (health.get("settings") or {}).get("resolution_warn", DEFAULT_WARN)
    res = _worst(run_set)
    tol = (health.get("settings") or {}).get("tolerance")
    head = f"{name}: {failed} case{'s' * (failed != 1)} failed" if failed else f"{name}: no disagreement found"
    if res is None:
        return f"{head}; no agreement case could be judged, so its resolution is unknown"
    if tol is not None:
        pooled = [c for c in cases if c["check"] in POOLED_OF.values() and c["outcome"] != "skipped"]
        shown = sum(c["outcome"] == "passed" for c in pooled)
        head += f"; agreement within ±{percent(tol)} demonstrated in {shown} of {len(pooled)} pooled cases"
    if res <= warn:
        return f"{head}; a bias of ±{percent(res)} or more would have been detected (80 % power)"
    if math.isinf(res):
        return f"{head}, but no bias of any size could be seen (Σ ΔH_true/σ = 0)"
    text = f"{head}, but a bias under ±{percent(res)} would go unseen"
    factor = scale_to_resolve(res, warn)
    runs, e = run_set.get("runs"), run_set.get("E")
    if isinstance(runs, int) and runs > 0:
        more = f"≈ {about(math.ceil(runs * factor))} runs"
        if isinstance(e, (int, float)) and e > 0:
            more += f", or E ≈ {about(e * factor)} at {runs} run{'s' * (runs != 1)},"
        text += f"; {more} would resolve ±{percent(warn)}"
    return text

"""What a green is worth, from health.json's cases (checks.md, "Resolution and equivalence",
"Honest colours"): each run set's resolution per estimator, which checks are *low resolution*,
the session's ``confidence`` and one sentence per run set on what the gate could not see.

* A run set's resolution for an estimator: the **worst** η of its pooled cases' ``resolution``
  (a pooled case of one run carries that run's; without pooled cases, the median over runs of
  its per-run cases at each η, then the worst η), and that η (``resolution_eta``). ``null``
  in a case means ∞. A median over η would hide an η where the prediction is 10× off under an
  inflated σ.
* A check is low resolution when none of its cases failed and either its resolution — its
  own pooled cases (``pooled_*``) or, for a per-run agreement check, its pooled counterpart's
  where they exist, else its per-run cases; the worst η, the worst run set — is worse than
  ``resolution_warn``, or more than half of its cases skipped.
* Faint runs: a run carrying less than 5 % of Σ_r (ΔH_true,r/σ_1,r)² at the η and estimator
  that decide the set's resolution adds almost nothing to the pooled test; the run set's
  sentence names it with its own resolution (checks.md, "Heterogeneity").
* ``confidence``: ``failed`` (exit status ≠ 0) | ``partial`` (cases were deselected: ``-k``,
  ``-m``, ``--deselect``; a deselected case is not a passed one) | ``low_resolution`` (some
  check) | ``resolved``.

Renders nothing: badges, pages and the terminal read these words.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from dhstats.verdicts import registry
from dhstats.stats.equivalence import about, percent, scale_to_resolve

DEFAULT_WARN = 0.5
FAINT_SHARE = 0.05  # a run with less than this share of Σ (ΔH_true/σ_1)² is named as faint


def checks_of() -> dict[str, tuple[str, str]]:
    """Each estimator's (per-run, pooled) check names, by estimator ("linear"), from the registry."""
    return {e.name: (e.case, e.pooled) for e in registry.estimators()}


def pooled_of() -> dict[str, str]:
    """An agreement check (per run or pooled) → its estimator's pooled check."""
    return {run: pooled for run, pooled in checks_of().values()} | {p: p for _, p in checks_of().values()}


def _resolution(case: Mapping) -> float | None:
    """A case's resolution; ∞ for a stated null (Σ ΔH_true/σ = 0); None when it has none."""
    if "resolution" not in case:
        return None
    r = case["resolution"]
    return math.inf if r is None else float(r)


def _median(values: Sequence[float]) -> float | None:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else None


def _set_check_resolution(cases: Sequence[Mapping], run_set: str, check: str) -> tuple[float, float] | None:
    """(resolution, η) of ``check`` in ``run_set``: the worst η (per-run cases: median over runs
    at each η first); None without any case with a resolution."""
    by_eta: dict = {}
    for c in cases:
        if c["run_set"] == run_set and c["check"] == check and c.get("eta") is not None:
            r = _resolution(c)
            if r is not None:
                by_eta.setdefault(c["eta"], []).append(r)
    per_eta = [(m, eta) for eta, rs in by_eta.items() if (m := _median(rs)) is not None]
    return max(per_eta, key=lambda x: (x[0], x[1])) if per_eta else None


def _set_estimator(cases: Sequence[Mapping], run_set: str, name: str) -> tuple[float, float] | None:
    per_run, pooled = checks_of()[name]
    r = _set_check_resolution(cases, run_set, pooled)
    return r if r is not None else _set_check_resolution(cases, run_set, per_run)


def set_resolution(cases: Sequence[Mapping], run_set: str) -> dict[str, float]:
    """{"linear": r, "linquad": r} of one run set: the worst η of its pooled cases (its per-run
    cases when it has no pooled case with a resolution); an estimator without any case with a
    resolution is left out (in health.json null then means ∞)."""
    return {name: r[0] for name in checks_of() if (r := _set_estimator(cases, run_set, name)) is not None}


def set_resolution_eta(cases: Sequence[Mapping], run_set: str) -> dict[str, float]:
    """{"linear": η, "linquad": η}: the η whose resolution is the run set's (:func:`set_resolution`)."""
    return {name: r[1] for name in checks_of() if (r := _set_estimator(cases, run_set, name)) is not None}


def check_resolution(cases: Sequence[Mapping], check: str) -> float | None:
    """The resolution of an agreement check (module docstring): worst η, worst run set."""
    if check not in pooled_of():
        return None
    sets = sorted({c["run_set"] for c in cases if c["check"] == check})
    values = []
    for s in sets:
        r = _set_check_resolution(cases, s, pooled_of()[check])
        r = r if r is not None else _set_check_resolution(cases, s, check)
        if r is not None:
            values.append(r[0])
    return max(values) if values else None


def faint_runs(cases: Sequence[Mapping], run_set: str, check: str, eta: float) -> list[tuple[str, float | None]]:
    """Runs of ``run_set`` whose per-run ``check`` case at ``eta`` carries less than
    :data:`FAINT_SHARE` of Σ_r (ΔH_true,r/σ_1,r)² (judged cases only), with their own
    resolution (None: ∞), in run order."""
    mine = [c for c in cases if c["run_set"] == run_set and c["check"] == check and c.get("eta") == eta
            and c["outcome"] != "skipped" and _finite(c.get("delta_h_true")) and _finite(c.get("sigma"))
            and c["sigma"] > 0]
    signal = {c["run"]: (c["delta_h_true"] / c["sigma"]) ** 2 for c in mine}
    total = sum(signal.values())
    if len(mine) < 2 or not total > 0 or not math.isfinite(total):
        return []
    return [(c["run"], _resolution(c)) for c in sorted(mine, key=lambda c: str(c["run"]))
            if signal[c["run"]] < FAINT_SHARE * total]


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


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
    worst = _worst_estimator(run_set)
    return None if worst is None else worst[1]


def _worst_estimator(run_set: Mapping) -> tuple[str, float] | None:
    """(estimator, resolution) of the worse estimator of a run_sets entry; None without any."""
    values = [(name, math.inf if r is None else r) for name, r in (run_set.get("resolution") or {}).items()]
    return max(values, key=lambda x: x[1]) if values else None


def seen_kind(health: Mapping, run_set: Mapping) -> str:
    """``failed`` (a case of the set failed) | ``low`` (its resolution is worse than
    ``resolution_warn``, or unknown) | ``resolved``: how a run set's sentence is coloured."""
    if any(c["outcome"] == "failed" for c in health["cases"] if c["run_set"] == run_set["name"]):
        return "failed"
    res, warn = _worst(run_set), (health.get("settings") or {}).get("resolution_warn", DEFAULT_WARN)
    return "low" if res is None or res > warn else "resolved"


def run_set_sentence(health: Mapping, run_set: Mapping) -> str:
    """One sentence on what the gate could and could not see in a run set: "E_256: no
    disagreement found, but a bias under ±190 % would go unseen (worst η: 4e-06); ≈ 58 runs, or
    E ≈ 3 700 at 4 runs, would resolve ±50 %" (resolution: the worse estimator's, at its worst
    η), then the faint runs at that η: "run_03 resolves nothing on its own (±3 400 %): under
    5 % of the pooled weight"."""
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
        pooled = [c for c in cases if c["check"] in pooled_of().values() and c["outcome"] != "skipped"]
        shown = sum(c["outcome"] == "passed" for c in pooled)
        head += f"; agreement within ±{percent(tol)} demonstrated in {shown} of {len(pooled)} pooled cases"
    where, faint = _where_and_faint(health, run_set)
    if res <= warn:
        return f"{head}; a bias of ±{percent(res)} or more would have been detected (80 % power){where}{faint}"
    join = "; " if failed else ", but "  # a failure and what the passes could not see are two facts
    if math.isinf(res):
        return f"{head}{join}no bias of any size could be seen (Σ ΔH_true/σ = 0){faint}"
    text = f"{head}{join}a bias under ±{percent(res)} would go unseen{where}"
    factor = scale_to_resolve(res, warn)
    judged = [r for r in health.get("runs") or () if isinstance(r, Mapping) and r.get("run_set") == name]
    # the runs that count: valid ones (an invalid or duplicate run adds no precision)
    runs = sum(r.get("outcome") == "ok" for r in judged) if judged else run_set.get("runs")
    e = run_set.get("E")
    if isinstance(runs, int) and runs > 0:
        more = f"≈ {about(math.ceil(runs * factor))} runs"
        if isinstance(e, (int, float)) and e > 0:
            more += f", or E ≈ {about(e * factor)} at {runs} run{'s' * (runs != 1)},"
        text += f"; {more} would resolve ±{percent(warn)}"
    return text + faint


def _where_and_faint(health: Mapping, run_set: Mapping) -> tuple[str, str]:
    """(" (worst η: 4e-06)", "; run_03 resolves nothing on its own (±3 400 %): …") of a run set:
    the η that decides its resolution (``resolution_eta``), and the faint runs there."""
    worst = _worst_estimator(run_set)
    eta = (run_set.get("resolution_eta") or {}).get(worst[0]) if worst else None
    if eta is None:
        return "", ""
    faint = faint_runs(health["cases"], run_set["name"], checks_of()[worst[0]][0], eta)
    if not faint:
        return f" (worst η: {eta:.3g})", ""
    names = ", ".join(run for run, _ in faint)
    own = ", ".join("∞" if r is None or math.isinf(r) else f"±{percent(r)}" for _, r in faint)
    verb = "resolves" if len(faint) == 1 else "resolve"
    return (f" (worst η: {eta:.3g})",
            f"; {names} {verb} nothing on {'its' if len(faint) == 1 else 'their'} own ({own}): under "
            f"{percent(FAINT_SHARE)} of the pooled weight Σ(ΔH_true/σ_1)²")

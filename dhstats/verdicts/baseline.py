"""Checks against a baseline: did a change move the estimators, and by how much could it have
moved unseen? (``shared/spec/checks.md``, "Comparison with a baseline".)

Each side of a comparison is one run set: the candidate's (this session) and its matched
baseline set (``--baseline``: a directory of run sets judged by the same gate code, or an
earlier session's health.json). Both are read as health.json case dicts: the per-run
agreement cases and the pooled cases, whose ``ratio`` and ``ratio_se`` are the pooled ratio
ρ̂ = Σ w_r P_r / Σ w_r T_r and its SE (checks.md, "One estimator behind every pooled number").
The candidate's pooled case is judged here by the pooled check itself
(:mod:`dhstats.verdicts.agreement`), so both sides come from one estimator.

* ``baseline_linear_ratio``, ``baseline_linquad_ratio`` (run set, η on both sides):
  z = (ρ̂_C − ρ̂_B)/√(se_C² + se_B²), failed ``moved`` when |z| > k; skipped ``inconclusive``
  when a side's pooled ΔH_true is unresolved (:func:`dhstats.stats.comparison.unresolved`) or it
  has no pooled ratio; every case states the resolution (k + z_0.80)·√(se_C² + se_B²).
  Under ``--baseline-tolerance δ`` judged by the TOST of d = ρ̂_C − ρ̂_B alone
  (:func:`dhstats.stats.comparison.difference_tost`).
* ``baseline_efficiency`` (run set): se_scaling's medians (:func:`dhstats.verdicts.runsets.scaling_medians`)
  of the candidate over the baseline's, within ``--scaling-bounds``.
* :func:`outcome_changes`: cases on both sides whose outcome differs (information only).
"""
from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence

from dhstats.stats import comparison
from dhstats.stats.equivalence import Equivalence
from dhstats.verdicts.runsets import scaling_medians
from dhstats.load.settings import Settings
from dhstats.verdicts.verdicts import Judgement, Reason, RunSetRecords, fmt, judgement, unbounded
from dhstats.verdicts.wording import failure, num, pm

def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


RUN_NUMBERS = ("delta_h_true", "sigma_true", "sigma")  # what a comparison reads of a per-run agreement case


def judged_runs(cases: Iterable[Mapping]) -> list[Mapping]:
    """The per-run agreement cases a pooled case pools: not skipped, with a finite ΔH_true,
    σ_true and σ_1 (> 0)."""
    return [c for c in cases if c.get("outcome") != "skipped" and c.get("run") is not None
            and all(_finite(c.get(k)) for k in RUN_NUMBERS) and c["sigma"] > 0]


def side_unresolved(cases: Sequence[Mapping], k: float) -> bool:
    """:func:`dhstats.stats.comparison.unresolved` of one side's per-run agreement cases at one η."""
    runs = judged_runs(cases)
    return comparison.unresolved([c["delta_h_true"] for c in runs], [c["sigma_true"] for c in runs],
                                 [c["sigma"] for c in runs], k)


def _pooled(cases: Iterable[Mapping], check: str) -> Mapping | None:
    return next((c for c in cases if c.get("check") == check and c.get("run") is None), None)


def _usable(pooled: Mapping | None) -> bool:
    return pooled is not None and _finite(pooled.get("ratio")) and _finite(pooled.get("ratio_se"))


def compare_ratios(family, run_set: str, eta: float, candidate: Sequence[Mapping], baseline: Mapping,
                   settings: Settings) -> Judgement:
    """One ``baseline_*_ratio`` case of the estimator ``family`` (a
    :class:`dhstats.verdicts.registry.EstimatorChecks`: its word and the names of its per-run and pooled
    checks). ``candidate``: this set's cases at ``eta`` (per-run agreement cases and its pooled
    case); ``baseline``: ``{"run_set": name, "cases": [...]}``, the matched baseline set's cases
    at ``eta`` (module docstring)."""
    word, per_run, pooled_check = family.estimator.word, family.case, family.pooled
    k, base_name = settings.k, baseline["run_set"]
    sides = {"candidate": (run_set, list(candidate)), "baseline": (base_name, list(baseline["cases"]))}
    runs = {side: judged_runs(c for c in cases if c.get("check") == per_run) for side, (_, cases) in sides.items()}
    pooled = {side: _pooled(cases, pooled_check) for side, (_, cases) in sides.items()}
    nums: dict = {"k": k, "baseline_run_set": base_name, "R": len(runs["candidate"]),
                  "baseline_R": len(runs["baseline"])}
    for side, prefix in (("candidate", ""), ("baseline", "baseline_")):
        p = pooled[side]
        nums[prefix + "ratio"] = p.get("ratio") if _usable(p) else None
        nums[prefix + "ratio_se"] = p.get("ratio_se") if _usable(p) else None
    where = f"{run_set} against {base_name} at η = {eta!r}"
    if _usable(pooled["candidate"]) and _usable(pooled["baseline"]):
        se_c, se_b = nums["ratio_se"], nums["baseline_ratio_se"]
        resolution = comparison.comparison_resolution(k, se_c, se_b)
        nums["resolution"] = unbounded(resolution)
        unseen = f"a move under ±{num(resolution, 2)} would go unseen"
    else:
        resolution, unseen = None, "no resolution without a pooled ratio on both sides"
        nums["resolution"] = None
    for side in ("candidate", "baseline"):
        name = sides[side][0]
        if not _usable(pooled[side]):
            why = "no pooled case" if pooled[side] is None else f"its pooled case has no ratio ({pooled[side].get('reason')})"
            return judgement("skipped", f"inconclusive: {name} ({side}) has no pooled {word} ratio at "
                             f"η = {eta!r}: {why}, {len(runs[side])} judged run(s); {unseen}.", nums,
                             Reason.INCONCLUSIVE)
        if side_unresolved([c for c in sides[side][1] if c.get("check") == per_run], k):
            p = pooled[side]
            return judgement("skipped", f"inconclusive: {name}'s ({side}) pooled ΔH_true is unresolved at "
                             f"η = {eta!r} (|Σ w·ΔH_true| < k·√Σ w²σ_true², w = 1/σ_1): its {word} ratio "
                             f"{pm(p['ratio'], p['ratio_se'])} means nothing; {unseen}.", nums, Reason.INCONCLUSIVE)
    rc, se_c, rb, se_b = nums["ratio"], nums["ratio_se"], nums["baseline_ratio"], nums["baseline_ratio_se"]
    z = comparison.difference_z(rc, se_c, rb, se_b)
    nums["z"] = z
    moved = f"the {word} ratio moved from {pm(rb, se_b)} to {pm(rc, se_c)}, z = {num(z, 2)}"
    counts = f"{where}, R = {nums['R']} vs {nums['baseline_R']} runs"
    if settings.baseline_tolerance is not None:
        return _tolerance_verdict(nums, settings, f"{moved}; {counts}")
    if not math.isfinite(z):
        return judgement("failed", f"not finite: z = {fmt(z)} ({moved}; {counts}).", nums, Reason.NOT_FINITE)
    if abs(z) > k:
        return judgement("failed", failure(f"{moved} (|z| > k = {k:g}): the change moved the {word} estimator",
                                           f"{counts}; resolution ±{num(resolution, 2)}"), nums, Reason.MOVED)
    return judgement("passed", f"no move detected; {unseen} ({word} ratio {pm(rb, se_b)} → "
                     f"{pm(rc, se_c)}, z = {num(z, 2)}, |z| ≤ k = {k:g}; {counts}).", nums)


def _tolerance_verdict(nums: dict, settings: Settings, detail: str) -> Judgement:
    """The TOST of d = ρ̂_C − ρ̂_B against ±δ (``--baseline-tolerance``) decides alone."""
    delta, alpha = settings.baseline_tolerance, settings.equivalence_alpha
    d = nums["ratio"] - nums["baseline_ratio"]
    se_d = comparison.difference_se(nums["ratio_se"], nums["baseline_ratio_se"])
    t = comparison.difference_tost(d, se_d, delta, alpha)
    nums.update(tolerance=delta, equivalence_alpha=alpha, tost_lo=t.z_lo, tost_hi=t.z_hi)
    tests = f"TOST at α = {alpha:g}: z_lo = {num(t.z_lo, 3)}, z_hi = {num(t.z_hi, 3)}, critical ±{t.z:.3g}"
    band = f"±{delta:g}"
    if t.verdict == Equivalence.DEMONSTRATED:
        return judgement("passed", f"no move beyond {band}, demonstrated: d = {num(d)} ({tests}); {detail}.", nums)
    if t.verdict == Equivalence.OUT_OF_TOLERANCE:
        return judgement("failed", failure(f"moved beyond {band}: d = {num(d)} is demonstrably outside {band}",
                                           f"{detail}; {tests}"), nums, Reason.MOVED_BEYOND_TOLERANCE)
    if t.verdict == Equivalence.NOT_FINITE:
        return judgement("failed", f"not finite: {tests}; {detail}", nums, Reason.NOT_FINITE)
    need_c, need_b = comparison.runs_needed_each(nums["R"], nums["baseline_R"], se_d, delta, alpha)
    nums.update(runs_needed=unbounded(need_c), baseline_runs_needed=unbounded(need_b))
    return judgement("failed", failure(
        f"no move beyond {band} not demonstrated: the runs are too few or too noisy; ≈ {need_c:.0f} candidate and "
        f"{need_b:.0f} baseline runs of this precision would demonstrate it (80 % power at d = 0)",
        f"d = {num(d)}; {detail}; {tests}"), nums, Reason.NOT_DEMONSTRATED)


def compare_efficiency(run_set: str, candidate: Sequence[Mapping], baseline: Mapping, settings: Settings,
                       per_run: str) -> Judgement:
    """``baseline_efficiency``: m_G = median over runs of σ_G·√E and m_true(η) = median of
    σ_true·√E/η (:func:`dhstats.verdicts.runsets.scaling_medians`) of the candidate over the baseline's
    matched set, each within ``--scaling-bounds`` (at an η the baseline lacks, its median over η),
    from both sides' cases of the per-run check ``per_run``."""
    lo, hi = settings.scaling_bounds
    base_name = baseline["run_set"]
    mine = scaling_medians([c for c in candidate if c.get("check") == per_run])
    ref = scaling_medians([c for c in baseline["cases"] if c.get("check") == per_run])
    nums: dict = {"baseline_run_set": base_name, "E": mine["E"], "baseline_E": ref["E"], "bounds": [lo, hi]}
    parts, bad, worst = [], [], None
    if mine["m_g"] is not None and ref["m_g"] is not None and ref["m_g"] > 0:
        r = mine["m_g"] / ref["m_g"]
        nums["ratio_sigma_g"] = r
        parts.append(f"σ_G·√E {fmt(ref['m_g'])} → {fmt(mine['m_g'])}: ratio {fmt(r)}")
        if not lo <= r <= hi:
            bad.append(f"σ_G per √E {'grew' if r > 1 else 'shrank'} {fmt(r)}×")
    ref_all = sorted(ref["m_true"].values())
    ref_median = ref_all[len(ref_all) // 2] if ref_all else None
    for eta, m in mine["m_true"].items():
        base = ref["m_true"].get(eta, ref_median)
        if base is None or not base > 0:
            continue
        r = m / base
        if worst is None or abs(math.log(r)) > abs(math.log(worst)):
            worst = r
        parts.append(f"σ_true·√E/η at η = {eta!r}: ratio {fmt(r)}")
        if not lo <= r <= hi:
            bad.append(f"σ_true per √E {'grew' if r > 1 else 'shrank'} {fmt(r)}× at η = {eta!r}")
    nums["ratio_sigma_true"] = worst
    where = f"{run_set} (E = {mine['E']}) against {base_name} (E = {ref['E']}), medians over runs"
    if not parts:
        return judgement("skipped", f"no judged σ on both sides to compare ({where}).", nums, Reason.MISSING_FIELD)
    desc = f"{where}: " + "; ".join(parts)
    if bad:
        grew = any("grew" in b for b in bad)
        return judgement("failed", failure(
            f"{', '.join(bad)} (outside [{lo:g}, {hi:g}]): the change made the estimator "
            f"{'noisier' if grew else 'less noisy — check that its σ is still honest'}", desc), nums)
    return judgement("passed", f"{desc}; within [{lo:g}, {hi:g}].", nums)


def _candidate_cases(family, records: RunSetRecords, settings: Settings) -> list[dict]:
    """The candidate's cases at this η: its per-run agreement cases and its pooled case,
    judged here by the pooled check itself (same estimator as the baseline's)."""
    pooled = family.estimator.judge_pooled(records, settings).at(family.pooled, records.run_set, None, records.eta)
    return records.of(family.case) + [pooled.to_dict()]


def check_baseline_ratio(records: RunSetRecords, settings: Settings) -> Judgement:
    """:func:`compare_ratios` of the estimator of ``records`` for its run set and η."""
    if records.baseline is None:
        return judgement("skipped", "no baseline", {}, Reason.MISSING_FIELD)
    return compare_ratios(records.estimator, records.run_set, records.eta,
                          _candidate_cases(records.estimator, records, settings), records.baseline, settings)


def check_baseline_efficiency(records: RunSetRecords, settings: Settings) -> Judgement:
    """:func:`compare_efficiency` of the run set of ``records`` (the cases of the per-run check
    it pools, the linear one, every η)."""
    if records.baseline is None:
        return judgement("skipped", "no baseline", {}, Reason.MISSING_FIELD)
    return compare_efficiency(records.run_set, records.pooled(0), records.baseline, settings, records.pools[0])


# --------------------------------------------------------------------------- outcome changes


def _key(c: Mapping, run_set: str) -> tuple:
    return (run_set, c.get("run"), c.get("eta"), c.get("check"))


def outcome_changes(cases: Iterable[Mapping], baseline_cases: Iterable[Mapping], matched: Mapping[str, str],
                    comparisons: Collection[str]) -> list[dict]:
    """Cases on both sides (same run set — the candidate's name, matched to the baseline's —
    run, η and check) whose outcome differs: new failures first, then fixed, then the rest,
    each group in the candidate's order. The cases of ``comparisons`` (the checks against a
    baseline) are left out."""
    to_candidate = {b: c for c, b in matched.items()}
    before = {_key(c, to_candidate[c["run_set"]]): c for c in baseline_cases
              if c.get("run_set") in to_candidate and c.get("check") not in comparisons}
    out = []
    for c in cases:
        if c.get("check") in comparisons or c.get("run_set") not in matched:
            continue
        b = before.get(_key(c, c["run_set"]))
        if b is None or b.get("outcome") == c.get("outcome"):
            continue
        out.append({"run_set": c["run_set"], "baseline_run_set": matched[c["run_set"]], "run": c.get("run"),
                    "eta": c.get("eta"), "check": c["check"], "baseline_outcome": b.get("outcome"),
                    "outcome": c.get("outcome"), "baseline_reason": b.get("reason"), "reason": c.get("reason")})
    return sorted(out, key=lambda x: 0 if x["outcome"] == "failed" else 1 if x["baseline_outcome"] == "failed" else 2)


__all__ = ["check_baseline_efficiency", "check_baseline_ratio", "compare_efficiency", "compare_ratios", "judged_runs",
           "outcome_changes", "side_unresolved"]

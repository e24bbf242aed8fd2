"""Run-set checks: what only several runs (or several run sets) can show.

They are judged from the per-run agreement cases (health.json case dicts), never from
arrays, so a gate session needs nothing but each run's verdict records to pool them
(:mod:`dhstats.gate.gate` collects them, across xdist workers too).

* ``pooled_*_agreement`` — :func:`dhstats.verdicts.pooling.pooled_agreement`.
* ``se_scaling`` — sampling noise shrinks as 1/√E (E = num_sequences): for each run set,
  m_G = median over runs of σ_G·√E and, at each η, m_true(η) = median over runs of
  σ_true·√E/η; each over the largest-E set's m within ``--scaling-bounds`` (checks.md).
  When the reference set lacks an η, its median over all its η is used (σ_true/η is, to first
  order, η·σ_G/η = σ_G: independent of η).
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from dhstats.verdicts.case_numbers import AgreementNumbers, ScalingNumbers
from dhstats.load.settings import Settings
from dhstats.verdicts.verdicts import Judgement, Reason, RunSetRecords, fmt, judgement
from dhstats.verdicts.wording import failure


def run_set_size(cases: Iterable[Mapping]) -> int | None:
    """E of one run set — its runs' num_sequences n — from case dicts carrying ``n`` (the
    agreement cases), each run counted once. The one place E is computed (health.json's
    ``run_sets[].E``, se_scaling, the CLI's and the figures' E). Runs of a set normally agree;
    when they do not, E is the lower median of the runs' n (a size one of its runs has; the
    se_scaling medians then mix the sizes, which its message names as a possible cause).
    None when no run has a judged n."""
    per_run: dict = {}
    for c in cases:
        n = c.get("n")
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            per_run.setdefault((c.get("run_set"), c.get("run")), n)
    return statistics.median_low(sorted(per_run.values())) if per_run else None


SCALING_NUMBERS = ("n", "sigma_g", "sigma_true")  # what scaling_medians reads of a linear_agreement case


def scaling_medians(cases: Sequence[Mapping]) -> dict:
    """E, m_G and m_true(η) of one run set from its ``linear_agreement`` case dicts (each with
    ``n``, ``sigma_g``, ``sigma_true``, ``eta``). Non-finite or missing σ's are left out."""
    E = run_set_size(cases)
    if E is None:
        return {"E": None, "m_g": None, "m_true": {}}
    typed = [(c.get("run"), c.get("eta"), AgreementNumbers.of(c)) for c in cases]
    per_run_g = {run: n.sigma_g for run, _, n in typed if _ok(n.sigma_g)}
    by_eta: dict[float, list[float]] = {}
    for _, eta, n in typed:
        if _ok(n.sigma_true) and eta:
            by_eta.setdefault(eta, []).append(n.sigma_true * math.sqrt(E) / eta)
    return {"E": E,
            "m_g": statistics.median(v * math.sqrt(E) for v in per_run_g.values()) if per_run_g else None,
            "m_true": {eta: statistics.median(v) for eta, v in sorted(by_eta.items())}}


def check_se_scaling(records: RunSetRecords, settings: Settings) -> Judgement:
    """``se_scaling`` of ``records.run_set`` against every run set checked together (including
    this one), from the cases of the per-run check it pools, the linear one (:func:`scaling_medians`)."""
    medians = {name: scaling_medians(records.pooled(0, name)) for name in records.by_set}
    return scaling_verdict(records.run_set, medians, settings.scaling_bounds)


def scaling_verdict(run_set: str, medians: Mapping[str, dict], bounds: tuple[float, float]) -> Judgement:
    """``se_scaling`` of run set ``run_set`` given :func:`scaling_medians` of every run set
    checked together (including this one)."""
    lo, hi = bounds
    mine = medians[run_set]
    known = {name: m for name, m in medians.items() if m["E"]}
    if mine["E"] is None or len({m["E"] for m in known.values()}) < 2:
        es = ", ".join(f"{name}: E = {m['E']}" for name, m in medians.items())
        return judgement("skipped", f"needs ≥ 2 run sets of different E with a judged σ ({es}).",
                         ScalingNumbers(E=mine["E"]), Reason.INCONCLUSIVE)
    ref_name = max(known, key=lambda name: (known[name]["E"], name))
    ref = known[ref_name]
    nums = ScalingNumbers(E=mine["E"], reference=ref_name, reference_E=ref["E"], bounds=list(bounds),
                          sigma_g_scaled=mine["m_g"])
    parts, bad = [], []
    if mine["m_g"] is not None and ref["m_g"] is not None:
        r = mine["m_g"] / ref["m_g"] if ref["m_g"] > 0 else math.inf
        nums = replace(nums, ratio_sigma_g=r)
        parts.append(f"σ_G·√E = {fmt(mine['m_g'])} vs {fmt(ref['m_g'])}: ratio {fmt(r)}")
        if not lo <= r <= hi:
            bad.append(f"σ_G·√E ratio {fmt(r)}")
    ref_all = statistics.median(ref["m_true"].values()) if ref["m_true"] else None
    worst = None
    for eta, m in mine["m_true"].items():
        base = ref["m_true"].get(eta, ref_all)
        if base is None:
            continue
        r = m / base if base > 0 else math.inf
        if worst is None or abs(math.log(r) if r > 0 else math.inf) > abs(math.log(worst) if worst > 0 else math.inf):
            worst = r
        parts.append(f"σ_true·√E/η at η = {eta!r}: ratio {fmt(r)}")
        if not lo <= r <= hi:
            bad.append(f"σ_true·√E/η ratio {fmt(r)} at η = {eta!r}")
    nums = replace(nums, ratio_sigma_true=worst)
    where = f"E = {mine['E']} against {ref_name} (E = {ref['E']}, the largest)"
    if not parts:
        return judgement("skipped", f"no judged σ to compare ({where}).", nums, Reason.MISSING_FIELD)
    desc = f"medians over runs, {where}: " + "; ".join(parts)
    if bad:
        return judgement("failed", failure(f"σ does not shrink as 1/√E ({', '.join(bad)} outside [{lo:g}, {hi:g}]): "
                                           "a mis-scaled SE, or runs of different batch sizes mixed in one set", desc),
                         nums)
    if ref_name == run_set:
        desc = f"reference set (largest E = {mine['E']}); " + desc
    return judgement("passed", f"{desc}; within [{lo:g}, {hi:g}].", nums)


def _ok(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0

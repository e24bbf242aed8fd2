"""One finding per failing run set: a sentence built from the evidence the gate already has,
said first in the terminal and in report.html, followed by its most telling figure.

Read from health.json case dicts (never recomputed):

* **direction** — each run's prediction/ΔH_true (``ratio`` of its ``linear_agreement`` cases,
  median over η): how many runs point the same way as the pooled ratio, and how many are beyond
  :data:`FAR` (above 1.25 or below 0.8): "4 of 4 runs above 1.25 (1.31–1.44)";
* **lin+quad** — the pooled lin+quad ratio beside the linear one (median over η): alike (a
  biased gdotv, not curvature) or near 1 where ηG is off (curvature);
* **truncation** — ``truncation_ratio``'s ``ratio_q<q>`` (L_S/Δ_S with the largest
  |η·gdotv_i| removed, keep-quantile q), median over runs and η: when it reaches 1 (within a
  quarter of the excess, 5–10 %, or across 1) as more is removed, the bulk agrees and the
  excess sits in the top few % of |η·gdotv_i| (between the last removal that had not
  reached 1 and the first that has);
* **across η** — the pooled linear ratio at each η: constant (max/min ≤ :data:`CONSTANT`)
  only when there are at least 3 η; with fewer, not judged.

The figure that shows it best is the per-run pooled-ratio figure (``pooled_ratio``).
"""
from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dhstats.verdicts import registry
from dhstats.figures.rendered import figure_kind
from dhstats.verdicts.run_checks import check_truncation_ratio
from dhstats.verdicts.wording import num

FAR = 1.25  # a run "above 1.25" (or below 1/FAR = 0.8) is off on its own
CONSTANT = 1.1  # pooled ratios within a factor 1.1 across ≥ 3 η: constant
MIN_ETAS = 3  # never judge "constant across η" from two η
NEAR_ONE = 0.05  # a truncation ratio within a quarter of the excess of 1 (5–10 %) has reached it
FIGURE = "pooled_ratio"
_Q = re.compile(r"^ratio_q([0-9.]+)$")


@dataclass(frozen=True)
class SetFinding:
    """A failing run set's finding: ``sentence`` (starts with the set's name) and the name of
    its most telling figure (:mod:`dhstats.figures.gallery`)."""

    run_set: str
    sentence: str
    figure: str = FIGURE

    @property
    def figure_caption(self) -> str:
        return f"{figure_kind(self.figure).caption} — {self.run_set}"


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _median(values: Sequence[float]) -> float | None:
    values = [v for v in values if _finite(v)]
    return statistics.median(values) if values else None


def _r(x: float) -> str:
    """A ratio: two decimals below 10 (1.00, 1.35, −0.68), else 3 significant figures; − as minus."""
    return (f"{x:.2f}" if abs(x) < 10 else num(x)).replace("-", "−")


def _span(values: Sequence[float]) -> str:
    lo, hi = _r(min(values)), _r(max(values))
    return lo if lo == hi else f"{lo} to {hi}"


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.3g} %"


def _linear() -> registry.EstimatorChecks:
    """The linear estimator's checks (the findings speak of ηG)."""
    return registry.estimator("linear")


def direction(cases: Sequence[Mapping], pooled: float | None) -> str | None:
    """"4 of 4 runs above 1.25 (1.31–1.44)": the runs' median linear ratio against the pooled
    direction (above 1 when the pooled ratio is, else below)."""
    per_run: dict[str, list[float]] = {}
    case = _linear().case  # looked up once: a finding reads every case of a set (10⁵ at 10⁴ runs)
    for c in cases:
        if c.get("check") == case and c.get("run") is not None and _finite(c.get("ratio")):
            per_run.setdefault(str(c["run"]), []).append(float(c["ratio"]))
    ratios = {run: _median(v) for run, v in per_run.items()}
    if not ratios:
        return None
    values = sorted(ratios.values())
    up = pooled >= 1.0 if _finite(pooled) else statistics.median(values) >= 1.0
    far = [v for v in values if (v > FAR if up else v < 1 / FAR)]
    same = [v for v in values if (v > 1.0 if up else v < 1.0)]
    span = "ratio" + ("s " if len(values) > 1 else " ") + _span(values)
    where = f"above {FAR:g}" if up else f"below {1 / FAR:g}"
    verb = "overshoot" if up else "undershoot"
    n = len(values)
    if len(far) == n:
        head = f"every run {verb}s — {len(far)} of {n} runs {where} ({span})" if n > 1 else \
            f"the run {verb}s ({span})"
    else:
        head = f"{len(far)} of {n} runs {where}, {len(same)} of {n} {verb} ({span})"
    return head


def linquad(cases: Sequence[Mapping]) -> str | None:
    """Pooled lin+quad beside pooled linear (median over η): alike → not curvature; lin+quad
    near 1 where linear is off → curvature."""
    linear, quad = _linear(), registry.estimator("linquad")
    lin = _median([c.get("ratio") for c in cases if c.get("check") == linear.pooled])
    lq = _median([c.get("ratio") for c in cases if c.get("check") == quad.pooled])
    if lin is None:
        lin = _median([c.get("ratio") for c in cases if c.get("check") == linear.case])
        lq = _median([c.get("ratio") for c in cases if c.get("check") == quad.case])
    if lin is None or lq is None:
        return None
    if abs(lq - 1.0) <= 0.5 * abs(lin - 1.0):
        return f"lin+quad is near 1 ({_r(lq)}) where ηG is off ({_r(lin)}): curvature, η beyond the linear regime"
    return f"lin+quad agrees with ηG ({_r(lq)} vs {_r(lin)}): not curvature"


def truncation(cases: Sequence[Mapping], full: float | None, k: float = 3.0) -> str | None:
    """How the truncation ratio moves as the largest |η·gdotv_i| are removed (median over runs
    and η of each keep-quantile's ``ratio_q<q>``), from ``full`` (nothing removed). Only judged
    quantiles count: |Δ_S| ≥ k·σ_S (``true_S_q<q>``, ``sigma_S_q<q>``; checks.md, truncation_ratio)."""
    by_q: dict[float, list[float]] = {}
    name = registry.judged_by(check_truncation_ratio).name
    for c in cases:
        if c.get("check") != name or c.get("outcome") == "skipped":
            continue
        for key, value in c.items():
            m = _Q.match(key)
            if not (m and _finite(value)):
                continue
            true, sigma = c.get(f"true_S_q{m.group(1)}"), c.get(f"sigma_S_q{m.group(1)}")
            if _finite(true) and _finite(sigma) and abs(true) >= k * sigma:
                by_q.setdefault(float(m.group(1)), []).append(float(value))
    steps = [(q, _median(v)) for q, v in sorted(by_q.items(), reverse=True)]
    steps = [(q, r) for q, r in steps if r is not None]
    if not steps or not _finite(full):
        return None
    excess = abs(full - 1.0)
    path = " → ".join([_r(full)] + [f"{_r(r)} with {_pct(1 - q)} removed" for q, r in steps])
    reach = max(NEAR_ONE, min(2 * NEAR_ONE, excess / 4))
    side = math.copysign(1.0, full - 1.0)  # reached: within reach of 1, or across it
    reached = next((i for i, (_, r) in enumerate(steps) if abs(r - 1.0) <= reach or (r - 1.0) * side < 0), None)
    if reached is not None and excess > reach:
        hi = _pct(1 - steps[reached][0])
        top = f"top {hi}" if reached == 0 else f"top {_pct(1 - steps[reached - 1][0])[:-2]}–{hi}"
        return (f"the truncation ratio moves toward 1 as the largest |η·gdotv_i| are removed ({path}): the bulk "
                f"agrees, the excess sits in the {top} of |η·gdotv_i|")
    last = steps[-1][1]
    if abs(last - 1.0) > 1.25 * excess:
        return (f"the truncation ratio moves away from 1 as the largest |η·gdotv_i| are removed ({path}): not an "
                "excess in a few sequences")
    if abs(last - 1.0) >= 0.75 * excess:
        return (f"the truncation ratio stays off as the largest |η·gdotv_i| are removed ({path}): the bulk of the "
                "sequences is off, not a few")
    return f"the truncation ratio moves part of the way toward 1 as the largest |η·gdotv_i| are removed ({path})"


def across_eta(cases: Sequence[Mapping]) -> str | None:
    """Constant across η only from ≥ :data:`MIN_ETAS` η (pooled linear ratio, else the runs'
    median linear ratio per η)."""
    linear = _linear()
    pooled = {c["eta"]: c.get("ratio") for c in cases
              if c.get("check") == linear.pooled and _finite(c.get("ratio"))}
    if not pooled:
        per: dict[float, list[float]] = {}
        for c in cases:
            if c.get("check") == linear.case and _finite(c.get("ratio")) and c.get("eta") is not None:
                per.setdefault(c["eta"], []).append(float(c["ratio"]))
        pooled = {eta: _median(v) for eta, v in per.items()}
    values = [float(v) for _, v in sorted(pooled.items())]
    if not values:
        return None
    if len(values) < MIN_ETAS:  # never "constant" from two η: nothing said
        return None
    lo, hi = min(values), max(values)
    if lo > 0 and hi / lo <= CONSTANT:
        return f"the ratio is constant across the {len(values)} η ({_span(values)}): a biased G (gdotv), not curvature"
    return f"the ratio changes across the {len(values)} η ({' → '.join(_r(v) for v in values)})"


def disagrees(cases: Sequence[Mapping]) -> bool:
    """Whether a run set shows a disagreement to explain: an agreement case failed for a reason
    other than ``not_demonstrated`` (too imprecise to show agreement is not a disagreement), or a
    pooled 1 − 2α interval excludes 1."""
    agreement = {name for e in registry.estimators() for name in (e.case, e.pooled)}
    if any(c.get("outcome") == "failed" and c.get("check") in agreement and c.get("reason") != "not_demonstrated"
           for c in cases):
        return True
    return any(c.get("outcome") == "failed" and c.get("check") in agreement and _finite(c.get("ratio_lo"))
               and _finite(c.get("ratio_hi")) and not c["ratio_lo"] <= 1.0 <= c["ratio_hi"] for c in cases)


def set_finding(health: Mapping, run_set: str) -> SetFinding | None:
    """The finding of ``run_set`` when it shows a disagreement (:func:`disagrees`)."""
    cases = [c for c in health.get("cases", []) if c.get("run_set") == run_set]
    if not disagrees(cases):
        return None
    k = health.get("k") if _finite(health.get("k")) else 3.0
    focus, where = _at_failing_etas(cases)
    linear = _linear()
    pooled = _median([c.get("ratio") for c in focus if c.get("check") == linear.pooled])
    full = pooled if pooled is not None else _median(
        [c.get("ratio") for c in focus if c.get("check") == linear.case])
    head = f"pooled ratio {_r(pooled)}" if pooled is not None else None
    parts = [p for p in (direction(focus, full), head, linquad(focus), truncation(focus, full, k), across_eta(cases))
             if p]
    if not parts:
        return None
    text = "; ".join(parts)
    return SetFinding(run_set, f"{run_set}: {where}{text[:1].upper() if not where else text[:1]}{text[1:]}.")


def _at_failing_etas(cases: Sequence[Mapping]) -> tuple[list[Mapping], str]:
    """The cases the finding speaks of, and where: when the agreement cases fail at some η only,
    the cases at those η ("at η = 0.000256: …"; a median over every η would call a set whose
    prediction breaks down at its largest η healthy); else all of them."""
    agreement = {name for e in registry.estimators() for name in (e.case, e.pooled)}
    etas = sorted({c["eta"] for c in cases if c.get("eta") is not None and c.get("check") in agreement})
    failing = sorted({c["eta"] for c in cases if c.get("eta") is not None and c.get("check") in agreement
                      and c.get("outcome") == "failed" and c.get("reason") != "not_demonstrated"})
    if not failing or len(failing) == len(etas):
        return list(cases), ""
    focus = [c for c in cases if c.get("eta") is None or c["eta"] in failing]
    return focus, f"at η = {', '.join(f'{e:.3g}' for e in failing)}: "


def set_findings(health: Mapping) -> list[SetFinding]:
    """:func:`set_finding` of every run set that has one, in health.json's order."""
    out = []
    for s in health.get("run_sets", []):
        f = set_finding(health, s["name"])
        if f is not None:
            out.append(f)
    return out


__all__ = ["FIGURE", "SetFinding", "across_eta", "direction", "disagrees", "linquad", "set_finding", "set_findings", "truncation"]

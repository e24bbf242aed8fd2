"""Pooled agreement checks: one run set at one η, its runs being independent batches.

    pooled              Stouffer's Z = Σ_r z_r / √R over the R runs with a judged z, and the
                        pooled ratio ρ̂ = Σ_r w_r·pred_r / Σ_r w_r·ΔH_true,r (w_r = 1/σ_1,r) with
                        its delta-method SE and Fieller interval, the runs' heterogeneity Q,
                        and under ``--tolerance`` the TOST (checks.md, "One estimator behind
                        every pooled number", "Heterogeneity", "Equivalence").

Why a pooled TOST did not demonstrate agreement within 1 ± δ (:func:`not_demonstrated`, in
words; checks.md, "Resolution and equivalence"), one of two things:

* **Too imprecise**: the 1 − 2α interval of the pooled ratio is wider than the band (or
  unbounded). More runs, or a larger E, would help: ⌈R·((z_{1−α} + z_0.90)·SE_ratio/δ)²⌉ runs
  of this precision demonstrate ±δ with 80 % power at ratio 1
  (:func:`dhstats.stats.equivalence.runs_to_demonstrate`).
* **Narrow but crossing a bound**: the interval is no wider than the band and the ratio lies
  nearer a bound than 1 (|ratio − 1| ≥ δ/2): the ratio itself sits near a bound ("1.34, near
  1.5"). The runs needed are those at the observed ratio
  (:func:`dhstats.stats.tost_power.runs_at_ratio`), none when the ratio lies on or outside the band:
  more runs would then show it outside, not inside.

By σ ∝ 1/√E the same factor on R is the factor on E at this R (median E of the runs).

The estimator is a :class:`dhstats.verdicts.agreement.Estimator` object (its per-run check is
:meth:`~dhstats.verdicts.agreement.Estimator.judge_case`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from dhstats.stats import equivalence, stats, tost_power
from dhstats.stats.sigmas import cov_from, sigma_c
from dhstats.verdicts.case_numbers import AgreementNumbers, PooledNumbers, present
from dhstats.verdicts.verdicts import Judgement, Outcome, Reason, Verdict, fmt, judgement, unbounded
from dhstats.verdicts.wording import failure, num, percent_of, pooled_meaning, reach

if TYPE_CHECKING:
    from dhstats.verdicts.agreement import Estimator


def pooled_agreement(est: Estimator, eta: float, cases: Sequence[Mapping], k: float,
                     companion: Sequence[Mapping] = (), *, tolerance: float | None = None,
                     alpha: float = 0.05) -> Judgement:
    """Stouffer's Z = Σ z_r/√R of the per-run cases of estimator ``est`` at ``eta`` (health.json
    case dicts, read as :class:`~dhstats.verdicts.case_numbers.AgreementNumbers`), |Z| ≤ k.
    Runs without a judged finite z are left out and named; fewer than 2 judged runs: skipped.
    The pooled ratio ρ̂ = Σw·P/Σw·ΔH_true with Stouffer's weights w = 1/σ_1, its SE and its
    1 − 2α Fieller interval (:func:`pooled_estimate`) say how large a shared bias is;
    ``resolution`` what the test could see (:func:`dhstats.stats.equivalence.resolution`). Runs that
    disagree with each other (heterogeneity Q's p-value below 2Φ(−k),
    :func:`dhstats.stats.equivalence.heterogeneity`) fail ``heterogeneous`` before anything else is
    judged, with or without a tolerance: one pooled ratio does not describe them. With
    ``tolerance`` δ the case is judged by TOST alone (:func:`equivalence_verdict`), from one
    judged run on. ``companion``: the lin+quad
    cases at this η, for the linear check's meaning (whether pooled lin+quad holds where ηG
    fails: curvature, or a biased gdotv)."""
    every = [Verdict.of(c, AgreementNumbers) for c in cases]
    judged = _judged(every)
    left = sorted(str(v.run) for v in every if not _is_judged(v))  # not "v not in judged": O(R²) at 10⁴ runs
    nums = PooledNumbers(R=len(judged), k=k, z_runs={str(v.run): v.numbers.z for v in judged})
    out_note = f" Left out (no judged finite z): {', '.join(left)}." if left else ""
    need = 1 if tolerance is not None else 2
    if len(judged) < need:
        if judged:  # one run: what pooling would see is that run's resolution
            one = judged[0].numbers
            nums = replace(nums, resolution=unbounded(equivalence.resolution(k, [one.delta_h_true], [one.sigma])))
        return judgement("skipped", f"{len(judged)} run(s) with a judged z at η = {eta!r}: pooling "
                         f"needs at least {need}.{out_note}", nums, Reason.INCONCLUSIVE)
    runs = [v.numbers for v in judged]
    Z = stats.stouffer([float(n.z) for n in runs])
    pooled = pooled_estimate(runs, alpha)
    resolution = equivalence.resolution(k, pooled.truths, [n.sigma for n in runs])
    nums = replace(nums, Z=Z, ratio=pooled.ratio, ratio_se=pooled.ratio_se, ratio_lo=unbounded(pooled.lo),
                   ratio_hi=unbounded(pooled.hi), interval_alpha=alpha, resolution=unbounded(resolution))
    het = pooled.heterogeneity
    if het is not None:
        nums = replace(nums, heterogeneity_q=het.q, heterogeneity_p=het.p_value)
    each = _each_z(judged)
    shift = _finding(est, pooled, len(judged))
    failed = not abs(Z) <= k
    rule = f"|Z| = {num(abs(Z))} > k = {k:g}" if failed else f"|Z| ≤ k = {k:g}"
    q_text = "" if het is None else f"; heterogeneity Q = {num(het.q)} on {het.dof} d.f., p = {het.p_value:.3g}"
    detail = (f"pooled ratio Σw·prediction / Σw·ΔH_true (w = 1/σ_1) = {_g3(pooled.ratio)}, "
              f"{_interval(pooled, alpha)}; Stouffer Z = Σz/√R = {num(Z)} over R = {len(judged)} runs "
              f"({each}){q_text}.{out_note}")
    if not math.isfinite(Z):
        return judgement("failed", f"not finite: Z = {fmt(Z)}; {detail}", nums, Reason.NOT_FINITE, detail)
    if het is not None and het.p_value < stats.two_sided_p(k):
        return judgement("failed", failure(
            f"the runs disagree with each other (Q = {num(het.q)} on {het.dof} d.f., p = {het.p_value:.2g} < "
            f"2Φ(−k) = {stats.two_sided_p(k):.2g}): {_contributors(judged, het)}; no single pooled ratio "
            "describes them", f"{detail} {_upper_first(reach(resolution, False))}"),
            nums, Reason.HETEROGENEOUS, detail)
    if tolerance is not None:
        return equivalence_verdict(eta, judged, nums, tolerance, alpha, detail)
    if not failed:
        return judgement("passed", pooled_message(False, f"{shift}; {detail}", rule, None, resolution), nums,
                         detail=detail)
    finding, meaning = pooled_meaning({str(v.run): v.numbers.z for v in judged},
                                      sum(v.outcome == Outcome.FAILED for v in judged), Z, k,
                                      [v.numbers.z for v in _judged([Verdict.of(c, AgreementNumbers) for c in companion])])
    if finding:
        nums = replace(nums, finding=finding)
    return judgement("failed", pooled_message(True, detail, rule, f"{shift}; {meaning}", resolution), nums,
                     detail=detail)


def _is_judged(v: Verdict) -> bool:
    return v.outcome != Outcome.SKIPPED and _finite(v.numbers.z)


def _judged(cases: Sequence[Verdict]) -> list[Verdict]:
    return [v for v in cases if _is_judged(v)]


def case_sigma_c(case: AgreementNumbers, c: float) -> float:
    """σ_c of an agreement case (:func:`dhstats.stats.sigmas.sigma_c` of its σ's and covariance)."""
    return sigma_c(c, sigma_prediction=present(case.sigma_prediction), sigma_true=present(case.sigma_true),
                   cov=case_covariance(case))


def equivalence_verdict(eta: float, judged: Sequence[Verdict], nums: PooledNumbers, delta: float, alpha: float,
                        detail: str | None = None) -> Judgement:
    """A pooled case judged by TOST against [1 − δ, 1 + δ] (:func:`dhstats.stats.equivalence.tost`):
    passed when demonstrated (a significant Z inside the tolerance is said), failed
    ``out_of_tolerance`` or ``not_demonstrated`` (with the runs, or the E at this R, that would
    demonstrate ±δ with 80 % power at ratio 1)."""
    runs = [v.numbers for v in judged]
    t = equivalence.tost([n.prediction for n in runs], [n.delta_h_true for n in runs],
                         [case_sigma_c(n, 1 - delta) for n in runs], [case_sigma_c(n, 1 + delta) for n in runs],
                         delta, alpha, equivalence.stouffer_weights([n.sigma for n in runs]))
    R, band = len(judged), f"±{equivalence.percent(delta)}"
    nums = replace(nums, tolerance=delta, equivalence_alpha=alpha, tost_lo=t.t_lo, tost_hi=t.t_hi)
    interval = (f"pooled ratio {_g3(nums.ratio)}, {100 * (1 - 2 * alpha):g} % interval "
                f"[{_g3(present(nums.ratio_lo), '−∞')}, {_g3(present(nums.ratio_hi), '∞')}] vs "
                f"[{1 - delta:.3g}, {1 + delta:.3g}]")
    tests = f"TOST at α = {alpha:g}: t_lo = {t.t_lo:.2f}, t_hi = {t.t_hi:.2f}, critical ±{t.z:.3g}"
    where = f"over R = {R} run{'s' * (R != 1)} at η = {eta:.3g}"
    if t.verdict == equivalence.Equivalence.DEMONSTRATED:
        extra = ""
        if not abs(nums.Z) <= nums.k:
            extra = (f"; a significant bias (Z = {nums.Z:.2f}, |Z| > k = {nums.k:g}), but inside the "
                     "tolerance")
        return judgement("passed", f"agreement within {band} demonstrated {where}: {interval} ({tests}){extra}.",
                         nums, detail=detail)
    if t.verdict == equivalence.Equivalence.OUT_OF_TOLERANCE:
        return judgement("failed", failure(f"outside {band} {where}: the prediction is demonstrably off by more "
                                           f"than {band}", f"{interval} ({tests})"),
                         nums, Reason.OUT_OF_TOLERANCE, detail)
    if t.verdict == equivalence.Equivalence.NOT_FINITE:
        return judgement("failed", f"not finite: {tests}; {interval}", nums, Reason.NOT_FINITE, detail)
    why = not_demonstrated(R, eta, present(nums.ratio), present(nums.ratio_lo), present(nums.ratio_hi),
                           present(nums.ratio_se), delta, alpha, [n.n for n in runs])
    nums = replace(nums, runs_needed=why.runs_needed)
    if why.e_needed is not None:
        nums = replace(nums, e_needed=why.e_needed)
    return judgement("failed", failure(why.headline, f"{interval} ({tests})"), nums, Reason.NOT_DEMONSTRATED,
                     detail)


def pooled_message(failed: bool, detail: str, rule: str, meaning: str | None, resolution: float | None = None) -> str:
    """A failure: rule and meaning first, numbers and resolution below; a pass: what it was worth."""
    if failed:
        return failure(f"{rule}: {meaning}", f"{detail} {_upper_first(reach(resolution, False))}")
    return f"{detail} {rule} — {reach(resolution)}."


@dataclass(frozen=True)
class PooledEstimate:
    """The pooled numbers of one pooled case, all with Stouffer's weights w_r = 1/σ_1,r
    (:mod:`dhstats.stats.equivalence`): ρ̂, its delta-method SE, its 1 − 2α Fieller interval
    (lo, hi; ±∞ when unbounded) and the runs' heterogeneity (None for one run)."""

    predictions: tuple[float, ...]
    truths: tuple[float, ...]
    weights: tuple[float, ...]
    ratio: float
    ratio_se: float
    lo: float
    hi: float
    heterogeneity: equivalence.Heterogeneity | None


def pooled_estimate(runs: Sequence[AgreementNumbers], alpha: float) -> PooledEstimate:
    """:class:`PooledEstimate` of judged agreement cases (their P, ΔH_true, σ_1 and σ_c by
    :func:`case_sigma_c`): the one place the pooled case, pooled.csv and the figures get ρ̂."""
    preds = tuple(float(n.prediction) for n in runs)
    truths = tuple(float(n.delta_h_true) for n in runs)
    weights = tuple(equivalence.stouffer_weights([n.sigma for n in runs]))

    def sigma_at(c: float) -> list[float]:
        return [case_sigma_c(n, c) for n in runs]

    ratio = equivalence.weighted_ratio(preds, truths, weights)
    se = equivalence.ratio_se(preds, truths, weights, sigma_at)
    lo, hi = equivalence.fieller_interval(preds, truths, sigma_at, equivalence.normal_quantile(1 - alpha), weights)
    het = equivalence.heterogeneity(preds, truths, sigma_at) if len(runs) >= 2 else None
    return PooledEstimate(preds, truths, weights, ratio, se, lo, hi, het)


def _interval(est: PooledEstimate, alpha: float) -> str:
    """"90 % interval [1.12, 1.70]" (Fieller; unbounded limits as ∓∞)."""
    return f"{100 * (1 - 2 * alpha):g} % interval [{_g3(est.lo, '−∞')}, {_g3(est.hi, '∞')}]"


LISTED_RUNS = 10  # a pooled message names every run's z up to this many runs, else the largest |z|


def _each_z(judged: Sequence[Verdict]) -> str:
    """The runs' z's for a pooled message: every run's, in order, up to :data:`LISTED_RUNS`
    runs; beyond, the :data:`LISTED_RUNS` largest |z| ("10 largest |z| of 1000: run_0972 z = …"),
    so that a message stays one line at 10⁴ runs (every z is in health.json's per-run cases)."""
    shown = judged if len(judged) <= LISTED_RUNS else sorted(
        judged, key=lambda v: -abs(float(v.numbers.z)))[:LISTED_RUNS]
    each = ", ".join(f"{v.run} z = {num(float(v.numbers.z))}" for v in shown)
    return each if len(judged) <= LISTED_RUNS else f"{LISTED_RUNS} largest |z| of {len(judged)}: {each}"


def _contributors(judged: Sequence[Verdict], het: equivalence.Heterogeneity) -> str:
    """The runs that carry most of Q (largest first, until half of Q, at most 3), each with its
    own ratio P_r/ΔH_true,r and its share, and the largest on the other side of the common
    ratio when all of those lie on one side: "most of Q from run_03 (ratio 0.4, 40 % of Q),
    run_04 (…); against run_01 (ratio 1.65, 10 % of Q)"."""
    def own(i: int) -> float:
        n = judged[i].numbers
        return n.prediction / n.delta_h_true if n.delta_h_true else math.nan

    def named(i: int) -> str:
        return f"{judged[i].run} (ratio {_g3(own(i))}, {equivalence.percent(het.terms[i] / het.q)} of Q)"

    order = sorted(range(len(judged)), key=lambda i: -het.terms[i])
    top, total = [], 0.0
    for i in order[:3]:
        top.append(i)
        total += het.terms[i]
        if total >= 0.5 * het.q:
            break
    text = "most of Q from " + ", ".join(named(i) for i in top)
    sides = {own(i) > het.c for i in top}
    other = [i for i in order if i not in top and len(sides) == 1 and (own(i) > het.c) not in sides]
    return text + (f"; against {named(other[0])}" if other else "")


def _finding(estimator: Estimator, est: PooledEstimate, runs: int) -> str:
    """"the linear prediction overshoots ΔH by 41 % over 4 runs": the pooled shift; its
    interval (never a ratio ± SE) follows in the case's detail."""
    if not math.isfinite(est.ratio):
        return f"pooled ratio {estimator.word}/ΔH_true = {fmt(est.ratio)} over {runs} runs"
    off = (est.ratio - 1.0) * 100
    verb = "overshoots" if off >= 0 else "undershoots"
    return f"{estimator.label} {verb} ΔH by {percent_of(abs(off))} over {runs} runs"


def case_covariance(case: AgreementNumbers) -> float:
    """cov(prediction, ΔH_true) of an agreement case: :func:`dhstats.stats.sigmas.cov_from` of its σ's
    when they are paired, 0 when independent (σ² of the difference is then the sum)."""
    if case.sigma_source != "paired":
        return 0.0
    return cov_from(case.sigma_prediction, case.sigma_true, case.sigma)


def _g3(x: float | None, unbounded: str = "n/a") -> str:
    """3 significant figures; ``unbounded`` for None (an unbounded interval limit)."""
    return unbounded if x is None else f"{x:.3g}"


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# --------------------------------------------------------------------------- not demonstrated, in words


@dataclass(frozen=True)
class NotDemonstrated:
    """The headline of a ``not_demonstrated`` pooled case and the numbers it states:
    ``runs_needed`` (None: no number of runs at this ratio), ``e_needed`` (None when not
    stated), ``narrow`` (the interval is no wider than the band)."""

    headline: str
    runs_needed: float | None
    e_needed: float | None
    narrow: bool


def not_demonstrated(R: int, eta: float, ratio: float | None, ratio_lo: float | None, ratio_hi: float | None,
                     ratio_se: float | None, delta: float, alpha: float, sizes: Sequence[int] = ()) -> NotDemonstrated:
    """The two cases of the module docstring ("not demonstrated"). ``ratio_lo``/``ratio_hi``: the 1 − 2α Fieller
    interval (None: unbounded); ``sizes``: the runs' E (their median scales E)."""
    ratio = math.nan if ratio is None else float(ratio)
    ratio_se = math.nan if ratio_se is None else float(ratio_se)
    band = f"±{equivalence.percent(delta)}"
    runs = f"{R} run{'s' * (R != 1)}"
    where = f"{band} not demonstrated over R = {runs} at η = {eta:.3g}"
    level = f"{100 * (1 - 2 * alpha):g} %"
    bounded = ratio_lo is not None and ratio_hi is not None and math.isfinite(ratio_lo) and math.isfinite(ratio_hi)
    interval = (f"[{_g3(ratio_lo)}, {_g3(ratio_hi)}]" if bounded else
                f"[{'−∞' if ratio_lo is None else _g3(ratio_lo)}, {'∞' if ratio_hi is None else _g3(ratio_hi)}]")
    e = sorted(int(n) for n in sizes if isinstance(n, int) and not isinstance(n, bool))
    median_e = e[len(e) // 2] if e else None
    # narrow: no wider than the band, with the ratio nearer a bound than 1 (an interval almost as
    # wide as the band around a ratio near 1 is imprecision, not a ratio near a bound)
    narrow = (bounded and math.isfinite(ratio) and (ratio_hi - ratio_lo) <= 2 * delta
              and abs(ratio - 1) >= delta / 2)
    if not narrow:
        factor = equivalence.demonstration_factor(ratio_se, delta, alpha)
        needed = equivalence.runs_to_demonstrate(R, ratio_se, delta, alpha)
        more, e_needed = _more(needed, factor, median_e, runs)
        return NotDemonstrated(
            f"{where}: too imprecise — the {level} interval {interval} of the pooled ratio is wider than the "
            f"band 1 ± {delta:g}; {more} would demonstrate it (80 % power at ratio 1)",
            None if not math.isfinite(needed) else needed, e_needed, False)
    bound = 1 + delta if ratio >= 1 else 1 - delta
    if abs(ratio - 1) >= delta:
        return NotDemonstrated(
            f"{where}: the pooled ratio sits at {_g3(ratio)}, beyond the bound {bound:g}, and its {level} "
            f"interval {interval} crosses it: more runs at this ratio would not demonstrate {band}",
            None, None, True)
    factor = tost_power.factor_at_ratio(ratio, ratio_se, delta, alpha)
    needed = tost_power.runs_at_ratio(R, ratio, ratio_se, delta, alpha)
    more, e_needed = _more(needed, factor, median_e, runs)
    return NotDemonstrated(
        f"{where}: the pooled ratio sits at {_g3(ratio)}, near the bound {bound:g}, and its {level} interval "
        f"{interval} crosses it — the runs are precise enough, the ratio is the question; {more} would "
        f"demonstrate {band} if the ratio stays at {_g3(ratio)} (80 % power)",
        None if not math.isfinite(needed) else needed, e_needed, True)


def _more(needed: float, factor: float, median_e: int | None, runs: str) -> tuple[str, float | None]:
    if not math.isfinite(needed):  # the ratio's SE is not finite: nothing to scale
        return "more runs (how many cannot be estimated: the ratio's SE is not finite)", None
    more = f"≈ {needed:.0f} runs of this precision"
    if median_e is None or not math.isfinite(factor):
        return more, None
    e_needed = median_e * factor
    return more + f" (or E ≈ {equivalence.about(e_needed)} at {runs})", e_needed

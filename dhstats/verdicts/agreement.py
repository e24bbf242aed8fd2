"""Agreement checks: does the prediction match the SNIS measurement within sampling error?

Per case (``shared/spec/checks.md``), one :class:`Estimator` object per prediction
(:data:`LINEAR`, :data:`LINQUAD`; the registry names their checks):

    linear   z = (η·G − ΔH_true) / σ_lin
    linquad  z = (η·G_q + ½η²·Q − ΔH_true) / σ_lq

σ_lin and σ_lq are σ's *of the difference*: ηG and ΔH_true are computed on the same
sequences, so with per-sequence gdotv and ``h_base`` σ_lin = se_sum(η·g̃ − ψ) ("paired");
otherwise √((ησ_G)² + σ_true²) ("independent"). See :class:`dhstats.stats.sigmas.Sigmas`.

Per run set and η (the runs are independent batches):

    pooled              Stouffer's Z = Σ_r z_r / √R over the R runs with a judged z,
                        and the pooled ratio Σ_r pred_r / Σ_r ΔH_true,r with its SE.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from dhstats.stats import equivalence, stats
from dhstats.load.results import Entry, Run
from dhstats.stats.sigmas import Sigmas, cov_from, sigma_c
from dhstats.verdicts.case_numbers import AgreementNumbers, PooledNumbers, present
from dhstats.verdicts.equivalence_words import not_demonstrated
from dhstats.load.settings import Settings
from dhstats.verdicts.verdicts import Judgement, Outcome, Reason, RunContext, RunSetRecords, Verdict, fmt, judgement, unbounded
from dhstats.verdicts.wording import APPROXIMATE, CONSTANT_RATIO, failure, num, percent_of, pm, pooled_meaning


@dataclass(frozen=True)
class Estimator:
    """One prediction of ΔH and what its agreement checks (per run and pooled) say of it.

    ``name`` keys the σ's of :class:`dhstats.stats.sigmas.Sigmas` (``linear``: σ_lin, ``linquad``:
    σ_lq); ``curvature`` marks the prediction with the ½η²Q term (its σ_Q is reported, and a
    paired σ without per-sequence vhvv is named as such); ``sigma_text`` the formula and
    provenance of σ of the difference, by its source; ``predict(run, entry)`` the prediction
    (None when the run lacks what it needs)."""

    name: str
    word: str  # "linear", "lin+quad"
    symbol: str  # the prediction's formula, e.g. "ηG"
    meaning: str  # what a failure of the per-run check means
    sigma_text: Mapping[str, str]
    predict: Callable[[Run, Entry], float | None]
    curvature: bool = False

    @property
    def label(self) -> str:
        """"the linear prediction"."""
        return f"the {self.word} prediction"

    @property
    def ratio_label(self) -> str:
        """"(ηG_q + ½η²Q) / ΔH_true": the prediction over the measurement, for axes."""
        return f"({self.symbol}) / ΔH_true" if " " in self.symbol else f"{self.symbol} / ΔH_true"

    def difference_sigma(self, sig: Sigmas):
        """σ of prediction − ΔH_true (σ_lin or σ_lq, a :class:`dhstats.stats.sigmas.Sigma`; None: not available)."""
        return getattr(sig, self.name)

    def prediction_sigma(self, sig: Sigmas) -> float | None:
        """σ of the prediction alone."""
        return getattr(sig, f"prediction_{self.name}")

    def judge_case(self, ctx: RunContext, e: Entry) -> Judgement:
        """z = (prediction − ΔH_true) / σ of the difference, |z| ≤ k (checks.md); skipped when
        the run lacks the prediction or its σ."""
        return _agreement(ctx, e, self)

    def judge_pooled(self, records: RunSetRecords, settings: Settings) -> Judgement:
        """:func:`pooled_agreement` of the run set's per-run cases of this estimator at one η (the
        first check the pooled check pools); the cases of the next one, when it pools one, say
        whether a failure is curvature (pooled lin+quad holds there) or a biased gdotv."""
        return pooled_agreement(self, records.eta, records.pooled(0), settings.k, records.pooled(1),
                                tolerance=settings.tolerance, alpha=settings.equivalence_alpha)


def _linear(run: Run, e: Entry) -> float:
    """ηG."""
    return e.eta * run.delta_h_per_lr


def _linquad(run: Run, e: Entry) -> float | None:
    """ηG_q + ½η²Q (None without an approx.quadratic block)."""
    q = run.quadratic
    return None if q is None else stats.linquad_prediction(e.eta, q.gdotv, q.vhvv)


LINEAR = Estimator(
    "linear", "linear", "ηG",
    "the first-order prediction misses the SNIS measurement by more than the sampling error: a biased "
    "gdotv, or η beyond the linear regime (see linquad_agreement)",
    {"paired": "σ_lin = se_sum(η·g̃ − ψ), paired: ηG and ΔH_true share their sequences",
     "independent": "σ_lin = √((ησ_G)² + σ_true²), independent: no per-sequence gdotv or h_base to pair"},
    _linear)
LINQUAD = Estimator(
    "linquad", "lin+quad", "ηG_q + ½η²Q",
    "even with the curvature term the prediction misses the measurement: a biased gdotv/vHvv, or "
    "higher-order terms matter at this η",
    {"paired": "σ_lq = se_sum(η·g̃ + ½η²·q̃ − ψ), paired: the prediction and ΔH_true "
               "share their sequences",
     "paired-no-q": "σ_lq = √(se_sum(η·g̃ − ψ)² + (½η²σ_Q)²), paired but for the curvature term (no "
                    "per-sequence vhvv)",
     "independent": "σ_lq = √((ησ_G)² + (½η²σ_Q)² + σ_true²), independent: no per-sequence data to pair"},
    _linquad, curvature=True)


def reach(resolution: float | None, passed: bool = True) -> str:
    """What the difference test could see (80 % power): "would detect a bias of ±33 % or more"
    for a pass, "resolution ±33 %" for a failure; ``resolution`` None or ∞: Σ ΔH_true/σ = 0."""
    if resolution is not None and math.isnan(resolution):
        return "resolution n/a"
    if resolution is None or math.isinf(resolution):
        return "could not detect a bias of any size (Σ ΔH_true/σ = 0)"
    if not passed:
        return f"resolution ±{equivalence.percent(resolution)}"
    return f"would detect a bias of ±{equivalence.percent(resolution)} or more"


def agreement_message(failed: bool, detail: str, rule: str, meaning: str, resolution: float | None = None) -> str:
    """One wording for the z-checks, whichever rule (|z| ≤ k or Holm) decided: a failure's
    first line is the rule and the meaning (:attr:`Estimator.meaning`, or a diagnosis), the
    numbers, σ formula and resolution below it (:func:`dhstats.verdicts.wording.failure`); a pass says
    what it was worth ("— would detect a bias of ±33 % or more")."""
    if failed:
        return failure(f"{rule}: {meaning}", f"{detail}; {reach(resolution, False)}")
    return f"{detail}; {rule} — {reach(resolution)}."


def sigma_text(est: Estimator, sig: Sigmas) -> str:
    """The formula and provenance of the σ that judged ``est`` (σ_lin or σ_lq)."""
    source = est.difference_sigma(sig).source
    if est.curvature and source == "paired" and (sig.q is None or sig.q.source != "per_sequence"):
        source = "paired-no-q"
    return est.sigma_text.get(source, source)


def _ratios(ctx: RunContext, est: Estimator) -> dict[float, float]:
    """prediction/ΔH_true at every η of the run (for the constant-ratio diagnosis)."""
    out = {}
    for e in ctx.run.entries:
        pred = est.predict(ctx.run, e)
        if pred is not None and e.delta_h_true != 0:
            out[e.eta] = pred / e.delta_h_true
    return out


def _diagnosis(ctx: RunContext, est: Estimator, sig: Sigmas, z: float) -> tuple[str | None, str | None]:
    """``(finding, meaning)``: a more specific meaning than :attr:`Estimator.meaning` when the
    numbers point to one cause (``finding`` a key of :data:`dhstats.verdicts.wording.FINDINGS`, or None)."""
    ratios = _ratios(ctx, est)
    values = list(ratios.values())
    if len(values) >= 3 and all(r > 0 for r in values) and max(values) / min(values) <= 1.25 \
            and not 0.8 <= min(values) <= 1.25:
        return "biased_g", CONSTANT_RATIO.format(ratios=", ".join(num(r) for r in values))
    lq = None if est.curvature else _z_of(ctx, LINQUAD, sig)
    if lq is not None and abs(lq) <= ctx.settings.k:
        return "beyond_linear", (f"η is beyond the linear regime: the lin+quad prediction holds at this η "
                                 f"(z = {num(lq, 2)}), the curvature term ½η²Q is what ηG misses")
    g, shards = sig.g, ctx.run.num_shards
    if g is not None and g.source == "reported" and shards and shards > 1 and sig.true is not None:
        # what z would be with the producer's shard-mean convention declared (σ_G × num_shards)
        true = sig.true.value * shards if sig.true.source == "approximate" else sig.true.value
        lin = est.prediction_sigma(sig)
        scaled = math.hypot((lin or 0.0) * shards, true)
        if scaled > 0 and abs(z * sig_value(sig, est) / scaled) <= ctx.settings.k:
            return "shard_mean_se", (f"σ_G comes from the reported se_shard, unverified; with σ_G × num_shards = "
                                     f"{shards} the case passes: the shard-mean convention is the likely cause "
                                     "— declare it with --reported-se shard-mean")
    if lq is not None:  # lin+quad judged and failing at this η too: not curvature alone
        return None, "the lin+quad prediction fails at this η too: not curvature alone — a biased gdotv (or vHvv)"
    return None, None


def _z_of(ctx: RunContext, est: Estimator, sig: Sigmas) -> float | None:
    """z of ``est`` at this η when it is judged (finite), else None."""
    e = next(e for e in ctx.run.entries if e.eta == sig.eta)
    pred = est.predict(ctx.run, e)
    if pred is None or est.difference_sigma(sig) is None:
        return None
    z = stats.agreement_z(pred, e.delta_h_true, est.difference_sigma(sig).value)
    return z if math.isfinite(z) else None


def sig_value(sig: Sigmas, est: Estimator) -> float:
    s = est.difference_sigma(sig)
    return math.nan if s is None else s.value


def _agreement(ctx: RunContext, e: Entry, est: Estimator) -> Judgement:
    sig = ctx.sigmas[e.eta]
    pred = est.predict(ctx.run, e)
    diff_sigma = est.difference_sigma(sig)
    pred_sigma = est.prediction_sigma(sig)
    if pred is None:
        return ctx.judgement("skipped", "no approx.quadratic block.")
    if diff_sigma is None or sig.true is None:
        missing = ("σ_G: neither approx.per_sequence nor approx.variance.se_shard" if sig.g is None
                   else "σ_Q: no per_sequence_vhvv and no se_vHvv")
        return ctx.judgement("skipped", f"no {missing}.")
    k, truth = ctx.settings.k, e.delta_h_true
    z = stats.agreement_z(pred, truth, diff_sigma.value)
    cov = sig.cov(est.name)
    ratio, ratio_se = stats.pooled_ratio([pred], [truth], [pred_sigma], [sig.true.value], [cov])
    resolution = equivalence.resolution(k, [truth], [diff_sigma.value])
    notes = [f"σ = {num(diff_sigma.value)} ({sigma_text(est, sig)})"]
    if sig.true.source == "approximate":
        notes.append(APPROXIMATE)
    if sig.g is not None and sig.g.source.startswith("reported"):
        notes.append(f"σ_G from the producer's reported SE ({sig.g.source}): reported, unverified")
    detail = (f"{est.symbol} = {num(pred)} vs ΔH_true = {num(truth)} (diff {num(pred - truth)}, ratio "
              f"{pm(ratio, ratio_se)}); " + "; ".join(notes) + f"; z = {num(z)}")
    nums = AgreementNumbers(
        z=z, k=k, n=ctx.run.n, prediction=pred, delta_h_true=truth, sigma=diff_sigma.value,
        sigma_source=diff_sigma.source, sigma_prediction=pred_sigma, sigma_true=sig.true.value,
        sigma_true_source=sig.true.source, sigma_g=None if sig.g is None else sig.g.value,
        sigma_g_source=None if sig.g is None else sig.g.source, ratio=ratio, ratio_se=ratio_se,
        resolution=unbounded(resolution))
    tol = ctx.settings.tolerance
    if tol is not None:  # information only: a run's case keeps the difference test
        lo, hi = (sigma_c(c, sigma_prediction=pred_sigma, sigma_true=sig.true.value, cov=cov or 0.0)
                  for c in (1 - tol, 1 + tol))
        t = equivalence.tost([pred], [truth], [lo], [hi], tol, ctx.settings.equivalence_alpha)
        nums = replace(nums, tolerance=tol, tost_lo=t.t_lo, tost_hi=t.t_hi)
    if est.curvature:
        nums = replace(nums, sigma_q=None if sig.q is None else sig.q.value,
                       sigma_q_source=None if sig.q is None else sig.q.source)
    if not math.isfinite(z) or not all(math.isfinite(x) for x in (pred, truth, diff_sigma.value)):
        return ctx.judgement("failed", f"not finite: z = {fmt(z)} ({detail}).", reason=Reason.NOT_FINITE, typed=nums,
                             detail=detail)
    failed = not abs(z) <= k
    rule = f"|z| = {num(abs(z))} > k = {k:g}" if failed else f"|z| ≤ k = {k:g}"
    finding, meaning = _diagnosis(ctx, est, sig, z) if failed else (None, None)
    if finding:
        nums = replace(nums, finding=finding)
    return ctx.judgement("failed" if failed else "passed",
                         agreement_message(failed, detail, rule, meaning or est.meaning, resolution), typed=nums,
                         detail=detail)


# --------------------------------------------------------------------------- pooled over runs


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

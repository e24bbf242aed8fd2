"""Agreement checks: does the prediction match the SNIS measurement within sampling error?

Per case (``shared/spec/checks.md``), one :class:`Estimator` object per prediction
(:data:`LINEAR`, :data:`LINQUAD`; the registry names their checks):

    linear   z = (η·G − ΔH_true) / σ_lin
    linquad  z = (η·G_q + ½η²·Q − ΔH_true) / σ_lq

σ_lin and σ_lq are σ's *of the difference*: ηG and ΔH_true are computed on the same
sequences, so with per-sequence gdotv and ``h_base`` σ_lin = se_sum(η·g̃ − ψ) ("paired");
otherwise √((ησ_G)² + σ_true²) ("independent"). See :class:`dhstats.stats.sigmas.Sigmas`.

Per run set and η (the runs are independent batches), the pooled checks of each estimator
are :mod:`dhstats.verdicts.pooling`.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from dhstats.stats import equivalence, stats
from dhstats.load.results import Entry, Run
from dhstats.stats.sigmas import Sigmas, sigma_c
from dhstats.verdicts.case_numbers import AgreementNumbers
from dhstats.load.settings import Settings
from dhstats.verdicts.verdicts import Judgement, Reason, RunContext, RunSetRecords, fmt, unbounded
from dhstats.verdicts.wording import APPROXIMATE, CONSTANT_RATIO, failure, num, pm, reach


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
        """:func:`dhstats.verdicts.pooling.pooled_agreement` of the run set's per-run cases of this estimator at one η (the
        first check the pooled check pools); the cases of the next one, when it pools one, say
        whether a failure is curvature (pooled lin+quad holds there) or a biased gdotv."""
        from dhstats.verdicts.pooling import pooled_agreement  # pooling reads Estimator objects: imported here

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

"""Verdicts: thresholds applied to the statistics of :mod:`dhstats.stats`.

One function per check of ``shared/spec/checks.md``; each returns a :class:`Verdict` — a
small frozen record (outcome, message, numbers; no arrays) that the pytest gate asserts, the
tables print and the reports render. Missing optional fields give an explicit *skipped*
outcome with the reason, never a pass.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np

from . import stats
from .psis import khat_threshold, pareto_khat
from .results import Entry, InvalidRun, Run, RunFile

CHECKS = (
    "consistency",
    "snis_weights",
    "snis_reliability",
    "se_consistency",
    "linear_agreement",
    "linquad_agreement",
    "truncation_ratio",
)
RUN_CHECKS = ("se_consistency",)  # one case per run, eta = None
Z_CHECKS = ("linear_agreement", "linquad_agreement")  # judged by |z| ≤ k or Holm


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class Reason(StrEnum):
    """Why a case has its outcome (machine-readable, in health.json as ``reason``)."""

    OK = "ok"  # passed
    OUT_OF_BOUNDS = "out_of_bounds"  # a statistic outside its threshold
    MISSING_FIELD = "missing_field"  # skipped: an optional field the check needs is absent
    INCONCLUSIVE = "inconclusive"  # skipped: the evidence cannot decide


@dataclass(frozen=True)
class Settings:
    """Thresholds; defaults are checks.md's. ``khat_max=None`` means min(1 − 1/log10 n, 0.7)."""

    sigma: float = 3.0
    holm: float | None = None
    ratio_bounds: tuple[float, float] = (0.5, 2.0)
    keep_quantiles: tuple[float, ...] = (0.99, 0.95, 0.90)
    min_ess_fraction: float = 0.1
    khat_max: float | None = None
    se_ratio_bounds: tuple[float, float] = (1 / 3, 3.0)
    reported_se: str = "total"  # or "shard-mean"

    def to_dict(self) -> dict:
        return {
            "sigma": self.sigma,
            "holm": self.holm,
            "ratio_bounds": list(self.ratio_bounds),
            "keep_quantiles": list(self.keep_quantiles),
            "min_ess_fraction": self.min_ess_fraction,
            "khat_max": self.khat_max,
            "se_ratio_bounds": list(self.se_ratio_bounds),
            "reported_se": self.reported_se,
        }


@dataclass(frozen=True)
class Verdict:
    """One case: (check, run set, run, η) → outcome with message and numbers."""

    check: str
    outcome: Outcome
    message: str
    results: str
    run: str
    eta: float | None = None
    numbers: dict = field(default_factory=dict)  # JSON-serialisable floats/strings only
    reason: Reason = Reason.OK

    @property
    def case_id(self) -> str:
        return case_id(self.results, self.run, self.eta)

    def to_dict(self) -> dict:
        out = {
            "results": self.results,
            "run": self.run,
            "eta": self.eta,
            "check": self.check,
            "outcome": str(self.outcome),
            "reason": str(self.reason),
            "message": self.message,
        }
        for key, value in self.numbers.items():
            out[key] = _json_number(value)
        return out


@dataclass(frozen=True)
class RunVerdict:
    """Whether a run's file could be used at all (``health.json`` ``runs``)."""

    results: str
    run: str
    path: str
    outcome: str  # "ok" | "error"
    message: str = ""
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "results": self.results,
            "run": self.run,
            "path": self.path,
            "outcome": self.outcome,
            "message": self.message,
            "problems": list(self.problems),
        }


def case_id(results: str, run: str, eta: float | None) -> str:
    """``E_2048/run_01/eta=1.6e-06`` (η by repr: shortest exact form); per-run: ``E_2048/run_01``."""
    base = f"{results}/{run}"
    return base if eta is None else f"{base}/eta={eta!r}"


def _json_number(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; "not available" is null
    return value


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


# --------------------------------------------------------------------------- run-level


def run_verdict(loaded: Run | InvalidRun) -> RunVerdict:
    f = loaded.file
    if isinstance(loaded, InvalidRun):
        n = len(loaded.problems)
        head = f"{f.display}: invalid input ({n} problem{'s' * (n != 1)})"
        return RunVerdict(f.results, f.run, str(f.path), "error", head + "\n" + loaded.message,
                          tuple(str(p) for p in loaded.problems))
    return RunVerdict(f.results, f.run, str(f.path), "ok")


def evaluate_run(run: Run, settings: Settings = Settings()) -> list[Verdict]:
    """Every case of one valid run, in CHECKS order (per-η checks by ascending η)."""
    ctx = RunContext(run, settings)
    out: list[Verdict] = []
    for check in CHECKS:
        if check in RUN_CHECKS:
            out.append(JUDGES[check](ctx))
        else:
            out.extend(JUDGES[check](ctx, e) for e in run.entries)
    return out


class RunContext:
    """Per-run quantities shared by the checks of that run (σ_G, σ_Q are per run)."""

    def __init__(self, run: Run, settings: Settings):
        self.run = run
        self.settings = settings
        conv = settings.reported_se
        self.sigma_g = stats.sigma_from(run.gdotv, run.se_shard, run.num_shards, conv)
        q = run.quadratic
        self.sigma_q = (
            stats.sigma_from(q.per_sequence_vhvv, q.se_vhvv, q.num_shards or run.num_shards, conv)
            if q is not None
            else None
        )

    def verdict(self, check, outcome, message, entry: Entry | None = None, *,
                reason: Reason | None = None, **numbers) -> Verdict:
        """A verdict of this run; ``reason`` defaults to ok / out_of_bounds / missing_field."""
        f = self.run.file
        outcome = Outcome(outcome)
        if reason is None:
            reason = {Outcome.PASSED: Reason.OK, Outcome.FAILED: Reason.OUT_OF_BOUNDS,
                      Outcome.SKIPPED: Reason.MISSING_FIELD}[outcome]
        return Verdict(check, outcome, message, f.results, f.run,
                       None if entry is None else entry.eta, numbers, reason)

    def sigma_true(self, e: Entry) -> stats.Sigma | None:
        return stats.sigma_true(e.eta, e.normalized_weights, e.token_counts, e.h_new, e.h_base, self.sigma_g)


def _close(a: float, b: float, rel: float, floor: float = 1e-12) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b)) + floor


# --------------------------------------------------------------------------- checks


def check_consistency(ctx: RunContext, e: Entry) -> Verdict:
    """Σ gdotv = G, Σ vhvv = Q (rel 1e-5); per_sequence.length = token_counts; Σ c_i =
    ΔH_true with the weighted denominator B (rel 1e-6); base_entropy = Σh_base/ΣT (rel 1e-6);
    reported ess = 1/Σw̃² (rel 1e-3); token_counts identical across entries."""
    run, w, T = ctx.run, e.normalized_weights, e.token_counts
    bad: list[str] = []
    not_checked: list[str] = []
    nums: dict = {}
    if run.gdotv is not None:
        s = float(run.gdotv.sum())
        nums["sum_gdotv"] = s
        if not _close(s, run.delta_h_per_lr, 1e-5):
            bad.append(f"Σ gdotv = {s:.6g} ≠ G = {run.delta_h_per_lr:.6g} (rel. tol. 1e-5)")
        mis = np.flatnonzero(run.length != T)
        if mis.size:
            i = int(mis[0])
            bad.append(
                f"{mis.size} sequence(s) misaligned: approx.per_sequence[{i}].length = "
                f"{run.length[i]:g} but token_counts[{i}] = {T[i]:g}"
            )
    else:
        not_checked.append("Σ gdotv and alignment (no approx.per_sequence)")
    q = run.quadratic
    if q is not None and q.per_sequence_vhvv is not None:
        s = float(q.per_sequence_vhvv.sum())
        nums["sum_vhvv"] = s
        if not _close(s, q.vhvv, 1e-5):
            bad.append(f"Σ per_sequence_vhvv = {s:.6g} ≠ Q = {q.vhvv:.6g} (rel. tol. 1e-5)")
    elif q is not None:
        not_checked.append("Σ vhvv (no per_sequence_vhvv)")
    recon = stats.snis_delta(w, T, e.h_new, e.base_entropy)
    nums.update(delta_h_true=e.delta_h_true, reconstructed=recon)
    if not _close(recon, e.delta_h_true, 1e-6):
        old = stats.snis_delta_uncorrected(w, T, e.h_new, e.base_entropy)
        nums["reconstructed_uncorrected"] = old
        if _close(old, e.delta_h_true, 1e-6):
            bad.append(
                f"uncorrected SNIS denominator: delta_h_true = {e.delta_h_true:.6g} matches "
                f"Σw̃h_new/(D·mean w̃) − H_base = {old:.6g}, not Σw̃h_new/Σw̃T − H_base = "
                f"{recon:.6g}; this run predates the denominator correction"
            )
        else:
            bad.append(f"Σ c_i = {recon:.6g} ≠ delta_h_true = {e.delta_h_true:.6g} (rel. tol. 1e-6)")
    if e.h_base is not None:
        hb = stats.base_entropy_of(e.h_base, T)
        if not _close(hb, e.base_entropy, 1e-6):
            bad.append(f"base_entropy = {e.base_entropy:.8g} ≠ Σh_base/ΣT = {hb:.8g}")
    else:
        not_checked.append("base_entropy (no h_base)")
    if e.ess is not None:
        ess = stats.kish_ess(w)
        if not _close(e.ess, ess, 1e-3):
            bad.append(f"reported ess = {e.ess:.6g} ≠ 1/Σw̃² = {ess:.6g} (rel. tol. 1e-3)")
    first = run.entries[0].token_counts
    if e is not run.entries[0] and not np.array_equal(first, T):
        i = int(np.flatnonzero(first != T)[0])
        bad.append(
            f"token_counts differ from the entry at η={run.entries[0].eta!r} "
            f"(first at [{i}]: {T[i]:g} vs {first[i]:g}): not the same E-batch"
        )
    tail = f" Not checked: {'; '.join(not_checked)}." if not_checked else ""
    if bad:
        return ctx.verdict("consistency", "failed", "; ".join(bad) + "." + tail, e, **nums)
    return ctx.verdict("consistency", "passed", "sums, reconstruction and alignment hold." + tail, e, **nums)


def check_snis_weights(ctx: RunContext, e: Entry) -> Verdict:
    """w̃ finite and ≥ 0, Σ w̃ = 1 (abs 1e-6); weights_sum finite and > 0 when present."""
    w = e.normalized_weights
    total = float(w.sum())
    bad = []
    if not np.isfinite(w).all():
        bad.append("non-finite weight(s)")
    neg = np.flatnonzero(w < 0)
    if neg.size:
        bad.append(f"{neg.size} negative weight(s), first normalized_weights[{neg[0]}] = {w[neg[0]]:.4g}")
    if abs(total - 1.0) > 1e-6:
        bad.append(f"Σ w̃ = {total:.9g}, expected 1 (abs. tol. 1e-6): weights are not normalised")
    if e.weights_sum is not None and not e.weights_sum > 0:
        bad.append(f"weights_sum = {e.weights_sum:.4g}, expected > 0")
    nums = {"sum_weights": total, "min_weight": float(w.min())}
    if bad:
        return ctx.verdict("snis_weights", "failed", "; ".join(bad) + ".", e, **nums)
    return ctx.verdict("snis_weights", "passed", f"weights ≥ 0, Σ w̃ = {total:.9g}.", e, **nums)


def check_snis_reliability(ctx: RunContext, e: Entry) -> Verdict:
    """ESS/n ≥ min_ess_fraction and Pareto k̂ ≤ min(1 − 1/log10 n, 0.7) (Vehtari et al.,
    JMLR 2024). k̂ is fitted to log w̃ (the weights actually used, clipping included)."""
    w = e.normalized_weights
    n = w.size
    if not (w > 0).any():  # loadable input, but pareto_khat raises on all-zero ratios
        return ctx.verdict("snis_reliability", "failed", "no positive weight: ESS and k̂ undefined.", e)
    ess = stats.kish_ess(w)
    frac = ess / n
    with np.errstate(divide="ignore"):
        fit = pareto_khat(np.log(np.clip(w, 0.0, None)))
    kmax = ctx.settings.khat_max if ctx.settings.khat_max is not None else khat_threshold(n)
    nums = {"ess": ess, "ess_fraction": frac, "khat": fit.khat, "khat_max": kmax,
            "min_ess_fraction": ctx.settings.min_ess_fraction}
    bad = []
    if frac < ctx.settings.min_ess_fraction:
        bad.append(f"ESS/n = {frac:.3g} < {ctx.settings.min_ess_fraction:g} (ESS {ess:.1f} of {n})")
    if fit.khat is not None and fit.khat > kmax:
        bad.append(f"Pareto k̂ = {fit.khat:.3f} > {kmax:.3f}: the weight tail is too heavy for SNIS")
    if bad:
        return ctx.verdict("snis_reliability", "failed", "; ".join(bad) + ".", e, **nums)
    if fit.khat is None:
        if frac >= 0.99:  # weights ≈ equal: nothing to fit, and nothing to fear
            return ctx.verdict("snis_reliability", "passed",
                               f"ESS/n = {frac:.4f}; k̂ not estimable ({fit.reason}): weights nearly uniform.", e, **nums)
        return ctx.verdict("snis_reliability", "skipped",
                           f"ESS/n = {frac:.3g} passes but k̂ cannot be estimated: {fit.reason}.", e,
                           reason=Reason.INCONCLUSIVE, **nums)
    return ctx.verdict("snis_reliability", "passed", f"ESS/n = {frac:.3g}, k̂ = {fit.khat:.3f} ≤ {kmax:.3f}.", e, **nums)


def check_se_consistency(ctx: RunContext) -> Verdict:
    """ρ = reported SE / se_sum(per-sequence) within se_ratio_bounds, for se_shard vs gdotv and
    se_vHvv vs per_sequence_vhvv; names the shard-mean convention when ρ·num_shards ≈ 1."""
    run, st = ctx.run, ctx.settings
    conv = st.reported_se
    pairs = []
    if run.gdotv is not None and run.se_shard is not None:
        pairs.append(("se_shard", "gdotv", run.se_shard, run.gdotv, run.num_shards))
    q = run.quadratic
    if q is not None and q.per_sequence_vhvv is not None and q.se_vhvv is not None:
        pairs.append(("se_vHvv", "vhvv", q.se_vhvv, q.per_sequence_vhvv, q.num_shards or run.num_shards))
    if not pairs:
        why = "no per-sequence data" if run.gdotv is None else "no reported SEs"
        return ctx.verdict("se_consistency", "skipped", f"nothing to compare: {why}.")
    lo, hi = st.se_ratio_bounds
    bad, good, nums = [], [], {"reported_se": conv}
    for name, what, reported, per_seq, shards in pairs:
        total = stats.reported_total_se(reported, shards, conv)
        if total is None:
            bad.append(f"{name}: --reported-se shard-mean needs num_shards, which is missing")
            continue
        r = stats.se_ratio(total, per_seq, shards)
        nums[f"rho_{name}"] = r.rho
        nums[f"measured_{name}"] = r.measured
        nums["num_shards"] = shards
        text = f"{name} = {total:.4g} vs se_sum({what}) = {r.measured:.4g}: ρ = {r.rho:.3g}"
        if lo <= r.rho <= hi:
            good.append(text)
        elif r.shard_mean(st.se_ratio_bounds):
            bad.append(
                f"{text}, but ρ·num_shards = {r.rho * shards:.3g} ≈ 1: the producer reports the "
                f"SE of the mean shard contribution (shard-mean convention, num_shards = {shards}); "
                f"the SE of the total is num_shards·{name} = {total * shards:.4g} "
                f"(use --reported-se shard-mean to declare it)"
            )
        else:
            bad.append(f"{text} outside [{lo:.3g}, {hi:.3g}]")
    if bad:
        return ctx.verdict("se_consistency", "failed", "; ".join(bad) + ".", **nums)
    return ctx.verdict("se_consistency", "passed", "; ".join(good) + f" within [{lo:.3g}, {hi:.3g}].", **nums)


MEANING = {
    "linear_agreement": "the first-order prediction misses the SNIS measurement by more than "
    "the sampling error: a biased gdotv, or η beyond the linear regime (see linquad_agreement)",
    "linquad_agreement": "even with the curvature term the prediction misses the measurement: "
    "a biased gdotv/vHvv, or higher-order terms matter at this η",
}


def agreement_message(check: str, failed: bool, detail: str, rule: str) -> str:
    """One wording for the z-checks, whichever rule (|z| ≤ k or Holm) decided."""
    if failed:
        return f"{rule}: {detail}. Meaning: {MEANING[check]}."
    return f"{detail}; {rule}."


def _agreement(ctx: RunContext, e: Entry, check: str, prediction: float, parts: dict,
               label: str, sources: dict) -> Verdict:
    k = ctx.settings.sigma
    z = stats.agreement_z(prediction, e.delta_h_true, *parts.values())
    detail = (
        f"{label} = {prediction:.4g} vs ΔH_true = {e.delta_h_true:.4g} "
        f"(diff {prediction - e.delta_h_true:.3g}); σ parts: "
        + ", ".join(f"{name} = {_fmt(v)}" for name, v in parts.items())
        + f" [{'; '.join(f'{n}: {s}' for n, s in sources.items())}]; z = {z:.3g}"
    )
    nums = {"z": z, "k": k, "prediction": prediction, "delta_h_true": e.delta_h_true,
            "combined_se": math.sqrt(sum(s * s for s in parts.values())), **parts, **sources,
            "detail": detail}
    failed = not abs(z) <= k
    rule = f"|z| > k = {k:g}" if failed else f"|z| ≤ k = {k:g}"
    return ctx.verdict(check, "failed" if failed else "passed", agreement_message(check, failed, detail, rule), e, **nums)


def check_linear_agreement(ctx: RunContext, e: Entry) -> Verdict:
    """z = (ηG − ΔH_true) / √((ησ_G)² + σ_true²), |z| ≤ k (checks.md)."""
    sg, st = ctx.sigma_g, ctx.sigma_true(e)
    if sg is None or st is None:
        return ctx.verdict("linear_agreement", "skipped",
                           "no σ_G: neither approx.per_sequence nor approx.variance.se_shard.", e)
    parts = {"sigma_linear": e.eta * sg.value, "sigma_true": st.value}
    sources = {"sigma_g_source": sg.source, "sigma_true_source": st.source}
    return _agreement(ctx, e, "linear_agreement", e.eta * ctx.run.delta_h_per_lr, parts, "ηG", sources)


def check_linquad_agreement(ctx: RunContext, e: Entry) -> Verdict:
    """z = (ηG_q + ½η²Q − ΔH_true) / √((ησ_G)² + (½η²σ_Q)² + σ_true²), |z| ≤ k."""
    q = ctx.run.quadratic
    if q is None:
        return ctx.verdict("linquad_agreement", "skipped", "no approx.quadratic block.", e)
    sg, sq, st = ctx.sigma_g, ctx.sigma_q, ctx.sigma_true(e)
    if sg is None or sq is None or st is None:
        missing = "σ_G" if sg is None else "σ_Q (no per_sequence_vhvv and no se_vHvv)"
        return ctx.verdict("linquad_agreement", "skipped", f"no {missing}.", e)
    eta = e.eta
    parts = {"sigma_linear": eta * sg.value, "sigma_quad": 0.5 * eta * eta * sq.value, "sigma_true": st.value}
    sources = {"sigma_g_source": sg.source, "sigma_q_source": sq.source, "sigma_true_source": st.source}
    pred = stats.linquad_prediction(eta, q.gdotv, q.vhvv)
    return _agreement(ctx, e, "linquad_agreement", pred, parts, "ηG_q + ½η²Q", sources)


def check_truncation_ratio(ctx: RunContext, e: Entry) -> Verdict:
    """Re-estimated ratio r = L_S/Δ_S per keep-quantile (checks.md). A quantile is judged
    when |Δ_S| ≥ kσ_S; a judged ratio fails when it is outside ratio_bounds by more than its
    sampling error (:meth:`stats.Truncation.outside`, which includes σ of L_S — see README,
    "Truncation"); outside but within error is inconclusive. Fails if any quantile fails,
    skips when all are inconclusive."""
    run, st = ctx.run, ctx.settings
    if run.gdotv is None or e.h_base is None:
        missing = "approx.per_sequence" if run.gdotv is None else "diagnostics.h_base"
        return ctx.verdict("truncation_ratio", "skipped", f"needs {missing}, which is missing.", e)
    lo, hi = st.ratio_bounds
    cuts = [stats.truncation(e.eta, run.gdotv, e.normalized_weights, e.token_counts, e.h_new,
                             e.h_base, e.base_entropy, q, st.sigma) for q in st.keep_quantiles]
    out = [c for c in cuts if c.conclusive and c.outside(st.ratio_bounds, st.sigma)]
    within = [c for c in cuts if c.conclusive and lo <= c.ratio <= hi]
    nums = {f"ratio_q{c.keep_quantile:g}": c.ratio for c in cuts}
    nums.update({f"notebook_ratio_q{c.keep_quantile:g}": c.notebook_ratio for c in cuts})

    def state(c):
        if c in out:
            return f"r={c.ratio:.3g} outside"
        if c in within:
            return f"r={c.ratio:.3g}"
        return "inconclusive" if not c.conclusive else f"r={c.ratio:.3g}, inconclusive (within its error)"

    desc = "; ".join(
        f"q={c.keep_quantile:g}: L_S={c.linear:.3g}±{c.sigma_linear:.2g}, Δ_S={c.true:.3g}±{c.sigma:.2g} → {state(c)}"
        for c in cuts)
    if out:
        return ctx.verdict(
            "truncation_ratio", "failed",
            f"ratio outside [{lo:g}, {hi:g}] beyond {st.sigma:g}σ at q = {', '.join(f'{c.keep_quantile:g}' for c in out)}: "
            f"{desc}. Meaning: on the bulk of the sequences (largest |η·gdotv| removed) the linear "
            "prediction and the measurement disagree: a bias of the per-sequence gdotv, not a few outliers.",
            e, **nums)
    if not within:
        return ctx.verdict("truncation_ratio", "skipped",
                           f"no keep-quantile conclusive (|Δ_S| < {st.sigma:g}σ_S, or r within its error of the bounds): {desc}.",
                           e, reason=Reason.INCONCLUSIVE, **nums)
    return ctx.verdict("truncation_ratio", "passed", desc + ".", e, **nums)


JUDGES = {
    "consistency": check_consistency,
    "snis_weights": check_snis_weights,
    "snis_reliability": check_snis_reliability,
    "se_consistency": check_se_consistency,
    "linear_agreement": check_linear_agreement,
    "linquad_agreement": check_linquad_agreement,
    "truncation_ratio": check_truncation_ratio,
}


# --------------------------------------------------------------------------- multiplicity


def apply_holm(verdicts: list[Verdict], alpha: float) -> list[Verdict]:
    """Holm–Bonferroni across all cases of each z-check: a case fails iff its two-sided
    p-value is rejected at family-wise level ``alpha`` (k is then not used). Other verdicts
    are unchanged."""
    out = list(verdicts)
    for check in Z_CHECKS:
        idx = [i for i, v in enumerate(out) if v.check == check and v.outcome != Outcome.SKIPPED]
        p = [stats.two_sided_p(out[i].numbers["z"]) for i in idx]
        for i, pi, rejected in zip(idx, p, stats.holm_reject(p, alpha)):
            v = out[i]
            numbers = {key: x for key, x in v.numbers.items() if key != "k"}
            numbers.update(p_value=pi, holm_alpha=alpha)
            rule = (f"{'rejected' if rejected else 'not rejected'} by Holm–Bonferroni over "
                    f"{len(idx)} cases at α = {alpha:g}, p = {pi:.3g}")
            out[i] = replace(v, outcome=Outcome.FAILED if rejected else Outcome.PASSED,
                             reason=Reason.OUT_OF_BOUNDS if rejected else Reason.OK,
                             message=agreement_message(check, bool(rejected), v.numbers["detail"], rule),
                             numbers=numbers)
    return out


def evaluate(loaded: Run | InvalidRun, settings: Settings = Settings()) -> tuple[RunVerdict, list[Verdict]]:
    """Run verdict plus all case verdicts (none for an invalid run). A crash inside a check
    becomes a failed verdict carrying the exception, not a lost run."""
    rv = run_verdict(loaded)
    if isinstance(loaded, InvalidRun):
        return rv, []
    try:
        return rv, evaluate_run(loaded, settings)
    except Exception as exc:  # a bug in a check must not hide the other runs
        f = loaded.file
        return RunVerdict(f.results, f.run, str(f.path), "error",
                          f"{f.display}: internal error while checking: {exc!r}"), []


__all__ = [
    "CHECKS", "RUN_CHECKS", "Outcome", "Reason", "Settings", "Verdict", "RunVerdict", "RunFile",
    "case_id", "evaluate", "evaluate_run", "run_verdict", "apply_holm", "JUDGES",
]

"""File, SNIS and truncation checks of one run (``shared/spec/checks.md``, "Checks").

Each ``check_*`` takes the run's :class:`~dhstats.verdicts.verdicts.RunContext` (and an entry for
per-η checks) and returns a :class:`~dhstats.verdicts.verdicts.Judgement` (outcome, reason, message,
numbers); the registry stamps the check's name and the case's location on it. The agreement
checks are in :mod:`dhstats.verdicts.agreement`.
"""
from __future__ import annotations

import math

import numpy as np

from dhstats.stats import stats
from dhstats.stats import truncation as trunc
from dhstats.stats.psis import khat_threshold, pareto_khat
from dhstats.load.results import Entry, Run
from dhstats.verdicts.verdicts import Judgement, Reason, RunContext, close, fmt
from dhstats.verdicts.wording import failure, num


def check_consistency(ctx: RunContext, e: Entry) -> Judgement:
    """Σ gdotv = G, Σ vhvv = Q (rel 1e-5); per_sequence.length = token_counts;
    per_sequence[i].vhvv = quadratic.per_sequence_vhvv[i] (rel 1e-6); Σ c_i = ΔH_true with the
    weighted denominator B (rel 1e-6); base_entropy = Σh_base/ΣT (rel 1e-6); reported ess =
    1/Σw̃² (rel 1e-3); w̃ = softmax(clip(log_weights, ±10)) (abs 1e-6 per weight, results-format.md);
    token_counts identical across entries."""
    run, w, T = ctx.run, e.normalized_weights, e.token_counts
    bad: list[str] = []
    not_checked: list[str] = []
    nums: dict = {}
    if run.gdotv is not None:
        s = float(run.gdotv.sum())
        nums["sum_gdotv"] = s
        if not close(s, run.delta_h_per_lr, 1e-5):
            bad.append(f"Σ gdotv = {s:.6g} ≠ G = {run.delta_h_per_lr:.6g} (rel. tol. 1e-5)")
        mis = np.flatnonzero(run.length != T)
        if mis.size:
            i = int(mis[0])
            bad.append(f"{mis.size} sequence(s) misaligned: approx.per_sequence[{i}].length = "
                       f"{run.length[i]:g} but token_counts[{i}] = {T[i]:g}")
    else:
        not_checked.append("Σ gdotv and alignment (no approx.per_sequence)")
    bad += _quadratic_consistency(run, nums, not_checked)
    recon = stats.snis_delta(w, T, e.h_new, e.base_entropy)
    nums.update(delta_h_true=e.delta_h_true, reconstructed=recon)
    if not close(recon, e.delta_h_true, 1e-6):
        old = nums["reconstructed_uncorrected"] = stats.snis_delta_uncorrected(w, T, e.h_new, e.base_entropy)
        if close(old, e.delta_h_true, 1e-6):
            bad.append(f"uncorrected SNIS denominator: delta_h_true = {e.delta_h_true:.6g} matches "
                       f"Σw̃h_new/(D·mean w̃) − H_base = {old:.6g}, not Σw̃h_new/Σw̃T − H_base = "
                       f"{recon:.6g}; this run predates the denominator correction")
        else:
            bad.append(f"Σ c_i = {fmt(recon)} ≠ delta_h_true = {e.delta_h_true:.6g} (rel. tol. 1e-6)")
    if e.h_base is not None:
        hb = stats.base_entropy_of(e.h_base, T)
        if not close(hb, e.base_entropy, 1e-6):
            bad.append(f"base_entropy = {e.base_entropy:.8g} ≠ Σh_base/ΣT = {fmt(hb)}")
    else:
        not_checked.append("base_entropy (no h_base)")
    if e.ess is not None:
        ess = stats.kish_ess(w)
        if not close(e.ess, ess, 1e-3):
            bad.append(f"reported ess = {e.ess:.6g} ≠ 1/Σw̃² = {fmt(ess)} (rel. tol. 1e-3)")
    if e.log_weights is not None:
        expected = stats.softmax_clipped(e.log_weights)
        gap = np.abs(expected - w)
        worst = int(np.argmax(gap)) if np.isfinite(gap).all() else int(np.argmin(np.isfinite(gap)))
        nums["max_weight_gap"] = float(gap[worst])
        if not gap[worst] <= 1e-6:
            bad.append(f"normalized_weights[{worst}] = {w[worst]:.6g} but softmax(clip(log_weights, ±10))"
                       f"[{worst}] = {expected[worst]:.6g} (abs. tol. 1e-6): weights do not follow the log-weights")
    first = run.entries[0].token_counts
    if e is not run.entries[0] and not np.array_equal(first, T):
        i = int(np.flatnonzero(first != T)[0])
        bad.append(f"token_counts differ from the entry at η={run.entries[0].eta!r} "
                   f"(first at [{i}]: {T[i]:g} vs {first[i]:g}): not the same E-batch")
    tail = f" Not checked: {'; '.join(not_checked)}." if not_checked else ""
    if bad:
        return ctx.judgement("failed", "; ".join(bad) + "." + tail, **nums)
    return ctx.judgement("passed", "sums, reconstruction and alignment hold." + tail, **nums)


def _quadratic_consistency(run: Run, nums: dict, not_checked: list[str]) -> list[str]:
    """Σ per_sequence_vhvv = Q and approx.per_sequence[i].vhvv = quadratic.per_sequence_vhvv[i]."""
    q, bad = run.quadratic, []
    if q is not None and q.per_sequence_vhvv is not None:
        s = float(q.per_sequence_vhvv.sum())
        nums["sum_vhvv"] = s
        if not close(s, q.vhvv, 1e-5):
            bad.append(f"Σ per_sequence_vhvv = {s:.6g} ≠ Q = {q.vhvv:.6g} (rel. tol. 1e-5)")
        if run.per_sequence_vhvv is not None:
            a, b = run.per_sequence_vhvv, q.per_sequence_vhvv
            off = np.flatnonzero(~(np.abs(a - b) <= 1e-6 * np.maximum(np.abs(a), np.abs(b)) + 1e-12))
            if off.size:
                i = int(off[0])
                bad.append(f"{off.size} per-sequence vhvv differ: approx.per_sequence[{i}].vhvv = {a[i]:.6g} "
                           f"but approx.quadratic.per_sequence_vhvv[{i}] = {b[i]:.6g} (rel. tol. 1e-6)")
    elif q is not None:
        not_checked.append("Σ vhvv (no per_sequence_vhvv)")
    return bad


def check_snis_weights(ctx: RunContext, e: Entry) -> Judgement:
    """w̃ finite and ≥ 0, Σ w̃ = 1 (abs 1e-6); weights_sum finite and > 0 when present."""
    w = e.normalized_weights
    total = float(w.sum())
    bad = []
    neg = np.flatnonzero(w < 0)
    if neg.size:
        bad.append(f"{neg.size} negative weight(s), first normalized_weights[{neg[0]}] = {w[neg[0]]:.4g}")
    if not abs(total - 1.0) <= 1e-6:
        bad.append(f"Σ w̃ = {total:.9g}, expected 1 (abs. tol. 1e-6): weights are not normalised")
    if e.weights_sum is not None and not e.weights_sum > 0:
        bad.append(f"weights_sum = {e.weights_sum:.4g}, expected > 0")
    nums = {"sum_weights": total, "min_weight": float(w.min())}
    if bad:
        return ctx.judgement("failed", "; ".join(bad) + ".", **nums)
    return ctx.judgement("passed", f"weights ≥ 0, Σ w̃ = {total:.9g}.", **nums)


def check_snis_reliability(ctx: RunContext, e: Entry) -> Judgement:
    """ESS/n ≥ min_ess_fraction and Pareto k̂ ≤ min(1 − 1/log10 n, 0.7) (Vehtari et al.,
    JMLR 2024). k̂ is fitted to log w̃ (the weights actually used, clipping included)."""
    w = e.normalized_weights
    n = w.size
    if not (w > 0).any():  # loadable input, but ESS and k̂ are undefined
        return ctx.judgement("failed", "no positive weight: ESS and k̂ undefined.",
                             reason=Reason.NOT_FINITE)
    ess = stats.kish_ess(w)
    frac = ess / n
    with np.errstate(divide="ignore"):
        fit = pareto_khat(np.log(np.clip(w, 0.0, None)))
    kmax = ctx.settings.khat_max if ctx.settings.khat_max is not None else khat_threshold(n)
    nums = {"ess": ess, "ess_fraction": frac, "khat": fit.khat, "khat_max": kmax,
            "min_ess_fraction": ctx.settings.min_ess_fraction}
    bad = []
    if not frac >= ctx.settings.min_ess_fraction:
        bad.append(f"ESS/n = {frac:.3g} < {ctx.settings.min_ess_fraction:g} (ESS {ess:.1f} of {n})")
    if fit.khat is not None and not fit.khat <= kmax:
        bad.append(f"Pareto k̂ = {fit.khat:.3f} > {kmax:.3f}: the weight tail is too heavy for SNIS")
    if bad:
        return ctx.judgement("failed", "; ".join(bad) + ".", **nums)
    if fit.khat is None:
        if frac >= 0.99:  # weights ≈ equal: nothing to fit, and nothing to fear
            return ctx.judgement("passed",
                                 f"ESS/n = {frac:.4f}; k̂ not estimable ({fit.reason}): weights nearly uniform.", **nums)
        return ctx.judgement("skipped",
                             f"ESS/n = {frac:.3g} passes but k̂ cannot be estimated: {fit.reason}.",
                             reason=Reason.INCONCLUSIVE, **nums)
    return ctx.judgement("passed", f"ESS/n = {frac:.3g}, k̂ = {fit.khat:.3f} ≤ {kmax:.3f}.", **nums)


def check_se_consistency(ctx: RunContext) -> Judgement:
    """ρ = reported SE / se_sum(centred per-sequence) within se_ratio_bounds, for se_shard vs
    gdotv and se_vHvv vs per_sequence_vhvv; names the shard-mean convention when ρ·num_shards ≈ 1."""
    run, st = ctx.run, ctx.settings
    conv = st.reported_se
    one = next(iter(ctx.sigmas.values()))
    pairs = []
    if run.gdotv is not None and run.se_shard is not None:
        pairs.append(("se_shard", "g̃", run.se_shard, one.g, run.num_shards))
    q = run.quadratic
    if q is not None and q.per_sequence_vhvv is not None and q.se_vhvv is not None:
        pairs.append(("se_vHvv", "q̃", q.se_vhvv, one.q, q.num_shards or run.num_shards))
    if not pairs:
        why = "no per-sequence data" if run.gdotv is None else "no reported SEs"
        return ctx.judgement("skipped", f"nothing to compare: {why}.")
    lo, hi = st.se_ratio_bounds
    bad, good, nums, scaled, short = [], [], {"reported_se": conv}, [], []
    for name, what, reported, measured, shards in pairs:
        total = stats.reported_total_se(reported, shards, conv)
        if total is None:
            bad.append(f"{name}: --reported-se shard-mean needs num_shards, which is missing")
            short.append(bad[-1])
            continue
        rho = total / measured.value if measured.value > 0 else math.inf
        nums[f"rho_{name}"] = rho
        nums[f"measured_{name}"] = measured.value
        nums[f"reported_{name}"] = total
        nums["num_shards"] = shards
        text = f"{name} = {num(total)} vs se_sum({what}) = {num(measured.value)}: ρ = {num(rho)}"
        if lo <= rho <= hi:
            good.append(text)
        elif shards and shards > 1 and lo <= rho * shards <= hi:
            scaled.append(f"{text}, ρ·num_shards = {num(rho * shards)}; the SE of the total is "
                          f"num_shards·{name} = {num(total * shards)}")
        else:
            bad.append(f"{text} outside [{lo:.3g}, {hi:.3g}]")
            short.append(f"{name}: ρ = {num(rho)} outside [{lo:.3g}, {hi:.3g}]")
    if scaled and not bad:
        shards = nums["num_shards"]
        head = (f"the producer reports SEs in the shard-mean convention (ρ·num_shards ≈ 1, num_shards = "
                f"{shards}): use --reported-se shard-mean")
        return ctx.judgement("failed", failure(head, "; ".join(scaled + good)),
                             finding="shard_mean_se", **nums)
    if bad:
        head = "the reported SEs do not measure the per-sequence spread: " + "; ".join(short)
        return ctx.judgement("failed", failure(head, "; ".join(bad + scaled + good)), **nums)
    return ctx.judgement("passed", "; ".join(good) + f" within [{lo:.3g}, {hi:.3g}].", **nums)


def check_truncation_ratio(ctx: RunContext, e: Entry) -> Judgement:
    """Re-estimated ratio r = L_S/Δ_S per keep-quantile (checks.md). A quantile is judged
    when |Δ_S| ≥ kσ_S; a judged ratio fails when it is outside ratio_bounds by more than its
    sampling error (:meth:`dhstats.stats.truncation.Truncation.outside`, which includes σ of L_S — see
    docs/design.md, "Truncation ratio"); outside but within error is inconclusive. Fails if any quantile fails,
    skips when all are inconclusive."""
    run, st = ctx.run, ctx.settings
    if run.gdotv is None or e.h_base is None:
        missing = "approx.per_sequence" if run.gdotv is None else "diagnostics.h_base"
        return ctx.judgement("skipped", f"needs {missing}, which is missing.")
    lo, hi = st.ratio_bounds
    cuts = [trunc.truncation(e.eta, run.gdotv, e.normalized_weights, e.token_counts, e.h_new,
                             e.h_base, e.base_entropy, q, st.k) for q in st.keep_quantiles]
    out = [c for c in cuts if c.conclusive and c.outside(st.ratio_bounds, st.k)]
    within = [c for c in cuts if c.conclusive and lo <= c.ratio <= hi]
    # the judged statistics must be finite (else the case fails, reason not_finite); the
    # notebook's ratio is information only (None when not computable)
    nums = {f"{what}_q{c.keep_quantile:g}": value for c in cuts
            for what, value in (("linear_S", c.linear), ("true_S", c.true), ("sigma_S", c.sigma))}
    nums.update({f"ratio_q{c.keep_quantile:g}": c.ratio if c.conclusive else None for c in cuts})
    nums.update({f"notebook_ratio_q{c.keep_quantile:g}": c.notebook_ratio if math.isfinite(c.notebook_ratio)
                 else None for c in cuts})
    broken = [k for k, v in nums.items() if isinstance(v, float) and not math.isfinite(v)]
    if broken:
        return ctx.judgement("failed", f"not finite: {', '.join(broken)}.",
                             reason=Reason.NOT_FINITE, **nums)

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
        return ctx.judgement("failed", failure(
            f"ratio outside [{lo:g}, {hi:g}] beyond {st.k:g}σ at q = "
            f"{', '.join(f'{c.keep_quantile:g}' for c in out)}: on the bulk of the sequences (largest "
            "|η·gdotv| removed) the linear prediction and the measurement disagree — a bias of the "
            "per-sequence gdotv, not a few outliers", desc), **nums)
    if not within:
        return ctx.judgement("skipped", f"no keep-quantile conclusive at {st.k:g}σ_S: {desc}.",
                             reason=Reason.INCONCLUSIVE, **nums)
    return ctx.judgement("passed", desc + ".", **nums)

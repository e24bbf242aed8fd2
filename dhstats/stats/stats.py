"""Statistics of the ΔH gate: pure numpy kernels on per-sequence arrays.

Every formula here is the one in ``shared/spec/checks.md`` (the contract) or
``shared/spec/results-format.md``; checks, tables and plots all call these functions.
Arrays are 1-D, indexed by sequence i in the E-batch order; ``w`` are SNIS weights (any
positive scale unless said otherwise), ``T`` token counts, ``h_new``/``h_base``
per-sequence entropy sums (nats per sequence), ``eta`` the learning rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


# --------------------------------------------------------------------------- standard errors


def se_sum(x: np.ndarray) -> float:
    """SE of a sum of n per-sequence contributions: √n · std(x, ddof=1) (checks.md).

    NaN for n < 2 (no spread can be measured from one sequence) and for non-finite x.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size < 2:
        return math.nan
    with np.errstate(invalid="ignore", over="ignore"):
        return finite_or_nan(math.sqrt(x.size) * x.std(ddof=1))


def centred(x: np.ndarray, T: np.ndarray, total: float | None = None) -> np.ndarray:
    """Centred per-sequence contributions x̃_i = x_i − total·T_i/ΣT (checks.md, "Centred
    contributions"): the influence of sequence i on a per-token ratio whose total is ``total``
    (G for gdotv, Q for vhvv). ``total`` defaults to Σx, so that Σ x̃ = 0 exactly in exact
    arithmetic (and whenever Σx = total)."""
    x = np.asarray(x, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    if total is None:
        total = float(x.sum())
    return x - total * (T / T.sum())


@dataclass(frozen=True)
class Sigma:
    """A standard error and where it came from (shown in every report, health.json).

    Sources: σ_G, σ_Q: "per_sequence" | "reported" | "reported ×num_shards";
    σ_true: "paired" | "approximate" (η·σ_G, no h_base); σ of a difference (σ_lin, σ_lq):
    "paired" | "independent". ``value`` is NaN, never a silently wrong number, when an input
    was not finite.
    """

    value: float
    source: str


def finite_or_nan(value: float) -> float:
    """``value`` as a float, NaN when it is not finite (±inf σ is never a usable SE)."""
    value = float(value)
    return value if math.isfinite(value) else math.nan


def reported_total_se(se: float | None, num_shards: int | None, convention: str) -> float | None:
    """A producer SE taken as the SE of the total.

    ``convention="total"``: as reported. ``"shard-mean"``: the producer's ``se_shard`` is
    std(c_m)/√M, the SE of the *mean* shard contribution, so the total's SE is M·se_shard
    (results-format.md, "Reported SEs").
    """
    if se is None:
        return None
    if convention == "shard-mean":
        if not num_shards:
            return None
        return se * num_shards
    if convention != "total":
        raise ValueError(f"unknown reported-SE convention {convention!r}")
    return se


def reported_sigma(se: float | None, num_shards: int | None, convention: str) -> Sigma | None:
    """The reported SE of a total as a :class:`Sigma` ("reported", or "reported ×num_shards"
    under the shard-mean convention); None when there is none (or no M to convert with)."""
    total = reported_total_se(se, num_shards, convention)
    if total is None:
        return None
    return Sigma(finite_or_nan(total), "reported ×num_shards" if convention == "shard-mean" else "reported")


def sigma_from(per_sequence: np.ndarray | None, reported: float | None,
               num_shards: int | None, convention: str, *,
               T: np.ndarray | None = None, total: float | None = None) -> Sigma | None:
    """σ of a total (G or Q): se_sum of the *centred* per-sequence contributions when present
    (n ≥ 2), else the reported SE (marked unverified; ×num_shards under the shard-mean
    convention). None if neither.

    With ``T`` the contributions are centred here, x̃ = x − total·T/ΣT (:func:`centred`);
    without ``T`` the caller passes contributions that are already centred.
    """
    if per_sequence is not None and per_sequence.size >= 2:
        x = per_sequence if T is None else centred(per_sequence, T, total)
        return Sigma(finite_or_nan(se_sum(x)), "per_sequence")
    return reported_sigma(reported, num_shards, convention)


# --------------------------------------------------------------------------- SNIS


def snis_ratio(w: np.ndarray, T: np.ndarray, h: np.ndarray) -> float:
    """Self-normalised per-token entropy Σ w h / Σ w T (results-format.md: H_new with the
    corrected denominator B = Σ w̃ T). Invariant to the scale of w."""
    return float(np.dot(w, h) / np.dot(w, T))


def snis_delta(w, T, h_new, base_entropy: float) -> float:
    """ΔH_true = Σ w̃ h_new / Σ w̃ T − H_base (corrected denominator)."""
    return snis_ratio(w, T, h_new) - base_entropy


def snis_delta_uncorrected(w, T, h_new, base_entropy: float) -> float:
    """The pre-correction estimate Σ w̃ h_new / (D · mean(w̃)) − H_base, D = Σ T: the
    unweighted denominator used by runs produced before the SNIS denominator correction."""
    return float(np.dot(w, h_new) / (T.sum() * w.mean())) - base_entropy


def softmax_clipped(log_weights, clip: float = 10.0) -> np.ndarray:
    """w̃ = softmax(clip(log_weights, ±clip)) (results-format.md: how the producer derives
    normalized_weights from log_weights); max-shifted, so any finite log-weights work."""
    lw = np.clip(np.asarray(log_weights, dtype=np.float64), -clip, clip)
    e = np.exp(lw - lw.max())
    return e / e.sum()


def base_entropy_of(h_base: np.ndarray, T: np.ndarray) -> float:
    """H_base = Σ h_base / Σ T (nats per token)."""
    return float(h_base.sum() / T.sum())


def notebook_contributions(w, T, h_new, base_entropy: float) -> np.ndarray:
    """The notebook's per-sequence split c_i = w̃_i h_new_i / B − (T_i / D)·H_base, which sums
    exactly to ΔH_true (results-format.md). w̃ normalised to Σ w̃ = 1; not a basis for SEs."""
    w = w / w.sum()
    return w * h_new / np.dot(w, T) - (T / T.sum()) * base_entropy


def notebook_se_true(contributions: np.ndarray) -> float:
    """The seed notebook's σ of ΔH_true, std(c, ddof=1)/√n of its per-sequence split c_i.
    Shown beside the gate's σ only: the zero-sum part of c_i dominates it, so it is not an SE
    of ΔH_true (results-format.md; its 95% coverage is 26 % at n = 256, 3 % at n = 2048)."""
    c = np.asarray(contributions, dtype=np.float64)
    return float(c.std(ddof=1) / math.sqrt(c.size)) if c.size > 1 else math.nan


def paired_influence(w, T, h_new, h_base) -> np.ndarray:
    """ψ_i of the paired delta method (Owen 2013, §9.2; checks.md):

        R1 = Σ w h_new / Σ w T,   R0 = Σ h_base / Σ T
        ψ_i = w_i (h_new_i − R1 T_i) / Σ w T − (h_base_i − R0 T_i) / Σ T

    The w-scale cancels (w̃ or unnormalised weights give the same ψ). Σ ψ_i = 0.
    """
    wT = np.dot(w, T)
    D = T.sum()
    r1 = np.dot(w, h_new) / wT
    r0 = h_base.sum() / D
    return w * (h_new - r1 * T) / wT - (h_base - r0 * T) / D


def sigma_true_paired(w, T, h_new, h_base) -> float:
    """SE of ΔH_true with h_base: √(n/(n−1) · Σ ψ_i²). NaN for n < 2."""
    n = w.size
    if n < 2:
        return math.nan
    psi = paired_influence(w, T, h_new, h_base)
    return float(math.sqrt(n / (n - 1) * np.dot(psi, psi)))


def kish_ess(w: np.ndarray) -> float:
    """Kish effective sample size (Σ w)² / Σ w² (= 1/Σ w̃² for normalised weights).

    Computed on w/max|w| (scale-free), so weights of any finite scale (1e-300 … 1e300) give
    the same ESS. NaN when every weight is 0 or any weight is not finite.
    """
    w = np.asarray(w, dtype=np.float64)
    if w.size == 0 or not np.isfinite(w).all():
        return math.nan
    top = np.abs(w).max()
    if top == 0.0:
        return math.nan
    w = w / top
    return float(w.sum() ** 2 / np.dot(w, w))


# --------------------------------------------------------------------------- agreement


def agreement_z(prediction: float, truth: float, *sigmas: float) -> float:
    """z = (prediction − truth) / √(Σ σ_k²); antisymmetric in the prediction error.

    Paired (checks.md): one part, σ_lin or σ_lq of the difference. Independent: the parts
    (ησ_G, σ_true) or (ησ_G, ½η²σ_Q, σ_true). ±inf when every σ is 0 and they differ.
    NaN when any value or σ is not finite (an infinite σ would otherwise give z = 0, a pass).
    """
    values = (prediction, truth, *sigmas)
    if not all(math.isfinite(v) for v in values):
        return math.nan
    scale = math.sqrt(sum(s * s for s in sigmas))
    diff = prediction - truth
    if scale == 0.0:
        return 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
    return diff / scale


def linquad_prediction(eta: float, gdotv_q: float, vhvv: float) -> float:
    """ΔH_lq = η·G_q + ½η²·Q (nats per token)."""
    return eta * gdotv_q + 0.5 * eta * eta * vhvv


def two_sided_p(z: float) -> float:
    """P(|N(0,1)| ≥ |z|) = erfc(|z|/√2)."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def holm_reject(p_values, alpha: float) -> np.ndarray:
    """Holm–Bonferroni step-down (Holm 1979): sort p ascending, reject p_(j) while
    p_(j) ≤ α/(m − j), j = 0…m−1; stop at the first acceptance. Returns a boolean mask.

    A NaN p-value never passes (checks.md): it is rejected, and it is left out of the family
    (m counts the non-NaN p only), so it does not change the other decisions:
    [0.001, nan] → [True, True]; [0.5, nan] → [False, True].
    """
    p = np.asarray(p_values, dtype=np.float64)
    reject = np.isnan(p)
    finite = np.flatnonzero(~reject)
    m = finite.size
    for j, idx in enumerate(finite[np.argsort(p[finite], kind="stable")]):
        if p[idx] > alpha / (m - j):
            break
        reject[idx] = True
    return reject


# --------------------------------------------------------------------------- pooling over runs


def stouffer(z) -> float:
    """Stouffer's Z = Σ_r z_r / √R over the R runs' z (checks.md, "Pooling across runs");
    the runs are independent batches, so Z ~ N(0, 1) when every z is. The caller passes the
    judged z only. NaN for no z or any NaN z (a NaN never passes); ±inf propagate."""
    z = np.asarray(z, dtype=np.float64)
    if z.size == 0 or np.isnan(z).any():
        return math.nan
    return float(z.sum() / math.sqrt(z.size))


def pooled_ratio(predictions, truths, sigma_pred, sigma_true, cov) -> tuple[float, float]:
    """Pooled ratio R̂ = Σ_r a_r / Σ_r b_r of predictions a_r (ηG_r) to truths b_r
    (ΔH_true,r) over independent runs, and its delta-method SE:

        R̂ − R ≈ Σ_r (a_r − R b_r) / Σ_r b_r      (first order in the errors of a, b)
        SE² = Σ_r (σ_a,r² + R̂²σ_b,r² − 2R̂·cov_r) / (Σ_r b_r)²

    with cov_r = cov(a_r, b_r) (:meth:`dhstats.stats.sigmas.Sigmas.cov`; 0 when independent) and no covariance
    between runs. (nan, nan) when any input is not finite or Σ b = 0.
    """
    a, b, sa, sb, c = (np.asarray(x, dtype=np.float64) for x in
                       (predictions, truths, sigma_pred, sigma_true, cov))
    if a.size == 0 or not all(np.isfinite(x).all() for x in (a, b, sa, sb, c)):
        return math.nan, math.nan
    denominator = b.sum()
    if denominator == 0.0:
        return math.nan, math.nan
    with np.errstate(all="ignore"):  # ΔH_true ≈ 0 gives a huge ratio: inf/NaN, never an exception
        ratio = np.float64(a.sum()) / denominator
        var = np.sum(sa * sa + ratio * ratio * sb * sb - 2.0 * ratio * c) / (denominator * denominator)
    return float(ratio), (float(np.sqrt(var)) if var >= 0.0 else math.nan)


# --------------------------------------------------------------------------- reported SEs


@dataclass(frozen=True)
class SERatio:
    """ρ = reported SE / se_sum(per-sequence); ``shard_mean`` when ρ·M is near 1."""

    rho: float
    num_shards: int | None
    reported: float
    measured: float

    def shard_mean(self, bounds: tuple[float, float]) -> bool:
        """The producer's shard-mean convention explains ρ: ρ·M within ``bounds``."""
        if not self.num_shards or self.num_shards == 1:
            return False
        lo, hi = bounds
        return lo <= self.rho * self.num_shards <= hi


def se_ratio(reported: float, per_sequence: np.ndarray, num_shards: int | None) -> SERatio:
    """ρ = reported / (√n·std(x, ddof=1)) (checks.md, se_consistency), ``per_sequence`` being the
    centred per-sequence influence (g̃ or q̃, :func:`centred`) as in the check.

    +inf when nothing is measured (se_sum = 0) but a positive SE is reported; NaN when either
    side is not finite (n < 2, non-finite input) or both are 0.
    """
    measured = se_sum(per_sequence)
    if not (math.isfinite(reported) and math.isfinite(measured)):
        rho = math.nan
    elif measured > 0:
        rho = reported / measured
    else:
        rho = math.inf if reported > 0 else math.nan
    return SERatio(rho=rho, num_shards=num_shards, reported=reported, measured=measured)

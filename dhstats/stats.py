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

    NaN for n < 2 (no spread can be measured from one sequence).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size < 2:
        return math.nan
    return float(math.sqrt(x.size) * x.std(ddof=1))


@dataclass(frozen=True)
class Sigma:
    """A standard error and where it came from (shown in every report)."""

    value: float
    source: str  # "per_sequence" | "reported" | "reported ×num_shards" | "first-order" | "paired"

    @property
    def verified(self) -> bool:
        return not self.source.startswith("reported")


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


def sigma_from(per_sequence: np.ndarray | None, reported: float | None,
               num_shards: int | None, convention: str) -> Sigma | None:
    """σ of a total (G or Q): se_sum(per-sequence) when present, else the reported SE
    (marked unverified; ×num_shards under the shard-mean convention). None if neither."""
    if per_sequence is not None and per_sequence.size >= 2:
        return Sigma(se_sum(per_sequence), "per_sequence")
    total = reported_total_se(reported, num_shards, convention)
    if total is None:
        return None
    return Sigma(total, "reported ×num_shards" if convention == "shard-mean" else "reported")


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


def sigma_true(eta: float, w, T, h_new, h_base, sigma_g: Sigma | None) -> Sigma | None:
    """σ_true: paired delta method when h_base is present; otherwise the first-order
    fallback η·σ_G (the SNIS estimate's sampling error is, to first order in η, that of the
    linear term: both come from the same sequences; checks.md). None if neither exists."""
    if h_base is not None:
        return Sigma(sigma_true_paired(w, T, h_new, h_base), "paired")
    if sigma_g is None:
        return None
    return Sigma(eta * sigma_g.value, "first-order η·σ_G")


def kish_ess(w: np.ndarray) -> float:
    """Kish effective sample size (Σ w)² / Σ w² (= 1/Σ w̃² for normalised weights)."""
    return float(w.sum() ** 2 / np.dot(w, w))


# --------------------------------------------------------------------------- agreement


def agreement_z(prediction: float, truth: float, *sigmas: float) -> float:
    """z = (prediction − truth) / √(Σ σ_k²); antisymmetric in the prediction error.

    Linear: prediction ηG, σ parts (ησ_G, σ_true). Lin+quad: prediction ηG_q + ½η²Q,
    parts (ησ_G, ½η²σ_Q, σ_true) (checks.md). ±inf when every σ is 0 and they differ.
    """
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
    p_(j) ≤ α/(m − j), j = 0…m−1; stop at the first acceptance. Returns a boolean mask."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    reject = np.zeros(m, dtype=bool)
    for j, idx in enumerate(np.argsort(p, kind="stable")):
        if p[idx] > alpha / (m - j):
            break
        reject[idx] = True
    return reject


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
    """ρ = reported / (√n·std(x, ddof=1)) (checks.md, se_consistency)."""
    measured = se_sum(per_sequence)
    rho = reported / measured if measured > 0 else math.inf
    return SERatio(rho=rho, num_shards=num_shards, reported=reported, measured=measured)


# --------------------------------------------------------------------------- truncation


def keep_mask(linear: np.ndarray, keep_quantile: float) -> np.ndarray:
    """The notebook's mask S = {i : |linear_i| ≤ quantile_q(|linear|)} (numpy's default
    linear-interpolation quantile, as in the notebook)."""
    a = np.abs(linear)
    return a <= np.quantile(a, keep_quantile)


@dataclass(frozen=True)
class Truncation:
    """One keep-quantile of the truncation_ratio check (checks.md)."""

    keep_quantile: float
    kept: int
    linear: float  # L_S
    sigma_linear: float  # σ of L_S: η·(ΣT/Σ_S T)·se_sum(gdotv_S)
    true: float  # Δ_S
    sigma: float  # σ_S
    ratio: float  # L_S / Δ_S (nan when Δ_S = 0)
    notebook_ratio: float  # Σ_S ηgdotv_i / Σ_S c_i (information only)
    conclusive: bool  # |Δ_S| ≥ k σ_S

    def outside(self, bounds: tuple[float, float], k: float) -> bool:
        """r = L_S/Δ_S lies outside [lo, hi] by more than its sampling error (Fieller-style):
        sgn(Δ_S)(L_S − hi Δ_S) > k√(σ_L² + hi²σ_S²) or sgn(Δ_S)(lo Δ_S − L_S) > k√(σ_L² + lo²σ_S²).
        Only meaningful when ``conclusive``. Ignoring cov(L_S, Δ_S) > 0 makes it conservative."""
        lo, hi = bounds
        sign = math.copysign(1.0, self.true)
        above = sign * (self.linear - hi * self.true) > k * math.hypot(self.sigma_linear, hi * self.sigma)
        below = sign * (lo * self.true - self.linear) > k * math.hypot(self.sigma_linear, lo * self.sigma)
        return above or below


def truncation(eta, gdotv, w, T, h_new, h_base, base_entropy, keep_quantile, k) -> Truncation:
    """Re-estimate both sides on S (checks.md, truncation_ratio):

        L_S = η Σ_S gdotv_i · (Σ_all T / Σ_S T),  σ_L = η (Σ_all T / Σ_S T) se_sum(gdotv_S)
        Δ_S = Σ_S w h_new / Σ_S w T − Σ_S h_base / Σ_S T,  σ_S from ψ restricted to S.

    Inconclusive when |Δ_S| < k σ_S.
    """
    linear = eta * gdotv
    s = keep_mask(linear, keep_quantile)
    wS, TS, hnS, hbS = w[s], T[s], h_new[s], h_base[s]
    scale = T.sum() / TS.sum()
    L = float(linear[s].sum() * scale)
    sigma_L = float(eta * scale * se_sum(gdotv[s]))
    delta = snis_ratio(wS, TS, hnS) - float(hbS.sum() / TS.sum())
    sigma = sigma_true_paired(wS, TS, hnS, hbS)
    c = notebook_contributions(w, T, h_new, base_entropy)
    c_sum = float(c[s].sum())
    nb = float(linear[s].sum()) / c_sum if c_sum != 0 else math.nan
    ratio = L / delta if delta != 0 else math.nan
    conclusive = bool(delta != 0 and abs(delta) >= k * sigma) if math.isfinite(sigma) else False
    return Truncation(keep_quantile, int(s.sum()), L, sigma_L, delta, sigma, ratio, nb, conclusive)


# --------------------------------------------------------------------------- sweeps (plots, tables)


def truncation_summary(keep_quantile, linear, true_contrib, linquad=None) -> dict:
    """The notebook's ``summarize_truncation``: sums over S of the per-sequence terms."""
    s = keep_mask(linear, keep_quantile)
    row = {
        "keep_quantile": keep_quantile,
        "threshold": float(np.quantile(np.abs(linear), keep_quantile)),
        "kept_percent": float(s.mean() * 100),
        "delta_true_trunc": float(true_contrib[s].sum()),
        "delta_linear_trunc": float(linear[s].sum()),
    }
    if linquad is not None:
        row["delta_linquad_trunc"] = float(linquad[s].sum())
    return row


def clip_summary(clip_value, linear, true_contrib, linquad=None) -> dict:
    """The notebook's ``summarize_clipping``: Σ clip(x, ±c) of each per-sequence series."""
    row = {
        "clip_value": clip_value,
        "delta_true_clip": float(np.clip(true_contrib, -clip_value, clip_value).sum()),
        "delta_linear_clip": float(np.clip(linear, -clip_value, clip_value).sum()),
    }
    if linquad is not None:
        row["delta_linquad_clip"] = float(np.clip(linquad, -clip_value, clip_value).sum())
    return row


def clip_sweep(linear, true_contrib, linquad=None, base_quantile=0.999, steps=10):
    """Clipped sums at thresholds quantile_{base^k}(|linear|), k = steps…0 (the notebook's
    ``plot_clip_sweep``). Returns (thresholds, {series name: clipped sums})."""
    a = np.abs(linear)
    thresholds = np.quantile(a, [base_quantile**k for k in range(steps, -1, -1)])
    series = {
        "true": np.clip(true_contrib[None, :], -thresholds[:, None], thresholds[:, None]).sum(1),
        "linear": np.clip(linear[None, :], -thresholds[:, None], thresholds[:, None]).sum(1),
    }
    if linquad is not None:
        series["linquad"] = np.clip(linquad[None, :], -thresholds[:, None], thresholds[:, None]).sum(1)
    return thresholds, series


DEFAULT_SWEEP_QUANTILES = tuple([1.0] + [0.999**k for k in range(10, -1, -1)])

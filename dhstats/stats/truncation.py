"""Truncation and clipping: the truncation_ratio check's re-estimate on the bulk of the
sequences, and the notebook's truncation/clip sweeps (tables, plots).

Formulas: ``shared/spec/checks.md`` (the truncation ratio check) and the seed notebook
(``summarize_truncation``, ``summarize_clipping``, ``plot_clip_sweep``). Array kernels on
per-sequence arrays, as in :mod:`dhstats.stats.stats`, whose SE and SNIS kernels they reuse.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dhstats.stats.stats import notebook_contributions, se_sum, sigma_true_paired, snis_ratio


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

    Inconclusive when |Δ_S| < k σ_S, and whenever L_S, σ_L, Δ_S or σ_S is not finite (e.g.
    fewer than 2 sequences kept): such a quantile can neither pass nor fail.
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
    finite = all(math.isfinite(v) for v in (L, sigma_L, delta, sigma))
    conclusive = bool(finite and delta != 0 and abs(delta) >= k * sigma)
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

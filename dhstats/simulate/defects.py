"""Planted defects of the reference simulator: what each one changes, and the code that plants it.

Each defect breaks one thing the gate checks and nothing else (see :data:`DEFECTS`); they are
planted at three steps of :func:`dhstats.simulate.simulate_run`: on the per-sequence gdotv
(:func:`plant_gdotv`), on each entry's weights (:func:`plant_weights`, :func:`snis_entropy`)
and on the finished document (:func:`drop_fields`).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["DEFECTS", "BIAS_SIGMAS", "SPIKE_FRACTION", "SPIKE_G_MULTIPLE", "SPIKE_MIN_SIGMAS",
           "SCALE_FACTOR", "UNNORMALIZED_FACTOR", "check_defects", "se_sum", "plant_gdotv",
           "plant_weights", "snis_entropy", "drop_fields"]

#: biased_gdotv shifts G by this many σ_G (σ_G = √n·std(gdotv, ddof=1)), same sign as G.
BIAS_SIGMAS = 8.0
#: spiky_mass: fraction of sequences carrying the spurious mass, and its total size
#: (max(SPIKE_G_MULTIPLE·|G|, SPIKE_MIN_SIGMAS·σ_G), same sign as G: ηG/ΔH_true ≈ 5).
SPIKE_FRACTION = 0.01
SPIKE_G_MULTIPLE = 4.0
SPIKE_MIN_SIGMAS = 10.0
#: scaled_gdotv multiplies every gdotv_i (hence G) by this factor: a bulk bias.
SCALE_FACTOR = 2.5
#: unnormalized_weights multiplies w̃ by this factor.
UNNORMALIZED_FACTOR = 1.1

DEFECTS: dict[str, str] = {
    "biased_gdotv": (
        f"every gdotv_i is shifted by {BIAS_SIGMAS:g}·σ_G/n (same sign as G), so G, "
        "quadratic.gdotv and the SEs stay self-consistent but ηG is off by "
        f"{BIAS_SIGMAS:g}·ησ_G: linear_agreement (and linquad_agreement) fail with |z| ≈ "
        f"{BIAS_SIGMAS / math.sqrt(2):.1f}"
    ),
    "scaled_gdotv": (
        f"every gdotv_i is multiplied by {SCALE_FACTOR:g} (G, quadratic.gdotv and the SEs stay "
        "self-consistent): the prediction disagrees with the measurement on the bulk of the "
        f"sequences, so truncation_ratio sees r ≈ {SCALE_FACTOR:g} (and linear_agreement fails)"
    ),
    "unnormalized_weights": (
        f"normalized_weights are multiplied by {UNNORMALIZED_FACTOR} (sum {UNNORMALIZED_FACTOR}); "
        "ess (= 1/Σ(w̃/Σw̃)²) and delta_h_true are unchanged (both are scale-invariant): "
        "only snis_weights fails"
    ),
    "negative_weights": (
        "in every entry one median-sized weight w̃_j is replaced by −w̃_j and the others are "
        "scaled up by 1 + 2w̃_j/(1 − w̃_j) (the sum stays 1, the tail is unchanged); ess and "
        "delta_h_true are computed from the written weights: only snis_weights fails"
    ),
    "uncorrected_denominator": (
        "delta_h_true = Σ w̃ h_new / (D·mean(w̃)) − base_entropy (the pre-correction "
        "unweighted denominator D/n instead of B = Σ w̃ T): consistency fails with "
        "'uncorrected SNIS denominator'"
    ),
    "shard_mean_se": (
        "reported SEs use the producer's shard-mean convention std(c_m)/√M "
        "(= se_convention='shard-mean'): se_consistency sees ρ·num_shards ≈ 1"
    ),
    "spiky_mass": (
        f"{SPIKE_FRACTION:.0%} of the sequences (max(1, round({SPIKE_FRACTION}·n)), chosen at "
        "random) carry spurious gdotv mass, in total max(4|G|, 10σ_G) with G's sign, "
        "included in G, quadratic.gdotv and the SEs but invisible to the true side; indices "
        "in simulator.defect_info. These sequences are the largest |gdotv|, so the "
        "truncation masks (q ≤ 0.99) remove them; σ_G is inflated by the spikes, so "
        "linear_agreement's |z| is at most ≈ √(number of spikes)"
    ),
    "no_quadratic": "approx.quadratic and per_sequence[i].vhvv are dropped (used_quad = false)",
    "no_per_sequence": (
        "approx.per_sequence, approx.per_sequence_meta and quadratic.per_sequence_vhvv are "
        "dropped (runs written without per-sequence capture)"
    ),
    "no_h_base": "diagnostics.h_base and diagnostics.delta_h_seq are dropped from every entry",
}


def check_defects(defects) -> list[str]:
    """The defects in order, duplicates dropped; ValueError on an unknown name."""
    out = list(dict.fromkeys(defects))
    unknown = [d for d in out if d not in DEFECTS]
    if unknown:
        raise ValueError(f"unknown defect(s) {unknown}; known: {sorted(DEFECTS)}")
    return out


def se_sum(x: np.ndarray) -> float:
    """σ of Σx from i.i.d. terms: √n·std(x, ddof=1)."""
    return math.sqrt(len(x)) * float(np.std(x, ddof=1))


def plant_gdotv(gdotv: np.ndarray, G_clean: float, defects, rng) -> tuple[np.ndarray, dict]:
    """(gdotv with biased_gdotv, scaled_gdotv, spiky_mass applied in that order, defect_info).

    biased: + sign(G)·BIAS_SIGMAS·σ_G/n each; scaled: × SCALE_FACTOR; spiky: k = max(1,
    round(SPIKE_FRACTION·n)) random indices get sign(G)·max(SPIKE_G_MULTIPLE·|G|,
    SPIKE_MIN_SIGMAS·σ_G)/k each (σ_G of the gdotv at that point, G = ``G_clean``)."""
    n = len(gdotv)
    sign = 1.0 if G_clean >= 0 else -1.0
    info: dict = {}
    if "biased_gdotv" in defects:
        shift = sign * BIAS_SIGMAS * se_sum(gdotv)
        gdotv = gdotv + shift / n
        info["biased_gdotv"] = {"shift": shift}
    if "scaled_gdotv" in defects:
        gdotv = gdotv * SCALE_FACTOR
        info["scaled_gdotv"] = {"factor": SCALE_FACTOR}
    if "spiky_mass" in defects:
        k = max(1, int(round(SPIKE_FRACTION * n)))
        idx = np.sort(rng.choice(n, size=k, replace=False))
        mass = sign * max(SPIKE_G_MULTIPLE * abs(G_clean), SPIKE_MIN_SIGMAS * se_sum(gdotv))
        gdotv = gdotv.copy()
        gdotv[idx] += mass / k
        info["spiky_mass"] = {"indices": idx.tolist(), "mass": mass}
    return gdotv, info


def plant_weights(w: np.ndarray, ess: float, defects) -> tuple[np.ndarray, float]:
    """(w̃, ess) with negative_weights (ess recomputed from the written weights), then
    unnormalized_weights (ess unchanged: it is scale-invariant) applied."""
    if "negative_weights" in defects:
        j = int(np.argsort(w)[len(w) // 2])  # a median weight
        wj = w[j]
        w = w * (1.0 + 2.0 * wj / (1.0 - wj))  # the others absorb 2w̃_j: Σ stays 1
        w[j] = -wj
        ess = 1.0 / float((w * w).sum())
    if "unnormalized_weights" in defects:
        w = w * UNNORMALIZED_FACTOR
    return w, ess


def snis_entropy(w: np.ndarray, h_new: np.ndarray, Tf: np.ndarray, D: float, defects) -> float:
    """H_new = Σ w̃ h_new / Σ w̃ T (the corrected SNIS denominator B), or with
    uncorrected_denominator Σ w̃ h_new / (D·mean(w̃))."""
    if "uncorrected_denominator" in defects:
        return float((w * h_new).sum()) / (D * float(w.mean()))
    return float((w * h_new).sum()) / float((w * Tf).sum())


def drop_fields(doc: dict, defects) -> dict:
    """Delete, in place, what no_quadratic, no_per_sequence and no_h_base leave out."""
    approx = doc["approx"]
    if "no_quadratic" in defects:
        del approx["quadratic"], approx["eta_star"]
        approx["used_quad"] = False
        for rec in approx.get("per_sequence", ()):
            del rec["vhvv"]
    if "no_per_sequence" in defects:
        del approx["per_sequence"], approx["per_sequence_meta"]
        approx.get("quadratic", {}).pop("per_sequence_vhvv", None)
    if "no_h_base" in defects:
        for e in doc["true"]["entries"]:
            del e["diagnostics"]["h_base"], e["diagnostics"]["delta_h_seq"]
    return doc

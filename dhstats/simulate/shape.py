"""The real producer's layout: every field of a real ``results.json`` (the eight files in
``shared/data/real``), in the producer's key order, so that a simulated E_2048 file has the
real file's size and key structure (what parsing and validation cost depends on).

Fields the gate reads keep the simulator's values (see :mod:`.run`). The producer's extra
fields are computed along each sampled path, with per-token log π_t = log π(y_t | s_t),
a_t = d log π_t/dη, H_t, H'_t and the entropy-to-go u_t = Σ_{s ≥ t} H_s:

    sum_logp = Σ log π_t, mean_logp = sum_logp/T, var_logp = mean (log π_t − mean_logp)²,
    max_logp, min_logp;  extras: rb_entropy_sum = Σ H_t, sum_w = Σ u_t, sum_w2 = Σ u_t²,
    sum_w_abs = Σ |u_t|, wjlogp_sum = Σ u_t a_t, jH_sum = Σ H'_t, sum_abs_jlogp = Σ |a_t|,
    mean_abs_jlogp = sum_abs_jlogp/T, token_share = T/ΣT,
    denom_corr_unscaled = −R̂ T s (the denominator-correction term of gdotv·ΣT),
    denom_corr_scaled = denom_corr_unscaled/ΣT;  features: log T, sum_w, sum_w2,
    rb_entropy_sum, var_logp;  per_sequence_meta.scale = 1/ΣT.

The names follow the producer; the definitions of the u-sums and the denominator correction
are this simulator's (the producer's are not documented), with the real files' magnitudes.
Bookkeeping fields (timings, update statistics) are deterministic: durations are the real
E_512 run's seconds per sequence times n. The simulator's own ``simulator`` block and
``exact_delta_h`` are not written (the real files have neither).
"""
from __future__ import annotations

import numpy as np

__all__ = ["real_shape", "REAL_2048_ETAS", "FEATURES"]

#: A two-η grid, as the real E_2048 run set has.
REAL_2048_ETAS: tuple[float, ...] = (1.6e-6, 6.4e-6)
#: per_sequence_meta.features: the names of each record's ``features``.
FEATURES = ("length_log", "sum_w", "sum_w2", "rb_entropy_sum", "var_logp")
#: seconds per sequence of the real E_512 run_01 (sampling, approx, update, true pass per η).
_SECONDS_PER_SEQ = {"sampling": 0.4036, "approx": 1.851, "update": 0.04185, "true_per_eta": 0.1116}
#: update batch: microbatches (B_U) and their groups (G_U), as the real files.
_B_U, _G_U = 64, 8


def _per_token(policy, batch) -> dict[str, np.ndarray]:
    """(n, L) arrays along the paths, zero where no step happened: logp, a, H, H1, u."""
    _, lp, H, a, _, H1, _ = policy._derivative_tables()
    tt, prev, tok, m = batch.tt, batch.prev, batch.tokens, batch.Tm
    Ht = H[tt, prev] * m
    return {"logp": lp[tt, prev, tok] * m, "a": a[tt, prev, tok] * m, "H": Ht,
            "H1": H1[tt, prev] * m, "u": np.cumsum(Ht[:, ::-1], axis=1)[:, ::-1] * m}


def sequence_fields(policy, batch) -> dict[str, np.ndarray]:
    """Every extra per-sequence field of the producer (module docstring), as (n,) arrays."""
    x, m, Tf, D = _per_token(policy, batch), batch.alive, batch.Tf, batch.D
    mean = x["logp"].sum(axis=1) / Tf
    h, s = x["H"].sum(axis=1), x["a"].sum(axis=1)
    abs_a = np.abs(x["a"]).sum(axis=1)
    corr = -(float(h.sum()) / D) * Tf * s
    return {
        "sum_logp": x["logp"].sum(axis=1), "mean_logp": mean,
        "var_logp": (((x["logp"] - mean[:, None]) ** 2) * m).sum(axis=1) / Tf,
        "max_logp": np.where(m, x["logp"], -np.inf).max(axis=1),
        "min_logp": np.where(m, x["logp"], np.inf).min(axis=1),
        "rb_entropy_sum": h, "sum_w": x["u"].sum(axis=1), "sum_w2": (x["u"] ** 2).sum(axis=1),
        "sum_w_abs": np.abs(x["u"]).sum(axis=1), "wjlogp_sum": (x["u"] * x["a"]).sum(axis=1),
        "jH_sum": x["H1"].sum(axis=1), "sum_abs_jlogp": abs_a, "mean_abs_jlogp": abs_a / Tf,
        "token_share": Tf / D, "denom_corr_scaled": corr / D, "denom_corr_unscaled": corr,
        "length_log": np.log(Tf),
    }


_LOGP = ("sum_logp", "mean_logp", "var_logp", "max_logp", "min_logp")
_EXTRAS = ("rb_entropy_sum", "sum_w", "sum_w2", "sum_w_abs", "wjlogp_sum", "jH_sum",
           "sum_abs_jlogp", "mean_abs_jlogp", "token_share", "denom_corr_scaled",
           "denom_corr_unscaled")


def _records(records: list[dict], f: dict[str, np.ndarray]) -> list[dict]:
    """The producer's per-sequence records: index, gdotv, length, log π statistics, extras,
    features, vhvv (in this order)."""
    cols = {k: v.tolist() for k, v in f.items()}
    out = []
    for i, rec in enumerate(records):
        new = {"index": rec["index"], "gdotv": rec["gdotv"], "length": rec["length"]}
        new.update((k, cols[k][i]) for k in _LOGP)
        new["extras"] = {k: cols[k][i] for k in _EXTRAS}
        new["features"] = {k: cols[k][i] for k in FEATURES}
        new["vhvv"] = rec["vhvv"]
        out.append(new)
    return out


def _approx(sim: dict, f: dict[str, np.ndarray], n_seq: int, update: dict) -> dict:
    """``approx`` in the producer's key order, with its baseline, audit and timing fields."""
    n_tok = sim["num_tokens"]
    scale = 1.0 / n_tok
    audit = {"scale_sum": _B_U * scale, "total_tokens_used": n_tok}
    baseline = {"kind": "none"}
    q = dict(sim["quadratic"])
    quadratic = {k: q[k] for k in ("gdotv", "vHvv", "eta_star", "ratio_pred", "num_sequences", "num_tokens")}
    quadratic.update(method=q["method"], baseline=baseline, audit=audit, variance=q["variance"],
                     per_sequence_vhvv=q["per_sequence_vhvv"])
    meta = sim["per_sequence_meta"]
    return {
        **{k: sim[k] for k in ("delta_h_per_lr", "num_sequences", "num_tokens", "estimator")},
        "baseline": baseline, "method": sim["method"], "audit": audit, "variance": sim["variance"],
        "per_sequence": _records(sim["per_sequence"], f),
        "per_sequence_meta": {"B_total": meta["B_total"], "T_total": meta["T_total"], "scale": scale,
                              "baseline_kind": baseline["kind"], "total_tokens_used": n_tok,
                              "features": list(FEATURES), "H_base_mean": meta["H_base_mean"]},
        "quadratic": quadratic, "eta_star": sim["eta_star"],
        "duration": _SECONDS_PER_SEQ["approx"] * n_seq, "used_quad": sim["used_quad"],
        "update_seconds": _SECONDS_PER_SEQ["update"] * n_seq, "update_stats": dict(update),
    }


def real_shape(doc: dict, policy, batch) -> dict:
    """``doc`` (the simulator's layout, all fields present) rewritten in the real producer's
    layout and key order, with the extra fields computed from ``policy`` along ``batch``."""
    n, entries = doc["B_E"], doc["true"]["entries"]
    sec = {k: v * n for k, v in _SECONDS_PER_SEQ.items()}
    update = {"method": "simulated_direction", "vec_norm": float(np.linalg.norm(policy.v)),
              "num_params": int(policy.v.size), "avg_mb_loss": 0.0, "num_microbatches": _B_U,
              "amp": {"enabled": False, "dtype": "bfloat16"}}
    true_sec = sec["true_per_eta"] * len(entries)
    total = sec["sampling"] + sec["approx"] + sec["update"] + true_sec
    return {
        "B_E": n, "B_U": _B_U, "G_U": _G_U, "sampling_sec": sec["sampling"], "update": update,
        "approx": _approx(doc["approx"], sequence_fields(policy, batch), n, update),
        "true": {"entries": [{k: e[k] for k in ("eta", "delta_h_true", "diagnostics")} for e in entries],
                 "duration": true_sec},
        "control_variates": doc["control_variates"], "precision": doc["precision"],
        "timing": {"total": total},
    }

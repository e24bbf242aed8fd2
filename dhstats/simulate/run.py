"""One simulated run: :func:`simulate_run` and its steps (arguments, sampling, the per-sequence
derivative terms, the approx block, the per-η measurement, the document).

Per-sequence estimators (n sequences drawn from π_θ)
----------------------------------------------------
Along a fixed sequence y_i: ``h_i = Σ_t H_t``, ``h'_i``, ``h''_i`` its η-derivatives,
``s_i = d log π(y_i)/dη = Σ_t (v[y_t] − E_π v)``, ``s'_i = d² log π(y_i)/dη² = −Σ_t Var_π(v)``.
With ``ΣT = Σ_j T_j``, ``R̂ = Σh/ΣT``:

    gdotv_i = [ s_i (h_i − R̂ T_i) + h'_i ] / ΣT                               G = Σ gdotv_i
    vhvv_i  = [ (s_i² + s'_i)(h_i − R̂ T_i) + 2 s_i h'_i + h''_i − 2 G s_i T_i ] / ΣT   Q = Σ vhvv_i

These are the first and second η-derivatives at η = 0 of the SNIS estimate itself, so
G → dR/dη and Q → d²R/dη² (consistent, bias O(1/n)) and, on the same sequences,
``delta_h_true(η) − ηG − ½η²Q = O(η³)`` when no weight is clipped and ``entropy_noise = 0``.

True side (per η, on the same n sequences)
------------------------------------------
``log_weights_i = log π_{θ+ηv}(y_i) − log π_θ(y_i)``, ``w̃ = softmax(clip(lw, ±10))``,
``weights_sum = Σ exp(clip(lw) − max clip(lw))``, ``ess = 1/Σ w̃²``,
``B = Σ w̃ T``, ``D = Σ T``, ``base_entropy = Σ h_base / D``,
``delta_h_true = Σ w̃ h_new / B − base_entropy``. Optional per-sequence entropy noise
(``entropy_noise`` nats, i.i.d. normal; the real producer has ≈ 0.01) is added to ``h_base``
(once, shared by all entries) and to ``h_new`` (independently per entry). The approx side
uses the noise-free sums (a different "code path"), so ``per_sequence_meta.H_base_mean`` then
differs slightly from ``base_entropy``, as in real files.

Reported SEs: the n sequences are split into M = ``num_shards`` (default ``max(2, n // 8)``)
contiguous microbatches with sums c_m (Σ c_m = G). Convention "total" (default, correct):
``se = √M · std(c_m, ddof=1)``; "shard-mean" (the producer's bug): ``se = std(c_m, ddof=1)/√M``.
``se_jackknife`` is the delete-one-shard jackknife, algebraically the same number.

Extra fields (ignored by the gate): top-level ``simulator`` with the seed, exact values and
defects, and ``true.entries[j].exact_delta_h`` (``shape="sim"`` only).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from dhstats.simulate import defects as _defects
from dhstats.simulate.policy import Policy
from dhstats.simulate.shape import real_shape

__all__ = ["simulate_run", "DEFAULT_ETAS", "LOGW_CLIP", "SHAPES", "Batch", "sample_batch"]

#: The producer's η grid.
DEFAULT_ETAS: tuple[float, ...] = (8e-7, 1.6e-6, 3.2e-6, 6.4e-6, 1.28e-5)
LOGW_CLIP = 10.0
#: Document layouts: the simulator's own ("sim", with the exact values) and the real
#: producer's ("real", every field of a real results.json; see :mod:`.shape`).
SHAPES = ("sim", "real")


# --------------------------------------------------------------------------- helpers


def _shard_se(x: np.ndarray, num_shards: int, convention: str) -> tuple[float, float]:
    """(se_shard, se_jackknife) of Σx from M contiguous shards.

    total:      se_shard = √M·std(c_m, ddof=1); jackknife √((M−1)/M Σ(θ_(m) − θ̄)²) with
                θ_(m) = M/(M−1)·(Σc − c_m), which equals √M·std(c_m, ddof=1).
    shard-mean: both divided by M (the SE of the mean shard contribution)."""
    c = np.array([s.sum() for s in np.array_split(x, num_shards)])
    M = len(c)
    se = math.sqrt(M) * float(np.std(c, ddof=1))
    loo = M / (M - 1) * (c.sum() - c)
    jk = math.sqrt((M - 1) / M * float(((loo - loo.mean()) ** 2).sum()))
    if convention == "shard-mean":
        return se / M, jk / M
    return se, jk


def _fl(a) -> list:
    return np.asarray(a, dtype=float).tolist()


def check_etas(etas) -> list[float]:
    """η values as floats: at least one, each finite and > 0, all distinct (else ValueError)."""
    out = [float(e) for e in etas]
    if not out:
        raise ValueError("need at least one η")
    if any(not math.isfinite(e) or e <= 0 for e in out):
        raise ValueError(f"η must be finite and > 0, got {out}")
    if len(set(out)) != len(out):
        raise ValueError(f"η values must be distinct, got {out}")
    return out


def _nonnegative(x, name: str) -> float:
    x = float(x)
    if not (math.isfinite(x) and x >= 0):
        raise ValueError(f"{name} must be ≥ 0")
    return x


# --------------------------------------------------------------------------- step 0: arguments


@dataclass(frozen=True)
class Config:
    """The validated arguments of one :func:`simulate_run` call."""
    n: int
    etas: list[float]
    seed: int
    num_shards: int
    se_convention: str
    defects: list[str]
    entropy_noise: float
    score_noise: float
    policy: Policy
    shape: str


def _config(n, etas, seed, num_shards, se_convention, defects, entropy_noise, score_noise,
            policy, shape) -> Config:
    n = int(n)
    if n < 2:
        raise ValueError("n must be ≥ 2")
    if se_convention not in ("total", "shard-mean"):
        raise ValueError("se_convention must be 'total' or 'shard-mean'")
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    defects = _defects.check_defects(defects)
    M = int(num_shards) if num_shards is not None else max(2, n // 8)
    if not 2 <= M <= n:
        raise ValueError(f"num_shards must be in [2, n], got {M}")
    return Config(n, check_etas(etas), int(seed), M,
                  "shard-mean" if "shard_mean_se" in defects else se_convention, defects,
                  _nonnegative(entropy_noise, "entropy_noise"),
                  _nonnegative(score_noise, "score_noise"),
                  Policy.default() if policy is None else policy, shape)


# --------------------------------------------------------------------------- step 1: sampling


class Batch(NamedTuple):
    """The E-batch: ``tokens``, ``prev`` (state each token was emitted from), ``alive`` (step
    happened), all (n, L); ``tt`` the position of each step, ``Tm`` = alive as float,
    ``T`` the lengths (int), ``Tf`` the lengths (float), ``D`` = Σ T."""
    tokens: np.ndarray
    prev: np.ndarray
    alive: np.ndarray
    tt: np.ndarray
    Tm: np.ndarray
    T: np.ndarray
    Tf: np.ndarray
    D: float

    def along(self, table: np.ndarray) -> np.ndarray:
        """Σ_t table[t, prev_t] over the steps that happened (a per-state quantity)."""
        return (table[self.tt, self.prev] * self.Tm).sum(axis=1)

    def along_tokens(self, table: np.ndarray) -> np.ndarray:
        """Σ_t table[t, prev_t, y_t] over the steps that happened (a per-token quantity)."""
        return (table[self.tt, self.prev, self.tokens] * self.Tm).sum(axis=1)


def sample_batch(policy: Policy, n: int, rng: np.random.Generator) -> Batch:
    """n sequences from π_θ (:meth:`Policy.sample`) with their step masks and lengths."""
    tokens, prev, alive = policy.sample(n, rng)
    T = alive.sum(axis=1).astype(np.int64)
    Tf = T.astype(float)
    return Batch(tokens, prev, alive, np.broadcast_to(np.arange(policy.max_len)[None, :], prev.shape),
                 alive.astype(float), T, Tf, float(Tf.sum()))


# --------------------------------------------------------------------------- step 2: derivative terms


def sequence_terms(cfg: Config, batch: Batch, rng_score) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(gdotv, vhvv, h, G) by the module docstring's formulas (noise-free approx side), plus,
    if ``score_noise``, zero-mean normal noise of σ = score_noise·|R'|/√n (resp. |R''|) per
    sequence: the real producer's gradient-estimator noise (baselines, Rao-Blackwellisation)."""
    pi, lp, H, a, var, H1, H2 = cfg.policy._derivative_tables()
    Tf, D = batch.Tf, batch.D
    h, h1, h2 = batch.along(H), batch.along(H1), batch.along(H2)
    s = batch.along_tokens(a)
    s1 = -batch.along(var)
    R_hat = float(h.sum()) / D
    gdotv = (s * (h - R_hat * Tf) + h1) / D
    G = math.fsum(gdotv.tolist())
    vhvv = ((s * s + s1) * (h - R_hat * Tf) + 2.0 * s * h1 + h2 - 2.0 * G * s * Tf) / D
    if cfg.score_noise:
        _, r1, r2 = cfg.policy.derivatives()
        gdotv = gdotv + cfg.score_noise * abs(r1) / math.sqrt(cfg.n) * rng_score.standard_normal(cfg.n)
        vhvv = vhvv + cfg.score_noise * abs(r2) / math.sqrt(cfg.n) * rng_score.standard_normal(cfg.n)
        G = math.fsum(gdotv.tolist())
    return gdotv, vhvv, h, G


# --------------------------------------------------------------------------- step 3: approx block


def approx_block(cfg: Config, batch: Batch, gdotv: np.ndarray, vhvv: np.ndarray, h: np.ndarray) -> dict:
    """The producer's ``approx`` object: G, Q, their shard SEs, per-sequence records."""
    gdotv_l, vhvv_l = _fl(gdotv), _fl(vhvv)
    G, Q = math.fsum(gdotv_l), math.fsum(vhvv_l)
    M, conv = cfg.num_shards, cfg.se_convention
    (se_g, se_g_jk), (se_q, _) = _shard_se(gdotv, M, conv), _shard_se(vhvv, M, conv)
    eta_star = 2.0 * abs(G / Q) if Q != 0 else 0.0
    T_l, n_tok = batch.T.tolist(), int(batch.T.sum())
    quadratic = {
        "gdotv": G, "vHvv": Q, "eta_star": eta_star,
        # informational; the producer's is mis-computed, this is (ηG + ½η²Q)/(ηG)
        "ratio_pred": {repr(eta): (1.0 + eta * Q / (2.0 * G)) if G != 0 else 0.0 for eta in cfg.etas},
        "num_sequences": cfg.n, "num_tokens": n_tok, "method": "exact_sim",
        "variance": {"num_shards": M, "se_gdotv": se_g, "se_vHvv": se_q},
        "per_sequence_vhvv": vhvv_l,
    }
    return {
        "delta_h_per_lr": G, "num_sequences": cfg.n, "num_tokens": n_tok,
        "estimator": "exact_sim", "method": "exact_sim",
        "variance": {"num_shards": M, "se_shard": se_g, "se_jackknife": se_g_jk},
        "per_sequence": [{"index": i, "gdotv": gdotv_l[i], "length": T_l[i], "vhvv": vhvv_l[i]}
                         for i in range(cfg.n)],
        "per_sequence_meta": {"B_total": cfg.n, "T_total": n_tok, "H_base_mean": float(h.sum()) / batch.D},
        "quadratic": quadratic, "eta_star": eta_star, "used_quad": True,
    }


# --------------------------------------------------------------------------- step 4: per-η measurement


class Base(NamedTuple):
    """The base side shared by every entry: h_base (array and list) and base_entropy."""
    h: np.ndarray
    h_list: list
    entropy: float


def base_side(cfg: Config, batch: Batch, h: np.ndarray, rng_noise) -> Base:
    """h_base = h (+ entropy noise), base_entropy = Σ h_base / D."""
    h_base = h + cfg.entropy_noise * rng_noise.standard_normal(cfg.n) if cfg.entropy_noise else h.copy()
    return Base(h_base, _fl(h_base), float(h_base.sum()) / batch.D)


def measure(cfg: Config, batch: Batch, base: Base, lp: np.ndarray, eta: float, rng_noise) -> dict:
    """One ``true.entries[j]`` at η: log weights, clipped SNIS weights, h_new (+ noise), ESS,
    delta_h_true and the producer's diagnostics (module docstring)."""
    _, lp_e, H_e = cfg.policy.tables(eta)
    lw = batch.along_tokens(lp_e - lp)
    h_new = batch.along(H_e)
    if cfg.entropy_noise:
        h_new = h_new + cfg.entropy_noise * rng_noise.standard_normal(cfg.n)
    c = np.clip(lw, -LOGW_CLIP, LOGW_CLIP)
    e = np.exp(c - c.max())
    weights_sum = float(e.sum())
    w = e / weights_sum
    w, ess = _defects.plant_weights(w, 1.0 / float((w * w).sum()), cfg.defects)
    dht = _defects.snis_entropy(w, h_new, batch.Tf, batch.D, cfg.defects) - base.entropy
    diag = {
        "delta_h_true": dht, "base_entropy": base.entropy, "ess": ess,
        "logweight_stats": {"min": float(c.min()), "median": float(np.median(c)), "max": float(c.max())},
        "clip_fraction": float(np.mean(np.abs(lw) > LOGW_CLIP)),
        "weights_sum": weights_sum, "normalized_weights": _fl(w), "log_weights": _fl(lw),
        "h_base": base.h_list, "h_new": _fl(h_new), "delta_h_seq": _fl(h_new - base.h),
        "token_counts": batch.T.tolist(),
    }
    return {"eta": eta, "delta_h_true": dht, "diagnostics": diag, "exact_delta_h": cfg.policy.delta_h(eta)}


# --------------------------------------------------------------------------- step 5: document


def document(cfg: Config, approx: dict, entries: list, defect_info: dict) -> dict:
    """The whole ``results.json`` in the simulator's layout (before field-dropping defects)."""
    R, R1, R2 = cfg.policy.derivatives()
    p = cfg.policy
    return {
        "B_E": cfg.n, "approx": approx, "true": {"entries": entries}, "control_variates": None,
        "precision": {"runtime_dtype": "float64", "entropy_dtype": "float64"},
        "simulator": {
            "seed": cfg.seed,
            "exact": {"delta_h_per_lr": R1, "vHvv": R2, "base_entropy": R},
            "defects": cfg.defects, "defect_info": defect_info,
            "se_convention": cfg.se_convention, "entropy_noise": cfg.entropy_noise,
            "policy": {"vocab": p.vocab, "max_len": p.max_len, "eos": p.eos,
                       "token_counts_include_eos": True},
        },
    }


def simulate_run(n: int, etas: Iterable[float] = DEFAULT_ETAS, *, seed: int,
                 num_shards: int | None = None, se_convention: str = "total",
                 defects: Sequence[str] = (), entropy_noise: float = 0.0,
                 score_noise: float = 0.0, policy: Policy | None = None,
                 shape: str = "sim") -> dict:
    """Simulate one run; return its ``results.json`` document (plain Python types).

    n sequences are drawn from π_θ of ``policy`` (default :meth:`Policy.default`) with
    ``numpy.random.default_rng`` streams derived from ``seed``; the same arguments give the
    same document. See the module docstring for every formula, :data:`DEFECTS` for the
    defects. ``num_shards`` defaults to ``max(2, n // 8)`` (32 for n = 256, as the producer).
    ``shape="real"`` writes the real producer's layout with all its extra fields
    (:func:`dhstats.simulate.shape.real_shape`) instead of the simulator's exact values.
    """
    cfg = _config(n, etas, seed, num_shards, se_convention, defects, entropy_noise, score_noise,
                  policy, shape)
    rng_path, rng_noise, rng_defect, rng_score = (
        np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(4))
    batch = sample_batch(cfg.policy, cfg.n, rng_path)
    gdotv, vhvv, h, G_clean = sequence_terms(cfg, batch, rng_score)
    gdotv, defect_info = _defects.plant_gdotv(gdotv, G_clean, cfg.defects, rng_defect)
    approx = approx_block(cfg, batch, gdotv, vhvv, h)
    base = base_side(cfg, batch, h, rng_noise)
    lp = cfg.policy.tables(0.0)[1]
    entries = [measure(cfg, batch, base, lp, eta, rng_noise) for eta in cfg.etas]
    doc = document(cfg, approx, entries, defect_info)
    if cfg.shape == "real":
        doc = real_shape(doc, cfg.policy, batch)
    return _defects.drop_fields(doc, cfg.defects)

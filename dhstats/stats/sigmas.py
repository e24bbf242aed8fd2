"""Every σ of a case in one small object (:class:`Sigmas`): array kernels
(:func:`sequence_parts`, :func:`sigmas_at`, :func:`case_sigmas`) and the adapter from a
validated :class:`~dhstats.load.results.Run` (:func:`run_sigmas`).

Which fields feed which σ (checks.md, "Shared statistics"; results-format.md):

* σ_G: ``approx.per_sequence[i].gdotv`` centred with G = ``approx.delta_h_per_lr``; else the
  reported ``approx.variance.se_shard`` (× ``num_shards`` under ``reported_se="shard-mean"``).
* σ_Q (only with an ``approx.quadratic`` block): ``quadratic.per_sequence_vhvv`` (or
  ``approx.per_sequence[i].vhvv``) centred with Q = ``quadratic.vHvv``; else the reported
  ``quadratic.variance.se_vHvv`` (its ``num_shards``, or the run's).
* σ_true, σ_lin, σ_lq: the entry's ``normalized_weights``, ``token_counts``, ``h_new``,
  ``h_base``. The linear part of σ_lq uses g̃ of ``approx.per_sequence``: the quadratic
  pass's own per-sequence gdotv is not in the file (its total G_q differs from G by ≤ 1.4 %).

Only :mod:`dhstats.load.results` and :mod:`dhstats.stats.stats` are imported.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dhstats.stats import stats
from dhstats.load.results import Entry, Run


# --------------------------------------------------------------------------- σ of one case


@dataclass(frozen=True, eq=False)
class SequenceParts:
    """The η-independent inputs of a run's case σ's: token counts, centred contributions
    g̃ = gdotv − G·T/ΣT and q̃ = vhvv − Q·T/ΣT (None when not per-sequence), σ_G and σ_Q."""

    T: np.ndarray
    g_tilde: np.ndarray | None
    q_tilde: np.ndarray | None
    g: stats.Sigma | None
    q: stats.Sigma | None


def sequence_parts(*, T, gdotv=None, G=None, vhvv=None, Q=None,
                   sigma_g_reported: stats.Sigma | None = None,
                   sigma_q_reported: stats.Sigma | None = None) -> SequenceParts:
    """Centre the per-sequence contributions once per run (totals G and Q default to Σgdotv,
    Σvhvv) and take σ_G = stats.se_sum(g̃), σ_Q = stats.se_sum(q̃), or the reported Sigma without
    per-sequence data (n ≥ 2 needed). Pass vhvv/σ_Q only when the run has a quadratic block."""
    T = np.asarray(T, dtype=np.float64)
    g_t = None if gdotv is None or T.size < 2 else stats.centred(gdotv, T, G)
    q_t = None if vhvv is None or T.size < 2 else stats.centred(vhvv, T, Q)

    def pick(x, reported):
        if x is not None:
            return stats.Sigma(stats.finite_or_nan(stats.se_sum(x)), "per_sequence")
        return None if reported is None else stats.Sigma(stats.finite_or_nan(reported.value), reported.source)

    g, q = pick(g_t, sigma_g_reported), pick(q_t, sigma_q_reported)
    return SequenceParts(T, g_t, q_t, g, q)


def _sig(value: float, source: str) -> stats.Sigma:
    return stats.Sigma(stats.finite_or_nan(value), source)


def sigma_c(c: float, *, p=None, psi=None, sigma_prediction: float | None = None,
            sigma_true: float | None = None, cov: float = 0.0) -> float:
    """σ_c, the SE of P − c·ΔH_true for a prediction P and a factor c (checks.md, "Resolution
    and equivalence"); σ_1 is σ_lin / σ_lq.

    Paired, from per-sequence arrays: ``se_sum(p_i − c·ψ_i)`` with p_i = η·g̃_i (lin+quad:
    η·g̃_i + ½η²·q̃_i) and ψ the influence of ΔH_true (:func:`stats.paired_influence`).
    From a case's numbers: √(σ_P² − 2c·cov + c²σ_true²); with cov = cov(P, ΔH_true) of the
    paired σ's (:func:`cov_from`) this equals the paired form exactly (se_sum² is the
    sample covariance form, bilinear in p and ψ); with cov = 0 it is the independent
    fallback √(σ_P² + c²σ_true²). NaN for non-finite input.
    """
    if p is not None and psi is not None:
        return stats.se_sum(np.asarray(p, dtype=np.float64) - c * np.asarray(psi, dtype=np.float64))
    if sigma_prediction is None or sigma_true is None:
        return math.nan
    var = sigma_prediction**2 - 2.0 * c * cov + (c * sigma_true) ** 2
    return stats.finite_or_nan(math.sqrt(max(var, 0.0))) if math.isfinite(var) else math.nan


def cov_from(sigma_prediction: float, sigma_true: float, sigma_difference: float) -> float:
    """cov(prediction, ΔH_true) = (σ_pred² + σ_true² − σ_diff²)/2 (polarisation identity)."""
    return 0.5 * (sigma_prediction**2 + sigma_true**2 - sigma_difference**2)


@dataclass(frozen=True)
class Sigmas:
    """All σ's of one (run, η) (checks.md, "Shared statistics"), nats per token.

    g, q: σ_G, σ_Q (per unit LR, LR²). true: σ_true ("paired" | "approximate" = η·σ_G).
    linear: σ_lin of ηG − ΔH_true; linquad: σ_lq of ηG_q + ½η²Q − ΔH_true ("paired" |
    "independent"). prediction_linear = η·σ_G; prediction_linquad: σ of ηG_q + ½η²Q alone.
    None where the inputs do not exist; a NaN value where an input was not finite.
    """

    eta: float
    g: stats.Sigma | None
    q: stats.Sigma | None
    true: stats.Sigma | None
    linear: stats.Sigma | None
    linquad: stats.Sigma | None
    prediction_linear: float | None
    prediction_linquad: float | None

    def cov(self, estimator: str) -> float | None:
        """cov(prediction, ΔH_true) for estimator "linear" or "linquad": :func:`cov_from` of
        the paired σ's; 0 when the difference's σ is "independent"; None without it."""
        diff, pred = {"linear": (self.linear, self.prediction_linear),
                      "linquad": (self.linquad, self.prediction_linquad)}[estimator]
        if diff is None or pred is None or self.true is None:
            return None
        if diff.source != "paired":
            return 0.0
        return stats.finite_or_nan(cov_from(pred, self.true.value, diff.value))


def sigmas_at(eta: float, parts: SequenceParts, *, w, h_new, h_base=None) -> Sigmas:
    """The case σ's at one η from the run's :class:`SequenceParts` and the entry's arrays
    (checks.md; ψ from :func:`paired_influence`, se_sum over sequences):

        σ_true = √(n/(n−1)·Σψ²)  ("paired", needs h_base)   else η·σ_G ("approximate")
        σ_lin  = stats.se_sum(η g̃ − ψ)                 ("paired": g̃ and h_base)
               = √((ησ_G)² + σ_true²)             ("independent") otherwise
        σ_lq   = stats.se_sum(η g̃ + ½η² q̃ − ψ)        ("paired": g̃, q̃ and h_base)
               = √(stats.se_sum(η g̃ − ψ)² + (½η²σ_Q)²) ("paired": no q̃ — only the curvature
                 term, whose sampling error is then unknown per sequence, is taken as
                 independent of the rest)
               = √((ησ_G)² + (½η²σ_Q)² + σ_true²) ("independent") otherwise
        σ of the prediction: η σ_G;  stats.se_sum(η g̃ + ½η² q̃), else √((ησ_G)² + (½η²σ_Q)²).

    linquad is None without σ_Q (no quadratic block). ``parts.T`` must be the entry's
    token counts.
    """
    g, q, g_t, q_t = parts.g, parts.q, parts.g_tilde, parts.q_tilde
    psi = None
    if h_base is not None and parts.T.size >= 2:
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite input → NaN σ
            psi = stats.paired_influence(np.asarray(w, float), parts.T, np.asarray(h_new, float),
                                   np.asarray(h_base, float))
    n = parts.T.size
    if psi is not None:
        true = _sig(math.sqrt(n / (n - 1) * float(np.dot(psi, psi))), "paired")
    elif h_base is not None:  # n < 2
        true = stats.Sigma(math.nan, "paired")
    else:
        true = None if g is None else _sig(eta * g.value, "approximate")
    pred_lin = None if g is None else stats.finite_or_nan(eta * g.value)
    half = 0.5 * eta * eta
    linear = None
    if g_t is not None and psi is not None:
        linear = _sig(sigma_c(1.0, p=eta * g_t, psi=psi), "paired")
    elif g is not None and true is not None:
        linear = _sig(sigma_c(1.0, sigma_prediction=eta * g.value, sigma_true=true.value), "independent")
    pred_lq = linquad = None
    if g is not None and q is not None:
        if g_t is not None and q_t is not None:
            pred_lq = stats.finite_or_nan(stats.se_sum(eta * g_t + half * q_t))
        else:
            pred_lq = stats.finite_or_nan(math.hypot(eta * g.value, half * q.value))
        if g_t is not None and q_t is not None and psi is not None:
            linquad = _sig(sigma_c(1.0, p=eta * g_t + half * q_t, psi=psi), "paired")
        elif g_t is not None and psi is not None:
            linquad = _sig(math.hypot(sigma_c(1.0, p=eta * g_t, psi=psi), half * q.value), "paired")
        elif true is not None:
            linquad = _sig(sigma_c(1.0, sigma_prediction=pred_lq, sigma_true=true.value), "independent")
    if not math.isfinite(eta):
        nan = lambda s: None if s is None else stats.Sigma(math.nan, s.source)  # noqa: E731
        true, linear, linquad = nan(true), nan(linear), nan(linquad)
        pred_lin = None if pred_lin is None else math.nan
        pred_lq = None if pred_lq is None else math.nan
    return Sigmas(eta, g, q, true, linear, linquad, pred_lin, pred_lq)


def case_sigmas(eta: float, *, T, w, h_new, h_base=None, gdotv=None, G=None, vhvv=None,
                Q=None, sigma_g_reported: stats.Sigma | None = None,
                sigma_q_reported: stats.Sigma | None = None) -> Sigmas:
    """All σ's of one (run, η) from plain arrays: :func:`sequence_parts` then
    :func:`sigmas_at`. ``sigma_*_reported`` are the producer's SEs of the totals as Sigma
    (:func:`reported_sigma`), used only without per-sequence data."""
    parts = sequence_parts(T=T, gdotv=gdotv, G=G, vhvv=vhvv, Q=Q,
                           sigma_g_reported=sigma_g_reported, sigma_q_reported=sigma_q_reported)
    return sigmas_at(eta, parts, w=w, h_new=h_new, h_base=h_base)


def run_parts(run: Run, reported_se: str, T: np.ndarray | None = None) -> SequenceParts:
    """The η-independent σ inputs of ``run`` (centred g̃, q̃; σ_G, σ_Q). ``T`` defaults to the
    first entry's token counts. ``reported_se``: "total" | "shard-mean"."""
    T = run.entries[0].token_counts if T is None else T
    q = run.quadratic
    vhvv = sigma_q = Q = None
    if q is not None:
        Q = q.vhvv
        vhvv = q.per_sequence_vhvv if q.per_sequence_vhvv is not None else run.per_sequence_vhvv
        sigma_q = stats.reported_sigma(q.se_vhvv, q.num_shards or run.num_shards, reported_se)
    return sequence_parts(
        T=T, gdotv=run.gdotv, G=run.delta_h_per_lr, vhvv=vhvv, Q=Q,
        sigma_g_reported=stats.reported_sigma(run.se_shard, run.num_shards, reported_se),
        sigma_q_reported=sigma_q,
    )


def _sigmas(run: Run, entry: Entry, reported_se: str, parts: SequenceParts) -> Sigmas:
    if not np.array_equal(parts.T, entry.token_counts):  # token counts differ across entries
        parts = run_parts(run, reported_se, entry.token_counts)  # (consistency fails them)
    return sigmas_at(entry.eta, parts, w=entry.normalized_weights, h_new=entry.h_new,
                           h_base=entry.h_base)


def run_sigmas(run: Run, reported_se: str) -> dict[float, Sigmas]:
    """{η: Sigmas} for every entry of ``run``; the per-run parts are computed once (again
    only for an entry whose token counts differ from the first entry's)."""
    parts = run_parts(run, reported_se)
    return {e.eta: _sigmas(run, e, reported_se, parts) for e in run.entries}

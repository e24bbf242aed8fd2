"""Run-level views of the statistics, shared by tables and plots.

Thin adapters from a validated :class:`~dhstats.results.Run` to the array kernels of
:mod:`dhstats.stats`; nothing is computed here that is not defined there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import stats
from .results import Entry, Run
from .verdicts import RunContext, Settings


@dataclass(frozen=True, eq=False)
class SequenceSeries:
    """Per-sequence terms at one η (nats per token, each sums to its total).

    ``true``: the notebook's c_i (Σ = ΔH_true); ``linear``: η·gdotv_i (Σ = ηG);
    ``linquad``: η·gdotv_i + ½η²·vhvv_i (None without per-sequence vHv).
    """

    eta: float
    true: np.ndarray
    linear: np.ndarray | None
    linquad: np.ndarray | None


def sequence_series(run: Run, entry: Entry) -> SequenceSeries:
    """The notebook's ``get_per_sequence_contributions`` (plus lin+quad), done right."""
    e = entry
    true = stats.notebook_contributions(e.normalized_weights, e.token_counts, e.h_new, e.base_entropy)
    linear = None if run.gdotv is None else e.eta * run.gdotv
    vhvv = run.quadratic.per_sequence_vhvv if run.quadratic is not None else None
    if vhvv is None:
        vhvv = run.per_sequence_vhvv
    linquad = None if linear is None or vhvv is None else linear + 0.5 * e.eta**2 * vhvv
    return SequenceSeries(e.eta, true, linear, linquad)


@dataclass(frozen=True)
class EtaPoint:
    """ΔH at one η: predictions and measurement with their σ (checks.md formulas)."""

    eta: float
    delta_true: float
    sigma_true: float | None
    sigma_true_source: str
    delta_linear: float
    sigma_linear: float | None  # η σ_G
    delta_linquad: float | None
    sigma_linquad: float | None  # √((ησ_G)² + (½η²σ_Q)²)
    sigma_g_source: str


def eta_curve(run: Run, settings: Settings = Settings()) -> list[EtaPoint]:
    """ΔH(η) for a run: true ± σ_true, ηG ± ησ_G, ηG_q + ½η²Q ± its σ; ascending η."""
    ctx = RunContext(run, settings)
    sg, sq, q = ctx.sigma_g, ctx.sigma_q, run.quadratic
    points = []
    for e in run.entries:
        st = ctx.sigma_true(e)
        lq = stats.linquad_prediction(e.eta, q.gdotv, q.vhvv) if q is not None else None
        s_lin = e.eta * sg.value if sg is not None else None
        s_lq = None
        if lq is not None and sg is not None and sq is not None:
            s_lq = float(np.hypot(e.eta * sg.value, 0.5 * e.eta**2 * sq.value))
        points.append(EtaPoint(
            eta=e.eta,
            delta_true=e.delta_h_true,
            sigma_true=None if st is None else st.value,
            sigma_true_source="" if st is None else st.source,
            delta_linear=e.eta * run.delta_h_per_lr,
            sigma_linear=s_lin,
            delta_linquad=lq,
            sigma_linquad=s_lq,
            sigma_g_source="" if sg is None else sg.source,
        ))
    return points

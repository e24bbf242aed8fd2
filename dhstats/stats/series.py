"""Run-level views of the statistics, shared by tables and plots.

Thin adapters from a validated :class:`~dhstats.load.results.Run` to the array kernels of
:mod:`dhstats.stats.stats` and the σ's of :mod:`dhstats.stats.sigmas`; nothing is computed here that is
not defined there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dhstats.stats import stats
from dhstats.load.results import Entry, Run
from dhstats.load.settings import Settings
from dhstats.stats.sigmas import Sigmas, run_sigmas


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
    linquad = None if linear is None or vhvv is None else linear + 0.5 * e.eta * e.eta * vhvv
    return SequenceSeries(e.eta, true, linear, linquad)


def normalised_error(true: np.ndarray, linear: np.ndarray, delta_true: float) -> np.ndarray:
    """The notebook's normalised per-sequence error |c_i − η·gdotv_i| / |ΔH_true|; not
    normalised (divided by 1) when ΔH_true is 0 or not finite."""
    scale = abs(delta_true) if delta_true != 0 and np.isfinite(delta_true) else 1.0
    return np.abs(np.asarray(true) - np.asarray(linear)) / scale


@dataclass(frozen=True)
class EtaPoint:
    """ΔH at one η: the measurement, both predictions and every σ (:class:`dhstats.stats.sigmas.Sigmas`)."""

    eta: float
    delta_true: float
    delta_linear: float
    delta_linquad: float | None
    sigmas: Sigmas


def eta_curve(run: Run, settings: Settings = Settings()) -> list[EtaPoint]:
    """ΔH(η) for a run, ascending η: ΔH_true, ηG, ηG_q + ½η²Q and their σ's."""
    q = run.quadratic
    sig = run_sigmas(run, settings.reported_se)
    with np.errstate(all="ignore"):
        return [EtaPoint(e.eta, e.delta_h_true, e.eta * run.delta_h_per_lr,
                         None if q is None else stats.linquad_prediction(e.eta, q.gdotv, q.vhvv), sig[e.eta])
                for e in run.entries]

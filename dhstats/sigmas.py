"""The σ's of a validated run: adapter from :class:`~dhstats.results.Run` to the kernels
:func:`dhstats.stats.sequence_parts` and :func:`dhstats.stats.sigmas_at`.

Which fields feed which σ (checks.md, "Shared statistics"; results-format.md):

* σ_G: ``approx.per_sequence[i].gdotv`` centred with G = ``approx.delta_h_per_lr``; else the
  reported ``approx.variance.se_shard`` (× ``num_shards`` under ``reported_se="shard-mean"``).
* σ_Q (only with an ``approx.quadratic`` block): ``quadratic.per_sequence_vhvv`` (or
  ``approx.per_sequence[i].vhvv``) centred with Q = ``quadratic.vHvv``; else the reported
  ``quadratic.variance.se_vHvv`` (its ``num_shards``, or the run's).
* σ_true, σ_lin, σ_lq: the entry's ``normalized_weights``, ``token_counts``, ``h_new``,
  ``h_base``. The linear part of σ_lq uses g̃ of ``approx.per_sequence``: the quadratic
  pass's own per-sequence gdotv is not in the file (its total G_q differs from G by ≤ 1.4 %).

Only :mod:`dhstats.results` and :mod:`dhstats.stats` are imported.
"""
from __future__ import annotations

import numpy as np

from . import stats
from .results import Entry, Run


def run_parts(run: Run, reported_se: str, T: np.ndarray | None = None) -> stats.SequenceParts:
    """The η-independent σ inputs of ``run`` (centred g̃, q̃; σ_G, σ_Q). ``T`` defaults to the
    first entry's token counts. ``reported_se``: "total" | "shard-mean"."""
    T = run.entries[0].token_counts if T is None else T
    q = run.quadratic
    vhvv = sigma_q = Q = None
    if q is not None:
        Q = q.vhvv
        vhvv = q.per_sequence_vhvv if q.per_sequence_vhvv is not None else run.per_sequence_vhvv
        sigma_q = stats.reported_sigma(q.se_vhvv, q.num_shards or run.num_shards, reported_se)
    return stats.sequence_parts(
        T=T, gdotv=run.gdotv, G=run.delta_h_per_lr, vhvv=vhvv, Q=Q,
        sigma_g_reported=stats.reported_sigma(run.se_shard, run.num_shards, reported_se),
        sigma_q_reported=sigma_q,
    )


def _sigmas(run: Run, entry: Entry, reported_se: str, parts: stats.SequenceParts) -> stats.Sigmas:
    if not np.array_equal(parts.T, entry.token_counts):  # token counts differ across entries
        parts = run_parts(run, reported_se, entry.token_counts)  # (consistency fails them)
    return stats.sigmas_at(entry.eta, parts, w=entry.normalized_weights, h_new=entry.h_new,
                           h_base=entry.h_base)


def case_sigmas_of(run: Run, entry: Entry, reported_se: str) -> stats.Sigmas:
    """All σ's of one (run, η) (:class:`dhstats.stats.Sigmas`)."""
    return _sigmas(run, entry, reported_se, run_parts(run, reported_se, entry.token_counts))


def run_sigmas(run: Run, reported_se: str) -> dict[float, stats.Sigmas]:
    """{η: Sigmas} for every entry of ``run``; the per-run parts are computed once (again
    only for an entry whose token counts differ from the first entry's)."""
    parts = run_parts(run, reported_se)
    return {e.eta: _sigmas(run, e, reported_se, parts) for e in run.entries}

"""Builders of hand-made, self-consistent inputs shared by the tests."""
from __future__ import annotations

import numpy as np

from dhstats.results import Entry


def consistent_entry(eta, w, T, h_new, h_base, *, with_h_base=True, log_weights=None) -> Entry:
    """An entry whose derived fields agree with its arrays (results-format.md)."""
    base = float(h_base.sum() / T.sum())  # H_base = Σ h_base / Σ T
    delta = float(np.dot(w, h_new) / np.dot(w, T)) - base  # Σw̃h_new/Σw̃T − H_base
    return Entry(
        eta=eta,
        delta_h_true=delta,
        normalized_weights=w,
        token_counts=T,
        h_new=h_new,
        base_entropy=base,
        h_base=h_base.copy() if with_h_base else None,
        log_weights=log_weights,
        weights_sum=float(1.0 / w.max()),  # Σ exp(lw − max lw) = 1/max w̃
        ess=float(1.0 / np.dot(w, w)),
    )

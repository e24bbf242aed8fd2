"""Builders of hand-made, self-consistent inputs shared by the tests."""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dhstats import simulate
from dhstats.results import Entry

ETAS = (8e-7, 3.2e-6, 1.28e-5)
NOISE = dict(entropy_noise=0.01, score_noise=0.3)  # realistic: G/σ_G ≈ 3, as the real files


def umask() -> int:
    """The process umask, read the portable way (the tests' oracle for file modes)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def noise(n: int) -> dict:
    """NOISE at batch size n: the simulator's score noise gives σ_G = score_noise·|G| whatever
    n, so it is scaled by √(128/n) for σ_G to shrink as 1/√E like real sampling noise."""
    return dict(entropy_noise=0.01, score_noise=0.3 * math.sqrt(128 / n))


def write_run(root: Path, run: str, n: int = 128, seed: int = 1, etas=ETAS, eta0=None, **kw) -> Path:
    """``root/run/results.json``: a simulated run (:func:`dhstats.simulate.simulate_run`, options
    ``kw``) as the producer writes it; ``eta0`` replaces the first entry's η (any JSON value)."""
    doc = simulate.simulate_run(n, etas, seed=seed, **kw)
    if eta0 is not None:
        doc["true"]["entries"][0]["eta"] = eta0
    path = root / run / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(simulate.dumps_run(doc))
    return path


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


# --------------------------------------------------------------------------- hypothesis strategies

POS = st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False)
SCALE = st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False)
# ±[1e-3, 1e3] or 0: no subnormal magnitudes, whose squares underflow inside std()
SIGNED = st.just(0.0) | st.builds(lambda sign, x: sign * x, st.sampled_from([-1.0, 1.0]), POS)


def arrays(n, elements):
    return hnp.arrays(np.float64, n, elements=elements)


@st.composite
def batches(draw, min_n=3, max_n=50):
    """A random E-batch: weights, token counts, entropy sums, gdotv, and a permutation."""
    n = draw(st.integers(min_n, max_n))
    return {
        "w": draw(arrays(n, POS)),
        "T": draw(hnp.arrays(np.int64, n, elements=st.integers(1, 1000))).astype(np.float64),
        "h_new": draw(arrays(n, POS)),
        "h_base": draw(arrays(n, POS)),
        "gdotv": draw(arrays(n, SIGNED)),
        "perm": np.array(draw(st.permutations(range(n)))),
    }

"""Builders of hand-made, self-consistent inputs shared by the tests."""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dhstats import simulate
from dhstats.stats import stats
from dhstats.load.results import Entry, Quadratic, Run, RunFile
from paths import PROJECT_ROOT

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


def make_run(*, n=40, seed=0, etas=(1e-6, 2e-6), G=5e4, Q=1e8, weight_sd=0.1, noise=0.01, gdotv_sd=50.0,
             se_factor=1.05, num_shards=8, per_sequence=True, h_base=True, quadratic=True,
             reported_se=True, run_set="E_test", run="run_01") -> Run:
    """A healthy run of the model

        T_i ~ 1 + Poisson(50),  h_base_i = 0.6 T_i + N(0, 1)                (nats per sequence)
        log w_i = (η/1e-6)·weight_sd·u_i, u_i ~ U(±√3)  (bounded tail: k̂ < 0)
        h_new_i = h_base_i + (ηG + ½η²Q)·T_i + N(0, noise²)   (true ΔH = ηG + ½η²Q per token)
        gdotv_i = G·T_i/ΣT + centred N(0, gdotv_sd²)           (Σ gdotv = G)
        vhvv_i  = Q·T_i/ΣT + centred N(0, (1e3·gdotv_sd)²)     (Σ vhvv = Q)

    Reported SEs follow the "total" convention at ``se_factor`` × se_sum; the run's file is
    ``/data/<run_set>/<run>/results.json`` (never read).
    """
    rng = np.random.default_rng(seed)
    T = (1 + rng.poisson(50, n)).astype(np.float64)
    hb = 0.6 * T + rng.normal(0.0, 1.0, n)
    u = rng.uniform(-math.sqrt(3), math.sqrt(3), n)
    eg = rng.normal(0.0, gdotv_sd, n)
    gdotv = G * T / T.sum() + (eg - eg.mean())
    eq = rng.normal(0.0, 1e3 * gdotv_sd, n)
    vhvv = Q * T / T.sum() + (eq - eq.mean())
    entries = []
    for eta in etas:
        lw = eta / 1e-6 * weight_sd * u
        ex = np.exp(lw - lw.max())
        w = ex / ex.sum()
        h_new = hb + (eta * G + 0.5 * eta**2 * Q) * T + rng.normal(0.0, noise, n)
        entries.append(consistent_entry(eta, w, T.copy(), h_new, hb, with_h_base=h_base, log_weights=lw))
    G_total = float(gdotv.sum())
    quad = None
    if quadratic:
        quad = Quadratic(
            vhvv=float(vhvv.sum()),
            gdotv=G_total,
            per_sequence_vhvv=vhvv if per_sequence else None,
            se_gdotv=se_factor * stats.se_sum(stats.centred(gdotv, T)) if reported_se else None,
            se_vhvv=se_factor * stats.se_sum(stats.centred(vhvv, T)) if reported_se else None,
            num_shards=num_shards,
        )
    se = se_factor * stats.se_sum(stats.centred(gdotv, T)) if reported_se else None
    return Run(
        file=RunFile(run_set, run, Path(f"/data/{run_set}/{run}/results.json")),
        delta_h_per_lr=G_total,
        entries=tuple(entries),
        gdotv=gdotv if per_sequence else None,
        length=T.copy() if per_sequence else None,
        per_sequence_vhvv=vhvv if (per_sequence and quadratic) else None,
        h_base_mean=float(hb.sum() / T.sum()) if per_sequence else None,
        se_shard=se,
        se_jackknife=se,
        num_shards=num_shards,
        quadratic=quad,
    )


def results_doc(n=4, etas=(1e-6, 2e-6)):
    """A minimal valid results.json document (a dict): n sequences, one entry per η, every field the gate reads.

    Numbers are self-consistent (Σ gdotv = G, Σ vhvv = Q, w̃ = softmax(log_weights), …) but
    validation does not depend on that. Every list is a fresh object, so mutating one entry
    never changes another.
    """
    T = [10 + i for i in range(n)]
    G, Q = -1.0, 2.0
    entries = []
    for eta in etas:
        entries.append({
            "eta": eta,
            "delta_h_true": -eta,
            "diagnostics": {
                "normalized_weights": [1.0 / n] * n,
                "token_counts": list(T),
                "h_new": [5.0 - 100.0 * eta * i for i in range(n)],  # distinct per η
                "h_base": [5.0] * n,
                "base_entropy": 5.0 * n / sum(T),
                "ess": float(n),
                "weights_sum": float(n),
                "log_weights": [0.0] * n,
            },
        })
    return {
        "approx": {
            "delta_h_per_lr": G,
            "per_sequence": [{"gdotv": G / n, "length": t} for t in T],
            "quadratic": {"vHvv": Q, "gdotv": 1.01 * G, "per_sequence_vhvv": [Q / n] * n},
        },
        "true": {"entries": entries},
    }


def make_checkout(parent: Path) -> Path:
    """A fresh checkout of the gate in ``parent/dhstats-checkout``: conftest.py, pytest.ini,
    checks/ copied, dhstats/ linked."""
    root = parent / "dhstats-checkout"
    root.mkdir()
    for name in ("conftest.py", "pytest.ini"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    shutil.copytree(PROJECT_ROOT / "checks", root / "checks", ignore=shutil.ignore_patterns("__pycache__"))
    os.symlink(PROJECT_ROOT / "dhstats", root / "dhstats")
    return root


def gate(pytester, checkout: Path, *args: str):
    """Run ``python -m pytest checks/ ARGS`` from the checkout (the README's command)."""
    os.chdir(checkout)
    return pytester.run(sys.executable, "-m", "pytest", "checks/", "-p", "no:cacheprovider", *args, timeout=300)


def health(checkout: Path, reports: str = "reports") -> dict:
    return json.loads((checkout / reports / "health.json").read_text())


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


def scale_gdotv(root: Path, factor: float) -> None:
    """Every run under ``root`` with gdotv (per sequence, G, G_q and their reported SEs) ×
    ``factor``: a candidate whose linear prediction moved by ``factor`` against its baseline."""
    import orjson

    for path in root.glob("run_*/results.json"):
        doc = orjson.loads(path.read_bytes())
        a = doc["approx"]
        for s in a["per_sequence"]:
            s["gdotv"] *= factor
        a["delta_h_per_lr"] *= factor
        a["variance"]["se_shard"] *= factor
        if a.get("quadratic"):
            a["quadratic"]["gdotv"] *= factor
            a["quadratic"]["variance"]["se_gdotv"] *= factor
        path.write_bytes(orjson.dumps(doc))

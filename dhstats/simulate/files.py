"""Writing run sets: simulated runs, the example run set and malformed files, as files in the
producer's layout ``<out>/<name>/run_NN/results.json`` (orjson, indent 2)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np
import orjson

from dhstats.simulate.run import DEFAULT_ETAS, check_etas, simulate_run

__all__ = ["dumps_run", "write_run_set", "write_example", "write_malformed", "MALFORMED_KINDS",
           "EXAMPLE_ETAS", "EXAMPLE_NAME", "EXAMPLE_SEED", "EXAMPLE_ENTROPY_NOISE",
           "EXAMPLE_SCORE_NOISE"]

#: The example's grid: ×4 steps up to the largest η (20× the producer's), where the linear term fails.
EXAMPLE_ETAS: tuple[float, ...] = (4e-6, 1.6e-5, 6.4e-5, 2.56e-4)
EXAMPLE_NAME = "E_example"
EXAMPLE_SEED = 2025
EXAMPLE_ENTROPY_NOISE = 0.01
#: Gradient noise of the example: G/σ_G ≈ 18 (the real files have 1–3; without any, ηG and
#: ΔH_true share almost all their noise and the paired σ exposes curvature at every η).
EXAMPLE_SCORE_NOISE = 0.05

MALFORMED_KINDS: dict[str, str] = {
    "nan": "a NaN token inside true.entries[0].diagnostics.h_new",
    "short_array": "true.entries[1].diagnostics.h_new is one value short",
    "truncated": "the file is cut in the middle (invalid JSON)",
    "not_object": "the top-level JSON value is a list",
    "empty": "0 bytes",
    "missing_field": "true.entries[0] has no delta_h_true (nor diagnostics.delta_h_true)",
    "wrong_type": "true.entries[0].eta is a string",
    "misaligned": "approx.per_sequence[3].length = token_counts[3] + 1",
}


def dumps_run(doc) -> bytes:
    """A run document as the producer's file bytes (orjson, indent 2)."""
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2)


def _run_seed(seed: int, run: int) -> int:
    """Per-run seed of a run set: distinct across (seed, run), stable across versions."""
    return int(np.random.SeedSequence([int(seed), int(run)]).generate_state(1)[0])


def write_run_set(out_dir, *, name: str = "E_256", runs: int = 4, n: int = 256,
                  etas: Iterable[float] = DEFAULT_ETAS, seed: int = 0, **kw) -> Path:
    """Write ``<out_dir>/<name>/run_01/results.json`` … ``run_<runs>`` (orjson, indent 2).

    Run r uses ``simulate_run(n, etas, seed=SeedSequence([seed, r]).generate_state(1)[0],
    **kw)`` (``shape="real"`` for the real producer's layout). Returns ``<out_dir>/<name>``."""
    root = Path(out_dir) / name
    etas = check_etas(etas)
    for r in range(1, int(runs) + 1):
        doc = simulate_run(n, etas, seed=_run_seed(seed, r), **kw)
        d = root / f"run_{r:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "results.json").write_bytes(dumps_run(doc))
    return root


def write_example(out_dir) -> Path:
    """The example run set ``<out_dir>/E_example/run_01..run_03`` (n = 256, η =
    :data:`EXAMPLE_ETAS`, entropy noise 0.01 as the producer, default policy, fixed seed).

    In **all three** runs the linear approximation breaks down at the largest η
    (2.56e-4: |z_lin| ≈ 4.5 with the paired σ, ηG ≈ 29 % off ΔH_true, pooled Z ≈ −8) while
    lin+quad holds (|z_lq| < 1.3); at every other η both |z| < 2; all sums are consistent.
    Deterministic; takes ≈ 0.03 s."""
    return write_run_set(out_dir, name=EXAMPLE_NAME, runs=3, n=256, etas=EXAMPLE_ETAS,
                         seed=EXAMPLE_SEED, entropy_noise=EXAMPLE_ENTROPY_NOISE,
                         score_noise=EXAMPLE_SCORE_NOISE)


def _corrupt(doc: dict, kind: str):
    """The document of a malformed kind that is still JSON (not nan, empty, truncated)."""
    e0, e1 = doc["true"]["entries"]
    if kind == "not_object":
        return [doc]
    if kind == "short_array":
        e1["diagnostics"]["h_new"].pop()
    elif kind == "missing_field":
        del e0["delta_h_true"]
        del e0["diagnostics"]["delta_h_true"]
    elif kind == "wrong_type":
        e0["eta"] = repr(e0["eta"])
    elif kind == "misaligned":
        doc["approx"]["per_sequence"][3]["length"] += 1
    return doc


def write_malformed(path, kind: str) -> Path:
    """Write an invalid ``results.json`` of the given kind (:data:`MALFORMED_KINDS`) to
    ``path`` (parents created); based on a small valid run (n = 16, η = 1.6e-6, 3.2e-6)."""
    if kind not in MALFORMED_KINDS:
        raise ValueError(f"unknown kind {kind!r}; known: {sorted(MALFORMED_KINDS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = simulate_run(16, (1.6e-6, 3.2e-6), seed=0)
    if kind == "nan":
        doc["true"]["entries"][0]["diagnostics"]["h_new"][3] = float("nan")
        path.write_text(json.dumps(doc, indent=2))  # stdlib json writes the NaN token
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        raw = dumps_run(doc)
        path.write_bytes(raw[: len(raw) // 2])
    else:
        path.write_bytes(dumps_run(_corrupt(doc, kind)))
    return path

"""Pinned outputs of dhstats.simulate: the bytes written for fixed arguments must not change
when the code is restructured (sha256 prefixes of the orjson documents, a few exact numbers).
The pins were taken from the single-function ``simulate_run`` before it was split into steps;
each case exercises one group of code paths (noise, every defect, clipping, shard-mean SEs).
A deliberate change of the simulator's output must update these pins in the same commit."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from dhstats import simulate

TINY = simulate.Policy(*np.random.default_rng(0).normal(size=(2, 4, 3, 3)))

CASES = {  # name: (n, etas, keyword arguments, sha256[:16] of the document, G)
    "plain": (64, simulate.DEFAULT_ETAS, dict(seed=7), "1617304c983cd3e0", -1222.2530004191574),
    "noisy": (50, (1e-6, 5e-6, 3e-5),
              dict(seed=11, entropy_noise=0.01, score_noise=0.5, num_shards=7,
                   defects=["spiky_mass", "biased_gdotv", "shard_mean_se"]),
              "30f2df088ffb8082", -11144.839786682898),
    "weights": (40, (1e-6, 2e-6),
                dict(seed=3, defects=["scaled_gdotv", "negative_weights",
                                      "unnormalized_weights", "uncorrected_denominator"]),
                "136dd7cdcd81158b", -3027.1842201941827),
    "dropped": (33, (1e-6,), dict(seed=5, defects=["no_quadratic", "no_per_sequence", "no_h_base"]),
                "0249b39174e9e0a4", -1268.565226267774),
    "clipped": (30, (3.0, 20.0), dict(seed=2, policy=TINY, se_convention="shard-mean"),
                "4bdc5dca46bc4224", -0.20792792328255202),
}

EXAMPLE = ["6ea2a244e7e09569", "2ea678f23cac8db3", "c237b1e885d653b7"]
MALFORMED = {"nan": "4617d33cd0d98c82", "short_array": "0d4b2163a0064f7a",
             "truncated": "98f7d80d57af157d", "not_object": "55249f9b21332d34",
             "empty": "e3b0c44298fc1c14", "missing_field": "e2913d821552502b",
             "wrong_type": "0f73a0ccc37b2de1", "misaligned": "a09d82f281c4e4b7"}


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(CASES))
def test_simulate_run_bytes_are_pinned(name):
    n, etas, kw, sha, G = CASES[name]
    doc = simulate.simulate_run(n, etas, **kw)
    assert doc["approx"]["delta_h_per_lr"] == G
    assert digest(simulate.dumps_run(doc)) == sha


def test_clipped_case_really_clips():
    n, etas, kw, _, _ = CASES["clipped"]
    doc = simulate.simulate_run(n, etas, **kw)
    assert [e["diagnostics"]["clip_fraction"] for e in doc["true"]["entries"]] == [0.0, 13 / 30]


def test_example_and_malformed_files_are_pinned(tmp_path):
    root = simulate.write_example(tmp_path)
    assert [digest(p.read_bytes()) for p in sorted(root.glob("run_*/results.json"))] == EXAMPLE
    got = {k: digest(simulate.write_malformed(tmp_path / k / "results.json", k).read_bytes())
           for k in simulate.MALFORMED_KINDS}
    assert got == MALFORMED

"""Pinned outputs of dhstats.simulate: the numbers written for fixed arguments must not change
when the code is restructured. Each case exercises one group of code paths (noise, every
defect, clipping, shard-mean SEs) and pins, read back from the written bytes, how many numbers
the document holds (its shape: a defect that drops or adds a field changes it), G, and per η
ΔH_true and the ESS, to 1e-12 (a numpy release may move the last bit of a sum; the bytes
themselves are orjson's and numpy's formatting, not the simulator's). A deliberate change of
the simulator's output must update these pins in the same commit."""
from __future__ import annotations

import json
import math

import numpy as np
import orjson
import pytest

from dhstats import simulate

TINY = simulate.Policy(*np.random.default_rng(0).normal(size=(2, 4, 3, 3)))
REL = 1e-12

CASES = {  # name: (n, etas, keyword arguments, (numbers in the document, G, ΔH_true per η, ESS per η))
    "plain": (64, simulate.DEFAULT_ETAS, dict(seed=7),
              (2327, -1222.2530004191574,
               [-0.0009768815276413045, -0.0019519247908585946, -0.003896517348240147,
                -0.007763871474030015, -0.015412401083379157],
               [63.999159604029, 63.99665458207529, 63.98674620100752, 63.94798472492891, 63.7995778190029])),
    "noisy": (50, (1e-6, 5e-6, 3e-5),
              dict(seed=11, entropy_noise=0.01, score_noise=0.5, num_shards=7,
                   defects=["spiky_mass", "biased_gdotv", "shard_mean_se"]),
              (1216, -11144.839786682898,
               [-0.0010731526759647503, -0.0056837110533408675, -0.033566338378414606],
               [49.9992430438484, 49.98125417138285, 49.365130853570214])),
    "weights": (40, (1e-6, 2e-6),
                dict(seed=3, defects=["scaled_gdotv", "negative_weights",
                                      "unnormalized_weights", "uncorrected_denominator"]),
                (732, -3027.1842201941827, [-0.007390146660161578, -0.008394132612709604],
                 [36.27639872961055, 36.272672690458144])),
    "dropped": (33, (1e-6,), dict(seed=5, defects=["no_quadratic", "no_per_sequence", "no_h_base"]),
                (158, -1268.565226267774, [-0.001267174065735066], [32.999431126034196])),
    "clipped": (30, (3.0, 20.0), dict(seed=2, policy=TINY, se_convention="shard-mean"),
                (561, -0.20792792328255202, [-0.5362854260383438, -0.9045623110737262],
                 [19.275913178747537, 17.000360521883096])),
}

EXAMPLE = {  # run: (numbers in the document, G, ΔH_true per η)
    "run_01": (7499, -1193.5364467109791,
               [-0.004705637250416617, -0.018427871253829387, -0.07058668513890376, -0.23427454808149883]),
    "run_02": (7499, -1201.4039722337052,
               [-0.004729045362724005, -0.01863428374583609, -0.07116806430574418, -0.23641416738079662]),
    "run_03": (7499, -1176.6001377363339,
               [-0.004706448394142471, -0.018500384723945107, -0.07040606503126334, -0.23436834198328566]),
}

MALFORMED_NUMBERS = {"nan": 323, "short_array": 322, "not_object": 323, "missing_field": 321,
                     "wrong_type": 322, "misaligned": 323}  # the intact document: 323 (JSON-parsed)


def numbers(value) -> list[float]:
    """Every number of a JSON value (booleans excluded), in document order."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in numbers(v)]
    return [float(value)] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def pinned(doc: dict) -> tuple:
    entries = doc["true"]["entries"]
    return (len(numbers(doc)), doc["approx"]["delta_h_per_lr"], [e["delta_h_true"] for e in entries],
            [e["diagnostics"]["ess"] for e in entries])


@pytest.mark.parametrize("name", sorted(CASES))
def test_simulate_run_numbers_are_pinned(name):
    n, etas, kw, (count, G, delta_h_true, ess) = CASES[name]
    got = pinned(orjson.loads(simulate.dumps_run(simulate.simulate_run(n, etas, **kw))))
    assert got[0] == count
    assert got[1] == pytest.approx(G, rel=REL)
    assert got[2] == pytest.approx(delta_h_true, rel=REL)
    assert got[3] == pytest.approx(ess, rel=REL)


def test_clipped_case_really_clips():
    n, etas, kw, _ = CASES["clipped"]
    doc = simulate.simulate_run(n, etas, **kw)
    assert [e["diagnostics"]["clip_fraction"] for e in doc["true"]["entries"]] == [0.0, 13 / 30]


def test_example_numbers_are_pinned(tmp_path):
    root = simulate.write_example(tmp_path)
    got = {p.parent.name: pinned(orjson.loads(p.read_bytes())) for p in sorted(root.glob("run_*/results.json"))}
    assert list(got) == list(EXAMPLE)
    for run, (count, G, delta_h_true) in EXAMPLE.items():
        assert got[run][0] == count
        assert got[run][1] == pytest.approx(G, rel=REL)
        assert got[run][2] == pytest.approx(delta_h_true, rel=REL)


def test_malformed_files_are_pinned(tmp_path):
    raw = {k: simulate.write_malformed(tmp_path / k / "results.json", k).read_bytes() for k in simulate.MALFORMED_KINDS}
    assert raw["empty"] == b""
    intact = simulate.dumps_run(simulate.simulate_run(16, (1.6e-6, 3.2e-6), seed=0))
    assert len(numbers(json.loads(intact))) == 323
    assert raw["truncated"] == intact[:len(intact) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw["truncated"])
    docs = {k: json.loads(raw[k]) for k in MALFORMED_NUMBERS}  # the stdlib reads the NaN token
    assert {k: len(numbers(d)) for k, d in docs.items()} == MALFORMED_NUMBERS
    assert math.isnan(docs["nan"]["true"]["entries"][0]["diagnostics"]["h_new"][3])
    assert isinstance(docs["not_object"], list)
    assert isinstance(docs["wrong_type"]["true"]["entries"][0]["eta"], str)
    assert "delta_h_true" not in docs["missing_field"]["true"]["entries"][0]

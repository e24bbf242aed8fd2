"""shape="real": the simulator writes the real producer's full layout (every key of a real
results.json, in the producer's order, real file size) with the gate's fields unchanged."""
from __future__ import annotations

import math

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dhstats import simulate
from dhstats.load.results import Run, load_runs
from dhstats.simulate.run import sample_batch
from dhstats.simulate.shape import sequence_fields

from paths import needs_real, real_file

REAL_512 = real_file("E_512", "run_01")
LOG2 = math.log(2.0)


def key_paths(node, path="") -> list[str]:
    """Every key path in document order; a list contributes its first element's paths."""
    if isinstance(node, dict):
        out = []
        for k, v in node.items():
            out.append(f"{path}/{k}")
            out += key_paths(v, f"{path}/{k}")
        return out
    if isinstance(node, list) and node and isinstance(node[0], (dict, list)):
        return key_paths(node[0], path + "[]")
    return []


def leaf_types(node, path="") -> dict[str, str]:
    if isinstance(node, dict):
        return {p: t for k, v in node.items() for p, t in leaf_types(v, f"{path}/{k}").items()}
    if isinstance(node, list):
        return leaf_types(node[0], path + "[]") if node else {}
    return {path: type(node).__name__}


@pytest.fixture(scope="module")
def pair():
    kw = dict(seed=5, entropy_noise=0.01, score_noise=0.5)
    return (simulate.simulate_run(512, simulate.DEFAULT_ETAS, **kw),
            orjson.loads(simulate.dumps_run(simulate.simulate_run(512, simulate.DEFAULT_ETAS, shape="real", **kw))))


@needs_real
def test_keys_order_and_types_are_the_real_files(pair):
    real = orjson.loads(REAL_512.read_bytes())
    assert key_paths(pair[1]) == key_paths(real)
    assert leaf_types(pair[1]) == leaf_types(real)


@needs_real
def test_size_is_the_real_size(pair):
    """Same n and η grid as the real E_512 files: the size agrees within 5 %."""
    size = len(simulate.dumps_run(pair[1]))
    assert abs(size / REAL_512.stat().st_size - 1) < 0.05


def test_gate_fields_are_the_simulators(pair):
    sim, real = pair
    a, b = sim["approx"], real["approx"]
    for k in ("delta_h_per_lr", "num_sequences", "num_tokens", "variance", "eta_star", "used_quad"):
        assert a[k] == b[k]
    assert {k: b["per_sequence_meta"][k] for k in a["per_sequence_meta"]} == a["per_sequence_meta"]
    assert [(r["index"], r["gdotv"], r["length"], r["vhvv"]) for r in a["per_sequence"]] == [
        (r["index"], r["gdotv"], r["length"], r["vhvv"]) for r in b["per_sequence"]]
    assert {k: v for k, v in b["quadratic"].items() if k in a["quadratic"]} == a["quadratic"]
    assert [{k: e[k] for k in ("eta", "delta_h_true", "diagnostics")} for e in sim["true"]["entries"]] \
        == real["true"]["entries"]
    assert "simulator" not in real and "simulator" in sim


def test_real_shape_passes_validation(tmp_path):
    root = simulate.write_run_set(tmp_path, name="E_64", runs=2, n=64, etas=simulate.REAL_2048_ETAS,
                                  shape="real", entropy_noise=0.01)
    runs = load_runs([root])
    assert len(runs) == 2 and all(isinstance(r, Run) for r in runs)


def test_defects_drop_fields_in_real_shape():
    d = simulate.simulate_run(32, (1e-6,), seed=1, shape="real",
                              defects=["no_quadratic", "no_per_sequence", "no_h_base"])
    a = d["approx"]
    assert not {"quadratic", "eta_star", "per_sequence", "per_sequence_meta"} & set(a)
    assert a["used_quad"] is False and "h_base" not in d["true"]["entries"][0]["diagnostics"]
    d = simulate.simulate_run(32, (1e-6,), seed=1, shape="real", defects=["no_quadratic"])
    assert all("vhvv" not in r and "extras" in r for r in d["approx"]["per_sequence"])


def test_unknown_shape_rejected():
    with pytest.raises(ValueError, match="shape"):
        simulate.simulate_run(16, seed=0, shape="producer")


# --------------------------------------------------------------------------- the extra fields


def test_extras_exact_on_a_one_step_policy():
    """L = 1, θ = 0 (π = ½, ½), v[BOS] = (1, −1): every sequence has T = 1, log π = −log 2,
    H = u = log 2, a = ±1, H' = −Σπ a log π = 0, R̂ = log 2."""
    p = simulate.Policy(np.zeros((1, 2, 2)), np.array([[[0.0, 0.0], [1.0, -1.0]]]))
    n = 8
    d = simulate.simulate_run(n, (1e-3,), seed=3, policy=p, shape="real")
    assert d["approx"]["per_sequence_meta"]["scale"] == 1 / n
    for r in d["approx"]["per_sequence"]:
        x, f = r["extras"], r["features"]
        assert r["length"] == 1
        assert (r["sum_logp"], r["mean_logp"], r["var_logp"]) == (-LOG2, -LOG2, 0.0)
        assert r["max_logp"] == r["min_logp"] == -LOG2
        assert x["rb_entropy_sum"] == x["sum_w"] == x["sum_w_abs"] == LOG2
        assert x["sum_w2"] == LOG2**2 and x["jH_sum"] == 0.0
        assert x["sum_abs_jlogp"] == x["mean_abs_jlogp"] == 1.0
        a = x["wjlogp_sum"] / LOG2
        assert a in (1.0, -1.0)
        assert x["denom_corr_unscaled"] == pytest.approx(-LOG2 * a, rel=1e-15)
        assert x["denom_corr_scaled"] == pytest.approx(-LOG2 * a / n, rel=1e-15)
        assert x["token_share"] == 1 / n
        assert f == {"length_log": 0.0, "sum_w": LOG2, "sum_w2": LOG2**2, "rb_entropy_sum": LOG2,
                     "var_logp": 0.0}


@settings(deadline=None)
@given(seed=st.integers(0, 2**32 - 1), vocab=st.integers(2, 5), max_len=st.integers(1, 6),
       n=st.integers(2, 40))
def test_extras_invariants(seed, vocab, max_len, n):
    rng = np.random.default_rng(seed)
    p = simulate.Policy(rng.normal(size=(max_len, vocab, vocab)), rng.normal(size=(max_len, vocab, vocab)))
    batch = sample_batch(p, n, rng)
    f = sequence_fields(p, batch)
    T = batch.Tf
    tol = 1e-12 * (1 + np.abs(f["sum_logp"]))
    assert np.all(f["min_logp"] <= f["mean_logp"] + tol) and np.all(f["mean_logp"] <= f["max_logp"] + tol)
    assert np.all(f["max_logp"] <= 0) and np.all(f["var_logp"] >= 0)
    assert np.allclose(f["mean_logp"] * T, f["sum_logp"], rtol=1e-12, atol=1e-12)
    assert math.isclose(f["token_share"].sum(), 1.0, rel_tol=1e-12)
    assert np.array_equal(f["sum_w"], f["sum_w_abs"])  # the entropy-to-go is ≥ 0
    # u_1 = Σ_t H_t ≤ Σ_t u_t ≤ T·u_1, and Σu² ≤ (Σu)²
    h = f["rb_entropy_sum"]
    assert np.all(h <= f["sum_w"] * (1 + 1e-12)) and np.all(f["sum_w"] <= T * h * (1 + 1e-12))
    assert np.all(f["sum_w2"] <= f["sum_w"] ** 2 * (1 + 1e-12))
    assert np.allclose(f["mean_abs_jlogp"] * T, f["sum_abs_jlogp"], rtol=1e-12)
    assert np.allclose(f["denom_corr_scaled"] * batch.D, f["denom_corr_unscaled"], rtol=1e-12, atol=1e-300)
    assert np.array_equal(f["length_log"], np.log(T))


def test_e2048_real_shape_size(tmp_path):
    """A real-shape E_2048 file with 2 η is about the real 2.9 MB (its speed: bench/gate_speed.py)."""
    root = simulate.write_run_set(tmp_path, name="E_2048", runs=1, n=2048, etas=simulate.REAL_2048_ETAS,
                                  shape="real", entropy_noise=0.01, score_noise=0.5)
    size = (root / "run_01" / "results.json").stat().st_size
    assert 2.5e6 < size < 3.3e6, size


def test_cli_shape_flag(tmp_path, capsys):
    assert simulate.main(["--out", str(tmp_path), "--runs", "1", "--sequences", "32", "--shape", "real",
                          "--score-noise", "0.5"]) == 0
    doc = orjson.loads((tmp_path / "E_32" / "run_01" / "results.json").read_bytes())
    assert "extras" in doc["approx"]["per_sequence"][0] and "simulator" not in doc
    with pytest.raises(SystemExit):
        simulate.main(["--out", str(tmp_path), "--shape", "bogus"])

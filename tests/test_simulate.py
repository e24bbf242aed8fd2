"""Tests of dhstats.simulate: exactness of the model, consistency of the estimators, the
producer's format, defects, malformed files, the example run set, determinism, CLI."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dhstats.verdicts.registry import evaluate
from dhstats.load.results import RunFile, load_run
from dhstats.simulate import (
    DEFAULT_ETAS,
    DEFECTS,
    EXAMPLE_ETAS,
    MALFORMED_KINDS,
    Policy,
    main,
    simulate_run,
    write_example,
    write_malformed,
    write_run_set,
)
from paths import PROJECT_ROOT, real_file

REPO = PROJECT_ROOT
REAL_FILE = real_file("E_256", "run_01")


# --------------------------------------------------------------------------- helpers (private)


def brute_force_ratio(policy: Policy, eta: float) -> float:
    """R(θ+ηv) = E[Σ_t H_t]/E[T] by enumerating every sequence (EOS-terminated or cut at L)."""
    pi, lp, H = policy.tables(eta)
    V, L, eos = policy.vocab, policy.max_len, policy.eos
    num = den = 0.0

    def walk(t, prev, prob, hsum):
        nonlocal num, den
        for y in range(V):
            p = prob * pi[t, prev, y]
            hs = hsum + H[t, prev]
            if y == eos or t == L - 1:  # sequence ends with t + 1 tokens
                num += p * hs
                den += p * (t + 1)
            else:
                walk(t + 1, y, p, hs)

    walk(0, eos, 1.0, 0.0)
    return num / den


def fd_derivatives(policy: Policy, h: float) -> tuple[float, float]:
    """Richardson-extrapolated central differences of the exact R(η) at 0."""
    R = policy.ratio

    def d1(s):
        return (R(s) - R(-s)) / (2 * s)

    def d2(s):
        return (R(s) - 2 * R(0.0) + R(-s)) / s**2

    return (4 * d1(h / 2) - d1(h)) / 3, (4 * d2(h / 2) - d2(h)) / 3


def arrays(doc):
    a = doc["approx"]
    g = np.array([r["gdotv"] for r in a["per_sequence"]])
    q = np.array(a["quadratic"]["per_sequence_vhvv"])
    return a, g, q


def z_values(doc):
    """checks.md formulas: z_lin, z_lq per entry, with σ_G, σ_Q = se_sum, paired σ_true."""
    a, g, q = arrays(doc)
    n = len(g)
    sG = math.sqrt(n) * g.std(ddof=1)
    sQ = math.sqrt(n) * q.std(ddof=1)
    G, Gq, Q = a["delta_h_per_lr"], a["quadratic"]["gdotv"], a["quadratic"]["vHvv"]
    out = []
    for e in doc["true"]["entries"]:
        d = e["diagnostics"]
        w = np.array(d["normalized_weights"])
        T = np.array(d["token_counts"], float)
        hn, hb = np.array(d["h_new"]), np.array(d["h_base"])
        R1 = (w * hn).sum() / (w * T).sum()
        R0 = hb.sum() / T.sum()
        psi = w * (hn - R1 * T) / (w * T).sum() - (hb - R0 * T) / T.sum()
        s_true = math.sqrt(n / (n - 1) * (psi**2).sum())
        eta, dh = e["eta"], e["delta_h_true"]
        zl = (eta * G - dh) / math.sqrt((eta * sG) ** 2 + s_true**2)
        zq = (eta * Gq + 0.5 * eta**2 * Q - dh) / math.sqrt(
            (eta * sG) ** 2 + (0.5 * eta**2 * sQ) ** 2 + s_true**2)
        out.append({"eta": eta, "z_lin": zl, "z_lq": zq, "ess_frac": d["ess"] / n})
    return out


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def check_format(doc, *, n=None, quadratic=True, per_sequence=True, h_base=True):
    """The invariants of results-format.md on one document (plain dict)."""
    a = doc["approx"]
    entries = doc["true"]["entries"]
    assert entries and len({e["eta"] for e in entries}) == len(entries)
    T0 = entries[0]["diagnostics"]["token_counts"]
    n = n or len(T0)
    assert len(T0) == n and all(isinstance(t, int) and t >= 1 for t in T0)
    G = a["delta_h_per_lr"]
    assert isinstance(G, float) and math.isfinite(G)
    if per_sequence:
        ps = a["per_sequence"]
        assert len(ps) == n and [r["index"] for r in ps] == list(range(n))
        g = np.array([r["gdotv"] for r in ps])
        assert rel(math.fsum(g.tolist()), G) <= 1e-9
        assert [r["length"] for r in ps] == T0
        meta = a["per_sequence_meta"]
        assert meta["B_total"] == n and meta["T_total"] == sum(T0) == a["num_tokens"]
        M = a["variance"]["num_shards"]
        c = [s.sum() for s in np.array_split(g, M)]
        assert rel(a["variance"]["se_shard"], math.sqrt(M) * np.std(c, ddof=1)) < 1e-9
        assert rel(a["variance"]["se_jackknife"], a["variance"]["se_shard"]) < 1e-9
    if quadratic:
        qb = a["quadratic"]
        assert math.isfinite(qb["vHvv"]) and math.isfinite(qb["gdotv"])
        assert set(qb["variance"]) >= {"se_gdotv", "se_vHvv", "num_shards"}
        assert all(isinstance(k, str) for k in qb["ratio_pred"])
        if per_sequence:
            q = qb["per_sequence_vhvv"]
            assert len(q) == n and rel(math.fsum(q), qb["vHvv"]) <= 1e-9
            assert [r["vhvv"] for r in a["per_sequence"]] == q
    hb0 = entries[0]["diagnostics"].get("h_base")
    for e in entries:
        d = e["diagnostics"]
        assert e["eta"] > 0 and d["delta_h_true"] == e["delta_h_true"]
        assert d["token_counts"] == T0
        w = np.array(d["normalized_weights"])
        T = np.array(d["token_counts"], float)
        hn = np.array(d["h_new"])
        assert len(w) == len(hn) == n
        assert abs(w.sum() - 1) < 1e-12 and (w >= 0).all()
        B, D = (w * T).sum(), T.sum()
        be = d["base_entropy"]
        c = w * hn / B - T / D * be  # the per-sequence split of results-format.md
        assert abs(c.sum() - e["delta_h_true"]) <= 1e-10 * max(1.0, abs(e["delta_h_true"]))
        assert rel(d["ess"], 1 / (w**2).sum()) < 1e-12
        lw = np.array(d["log_weights"])
        cl = np.clip(lw, -10, 10)
        sm = np.exp(cl - cl.max())
        assert np.allclose(w, sm / sm.sum(), rtol=1e-12, atol=0)
        assert rel(d["weights_sum"], sm.sum()) < 1e-12 and rel(d["weights_sum"], 1 / w.max()) < 1e-12
        ls = d["logweight_stats"]
        assert (ls["min"], ls["median"], ls["max"]) == (cl.min(), np.median(cl), cl.max())
        assert d["clip_fraction"] == np.mean(np.abs(lw) > 10)
        if h_base:
            hb = np.array(d["h_base"])
            assert d["h_base"] == hb0
            assert rel(be, hb.sum() / D) < 1e-12
            assert np.allclose(d["delta_h_seq"], hn - hb, rtol=0, atol=1e-12)
        else:
            assert "h_base" not in d and "delta_h_seq" not in d


def reload(doc):
    """Through the file format (orjson rejects NaN/Infinity on the way back)."""
    raw = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    assert b"NaN" not in raw and b"Infinity" not in raw
    return orjson.loads(raw)


@pytest.fixture(scope="module")
def clean():
    return reload(simulate_run(256, DEFAULT_ETAS, seed=7))


# --------------------------------------------------------------------------- exact model


def tiny_policy(seed=0, vocab=3, max_len=3, scale=1.0):
    rng = np.random.default_rng(seed)
    return Policy(rng.normal(size=(max_len, vocab, vocab)),
                  scale * rng.normal(size=(max_len, vocab, vocab)))


@pytest.mark.parametrize("eta", [0.0, 0.3, -0.7, 2.0])
def test_dp_matches_enumeration_tiny(eta):
    p = tiny_policy()
    assert p.vocab == 3 and p.max_len == 3 and p.eos == 2
    assert p.ratio(eta) == pytest.approx(brute_force_ratio(p, eta), rel=1e-13)


def test_dp_matches_enumeration_default_eos_semantics():
    # L = 1: every sequence has exactly one token (EOS or cut), R = H(BOS row at t=0)
    p = tiny_policy(max_len=1)
    pi, lp, H = p.tables()
    assert p.ratio() == pytest.approx(H[0, p.eos], rel=1e-14)


@settings(deadline=None)
@given(seed=st.integers(0, 2**32 - 1), vocab=st.integers(2, 5), max_len=st.integers(1, 5),
       eta=st.floats(-1.0, 1.0))
def test_dp_matches_enumeration_random(seed, vocab, max_len, eta):
    p = tiny_policy(seed, vocab, max_len)
    assert p.ratio(eta) == pytest.approx(brute_force_ratio(p, eta), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("policy,h", [
    (tiny_policy(), 1e-3),
    (tiny_policy(3, 6, 9), 1e-3),
    (Policy.default(), 1e-6),
])
def test_derivatives_match_finite_differences(policy, h):
    R, R1, R2 = policy.derivatives()
    assert R == pytest.approx(policy.ratio(0.0), rel=1e-14)
    f1, f2 = fd_derivatives(policy, h)
    assert R1 == pytest.approx(f1, rel=1e-6, abs=1e-9 * abs(R2) * h)
    assert R2 == pytest.approx(f2, rel=1e-4)
    # and the exact ΔH(η) is reproduced by the Taylor polynomial to O(η³)
    eta = h / 10
    assert policy.delta_h(eta) == pytest.approx(eta * R1 + 0.5 * eta**2 * R2,
                                                rel=1e-6, abs=1e-15)


def test_default_policy_scale():
    """Magnitudes like the real producer: G ~ −1e3, Q ~ 1e6..1e7, base entropy ~ 0.5–0.7;
    the quadratic term is small at the producer's largest η and ~25% at the example's."""
    p = Policy.default()
    R, R1, R2 = p.derivatives()
    assert 0.3 < R < 1.0 and -3e3 < R1 < -300 and 1e6 < R2 < 1e7
    eta = DEFAULT_ETAS[-1]
    assert 0.005 < abs(0.5 * eta * R2 / R1) < 0.03
    eta = EXAMPLE_ETAS[-1]
    assert 0.15 < abs(0.5 * eta * R2 / R1) < 0.35


def test_sampling_lengths():
    p = Policy.default()
    tokens, prev, alive = p.sample(4096, np.random.default_rng(1))
    T = alive.sum(1)
    assert T.min() >= 1 and T.max() <= p.max_len
    # each sequence stops right after its first EOS (EOS counted as a token)
    for i in range(200):
        eos_at = np.flatnonzero(tokens[i, : T[i]] == p.eos)
        assert eos_at.size == 0 and T[i] == p.max_len or eos_at.tolist() == [T[i] - 1]
    # E[T] from the sample ≈ exact E[T] (DP)
    pi, _, _ = p.tables()
    q = np.zeros(p.vocab); q[p.eos] = 1
    ET = 0.0
    for t in range(p.max_len):
        ET += q.sum(); q = q @ pi[t]; q[p.eos] = 0
    assert abs(T.mean() - ET) < 4 * T.std() / math.sqrt(len(T))


# --------------------------------------------------------------------------- estimators (Monte Carlo)


@pytest.mark.parametrize("policy,n,K,eta", [
    (None, 256, 300, 1e-6),
    (tiny_policy(5, 5, 6, scale=1.0), 128, 300, 1e-3),
])
def test_estimators_are_consistent_monte_carlo(policy, n, K, eta):
    p = policy or Policy.default()
    R, R1, R2 = p.derivatives()
    G = np.empty(K); Q = np.empty(K); B = np.empty(K)
    for k in range(K):
        d = simulate_run(n, (eta,), seed=1000 + k, policy=p)
        G[k] = d["approx"]["delta_h_per_lr"]
        Q[k] = d["approx"]["quadratic"]["vHvv"]
        B[k] = d["true"]["entries"][0]["diagnostics"]["base_entropy"]
        assert d["simulator"]["exact"] == {"delta_h_per_lr": R1, "vHvv": R2, "base_entropy": R}
    for est, exact in ((G, R1), (Q, R2), (B, R)):
        se = est.std(ddof=1) / math.sqrt(K)
        assert abs(est.mean() - exact) < 4 * se, (est.mean(), exact, se)


def test_sigma_g_matches_batch_spread():
    """σ_G = √n·std(gdotv) is the SE of G: compare with the spread of G over batches."""
    K, n = 200, 256
    G, s = [], []
    for k in range(K):
        a, g, _ = arrays(simulate_run(n, (1e-6,), seed=5000 + k))
        G.append(a["delta_h_per_lr"]); s.append(math.sqrt(n) * g.std(ddof=1))
    assert 0.8 < np.std(G, ddof=1) / np.mean(s) < 1.25


def test_snis_matches_taylor_on_same_sample():
    """Without noise and clipping, delta_h_true − ηG − ½η²Q = O(η³) on the same sample."""
    d = simulate_run(512, (1e-7, 2e-7), seed=3)
    G, Q = d["approx"]["delta_h_per_lr"], d["approx"]["quadratic"]["vHvv"]
    r1, r2 = (e["delta_h_true"] - e["eta"] * G - 0.5 * e["eta"] ** 2 * Q
              for e in d["true"]["entries"])
    assert abs(r1) < 1e-3 * abs(0.5 * 1e-14 * Q)
    assert r2 / r1 == pytest.approx(8.0, rel=0.05)  # cubic


# --------------------------------------------------------------------------- format


def test_format_facts(clean):
    check_format(clean, n=256)
    a = clean["approx"]
    assert a["num_sequences"] == 256 and a["variance"]["num_shards"] == 32
    assert a["quadratic"]["gdotv"] == a["delta_h_per_lr"]
    assert a["quadratic"]["variance"]["se_gdotv"] == a["variance"]["se_shard"]
    M = 32
    c = [s.sum() for s in np.array_split(np.array(clean["approx"]["quadratic"]["per_sequence_vhvv"]), M)]
    assert rel(a["quadratic"]["variance"]["se_vHvv"], math.sqrt(M) * np.std(c, ddof=1)) < 1e-9
    assert a["quadratic"]["eta_star"] == pytest.approx(2 * abs(a["delta_h_per_lr"] / a["quadratic"]["vHvv"]))
    assert list(a["quadratic"]["ratio_pred"]) == ["8e-07", "1.6e-06", "3.2e-06", "6.4e-06", "1.28e-05"]
    assert a["per_sequence_meta"]["H_base_mean"] == clean["true"]["entries"][0]["diagnostics"]["base_entropy"]
    p = Policy.default()
    for e in clean["true"]["entries"]:
        assert e["exact_delta_h"] == p.delta_h(e["eta"])
        assert e["diagnostics"]["ess"] / 256 > 0.99
    # reported SE of the total agrees with se_sum(gdotv) (the ratio check of checks.md)
    _, g, _ = arrays(clean)
    assert 0.6 < a["variance"]["se_shard"] / (16 * g.std(ddof=1)) < 1.6


def test_format_with_noise_and_odd_shards():
    d = reload(simulate_run(100, (1e-6, 5e-6), seed=1, entropy_noise=0.01, num_shards=7))
    check_format(d, n=100)
    a = d["approx"]
    assert a["variance"]["num_shards"] == 7
    # the approx pass is noise-free: H_base_mean differs slightly from base_entropy
    be = d["true"]["entries"][0]["diagnostics"]["base_entropy"]
    assert 0 < abs(a["per_sequence_meta"]["H_base_mean"] - be) < 1e-3
    e0, e1 = (e["diagnostics"] for e in d["true"]["entries"])
    assert e0["h_base"] == e1["h_base"] and e0["h_new"] != e1["h_new"]


def test_gate_fields_exist_as_in_real_file(clean):
    """Every field path the gate reads (results-format.md) is where the producer puts it."""
    paths = [
        ("approx", "delta_h_per_lr"), ("approx", "per_sequence"), ("approx", "per_sequence_meta", "H_base_mean"),
        ("approx", "variance", "se_shard"), ("approx", "variance", "se_jackknife"),
        ("approx", "variance", "num_shards"), ("approx", "quadratic", "gdotv"),
        ("approx", "quadratic", "vHvv"), ("approx", "quadratic", "per_sequence_vhvv"),
        ("approx", "quadratic", "variance", "se_gdotv"), ("approx", "quadratic", "variance", "se_vHvv"),
        ("approx", "quadratic", "variance", "num_shards"), ("approx", "quadratic", "eta_star"),
        ("approx", "quadratic", "ratio_pred"), ("true", "entries"),
    ]
    docs = [clean]
    if REAL_FILE.exists():
        docs.append(json.loads(REAL_FILE.read_text()))
    diag_keys = {"delta_h_true", "base_entropy", "ess", "logweight_stats", "clip_fraction", "weights_sum",
                 "normalized_weights", "log_weights", "h_base", "h_new", "delta_h_seq", "token_counts"}
    for doc in docs:
        for path in paths:
            node = doc
            for k in path:
                node = node[k]
        rec = doc["approx"]["per_sequence"][0]
        assert {"index", "gdotv", "length", "vhvv"} <= set(rec)
        e = doc["true"]["entries"][0]
        assert {"eta", "delta_h_true", "diagnostics"} <= set(e)
        assert set(e["diagnostics"]) == diag_keys
        assert set(e["diagnostics"]["logweight_stats"]) == {"min", "median", "max"}
    if len(docs) == 2:
        assert list(docs[1]["true"]["entries"][0]["diagnostics"]) == list(clean["true"]["entries"][0]["diagnostics"])


def test_written_file_is_indented_and_finite(tmp_path):
    root = write_run_set(tmp_path, name="E_32", runs=2, n=32)
    assert root == tmp_path / "E_32"
    files = sorted(root.glob("run_*/results.json"))
    assert [f.parent.name for f in files] == ["run_01", "run_02"]
    raw = files[0].read_bytes()
    assert raw.startswith(b'{\n  "B_E": 32,\n  "approx": {\n    "delta_h_per_lr": ')
    doc = orjson.loads(raw)  # rejects NaN / Infinity
    assert json.loads(raw) == doc
    check_format(doc, n=32)
    assert raw.count(b"null") == 1  # control_variates only
    assert files[0].read_bytes() != files[1].read_bytes()


# --------------------------------------------------------------------------- defects


def test_every_defect_is_documented_and_unknown_rejected():
    assert set(DEFECTS) == {"biased_gdotv", "scaled_gdotv", "unnormalized_weights", "negative_weights",
                            "uncorrected_denominator", "shard_mean_se", "spiky_mass",
                            "no_quadratic", "no_per_sequence", "no_h_base"}
    with pytest.raises(ValueError, match="unknown defect"):
        simulate_run(16, seed=0, defects=["nope"])


def test_defect_scaled_gdotv(clean):
    d = defect("scaled_gdotv")
    check_format(d)
    a0, g0, _ = arrays(clean)
    a1, g1, _ = arrays(d)
    np.testing.assert_allclose(g1, 2.5 * g0, rtol=1e-12)  # every term, hence G, scaled


def defect(name, **kw):
    return reload(simulate_run(256, DEFAULT_ETAS, seed=7, defects=[name], **kw))


def test_defect_biased_gdotv(clean):
    d = defect("biased_gdotv")
    check_format(d)
    a0, g0, _ = arrays(clean)
    a, g, _ = arrays(d)
    sG = 16 * g0.std(ddof=1)
    assert a["delta_h_per_lr"] - a0["delta_h_per_lr"] == pytest.approx(-8 * sG, rel=1e-9)  # G < 0
    assert a["quadratic"]["gdotv"] == a["delta_h_per_lr"]
    assert d["true"] == clean["true"]
    assert all(abs(z["z_lin"]) > 4 and abs(z["z_lq"]) > 4 for z in z_values(d))
    assert all(abs(z["z_lin"]) < 1 for z in z_values(clean))
    assert d["simulator"]["defects"] == ["biased_gdotv"]


def test_defect_unnormalized_weights(clean):
    d = defect("unnormalized_weights")
    for e, e0 in zip(d["true"]["entries"], clean["true"]["entries"]):
        w = np.array(e["diagnostics"]["normalized_weights"])
        assert w.sum() == pytest.approx(1.1, rel=1e-12)
        assert e["delta_h_true"] == pytest.approx(e0["delta_h_true"], rel=1e-9, abs=1e-15)
        assert e["diagnostics"]["ess"] == e0["diagnostics"]["ess"]
        assert e["diagnostics"]["ess"] == pytest.approx(1 / ((w / w.sum())**2).sum(), rel=1e-12)
    assert d["approx"] == clean["approx"]


def test_defect_negative_weights():
    d = defect("negative_weights")
    for e in d["true"]["entries"]:
        dg = e["diagnostics"]
        w = np.array(dg["normalized_weights"])
        assert (w < 0).sum() == 1 and w.sum() == pytest.approx(1.0, abs=1e-12)
        assert dg["ess"] == pytest.approx(1 / (w**2).sum(), rel=1e-12)
        lw = np.array(dg["log_weights"])
        sm = np.exp(lw - lw.max()) / np.exp(lw - lw.max()).sum()
        assert w.max() < 1.01 * sm.max()  # the compensation does not create a heavy tail
        T, hn = np.array(dg["token_counts"], float), np.array(dg["h_new"])
        assert e["delta_h_true"] == pytest.approx((w * hn).sum() / (w * T).sum() - dg["base_entropy"], rel=1e-12)


def test_defect_uncorrected_denominator(clean):
    d = defect("uncorrected_denominator")
    for e, e0 in zip(d["true"]["entries"], clean["true"]["entries"]):
        dg = e["diagnostics"]
        w, T, hn = (np.array(dg[k], float) for k in ("normalized_weights", "token_counts", "h_new"))
        be = dg["base_entropy"]
        unweighted = (w * hn).sum() / (T.sum() * w.mean()) - be
        corrected = (w * hn).sum() / (w * T).sum() - be
        assert e["delta_h_true"] == pytest.approx(unweighted, rel=1e-12)
        assert dg["delta_h_true"] == e["delta_h_true"]
        assert corrected == pytest.approx(e0["delta_h_true"], rel=1e-12)
        assert abs(e["delta_h_true"] - corrected) > 1e-6 * abs(corrected)


def test_defect_shard_mean_se(clean):
    d = defect("shard_mean_se")
    assert d == reload(simulate_run(256, DEFAULT_ETAS, seed=7, se_convention="shard-mean")) | {
        "simulator": d["simulator"]}
    v, v0 = d["approx"]["variance"], clean["approx"]["variance"]
    M = v["num_shards"]
    assert v["se_shard"] * M == pytest.approx(v0["se_shard"], rel=1e-12)
    assert v["se_jackknife"] == pytest.approx(v["se_shard"], rel=1e-9)
    q, q0 = d["approx"]["quadratic"]["variance"], clean["approx"]["quadratic"]["variance"]
    assert q["se_vHvv"] * M == pytest.approx(q0["se_vHvv"], rel=1e-12)
    assert q["se_gdotv"] * M == pytest.approx(q0["se_gdotv"], rel=1e-12)
    _, g, _ = arrays(d)
    assert v["se_shard"] * M / (16 * g.std(ddof=1)) == pytest.approx(1.0, abs=0.6)


def test_defect_spiky_mass(clean):
    d = defect("spiky_mass")
    check_format(d)
    info = d["simulator"]["defect_info"]["spiky_mass"]
    idx = info["indices"]
    assert len(idx) == round(0.01 * 256) == 3
    a0, g0, _ = arrays(clean)
    a, g, _ = arrays(d)
    assert a["delta_h_per_lr"] - a0["delta_h_per_lr"] == pytest.approx(info["mass"], rel=1e-9)
    assert info["mass"] == pytest.approx(4 * a0["delta_h_per_lr"], rel=1e-12)
    assert set(np.flatnonzero(g != g0)) == set(idx)
    assert set(np.argsort(-np.abs(g))[:3]) == set(idx)  # the spikes are the largest |gdotv|
    assert d["true"] == clean["true"]  # the true side does not see them
    for e in d["true"]["entries"]:  # linear/true ≈ 5
        assert e["eta"] * a["delta_h_per_lr"] / e["delta_h_true"] == pytest.approx(5, rel=0.1)


def test_defect_no_quadratic():
    d = defect("no_quadratic")
    assert "quadratic" not in d["approx"] and d["approx"]["used_quad"] is False
    assert all("vhvv" not in r for r in d["approx"]["per_sequence"])
    check_format(d, quadratic=False)


def test_defect_no_per_sequence():
    d = defect("no_per_sequence")
    a = d["approx"]
    assert "per_sequence" not in a and "per_sequence_meta" not in a
    assert "per_sequence_vhvv" not in a["quadratic"] and "vHvv" in a["quadratic"]
    check_format(d, per_sequence=False)


def test_defect_no_h_base():
    d = defect("no_h_base")
    check_format(d, h_base=False)


def test_defects_combine():
    d = reload(simulate_run(64, (1e-6,), seed=1, defects=["no_quadratic", "no_per_sequence", "no_h_base"]))
    a = d["approx"]
    assert set(a) & {"quadratic", "per_sequence", "per_sequence_meta"} == set()
    check_format(d, quadratic=False, per_sequence=False, h_base=False)


# --------------------------------------------------------------------------- malformed files


def test_malformed_kinds(tmp_path):
    assert set(MALFORMED_KINDS) == {"nan", "short_array", "truncated", "not_object", "empty",
                                    "missing_field", "wrong_type", "misaligned"}
    files = {k: write_malformed(tmp_path / k / "run_01" / "results.json", k) for k in MALFORMED_KINDS}
    raw = {k: p.read_bytes() for k, p in files.items()}
    assert raw["empty"] == b""
    for k in ("nan", "truncated", "empty"):
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(raw[k])
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw["truncated"])
    nan_doc = json.loads(raw["nan"])  # the stdlib accepts the token
    h = nan_doc["true"]["entries"][0]["diagnostics"]["h_new"]
    assert sum(math.isnan(x) for x in h) == 1
    assert isinstance(orjson.loads(raw["not_object"]), list)
    d = orjson.loads(raw["short_array"])
    dg = d["true"]["entries"][1]["diagnostics"]
    assert len(dg["h_new"]) == len(dg["token_counts"]) - 1
    d = orjson.loads(raw["missing_field"])
    assert "delta_h_true" not in d["true"]["entries"][0]
    assert "delta_h_true" not in d["true"]["entries"][0]["diagnostics"]
    d = orjson.loads(raw["wrong_type"])
    assert isinstance(d["true"]["entries"][0]["eta"], str)
    d = orjson.loads(raw["misaligned"])
    ps, T = d["approx"]["per_sequence"], d["true"]["entries"][0]["diagnostics"]["token_counts"]
    assert [i for i in range(len(T)) if ps[i]["length"] != T[i]] == [3]
    with pytest.raises(ValueError):
        write_malformed(tmp_path / "x.json", "bogus")


# --------------------------------------------------------------------------- example run set


def test_example_run_set(tmp_path):
    root = write_example(tmp_path)
    assert root == tmp_path / "E_example"
    files = sorted(root.glob("run_*/results.json"))
    assert [f.parent.name for f in files] == ["run_01", "run_02", "run_03"]
    for f in files:
        doc = orjson.loads(f.read_bytes())
        check_format(doc, n=256)
        etas = [e["eta"] for e in doc["true"]["entries"]]
        assert etas == list(EXAMPLE_ETAS)
        run = load_run(RunFile("E_example", f.parent.name, f))
        rv, verdicts = evaluate(run)
        z = {(v.check, v.eta): v.to_dict().get("z") for v in verdicts}
        for eta in EXAMPLE_ETAS[:-1]:
            assert abs(z["linear_agreement", eta]) < 2 and abs(z["linquad_agreement", eta]) < 2, (f, eta)
        assert abs(z["linear_agreement", EXAMPLE_ETAS[-1]]) > 4, f
        assert abs(z["linquad_agreement", EXAMPLE_ETAS[-1]]) < 2, f
        failed = [(v.check, v.eta) for v in verdicts if v.outcome == "failed"]
        assert failed == [("linear_agreement", EXAMPLE_ETAS[-1])], failed
    again = write_example(tmp_path / "again")
    for f in files:
        assert f.read_bytes() == (again / f.relative_to(root)).read_bytes()


# --------------------------------------------------------------------------- determinism, properties


def test_determinism():
    kw = dict(seed=123, entropy_noise=0.01, defects=["spiky_mass"])
    a = orjson.dumps(simulate_run(300, DEFAULT_ETAS, **kw), option=orjson.OPT_INDENT_2)
    b = orjson.dumps(simulate_run(300, DEFAULT_ETAS, **kw), option=orjson.OPT_INDENT_2)
    c = orjson.dumps(simulate_run(300, DEFAULT_ETAS, **{**kw, "seed": 124}), option=orjson.OPT_INDENT_2)
    assert a == b and a != c


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**63 - 1), n=st.integers(2, 300),
       etas=st.lists(st.sampled_from([1e-7, 8e-7, 1.6e-6, 3.2e-6, 6.4e-6, 1.28e-5, 5e-5]),
                     min_size=1, max_size=5, unique=True),
       noise=st.sampled_from([0.0, 0.01]), shards=st.one_of(st.none(), st.integers(2, 40)))
def test_any_seed_gives_valid_consistent_document(seed, n, etas, noise, shards):
    shards = None if shards is None else min(shards, n)
    d = reload(simulate_run(n, etas, seed=seed, entropy_noise=noise, num_shards=shards))
    check_format(d, n=n)
    assert d["simulator"]["seed"] == seed
    assert d["approx"]["variance"]["num_shards"] == (shards or max(2, n // 8))


@settings(deadline=None)
@given(seed=st.integers(0, 2**32 - 1), defects=st.sets(st.sampled_from(sorted(DEFECTS)), max_size=3))
def test_any_defect_combination_is_finite_json(seed, defects):
    d = simulate_run(40, (1e-6, 1e-5), seed=seed, defects=sorted(defects))
    d2 = reload(d)
    assert d2["simulator"]["defects"] == sorted(defects)
    assert len(d2["true"]["entries"]) == 2


def test_argument_validation():
    for bad in ([], [0.0], [-1e-6], [1e-6, 1e-6], [float("nan")]):
        with pytest.raises(ValueError):
            simulate_run(16, bad, seed=0)
    with pytest.raises(ValueError):
        simulate_run(1, seed=0)
    with pytest.raises(ValueError):
        simulate_run(16, seed=0, se_convention="mean")
    with pytest.raises(ValueError):
        simulate_run(16, seed=0, num_shards=1)


# --------------------------------------------------------------------------- speed, CLI


def test_e2048_run_set_files_have_the_producers_size(tmp_path):
    """(Generation speed is measured by bench/gate_speed.py, not by a timed test.)"""
    root = write_run_set(tmp_path, name="E_2048", runs=3, n=2048)
    assert sorted(p.name for p in root.iterdir()) == ["run_01", "run_02", "run_03"]
    size = (root / "run_01" / "results.json").stat().st_size
    assert 1e6 < size < 5e6


def test_cli_main(tmp_path, capsys):
    rc = main(["--out", str(tmp_path), "--runs", "2", "--sequences", "64", "--etas", "8e-7", "1.6e-6",
               "--seed", "3", "--defect", "shard_mean_se", "--defect", "no_h_base",
               "--entropy-noise", "0.01"])
    assert rc == 0
    root = tmp_path / "E_64"
    assert capsys.readouterr().out.strip() == str(root)
    doc = orjson.loads((root / "run_02" / "results.json").read_bytes())
    assert doc["simulator"]["defects"] == ["shard_mean_se", "no_h_base"]
    assert doc["simulator"]["se_convention"] == "shard-mean"
    assert [e["eta"] for e in doc["true"]["entries"]] == [8e-7, 1.6e-6]
    assert main(["--out", str(tmp_path), "--example"]) == 0
    assert len(list((tmp_path / "E_example").glob("run_*/results.json"))) == 3
    assert main(["--out", str(tmp_path), "--etas", "0"]) == 2
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--defect", "bogus"])


@pytest.mark.slow
def test_python_dash_m(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-m", "dhstats.simulate", "--out", str(tmp_path), "--runs", "1",
                        "--sequences", "16", "--name", "E_cli"], capture_output=True, text=True,
                       env=env, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "E_cli" / "run_01" / "results.json").is_file()

"""Calibration of the paired σ's and of the pooled (Stouffer) checks.

    python bench/calibration.py [--runs 12800] [--runs-large 2000] [--seed 0] [--processes 2]
                                [--out bench/out/calibration.md]
    python bench/calibration.py --resolution [...]   (resolution and TOST: calibration_resolution.py)

Healthy runs come from the reference simulator (``dhstats.simulate.simulate_run``: default
policy, the producer's η grid, entropy noise 0.01 nats per sequence as the real producer) at
n = 256 (``--runs``) and n = 2048 (``--runs-large``), each without gradient noise
(score_noise 0, G/σ_G ≈ 50) and with it (score_noise 0.5, G/σ_G ≈ 2 as in the real files).
Each run is judged by the gate's own code path (``RunContext`` + the registry's checks); each
run is simulated once and reused by every measurement. The policy's exact values are
R' = dR/dη, R'' = d²R/dη² and ΔH(η) = R(θ+ηv) − R(θ) (``Policy.derivatives``, ``delta_h``).

1. Coverage of the paired interval, covered iff |(pred − ΔH_true) − exact| ≤ 1.96·σ with
   pred = ηG, exact = ηR' − ΔH(η), σ = σ_lin (linear); pred = ηG_q + ½η²Q,
   exact = ηR' + ½η²R'' − ΔH(η), σ = σ_lq (lin+quad). Both estimators are consistent, so
   the exact difference is that of their limits — not 0: ηG misses ½η²R'' + O(η³).
   Row "target 0" shows the coverage when the exact difference is wrongly taken as 0.
2. σ_G coverage: |G − R'| ≤ 1.96·se_sum(g̃), g̃ = gdotv − G·T/ΣT; and uncentred se_sum(gdotv).
3. False alarms of pooled_linear/linquad_agreement (``pooling.pooled_agreement``, k = 3) on
   healthy sets of R = 4, 16, 64 disjoint runs; the rate implied by the measured mean μ and
   sd s of the runs' z (Z ~ N(√R·μ, s²)) is shown next to it.
4. Power: every run's case is shifted by b·σ_lin (prediction += b·σ_lin, so z → z + b; the
   same as adding b·σ_lin/η·T_i/ΣT to gdotv_i, checked in tests/test_bench_calibration.py).
   Theory for calibrated z, k = 3: pooled P(|N(b√R, 1)| > 3), per run P(|N(b, 1)| > 3).
5. Diagnostic: without entropy and gradient noise, rms σ_lin over the Monte-Carlo SD of
   ηG − ΔH_true, and the same with g̃ replaced by ψ/η at η → 0 (the exact influence of G).
6. Real files: corr(η·g̃, ψ) per (run, η) and σ_independent/σ_paired, and the same from a
   2 000-draw bootstrap over sequences (corr(ηG*, ΔH_true*), SD(ηG* − ΔH_true*)/σ_lin).

Monte-Carlo SEs are cluster SEs (clusters = runs, or sets, whose η's are correlated).
Prints Markdown and writes it to ``--out`` (and the numbers as JSON next to it).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dhstats.verdicts import registry  # noqa: E402
from dhstats import simulate
from dhstats.stats import stats
from dhstats.load.results import RunFile, load_runs, validate  # noqa: E402
from dhstats.load.settings import Settings  # noqa: E402
from dhstats.stats.sigmas import run_parts  # noqa: E402
from dhstats.verdicts.verdicts import RunContext  # noqa: E402
from tests.paths import REAL  # noqa: E402  (../shared/data/real beside the project root)

ETAS = simulate.DEFAULT_ETAS
ENTROPY_NOISE = 0.01
Z95 = 1.959963984540054
K = 3.0
SETTINGS = Settings(k=K)
SET_SIZES = (4, 16, 64)
POWER = ((1.0, 16), (0.5, 64))  # (b, R): Φ(b√R − 3) = Φ(1) ≈ 84 % for both
FIELDS = ("z", "prediction", "delta_h_true", "sigma", "sigma_prediction", "sigma_true")
JUDGE = {"lin": registry.check("linear_agreement"), "lq": registry.check("linquad_agreement")}


def norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))  # Φ(x)


def tail_prob(mean: float, k: float = K, sd: float = 1.0) -> float:
    """P(|X| > k) for X ~ N(mean, sd²): Φ((−k − mean)/sd) + Φ((mean − k)/sd)."""
    return norm_cdf((-k - mean) / sd) + norm_cdf((mean - k) / sd)


def implied_rate(z: np.ndarray, shift: float, R: int) -> float:
    """Mean over η of P(|Z| > k) for Z ~ N(√R·(μ_j + shift), s_j²), μ_j and s_j the mean and
    sd of the runs' z at η index j (z: (runs, η)); the calibrated case is μ = 0, s = 1."""
    mu, sd = z.mean(axis=0), z.std(axis=0, ddof=1)
    return float(np.mean([tail_prob(math.sqrt(R) * (m + shift), K, s) for m, s in zip(mu, sd)]))


def cluster_rate(hits: np.ndarray) -> tuple[float, float]:
    """Rate and its Monte-Carlo SE of a (clusters, items) boolean array: mean over all, SE =
    sd of the per-cluster means/√clusters (items of one cluster are correlated)."""
    per = np.asarray(hits, dtype=float).reshape(len(hits), -1).mean(axis=1)
    se = float(per.std(ddof=1) / math.sqrt(per.size)) if per.size > 1 else math.nan
    return float(per.mean()), se


def run_seed(*key: int) -> int:
    return int(np.random.SeedSequence(list(key)).generate_state(1)[0])


# --------------------------------------------------------------------------- simulation


def judge_run(n: int, score_noise: float, seed: int, entropy_noise: float = ENTROPY_NOISE) -> dict:
    """One healthy run judged by the gate's agreement checks: per estimator ("lin", "lq") the
    case numbers of :data:`FIELDS` at every η (arrays), whether σ is paired, and G, σ_G
    (centred, the gate's), se_sum(gdotv) (uncentred)."""
    doc = simulate.simulate_run(n, ETAS, seed=seed, entropy_noise=entropy_noise, score_noise=score_noise)
    run = validate(doc, RunFile(f"E_{n}", f"seed_{seed}", Path("<memory>")))
    ctx = RunContext(run, SETTINGS)
    out: dict = {"G": run.delta_h_per_lr, "sigma_g": ctx.sigmas[ETAS[0]].g.value,
                 "sigma_g_uncentred": stats.se_sum(run.gdotv)}
    for est in JUDGE:
        cases = [JUDGE[est].verdict(ctx, e).to_dict() for e in run.entries]
        for f in FIELDS:
            out[f"{est}_{f}"] = np.array([c[f] for c in cases], dtype=float)
        out[f"{est}_paired"] = np.array([c["sigma_source"] == "paired" for c in cases])
    return out


def _chunk(args) -> dict:
    n, score_noise, seeds = args
    runs = [judge_run(n, score_noise, s) for s in seeds]
    return {k: np.array([r[k] for r in runs]) for k in runs[0]}


def simulate_pool(n: int, score_noise: float, runs: int, seed: int, processes: int, tag: int) -> dict:
    """``runs`` healthy runs (arrays stacked over runs: (runs,) or (runs, len(ETAS)))."""
    seeds = [run_seed(seed, tag, n, r) for r in range(runs)]
    size = max(1, min(200, runs // (4 * processes) or 1))
    chunks = [(n, score_noise, seeds[i:i + size]) for i in range(0, runs, size)]
    if processes <= 1:  # in-process (also when imported by path, as the smoke test does)
        parts = [_chunk(c) for c in chunks]
    else:
        with Pool(processes) as p:
            parts = p.map(_chunk, chunks)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# --------------------------------------------------------------------------- measurements


def exact_differences() -> dict:
    """{"lin": ηR' − ΔH(η), "lq": ηR' + ½η²R'' − ΔH(η)} over ETAS, and R' (the policy's exact values)."""
    policy = simulate.Policy.default()
    _, r1, r2 = policy.derivatives()
    eta = np.array(ETAS)
    dh = np.array([policy.delta_h(e) for e in ETAS])
    return {"lin": eta * r1 - dh, "lq": eta * r1 + 0.5 * eta**2 * r2 - dh, "R1": r1}


def coverage(pool: dict, exact: dict) -> list[dict]:
    """Coverage rows of the paired intervals (lin, lq), the naive 'target 0', and σ_G."""
    rows = []
    for est, label in (("lin", "ηG − ΔH_true ± 1.96σ_lin"), ("lq", "ηG_q + ½η²Q − ΔH_true ± 1.96σ_lq")):
        diff = pool[f"{est}_prediction"] - pool[f"{est}_delta_h_true"]
        sigma = pool[f"{est}_sigma"]
        rows.append(_row(label, (diff - exact[est]) / sigma, pool[f"{est}_paired"].mean()))
        if est == "lin":
            rows.append(_row("(diagnostic) same, exact difference taken as 0", diff / sigma, None))
    err = pool["G"] - exact["R1"]
    rows.append(_row("G ± 1.96·se_sum(g̃) (centred, the gate's σ_G)", err / pool["sigma_g"], None))
    rows.append(_row("(diagnostic) G ± 1.96·se_sum(gdotv), uncentred", err / pool["sigma_g_uncentred"], None))
    return rows


def _row(label: str, z: np.ndarray, paired: float | None) -> dict:
    cover = np.abs(z) <= Z95
    cov, se = cluster_rate(cover)
    per_eta = cover.mean(axis=0) if cover.ndim == 2 else np.array([cov])
    z2 = z.reshape(len(z), -1)
    return {"interval": label, "runs": len(z), "coverage": cov, "coverage_se": se,
            "per_eta": per_eta.tolist(), "mean_z": float(z2.mean()),
            "mean_z_se": cluster_rate(z2)[1], "sd_z": float(z2.std(ddof=1)), "paired": paired}


#: case sets fed to the pooled checks: label → (pooled check, pool prefix). "lin−curv" is the
#: linear case with the exact curvature offset ηR' − ΔH(η) removed from the prediction, i.e. a
#: linear estimator that is unbiased in the limit (the raw linear one is not: it misses ½η²R'').
VARIANTS = {"linquad": ("pooled_linquad_agreement", "lq"),
            "linear − curvature": ("pooled_linear_agreement", "lin0"),
            "linear (raw)": ("pooled_linear_agreement", "lin")}


def remove_curvature(pool: dict, exact: dict) -> None:
    """Add the "lin0_*" cases: prediction − (ηR' − ΔH(η)), z recomputed (σ unchanged)."""
    for f in FIELDS + ("paired",):
        pool[f"lin0_{f}"] = pool[f"lin_{f}"]
    pool["lin0_prediction"] = pool["lin_prediction"] - exact["lin"]
    pool["lin0_z"] = (pool["lin0_prediction"] - pool["lin_delta_h_true"]) / pool["lin_sigma"]


def _cases(pool: dict, prefix: str, runs: np.ndarray, j: int, shift: float = 0.0) -> list[dict]:
    """health.json-like case dicts of ``runs`` at η index j; ``shift`` b moves each prediction
    by b·σ (so z by b)."""
    out = []
    for r in runs:
        c = {f: float(pool[f"{prefix}_{f}"][r, j]) for f in FIELDS}
        c["prediction"] += shift * c["sigma"]
        c["z"] += shift
        c.update(run=f"run_{r}", outcome="passed" if abs(c["z"]) <= K else "failed",
                 sigma_source="paired" if pool[f"{prefix}_paired"][r, j] else "independent")
        out.append(c)
    return out


def pooled_failures(pool: dict, variant: str, R: int, shift: float = 0.0, n: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(failed, Z) of the pooled check over disjoint sets of R runs, shape (sets, len(ETAS)),
    judged by ``pooling.pooled_agreement``."""
    check, prefix = VARIANTS[variant]
    sets = len(pool["G"]) // R
    failed = np.zeros((sets, len(ETAS)), dtype=bool)
    Z = np.zeros((sets, len(ETAS)))
    for s in range(sets):
        runs = np.arange(s * R, (s + 1) * R)
        for j, eta in enumerate(ETAS):
            v = registry.pooled_verdict(check, f"E_{n}", eta, _cases(pool, prefix, runs, j, shift), K)
            failed[s, j] = v.outcome == "failed"
            Z[s, j] = v.to_dict()["Z"]
    return failed, Z


def false_alarms(pool: dict, n: int) -> list[dict]:
    """Per variant and R: pooled false-alarm rate (all η and per η), the rate implied by the
    runs' mean μ and sd s of z, mean/sd of Z, and the per-run rate of |z| > k."""
    rows = []
    for variant, (check, prefix) in VARIANTS.items():
        z = pool[f"{prefix}_z"]
        per_run, per_run_se = cluster_rate(np.abs(z) > K)
        for R in SET_SIZES:
            if len(z) // R < 10:
                continue
            failed, Z = pooled_failures(pool, variant, R, n=n)
            rate, se = cluster_rate(failed)
            rows.append({"variant": variant, "check": check, "R": R, "sets": len(failed), "rate": rate,
                         "rate_se": se, "per_eta": failed.mean(axis=0).tolist(),
                         "sd_Z": float(Z.std(ddof=1)), "mean_Z": float(Z.mean()),
                         "model": implied_rate(z, 0.0, R), "per_run": per_run,
                         "per_run_se": per_run_se})
    return rows


def power(pool: dict, n: int) -> list[dict]:
    """Pooled and per-run power of the linear check (curvature removed) at each (b, R) of POWER."""
    rows = []
    z = pool["lin0_z"]
    for b, R in POWER:
        if len(z) // R < 10:
            continue
        failed, _ = pooled_failures(pool, "linear − curvature", R, shift=b, n=n)
        rate, se = cluster_rate(failed)
        per, per_se = cluster_rate(np.abs(z + b) > K)
        th, th_run = tail_prob(b * math.sqrt(R)), tail_prob(b)
        rows.append({"b": b, "R": R, "sets": len(failed), "pooled": rate, "pooled_se": se,
                     "pooled_theory": th, "pooled_dev": (rate - th) / se if se > 0 else math.nan,
                     "pooled_model": implied_rate(z, b, R),
                     "per_run": per, "per_run_se": per_se, "per_run_theory": th_run,
                     "per_run_dev": (per - th_run) / per_se if per_se > 0 else math.nan})
    return rows


def influence_diagnostic(n: int, runs: int, seed: int) -> dict:
    """Without entropy and gradient noise: rms σ_lin / MC SD(ηG − ΔH_true) per η, with the
    gate's g̃ and with g̃ replaced by ψ/η at η = 1e-9 (the exact influence of G to O(η))."""
    diff, s_gate, s_exact = [], [], []
    for r in range(runs):
        doc = simulate.simulate_run(n, (1e-9,) + ETAS, seed=run_seed(seed, 99, n, r), entropy_noise=0.0)
        run = validate(doc, RunFile(f"E_{n}", "diag", Path("<memory>")))
        parts = run_parts(run, "total")
        T = parts.T
        infl = [stats.paired_influence(e.normalized_weights, T, e.h_new, e.h_base) for e in run.entries]
        g_exact = infl[0] / run.entries[0].eta
        diff.append([e.eta * run.delta_h_per_lr - e.delta_h_true for e in run.entries[1:]])
        s_gate.append([stats.se_sum(e.eta * parts.g_tilde - p) for e, p in zip(run.entries[1:], infl[1:])])
        s_exact.append([stats.se_sum(e.eta * g_exact - p) for e, p in zip(run.entries[1:], infl[1:])])
    sd = np.std(diff, axis=0, ddof=1)
    rms = lambda s: np.sqrt(np.mean(np.square(s), axis=0))  # noqa: E731
    return {"n": n, "runs": runs, "gate": (rms(s_gate) / sd).tolist(), "exact": (rms(s_exact) / sd).tolist()}


def real_files(root: Path = REAL, draws: int = 2000, seed: int = 0) -> list[dict]:
    """Per (run set, run, η) of the real files: corr(η·g̃, ψ), √((ησ_G)² + σ_true²)/σ_lin, and a
    bootstrap over sequences (``draws`` resamples i; G* = Σ gdotv*·ΣT/ΣT*, ΔH_true* the SNIS
    difference recomputed): corr(ηG*, ΔH*) and SD(ηG* − ΔH*)/σ_lin."""
    rows = []
    rng = np.random.default_rng(seed)
    for run in load_runs(sorted(p for p in root.iterdir() if p.is_dir())):
        if not hasattr(run, "entries"):
            continue
        parts = run_parts(run, "shard-mean")
        T, n = parts.T, parts.T.size
        idx = rng.integers(0, n, size=(draws, n))
        T_b = T[idx]
        G_b = run.gdotv[idx].sum(axis=1) * T.sum() / T_b.sum(axis=1)
        for e in run.entries:
            psi = stats.paired_influence(e.normalized_weights, parts.T, e.h_new, e.h_base)
            lin = e.eta * parts.g_tilde
            paired = stats.se_sum(lin - psi)
            indep = math.hypot(e.eta * parts.g.value, math.sqrt(n / (n - 1) * float(psi @ psi)))
            w_b = e.normalized_weights[idx]
            dh_b = ((w_b * e.h_new[idx]).sum(axis=1) / (w_b * T_b).sum(axis=1)
                    - e.h_base[idx].sum(axis=1) / T_b.sum(axis=1))
            rows.append({"run_set": run.file.run_set, "run": run.file.run, "eta": e.eta,
                         "corr": float(np.corrcoef(lin, psi)[0, 1]), "ratio": indep / paired,
                         "corr_boot": float(np.corrcoef(e.eta * G_b, dh_b)[0, 1]),
                         "boot_over_paired": float(np.std(e.eta * G_b - dh_b, ddof=1)) / paired})
    return rows


# --------------------------------------------------------------------------- output


def pct(x: float, se: float | None = None, digits: int = 2) -> str:
    """``12.34 % ± 0.56``: a rate (and its Monte-Carlo SE) in per cent."""
    return f"{100 * x:.{digits}f} %" + ("" if se is None else f" ± {100 * se:.{digits}f}")


def write_results(res: dict, text: str, out: Path) -> int:
    """Print the markdown table and write it to ``out`` beside ``out`` with ``.json`` (the raw numbers)."""
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(res, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


def markdown(res: dict) -> str:
    out = ["## Calibration (bench/calibration.py)", "",
           f"Simulator: default policy, η grid {', '.join(f'{e:g}' for e in ETAS)}, entropy noise "
           f"{ENTROPY_NOISE:g} nats/sequence; k = {K:g}; runtime {res['runtime_s']:.0f} s on "
           f"{res['processes']} process(es). ± = Monte-Carlo SE (clusters: runs or sets).", "",
           "### 1–2. Coverage of nominal 95 % intervals (target 94–96 %)", "",
           "| n | score noise | interval | runs | coverage (all η) | per η (ascending) | mean z | sd z | σ paired |",
           "|---|---|---|---|---|---|---|---|---|"]
    for p in res["pools"]:
        for r in p["coverage"]:
            out.append(f"| {p['n']} | {p['score_noise']:g} | {r['interval']} | {r['runs']} "
                       f"| {pct(r['coverage'], r['coverage_se'])} "
                       f"| {' / '.join(f'{100 * c:.1f}' for c in r['per_eta'])} "
                       f"| {r['mean_z']:+.3f} ± {r['mean_z_se']:.3f} | {r['sd_z']:.3f} "
                       f"| {'—' if r['paired'] is None else pct(r['paired'])} |")
    out += ["", f"### 3. Pooled checks on healthy sets: false alarms |Z| > {K:g} (target ≤ 0.5 %; "
            f"calibrated z: {pct(tail_prob(0.0))})", "",
            "| n | score noise | check (cases) | R | sets × η | false alarms | per η (ascending) | implied by μ, s of z "
            "| mean Z | sd Z | per-run |z| > 3 |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in res["pools"]:
        for r in p["false_alarms"]:
            out.append(f"| {p['n']} | {p['score_noise']:g} | {r['check']} ({r['variant']}) | {r['R']} "
                       f"| {r['sets']} × {len(ETAS)} | {pct(r['rate'], r['rate_se'])} "
                       f"| {' / '.join(f'{100 * c:.1f}' for c in r['per_eta'])} | {pct(r['model'])} | {r['mean_Z']:+.3f} "
                       f"| {r['sd_Z']:.3f} | {pct(r['per_run'], r['per_run_se'])} |")
    out += ["", "### 4. Power against a shared bias of b·σ_lin per run (pooled_linear_agreement vs per run, k = 3; "
            "linear cases with the curvature removed, so that b = 0 is healthy)", "",
            "| n | score noise | b | R | sets × η | pooled measured | theory Φ(b√R−3)+Φ(−b√R−3) | dev (SEs) "
            "| with measured μ, s | per run measured | theory | dev (SEs) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in res["pools"]:
        for r in p["power"]:
            out.append(f"| {p['n']} | {p['score_noise']:g} | {r['b']:g} | {r['R']} | {r['sets']} × {len(ETAS)} "
                       f"| {pct(r['pooled'], r['pooled_se'])} | {pct(r['pooled_theory'])} | {r['pooled_dev']:+.2f} "
                       f"| {pct(r['pooled_model'])} | {pct(r['per_run'], r['per_run_se'])} "
                       f"| {pct(r['per_run_theory'])} | {r['per_run_dev']:+.2f} |")
    d = res["diagnostic"]
    out += ["", f"### 5. Diagnostic: no entropy noise, no gradient noise (n = {d['n']}, {d['runs']} runs)", "",
            "rms σ_lin / Monte-Carlo SD(ηG − ΔH_true), per η ascending:", "",
            f"- gate (η·g̃ − ψ): {' / '.join(f'{x:.2f}' for x in d['gate'])}",
            f"- exact influence of G (ψ/η at η = 1e-9 instead of g̃): {' / '.join(f'{x:.2f}' for x in d['exact'])}"]
    real = res["real"]
    if real:
        out += ["", "### 6. Real files: corr(η·g̃, ψ) and σ_independent / σ_paired per (run, η)", "",
                "| run set | cases | corr range | corr median | σ_ind/σ_paired range | median "
                "| bootstrap corr range | bootstrap SD / σ_paired range |", "|---|---|---|---|---|---|---|---|"]
        for name in sorted({r["run_set"] for r in real}) + ["all"]:
            rs = [r for r in real if name in ("all", r["run_set"])]
            c, q = np.array([r["corr"] for r in rs]), np.array([r["ratio"] for r in rs])
            cb, qb = np.array([r["corr_boot"] for r in rs]), np.array([r["boot_over_paired"] for r in rs])
            out.append(f"| {name} | {len(rs)} | {c.min():+.3f} … {c.max():+.3f} | {np.median(c):+.3f} "
                       f"| {q.min():.3f} … {q.max():.3f} | {np.median(q):.3f} "
                       f"| {cb.min():+.3f} … {cb.max():+.3f} | {qb.min():.3f} … {qb.max():.3f} |")
    return "\n".join(out) + "\n"


def measure(n: int, score_noise: float, runs: int, seed: int, processes: int, tag: int, exact: dict) -> dict:
    pool = simulate_pool(n, score_noise, runs, seed, processes, tag)
    remove_curvature(pool, exact)
    return {"n": n, "score_noise": score_noise, "runs": runs, "coverage": coverage(pool, exact),
            "false_alarms": false_alarms(pool, n), "power": power(pool, n)}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--resolution"]:  # resolution and TOST: bench/calibration_resolution.py
        import calibration_resolution

        return calibration_resolution.main(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--runs", type=int, default=12800, help="healthy runs at n = --n per score noise")
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--runs-large", type=int, default=2000, help="healthy runs at --n-large per score noise (0: skip)")
    p.add_argument("--n-large", type=int, default=2048)
    p.add_argument("--score-noise", type=float, nargs="+", default=[0.0, 0.5])
    p.add_argument("--diagnostic-runs", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--real", type=Path, default=REAL, help="real run sets (skipped when absent)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "calibration.md")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    exact = exact_differences()
    sizes = [(a.n, a.runs)] + ([(a.n_large, a.runs_large)] if a.runs_large > 0 else [])
    pools = [measure(n, noise, runs, a.seed, a.processes, tag, exact)
             for tag, (n, runs, noise) in enumerate((n, r, s) for n, r in sizes for s in a.score_noise)]
    res = {"pools": pools, "diagnostic": influence_diagnostic(a.n, a.diagnostic_runs, a.seed),
           "real": real_files(a.real) if a.real.is_dir() else [], "processes": a.processes,
           "config": {"etas": list(ETAS), "entropy_noise": ENTROPY_NOISE, "k": K, "seed": a.seed,
                      "sizes": sizes, "score_noise": a.score_noise}}
    res["runtime_s"] = time.perf_counter() - t0
    return write_results(res, markdown(res), a.out)


if __name__ == "__main__":
    sys.exit(main())

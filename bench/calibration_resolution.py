"""Calibration of what a pass is worth: the stated resolution and the TOST of --tolerance
(checks.md, "Resolution and equivalence"). Run through ``python bench/calibration.py
--resolution`` (or this file directly):

    python bench/calibration_resolution.py [--runs 3200] [--runs-precise 1600] [--seed 0]
                                           [--processes 2] [--out bench/out/calibration_resolution.md]

Healthy runs come from bench/calibration.py's pools (the reference simulator, the producer's
η grid, entropy noise 0.01): n = 256 and n = 2048 with the realistic gradient noise (score
noise 0.5, G/σ_G ≈ 2 as in the real files), and n = 2048 without it (score noise 0) for a
precise TOST. The linear cases have the exact curvature offset removed (``lin0``: unbiased),
so that a planted bias is the only one. A relative bias b is planted as an additive offset
b·ΔH(η) on every run's prediction (ΔH(η) the policy's exact value; σ unchanged), i.e. the
expected pooled ratio is 1 + b. Every verdict is the gate's (``pooling.pooled_agreement``).

1. Resolution honest: for each set of R = 4, 16 disjoint runs and each η, the set's stated
   resolution b (:func:`dhstats.stats.equivalence.resolution` of its unbiased cases) is planted
   (sign alternating by set); the pooled difference test at k = 3 must fail in 80 % of sets.
   Per run: the same with each run's own resolution and |z| > k.
2. TOST size: true ratio exactly 1 + δ and 1 − δ (δ = 0.2, 0.5, α = 0.05): "demonstrated"
   (passed) in ≤ α of sets. With the realistic gradient noise only δ = 0.5 (no set of
   R ≤ 16 resolves ±20 % there: 0 % demonstrated at every ratio).
3. TOST power at ratio 1 (no bias) against the normal approximation
   max(0, 2Φ(δ/SE_ratio − z_{1−α}) − 1), averaged over the sets' own SE_ratio.
4. Heterogeneity: the rate of ``heterogeneous`` on healthy sets of R = 2, 4, 16 runs (linear
   unbiased and lin+quad as judged), target ≤ 2Φ(−k) = 0.27 %; and its power against a planted
   split: half the runs' predictions + b·ΔH(η), the other half − b·ΔH(η) (each run's ratio
   1 ± b, the pooled ratio still ≈ 1 so Stouffer's Z sees nothing), as a function of b.

Every pooled number is the gate's weighted estimator (Stouffer's weights w = 1/σ_1).

± is the Monte-Carlo SE (clusters: sets, or runs for the per-run rows; the η's of a set are
correlated).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import calibration as cal  # noqa: E402
from dhstats.verdicts import pooling, registry  # noqa: E402
from dhstats.stats import equivalence
from dhstats import simulate

CHECK = "pooled_linear_agreement"
ALPHA = 0.05
DELTAS = (0.2, 0.5)
SET_SIZES = (4, 16)
HET_SIZES = (2, 4, 16)
SPLITS = (0.25, 0.5, 1.0, 2.0)  # b of the planted split (each run's ratio 1 ± b), realistic noise
SPLITS_PRECISE = (0.0025, 0.005, 0.01, 0.02)  # without gradient noise the runs resolve ±1 %


def exact_delta_h() -> np.ndarray:
    """ΔH(η) of the simulator's default policy at every η of the grid (the truth)."""
    policy = simulate.Policy.default()
    return np.array([policy.delta_h(e) for e in cal.ETAS])


def planted(pool: dict, runs: np.ndarray, j: int, offset: float) -> list[dict]:
    """Case dicts of ``runs`` at η index j (unbiased linear, ``lin0``) with ``offset`` added to
    every prediction; z recomputed with the same σ."""
    cases = cal._cases(pool, "lin0", runs, j)
    for c in cases:
        c["prediction"] += offset
        c["z"] = (c["prediction"] - c["delta_h_true"]) / c["sigma"]
        c["outcome"] = "passed" if abs(c["z"]) <= cal.K else "failed"
    return cases


def _sets(pool: dict, R: int) -> list[np.ndarray]:
    return [np.arange(s * R, (s + 1) * R) for s in range(len(pool["G"]) // R)]


def resolution_rows(pool: dict, dh: np.ndarray) -> list[dict]:
    """Detection rate of the stated resolution, pooled (R = 4, 16) and per run."""
    rows = []
    for R in SET_SIZES:
        sets = _sets(pool, R)
        hit, stated = np.zeros((len(sets), len(dh)), bool), np.zeros((len(sets), len(dh)))
        for s, runs in enumerate(sets):
            for j in range(len(dh)):
                base = planted(pool, runs, j, 0.0)
                b = equivalence.resolution(cal.K, [c["delta_h_true"] for c in base], [c["sigma"] for c in base])
                v = registry.pooled_verdict(CHECK, "E", cal.ETAS[j], planted(pool, runs, j, (-1) ** s * b * dh[j]),
                                               cal.K)
                hit[s, j], stated[s, j] = str(v.outcome) == "failed", b
        rate, se = cal.cluster_rate(hit)
        rows.append({"R": R, "sets": len(sets), "detected": rate, "se": se, "median_resolution": float(np.median(stated))})
    T, sig = pool["lin0_delta_h_true"], pool["lin0_sigma"]
    b = (cal.K + equivalence.Z_POWER) * sig / np.abs(T)
    z = pool["lin0_z"] + b * dh / sig
    rate, se = cal.cluster_rate(np.abs(z) > cal.K)
    rows.append({"R": 1, "sets": len(T), "detected": rate, "se": se, "median_resolution": float(np.median(b))})
    return rows


def _heterogeneous(check: str, cases: list[dict], eta: float) -> bool:
    return str(registry.pooled_verdict(check, "E", eta, cases, cal.K).reason) == "heterogeneous"


def heterogeneity_rows(pool: dict, dh: np.ndarray, splits: tuple[float, ...] = SPLITS) -> dict:
    """``heterogeneous`` on healthy sets (size) and against a planted ±b split (power)."""
    size, split = [], []
    for R in HET_SIZES:
        sets = _sets(pool, R)
        for label, check, prefix in (("linear", CHECK, "lin0"), ("lin+quad", "pooled_linquad_agreement", "lq")):
            hit = np.array([[_heterogeneous(check, cal._cases(pool, prefix, runs, j), cal.ETAS[j])
                             for j in range(len(dh))] for runs in sets])
            rate, se = cal.cluster_rate(hit)
            size.append({"R": R, "estimator": label, "sets": len(sets), "rate": rate, "se": se})
        if R < 4:
            continue
        for b in splits:
            hit = np.zeros((len(sets), len(dh)), bool)
            for s, runs in enumerate(sets):
                for j in range(len(dh)):
                    cases = planted(pool, runs, j, 0.0)
                    for i, c in enumerate(cases):
                        c["prediction"] += (1 if i % 2 == 0 else -1) * b * dh[j]
                        c["z"] = (c["prediction"] - c["delta_h_true"]) / c["sigma"]
                        c["outcome"] = "passed" if abs(c["z"]) <= cal.K else "failed"
                    hit[s, j] = _heterogeneous(CHECK, cases, cal.ETAS[j])
            rate, se = cal.cluster_rate(hit)
            split.append({"R": R, "b": b, "sets": len(sets), "rate": rate, "se": se})
    return {"size": size, "split": split}


def tost_diagnostic(pool: dict, dh: np.ndarray, sizes: tuple[int, ...] = (16,),
                    deltas: tuple[float, ...] = (0.5,)) -> dict:
    """Why the TOST's size can exceed α: the runs' biases in units of their own σ_1 (a bias
    b·σ_1 per run moves the pooled t by ≈ b·√R), and at ratio 1 ± δ the rate of "demonstrated"
    (t_lo > z and t_hi < −z) and the mean of the decisive statistic (t_lo at 1 − δ, −t_hi at
    1 + δ; 0 for a calibrated test at the boundary), with Stouffer's weights (the gate) and
    unweighted (equal weights, ΣP/ΣT)."""
    sig = pool["lin0_sigma"]
    out: dict = {"cells": []}
    for name, err in (("prediction", pool["lin0_prediction"] - dh), ("delta_h_true", pool["lin0_delta_h_true"] - dh)):
        b = err / sig
        out[name] = (float(b.mean()), float(b.mean(axis=1).std(ddof=1) / math.sqrt(len(b))))
    for R in sizes:
        sets = _sets(pool, R)
        for delta in deltas:
            for side in (-1.0, 1.0):
                shown = {"weighted": np.zeros((len(sets), len(dh)), bool), "unweighted": np.zeros((len(sets), len(dh)), bool)}
                stat = {"weighted": [], "unweighted": []}
                for s_, runs in enumerate(sets):
                    for j in range(len(dh)):
                        nums = [pooling.AgreementNumbers.of(c) for c in planted(pool, runs, j, side * delta * dh[j])]
                        lo = [pooling.case_sigma_c(n, 1 - delta) for n in nums]
                        hi = [pooling.case_sigma_c(n, 1 + delta) for n in nums]
                        P, T = [n.prediction for n in nums], [n.delta_h_true for n in nums]
                        for form, w in (("weighted", equivalence.stouffer_weights([n.sigma for n in nums])),
                                        ("unweighted", None)):
                            t = equivalence.tost(P, T, lo, hi, delta, ALPHA, w)
                            shown[form][s_, j] = t.verdict == equivalence.Equivalence.DEMONSTRATED
                            stat[form].append(t.t_lo if side < 0 else -t.t_hi)
                cell = {"R": R, "delta": delta, "at": "1 − δ" if side < 0 else "1 + δ", "sets": len(sets)}
                for form in shown:
                    cell[form] = (*cal.cluster_rate(shown[form]), float(np.mean(stat[form])))
                out["cells"].append(cell)
    return out


def tost_rows(pool: dict, dh: np.ndarray, deltas: tuple[float, ...] = DELTAS) -> list[dict]:
    """TOST "demonstrated" rate at ratio 1 ± δ (size) and at 1 (power, with the normal approximation)."""
    z = equivalence.normal_quantile(1 - ALPHA)
    norm = cal.norm_cdf
    rows = []
    for R in SET_SIZES:
        sets = _sets(pool, R)
        for delta in deltas:
            out = {"R": R, "delta": delta, "sets": len(sets)}
            for label, shift in (("at 1 + δ", delta), ("at 1 − δ", -delta), ("at 1", 0.0)):
                shown, theory = np.zeros((len(sets), len(dh)), bool), np.zeros((len(sets), len(dh)))
                for s, runs in enumerate(sets):
                    for j in range(len(dh)):
                        v = registry.pooled_verdict(CHECK, "E", cal.ETAS[j], planted(pool, runs, j, shift * dh[j]),
                                                       cal.K, tolerance=delta, alpha=ALPHA)
                        shown[s, j] = str(v.outcome) == "passed"
                        se = v.to_dict()["ratio_se"]
                        theory[s, j] = max(0.0, 2 * norm(delta / se - z) - 1) if se > 0 else 1.0
                rate, mc = cal.cluster_rate(shown)
                out[label] = (rate, mc)
                if shift == 0.0:
                    out["theory"] = float(theory.mean())
            rows.append(out)
    return rows


def _pct(x: float, se: float | None = None) -> str:
    return cal.pct(x, se, digits=1)


def markdown(res: dict) -> str:
    out = ["## Resolution and equivalence (bench/calibration_resolution.py)", "",
           f"k = {cal.K:g}, α = {ALPHA:g}; bias planted as b·ΔH(η) on every run's unbiased linear prediction; "
           f"runtime {res['runtime_s']:.0f} s on {res['processes']} process(es). ± = Monte-Carlo SE.", "",
           "### Resolution honest: the stated resolution planted is detected in 80 % of sets", "",
           "| n | score noise | R | sets × η | median stated resolution | detected |", "|---|---|---|---|---|---|"]
    for p in res["pools"]:
        for r in p["resolution"]:
            R = "1 (per run)" if r["R"] == 1 else str(r["R"])
            n = r["sets"] if r["R"] == 1 else f"{r['sets']} × {len(cal.ETAS)}"
            out.append(f"| {p['n']} | {p['score_noise']:g} | {R} | {n} | ±{100 * r['median_resolution']:.0f} % "
                       f"| {_pct(r['detected'], r['se'])} |")
    out += ["", f"### TOST: size at ratio 1 ± δ (target ≤ {ALPHA:g}) and power at ratio 1", "",
            "| n | score noise | R | δ | sets × η | demonstrated at 1 + δ | at 1 − δ | at 1 (power) | normal approx. |",
            "|---|---|---|---|---|---|---|---|---|"]
    for p in res["pools"]:
        for r in p["tost"]:
            out.append(f"| {p['n']} | {p['score_noise']:g} | {r['R']} | {r['delta']:g} | {r['sets']} × {len(cal.ETAS)} "
                       f"| {_pct(*r['at 1 + δ'])} | {_pct(*r['at 1 − δ'])} | {_pct(*r['at 1'])} | {_pct(r['theory'])} |")
    out += ["", "### Why the TOST's size can exceed α: each run's bias in units of σ_1, and the size with and "
            "without Stouffer's weights", "",
            "| n | score noise | mean (P − ΔH)/σ_1 | mean (ΔH_true − ΔH)/σ_1 |", "|---|---|---|---|"]
    cells = []
    for p in res["pools"]:
        d = p.get("diagnostic")
        if d:
            out.append(f"| {p['n']} | {p['score_noise']:g} | {d['prediction'][0]:+.3f} ± {d['prediction'][1]:.3f} "
                       f"| {d['delta_h_true'][0]:+.3f} ± {d['delta_h_true'][1]:.3f} |")
            cells += [(p, c) for c in d["cells"]]
    out += ["", "| n | score noise | R | δ | ratio | sets × η | demonstrated, weighted (mean t) | unweighted (mean t) |",
            "|---|---|---|---|---|---|---|---|"]
    for p, c in cells:
        w, u = c["weighted"], c["unweighted"]
        out.append(f"| {p['n']} | {p['score_noise']:g} | {c['R']} | {c['delta']:g} | {c['at']} | {c['sets']} × "
                   f"{len(cal.ETAS)} | {_pct(w[0], w[1])} ({w[2]:+.2f}) | {_pct(u[0], u[1])} ({u[2]:+.2f}) |")
    out += ["", f"### Heterogeneity: `heterogeneous` on healthy sets (target ≤ 2Φ(−k) = "
            f"{100 * cal.stats.two_sided_p(cal.K):.2f} %)", "",
            "| n | score noise | R | estimator | sets × η | heterogeneous |", "|---|---|---|---|---|---|"]
    for p in res["pools"]:
        for r in p["heterogeneity"]["size"]:
            out.append(f"| {p['n']} | {p['score_noise']:g} | {r['R']} | {r['estimator']} | {r['sets']} × "
                       f"{len(cal.ETAS)} | {cal.pct(r['rate'], r['se'], digits=2)} |")
    out += ["", "### Heterogeneity: power against a split (half the runs at ratio 1 + b, half at 1 − b)", "",
            "| n | score noise | R | b | sets × η | heterogeneous |", "|---|---|---|---|---|---|"]
    for p in res["pools"]:
        for r in p["heterogeneity"]["split"]:
            out.append(f"| {p['n']} | {p['score_noise']:g} | {r['R']} | {r['b']:g} | {r['sets']} × {len(cal.ETAS)} "
                       f"| {_pct(r['rate'], r['se'])} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--runs", type=int, default=3200, help="healthy runs per realistic pool (n = 256, 2048)")
    p.add_argument("--runs-precise", type=int, default=1600, help="healthy runs at n = 2048 without gradient noise")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "calibration_resolution.md")
    p.add_argument("--diagnostic-only", action="store_true", help="only the TOST size diagnostic (R = 16)")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    exact, dh = cal.exact_differences(), exact_delta_h()
    pools = []
    for tag, (n, noise, runs) in enumerate(((256, 0.5, a.runs), (2048, 0.5, a.runs), (2048, 0.0, a.runs_precise))):
        if runs <= 0:
            continue
        pool = cal.simulate_pool(n, noise, runs, a.seed, a.processes, 100 + tag)
        cal.remove_curvature(pool, exact)
        if a.diagnostic_only:
            pools.append({"n": n, "score_noise": noise, "runs": runs, "resolution": [], "tost": [],
                          "heterogeneity": {"size": [], "split": []},
                          "diagnostic": tost_diagnostic(pool, dh, SET_SIZES, DELTAS if noise == 0 else DELTAS[1:])})
            continue
        pools.append({"n": n, "score_noise": noise, "runs": runs, "resolution": resolution_rows(pool, dh),
                      "tost": tost_rows(pool, dh, DELTAS if noise == 0 else DELTAS[1:]),
                      "heterogeneity": heterogeneity_rows(pool, dh, SPLITS if noise else SPLITS_PRECISE),
                      "diagnostic": tost_diagnostic(pool, dh)})
        print(f"n = {n}, score noise {noise:g}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    res = {"pools": pools, "processes": a.processes, "runtime_s": time.perf_counter() - t0}
    return cal.write_results(res, markdown(res), a.out)


if __name__ == "__main__":
    sys.exit(main())

"""Calibration of the comparison with a baseline (checks.md, "Comparison with a baseline"):

    python bench/calibration_baseline.py [--runs 1600] [--seed 0] [--processes 1]
                                         [--out bench/out/calibration_baseline.md]

Healthy runs come from bench/calibration.py's pool (the reference simulator, the producer's
η grid, n = 256, entropy noise 0.01, realistic gradient noise: score noise 0.5). Disjoint sets
of R runs are paired (candidate, baseline): two healthy sets of the same configuration. Each
side's pooled case is the gate's (``pooling.pooled_agreement``), each comparison the gate's
(``baseline.compare_ratios``), on both estimators at every η.

1. False alarms: ``moved`` in ≤ 2Φ(−k) of the comparisons of two healthy sets (k = 2 and 3).
2. Power at the stated resolution: the candidate's prediction is moved by s·ΔH(η) in every run
   (ΔH(η) the policy's exact value, σ unchanged), which moves its pooled ratio by s; s is the
   resolution the comparison states for that pair (iterated to a fixed point: the stated
   resolution depends on the ratio through its SE), sign alternating; ``moved`` must come in
   ≈ 80 % of pairs.
3. TOST size under --baseline-tolerance δ (δ = 3 × the pairs' median se_d, so that it can be
   demonstrated): a true difference of exactly +δ and −δ must be "demonstrated within ±δ"
   (passed) in ≤ α of pairs; at 0 the rate is its power.

± is the Monte-Carlo SE (clusters: pairs; the η's and estimators of a pair are correlated).
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
from dhstats.verdicts import baseline, registry  # noqa: E402
from dhstats import simulate
from dhstats.load.settings import Settings  # noqa: E402

N, SCORE_NOISE = 256, 0.5
ESTIMATORS = {"baseline_linear_ratio": ("lin", "linear_agreement", "pooled_linear_agreement"),
              "baseline_linquad_ratio": ("lq", "linquad_agreement", "pooled_linquad_agreement")}
SET_SIZES = (4, 16)
ALPHA = 0.05
DELTA_SE = 3.0  # δ = 3 × the median se_d of the pairs: demonstrable (≈ 83 % power at 0)


def exact_delta_h() -> np.ndarray:
    policy = simulate.Policy.default()
    return np.array([policy.delta_h(e) for e in cal.ETAS])


def side(pool: dict, prefix: str, per_run: str, pooled: str, runs: np.ndarray, j: int, offset: float,
         name: str) -> list[dict]:
    """One side's cases at η index j: per-run agreement cases (prediction + ``offset``) and the
    gate's pooled case of them."""
    cases = cal._cases(pool, prefix, runs, j)
    for c in cases:
        c["prediction"] += offset
        c["z"] = (c["prediction"] - c["delta_h_true"]) / c["sigma"]
        c.update(check=per_run, run_set=name, eta=cal.ETAS[j])
    p = registry.pooled_verdict(pooled, name, cal.ETAS[j], cases, cal.K).to_dict()
    return cases + [p]


def compare(pool: dict, check: str, cand: np.ndarray, base: np.ndarray, j: int, shift: float, dh: float,
            settings: Settings) -> dict:
    prefix, per_run, pooled = ESTIMATORS[check]
    c = side(pool, prefix, per_run, pooled, cand, j, shift * dh, "C")
    b = side(pool, prefix, per_run, pooled, base, j, 0.0, "B")
    family = registry.estimator_of(check)
    return baseline.compare_ratios(family, "C", cal.ETAS[j], c, {"run_set": "B", "cases": b},
                                   settings).at(check, "C", None, cal.ETAS[j]).to_dict()


def masked_rate(hits: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Rate of ``hits`` among ``mask`` (judged comparisons) and its SE with pairs as clusters
    (ratio estimator: Σ hits / Σ mask, SE from the per-pair residuals)."""
    h, m = (hits & mask).sum(axis=1).astype(float), mask.sum(axis=1).astype(float)
    rate = h.sum() / m.sum()
    se = math.sqrt(((h - rate * m) ** 2).sum() / (len(h) * (len(h) - 1))) / m.mean() if len(h) > 1 else math.nan
    return float(rate), float(se)


def pairs(R: int, runs: int) -> list[tuple[np.ndarray, np.ndarray]]:
    sets = [np.arange(s * R, (s + 1) * R) for s in range(runs // R)]
    return [(sets[2 * i], sets[2 * i + 1]) for i in range(len(sets) // 2)]


def measure(pool: dict, runs: int) -> dict:
    dh = exact_delta_h()
    out: dict = {"null": [], "power": [], "tost": []}
    for R in SET_SIZES:
        ps = pairs(R, runs)
        shape = (len(ps), len(ESTIMATORS) * len(cal.ETAS))
        z = np.full(shape, np.nan)
        skipped = np.zeros(shape, bool)
        hit, stated, rel = np.zeros(shape, bool), np.zeros(shape), np.zeros(shape)
        for i, (cand, base) in enumerate(ps):
            for e, check in enumerate(ESTIMATORS):
                for j in range(len(cal.ETAS)):
                    col = e * len(cal.ETAS) + j
                    v = compare(pool, check, cand, base, j, 0.0, dh[j], Settings(k=cal.K))
                    skipped[i, col] = v["outcome"] == "skipped"
                    z[i, col] = v.get("z", np.nan) if not skipped[i, col] else np.nan
                    s = v.get("resolution") or math.nan
                    for _ in range(3):  # the stated resolution of the shifted comparison
                        w = compare(pool, check, cand, base, j, (-1) ** i * s, dh[j], Settings(k=cal.K))
                        s_next = w.get("resolution") or math.nan
                        if not math.isfinite(s_next) or abs(s_next - s) < 1e-3 * s:
                            break
                        s = s_next
                    hit[i, col] = w["reason"] == "moved"
                    stated[i, col] = s
                    d = (w.get("ratio") or math.nan) - (w.get("baseline_ratio") or math.nan)
                    d0 = (v.get("ratio") or math.nan) - (v.get("baseline_ratio") or math.nan)
                    rel[i, col] = abs(d - d0) / s if s else math.nan  # planted move / stated resolution
        judged = ~skipped
        for k in (2.0, 3.0):
            moved = judged & (np.abs(np.nan_to_num(z)) > k)
            rate, se = masked_rate(moved, judged)
            out["null"].append({"R": R, "k": k, "pairs": len(ps), "cases": int(judged.sum()),
                                "moved": rate, "se": se, "nominal": 2 * cal.norm_cdf(-k),
                                "any_eta": float(moved.any(axis=1).mean()), "inconclusive": float(skipped.mean())})
        rate, se = masked_rate(hit, judged)
        out["power"].append({"R": R, "pairs": len(ps), "detected": rate, "se": se,
                             "median_resolution": float(np.nanmedian(stated)),
                             "planted_over_stated": float(np.nanmedian(rel))})
        delta = round(DELTA_SE * float(np.nanmedian(stated)) / (cal.K + 0.8416212335729143), 2)
        settings = Settings(k=cal.K, baseline_tolerance=delta, equivalence_alpha=ALPHA)
        row = {"R": R, "delta": delta, "pairs": len(ps)}
        for label, sign in (("+δ", 1.0), ("−δ", -1.0), ("0", 0.0)):
            shown = np.zeros(shape, bool)
            for i, (cand, base) in enumerate(ps):
                for e, check in enumerate(ESTIMATORS):
                    for j in range(len(cal.ETAS)):
                        w = compare(pool, check, cand, base, j, sign * delta, dh[j], settings)
                        shown[i, e * len(cal.ETAS) + j] = w["outcome"] == "passed"
            row[label] = cal.cluster_rate(shown)
        out["tost"].append(row)
    return out


def markdown(res: dict, runs: int, seconds: float) -> str:
    pct = cal.pct
    lines = [f"{runs} healthy runs (n = {N}, score noise {SCORE_NOISE}, entropy noise {cal.ENTROPY_NOISE}), "
             f"disjoint sets of R runs paired; both estimators at {len(cal.ETAS)} η; {seconds:.0f} s.", "",
             "**Two healthy sets (false alarms)**", "",
             "| R | pairs | k | `moved` (per case) | nominal 2Φ(−k) | pairs with any η moved | inconclusive |",
             "|---|---|---|---|---|---|---|"]
    for r in res["null"]:
        lines.append(f"| {r['R']} | {r['pairs']} | {r['k']:g} | {pct(r['moved'], r['se'])} | {pct(r['nominal'])} | "
                     f"{pct(r['any_eta'])} | {pct(r['inconclusive'])} |")
    lines += ["", "**A planted move equal to the stated resolution (power)**", "",
              "| R | pairs | detected (`moved`) | median stated resolution | planted / stated |", "|---|---|---|---|---|"]
    for r in res["power"]:
        lines.append(f"| {r['R']} | {r['pairs']} | {pct(r['detected'], r['se'])} | ±{r['median_resolution']:.2f} | "
                     f"{r['planted_over_stated']:.3f} |")
    lines += ["", f"**TOST of the difference (`--baseline-tolerance δ`, α = {ALPHA:g}): \"no move beyond ±δ, "
              "demonstrated\" (passed)**", "",
              "| R | δ | pairs | true difference +δ (size) | −δ (size) | 0 (power) |", "|---|---|---|---|---|---|"]
    for r in res["tost"]:
        lines.append(f"| {r['R']} | {r['delta']:g} | {r['pairs']} | {pct(*r['+δ'])} | {pct(*r['−δ'])} | "
                     f"{pct(*r['0'])} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--out", default=str(REPO / "bench" / "out" / "calibration_baseline.md"))
    args = p.parse_args(argv)
    t0 = time.time()
    pool = cal.simulate_pool(N, SCORE_NOISE, args.runs, args.seed, args.processes, tag=27)
    res = measure(pool, args.runs)
    text = markdown(res, args.runs, time.time() - t0)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

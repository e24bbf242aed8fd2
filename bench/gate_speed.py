"""Gate speed and memory benchmark (issue: "Gate speed and scale").

    python bench/gate_speed.py [--runs 50] [--sequences 2048] [--out bench/out/speed]

Makes a realistic run set — simulated E=2048 runs (5 η) in the producer's format, each
per-sequence record padded with the producer's extra fields (``extras``, ``features``,
``sum_logp`` …, copied from a real record's shape) so a file is real-size — then measures,
each in a fresh process:

(a) ``json.load`` of every file (stdlib; what the notebook does), and orjson for reference;
(b) the gate end to end: ``python -m pytest checks/ --results DIR`` (all checks, reports on);
(c) the gate with ``-n 2`` (pytest-xdist);
(d) peak RSS of each (max over the process tree, ``getrusage(RUSAGE_CHILDREN)``);
(e) a failing run set (same size; planted defects make 5 of 7 checks fail on every case),
    to bound the cost of plotting (``--max-plots``, default 40 figures per process).
It prints the ratios gate/json.load, gate/orjson and serial/parallel, and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dhstats import simulate  # noqa: E402

_EXTRA = {  # the producer's per-sequence fields the gate does not read (results-format.md)
    "sum_logp": -33.27, "mean_logp": -0.391, "var_logp": 1.179, "max_logp": -1.5e-05, "min_logp": -6.98,
    "extras": {"rb_entropy_sum": 22.33, "sum_w": 661.92, "sum_w2": 7351.84, "sum_w_abs": 661.92,
               "wjlogp_sum": 259899.39, "jH_sum": -30959.69, "sum_abs_jlogp": 67683.82,
               "mean_abs_jlogp": 796.28, "token_share": 0.00324, "denom_corr_scaled": 5.3137,
               "denom_corr_unscaled": 139379.97},
    "features": {"length_log": 4.44, "sum_w": 661.92, "sum_w2": 7351.84, "rb_entropy_sum": 22.33,
                 "var_logp": 1.179},
}


#: planted defects that make nearly every case fail (consistency, snis_weights, se_consistency,
#: linear/linquad agreement); snis_reliability and truncation_ratio still pass
FAILING = ("biased_gdotv", "negative_weights", "uncorrected_denominator", "shard_mean_se")


def make_run_set(root: Path, runs: int, n: int, defects=()) -> list[Path]:
    paths = []
    for r in range(1, runs + 1):
        doc = simulate.simulate_run(n, simulate.DEFAULT_ETAS, seed=1000 + r,
                                    defects=defects)
        for i, rec in enumerate(doc["approx"]["per_sequence"]):
            rec.update({k: (dict(v) if isinstance(v, dict) else v * (1 + 1e-3 * i)) for k, v in _EXTRA.items()})
        p = root / f"run_{r:02d}" / "results.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(simulate._dump(doc))
        paths.append(p)
    return paths


_MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)
"""


def measure(cmd: list[str], repeat: int = 3) -> dict:
    """Best-of-``repeat`` wall time (s) and peak RSS (MiB) of ``cmd`` in a fresh process tree."""
    best = None
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True,
                             cwd=REPO, check=True).stdout.split()
        wall, rss_kib, rc = float(out[0]), int(out[1]), int(out[2])
        if best is None or wall < best["seconds"]:
            best = {"seconds": wall, "peak_rss_mib": rss_kib / 1024, "exit": rc}
    return best


def parsed_size(path: Path) -> float:
    """MiB of Python objects that ``json.load`` makes of one file (tracemalloc peak)."""
    code = ("import json,sys,tracemalloc\ntracemalloc.start()\nd=json.load(open(sys.argv[1]))\n"
            "print(tracemalloc.get_traced_memory()[1])")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout) / 2**20


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--sequences", type=int, default=2048)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default=str(REPO / "bench" / "out" / "speed"))
    args = p.parse_args(argv)
    out = Path(args.out)
    healthy, failing = out / f"E_{args.sequences}", out / f"E_{args.sequences}_failing"
    if not healthy.exists():
        make_run_set(healthy, args.runs, args.sequences)
    if not failing.exists():
        make_run_set(failing, args.runs, args.sequences, defects=FAILING)
    files = sorted(healthy.glob("run_*/results.json"))
    small = out / f"E_{args.sequences}_10runs"  # the first 10 runs: memory must not grow with runs
    if not small.exists():
        for f in files[:10]:
            (small / f.parent.name).mkdir(parents=True, exist_ok=True)
            os.symlink(f, small / f.parent.name / "results.json")
    mb = sum(f.stat().st_size for f in files) / 1e6
    loader = "import json,sys\nfor p in sys.argv[1:]:\n    with open(p) as f: json.load(f)"
    oloader = "import orjson,sys\nfor p in sys.argv[1:]:\n    with open(p,'rb') as f: orjson.loads(f.read())"
    gate = [sys.executable, "-m", "pytest", "checks/", "-q", "-p", "no:cacheprovider", "--results"]
    r = {
        "files": len(files), "total_mb": round(mb, 1), "largest_mb": max(f.stat().st_size for f in files) / 1e6,
        "json_load": measure([sys.executable, "-c", loader, *map(str, files)], args.repeat),
        "orjson": measure([sys.executable, "-c", oloader, *map(str, files)], args.repeat),
        "gate": measure(gate + [str(healthy), "--reports", str(out / "r1")], args.repeat),
        "gate_n2": measure(gate + [str(healthy), "--reports", str(out / "r2"), "-n", "2"], args.repeat),
        "parsed_mib": parsed_size(max(files, key=lambda f: f.stat().st_size)),
        "gate_10_runs": measure(gate + [str(small), "--reports", str(out / "r4")], args.repeat),
        "gate_failing": measure(gate + [str(failing), "--reports", str(out / "r3")], args.repeat),
    }
    r["ratio_gate_over_json_load"] = r["gate"]["seconds"] / r["json_load"]["seconds"]
    r["ratio_gate_over_orjson"] = r["gate"]["seconds"] / r["orjson"]["seconds"]
    r["speedup_n2"] = r["gate"]["seconds"] / r["gate_n2"]["seconds"]
    r["failing_over_healthy"] = r["gate_failing"]["seconds"] / r["gate"]["seconds"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "gate_speed.json").write_text(json.dumps(r, indent=2))
    print(f"{len(files)} files, {mb:.1f} MB (largest {r['largest_mb']:.2f} MB)")
    print("| measurement | wall s | peak RSS MiB | exit |\n|---|---|---|---|")
    for k in ("json_load", "orjson", "gate", "gate_n2", "gate_10_runs", "gate_failing"):
        m = r[k]
        print(f"| {k} | {m['seconds']:.2f} | {m['peak_rss_mib']:.0f} | {m['exit']} |")
    print(f"gate / json.load = {r['ratio_gate_over_json_load']:.2f}; gate / orjson = "
          f"{r['ratio_gate_over_orjson']:.2f}; serial / -n 2 = {r['speedup_n2']:.2f}; failing/healthy "
          f"= {r['failing_over_healthy']:.2f}; one file parsed = {r['parsed_mib']:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

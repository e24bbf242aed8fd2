"""Gate speed and memory at real file sizes.

    python bench/gate_speed.py [--runs 100] [--sequences 2048] [--repeat 3] [--profile]
                               [--out bench/out/speed]
    python bench/gate_speed.py --scale [--repeat 2] [--real DIR] [--out bench/out/scale]

``--scale``: the gate as the work grows, on copies of the real files (100 and 1 000 runs, a
failing set with and without figures, serial and ``-n 2``, invalid runs): :mod:`gate_scale`;
``--scale --figures``: only the serial failing set with and without figures.

Writes, once (kept in ``--out`` and reused while the parameters match), run sets of simulated
E=2048 runs (``--sequences``) in the real producer's full layout (``simulate_run(shape="real")``: every field
of a real results.json, per-sequence records with ``extras``/``features``, ≈ 3 MB per file):

* ``E_2048``         2 η (``simulate.REAL_2048_ETAS``), as the real E_2048 run set;
* ``E_2048_5eta``    the producer's 5-η grid (``simulate.DEFAULT_ETAS``), ≈ 4.2 MB per file;
* ``E_2048_failing`` 2 η with planted defects that fail most cases (:data:`FAILING`);
* ``E_2048_10runs``  the first 10 runs of ``E_2048`` (symlinks): peak RSS must not grow with runs;
* ``E_example``      the embedded example run set (3 runs × 4 η, n = 256): -n 2 must not be slower.

Entropy noise 0.01 and score noise 0.5 as in the calibration. Each command runs as a whole
fresh process ``--repeat`` times; the table shows the median wall time, the median CPU time
(user + sys of the process tree) and the largest peak RSS of one process of the tree
(``getrusage(RUSAGE_CHILDREN).ru_maxrss`` in a wrapper process). ``--profile`` adds a cProfile
of the serial gate on ``E_2048`` (``<out>/gate_serial.prof``, top 20 by own time and by cumulative time).
Results also go to ``<out>/gate_speed.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import pstats
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dhstats import simulate  # noqa: E402

NOISE = dict(entropy_noise=0.01, score_noise=0.5)
#: planted defects that make most cases fail (consistency, snis_weights, se_consistency,
#: linear/linquad agreement); snis_reliability and truncation_ratio still pass
FAILING = ("biased_gdotv", "negative_weights", "uncorrected_denominator", "shard_mean_se")

_MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
wall = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
tail = (p.stdout.decode(errors="replace").strip().splitlines() or [""])[-1]
print(json.dumps([wall, r.ru_utime + r.ru_stime, r.ru_maxrss, p.returncode, tail]))
"""
_JSON = "import json,sys\nfor p in sys.argv[1:]:\n    with open(p, 'rb') as f: json.load(f)"
_ORJSON = "import orjson,sys\nfor p in sys.argv[1:]:\n    with open(p, 'rb') as f: orjson.loads(f.read())"


def run_set(root: Path, runs: int, n: int, etas, defects=()) -> Path:
    """``root`` with ``run_NN/results.json`` for NN = 1..runs (written unless the stamp matches)."""
    stamp = json.dumps({"runs": runs, "n": n, "etas": list(etas), "defects": list(defects),
                        "noise": NOISE, "shape": "real"}, sort_keys=True)
    if not (root / "stamp.json").exists() or (root / "stamp.json").read_text() != stamp:
        for old in root.glob("run_*/results.json"):
            old.unlink()
        simulate.write_run_set(root.parent, name=root.name, runs=runs, n=n, etas=etas, seed=11,
                               defects=defects, shape="real", **NOISE)
        (root / "stamp.json").write_text(stamp)
    return root


def first_runs(src: list[Path], root: Path) -> Path:
    """``root`` with symlinks to the run directories of ``src``."""
    root.mkdir(parents=True, exist_ok=True)
    for f in src:
        link = root / f.parent.name
        if not link.exists():
            os.symlink(f.parent, link)
    return root


def measure(cmd: list[str], repeat: int) -> dict:
    """Median wall and CPU seconds, largest peak RSS (MiB), the exit codes and the last output
    line (pytest's summary) of ``cmd``."""
    rows = [json.loads(subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True,
                                      text=True, cwd=REPO, check=True).stdout) for _ in range(repeat)]
    return {"wall": statistics.median(r[0] for r in rows), "wall_min": min(r[0] for r in rows), "cpu": statistics.median(r[1] for r in rows),
            "rss": max(r[2] for r in rows) / 1024, "exit": sorted({r[3] for r in rows}),
            "summary": rows[-1][4], "load": os.getloadavg()[0]}


def gate(root: Path, reports: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "checks/", "-q", "-p", "no:cacheprovider",
            "--results", str(root), "--reports", str(reports), *extra]


def commands(sets: dict[str, Path], out: Path) -> dict[str, dict[str, list[str]]]:
    """{row: {run set: command}} of the table."""
    files = {k: [str(f) for f in sorted(v.glob("run_*/results.json"))] for k, v in sets.items()}
    rows: dict[str, dict[str, list[str]]] = {"json.load": {}, "orjson": {}, "gate serial": {},
                                             "gate -n 2": {}, "gate -p no:html": {}}
    for k in ("2 η", "5 η"):
        rows["json.load"][k] = [sys.executable, "-c", _JSON, *files[k]]
        rows["orjson"][k] = [sys.executable, "-c", _ORJSON, *files[k]]
        rows["gate serial"][k] = gate(sets[k], out / "reports" / k / "serial")
        rows["gate -n 2"][k] = gate(sets[k], out / "reports" / k / "n2", "-n", "2")
        rows["gate -p no:html"][k] = gate(sets[k], out / "reports" / k / "nohtml", "-p", "no:html")
    for flag, row in (((), "gate serial"), (("-n", "2"), "gate -n 2"), (("-p", "no:html"), "gate -p no:html")):
        rows[row]["example"] = gate(sets["example"], out / "reports" / "example" / row.replace(" ", ""), *flag)
    rows["gate, failing set"] = {"2 η": gate(sets["failing"], out / "reports" / "failing")}
    rows["gate, first 10 runs"] = {"2 η": gate(sets["10 runs"], out / "reports" / "10runs")}
    return rows


def table(results: dict, columns: dict[str, str]) -> str:
    """Markdown: one row per command, (wall, CPU, peak RSS) per column {key: heading}."""
    head = "| command | " + " | ".join(f"{c}: wall s | CPU s | peak RSS MiB" for c in columns.values()) + " |"
    lines = [head, "|---" * (1 + 3 * len(columns)) + "|"]
    for row, cells in results.items():
        vals = []
        for c in columns:
            m = cells.get(c)
            bad = "" if m is None or m["exit"] in ([0], [1]) else f" (exit {m['exit']})"
            vals += ["—"] * 3 if m is None else [f"{m['wall']:.2f}{bad}", f"{m['cpu']:.2f}", f"{m['rss']:.0f}"]
        lines.append(f"| {row} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def profile(root: Path, out: Path, top: int = 20) -> str:
    """cProfile of the serial gate on ``root``: the ``top`` functions by own time, then the
    ``top`` functions of dhstats, orjson and pytest-html by cumulative time."""
    prof = out / "gate_serial.prof"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "pytest", "checks/", "-q",
                    "-p", "no:cacheprovider", "--results", str(root), "--reports", str(out / "reports" / "prof")],
                   cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import io
    buf = io.StringIO()
    stats = pstats.Stats(str(prof), stream=buf)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(r"dhstats/|orjson|pytest_html/", top)
    return buf.getvalue()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--scale" in argv:
        from gate_scale import main as scale

        return scale([a for a in argv if a != "--scale"])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=100, help="runs per run set (default 100)")
    p.add_argument("--sequences", type=int, default=2048, help="E, sequences per run (default 2048)")
    p.add_argument("--repeat", type=int, default=3, help="repetitions of each command (median; default 3)")
    p.add_argument("--out", default=str(REPO / "bench" / "out" / "speed"))
    p.add_argument("--profile", action="store_true", help="also profile the serial gate (cProfile, top 20)")
    p.add_argument("--scale", action="store_true", help="the scale bench instead (bench/gate_scale.py)")
    args = p.parse_args(argv)
    out = Path(args.out)
    n, name = args.sequences, f"E_{args.sequences}"
    two = run_set(out / name, args.runs, n, simulate.REAL_2048_ETAS)
    sets = {"2 η": two,
            "5 η": run_set(out / f"{name}_5eta", args.runs, n, simulate.DEFAULT_ETAS),
            "failing": run_set(out / f"{name}_failing", args.runs, n, simulate.REAL_2048_ETAS, FAILING),
            "10 runs": first_runs(sorted(two.glob("run_*/results.json"))[:10], out / f"{name}_10runs"),
            "example": simulate.write_example(out)}
    sizes = {k: [f.stat().st_size for f in sets[k].glob("run_*/results.json")] for k in ("2 η", "5 η")}
    results = {row: {k: measure(cmd, args.repeat) for k, cmd in cells.items()}
               for row, cells in commands(sets, out).items()}
    s, e = results["gate serial"]["2 η"], results
    summary = {
        "serial / orjson": s["wall"] / e["orjson"]["2 η"]["wall"],
        "serial / json.load": s["wall"] / e["json.load"]["2 η"]["wall"],
        "speed-up of -n 2": s["wall"] / e["gate -n 2"]["2 η"]["wall"],
        "failing / healthy": e["gate, failing set"]["2 η"]["wall"] / s["wall"],
        f"peak RSS {args.runs} runs / 10 runs": s["rss"] / e["gate, first 10 runs"]["2 η"]["rss"],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "gate_speed.json").write_text(json.dumps({"sizes": sizes, "results": results, "summary": summary},
                                                    indent=2))
    for k, v in sizes.items():
        print(f"{name} {k}: {len(v)} files, {sum(v) / 1e6:.0f} MB ({sum(v) / len(v) / 1e6:.2f} MB each); ", end="")
    loads = [m["load"] for cells in results.values() for m in cells.values()]
    print(f"medians of {args.repeat}, {os.cpu_count()} CPUs, 1-min load average {min(loads):.1f}–{max(loads):.1f}"
          " (wall times are only meaningful when it stays below the CPU count; CPU times less affected)")
    print(table(results, {"2 η": f"{name} 2 η", "5 η": f"{name} 5 η", "example": "E_example"}))
    for row, cells in results.items():
        if row.startswith("gate"):
            print(f"  {row}: " + "; ".join(f"{k}: {m['summary']}" for k, m in cells.items()))
    print(f"{name} 2 η: " + "; ".join(f"{k} = {v:.2f}" for k, v in summary.items()))
    if args.profile:
        print(profile(sets["2 η"], out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Gate speed as the work grows: ``python bench/gate_speed.py --scale`` (or this file).

    python bench/gate_scale.py [--repeat 2] [--real ../shared/data/real] [--out bench/out/scale]
                               [--no-browser] [--figures]

Copies of the real producer files (``<real>/E_256``, ``<real>/E_512``; default ``../shared``
beside the project root), written once under ``--out`` and reused:

* ``runs100/E_256``, ``runs1000/E_256``: 100 and 1 000 runs cycling the 4 real E_256 runs,
  judged with ``--reported-se shard-mean`` (the real files' convention): the healthy case;
* ``failing/E_512``: 100 runs cycling the 4 real E_512 runs, judged without
  ``--reported-se shard-mean``: se_consistency fails in every run (one figure each, 24 drawn by
  the default ``--max-plots``) and the pooled cases fail; with and without figures
  (``--max-plots 0``), serial and ``-n 2``;
* ``invalid/E_256``: 5 000 runs of which 4 998 are truncated files (invalid input), beside
  ``floor``: a plain pytest module with as many tests failing with the same message
  (``pytest.fail(pytrace=False)``) — what a failed input test costs in pytest itself.

``--large N`` measures only the outputs' linearity: 1 000 and N distinct real-size E_256 runs
(``runs1000``, ``runs<N>``; N = 10 000 takes ≈ 10 minutes to write, 5 GB, and about as long to
judge), each session serial and alone, pinned to one core when ``os.sched_setaffinity`` is
there: wall time, peak RSS, the time after the last test (health.json, report.html, badges),
health.json's size and bytes per case, and the N / 1 000 ratios. Writes ``<out>/gate_large.md``.

``--figures`` measures only the serial failing set with and without figures (the cost of the
24 failure figures, ≈ 1 minute instead of 6), alternating the two commands.

Every gate command runs with ``--history none`` as a whole fresh process, ``--repeat`` times;
the table has the best (smallest) wall time, the largest peak RSS of one process of the tree
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``) and report.html's size; then the ratios the speed
targets are stated in, all from this one run of the bench. With Chromium installed, the time
headless Chromium takes to render the 1 000-run report.html (screenshot) is added.
Writes ``<out>/gate_scale.md`` and ``<out>/gate_scale.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
wall = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
lines = [ln for ln in p.stdout.decode(errors="replace").splitlines() if ln.strip()]
print(json.dumps([wall, r.ru_maxrss, p.returncode, lines[-1] if lines else ""]))
"""
INVALID_RUNS, VALID_AMONG_INVALID = 5000, 2


def copies(src: Path, root: Path, runs: int) -> Path:
    """``root/run_0001 … run_<runs>``, each a copy of the next run of ``src`` (cycling). From the
    second cycle on, the first sequence's gdotv is moved by as many ulps as the cycle's number
    (the file rewritten as the producer writes it: ``json.dumps(indent=2)``, the same bytes
    otherwise), so that each copy is a run of its own — the gate refuses a byte or array copy
    (``duplicate_run``) — judged like its original."""
    files = sorted(src.glob("run_*/results.json"))
    if not files:
        raise SystemExit(f"no run_*/results.json under {src} (give --real)")
    stamp = root / "distinct-copies"
    if root.exists() and not stamp.exists():  # written by an earlier bench: exact copies
        for old in root.glob("run_*/results.json"):
            old.unlink()
    docs: dict[int, dict] = {}
    for i in range(runs):
        dst = root / f"run_{i + 1:04d}" / "results.json"
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            cycle, which = divmod(i, len(files))
            if cycle == 0:
                shutil.copyfile(files[which], dst)
                continue
            doc = docs.setdefault(which, json.loads(files[which].read_text()))
            first = doc["approx"]["per_sequence"][0]
            original = first["gdotv"]
            for _ in range(cycle):
                first["gdotv"] = math.nextafter(first["gdotv"], math.inf)
            dst.write_text(json.dumps(doc, indent=2))
            first["gdotv"] = original
    stamp.write_text("each run_* a distinct run\n")
    return root


def invalid_set(real: Path, root: Path) -> Path:
    """:data:`INVALID_RUNS` runs: the first :data:`VALID_AMONG_INVALID` real, the others one
    truncated file (:func:`dhstats.simulate.write_malformed`)."""
    from dhstats import simulate

    copies(real, root, VALID_AMONG_INVALID)
    bad = simulate.write_malformed(root.parent / "truncated.json", "truncated").read_bytes()
    for i in range(VALID_AMONG_INVALID, INVALID_RUNS):
        dst = root / f"run_{i + 1:04d}" / "results.json"
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(bad)
    return root


def floor_module(out: Path, failing: int, message: str) -> Path:
    """A pytest module of ``failing`` tests failing with ``message`` (no traceback)."""
    path = out / "floor" / "test_floor.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("import pytest\n\nMESSAGE = " + repr(message) + "\n\n\n"
                    f"@pytest.mark.parametrize('i', range({failing}))\n"
                    "def test_input(i):\n    pytest.fail(MESSAGE, pytrace=False)\n")
    return path


def measure(cmd: list[str], repeat: int, report: Path | None) -> dict:
    """Best wall s, largest peak RSS MiB, exit codes, pytest's last line, report.html MB."""
    rows = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True,
                             cwd=REPO, check=True).stdout
        rows.append(json.loads(out))
    html = report / "report.html" if report is not None else None
    return {"wall": min(r[0] for r in rows), "walls": [r[0] for r in rows], "rss": max(r[1] for r in rows) / 1024,
            "exit": sorted({r[2] for r in rows}), "summary": rows[-1][3],
            "html_mb": html.stat().st_size / 1e6 if html is not None and html.exists() else None,
            "load": os.getloadavg()[0]}


def gate(root: Path, reports: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "checks/", "-q", "-p", "no:cacheprovider", "--history", "none",
            "--results", str(root), "--reports", str(reports), *extra]


def plan(real: Path, out: Path) -> dict[str, tuple[list[str], Path | None]]:
    """{row: (command, reports directory)} of the table, the run sets written first."""
    r100 = copies(real / "E_256", out / "runs100" / "E_256", 100)
    r1000 = copies(real / "E_256", out / "runs1000" / "E_256", 1000)
    failing = copies(real / "E_512", out / "failing" / "E_512", 100)
    invalid = invalid_set(real / "E_256", out / "invalid" / "E_256")
    shard = ("--reported-se", "shard-mean")
    rep = out / "reports"
    rows = {
        "100 runs E_256": (gate(r100, rep / "r100", *shard), rep / "r100"),
        "1 000 runs E_256": (gate(r1000, rep / "r1000", *shard), rep / "r1000"),
        "failing, 100 runs E_512": (gate(failing, rep / "f"), rep / "f"),
        "failing, --max-plots 0": (gate(failing, rep / "f0", "--max-plots", "0"), rep / "f0"),
        "failing, -n 2": (gate(failing, rep / "fn2", "-n", "2"), rep / "fn2"),
        "failing, -n 2 --max-plots 0": (gate(failing, rep / "fn20", "-n", "2", "--max-plots", "0"), rep / "fn20"),
        f"{INVALID_RUNS} runs, {INVALID_RUNS - VALID_AMONG_INVALID} invalid": (gate(invalid, rep / "inv", *shard),
                                                                                rep / "inv"),
    }
    return rows


def invalid_message(reports: Path) -> str:
    """The message of the first invalid run in ``reports/health.json`` (for the floor)."""
    health = json.loads((reports / "health.json").read_text())
    return next(r["message"] for r in health["runs"] if r["outcome"] == "error")


def open_seconds(page: Path) -> float | None:
    """Seconds headless Chromium takes to load and render ``page`` (a screenshot), or None."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from browser import chromium, screenshot
    except ImportError:
        return None
    if chromium() is None or not page.exists():
        return None
    t = time.perf_counter()
    screenshot(page, page.with_suffix(".png"), budget_ms=1000, timeout=900)
    return time.perf_counter() - t


def ratios(m: dict) -> dict[str, float]:
    inv = f"{INVALID_RUNS} runs, {INVALID_RUNS - VALID_AMONG_INVALID} invalid"
    w = {k: v["wall"] for k, v in m.items()}
    return {
        "1 000 runs / 100 runs (wall)": w["1 000 runs E_256"] / w["100 runs E_256"],
        "failing / failing --max-plots 0 (serial)": w["failing, 100 runs E_512"] / w["failing, --max-plots 0"],
        "failing / failing --max-plots 0 (-n 2)": w["failing, -n 2"] / w["failing, -n 2 --max-plots 0"],
        "failing -n 2 / serial": w["failing, -n 2"] / w["failing, 100 runs E_512"],
        "failing -n 2 / serial, --max-plots 0": w["failing, -n 2 --max-plots 0"] / w["failing, --max-plots 0"],
        "invalid runs / pytest floor": w[inv] / w["pytest floor: as many failing tests"],
        "peak RSS growth per run, KiB (100 → 1 000 runs)":
            (m["1 000 runs E_256"]["rss"] - m["100 runs E_256"]["rss"]) * 1024 / 900,
    }


def table(m: dict, r: dict, opened: float | None) -> str:
    lines = ["| situation | wall s (best) | peak RSS MiB | report.html MB | pytest |", "|---|---|---|---|---|"]
    for row, v in m.items():
        html = "—" if v["html_mb"] is None else f"{v['html_mb']:.2f}"
        lines.append(f"| {row} | {v['wall']:.2f} | {v['rss']:.0f} | {html} | {v['summary']} |")
    lines += ["", "| ratio | value |", "|---|---|"] + [f"| {k} | {v:.2f} |" for k, v in r.items()]
    if opened is not None:
        lines.append(f"| Chromium renders the 1 000-run report.html, s | {opened:.1f} |")
    return "\n".join(lines)


_PHASES = """
import resource, sys, time

import pytest

T0 = time.perf_counter()


def _mark(name):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stderr.write(f"PHASE {name} {time.perf_counter() - T0:.2f} {rss:.0f}\\n")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    _mark("last_test")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure():
    _mark("end")
"""


def phased(cmd: list[str], plugins: Path) -> dict:
    """One session, alone and pinned to one core where possible: wall s, peak RSS MiB, and
    the seconds from its last test to its end (the outputs) from a timing plugin."""
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "dhstats_phases.py").write_text(_PHASES)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(plugins), os.environ.get("PYTHONPATH")]))}
    pin = None
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        pin = lambda: os.sched_setaffinity(0, {core})  # noqa: E731
    t = time.perf_counter()
    p = subprocess.run([*cmd, "-p", "dhstats_phases"], capture_output=True, text=True, cwd=REPO, env=env,
                       preexec_fn=pin)
    wall = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    marks = {ln.split()[1]: float(ln.split()[2]) for ln in p.stderr.splitlines() if ln.startswith("PHASE ")}
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    return {"wall": wall, "rss": rss, "outputs": marks.get("end", math.nan) - marks.get("last_test", math.nan),
            "exit": p.returncode, "summary": lines[-1] if lines else ""}


def large(real: Path, out: Path, runs: int) -> int:
    """1 000 and ``runs`` runs, serial, one session at a time: the outputs' linearity."""
    rep, rows = out / "reports", {}
    for n in dict.fromkeys((1000, runs)):
        root = copies(real / "E_256", out / f"runs{n}" / "E_256", n)
        reports = rep / f"large{n}"
        m = phased(gate(root, reports, "--reported-se", "shard-mean"), out / "plugins")
        health = reports / "health.json"
        cases = json.loads(health.read_bytes())["counts"]["cases"]["total"]
        m.update(health_mb=health.stat().st_size / 1e6, bytes_per_case=health.stat().st_size / cases, cases=cases)
        rows[n] = m
        print(f"{n} runs: {m}", flush=True)
    a, b = rows[1000], rows[runs]
    lines = [f"{os.cpu_count()} CPUs, each session pinned to one core; 1-min load average {os.getloadavg()[0]:.1f}", "",
             "| runs | wall s | after the last test s | peak RSS MiB | health.json MB | bytes a case |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {n} | {m['wall']:.1f} | {m['outputs']:.1f} | {m['rss']:.0f} | {m['health_mb']:.1f} | "
              f"{m['bytes_per_case']:.0f} |" for n, m in rows.items()]
    lines += ["", f"{runs} / 1 000 runs: wall {b['wall'] / a['wall']:.2f}×, peak RSS {b['rss'] / a['rss']:.2f}×, "
              f"health.json {b['health_mb'] / a['health_mb']:.2f}×"]
    text = "\n".join(lines)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gate_large.md").write_text(text + "\n")
    print(text)
    return 0


def figures_only(real: Path, out: Path, repeat: int) -> int:
    """The serial failing set with and without figures, the two commands alternating
    (``repeat`` times each: a load change hits both), their best walls and the ratio."""
    failing = copies(real / "E_512", out / "failing" / "E_512", 100)
    rep = out / "reports"
    rows = {"failing, 100 runs E_512": (gate(failing, rep / "f"), rep / "f"),
            "failing, --max-plots 0": (gate(failing, rep / "f0", "--max-plots", "0"), rep / "f0")}
    runs: dict[str, list[dict]] = {row: [] for row in rows}
    for _ in range(repeat):
        for row, (cmd, reports) in rows.items():
            runs[row].append(measure(cmd, 1, reports))
    m = {row: {**min(ms, key=lambda v: v["wall"]), "walls": [v["wall"] for v in ms],
               "rss": max(v["rss"] for v in ms), "load": max(v["load"] for v in ms)} for row, ms in runs.items()}
    w = {row: v["wall"] for row, v in m.items()}
    ratio = w["failing, 100 runs E_512"] / w["failing, --max-plots 0"]
    lines = [f"best of {repeat}, alternating; {os.cpu_count()} CPUs; 1-min load average ≤ "
             f"{max(v['load'] for v in m.values()):.1f}", "",
             "| situation | wall s (best) | walls | report.html MB |", "|---|---|---|---|"]
    lines += [f"| {row} | {v['wall']:.2f} | {' '.join(f'{x:.2f}' for x in v['walls'])} | "
              f"{'—' if v['html_mb'] is None else format(v['html_mb'], '.2f')} |" for row, v in m.items()]
    lines += ["", f"failing / failing --max-plots 0 (serial): {ratio:.2f}"]
    text = "\n".join(lines)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gate_figures.md").write_text(text + "\n")
    (out / "gate_figures.json").write_text(json.dumps({"measures": m, "ratio": ratio}, indent=2))
    print(text)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=2, help="runs of each command (best wall; default 2)")
    p.add_argument("--real", default=str(REPO.parent / "shared" / "data" / "real"),
                   help="directory holding the real E_256 and E_512 run sets (default ../shared/data/real)")
    p.add_argument("--out", default=str(REPO / "bench" / "out" / "scale"))
    p.add_argument("--no-browser", action="store_true", help="skip the Chromium rendering time")
    p.add_argument("--figures", action="store_true",
                   help="only the serial failing set with and without figures (--max-plots 0)")
    p.add_argument("--large", type=int, metavar="N",
                   help="only the outputs' linearity: 1 000 and N runs, serial, one core (N = 10000: ≈ 30 minutes)")
    args = p.parse_args(argv)
    out, real = Path(args.out), Path(args.real)
    if args.large:
        return large(real, out, args.large)
    if args.figures:
        return figures_only(real, out, args.repeat)
    rows = plan(real, out)
    started = time.perf_counter()
    m = {row: measure(cmd, args.repeat, rep) for row, (cmd, rep) in rows.items()}
    inv = f"{INVALID_RUNS} runs, {INVALID_RUNS - VALID_AMONG_INVALID} invalid"
    floor = floor_module(out, INVALID_RUNS - VALID_AMONG_INVALID, invalid_message(rows[inv][1]))
    m["pytest floor: as many failing tests"] = measure(
        [sys.executable, "-m", "pytest", str(floor), "-q", "-p", "no:cacheprovider", f"--html={floor.parent / 'report.html'}",
         "--self-contained-html"], args.repeat, floor.parent)
    opened = None if args.no_browser else open_seconds(rows["1 000 runs E_256"][1] / "report.html")
    r = ratios(m)
    loads = [v["load"] for v in m.values()]
    head = (f"best of {args.repeat}; {os.cpu_count()} CPUs; 1-min load average {min(loads):.1f}–{max(loads):.1f}; "
            f"bench {time.perf_counter() - started:.0f} s")
    text = head + "\n\n" + table(m, r, opened)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gate_scale.md").write_text(text + "\n")
    (out / "gate_scale.json").write_text(json.dumps({"measures": m, "ratios": r, "chromium_open_s": opened,
                                                     "head": head}, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Hazards where a gate session's outputs go, for the fuzz campaign's *outputs* mode
(tests/test_fuzz.py): symbolic links (to files and directories outside the reports directory,
dangling, looping), occupied paths (a directory where a file goes, a file where a directory
goes), FIFOs, malformed history and manifest files; Ctrl-C at a random moment; SIGKILL at a
random moment and writes that fail (a file-size limit, as a full disk) after a session that
left a verdict.

Everything is made under one scratch directory: ``outside/`` (what must never change),
``E_fuzz/`` (the run set) and ``reports/``. The invariants of every session
(:func:`session_failures`, :func:`signal_failures`):

* no traceback (no exception escapes; nothing on stderr names one);
* nothing outside the reports directory changed (``outside/`` and the run set, byte for byte,
  links included);
* no passing verdict for an unfinished session (interrupted → health.json and the history's
  line say so, never exit status 0);
* every run found is in health.json (``runs`` or ``not_judged``), whenever one is written;
* killed or failed writes (:func:`kill_failures`): health.json, the overall badge and
  report.html are absent, the "session in progress" state or the new session's verdict —
  never the earlier session's; the next session leaves no temporary file.
"""
from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

#: where outputs go, relative to reports/: (path, is a directory)
SPOTS = (
    ("health.json", False), ("report.html", False), ("history.jsonl", False), (".dhstats-manifest.json", False),
    ("badges", True), ("badges/estimator-health.svg", False), ("badges/trend.svg", False),
    ("runs", True), ("runs/E_fuzz", True), ("runs/E_fuzz/run_02.html", False),
)
KINDS = ("link_file", "link_dir", "dangling", "loop", "directory", "file", "fifo", "garbage_history",
         "other_shape_history", "hostile_manifest")
RUNS = ("run_01", "run_02", "run_03")


@dataclass
class Hazard:
    spot: str
    kind: str

    def describe(self) -> str:
        return f"{self.kind} at reports/{self.spot}"


@dataclass
class Scene:
    """One session's scratch directory."""

    root: Path
    hazards: list[Hazard] = field(default_factory=list)

    @property
    def outside(self) -> Path:
        return self.root / "outside"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def run_set(self) -> Path:
        return self.root / "E_fuzz"


def tree(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (links not followed): kind and content or target."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            st = p.lstat()
            key = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[key] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                out[key] = ("file", p.read_bytes())
            else:
                out[key] = ("other", stat.S_IFMT(st.st_mode))
    return out


def build(root: Path, hazards: list[Hazard], runs: dict[str, bytes]) -> Scene:
    """Lay out ``outside/`` (files and a directory with a file), the run set and reports/
    with the hazards in place (a later hazard at a spot already taken is dropped)."""
    scene = Scene(root)
    shutil.rmtree(root, ignore_errors=True)
    (scene.outside / "dir").mkdir(parents=True)
    (scene.outside / "dir" / "keep.txt").write_text("keep")
    (scene.outside / "file.txt").write_text("outside file\n")
    (scene.outside / "history.jsonl").write_text(json.dumps({"checks": {}, "cases": {"failed": 0},
                                                             "runs": {"error": 0}, "run_sets": []}) + "\n")
    for name, raw in runs.items():
        (scene.run_set / name).mkdir(parents=True)
        (scene.run_set / name / "results.json").write_bytes(raw)
    scene.reports.mkdir()
    taken: set[str] = set()
    for h in hazards:
        path = scene.reports / h.spot
        if any(h.spot == t or h.spot.startswith(t + "/") or t.startswith(h.spot + "/") for t in taken):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(path) or not _place(scene, path, h.kind):
            continue
        taken.add(h.spot)
        scene.hazards.append(h)
    return scene


def _place(scene: Scene, path: Path, kind: str) -> bool:
    if kind == "link_file":
        path.symlink_to(scene.outside / ("history.jsonl" if path.name == "history.jsonl" else "file.txt"))
    elif kind == "link_dir":
        path.symlink_to(scene.outside / "dir")
    elif kind == "dangling":
        path.symlink_to(scene.outside / "nowhere")
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "directory":
        path.mkdir()
        (path / "keep.txt").write_text("the user's")
    elif kind == "file":
        path.write_text("the user's file\n")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "garbage_history" and path.name == "history.jsonl":
        path.write_bytes(b'not json\n\xff\xfe\n{"checks": 3}\n[1]\n{"time": "t", "checks"')
    elif kind == "other_shape_history" and path.name == "history.jsonl":
        path.write_text('{"time": "t", "checks": {"x": 1}, "cases": "?", "runs": []}\n')
    elif kind == "hostile_manifest" and path.name == ".dhstats-manifest.json":
        listed = ["../outside/file.txt", "/etc/hostname", "runs/../../outside/file.txt", "badges/keep.txt",
                  "runs/E_fuzz/keep.txt", "runs/keep.txt", "runs", "badges"]
        path.write_text(json.dumps({"files": listed}))
    else:
        return False
    return True


def draw(rng: random.Random, k: int | None = None) -> list[Hazard]:
    k = rng.randint(1, 4) if k is None else k
    return [Hazard(rng.choice(SPOTS)[0], rng.choice(KINDS)) for _ in range(k)]


def _found(health: dict) -> set[str]:
    return {r["run"] for r in health.get("runs", [])} | {r["run"] for r in health.get("not_judged", [])}


def _after_the_verdict(text: str, health: dict | None) -> bool:
    """Whether a session that ended by SIGINT (exit status −2) was hit after its verdict: its
    health.json is the whole verdict (not the in-progress state, an exit status, every run),
    pytest printed its last line, and a traceback, if any, is pytest's own clean-up after it
    (``_ensure_unconfigure``; Python ends a process by the signal when KeyboardInterrupt
    escapes, and after its shutdown has put SIGINT's default action back). Such a session is
    never a pass (CI sees −2) and its outputs are its verdict: what a Ctrl-C at that moment
    can leave, and the gate no longer runs."""
    complete = (health is not None and not health.get("in_progress")
                and health.get("exit", {}).get("status") is not None and _found(health) == set(RUNS))
    last_line = re.search(r"\b(passed|failed|error|errors|skipped|deselected|no tests ran)\b.* in [0-9.]+s", text)
    trace = text[text.index("Traceback"):] if "Traceback" in text else ""
    return complete and last_line is not None and (not trace or "_ensure_unconfigure" in trace)


def _read_health(scene: Scene) -> dict | None:
    p = scene.reports / "health.json"
    if p.is_symlink() or not p.is_file():
        return None
    return json.loads(p.read_text())


def session_failures(scene: Scene) -> list[str]:
    """One whole session in this process, as the plugin drives it (the reports directory and
    --history checked first: a refusal is a usage error, not a failure), then the invariants."""
    from dhstats.session import Session
    from dhstats.report.history import usable_history
    from dhstats.gate.files import writable_reports
    from dhstats.load.settings import SettingsError, parse

    before_outside, before_runs = tree(scene.outside), tree(scene.run_set)
    out = []
    try:
        options = parse({"reports": str(scene.reports), "max_plots": "0"})
        writable_reports(options.reports)
        usable_history(options.history)
    except SettingsError:
        options = None
    except Exception as exc:  # noqa: BLE001 - the invariant
        out.append(f"traceback at start: {type(exc).__name__}: {exc}")
        options = None
    if options is not None:
        try:
            health = Session(options, [scene.run_set]).run()
        except Exception as exc:  # noqa: BLE001 - the invariant
            out.append(f"traceback: {type(exc).__name__}: {exc}")
        else:
            if _found(health) != set(RUNS):
                out.append(f"health.json runs {sorted(_found(health))}")
            written = _read_health(scene)
            if written is not None and _found(written) != set(RUNS):
                out.append(f"health.json on disk lists {sorted(_found(written))}")
    if tree(scene.outside) != before_outside:
        out.append("outside/ changed")
    if tree(scene.run_set) != before_runs:
        out.append("the run set changed")
    return out


def signal_failures(scene: Scene, project: Path, delay: float, timeout: float = 300) -> tuple[list[str], str]:
    """A ``pytest checks/`` session in a subprocess (fresh reports/), SIGINT after ``delay``
    seconds; returns the invariants' failures and what happened ("finished" or "interrupted")."""
    before_outside, before_runs = tree(scene.outside), tree(scene.run_set)
    cmd = [sys.executable, "-m", "pytest", "checks/", "-q", "-p", "no:cacheprovider", "--results",
           str(scene.run_set), "--reports", str(scene.reports), "--max-plots", "0"]
    proc = subprocess.Popen(cmd, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(project)})
    started = time.monotonic()  # from the gate's start (its report.html temporary exists): no
    while proc.poll() is None and time.monotonic() - started < 120:  # Ctrl-C into Python's own start-up
        if any(scene.reports.glob(".dhstats-*report.html*.tmp")):
            break
        time.sleep(0.02)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=timeout)
    text = (stdout + stderr).decode("utf-8", "replace")
    out = []
    health = _read_health(scene)
    what = {0: "finished", 1: "finished", 2: "interrupted", 4: "refused"}.get(proc.returncode, "other")
    if proc.returncode == -signal.SIGINT and _after_the_verdict(text, health):
        what = "ended by the signal after its verdict"
    else:
        if "Traceback" in text:
            out.append("a traceback: " + text[text.index("Traceback"):][:400])
        if proc.returncode not in (0, 1, 2, 4):
            out.append(f"exit status {proc.returncode}")
    if health is not None:
        if _found(health) != set(RUNS):
            out.append(f"health.json lists {sorted(_found(health))}")
        if proc.returncode == 2 and health["exit"]["status"] == 0:
            out.append("an interrupted session's health.json says exit 0")
        if health["exit"]["status"] != proc.returncode and proc.returncode in (0, 1):
            out.append(f"health.json exit {health['exit']['status']} but pytest exited {proc.returncode}")
        history = scene.reports / "history.jsonl"
        lines = history.read_bytes().splitlines() if history.is_file() and not history.is_symlink() else []
        if proc.returncode == 2 and lines and json.loads(lines[-1])["exit"]["status"] == 0:  # this session's
            out.append("an interrupted session's history line says exit 0")
    elif proc.returncode in (0, 1):
        out.append("a finished session wrote no health.json")
    if tree(scene.outside) != before_outside or tree(scene.run_set) != before_runs:
        out.append("something outside reports/ changed")
    return out, what


VERDICTS = ("health.json", "badges/estimator-health.svg", "report.html")
OLD_REPORT = b"<html><body>OLD VERDICT: every case passed</body></html>\n"


def _regular(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() and not path.is_symlink() else None


def _old_verdict(scene: Scene) -> dict[str, bytes | None]:
    """A first session in this process leaves its verdict; report.html a page of its own,
    published (listed in the manifest) as pytest-html's would be."""
    from dhstats.report.plan import record_published

    session_failures(scene)
    if not os.path.lexists(scene.reports / "report.html"):
        (scene.reports / "report.html").write_bytes(OLD_REPORT)
        try:
            record_published(scene.reports, "report.html")
        except OSError:
            pass
    return {rel: _regular(scene.reports / rel) for rel in VERDICTS}


def _stale_verdicts(scene: Scene, old: dict[str, bytes | None]) -> list[str]:
    """Verdict files that still hold the earlier session's verdict."""
    out = []
    health = _regular(scene.reports / "health.json")
    new_verdict = False
    if health is not None and health == old["health.json"]:
        out.append("health.json is the earlier session's")
    elif health is not None:
        try:
            doc = json.loads(health)
            new_verdict = doc["exit"]["status"] is not None
            if not new_verdict and not doc.get("in_progress"):
                out.append("health.json: no verdict and not in progress")
        except (ValueError, KeyError, TypeError):
            out.append("health.json is not JSON")
    badge = _regular(scene.reports / "badges/estimator-health.svg")
    if badge is not None and not new_verdict and b"session in progress" not in badge and b"not written" not in badge:
        out.append("the overall badge is a verdict while health.json has none")
    if badge is not None and badge == old["badges/estimator-health.svg"] and not new_verdict:
        out.append("the overall badge is the earlier session's")
    report = _regular(scene.reports / "report.html")
    if report is not None and b"OLD VERDICT" in report:
        out.append("report.html is the earlier session's")
    return out


def _temporaries(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith(".tmp")
                  or p.name.startswith(".dhstats-example-"))


def kill_failures(scene: Scene, project: Path, delay: float | None, fsize: int | None = None,
                  timeout: float = 300) -> tuple[list[str], str]:
    """A session that leaves a verdict (:func:`_old_verdict`), then a ``pytest checks/``
    subprocess (``--sigma 3.5``: its verdict differs) killed by SIGKILL ``delay`` seconds after
    it holds the reports directory, or run whole under ``RLIMIT_FSIZE = fsize`` bytes; then the
    invariants, then one more session in this process, after which no temporary file is left."""
    import resource

    old = _old_verdict(scene)
    before_outside, before_runs = tree(scene.outside), tree(scene.run_set)
    lock = scene.reports / ".dhstats-lock"

    def limit():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    cmd = [sys.executable, "-m", "pytest", "checks/", "-q", "-p", "no:cacheprovider", "--results",
           str(scene.run_set), "--reports", str(scene.reports), "--max-plots", "0", "--sigma", "3.5"]
    proc = subprocess.Popen(cmd, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limit,
                            env={**os.environ, "PYTHONPATH": str(project)})
    if delay is not None:
        started = time.monotonic()
        while proc.poll() is None and time.monotonic() - started < 120:
            if lock.is_file() and not lock.is_symlink() and lock.stat().st_size:
                break
            time.sleep(0.02)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=timeout)
    text = (stdout + stderr).decode("utf-8", "replace")
    what = {0: "finished", 1: "finished", 4: "refused", -signal.SIGKILL: "killed"}.get(proc.returncode, "other")
    out = []
    if "Traceback" in text:
        out.append("a traceback: " + text[text.index("Traceback"):][:400])
    if proc.returncode not in (0, 1, 4, -signal.SIGKILL):
        out.append(f"exit status {proc.returncode}: {text[-300:]}")
    if fsize is not None and proc.returncode == 0 and "not written" in text:
        out.append("a write failed but the exit status is 0")
    out += _stale_verdicts(scene, old)
    if tree(scene.outside) != before_outside or tree(scene.run_set) != before_runs:
        out.append("something outside reports/ changed")
    out += [f"next session: {f}" for f in session_failures(scene)]
    left = _temporaries(scene.reports)
    if left:
        out.append(f"temporary files left after the next session: {left}")
    return out, what


def run_files(seed: int = 1) -> dict[str, bytes]:
    """run_01 healthy, run_02 failing (a run page), run_03 invalid (a run page)."""
    from dhstats import simulate

    ok = simulate.dumps_run(simulate.simulate_run(32, (8e-7, 3.2e-6), seed=seed, entropy_noise=0.01, score_noise=0.3))
    bad = simulate.dumps_run(simulate.simulate_run(32, (8e-7, 3.2e-6), seed=seed + 1, defects=["biased_gdotv"]))
    return {"run_01": ok, "run_02": bad, "run_03": ok[: len(ok) // 2]}


def project(root: Path, repo: Path) -> Path:
    """A checkout of the gate (conftest.py, pytest.ini, checks/, a link to dhstats/) in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("conftest.py", "pytest.ini"):
        shutil.copy(repo / name, root / name)
    shutil.copytree(repo / "checks", root / "checks", ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    if not (root / "dhstats").exists():
        os.symlink(repo / "dhstats", root / "dhstats")
    return root


def campaign(sessions: int, root: Path, seed: int = 0, signals: int = 0, repo: Path | None = None,
             kills: int = 0, limits: int = 0) -> dict:
    """``sessions`` in-process sessions, two in a row on each scene (the second meets the
    first one's outputs and manifest), ``signals`` subprocess sessions interrupted at a
    random moment, ``kills`` killed by SIGKILL at a random moment and ``limits`` run under a
    random file-size limit (:func:`kill_failures`: each after a session that left a verdict,
    and followed by one more). Returns counts and every failure with its scene."""
    rng = random.Random(seed)
    runs = run_files()
    result = {"sessions": 0, "clean": 0, "failures": [],
              "signals": {"finished": 0, "interrupted": 0, "refused": 0, "other": 0},
              "kills": {"finished": 0, "killed": 0, "refused": 0, "other": 0},
              "limits": {"finished": 0, "killed": 0, "refused": 0, "other": 0}}
    for i in range(sessions):
        scene = build(root / "scene", draw(rng), runs)
        for turn in (1, 2):
            failures = session_failures(scene)
            result["sessions"] += 1
            result["clean"] += not failures
            if failures:
                result["failures"].append((i, turn, [h.describe() for h in scene.hazards], failures))
    if signals:
        proj = project(root / "project", repo)
        for i in range(signals):
            scene = build(root / "signal", draw(rng, 1) if rng.random() < 0.5 else [], runs)
            failures, what = signal_failures(scene, proj, delay=rng.uniform(0.0, 4.0))
            result["sessions"] += 1
            result["clean"] += not failures
            result["signals"][what] += 1
            if failures:
                result["failures"].append((f"signal {i}", what, [h.describe() for h in scene.hazards], failures))
    if kills or limits:
        proj = project(root / "project", repo)
        for kind, n in (("kills", kills), ("limits", limits)):
            for i in range(n):
                scene = build(root / "kill", draw(rng, 1) if rng.random() < 0.5 else [], runs)
                delay = rng.uniform(0.0, 4.0) if kind == "kills" else None
                fsize = int(math.exp(rng.uniform(math.log(300), math.log(200_000)))) if kind == "limits" else None
                failures, what = kill_failures(scene, proj, delay, fsize)
                result["sessions"] += 3  # the earlier verdict, the killed or limited one, the next
                result["clean"] += 3 if not failures else 0
                result[kind][what] += 1
                if failures:
                    result["failures"].append((f"{kind} {i} (delay {delay}, fsize {fsize})", what,
                                               [h.describe() for h in scene.hazards], failures))
    return result

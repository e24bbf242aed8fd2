"""docs/ci.md is checked, not just read: its YAML recipes parse, the gate commands they run
exist with the options they pass (run for real, on simulated run sets, --collect-only), their
publishing steps succeed after a passing and after a failing session, their install line
installs the wheel the docs build, the suggested .gitignore ignores reports/, its pyproject
snippet sets a real ini key, and its exit-status table is what the gate returns."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from dhstats import simulate
from dhstats.load.settings import OPTIONS

yaml = pytest.importorskip("yaml")  # dev extra (pyproject: pyyaml)
pytestmark = pytest.mark.slow

CI_MD = Path(__file__).resolve().parents[1] / "docs" / "ci.md"
ETAS = (8e-7, 1.6e-6, 3.2e-6)


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", CI_MD.read_text(encoding="utf-8"), re.S)


def recipes() -> dict[str, dict]:
    docs = [yaml.safe_load(b) for b in blocks("yaml")]
    assert len(docs) == 2 and all(isinstance(d, dict) for d in docs)
    return {"github": docs[0], "gitlab": docs[1]}


def commands(recipe: dict) -> list[str]:
    """Every shell line a recipe runs (GitHub `run:` steps, GitLab `script:` lines)."""
    out = []
    for job in recipe.get("jobs", recipe).values():
        if not isinstance(job, dict):
            continue
        for step in job.get("steps", []):
            out += str(step.get("run", "")).splitlines()
        out += [str(line) for line in job.get("script", [])]
    return [line.strip() for line in out if line.strip()]


def gate_commands() -> list[list[str]]:
    found = [shlex.split(c) for r in recipes().values() for c in commands(r)]
    return [c for c in found if c[:2] == ["dhstats", "gate"] or c[:1] == ["pytest"]]


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONBREAKPOINT"))}


def test_recipes_are_valid_yaml_that_publish_whatever_the_status():
    r = recipes()
    gh = r["github"]["jobs"]
    assert gh["pages"]["needs"] == "gate" and gh["pages"]["if"].startswith("always()")
    uploads = [s for s in gh["gate"]["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert uploads and all(s["if"] == "always()" for s in uploads)
    key = next(s["with"]["key"] for s in gh["gate"]["steps"] if s.get("uses") == "actions/cache/save@v4")
    assert "github.run_attempt" in key  # a re-run saves its own line instead of losing it
    gl = r["gitlab"]
    assert gl["estimator-health"]["artifacts"]["when"] == "always"
    assert gl["pages"]["rules"][0]["when"] == "always" and gl["pages"]["needs"][0]["artifacts"] is True
    assert "/-/jobs/artifacts/" not in "".join(blocks("yaml"))


def test_pyproject_snippet_sets_a_gate_ini_key():
    (toml,) = blocks("toml")
    ini = tomllib.loads(toml)["tool"]["pytest"]["ini_options"]
    names = {f"dhstats_{o.name}" for o in OPTIONS}
    assert set(ini) <= names and ini["dhstats_reported_se"] == "shard-mean"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A researcher's repository with the run sets the recipes name (data/E_2048, data/E_256),
    tiny, with the producer's shard-mean SEs."""
    root = tmp_path_factory.mktemp("research")
    (root / "pyproject.toml").write_text('[project]\nname = "r"\nversion = "0"\n')
    for name, n in (("E_2048", 48), ("E_256", 32)):
        simulate.write_run_set(root / "data", name=name, runs=2, n=n, seed=n, etas=ETAS, defects=["shard_mean_se"])
    return root


def run(repo: Path, argv: list[str]) -> subprocess.CompletedProcess:
    if argv[:2] == ["dhstats", "gate"]:
        argv = [sys.executable, "-m", "dhstats", *argv[1:]]
    elif argv[:1] == ["pytest"]:
        argv = [sys.executable, "-m", "pytest", *argv[1:]]
    return subprocess.run(argv + ["-p", "no:cacheprovider"], cwd=repo, env=_env(), capture_output=True, text=True,
                          timeout=300)


def test_the_gate_commands_of_the_recipes_exist(repo):
    cmds = gate_commands()
    assert len(cmds) == 2
    for argv in cmds:
        proc = run(repo, argv + ["--collect-only", "-q"])
        assert proc.returncode == 0, f"{shlex.join(argv)}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        assert "test_se_consistency[E_2048/run_01]" in proc.stdout


def documented_statuses() -> dict[int, str]:
    text = CI_MD.read_text(encoding="utf-8").split("## Exit status", 1)[1].split("\n## ", 1)[0]
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d) \| ([^|]+) \|", text, re.M)}


def test_exit_statuses_are_the_documented_ones(repo, tmp_path):
    doc = documented_statuses()
    assert set(doc) == {0, 1, 2, 3, 4, 5}
    (gate,) = [c for c in gate_commands() if c[:2] == ["dhstats", "gate"]][:1]
    assert run(repo, gate).returncode == 0 and "every case passed" in doc[0]
    undeclared = [a for a in gate if a not in ("--reported-se", "shard-mean")]
    assert run(repo, undeclared).returncode == 1 and "check failed" in doc[1]
    assert run(repo, gate + ["--sigma", "x"]).returncode == 4 and "usage error" in doc[4]
    (tmp_path / "E_1").mkdir()
    assert run(repo, ["dhstats", "gate", "--results", str(tmp_path / "E_1")]).returncode == 4
    assert "holds no `run_*/results.json`" in doc[4]
    assert run(repo, gate + ["-k", "no_such_case"]).returncode == 5 and "no tests collected" in doc[5]


def publish_scripts(recipe: dict) -> list[str]:
    """The shell scripts that publish the outputs: each GitHub ``run:`` step and each GitLab
    job's ``script:`` that neither installs dhstats nor runs the gate."""
    scripts = []
    for job in recipe.get("jobs", recipe).values():
        if not isinstance(job, dict):
            continue
        scripts += [str(step["run"]) for step in job.get("steps", []) if "run" in step]
        if job.get("script"):
            scripts.append("\n".join(str(line) for line in job["script"]))
    return [s for s in scripts if "pip install" not in s and "dhstats gate" not in s]


@pytest.mark.parametrize("passing", [True, False], ids=["green", "red"])
def test_the_publishing_steps_work_after_a_green_and_a_red_gate(repo, tmp_path, passing):
    """The recipes' shell steps after the gate, run for real (``sh -e``, as both CI systems do)
    after a passing session (no reports/runs/) and a failing one (runs/ written): they succeed
    and the site has the badges and report.html, and the run pages exactly when there are any.
    No step hides an error with ``|| true``."""
    import shutil

    work = tmp_path / "research"
    shutil.copytree(repo, work)
    (gate,) = [c for c in gate_commands() if c[:2] == ["dhstats", "gate"]][:1]
    if not passing:
        gate = [a for a in gate if a not in ("--reported-se", "shard-mean")]
    assert run(work, gate).returncode == (0 if passing else 1)
    assert (work / "reports" / "runs").is_dir() is not passing
    for name, recipe in recipes().items():
        scripts = publish_scripts(recipe)
        assert scripts, name
        for script in scripts:
            done = subprocess.run(["sh", "-e", "-c", script], cwd=work, capture_output=True, text=True)
            assert done.returncode == 0, f"{name}: {script}\n{done.stderr}"
        site = work / {"github": "site", "gitlab": "public"}[name]
        assert (site / "badges" / "estimator-health.svg").is_file() and (site / "report.html").is_file()
        assert (site / "runs").is_dir() is not passing
    assert "|| true" not in "".join(blocks("yaml"))


def test_the_install_line_installs_the_wheel_the_docs_build(tmp_path):
    """Both recipes install ``vendor/dhstats-*.whl``; the documented ``pip wheel`` command,
    run on this checkout (offline: no build isolation), writes exactly one such wheel."""
    installs = [c for r in recipes().values() for c in commands(r) if "pip install" in c]
    assert [c.split("#")[0].strip() for c in installs] == ["python -m pip install vendor/dhstats-*.whl"] * 2
    (build,) = [line for b in blocks("bash") for line in b.splitlines() if "pip wheel" in line]
    argv = shlex.split(build.split("#")[0].replace("path/to/dhstats", str(CI_MD.parents[1])))
    assert argv[:4] == ["python", "-m", "pip", "wheel"]
    done = subprocess.run([sys.executable, *argv[1:], "--no-build-isolation", "-q"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    wheels = list((tmp_path / "vendor").glob("dhstats-*.whl"))
    assert len(wheels) == 1 and wheels[0].name.endswith("-py3-none-any.whl")


def test_the_suggested_gitignore_keeps_the_reports_out(tmp_path):
    (block,) = blocks("gitignore")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / ".gitignore").write_text(block)
    (tmp_path / "reports" / "runs").mkdir(parents=True)
    for name in ("health.json", "history.jsonl", "runs/run_01.html"):
        (tmp_path / "reports" / name).write_text("x")
        assert subprocess.run(["git", "check-ignore", "-q", f"reports/{name}"], cwd=tmp_path).returncode == 0

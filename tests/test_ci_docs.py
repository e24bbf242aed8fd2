"""docs/ci.md is checked, not just read: its YAML recipes parse, the gate commands they run
exist with the options they pass (run for real, on simulated run sets, --collect-only), its
pyproject snippet sets a real ini key, and its exit-status table is what the gate returns."""
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
from dhstats.settings import OPTIONS

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

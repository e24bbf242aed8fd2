"""The gate run from a researcher's own repository with the installed dhstats, no checkout:
``dhstats gate --results E`` and ``pytest --pyargs dhstats.checks --results E`` (dhstats.checks,
dhstats.layout), each a pytest session in a foreign layout — its own pyproject.toml with a
[tool.pytest.ini_options] table (addopts, testpaths, a dhstats_* key) above the data."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dhstats import simulate

pytestmark = pytest.mark.slow
pytest_plugins = ["pytester"]

PYPROJECT = """\
[project]
name = "my-research"
version = "0"

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-p no:cacheprovider"
dhstats_reported_se = "shard-mean"
"""


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONBREAKPOINT"))}


@pytest.fixture
def research_repo(pytester: pytest.Pytester) -> Path:
    """A foreign repository: pyproject.toml, a tests/ of its own, runs in data/E_64 whose
    producer reports shard-mean SEs (declared in its pytest configuration)."""
    root = pytester.path
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "tests").mkdir()
    (root / "tests" / "test_model.py").write_text("def test_own():\n    assert False, 'not the gate'\n")
    simulate.write_run_set(root / "data", name="E_64", runs=2, n=64, seed=2, etas=(8e-7, 1.6e-6, 3.2e-6),
                           defects=["shard_mean_se"])
    return root


def _health(root: Path) -> dict:
    return json.loads((root / "reports" / "health.json").read_text())


def test_pytest_pyargs_runs_the_installed_gate(pytester, research_repo):
    res = pytester.runpytest_subprocess("--pyargs", "dhstats.checks", "--results", "data/E_64")
    assert res.ret == 0, res.stdout.str()[-3000:]
    h = _health(research_repo)
    assert h["settings"]["reported_se"] == "shard-mean"  # the repository's own ini key is read
    assert h["counts"]["runs"]["total"] == 2 and h["exit"]["status"] == 0
    assert (research_repo / "reports" / "report.html").is_file()
    assert "not the gate" not in res.stdout.str()  # the repository's own tests are not run


def test_dhstats_gate_is_the_same_session_and_fails_as_documented(research_repo):
    cmd = [sys.executable, "-m", "dhstats", "gate", "--results", "data/E_64"]
    ok = subprocess.run(cmd, cwd=research_repo, env=_env(), capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    assert _health(research_repo)["settings"]["reported_se"] == "shard-mean"
    bad = subprocess.run(cmd + ["--reported-se", "total"], cwd=research_repo, env=_env(), capture_output=True,
                         text=True, timeout=300)  # the command line wins over the ini: se_consistency fails
    assert bad.returncode == 1, bad.stdout[-3000:]
    assert "use --reported-se shard-mean" in bad.stdout
    usage = subprocess.run(cmd + ["--sigma", "x"], cwd=research_repo, env=_env(), capture_output=True, text=True,
                           timeout=300)
    assert usage.returncode == 4 and "--sigma" in usage.stderr

"""The gate run from a researcher's own repository with the installed dhstats, no checkout:
``dhstats gate --results E`` and ``pytest --pyargs dhstats.checks --results E`` (dhstats.checks,
dhstats.pytest_plugin.layout), each a pytest session in a foreign layout — its own pyproject.toml with a
[tool.pytest.ini_options] table (addopts, testpaths, a dhstats_* key) above the data."""
from __future__ import annotations

import json
import os
import shutil
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


# --------------------------------------------------------------------------- built as a wheel, in a fresh venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The ``dhstats`` console script of a wheel built from this checkout and installed in a
    fresh venv (``--system-site-packages``: the dependencies come from here, no network)."""
    pytest.importorskip("wheel")  # pip wheel --no-build-isolation needs setuptools' bdist_wheel
    from paths import PROJECT_ROOT

    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(PROJECT_ROOT, src, ignore=shutil.ignore_patterns(
        ".git", "reports", "build", "*.egg-info", "__pycache__", ".pytest_cache", "tests", "docs", "bench"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp / "dist"), str(src)], check=True, capture_output=True, timeout=600, env=_env())
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(tmp / "venv")], check=True,
                   timeout=300)
    wheel, = (tmp / "dist").glob("dhstats-*.whl")
    subprocess.run([str(tmp / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, timeout=600, env=_env())
    return tmp / "venv" / "bin"


def _bare_env() -> dict:
    return {k: v for k, v in _env().items() if k != "PYTHONPATH"}


def test_the_installed_gate_speaks_for_itself(installed, research_repo):
    """No assertion-rewrite warning, failures named with their module, usage errors naming
    `dhstats gate`, help that does not assume a checkout, the column definitions installed."""
    def dhstats(*args):
        return subprocess.run([str(installed / "dhstats"), *args], cwd=research_repo, env=_bare_env(),
                              capture_output=True, text=True, timeout=300)

    simulate.write_run_set(research_repo / "data", name="E_B", runs=2, n=64, seed=3, etas=(8e-7, 3.2e-6),
                           defects=["biased_gdotv"])
    res = dhstats("gate", "--results", "data/E_B", "--max-plots", "0")
    out = res.stdout + res.stderr
    assert res.returncode == 1, out[-3000:]
    assert "PytestAssertRewriteWarning" not in out and "already imported" not in out
    assert "FAILED test_gate.py::test_linear_agreement[E_B/run_0" in out and "FAILED ::" not in out
    bad = dhstats("gate", "--no-such-option")
    assert bad.returncode == 4 and "dhstats gate: error" in bad.stderr + bad.stdout and "pytest.main()" not in bad.stderr
    assert "dhstats gate" in dhstats("--help").stdout and "pytest checks/" not in dhstats("--help").stdout
    columns = dhstats("tables", "--columns")
    assert columns.returncode == 0 and "delta_true" in columns.stdout
    tables = dhstats("tables", "--results", "data/E_64", "--out", "t")
    assert tables.stdout.rstrip().endswith("columns: dhstats tables --columns") and "docs/" not in tables.stdout


def test_the_users_own_pytest_strict_config_accepts_the_dhstats_keys(pytester, research_repo):
    """The pytest11 entry point declares every dhstats_* ini key, so a repository that sets them
    (here dhstats_reported_se, its own tests only) passes its own `pytest --strict-config`."""
    from importlib.metadata import entry_points

    if not any(ep.value == "dhstats.pytest_plugin.layout" for ep in entry_points(group="pytest11")):
        pytest.skip("dhstats is not installed: no pytest11 entry point")
    (research_repo / "tests" / "test_model.py").write_text("def test_own():\n    pass\n")
    res = pytester.runpytest_subprocess("--strict-config", "-W", "error::pytest.PytestConfigWarning")
    assert res.ret == 0, res.stdout.str()[-2000:] + res.stderr.str()[-2000:]
    assert "Unknown config option" not in res.stdout.str() + res.stderr.str()


def test_the_ini_keys_are_declared_once_whoever_loads_the_plugin(pytester, monkeypatch):
    """Loaded by the entry point and by a conftest (a checkout), or by the conftest alone
    (entry points disabled), each dhstats_* key is declared and pytest --help lists it once."""
    from dhstats.load.settings import OPTIONS

    pytester.makeconftest("pytest_plugins = ['dhstats.pytest_plugin.plugin']\n")
    for env in ({}, {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        res = pytester.runpytest_subprocess("--help")
        assert res.ret == 0, res.stderr.str()[-2000:]
        text = res.stdout.str()
        for key in ["dhstats_results", "dhstats_html_rows", *(f"dhstats_{o.name}" for o in OPTIONS)]:
            assert text.count(f"  {key} (") == 1, (env, key)

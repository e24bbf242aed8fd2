"""Configuration comes from the user, never from the data (checks.md, "What a session may trust").

Each attack in a tmp directory, by subprocess with the literal command line: a results directory
holding a ``pytest.ini`` with ``pythonpath = .``, ``addopts = -p evilplug`` and
``dhstats_sigma = 1e300`` (``evilplug.py`` writes a marker file when imported), and a user's
repository whose ``pyproject.toml`` sets ``dhstats_tolerance = "0.5"`` with the results on
"shared storage" outside it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dhstats import simulate

from builders import make_checkout
from paths import PROJECT_ROOT

pytestmark = pytest.mark.slow

EVIL_INI = "[pytest]\npythonpath = .\naddopts = -p evilplug\ndhstats_sigma = 1e300\n"
USER_PYPROJECT = '[project]\nname = "mine"\nversion = "0"\n\n[tool.pytest.ini_options]\ndhstats_tolerance = "0.5"\n'


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONBREAKPOINT"))}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), env.get("PYTHONPATH", "")])
    return env


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args, "-p", "no:cacheprovider", "--max-plots", "0"], cwd=cwd,
                          env=_env(), capture_output=True, text=True, timeout=300)


@pytest.fixture
def place(tmp_path: Path) -> dict:
    """``shared/E_64`` (evil ini, outside the repository), ``repo/`` (the user's pyproject.toml,
    ``repo/data/E_64`` with an evil ini too) and ``checkout/`` (a gate checkout)."""
    marker = tmp_path / "PWNED"
    for where in (tmp_path / "shared", tmp_path / "repo" / "data"):
        simulate.write_run_set(where, name="E_64", runs=2, n=64, seed=2, etas=(8e-7, 1.6e-6, 3.2e-6))
        (where / "E_64" / "pytest.ini").write_text(EVIL_INI)
        (where / "E_64" / "evilplug.py").write_text(f"open({str(marker)!r}, 'a').write('imported')\n")
    (tmp_path / "repo" / "pyproject.toml").write_text(USER_PYPROJECT)
    checkout = make_checkout(tmp_path)
    return {"marker": marker, "shared": tmp_path / "shared" / "E_64", "repo": tmp_path / "repo",
            "inside": tmp_path / "repo" / "data" / "E_64", "checkout": checkout}


def settings(cwd: Path) -> dict:
    return json.loads((cwd / "reports" / "health.json").read_text())["settings"]


def refused(res: subprocess.CompletedProcess, ini: Path) -> None:
    assert res.returncode == pytest.ExitCode.USAGE_ERROR, res.stdout[-2000:] + res.stderr[-2000:]
    err = res.stderr
    assert "refusing to judge" in err and str(ini) in err and "--results=DIR" in err and "dhstats gate" in err


@pytest.mark.parametrize("where", ["shared", "inside"])
@pytest.mark.parametrize("form", ["space", "equals"])
def test_dhstats_gate_reads_no_configuration_from_the_results_and_keeps_the_users(place, where, form):
    results = str(place[where])
    args = ["--results", results] if form == "space" else [f"--results={results}"]
    res = run(place["repo"], "-m", "dhstats", "gate", *args, "--reported-se", "total")
    assert res.returncode in (0, 1), res.stdout[-3000:] + res.stderr[-2000:]
    assert not place["marker"].exists()  # evilplug never imported
    s = settings(place["repo"])
    assert s["k"] == 3.0 and s["tolerance"] == 0.5  # the user's ini in force, not the data's
    assert s["inifile"] == str(place["repo"] / "pyproject.toml")
    assumed = (place["repo"] / "reports" / "report.html").read_text()
    assert "configuration: pyproject.toml" in assumed  # the report's "Assumed" line, relative to where it ran


def test_dhstats_gate_ignores_every_path_argument_when_choosing_the_configuration(place):
    """Not only --results: any existing path on the command line (here --reports inside the
    results directory, space form) would make pytest search from there."""
    out = place["shared"] / "reports"
    out.mkdir()
    res = run(place["repo"], "-m", "dhstats", "gate", f"--results={place['shared']}", "--reports", str(out))
    assert res.returncode in (0, 1), res.stdout[-3000:] + res.stderr[-2000:]
    assert not place["marker"].exists()
    assert json.loads((out / "health.json").read_text())["settings"]["tolerance"] == 0.5


def test_dhstats_gate_without_a_user_configuration_uses_none(place, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    res = run(elsewhere, "-m", "dhstats", "gate", "--results", str(place["shared"]))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert not place["marker"].exists()
    s = settings(elsewhere)
    assert s["k"] == 3.0 and s["tolerance"] is None and s["inifile"] is None


@pytest.mark.parametrize("args", [["--results", "{shared}", "checks/"], ["--results", "../repo/data/E_64", "checks/"]])
def test_bare_pytest_with_the_data_s_configuration_refuses_to_judge(place, args):
    """pytest took shared/E_64/pytest.ini (the option before the path): exit 4 naming it. pytest
    imported evilplug before any plugin could object (README: which forms are safe)."""
    args = [a.format(shared=place["shared"]) for a in args]
    res = run(place["checkout"], "-m", "pytest", *args)
    ini = place["shared"] if "{shared}" in args or str(place["shared"]) in args else place["inside"]
    refused(res, ini / "pytest.ini")
    assert not (place["checkout"] / "reports" / "health.json").exists()


@pytest.mark.parametrize("args", [["checks/", "--results", "{shared}"], ["--results={shared}", "checks/"]])
def test_bare_pytest_in_the_safe_forms_judges_with_the_checkouts_configuration(place, args):
    res = run(place["checkout"], "-m", "pytest", *[a.format(shared=place["shared"]) for a in args])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert not place["marker"].exists()
    s = settings(place["checkout"])
    assert s["k"] == 3.0 and s["inifile"] == str(place["checkout"] / "pytest.ini")


def test_installed_gate_under_bare_pytest_refuses_the_data_s_configuration(place):
    res = run(place["repo"], "-m", "pytest", "--pyargs", "dhstats.checks", "--results", "data/E_64")
    refused(res, place["inside"] / "pytest.ini")


def test_installed_gate_under_bare_pytest_refuses_to_drop_the_users_configuration(place, tmp_path):
    """Results outside the repository (no ini there): pytest searched from them and read no
    configuration, the user's dhstats_tolerance would be silently dropped: exit 4."""
    clean = tmp_path / "clean"
    simulate.write_run_set(clean, name="E_64", runs=2, n=64, seed=2, etas=(8e-7, 1.6e-6, 3.2e-6))
    res = run(place["repo"], "-m", "pytest", "--pyargs", "dhstats.checks", "--results", str(clean / "E_64"))
    assert res.returncode == pytest.ExitCode.USAGE_ERROR, res.stdout[-2000:] + res.stderr[-2000:]
    assert str(place["repo"] / "pyproject.toml") in res.stderr and "--results=DIR" in res.stderr
    ok = run(place["repo"], "-m", "pytest", "--pyargs", "dhstats.checks", f"--results={clean / 'E_64'}")
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-2000:]
    assert settings(place["repo"])["tolerance"] == 0.5

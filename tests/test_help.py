"""Every ``--help`` exits 0 (a literal "%" in a help text once crashed argparse's formatting),
``dhstats gate --help`` lists the gate's options, and its usage errors name ``dhstats gate``."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dhstats.load.settings import OPTIONS

from paths import PROJECT_ROOT

pytestmark = pytest.mark.slow


def run(*args: str, cwd=PROJECT_ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_pytest_checks_help():
    res = run("-m", "pytest", "checks/", "--help")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "--equivalence-alpha" in res.stdout and "90 % interval" in " ".join(res.stdout.split())


def test_pytest_help_with_the_plugin(tmp_path):
    res = run("-m", "pytest", "-p", "dhstats.pytest_plugin.plugin", "--help", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "dhstats_tolerance" in res.stdout


def test_dhstats_help():
    res = run("-m", "dhstats", "--help")
    assert res.returncode == 0 and "dhstats gate" in res.stdout, res.stderr


@pytest.mark.parametrize("command", ["tables", "plot", "simulate"])
def test_dhstats_subcommand_help(command):
    res = run("-m", "dhstats", command, "--help")
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.startswith(f"usage: dhstats {command}")


def test_dhstats_gate_help_lists_the_gates_options():
    res = run("-m", "dhstats", "gate", "--help")
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.startswith("usage: dhstats gate")
    for option in ["--results", *(flag for o in OPTIONS for flag in o.flags)]:
        assert option in res.stdout, option
    assert "file_or_dir" not in res.stdout  # not pytest's usage


def test_dhstats_gate_usage_errors_name_dhstats_gate(tmp_path):
    res = run("-m", "dhstats", "gate", "--no-such-option", cwd=tmp_path)
    assert res.returncode == 4
    assert "dhstats gate: error: unrecognized arguments: --no-such-option" in res.stderr
    assert "pytest.main()" not in res.stderr

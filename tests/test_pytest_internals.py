"""The private names of pytest, pytest-html and pytest-xdist that dhstats.pytest_plugin.pytest_internals uses:
each test names the upstream name it relies on and fails loudly when a release moves it."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path
from types import SimpleNamespace

import pytest

from dhstats.pytest_plugin import pytest_internals
from dhstats.pytest_plugin.xdist_adapter import run_scope

from paths import PROJECT_ROOT

pytest_plugins = ["pytester"]


def test_no_other_dhstats_module_reaches_into_pytest_html_or_xdist_internals():
    """Private attributes (``obj._name``) of pytest, pytest-html or xdist objects and ``_pytest``
    imports appear in dhstats.pytest_plugin.pytest_internals only."""
    for path in (PROJECT_ROOT / "dhstats").rglob("*.py"):
        if path.name == "pytest_internals.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("_pytest"):
                pytest.fail(f"{path.name} imports {node.module}")
            if isinstance(node, ast.Attribute) and node.attr in (
                    "_report", "_report_path", "_split_scope", "_get_teardown_reports", "_rootpath", "_inipath",
                    "_inicfg", "_inicache", "_parser", "_inidict"):
                pytest.fail(f"{path.name}:{node.lineno} uses .{node.attr}")


def test_pytest_determine_setup_is_pytests_choice(tmp_path):
    """``_pytest.config.findpaths.determine_setup(inifile=, override_ini=, args=, rootdir_cmd_arg=,
    invocation_dir=)``: the ini file of a path argument's directory, or the explicit one."""
    from _pytest.config.findpaths import determine_setup

    assert {"inifile", "override_ini", "args", "rootdir_cmd_arg", "invocation_dir"} <= set(
        inspect.signature(determine_setup).parameters)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "pytest.ini").write_text("[pytest]\nxfail_strict = true\n")
    rootpath, inipath, inicfg = pytest_internals.pytest_choice([str(tmp_path / "a")], tmp_path)
    assert (rootpath, inipath) == (tmp_path / "a", tmp_path / "a" / "pytest.ini") and "xfail_strict" in inicfg
    other = tmp_path / "other.ini"
    other.write_text("[pytest]\n")
    assert pytest_internals.pytest_choice([str(tmp_path / "a")], tmp_path, inifile=str(other))[1] == other


@pytest.mark.slow
def test_config_internals_put_another_ini_in_force(pytester):
    """``Config._rootpath``, ``_inipath``, ``_inicfg``, ``_inicache``: what ``-c FILE`` sets."""
    config = pytester.parseconfig()
    for name in ("_rootpath", "_inipath", "_inicfg", "_inicache"):
        assert hasattr(config, name), f"pytest.Config.{name} is gone"
    config.addinivalue_line("markers", "x: y")  # fills the cache
    ini = pytester.path / "mine.ini"
    ini.write_text("[pytest]\nmarkers = mine: a marker\n")
    root, path, cfg = pytest_internals.pytest_choice([], pytester.path, inifile=str(ini))
    pytest_internals.put_in_force(config, root, path, cfg)
    assert config.inipath == ini and config.rootpath == pytester.path
    assert config.getini("markers") == ["mine: a marker"]


def test_terminal_reporter_has_the_teardown_look_up():
    """``TerminalReporter._get_teardown_reports(nodeid)``, replaced by an index."""
    from _pytest.terminal import TerminalReporter

    assert callable(getattr(TerminalReporter, "_get_teardown_reports", None)), \
        "pytest.TerminalReporter._get_teardown_reports is gone: index_teardowns does nothing"
    # one positional id: "nodeid" up to pytest 9.0, "node_id" (a NodeId) from 9.2; called positionally
    assert list(inspect.signature(TerminalReporter._get_teardown_reports).parameters) in (
        ["self", "nodeid"], ["self", "node_id"])


def test_pytest_html_keeps_its_report_path_and_outcomes():
    """pytest-html's ``BaseReport._report_path`` (its closing line) and ``_report`` (ReportData:
    ``outcomes``, ``add_test``)."""
    basereport = pytest.importorskip("pytest_html.basereport")
    report_data = pytest.importorskip("pytest_html.report_data")
    source = inspect.getsource(basereport.BaseReport.__init__)
    assert "self._report_path =" in source and "self._report = " in source, "pytest-html moved _report/_report_path"
    assert "_report_path.as_uri()" in inspect.getsource(basereport.BaseReport), "the closing line moved"
    assert hasattr(report_data.ReportData, "outcomes") and hasattr(report_data.ReportData, "add_test")


def test_xdist_loadscope_splits_by_its_scope_method():
    """xdist's ``LoadScopeScheduling._split_scope(nodeid)``, called to group tests; overridden by
    :func:`dhstats.pytest_plugin.pytest_internals.scope_scheduler` with the gate's run scope."""
    loadscope = pytest.importorskip("xdist.scheduler")
    cls = loadscope.LoadScopeScheduling
    assert callable(getattr(cls, "_split_scope", None)), "xdist's LoadScopeScheduling._split_scope is gone"
    assert "self._split_scope(" in inspect.getsource(cls), "xdist no longer groups by _split_scope"
    config = SimpleNamespace(
        getvalue=lambda name: ["2*popen"] if name == "tx" else 2, option=None, getoption=lambda *a, **k: 2)
    try:
        scheduler = pytest_internals.scope_scheduler(config, None, run_scope)
    except Exception as exc:  # noqa: BLE001 - the constructor's needs are xdist's
        pytest.skip(f"xdist's scheduler needs a real config here: {exc}")
    assert scheduler._split_scope("checks/test_gate.py::test_x[E_2/run_01/eta=1e-06]") == "E_2/run_01"
    assert scheduler._split_scope("test_gate.py::test_pooled_x[E_2]") == "E_2"
    assert scheduler._split_scope("tests/test_a.py::test_b") == "tests/test_a.py"


def test_run_scope_of_every_id_form():
    assert run_scope("checks/test_gate.py::test_linear_agreement[E_2048/run_01/eta=8e-07]") == "E_2048/run_01"
    assert run_scope("test_gate.py::test_input[E_2048/run_01]") == "E_2048/run_01"
    assert run_scope("tests/test_x.py::test_y[a]") is None
    assert Path(pytest_internals.__file__).name == "pytest_internals.py"

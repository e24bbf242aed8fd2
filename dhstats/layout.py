"""Keep the gate's own pytest configuration when the run set lives next to the checkout.

``pytest checks/ --results ../E_2048``: before any plugin has declared ``--results``, pytest
takes ``../E_2048`` for a test path, so its rootdir becomes the common ancestor of
``checks/`` and ``../E_2048``. If that directory (a research repo) has its own
``pyproject.toml [tool.pytest.ini_options]``, ``tox.ini`` or ``setup.cfg``, pytest would use
*their* settings (addopts, testpaths, …) instead of ours.

This module is installed as a ``pytest11`` entry point so that it runs in
``pytest_load_initial_conftests`` — after pytest chose the configuration, before the
conftests and the final parse of the command line. When a path argument lies in
``<project>/checks`` of a gate project (``<project>`` holding ``pytest.ini`` and
``conftest.py``) and pytest chose another configuration file, it re-runs pytest's own
``determine_setup`` with the project's ``pytest.ini`` (what ``-c pytest.ini`` would do),
and replaces the foreign ``addopts`` with the project's. It does nothing when ``-c``,
``--rootdir`` or the project's own configuration is already in effect.

It touches pytest internals (``Config._rootpath``, ``_inipath``, ``_inicfg``,
``_inicache``); ``tests/test_plugin.py::test_sibling_layout_under_foreign_pytest_config``
fails if a pytest release changes them.
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

GATE_DIR = "checks"  # the gate's test directory (also used by dhstats.plugin)
PACKAGE_GATE = Path(__file__).resolve().with_name(GATE_DIR)  # dhstats/checks: the installed gate
PACKAGE_MODULE = "dhstats.checks"
EARLY_OPTIONS = ("baseline",)  # gate options that take a path, declared here rather than by dhstats.plugin
BASELINE_HELP = ("compare with a baseline: a directory of run sets, or a health.json (schema ≥ 3) of an earlier "
                 "session; run sets matched by name (one on each side: whatever their names)")


def packaged_gate(args, invocation_dir: Path, pyargs: bool = False) -> bool:
    """A path argument in the installed gate (``dhstats/checks``), or ``--pyargs dhstats.checks``."""
    for arg in args:
        a = str(arg).split("::")[0]
        if pyargs and (a == PACKAGE_MODULE or a.startswith(PACKAGE_MODULE + ".")):
            return True
        path = (invocation_dir / a).resolve()
        if path == PACKAGE_GATE or PACKAGE_GATE in path.parents:
            return True
    return False


def gate_project(args, invocation_dir: Path) -> Path | None:
    """The gate project a path argument points into: ``P`` with ``P/checks`` ⊇ arg,
    ``P/pytest.ini`` and ``P/conftest.py``."""
    for arg in args:
        path = (invocation_dir / str(arg).split("::")[0]).resolve()
        for parent in (path, *path.parents):
            if parent.name == GATE_DIR:
                project = parent.parent
                if (project / "pytest.ini").is_file() and (project / "conftest.py").is_file():
                    return project
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--results DIR`` is declared here, in the entry-point plugin, so that pytest's first
    parse of the command line (before any conftest is loaded) already takes ``DIR`` as the
    option's value. Declared by the gate's conftest instead, ``--results DIR`` was first read
    as a *test path*: pytest then imported ``DIR/conftest.py`` — code from a results
    directory. Result files are data; the gate never imports from them. ``--baseline PATH``
likewise (its value a directory of run sets, or a health.json)."""
    group = parser.getgroup("dhstats", "ΔH estimator gate (dhstats)")
    group.addoption("--results", action="append", default=None, metavar="DIR",
                    help="run-set directory holding run_*/results.json (repeatable); default: the embedded example "
                         "run set")
    # a path too (a baseline's run sets are data, never test paths): declared as early as --results
    group.addoption("--baseline", dest="dhstats_baseline", default=None, metavar="PATH", help=BASELINE_HELP)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    ns = early_config.known_args_namespace
    start = Path(early_config.invocation_params.dir)
    if packaged_gate(ns.file_or_dir or [], start, getattr(ns, "pyargs", False)):
        # the installed gate run from the researcher's repository: their configuration stays in
        # force (dhstats_* ini keys included); the gate plugin has no conftest to load it
        if early_config.pluginmanager.get_plugin("dhstats.plugin") is None:
            early_config.pluginmanager.import_plugin("dhstats.plugin")
        return
    if ns.inifilename or ns.rootdir:
        return
    project = gate_project(ns.file_or_dir or [], start)
    ini = None if project is None else project / "pytest.ini"
    if ini is None or early_config.inipath == ini:
        return
    from _pytest.config.findpaths import determine_setup

    foreign = [str(a) for a in early_config.getini("addopts")]
    rootpath, inipath, inicfg, _ = determine_setup(
        inifile=str(ini), override_ini=ns.override_ini, args=ns.file_or_dir,
        rootdir_cmd_arg=None, invocation_dir=start)
    early_config._rootpath, early_config._inipath, early_config._inicfg = rootpath, inipath, inicfg
    early_config._inicache.clear()
    parser.extra_info["rootdir"] = str(rootpath)
    parser.extra_info["inifile"] = str(inipath)
    if foreign and args[: len(foreign)] == foreign:
        del args[: len(foreign)]
    args[:0] = [str(a) for a in early_config.getini("addopts")]
    for path in reversed(early_config.getini("pythonpath")):
        sys.path.insert(0, str(path))
    early_config.known_args_namespace = parser.parse_known_args(args, namespace=copy.copy(early_config.option))
    early_config.known_args_namespace.confcutdir = str(project)

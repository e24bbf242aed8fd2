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

Before that, it refuses to judge (exit 4) a bare ``pytest`` command line whose configuration
came from a results directory, or that lost the user's own because pytest searched from one
(:func:`dhstats.load.settings.configuration_refusal`). The pytest internals it needs are in
:mod:`dhstats.pytest_plugin.pytest_internals`.
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

from dhstats.load.settings import configuration_from_data, configuration_refusal

ENTRY_POINT = "dhstats-layout"  # this module's pytest11 name (pyproject.toml)
GATE_DIR = "checks"  # the gate's test directory (also used by dhstats.pytest_plugin.plugin)
PACKAGE_GATE = Path(__file__).resolve().parents[1] / GATE_DIR  # dhstats/checks: the installed gate
PACKAGE_MODULE = "dhstats.checks"
NO_CONFIGURATION = PACKAGE_GATE / "no-configuration.ini"  # dhstats gate's -c where the user has no configuration
EARLY_OPTIONS = ("baseline",)  # gate options that take a path, declared here rather than by dhstats.pytest_plugin.plugin
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


def declare_ini(parser: pytest.Parser) -> None:
    """The ``dhstats_*`` ini keys, declared by this entry point whenever dhstats is installed:
    a repository that sets them in its own configuration keeps a quiet ``pytest --strict-config``
    for its own tests. :mod:`dhstats.pytest_plugin.plugin` declares them only when this entry point is not
    loaded (a checkout run without installing dhstats)."""
    from dhstats.report.html_rows import LIST_LIMIT
    from dhstats.load.settings import OPTIONS

    parser.addini("dhstats_results", "run-set directories (like --results)", type="paths", default=[])
    for o in OPTIONS:
        # empty when unset (then an alias's key is read, then the default)
        parser.addini(f"dhstats_{o.name}", o.described, default="" if o.aliases else o.default)
        for alias in o.aliases:
            parser.addini(f"dhstats_{alias}", f"alias of dhstats_{o.name} (read when dhstats_{o.name} is not set)",
                          default="")
    parser.addini("dhstats_html_rows", "report.html lists passed and skipped tests one by one up to this many "
                  f"tests (default {LIST_LIMIT}); beyond, it counts them", default=str(LIST_LIMIT))


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
    declare_ini(parser)


def results_of(config: pytest.Config) -> list[Path]:
    """The ``--results`` directories of the command line (``dhstats_results`` of the ini file
    cannot move pytest's choice of configuration), absolute."""
    start = Path(config.invocation_params.dir)
    return [start / r for r in getattr(config.known_args_namespace, "results", None) or []]


def refuse_configuration_from_data(config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Exit 4 (``pytest.UsageError``) when pytest took its configuration from a results
    directory or dropped the user's own because of one (:func:`dhstats.load.settings.configuration_refusal`).
    Only with ``--results`` on the command line and no ``-c``."""
    from dhstats.pytest_plugin.pytest_internals import pytest_choice

    results = results_of(config)
    ns = config.known_args_namespace
    if not results or ns.inifilename:
        return
    start = Path(config.invocation_params.dir)
    known, unknown = parser.parse_known_and_unknown_args(args)  # --results and its value consumed
    _, user_ini, _ = pytest_choice([*known.file_or_dir, *unknown], start, rootdir=ns.rootdir or None)
    reason = configuration_refusal(config.inipath, user_ini, start, results)
    if reason:
        raise pytest.UsageError(reason)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    ns = early_config.known_args_namespace
    start = Path(early_config.invocation_params.dir)
    project = None if ns.inifilename or ns.rootdir else gate_project(ns.file_or_dir or [], start)
    ini = None if project is None else project / "pytest.ini"
    override = ini is not None and early_config.inipath != ini  # the gate project's pytest.ini, below
    if not override or configuration_from_data(early_config.inipath, start, results_of(early_config)):
        refuse_configuration_from_data(early_config, parser, args)
    if packaged_gate(ns.file_or_dir or [], start, getattr(ns, "pyargs", False)):
        # the installed gate run from the researcher's repository: their configuration stays in
        # force (dhstats_* ini keys included); the gate plugin has no conftest to load it
        if early_config.pluginmanager.get_plugin("dhstats.pytest_plugin.plugin") is None:
            early_config.pluginmanager.import_plugin("dhstats.pytest_plugin.plugin")
        return
    if not override:
        return
    from dhstats.pytest_plugin.pytest_internals import pytest_choice, put_in_force

    foreign = [str(a) for a in early_config.getini("addopts")]
    rootpath, inipath, inicfg = pytest_choice(ns.file_or_dir, start, inifile=str(ini), override_ini=ns.override_ini)
    put_in_force(early_config, rootpath, inipath, inicfg)
    parser.extra_info["rootdir"] = str(rootpath)
    parser.extra_info["inifile"] = str(inipath)
    if foreign and args[: len(foreign)] == foreign:
        del args[: len(foreign)]
    args[:0] = [str(a) for a in early_config.getini("addopts")]
    for path in reversed(early_config.getini("pythonpath")):
        sys.path.insert(0, str(path))
    early_config.known_args_namespace = parser.parse_known_args(args, namespace=copy.copy(early_config.option))
    early_config.known_args_namespace.confcutdir = str(project)

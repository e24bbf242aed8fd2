"""The private names of pytest, pytest-html and pytest-xdist that dhstats uses, in one place,
each with why and for which versions; nothing else in dhstats reaches into them.

Checked against pytest 9.0.3 and 9.2.0 (which passes the teardown look-up a ``NodeId``),
pytest-html 4.2.0 and pytest-xdist 3.8.0. ``tests/test_pytest_internals.py`` fails loudly,
naming the name, when a release moves one.

* ``_pytest.config.findpaths.determine_setup`` — pytest's own choice of rootdir and
  configuration file for a command line. pytest chooses its ini file from the path-like
  arguments *before* any plugin has declared ``--results``, so ``pytest --results D checks/``
  searches from ``D``: the gate needs the choice pytest would make without ``D`` (to refuse a
  configuration from the data, and to give ``dhstats gate`` the user's own file). No public API
  exposes the search (``Config.inipath`` is only the result).
* ``Config._rootpath``, ``_inipath``, ``_inicfg``, ``_inicache`` — :mod:`dhstats.pytest_plugin.layout` puts
  the gate project's own ``pytest.ini`` in force when pytest chose a research repository's
  configuration above the checkout (``pytest checks/ --results ../E_2048``); there is no public
  setter. The keyword ``override_ini`` of ``determine_setup`` and its 4-tuple result date from
  pytest 8.1.
* ``TerminalReporter._get_teardown_reports`` — pytest's failure summary looks up each failure's
  teardown reports by scanning every report (O(failures × tests)): 5 000 invalid runs took
  minutes in the summary alone. :func:`index_teardowns` answers the same look-up from one index.
  Left alone when pytest has no such method.
* pytest-html's plugin object: ``_report_path`` (where its closing line "Generated html report"
  points: the gate renames the file pytest-html wrote) and ``_report.outcomes`` (its outcome
  counts, which decide whether report.html lists rows one by one). pytest-html has no hook or
  public attribute for either (pytest-html 4.2.0 ``basereport.BaseReport``).
* pytest-xdist's ``LoadScopeScheduling._split_scope`` — the scope of a test id; overridden so
  that ``--dist loadscope`` keeps each run's cases on one worker. xdist documents
  ``pytest_xdist_make_scheduler`` but not the scheduler's scope method.
"""
from __future__ import annotations

from pathlib import Path


def pytest_choice(args, invocation_dir: Path, inifile: str | None = None, rootdir: str | None = None,
                  override_ini=None) -> tuple[Path, Path | None, dict]:
    """(rootdir, inifile or None, ini values) as pytest determines them for the free arguments
    ``args`` (paths and node ids; options are ignored, as pytest does)."""
    from _pytest.config.findpaths import determine_setup

    rootpath, inipath, inicfg, *_ = determine_setup(
        inifile=inifile, override_ini=override_ini, args=[str(a) for a in args],
        rootdir_cmd_arg=rootdir, invocation_dir=Path(invocation_dir))
    return rootpath, inipath, inicfg


def put_in_force(config, rootpath: Path, inipath: Path, inicfg) -> None:
    """Make ``inipath`` the configuration of ``config`` (as ``-c inipath`` would have)."""
    config._rootpath, config._inipath, config._inicfg = rootpath, inipath, inicfg
    config._inicache.clear()


# --------------------------------------------------------------------------- pytest's terminal summary


def index_teardowns(terminalreporter) -> None:
    """pytest's failure summary scans every report per failure for its teardown reports
    (``TerminalReporter._get_teardown_reports``, O(failures × tests): minutes for 5 000 invalid
    runs). Same look-up, same output, from one index (keyed by the id's string: pytest 9.2 passes
    a ``NodeId``, earlier ones ``rep.nodeid``); left alone if pytest has no such method."""
    if not callable(getattr(terminalreporter, "_get_teardown_reports", None)):
        return
    index: dict[str, list] | None = None

    def teardown_reports(nodeid) -> list:
        nonlocal index
        if index is None:
            index = {}
            for rep in terminalreporter.getreports(""):
                if getattr(rep, "when", None) == "teardown":
                    index.setdefault(str(rep.nodeid), []).append(rep)
        return list(index.get(str(nodeid), ()))

    terminalreporter._get_teardown_reports = teardown_reports


# --------------------------------------------------------------------------- pytest-html


def html_report_moved(config, written: Path, final: Path) -> None:
    """pytest-html's closing line ("Generated html report: …") names ``final``, where the gate
    moved the file pytest-html wrote to ``written``."""
    for plugin in config.pluginmanager.get_plugins():
        if Path(getattr(plugin, "_report_path", "")) == written:
            plugin._report_path = final


def html_outcome_counts(config):
    """pytest-html's report data (its ``outcomes`` counts), or None without pytest-html."""
    return next((d for p in config.pluginmanager.get_plugins()
                 if hasattr(d := getattr(p, "_report", None), "outcomes") and hasattr(d, "add_test")), None)


# --------------------------------------------------------------------------- pytest-xdist


def scope_scheduler(config, log, scope_of):
    """xdist's ``--dist loadscope`` scheduler whose scope of a test id is ``scope_of(nodeid)``
    (None: xdist's own, module or class)."""
    from xdist.scheduler import LoadScopeScheduling

    class ScopeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = scope_of(nodeid)
            return super()._split_scope(nodeid) if scope is None else scope

    return ScopeScheduling(config, log)

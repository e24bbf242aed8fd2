"""The private pytest names dhstats uses, in one place, each with why and for which versions.

Checked against pytest 8.0–9.0.3 (the versions pyproject allows and CI installs);
``tests/test_pytest_internals.py`` fails loudly, naming the name, when a release moves one.

* ``_pytest.config.findpaths.determine_setup`` — pytest's own choice of rootdir and
  configuration file for a command line. pytest chooses its ini file from the path-like
  arguments *before* any plugin has declared ``--results``, so ``pytest --results D checks/``
  searches from ``D``: the gate needs the choice pytest would make without ``D`` (to refuse a
  configuration from the data, and to give ``dhstats gate`` the user's own file). No public API
  exposes the search (``Config.inipath`` is only the result).
* ``Config._rootpath``, ``_inipath``, ``_inicfg``, ``_inicache`` — :mod:`dhstats.layout` puts
  the gate project's own ``pytest.ini`` in force when pytest chose a research repository's
  configuration above the checkout (``pytest checks/ --results ../E_2048``); there is no public
  setter. The keyword ``override_ini`` of ``determine_setup`` and its 4-tuple result date from
  pytest 8.1.
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

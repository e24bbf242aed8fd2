"""pytest.ini lists every ini key the gate declares (``parser.addini`` in :func:`dhstats.pytest_plugin.layout.declare_ini`), each as a commented
``dhstats_<name> = <default>`` line, and no key the gate does not declare."""
from __future__ import annotations

import re

from dhstats.pytest_plugin import layout
from paths import PROJECT_ROOT


class Declared:
    """Records what a ``pytest_addoption`` hook declares (the parts of pytest.Parser it calls)."""

    def __init__(self):
        self.ini: list[str] = []

    def addini(self, name, *args, **kwargs):
        self.ini.append(name)

    def getgroup(self, *args, **kwargs):
        return self

    def addoption(self, *args, **kwargs):
        pass


def listed() -> list[str]:
    return re.findall(r"^#\s*(dhstats_\w+)\s*=", (PROJECT_ROOT / "pytest.ini").read_text(), re.M)


def test_pytest_ini_lists_every_declared_ini_key():
    declared = Declared()
    layout.declare_ini(declared)  # every dhstats_* key, declared whenever dhstats is installed
    assert sorted(listed()) == sorted(declared.ini)
    assert len(listed()) == len(set(listed()))

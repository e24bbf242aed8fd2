"""The file a user opens first shows its tests: checks/test_gate.py (and its installed copy,
dhstats/checks/test_gate.py) has one explicit two-line test function per check of the
registry, in the registry's order after ``test_input``, each judging its case; the plugin
parametrises them (no generated functions, no ``globals()``)."""
from __future__ import annotations

import ast

import pytest

from dhstats.verdicts import registry
from paths import PROJECT_ROOT

GATE_MODULES = {"checkout": PROJECT_ROOT / "checks" / "test_gate.py",
                "installed": PROJECT_ROOT / "dhstats" / "checks" / "test_gate.py"}


def functions(path) -> list[ast.FunctionDef]:
    return [node for node in ast.parse(path.read_text()).body if isinstance(node, ast.FunctionDef)]


@pytest.mark.parametrize("where", GATE_MODULES)
def test_one_test_function_per_check_of_the_registry(where):
    names = [f.name for f in functions(GATE_MODULES[where])]
    assert names == ["test_input"] + [f"test_{name}" for name in registry.NAMES]


@pytest.mark.parametrize("where", GATE_MODULES)
def test_each_test_judges_its_case_and_nothing_else(where):
    source = GATE_MODULES[where].read_text()
    for f in functions(GATE_MODULES[where]):
        assert [a.arg for a in f.args.args] == ["case"], f.name
        assert [ast.unparse(s) for s in f.body] == ["case.judge()"], f.name
    assert "globals" not in source and "import" not in source

"""House rules of the test suite: no test module imports another (shared builders live in
tests/builders.py, health records in tests/health_records.py, paths in tests/paths.py)."""
from __future__ import annotations

import ast

from paths import PROJECT_ROOT

TESTS = PROJECT_ROOT / "tests"


def imported_test_modules(path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
    return {m for m in out if m.startswith("test_") or m == "conftest"}


def test_no_test_module_imports_another():
    found = {p.name: imported_test_modules(p) for p in sorted(TESTS.glob("*.py"))}
    assert {name: mods for name, mods in found.items() if mods} == {}

"""The test suite's own conventions: every test that starts a process (pytest, the CLI, a
Python interpreter, a browser) is marked ``slow``, so ``-m "not slow"`` is a fast loop."""
from __future__ import annotations

import ast
from pathlib import Path

SPAWNS = ("subprocess.run(", "subprocess.Popen(", "pytester.run(", "runpytest", "open_page(", "screenshot(")
SPAWNING_FIXTURES = {"pytester"}


def _is_slow(node: ast.expr) -> bool:
    """``pytest.mark.slow`` (or a list of marks holding it, as ``pytestmark`` may be)."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return any(_is_slow(n) for n in node.elts)
    target = node.func if isinstance(node, ast.Call) else node
    return isinstance(target, ast.Attribute) and target.attr == "slow"


def unmarked_spawning_tests(src: str) -> list[str]:
    """Names of the test functions in ``src`` that start a process (directly, through a
    module-level helper or a spawning fixture) without the ``slow`` marker."""
    tree = ast.parse(src)
    module_slow = any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in n.targets)
                      and _is_slow(n.value) for n in tree.body)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    helpers = {f.name for f in functions if not f.name.startswith("test_")
               and any(s in ast.get_source_segment(src, f) for s in SPAWNS)}
    out = []
    for f in functions:
        if not f.name.startswith("test_") or module_slow or any(_is_slow(d) for d in f.decorator_list):
            continue
        body = ast.get_source_segment(src, f)
        args = {a.arg for a in f.args.args}
        if any(s in body for s in SPAWNS) or any(f"{h}(" in body for h in helpers) \
                or args & (SPAWNING_FIXTURES | helpers):
            out.append(f.name)
    return out


def test_every_spawning_test_is_marked_slow():
    here = Path(__file__)
    found = {p.name: unmarked_spawning_tests(p.read_text()) for p in sorted(here.parent.glob("test_*.py")) if p != here}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_probe_sees_direct_helper_and_fixture_spawns():
    src = '''
import subprocess, pytest
def run_cli(): subprocess.run(["x"])
def test_direct(): subprocess.run(["x"])
def test_helper(): run_cli()
def test_fixture(pytester): pass
def test_pure(): assert 1
@pytest.mark.slow
def test_marked(): subprocess.run(["x"])
'''
    assert unmarked_spawning_tests(src) == ["test_direct", "test_helper", "test_fixture"]
    assert unmarked_spawning_tests("import pytest\npytestmark = pytest.mark.slow\n" + src.split("\n", 2)[2]) == []
    assert unmarked_spawning_tests("import pytest\npytestmark = [pytest.mark.slow, pytest.mark.skipif(False, reason='')]\n"
                                   + src.split("\n", 2)[2]) == []

"""The README's layer table is the import graph: every dhstats module is in one layer and
imports (at module level or inside a function) only from its own layer or those below.
``simulate`` (the reference simulator) stands aside: any layer may use it, it uses none."""
from __future__ import annotations

import ast
import re

import pytest

from paths import PROJECT_ROOT as ROOT

PACKAGE = ROOT / "dhstats"


def readme_layers() -> list[tuple[str, set[str]]]:
    """(layer, modules) bottom-up, from the README's ```layers block (top layer first there)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    assert block, "README.md has no ```layers block"
    rows = []
    for line in block.group(1).splitlines():
        if line.strip():
            name, _, modules = line.partition(":")
            rows.append((name.strip(), set(modules.split())))
    return rows[::-1]


def module_name(path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def imports_of(path) -> set[str]:
    """dhstats modules ``path`` imports, as 'gate', 'plots.sets', 'simulate.run', …"""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            if node.module:
                out.add(".".join(base + node.module.split(".")))
            else:
                out.update(".".join(base + [a.name]) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dhstats."):
            out.add(node.module.removeprefix("dhstats."))
        elif isinstance(node, ast.Import):
            out.update(a.name.removeprefix("dhstats.") for a in node.names if a.name.startswith("dhstats."))
    return {m for m in out if m and m != "__init__"}


def layer_of(module: str, layers) -> int | None:
    """The layer holding ``module`` (a submodule falls under its package unless named itself)."""
    for candidate in (module, module.split(".")[0]):
        for i, (_, members) in enumerate(layers):
            if candidate in members:
                return i
    return None


def violations(layers) -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        me = module_name(path)
        if me.split(".")[0] in ("simulate", "templates"):
            continue
        mine = layer_of(me, layers)
        if mine is None:
            out.append(f"{me}: in no layer of the README")
            continue
        for dep in sorted(imports_of(path)):
            if dep.split(".")[0] == "simulate":
                continue
            theirs = layer_of(dep, layers)
            if theirs is not None and theirs > mine:
                out.append(f"{me} ({layers[mine][0]}) imports {dep} ({layers[theirs][0]})")
    return out


def test_imports_follow_the_readmes_layers():
    assert violations(readme_layers()) == []


def test_the_check_can_fail():
    layers = readme_layers()
    names = [name for name, _ in layers]
    gate = names.index("gate")
    # the gate placed under the verdicts: its imports of collection/executor/registry point up
    swapped = [(n, set(m)) for n, m in layers]
    swapped[gate][1].discard("gate")
    swapped[0][1].add("gate")
    assert any(v.startswith("gate (load) imports") for v in violations(swapped))
    dropped = [(n, m - {"pages"}) for n, m in layers]
    assert "pages: in no layer of the README" in violations(dropped)


@pytest.mark.parametrize("module", ["gate", "collection", "executor", "summaries"])
def test_the_producer_imports_nothing_of_the_report_layer(module):
    report = dict(readme_layers())["report"]
    assert not {dep.split(".")[0] for dep in imports_of(PACKAGE / f"{module}.py")} & report

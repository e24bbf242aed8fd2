"""Folders are layers: every dhstats module lives in the folder of its layer (README.md's
``layers`` block names each layer's folders, top layer first; a top-level module is named
itself) and imports (at module level or inside a function) only from its own layer or those
below. ``simulate`` (the reference simulator) stands aside: any layer may use it, it uses none.
No folder holds more than 12 modules."""
from __future__ import annotations

import ast
import re

import pytest

from paths import PROJECT_ROOT as ROOT

PACKAGE = ROOT / "dhstats"
ASIDE = ("simulate",)
MAX_MODULES = 12


def readme_layers() -> list[tuple[str, set[str]]]:
    """(layer, folders and top-level modules) bottom-up, from the README's ```layers block."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    assert block, "README.md has no ```layers block"
    rows = []
    for line in block.group(1).splitlines():
        if line.strip():
            name, _, members = line.partition(":")
            rows.append((name.strip(), set(members.split())))
    return rows[::-1]


def module_name(path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def modules() -> list[str]:
    return sorted(module_name(p) for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def imports_of(path) -> set[str]:
    """dhstats modules ``path`` imports, as 'gate.gate', 'figures.sets', 'simulate.run', …"""
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


def folder_of(module: str) -> str:
    """A module's folder: its first component ('report.pages' -> 'report'; 'cli' -> 'cli')."""
    return module.split(".")[0]


def layer_of(module: str, layers) -> int | None:
    for i, (_, members) in enumerate(layers):
        if folder_of(module) in members:
            return i
    return None


def violations(layers, names=None) -> list[str]:
    out = []
    for me in names if names is not None else modules():
        if folder_of(me) in ASIDE:
            continue
        mine = layer_of(me, layers)
        if mine is None:
            out.append(f"{me}: its folder {folder_of(me)!r} is in no layer of the README")
            continue
        path = PACKAGE / (me.replace(".", "/") + ".py")
        if not path.is_file():
            path = PACKAGE / me.replace(".", "/") / "__init__.py"
        for dep in sorted(imports_of(path)):
            if folder_of(dep) in ASIDE:
                continue
            theirs = layer_of(dep, layers)
            if theirs is not None and theirs > mine:
                out.append(f"{me} ({layers[mine][0]}) imports {dep} ({layers[theirs][0]})")
    return out


def test_imports_follow_the_layers_of_their_folders():
    assert violations(readme_layers()) == []


def test_every_folder_is_one_layer():
    layers = readme_layers()
    members = [m for _, ms in layers for m in ms]
    assert len(members) == len(set(members)), "a folder in two layers"
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} - set(ASIDE)
    tops = {p.stem for p in PACKAGE.glob("*.py")}
    assert folders | tops == set(members)


def test_folders_are_small():
    count: dict[str, int] = {}
    for path in PACKAGE.rglob("*.py"):
        if "__pycache__" not in path.parts:
            folder = str(path.parent.relative_to(PACKAGE))
            count[folder] = count.get(folder, 0) + 1
    assert {f: n for f, n in count.items() if n > MAX_MODULES} == {}
    assert len([f for f in count if f != "."]) >= 6


def test_every_subpackage_says_what_lives_there():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 80, f"{init.parent.name}/__init__.py has no docstring"


def test_the_check_can_fail():
    layers = readme_layers()
    names = [name for name, _ in layers]
    # the gate's folder placed under the verdicts: its imports of the registry point up
    swapped = [(n, set(m)) for n, m in layers]
    swapped[names.index("gate")][1].discard("gate")
    swapped[0][1].add("gate")
    assert any(v.startswith("gate.gate (load) imports") for v in violations(swapped))
    dropped = [(n, m - {"report"}) for n, m in layers]
    assert "report.pages: its folder 'report' is in no layer of the README" in violations(dropped)


@pytest.mark.parametrize("path", sorted((PACKAGE / "gate").glob("*.py")), ids=lambda p: p.stem)
def test_the_producer_imports_nothing_of_the_report_layer(path):
    assert not {dep for dep in imports_of(path) if folder_of(dep) == "report"}

"""Size and spelling figures of the dhstats package (the structure targets in docs/design.md).

    python3 bench/house_metrics.py [PACKAGE_DIR]

Prints: the largest module, class and function (lines, from the AST: a definition's first
line to its last, decorators excluded), how many exceed 400 / 250 / 80 lines, plugin.py's line
count, and the modules that spell a check name as a string literal (a docstring is not a
literal here; f-strings and comments are ignored).
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE_MAX, CLASS_MAX, FUNCTION_MAX = 400, 250, 80


def check_names(package: Path) -> tuple[str, ...]:
    """The registry's check names, read from registry.py's ``Check("name", ...)`` calls."""
    tree = ast.parse((package / "verdicts" / "registry.py").read_text())
    return tuple(node.args[0].value for node in ast.walk(tree)
                 if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Check"
                 and node.args and isinstance(node.args[0], ast.Constant))


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def measure(package: Path) -> dict:
    names = set(check_names(package))
    modules, classes, functions, spelling = {}, {}, {}, []
    for path in sorted(package.rglob("*.py")):
        rel = str(path.relative_to(package.parent))
        text = path.read_text()
        modules[rel] = len(text.splitlines())
        tree = ast.parse(text)
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes[f"{rel}:{node.name}"] = node.end_lineno - node.lineno + 1
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions[f"{rel}:{node.name}"] = node.end_lineno - node.lineno + 1
        if any(isinstance(n, ast.Constant) and n.value in names and id(n) not in docs for n in ast.walk(tree)):
            spelling.append(rel)
    return {"modules": modules, "classes": classes, "functions": functions, "spelling": spelling}


def _worst(sizes: dict, limit: int) -> str:
    name = max(sizes, key=sizes.get)
    over = sorted((n for n, s in sizes.items() if s > limit), key=lambda n: -sizes[n])
    text = f"largest {sizes[name]} ({name}); {len(over)} over {limit}"
    return text + (": " + ", ".join(f"{n} {sizes[n]}" for n in over) if over else "")


def main(argv: list[str]) -> int:
    package = Path(argv[0]) if argv else ROOT / "dhstats"
    m = measure(package)
    print("modules:  ", _worst(m["modules"], MODULE_MAX))
    print("classes:  ", _worst(m["classes"], CLASS_MAX))
    print("functions:", _worst(m["functions"], FUNCTION_MAX))
    print("plugin.py:", m["modules"].get(f"{package.name}/pytest_plugin/plugin.py"), "lines")
    print(f"check names spelled in {len(m['spelling'])} modules:", ", ".join(m["spelling"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

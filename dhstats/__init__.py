"""dhstats: a statistical acceptance gate for ΔH (entropy-change) estimators.

One subpackage per layer, each importing only from its own folder and those below it:
``load`` → ``stats`` → ``verdicts`` → ``figures`` → ``gate`` → ``report`` → ``session`` →
``notebook`` → ``pytest_plugin`` (README.md's ``layers`` block; ``simulate`` stands aside).
The public API is here: runs and settings, and lazily the checks, verdicts and the gate (``dhstats.evaluate``,
``dhstats.Gate``) and the ``plots`` and ``tables`` modules. Importing ``dhstats`` loads
neither matplotlib nor pytest.

PYTEST_DONT_REWRITE: pytest marks the package of a ``pytest11`` entry point for assertion
rewriting; ``dhstats gate`` has imported it before pytest starts, and this marker (pytest's
documented opt-out) keeps pytest from warning that it cannot rewrite it.
"""
from dhstats.load.results import Entry, InvalidRun, Problem, Quadratic, Run, RunFile, RunKey, discover, load_run, load_runs
from dhstats.load.settings import Settings

__version__ = "0.2.0"

_LAZY = {"CHECKS": "verdicts.registry", "evaluate": "verdicts.registry",
         "evaluate_run": "verdicts.registry", "Outcome": "verdicts.verdicts",
         "Verdict": "verdicts.verdicts", "Gate": "gate.gate"}
_MODULES = {"plots": "figures.gallery", "tables": "notebook.tables"}  # public modules


def __getattr__(name: str):
    """Checks and the gate load on first use (``dhstats.evaluate``, ``dhstats.Gate``), as do the
    figure and table modules (``from dhstats import plots, tables``)."""
    import importlib

    if name in _MODULES:
        return importlib.import_module(f".{_MODULES[name]}", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'dhstats' has no attribute {name!r}")


__all__ = [
    "CHECKS", "Entry", "Gate", "InvalidRun", "Outcome", "Problem", "Quadratic", "Run", "RunFile", "RunKey",
    "Settings", "Verdict", "discover", "evaluate", "evaluate_run", "load_run", "load_runs",
]

"""dhstats: a statistical acceptance gate for ΔH (entropy-change) estimators.

Layers (one way): ``results`` (find, parse, validate) → ``stats``/``sigmas``/``psis`` (numpy
kernels, every σ and its source) → ``verdicts``/``run_checks``/``agreement``/``runsets`` (thresholds
→ outcomes; their list: ``registry``) → ``gate`` (a pytest-free session) → ``health``/``badges``/
``pages``/``plots``/``tables`` → ``plugin`` (pytest hooks only) and ``cli``. Importing ``dhstats``
loads neither matplotlib nor pytest.

PYTEST_DONT_REWRITE: pytest marks the package of a ``pytest11`` entry point for assertion
rewriting; ``dhstats gate`` has imported it before pytest starts, and this marker (pytest's
documented opt-out) keeps pytest from warning that it cannot rewrite it.
"""
from .results import Entry, InvalidRun, Problem, Quadratic, Run, RunFile, RunKey, discover, load_run, load_runs
from .settings import Settings

__version__ = "0.2.0"

_LAZY = {"CHECKS": "registry", "evaluate": "registry", "evaluate_run": "registry",
         "Outcome": "verdicts", "Verdict": "verdicts", "Gate": "gate"}


def __getattr__(name: str):
    """Checks and the gate load on first use (``dhstats.evaluate``, ``dhstats.Gate``)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'dhstats' has no attribute {name!r}")


__all__ = [
    "CHECKS", "Entry", "Gate", "InvalidRun", "Outcome", "Problem", "Quadratic", "Run", "RunFile", "RunKey",
    "Settings", "Verdict", "discover", "evaluate", "evaluate_run", "load_run", "load_runs",
]

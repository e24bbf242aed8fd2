"""dhstats: a statistical acceptance gate for ΔH (entropy-change) estimators.

Layers (one way): ``results`` (find, parse, validate) → ``stats`` (numpy kernels) →
``verdicts`` (thresholds → outcomes) → ``tables`` / ``plots`` / ``report`` → ``plugin``
(pytest). Importing ``dhstats`` loads neither matplotlib nor pytest.
"""
from .results import Entry, InvalidRun, Problem, Quadratic, Run, RunFile, discover, load_run, load_runs
from .verdicts import CHECKS, Outcome, Settings, Verdict, evaluate, evaluate_run

__version__ = "0.1.0"

__all__ = [
    "CHECKS", "Entry", "InvalidRun", "Outcome", "Problem", "Quadratic", "Run", "RunFile",
    "Settings", "Verdict", "discover", "evaluate", "evaluate_run", "load_run", "load_runs",
]

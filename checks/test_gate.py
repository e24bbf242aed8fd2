"""The ΔH acceptance gate: one test per (check, run set, run, η) — shared/spec/checks.md.

    pytest checks/ --results ../E_2048 [--results ../E_256 ...]

The tests are derived from the registry of checks (:mod:`dhstats.registry`): ``test_input``
per run, then one test function per check, each parametrised with its cases by
:mod:`dhstats.plugin` (per η, per run, or per run set for the pooled checks and se_scaling).
Each fails with the numbers (prediction, truth, σ and its source, z, k) when the estimator is
unhealthy, or skips with the reason when a field is missing or the evidence is inconclusive.
Without ``--results`` the embedded example run set is checked.
"""
from dhstats.plugin import gate_tests

globals().update(gate_tests())

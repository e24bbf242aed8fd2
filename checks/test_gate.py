"""The ΔH acceptance gate: one test per (check, run set, run, η) — shared/spec/checks.md.

    pytest checks/ --results ../E_2048 [--results ../E_256 ...]

One test function per check of the registry (:mod:`dhstats.verdicts.registry`), in its order, plus
``test_input`` per run; the plugin (:mod:`dhstats.pytest_plugin.plugin`) parametrises each with its cases
(per η, per run, or per run set for the pooled checks and se_scaling). A test fails with the
numbers (prediction, truth, σ and its source, z, k) when the estimator is unhealthy, or skips
with the reason when a field is missing or the evidence is inconclusive. Without
``--results`` the embedded example run set is checked.
"""


def test_input(case):
    case.judge()


def test_consistency(case):
    case.judge()


def test_snis_weights(case):
    case.judge()


def test_snis_reliability(case):
    case.judge()


def test_se_consistency(case):
    case.judge()


def test_linear_agreement(case):
    case.judge()


def test_linquad_agreement(case):
    case.judge()


def test_truncation_ratio(case):
    case.judge()


def test_pooled_linear_agreement(case):
    case.judge()


def test_pooled_linquad_agreement(case):
    case.judge()


def test_se_scaling(case):
    case.judge()


def test_baseline_linear_ratio(case):
    case.judge()


def test_baseline_linquad_ratio(case):
    case.judge()


def test_baseline_efficiency(case):
    case.judge()

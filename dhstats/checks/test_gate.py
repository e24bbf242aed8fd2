"""The ΔH acceptance gate, as installed (see :mod:`dhstats.checks`): the same tests as a
checkout's checks/test_gate.py, one per check of the registry, parametrised by :mod:`dhstats.pytest_plugin.plugin`."""


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

"""dhstats.verdicts.case_numbers: typed numbers that read back what health.json holds, exactly."""
from __future__ import annotations

import math
import pickle

from dhstats.verdicts.case_numbers import ABSENT, AgreementNumbers, PooledNumbers, ScalingNumbers, present
from dhstats.verdicts.verdicts import Outcome, Reason, Verdict


def test_absent_fields_are_left_out_and_none_is_null():
    n = AgreementNumbers(z=1.5, k=3.0, sigma_q=None)
    assert n.to_dict() == {"z": 1.5, "k": 3.0, "sigma_q": None}
    assert n.prediction is ABSENT and not n.prediction and present(n.prediction) is None
    assert present(n.sigma_q) is None and present(n.z) == 1.5


def test_a_health_case_reads_back_to_the_same_dict():
    case = {"run_set": "E_4", "run": "run_01", "eta": 1e-6, "check": "linear_agreement", "outcome": "failed",
            "reason": "out_of_bounds", "message": "m", "z": -4.2, "k": 3.0, "n": 256, "sigma": 2e-4,
            "sigma_source": "paired", "finding": "biased_g", "detail": "ηG = …"}
    v = Verdict.of(case, AgreementNumbers)
    assert (v.outcome, v.reason, v.numbers.z, v.numbers.n, v.detail) == (Outcome.FAILED, Reason.OUT_OF_BOUNDS, -4.2,
                                                                         256, "ηG = …")
    assert v.to_dict() == case


def test_numbers_survive_pickling_between_processes():
    # judging processes (-n N) send verdicts back pickled: ABSENT must stay the one object
    n = pickle.loads(pickle.dumps(PooledNumbers(R=3, Z=math.inf)))
    assert n.ratio is ABSENT and n.to_dict() == {"R": 3, "Z": math.inf}
    assert pickle.loads(pickle.dumps(ABSENT)) is ABSENT


def test_a_missing_field_of_a_read_back_record_is_absent():
    s = ScalingNumbers.of({"E": 512, "reference": "E_2048", "unknown": 1})
    assert s.to_dict() == {"E": 512, "reference": "E_2048"} and s.ratio_sigma_g is ABSENT

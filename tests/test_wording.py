"""dhstats.verdicts.wording: numbers to 3 significant figures, the headline/detail shape of a failure,
grammatical counts, and the headline of a finding shared by several cases."""
from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from dhstats.verdicts.wording import detail_of, failure, finding_headline, headline_of, num, of_runs, pm, signed


def test_num_three_significant_figures():
    assert [num(x) for x in (0.032178, 380.44, 1.0931e7, 1.5, 2, None, math.nan, -math.inf)] == \
        ["0.0322", "380", "1.09e+07", "1.5", "2", "n/a", "nan", "-inf"]
    assert pm(1.41, 0.1486) == "1.41 ± 0.15"
    assert signed(-95.67) == "−95.7"


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12).filter(lambda x: x != 0))
def test_num_keeps_three_significant_figures(x):
    assert float(num(x)) == float(f"{x:.3g}")
    assert len(num(x).lstrip("-").split("e")[0].replace(".", "").lstrip("0")) <= 3


def test_of_runs_agrees_in_number():
    assert of_runs(1, 4) == "1 of 4 runs fails"
    assert of_runs(3, 4) == "3 of 4 runs fail"
    assert of_runs(1, 1) == "1 of 1 run fails"


def test_failure_is_headline_then_detail():
    msg = failure("cause: remedy", "numbers = 1; σ = se_sum(x)")
    assert msg == "cause: remedy.\nnumbers = 1; σ = se_sum(x)."
    assert headline_of(msg) == "cause: remedy." and detail_of(msg) == "numbers = 1; σ = se_sum(x)."


def test_finding_headline_counts_runs_and_run_sets():
    cases = [{"run_set": "E_256", "run": f"run_0{i}"} for i in range(1, 5)] + \
            [{"run_set": "E_512", "run": f"run_0{i}"} for i in range(1, 5)]
    assert finding_headline("shard_mean_se", cases) == (
        "8 runs: the producer reports shard-mean SEs (ρ·num_shards ≈ 1); use --reported-se shard-mean "
        "(or dhstats_reported_se = shard-mean in the ini)")
    assert finding_headline("beyond_linear", [{"run_set": "E_1", "run": None}, {"run_set": "E_1", "run": "run_01"}]
                            ).startswith("1 run and 1 run set: η is beyond the linear regime")

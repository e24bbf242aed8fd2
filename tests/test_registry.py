"""The registry of checks (dhstats.registry): a check that raises fails that check, with the
exception named, and the run's other checks keep their verdicts."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest

from dhstats import registry, simulate
from dhstats.results import RunFile, validate
from dhstats.verdicts import Outcome, Reason


@pytest.fixture(scope="module")
def run():
    doc = orjson.loads(orjson.dumps(simulate.simulate_run(64, (1e-6, 4e-6), seed=3, entropy_noise=0.01)))
    return validate(doc, RunFile("E_64", "run_01", Path("E_64/run_01/results.json")))


def _broken(name: str, monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise ZeroDivisionError("boom in the check")

    checks = tuple(dataclasses.replace(c, judge=boom) if c.name == name else c for c in registry.CHECKS)
    monkeypatch.setattr(registry, "CHECKS", checks)
    monkeypatch.setattr(registry, "BY_NAME", {c.name: c for c in checks})


@pytest.mark.parametrize("name", ["snis_weights", "se_consistency"])
def test_a_check_that_raises_fails_that_check_only(run, monkeypatch, name):
    rv_ok, intact = registry.evaluate(run)
    _broken(name, monkeypatch)
    rv, verdicts = registry.evaluate(run)
    assert rv.outcome == "ok" and rv == rv_ok  # the run is not an error
    mine = [v for v in verdicts if v.check == name]
    assert len(mine) == (1 if name == "se_consistency" else len(run.entries))
    for v in mine:
        assert v.outcome == Outcome.FAILED and v.reason == Reason.INTERNAL_ERROR
        assert "ZeroDivisionError: boom in the check" in v.message and v.numbers == {"exception": "ZeroDivisionError"}
        assert v.to_dict()["reason"] == "internal_error"
    others = [v for v in verdicts if v.check != name]
    assert others == [v for v in intact if v.check != name]  # every other verdict kept, unchanged

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


def test_adding_a_check_is_one_entry_and_one_function(tmp_path, monkeypatch):
    """A new per-η check — one function, one registry entry — gets its cases, health.json counts,
    badge, terminal column and run-page rows with no other change."""
    from builders import write_run

    from dhstats.session import Session
    from dhstats.settings import parse
    from dhstats.terminal import summary_lines

    def check_positive_truth(ctx, e):
        ok = e.delta_h_true > 0
        return ctx.verdict("positive_truth", "passed" if ok else "failed",
                           f"ΔH_true = {e.delta_h_true:.3g} {'>' if ok else '≤'} 0.", e, delta_h_true=e.delta_h_true)

    new = registry.Check("positive_truth", registry.Scope.CASE, "pos", "ΔH_true is positive", check_positive_truth)
    checks = registry.CHECKS + (new,)
    monkeypatch.setattr(registry, "CHECKS", checks)
    monkeypatch.setattr(registry, "BY_NAME", {c.name: c for c in checks})
    monkeypatch.setattr(registry, "NAMES", tuple(c.name for c in checks))
    for r in (1, 2):
        write_run(tmp_path / "E_64", f"run_{r:02d}", n=64, seed=r)
    health = Session(parse({"reports": str(tmp_path / "reports"), "history": "none", "max_plots": "0"}),
                     [tmp_path / "E_64"]).run()
    mine = [c for c in health["cases"] if c["check"] == "positive_truth"]
    etas = {c["eta"] for c in health["cases"] if c["check"] == "linear_agreement"}
    assert len(mine) == 2 * len(etas) and {c["eta"] for c in mine} == etas
    assert all(c["outcome"] == "failed" for c in mine)  # entropy goes down in the simulator
    assert health["counts"]["checks"]["positive_truth"]["failed"] == len(mine)
    assert (tmp_path / "reports" / "badges" / "positive_truth.svg").exists()
    header = next(line for line in summary_lines(health, []) if line.startswith("run "))
    assert header.split()[-1] == "pos"  # the terminal table's last column
    page = (tmp_path / "reports" / "runs" / "E_64" / "run_01.html").read_text()
    assert "positive_truth" in page and health["exit"]["status"] == 1

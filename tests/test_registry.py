"""The registry of checks (dhstats.verdicts.registry): a check that raises fails that check, with the
exception named, and the run's other checks keep their verdicts."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest

from dhstats.verdicts import registry
from dhstats import simulate
from dhstats.load.results import RunFile, validate
from dhstats.verdicts.verdicts import Outcome, Reason


@pytest.fixture(scope="module")
def run():
    doc = orjson.loads(orjson.dumps(simulate.simulate_run(64, (1e-6, 4e-6), seed=3, entropy_noise=0.01)))
    return validate(doc, RunFile("E_64", "run_01", Path("E_64/run_01/results.json")))


def _broken(name: str, monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise ZeroDivisionError("boom in the check")

    checks = [dataclasses.replace(c, judge=boom) if c.name == name else c for c in registry.checks()]
    monkeypatch.setattr(registry, "_CHECKS", checks)


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


def test_adding_a_check_is_one_entry_and_one_function(tmp_path, request):
    """A new per-η check — one function, one registry entry (:func:`registry.register`, no
    other module's global patched) — gets its cases, health.json counts, badge, terminal column
    and run-page rows with no other change; its judge names neither the check nor the case."""
    from builders import write_run

    from dhstats.session import Session
    from dhstats.load.settings import parse
    from dhstats.report.terminal import summary_lines

    def check_positive_truth(ctx, e):
        ok = e.delta_h_true > 0
        return ctx.judgement("passed" if ok else "failed", f"ΔH_true = {e.delta_h_true:.3g} {'>' if ok else '≤'} 0.",
                             delta_h_true=e.delta_h_true)

    registry.register(registry.Check("positive_truth", registry.Scope.CASE, "pos", "ΔH_true is positive",
                                     check_positive_truth))
    request.addfinalizer(lambda: registry.unregister("positive_truth"))
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


def test_register_refuses_a_name_taken_and_unregister_restores():
    before = registry.names()
    with pytest.raises(ValueError, match="already a dhstats check"):
        registry.register(registry.check("consistency"))
    registry.register(dataclasses.replace(registry.check("consistency"), name="consistency_again"))
    assert registry.names() == (*before, "consistency_again") and registry.NAMES == registry.names()
    registry.unregister("consistency_again")
    assert registry.names() == before


def test_the_registry_stamps_name_and_location(run):
    """A judge returns no name and no location: :meth:`Check.verdict` stamps them."""
    from dhstats.verdicts.verdicts import Judgement, RunContext

    c, e = registry.check("linear_agreement"), run.entries[1]
    ctx = RunContext(run, registry.Settings())
    bare = c.judge(ctx, e)
    assert isinstance(bare, Judgement) and not hasattr(bare, "check")
    v = c.verdict(ctx, e)
    assert (v.check, v.run_set, v.run, v.eta) == ("linear_agreement", "E_64", "run_01", e.eta)
    assert (v.outcome, v.message, v.numbers) == (bare.outcome, bare.message, bare.numbers)


def test_estimators_are_objects_with_their_checks():
    from dhstats.verdicts.agreement import LINEAR, LINQUAD

    assert [(e.estimator, e.case, e.pooled, e.comparison) for e in registry.estimators()] == [
        (LINEAR, "linear_agreement", "pooled_linear_agreement", "baseline_linear_ratio"),
        (LINQUAD, "linquad_agreement", "pooled_linquad_agreement", "baseline_linquad_ratio")]
    assert (LINEAR.label, LINQUAD.symbol) == ("the linear prediction", "ηG_q + ½η²Q")


def test_adding_a_figure_is_one_entry_and_one_function(tmp_path, request):
    """A new figure — one function, one :data:`dhstats.figures.rendered.FIGURES` entry — is drawn by the
    gate for the failing cases of a check that names it (one more entry: the check's), shown on
    the run page under its caption, and written by ``dhstats plot``, with no other change."""
    from builders import write_run
    from matplotlib.figure import Figure

    from dhstats.cli import main
    from dhstats.figures.rendered import FigureKind, FigureScope, register_figure, unregister_figure
    from dhstats.session import Session
    from dhstats.load.settings import parse

    def truth_vs_eta(run, settings=None):
        fig = Figure(figsize=(3, 2))
        fig.add_subplot().plot(run.etas, [e.delta_h_true for e in run.entries], "o", gid="truth")
        return fig

    register_figure(FigureKind("truth_vs_eta", FigureScope.RUN, "ΔH_true at each η of the run", "ΔH_true vs η",
                               truth_vs_eta, settings=True))
    request.addfinalizer(lambda: unregister_figure("truth_vs_eta"))

    def check_positive_truth(ctx, e):
        return ctx.judgement("passed" if e.delta_h_true > 0 else "failed", f"ΔH_true = {e.delta_h_true:.3g}.")

    registry.register(registry.Check("positive_truth", registry.Scope.CASE, "pos", "ΔH_true is positive",
                                     check_positive_truth, ("truth_vs_eta",)))
    request.addfinalizer(lambda: registry.unregister("positive_truth"))
    write_run(tmp_path / "E_64", "run_01", n=64, seed=1)
    health = Session(parse({"reports": str(tmp_path / "reports"), "history": "none", "max_plots": "1"}),
                     [tmp_path / "E_64"]).run()
    assert any(c["check"] == "positive_truth" and c["outcome"] == "failed" for c in health["cases"])
    page = (tmp_path / "reports" / "runs" / "E_64" / "run_01.html").read_text()
    assert "ΔH_true at each η of the run — E_64/run_01" in page  # drawn by the gate, shown on the page
    out = tmp_path / "plots"
    assert main(["plot", "--results", str(tmp_path / "E_64"), "--figure", "truth_vs_eta", "--out", str(out),
                 "--dpi", "20"]) == 0
    assert [f.name for f in out.iterdir()] == ["E_64_run_01_truth_vs_eta.png"]

"""dhstats.gate.gate: a whole gate session without pytest, run-set checks,
robustness of the session. Fast: simulated run sets, no subprocess."""
from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import orjson
import pytest

from dhstats.gate.collection import case_id
from dhstats.gate.gate import Gate
from dhstats.report.health import written
from dhstats.session import Session
from dhstats.load.names import safe_name
from dhstats.figures.rendered import Figure
from dhstats.load.settings import SettingsError, parse

from builders import NOISE, noise, write_run


def session(tmp_path: Path, roots, **options) -> Session:
    return Session(parse({"reports": str(tmp_path / "reports"), "history": "none", **options}), roots)


@pytest.fixture
def two_sets(tmp_path) -> list[Path]:
    a, b = tmp_path / "E_128", tmp_path / "E_512"
    for i in range(1, 4):
        write_run(a, f"run_{i:02d}", n=128, seed=i, **noise(128))
        write_run(b, f"run_{i:02d}", n=512, seed=10 + i, **noise(512))
    return [a, b]


# --------------------------------------------------------------------------- a session, no pytest


def test_session_without_pytest_judges_every_case_and_writes_reports(tmp_path, two_sets):
    g = session(tmp_path, two_sets)
    health = g.run()
    runs = [(r["run_set"], r["run"]) for r in health["runs"]]
    assert runs == [(s, f"run_{i:02d}") for s in ("E_128", "E_512") for i in range(1, 4)]
    checks = {c["check"] for c in health["cases"]}
    assert {"pooled_linear_agreement", "pooled_linquad_agreement", "se_scaling"} <= checks
    pooled = [c for c in health["cases"] if c["check"] == "pooled_linear_agreement"]
    assert len(pooled) == 6 and all(c["run"] is None and c["R"] == 3 for c in pooled)
    for c in pooled:  # Z is Stouffer's over the runs' z
        z = [x["z"] for x in health["cases"] if x["check"] == "linear_agreement" and x["run_set"] == c["run_set"]
             and x["eta"] == c["eta"]]
        assert c["Z"] == pytest.approx(sum(z) / math.sqrt(3), rel=1e-12)
    scaling = {c["run_set"]: c for c in health["cases"] if c["check"] == "se_scaling"}
    # the reference set (largest E) is not a case: no "passed (σ ratio 1)" padding the counts
    assert set(scaling) == {"E_128"} and scaling["E_128"]["reference"] == "E_512"
    assert health["counts"]["checks"]["se_scaling"]["total"] == 1
    assert all(c["outcome"] == "passed" for c in scaling.values())
    assert all(c["sigma_source"] == "paired" for c in health["cases"] if c["check"].endswith("agreement")
               and c["run"] is not None)
    reports = tmp_path / "reports"
    assert json.loads((reports / "health.json").read_text()) == written(health)  # as written: lean passes
    assert (reports / "badges" / "estimator-health.svg").is_file()


def test_case_ids_are_readable_safe_and_unique():
    assert case_id("E_2048", "run_01", 1.6e-06) == "E_2048/run_01/eta=1.6e-06"
    assert case_id("E_2048", None, 3.2e-06) == "E_2048/eta=3.2e-06"
    assert case_id("E_2048", "run_01", None) == "E_2048/run_01"
    evil = "run_<img src=x onerror=document.title='PWNED'>"
    sid = safe_name(evil)
    assert sid.startswith("run__img_src_x_onerror_document.title__PWNED__-") and "<" not in sid
    assert safe_name("run_x\\y") != safe_name("run_x_y") == "run_x_y"
    assert len(safe_name("r" * 230)) <= 80 + 9


def test_se_scaling_needs_two_run_sets(tmp_path, two_sets):
    assert session(tmp_path, two_sets[:1]).gate.collection.cases("se_scaling") == []
    assert [c.id for c in session(tmp_path, two_sets).gate.collection.cases("se_scaling")] == ["E_128", "E_512"]


def test_mis_scaled_sigma_fails_se_scaling(tmp_path):
    """A run set whose gdotv are scaled ×4 around G (σ_G too large by 4, G unchanged)."""
    a, b = tmp_path / "E_128", tmp_path / "E_512"
    for i in range(1, 3):
        write_run(a, f"run_{i:02d}", n=128, seed=i, **noise(128))
        path = write_run(b, f"run_{i:02d}", n=512, seed=10 + i, **noise(512))
        doc = orjson.loads(path.read_bytes())
        recs = doc["approx"]["per_sequence"]
        G, T = doc["approx"]["delta_h_per_lr"], np.array([r["length"] for r in recs], float)
        for r, t in zip(recs, T):
            r["gdotv"] = float(G * t / T.sum() + 4 * (r["gdotv"] - G * t / T.sum()))
        path.write_bytes(orjson.dumps(doc))
    health = session(tmp_path, [a, b]).run()
    scaling = {c["run_set"]: c for c in health["cases"] if c["check"] == "se_scaling"}
    assert scaling["E_128"]["outcome"] == "failed" and "σ_G·√E ratio" in scaling["E_128"]["message"]
    assert scaling["E_128"]["ratio_sigma_g"] == pytest.approx(0.25, rel=0.5)


def test_shared_bias_is_found_by_pooling_not_by_single_runs(tmp_path):
    """G biased by +1.5 σ_lin in each of 9 runs: no run reaches |z| = 3; Stouffer's Z does."""
    root = tmp_path / "E_256"
    for i in range(1, 10):
        path = write_run(root, f"run_{i:02d}", n=256, seed=100 + i, etas=(3.2e-6,), **NOISE)
        doc = orjson.loads(path.read_bytes())
        g = session(tmp_path, [root])  # the σ the gate uses, to plant the bias in its units
        from dhstats.load.results import RunFile, validate
        from dhstats.stats.sigmas import run_sigmas

        run = validate(doc, RunFile("E_256", f"run_{i:02d}", path))
        sig = run_sigmas(run, "total")[3.2e-6].linear.value
        shift = float(1.5 * sig / 3.2e-6 - (3.2e-6 * run.delta_h_per_lr - run.entries[0].delta_h_true) / 3.2e-6)
        doc["approx"]["delta_h_per_lr"] += shift
        for r in doc["approx"]["per_sequence"]:
            r["gdotv"] += shift / len(doc["approx"]["per_sequence"])
        path.write_bytes(orjson.dumps(doc))
    health = g.run()
    z = [c["z"] for c in health["cases"] if c["check"] == "linear_agreement"]
    assert all(abs(x) < 3 for x in z) and np.mean(z) == pytest.approx(1.5, abs=0.2)
    pooled = next(c for c in health["cases"] if c["check"] == "pooled_linear_agreement")
    assert pooled["outcome"] == "failed" and pooled["Z"] == pytest.approx(4.5, abs=0.6)
    # ΔH < 0 here: a prediction above ΔH_true is smaller in magnitude, an undershoot
    assert "the linear prediction undershoots ΔH by" in pooled["message"] and "over 9 runs" in pooled["message"]
    assert pooled["ratio"] < 1 and pooled["ratio_se"] > 0
    assert "too small for any one run to show" in pooled["message"]


def test_pooled_skips_with_fewer_than_two_judged_runs(tmp_path):
    root = tmp_path / "E_128"
    write_run(root, "run_01", **NOISE)
    (root / "run_02").mkdir()  # invalid: no results.json
    health = session(tmp_path, [root]).run()
    pooled = [c for c in health["cases"] if c["check"].startswith("pooled_")]
    assert pooled and all(c["outcome"] == "skipped" and c["R"] == 1 for c in pooled)


# --------------------------------------------------------------------------- xdist: summaries exchanged


def test_workers_share_run_summaries_through_the_exchange(tmp_path, two_sets):
    """Two gates with one exchange directory stand for two xdist workers: each judges half of
    the runs; a pooled case on one waits for the other's runs instead of parsing them."""
    serial = session(tmp_path, two_sets).run()
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    opts = parse({"reports": str(tmp_path / "w"), "history": "none"})
    w1, w2 = Gate(opts, two_sets, exchange=exchange), Gate(opts, two_sets, exchange=exchange)
    mine = [f for i, f in enumerate(w1.collection.files) if i % 2 == 0]
    parsed = []
    original = w1._evaluate
    w1._evaluate = lambda f, keep_arrays=True: parsed.append(f.key) or original(f, keep_arrays)

    def judge_other_half():
        for f in w2.collection.files:
            if f not in mine:
                w2.evaluation(f)

    for f in mine:
        w1.evaluation(f)
    worker = threading.Thread(target=judge_other_half)
    worker.start()  # w1's pooled cases wait for these
    pooled = {(c.run_set, c.eta): w1.judge(c) for c in w1.collection.cases("pooled_linear_agreement")}
    worker.join()
    assert sorted(parsed) == sorted(f.key for f in mine)  # no file parsed twice for pooling
    expected = {(c["run_set"], c["eta"]): c["Z"] for c in serial["cases"] if c["check"] == "pooled_linear_agreement"}
    assert {k: v.to_dict()["Z"] for k, v in pooled.items()} == expected


# --------------------------------------------------------------------------- robustness


def _with_h_base(path: Path, entry: int, value: float) -> None:
    doc = orjson.loads(path.read_bytes())
    d = doc["true"]["entries"][entry]["diagnostics"]
    d["h_base"] = [value] * len(d["h_base"])
    path.write_bytes(orjson.dumps(doc))


def test_garbage_never_passes_and_every_run_is_reported(tmp_path):
    """h_base = [1e308]*n once passed consistency and both agreements (σ_true = inf ⇒ z = 0):
    now it is invalid input naming its JSON path, and h_base at the largest valid magnitude
    (1e50) is judged and fails consistency at that η; the intact run is judged as alone."""
    root = tmp_path / "E_128"
    write_run(root, "run_01", **NOISE)
    _with_h_base(write_run(root, "run_02", seed=2, **NOISE), 1, 1e308)
    _with_h_base(write_run(root, "run_03", seed=3, **NOISE), 1, 1e50)
    health = session(tmp_path, [root], reported_se="shard-mean").run()
    runs = {r["run"]: r for r in health["runs"]}
    assert list(runs) == ["run_01", "run_02", "run_03"]
    assert health["exit"]["status"] == 1
    assert runs["run_02"]["outcome"] == "error"
    assert [(p["json_path"], p["reason"], p["message"]) for p in runs["run_02"]["problems"]] == [
        ("true.entries[1].diagnostics.h_base[0]", "out_of_range",
         "1e+308, expected |x| ≤ 1e50 (bound on every number the gate reads)")]
    assert not [c for c in health["cases"] if c["run"] == "run_02"]
    assert runs["run_03"]["outcome"] == "ok"
    eta = sorted({c["eta"] for c in health["cases"] if c["eta"] is not None})[1]
    garbage = {c["check"]: c for c in health["cases"] if c["run"] == "run_03" and c["eta"] == eta}
    assert garbage["consistency"]["outcome"] == "failed" and "base_entropy" in garbage["consistency"]["message"]
    alone_root = tmp_path / "alone" / "E_128"
    write_run(alone_root, "run_01", **NOISE)
    alone = session(tmp_path / "alone", [alone_root], reported_se="shard-mean").run()
    mine = [c for c in health["cases"] if c["run"] == "run_01"]
    assert mine == [c for c in alone["cases"] if c["run"] == "run_01"]


def test_a_non_finite_statistic_fails_its_case_in_a_session(tmp_path, monkeypatch):
    """Whatever produces it, a NaN z fails its case with reason not_finite (never a pass), and
    the pooled check leaves out runs without a finite z (here all: skipped)."""
    from dhstats.stats import stats

    root = tmp_path / "E_128"
    write_run(root, "run_01", **NOISE)
    write_run(root, "run_02", seed=2, **NOISE)
    monkeypatch.setattr(stats, "agreement_z", lambda *a, **k: math.nan)
    health = session(tmp_path, [root]).run()
    agreement = [c for c in health["cases"] if c["check"] in ("linear_agreement", "linquad_agreement")]
    assert len(agreement) == 2 * 2 * 3
    assert all(c["outcome"] == "failed" and c["reason"] == "not_finite" and c["z"] is None for c in agreement)
    pooled = [c for c in health["cases"] if c["check"].startswith("pooled_")]
    assert pooled and all(c["outcome"] == "skipped" and c["R"] == 0 for c in pooled)
    assert health["exit"]["status"] == 1


def _failing_run_set(tmp_path: Path) -> Path:
    """run_01 intact; run_02 with all-zero weights at its first η (consistency, snis_weights,
    the agreements and truncation fail there)."""
    root = tmp_path / "E_128"
    write_run(root, "run_01", **NOISE)
    path = write_run(root, "run_02", seed=2, **NOISE)
    doc = orjson.loads(path.read_bytes())
    doc["true"]["entries"][0]["diagnostics"]["normalized_weights"] = [0.0] * 128  # np.histogram once raised
    path.write_bytes(orjson.dumps(doc))
    return root


def raising(exc: Exception):
    """A stand-in for a function that fails with ``exc``."""
    def broken(*a, **k):
        raise exc
    return broken


def test_a_figure_that_fails_is_a_note_and_loses_no_run(tmp_path, monkeypatch):
    from dhstats.figures import gallery as plots

    monkeypatch.setattr(plots, "figure", raising(RuntimeError("no canvas")))
    root = _failing_run_set(tmp_path)
    g = session(tmp_path, [root])
    health = g.run()
    assert [(r["run"], r["outcome"]) for r in health["runs"]] == [("run_01", "ok"), ("run_02", "ok")]
    failed = {(c["run"], c["check"]) for c in health["cases"] if c["outcome"] == "failed"}
    assert ("run_02", "snis_weights") in failed and all(run == "run_02" for run, _ in failed)
    assert not g.outputs.output_errors
    page = (tmp_path / "reports" / "runs" / "E_128" / "run_02.html").read_text()
    assert page.count("could not be drawn: RuntimeError: no canvas") >= 1
    assert "<img" not in page


def test_an_output_that_fails_loses_no_run(tmp_path, monkeypatch):
    from dhstats.report import plan as report_files

    monkeypatch.setattr(report_files, "write_reports", raising(OSError("disk full")))
    root = _failing_run_set(tmp_path)
    g = session(tmp_path, [root])
    health = g.run()
    assert [r["run"] for r in health["runs"]] == ["run_01", "run_02"]
    assert {c["run"] for c in health["cases"] if c["outcome"] == "failed"} == {"run_02"}
    assert health["exit"]["status"] == 1
    assert g.outputs.output_errors == ["dhstats: writing the reports failed: OSError: disk full"]


def test_bad_options_are_usage_errors(tmp_path):
    for raw, words in [({"sigma": "1e400"}, "--sigma"), ({"max_plots": "1.5"}, "--max-plots"),
                       ({"khat_max": "nan"}, "--khat-max"), ({"sigma": "-1"}, "--sigma"),
                       ({"scaling_bounds": "2,1"}, "--scaling-bounds")]:
        with pytest.raises(SettingsError, match=words):
            parse(raw)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(SettingsError, match="--reports"):
        parse({"reports": str(tmp_path / "afile")})


def test_the_same_directory_twice_is_checked_once(tmp_path, two_sets):
    g = session(tmp_path, [two_sets[0], two_sets[0], Path(str(two_sets[0]) + "/")])
    assert len(g.gate.collection.files) == 3 and len(g.gate.collection.run_sets) == 1


def test_each_file_parsed_once_when_only_pooled_cases_run(tmp_path, two_sets, monkeypatch):
    """Like `-k pooled`: the pooled cases judge the runs they need, and health.json's run
    verdicts reuse that judging instead of parsing the files again."""
    from dhstats.gate import gate as gate_module

    parsed = []
    real = gate_module.load_fingerprinted
    monkeypatch.setattr(gate_module, "load_fingerprinted", lambda f, **kw: parsed.append(f.key) or real(f, **kw))
    g = session(tmp_path, two_sets)
    for case in g.gate.collection.cases("pooled_linear_agreement"):
        v = g.gate.judge(case)
        g.outputs.collect(g.gate.payload(case, v))
    health = g.report()
    assert sorted(parsed) == sorted(f.key for f in g.gate.collection.files)  # once each
    assert len(health["runs"]) == 6 and all(r["outcome"] == "ok" for r in health["runs"])


def test_a_run_sets_figure_is_attached_once(tmp_path):
    """The pooled figure of a run set shows every η: under its first failing pooled case only;
    the later ones carry no figure and no note (a note repeated under every pooled failure
    said the same thing 20 times)."""
    for r in (1, 2):
        write_run(tmp_path / "E_64", f"run_{r:02d}", n=64, seed=r, defects=["biased_gdotv"])
    g = session(tmp_path, [tmp_path / "E_64"])
    failing = [c for c in g.gate.collection.cases("pooled_linear_agreement") if g.gate.judge(c).outcome == "failed"]
    assert len(failing) >= 2
    first, second = g.gate.images(failing[0]), g.gate.images(failing[1])
    assert first and all(img.png is not None for img in first)  # the pictures
    assert second == []
def test_a_run_set_check_that_raises_fails_that_case_and_the_session_goes_on(tmp_path, two_sets, monkeypatch):
    import dataclasses

    from dhstats.verdicts import registry

    def boom(*args, **kwargs):
        raise RuntimeError("pooling bug")

    checks = [dataclasses.replace(c, judge=boom) if c.name == "pooled_linquad_agreement" else c
              for c in registry.checks()]
    monkeypatch.setattr(registry, "_CHECKS", checks)  # the registry's one list: every reader sees it
    g = session(tmp_path, two_sets)
    health = g.run()
    crashed = [c for c in health["cases"] if c["check"] == "pooled_linquad_agreement"]
    assert len(crashed) == 6 and all(c["outcome"] == "failed" and c["reason"] == "internal_error"
                                     and "RuntimeError: pooling bug" in c["message"] for c in crashed)
    assert all(c["outcome"] != "failed" for c in health["cases"] if c["check"] == "pooled_linear_agreement")
    assert len(health["runs"]) == 6 and all(r["outcome"] == "ok" for r in health["runs"])
    assert health["exit"]["status"] == 1 and not g.outputs.output_errors
    assert (tmp_path / "reports" / "health.json").exists()
    from dhstats.report.pages import render_summary

    assert "internal error in pooled_linquad_agreement" in render_summary(health)  # the summary names it

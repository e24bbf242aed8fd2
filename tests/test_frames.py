"""Tests of dhstats.notebook.frames: per-sequence DataFrames whose columns sum to the run's totals,
run sets, case frames, and their HTML in Jupyter (escaped)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dhstats.notebook import frames, tables
from dhstats import simulate
from dhstats.stats import stats
from dhstats.verdicts.display import HealthDocument
from dhstats.load.results import InvalidRun, Problem, ProblemReason, Quadratic, Run, RunFile
from dhstats.stats.sigmas import case_sigmas
from dhstats.verdicts.verdicts import Outcome, RunOutcome, RunVerdict, Verdict

from builders import make_run
from paths import REAL, needs_real

ETAS = (1e-6, 4e-6)


def test_per_sequence_rows_and_exact_values_on_a_small_run():
    run = make_run(n=4, seed=1, etas=(2e-6,), run_set="E_t")
    df = frames.per_sequence(run)
    assert list(df.columns) == list(frames.PER_SEQUENCE_COLUMNS)
    assert list(df["sequence"]) == [0, 1, 2, 3] and set(df["run_set"]) == {"E_t"}
    e = run.entries[0]
    np.testing.assert_array_equal(df["T"], e.token_counts)
    np.testing.assert_array_equal(df["eta_gdotv"], 2e-6 * run.gdotv)
    np.testing.assert_allclose(df["linquad"], 2e-6 * run.gdotv + 0.5 * 4e-12 * run.quadratic.per_sequence_vhvv)
    # c_i by hand: w̃_i h_new_i / Σw̃T − T_i/ΣT · H_base
    B, D = float(np.dot(e.normalized_weights, e.token_counts)), float(e.token_counts.sum())
    np.testing.assert_allclose(df["c"], e.normalized_weights * e.h_new / B - e.token_counts / D * e.base_entropy)
    np.testing.assert_allclose(df["g_tilde"], run.gdotv - run.delta_h_per_lr * e.token_counts / D)
    np.testing.assert_allclose(df["normalised_error"],
                               np.abs(df["c"] - df["eta_gdotv"]) / abs(e.delta_h_true))


@settings(deadline=None)  # no deadline: the shared machine is slow under load
@given(n=st.integers(2, 60), seed=st.integers(0, 2**31 - 1), eta=st.floats(1e-8, 1e-4))
def test_per_sequence_columns_sum_to_the_runs_totals(n, seed, eta):
    run = make_run(n=n, seed=seed, etas=(eta,), run_set="E_t")
    df = frames.per_sequence(run)
    e = run.entries[0]
    assert df["c"].sum() == pytest.approx(e.delta_h_true, rel=1e-9, abs=1e-12)  # Σ c_i = ΔH_true
    assert df["eta_gdotv"].sum() == pytest.approx(eta * run.delta_h_per_lr, rel=1e-9, abs=1e-15)  # Σ ηgdotv_i = ηG
    q = run.quadratic
    assert df["linquad"].sum() == pytest.approx(eta * run.delta_h_per_lr + 0.5 * eta**2 * q.vhvv,
                                                rel=1e-9, abs=1e-15)
    assert df["w"].sum() == pytest.approx(1.0)
    scale = float(np.abs(df["psi"]).max()) + 1e-300
    assert abs(df["psi"].sum()) <= 1e-9 * scale * n  # Σ ψ = 0
    # the σ's of the gate are se_sum of these columns (checks.md)
    sig = case_sigmas(eta, T=e.token_counts, w=e.normalized_weights, h_new=e.h_new, h_base=e.h_base,
                      gdotv=run.gdotv, G=run.delta_h_per_lr)
    assert np.sqrt(n / (n - 1) * np.sum(df["psi"] ** 2)) == pytest.approx(sig.true.value, rel=1e-9)
    assert stats.se_sum(eta * df["g_tilde"] - df["psi"]) == pytest.approx(sig.linear.value, rel=1e-9)


def test_missing_data_gives_nan_columns_not_wrong_numbers():
    run = make_run(n=5, seed=3, etas=ETAS, h_base=False, run_set="E_t")
    run = dataclasses.replace(run, gdotv=None, length=None, quadratic=None)
    df = frames.per_sequence(run)
    for col in ("eta_gdotv", "linquad", "psi", "g_tilde", "q_tilde", "normalised_error"):
        assert df[col].isna().all(), col
    assert df["c"].notna().all() and len(df) == 10


def test_run_set_frames_select_runs_and_eta_and_skip_invalid(tmp_path):
    a, b = make_run(n=3, seed=1, etas=ETAS, run_set="E_t"), make_run(n=3, seed=2, etas=ETAS, run_set="E_t", run="run_02")
    bad = InvalidRun(RunFile("E_t", "run_03", tmp_path / "x"), (Problem("E_t/run_03/results.json", "true", ProblemReason.MISSING, "missing"),))
    rs = frames.RunSet("E_t", tmp_path, (a, b, bad))
    assert len(frames.per_sequence_frame(rs)) == 2 * 2 * 3
    one = frames.per_sequence_frame([rs], runs=["run_02"], etas=[4e-6])
    assert set(one["run"]) == {"run_02"} and set(one["eta"]) == {4e-6} and len(one) == 3
    runs = frames.runs_frame(rs)
    assert list(runs["status"]) == ["ok", "ok", "error"] and "missing" in runs["message"].iloc[2]
    assert rs.run("run_02") is b
    with pytest.raises(KeyError, match="run_01, run_02"):
        rs.run("run_03")
    # every table takes a run set, or a list of run sets
    assert set(tables.summary_table(rs)["run"]) == {"run_01", "run_02"}
    assert len(tables.summary_table([rs, rs])) == 8


def test_load_run_set_and_judge_the_example(tmp_path):
    root = simulate.write_example(tmp_path / "data")
    rs = frames.load_run_set(root)
    assert rs.name == "E_example" and len(rs.valid) == 3
    health = frames.judge([rs], reports=tmp_path / "reports")
    assert isinstance(health, HealthDocument) and (tmp_path / "reports" / "health.json").is_file()
    pooled = frames.cases_frame(health, checks=["pooled_linear_agreement"])
    assert list(pooled.columns[:5]) == ["run_set", "run", "eta", "check", "outcome"]
    # the example's linear approximation breaks down at the largest η in all three runs (simulate)
    assert pooled.sort_values("eta")["outcome"].iloc[-1] == "failed"
    assert (frames.cases_frame(health, outcome="failed")["outcome"] == "failed").all()
    html = health._repr_html_()
    assert "failed cases" in html and "pooled_linear_agreement" in html


@needs_real
def test_real_files_per_sequence_sums():
    sets = frames.load_run_sets(sorted(REAL.glob("E_*")))
    df = frames.per_sequence_frame(sets)
    totals = df.groupby(["run_set", "run", "eta"])[["c", "eta_gdotv"]].sum().reset_index()
    summary = tables.summary_table(sets)
    m = totals.merge(summary, on=["run_set", "run", "eta"])
    assert len(m) == len(totals) == 40
    np.testing.assert_allclose(m["c"], m["delta_true"], rtol=1e-6)
    np.testing.assert_allclose(m["eta_gdotv"], m["delta_linear"], rtol=1e-6)


@pytest.mark.parametrize("convention", ["total", "shard-mean"])
def test_reported_se_convention_is_read_from_the_files(tmp_path, convention):
    root = simulate.write_run_set(tmp_path, name="E_128", runs=2, n=128, seed=9, se_convention=convention)
    assert frames.reported_se_convention(frames.load_run_set(root)) == convention
    no_data = make_run(n=8, seed=1, etas=ETAS, reported_se=False)  # no reported se_shard: nothing to tell
    assert frames.reported_se_convention([no_data]) == "total"


def test_paths_as_str_or_path_a_run_set_or_its_parent(tmp_path):
    """load_run_sets and judge take one str or Path: a run set, or the directory of run sets;
    a missing path or one without run sets says so."""
    for name, seed in (("E_32", 1), ("E_64", 2)):
        simulate.write_run_set(tmp_path / "data", name=name, runs=2, n=32, seed=seed, etas=(1e-6, 4e-6))
    for given in (str(tmp_path / "data"), tmp_path / "data"):
        assert [rs.name for rs in frames.load_run_sets(given)] == ["E_32", "E_64"]
    for given in (str(tmp_path / "data" / "E_64"), tmp_path / "data" / "E_64"):
        (rs,) = frames.load_run_sets(given)
        assert rs.name == "E_64" and len(rs.valid) == 2
    assert [rs.name for rs in frames.load_run_sets([str(tmp_path / "data" / "E_32")])] == ["E_32"]
    health = frames.judge(str(tmp_path / "data" / "E_32"), reports=str(tmp_path / "reports"))
    assert health["counts"]["runs"]["total"] == 2 and (tmp_path / "reports" / "health.json").is_file()
    from dhstats import load_runs
    from dhstats.session import Session
    from dhstats.load.settings import parse

    one = tmp_path / "data" / "E_32"
    assert [r.file.key for r in load_runs(str(one))] == [r.file.key for r in load_runs(one)] \
        == [r.file.key for r in load_runs([one])]
    assert Session(parse({}), str(one)).run()["counts"]["runs"]["total"] == 2
    with pytest.raises(FileNotFoundError, match="no such directory"):
        frames.load_run_sets(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no run set here"):
        frames.load_run_sets(tmp_path / "empty")


def test_tables_show_eta_in_scientific_notation_and_keep_it_a_number():
    """Every table is a frames.Frame: η reads 3.2e-06 in its text and its HTML (pandas
    alone prints 0.000003), the column stays float64, and pandas operations keep the class."""
    runs = [make_run(n=16, seed=1, etas=(1.6e-6, 3.2e-6))]
    for df in (tables.agreement_table(runs), tables.summary_table(runs), frames.per_sequence_frame(runs)):
        assert isinstance(df, frames.Frame) and df["eta"].dtype == np.float64
        assert "3.2e-06" in repr(df) and "3.2e-06" in df._repr_html_()
        shown = df[["run", "eta"]]  # still a Frame
        assert "0.000003" not in repr(shown) and "0.000003" not in shown._repr_html_()
        assert "0.000003" in pd.DataFrame(shown).to_string()  # pandas' own display: what this is for
        assert isinstance(df[df["eta"] > 2e-6], frames.Frame)
        one = df[df["eta"] > 2e-6].iloc[[0]][["run", "eta"]].T  # a case shown as a column: η is a row
        assert "3.2e-06" in repr(one) and "3.2e-06" in one._repr_html_() and "0.000003" not in repr(one)
    assert frames.eta_text(float("nan")) == "nan" and frames.eta_text(1e-5) == "1e-05"


def test_a_session_not_told_where_writes_nothing(tmp_path, monkeypatch):
    """Session(parse({...})) without "reports" judges and returns health.json's dict but leaves
    no ./reports (nor anything else) behind; told, it writes there."""
    from dhstats.session import Session
    from dhstats.load.settings import parse

    data = simulate.write_run_set(tmp_path / "data", name="E_32", runs=2, n=32, seed=3, etas=(1e-6, 4e-6))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    health = Session(parse({"reported_se": "total"}), [data]).run()
    assert health["counts"]["runs"]["total"] == 2
    assert list(work.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "data"]
    Session(parse({"reports": "out", "history": "none"}), [data]).run()
    assert (work / "out" / "health.json").is_file() and not (work / "reports").exists()

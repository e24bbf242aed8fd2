"""The ``dhstats`` CLI: tables (CSV columns and numbers as checks.md) with the notebook's
parameters, plot (every figure or a one-line note), option validation (exit 2), simulate."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dhstats import simulate
from dhstats.cli import main
from dhstats.verdicts.registry import evaluate
from dhstats.load.results import load_runs
from dhstats.stats.series import sequence_series

from paths import PROJECT_ROOT, REAL, needs_real

ETA = 8e-07


@pytest.fixture(scope="module")
def run_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    root = simulate.write_run_set(out, name="E_64", runs=2, n=64, seed=3, entropy_noise=0.01, score_noise=0.5)
    simulate.write_malformed(root / "run_03" / "results.json", "short_array")
    return root


@pytest.fixture(scope="module")
def no_per_sequence(tmp_path_factory) -> Path:
    """Two runs written without approx.per_sequence (as the producer without capture)."""
    out = tmp_path_factory.mktemp("bare") / "E_32"
    for r in (1, 2):
        doc = simulate.simulate_run(32, seed=r)
        del doc["approx"]["per_sequence"]
        doc["approx"].get("quadratic", {}).pop("per_sequence_vhvv", None)
        (out / f"run_{r:02d}").mkdir(parents=True)
        (out / f"run_{r:02d}" / "results.json").write_text(json.dumps(doc))
    return out


def png_width(path: Path) -> int:
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">I", raw[16:20])[0]


# --------------------------------------------------------------------------- tables


def test_tables_writes_the_csvs_and_z_is_the_gates(run_set, tmp_path, capsys):
    assert main(["tables", "--results", str(run_set), "--out", str(tmp_path)]) == 1  # run_03 invalid
    err = capsys.readouterr().err
    assert "E_64/run_03/results.json: true.entries[1].diagnostics.h_new: 15 values, expected 16" in err
    for name in ("summary", "standard_errors", "agreement", "truncation", "filtered_estimates"):
        df = pd.read_csv(tmp_path / f"{name}.csv")
        assert {"run_set", "run", "eta"} <= set(df.columns) and set(df["run"]) == {"run_01", "run_02"}
    agreement = pd.read_csv(tmp_path / "agreement.csv")
    for run in load_runs([run_set])[:2]:
        for v in (v for v in evaluate(run)[1] if v.check == "linear_agreement"):
            row = agreement[(agreement.run == v.run) & (agreement.eta == v.eta)].iloc[0]
            assert row.z == pytest.approx(v.to_dict()["z"], rel=1e-12)
            assert row.z == pytest.approx(row["diff"] / row.combined_se, rel=1e-12)
            assert row.sigma_source == "paired"
    pooled = pd.read_csv(tmp_path / "pooled.csv")
    assert set(pooled.estimator) == {"linear", "linquad"} and (pooled.R == 2).all()


def test_tables_take_tolerance_and_equivalence_alpha(run_set, tmp_path):
    from dhstats.stats import equivalence

    main(["tables", "--results", str(run_set), "--out", str(tmp_path), "--tolerance", "0.5",
          "--equivalence-alpha", "0.1"])
    pooled = pd.read_csv(tmp_path / "pooled.csv")
    assert (pooled.tolerance == 0.5).all() and pooled.tost_lo.notna().all() and pooled.tost_hi.notna().all()
    agreement = pd.read_csv(tmp_path / "agreement.csv")
    for _, row in pooled[pooled.estimator == "linear"].iterrows():
        runs = agreement[agreement.eta == row.eta]
        expected = equivalence.resolution(3.0, list(runs.delta_true), list(runs.combined_se))
        assert row.resolution == pytest.approx(expected, rel=1e-9)
        z = equivalence.normal_quantile(0.9)  # α = 0.1
        assert row.outcome == ("passed" if row.tost_lo > z and row.tost_hi < -z else "failed")
    assert main(["tables", "--results", str(run_set), "--out", str(tmp_path), "--tolerance", "-1"]) == 2


def test_tables_take_the_notebooks_parameters(run_set, tmp_path):
    assert main(["tables", "--results", str(run_set), "--out", str(tmp_path), "--keep-quantiles", "0.9",
                 "--truncation-grid", "0.99,0.8", "--clip", "1e-3,2e-5", "--sigma", "2"]) == 1
    trunc = pd.read_csv(tmp_path / "truncation.csv")
    assert sorted(set(trunc.keep_quantile)) == [0.8, 0.9, 0.99]
    filtered = pd.read_csv(tmp_path / "filtered_estimates.csv")
    assert set(filtered.strategy) == {"raw", "truncate@0.9", "clip@0.001", "clip@2e-05"}
    # clip@C is Σ clip(c_i, ±C) of the notebook's c_i (hand check on one row)
    run = load_runs([run_set])[0]
    e = run.entry(ETA)
    c = sequence_series(run, e).true
    row = filtered[(filtered.run == "run_01") & (filtered.eta == ETA) & (filtered.strategy == "clip@2e-05")].iloc[0]
    assert row.delta_true == pytest.approx(float(sum(min(max(x, -2e-5), 2e-5) for x in c)), rel=1e-12)
    agreement = pd.read_csv(tmp_path / "agreement.csv")
    assert (agreement.within_ksigma == (agreement.z.abs() <= 2)).all()  # k = --sigma


def test_tables_say_why_a_csv_is_empty(no_per_sequence, tmp_path, capsys):
    assert main(["tables", "--results", str(no_per_sequence), "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    why = "no valid run has per-sequence gdotv (approx.per_sequence), which truncation and clipping need"
    assert f"dhstats tables: truncation.csv has no rows: {why}" in err
    assert f"dhstats tables: filtered_estimates.csv has no rows: {why}" in err
    assert (tmp_path / "truncation.csv").exists()


@pytest.mark.parametrize("args,message", [
    (["--sigma", "1e400"], "--sigma: '1e400' is not a finite number"),
    (["--sigma", "-1"], "--sigma: '-1' is outside [0.1, 20]"),
    (["--keep-quantiles", "0.9,1.5"], "--keep-quantiles: '1.5' is outside [0.01, 1]"),
    (["--clip", "1e-4,0"], "--clip: each value must be > 0"),
    (["--clip", "x"], "--clip: 'x' is not a number"),
    (["--clip-base-quantile", "1"], "--clip-base-quantile: must be in (0, 1)"),
    (["--clip-steps", "2.5"], "--clip-steps: expected a whole number in [1, 1000]"),
    (["--truncation-grid", "0,0.9"], "--truncation-grid: each keep-quantile must be in (0, 1]"),
    (["--truncation-grid", "nan"], "--truncation-grid: 'nan' is not a finite number"),
])
def test_bad_values_are_usage_errors(run_set, tmp_path, capsys, args, message):
    for cmd in ("tables", "plot"):
        assert main([cmd, "--results", str(run_set), "--out", str(tmp_path / cmd), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"dhstats {cmd}: error: ") and message in err, err
    assert not (tmp_path / "tables").exists() and not (tmp_path / "plot").exists()  # nothing written


def test_missing_results_directory_is_a_usage_error(tmp_path, capsys):
    assert main(["tables", "--results", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "not a directory" in capsys.readouterr().err


@needs_real
def test_tables_on_real_data_shows_the_notebook_se_too_small(tmp_path):
    assert main(["tables", "--results", str(REAL / "E_512"), "--out", str(tmp_path)]) == 0
    df = pd.read_csv(tmp_path / "agreement.csv")
    assert len(df) == 20 and df["within_ksigma"].all()
    # the notebook's η·se_shard is the shard-mean SE: ≈ num_shards (64) times too small
    ratio = df["se_linear"] / df["notebook_se_linear"]
    assert ratio.between(64 / 1.1, 64 / 0.8).all()


# --------------------------------------------------------------------------- plot


def test_plot_writes_every_figure_at_100_dpi(run_set, tmp_path, capsys):
    assert main(["plot", "--results", str(run_set), "--run", "run_01", "--eta", str(ETA),
                 "--out", str(tmp_path), "--clip", "1e-4", "--truncation-grid", "1,0.99,0.9"]) == 1  # run_03 invalid
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    stem = "E_64_run_01"
    expected = {f"{stem}_{n}.png" for n in ("delta_h_vs_eta", "ratio_vs_eta", "sigma_comparison")}
    expected |= {f"{stem}_eta={ETA!r}_{n}.png" for n in ("contributions", "errors", "clip_sweep", "truncation_sweep", "weights")}
    expected |= {"E_64_pooled_ratio.png"}  # one run set: no σ vs E, no ratio vs E
    assert set(pngs) == expected
    assert all(png_width(tmp_path / p) >= 750 for p in pngs)  # ≥ 7.5 in at 100 dpi
    err = capsys.readouterr().err
    assert "dhstats plot: run sets: fewer than two run sets of different E with σ values: σ vs E not drawn" in err
    assert "pooled ratio vs E not drawn" in err


def test_plot_without_per_sequence_data_notes_instead_of_figures(no_per_sequence, tmp_path, capsys):
    assert main(["plot", "--results", str(no_per_sequence), "--run", "run_01", "--eta", "8e-7",
                 "--figure", "contributions", "--figure", "delta_h_vs_eta", "--out", str(tmp_path), "--dpi", "40"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["E_32_run_01_delta_h_vs_eta.png"]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["dhstats plot: E_32/run_01, η=8e-07: no per-sequence gdotv in this run "
                   "(approx.per_sequence missing): contributions not drawn"]


def test_plot_cross_set_figures_and_trend(run_set, tmp_path):
    other = simulate.write_run_set(tmp_path / "sim", name="E_256", runs=2, n=256, seed=4)
    history = tmp_path / "history.jsonl"
    lines = [{"time": f"t{i}", "checks": {"linear_agreement": {"passed": 4, "failed": i, "skipped": 0}},
              "cases": {"failed": i}, "runs": {"error": 0},
              "pooled_z": {"pooled_linear_agreement": {"E_64": {"8e-07": 0.3 * i}}}} for i in range(3)]
    history.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "out"
    assert main(["plot", "--results", str(run_set), "--results", str(other), "--out", str(out), "--dpi", "40",
                 "--figure", "sigma_vs_e", "--figure", "ratio_vs_e", "--figure", "pooled_ratio",
                 "--figure", "trend", "--history", str(history)]) == 1
    assert sorted(p.name for p in out.glob("*.png")) == [
        "E_256_pooled_ratio.png", "E_64_pooled_ratio.png", "ratio_vs_e.png", "sigma_vs_e.png", "trend.png"]


def test_plot_health_file_must_exist(run_set, tmp_path, capsys):
    assert main(["plot", "--results", str(run_set), "--health", str(tmp_path / "no.json"), "--out", str(tmp_path)]) == 2
    assert "--health: " in capsys.readouterr().err


def test_plot_unknown_figure_is_a_usage_error(run_set, tmp_path, capsys):
    assert main(["plot", "--results", str(run_set), "--figure", "pie", "--out", str(tmp_path)]) == 2
    assert "--figure: unknown pie" in capsys.readouterr().err


# --------------------------------------------------------------------------- python -m, simulate


@pytest.mark.slow
def test_python_dash_m_and_simulate_subcommand(tmp_path):
    out = subprocess.run([sys.executable, "-m", "dhstats", "simulate", "--out", str(tmp_path),
                          "--runs", "1", "--sequences", "32", "--defect", "shard_mean_se"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    (run,) = load_runs([tmp_path / "E_32"])
    assert [v.outcome for v in evaluate(run)[1] if v.check == "se_consistency"] == ["failed"]


@pytest.mark.slow
def test_python_dash_m_tables_exit_status(tmp_path):
    out = subprocess.run([sys.executable, "-m", "dhstats", "tables", "--results", str(tmp_path / "none"),
                          "--out", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2 and "not a directory" in out.stderr


def test_every_csv_column_is_in_the_data_dictionary(run_set, tmp_path):
    other = simulate.write_run_set(tmp_path / "sim", name="E_128", runs=2, n=128, seed=5)
    main(["tables", "--results", str(run_set), "--results", str(other), "--out", str(tmp_path / "t")])
    doc = (PROJECT_ROOT / "dhstats" / "columns.md").read_text()
    for csv in sorted((tmp_path / "t").glob("*.csv")):
        assert f"## {csv.name}" in doc
        undocumented = [c for c in pd.read_csv(csv).columns if f"`{c}`" not in doc]
        assert undocumented == [], f"{csv.name}: {undocumented} not in dhstats/columns.md"


def test_out_that_is_a_file_is_a_usage_error(run_set, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for cmd in ("tables", "plot"):
        assert main([cmd, "--results", str(run_set), "--out", str(blocker / "sub")]) == 2
        assert f"dhstats {cmd}: error: --out: cannot create directory" in capsys.readouterr().err


def test_plot_unknown_run_is_a_usage_error_naming_the_runs(run_set, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["plot", "--results", str(run_set), "--run", "run_09", "--out", str(out), "--dpi", "20"]) == 2
    assert capsys.readouterr().err == ("dhstats plot: error: --run: no run named 'run_09' in --results; "
                                       "the runs are run_01, run_02, run_03\n")
    assert not out.exists()  # nothing drawn, nothing written


def test_plot_eta_not_in_the_files_is_a_usage_error_naming_the_etas(run_set, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["plot", "--results", str(run_set), "--run", "run_01", "--eta", "1e-3", "--eta", str(ETA),
                 "--out", str(out)]) == 2
    etas = ", ".join(f"{e:g}" for e in simulate.DEFAULT_ETAS)
    assert capsys.readouterr().err == ("dhstats plot: error: --eta: 0.001 not in the selected runs' true.entries; "
                                       f"their η are {etas}\n")
    assert not out.exists()


def test_tables_writes_per_sequence_csv_whose_sums_are_the_totals(run_set, tmp_path):
    main(["tables", "--results", str(run_set), "--out", str(tmp_path)])
    ps = pd.read_csv(tmp_path / "per_sequence.csv")
    assert list(ps.columns[:10]) == ["run_set", "run", "eta", "sequence", "T", "w", "c", "eta_gdotv", "linquad", "psi"]
    assert set(ps["run"]) == {"run_01", "run_02"}  # run_03 is invalid: no rows
    sums = ps.groupby(["run", "eta"])[["c", "eta_gdotv"]].sum().reset_index()
    summary = pd.read_csv(tmp_path / "summary.csv").merge(sums, on=["run", "eta"])
    assert len(summary) == len(sums) > 0
    assert (abs(summary["c"] - summary["delta_true"]) <= 1e-9 * abs(summary["delta_true"])).all()
    assert (abs(summary["eta_gdotv"] - summary["delta_linear"]) <= 1e-9 * abs(summary["delta_linear"])).all()


def test_plot_file_names_are_sanitised_and_bounded(tmp_path, capsys):
    root = tmp_path / "E_32"
    hostile = "run_" + "<img src=x>\n\u202egnp." + "x" * 219  # markup, a newline, RTL override, 240 chars
    assert len(hostile) == 240
    for seed, name in enumerate((hostile, "run_ok"), start=1):  # two runs, not one twice (duplicate_run)
        (root / name).mkdir(parents=True)
        (root / name / "results.json").write_bytes(simulate.dumps_run(simulate.simulate_run(32, (8e-7,), seed=seed)))
    out = tmp_path / "out"
    assert main(["plot", "--results", str(root), "--out", str(out), "--dpi", "20", "--figure", "weights",
                 "--figure", "delta_h_vs_eta"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 4 and all(len(n.encode()) <= 255 for n in names)
    assert all(set(n) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-=+") for n in names)
    assert sum(n.startswith("E_32_run_ok_") for n in names) == 2


def test_csv_text_cells_cannot_be_formulas(tmp_path):
    from dhstats.notebook.tables import csv_safe

    df = pd.DataFrame({"run_set": ["=HYPERLINK(\"http://x\")", "+1", "-cmd", "@SUM(A1)", "\tx", "\rx", "E_64"],
                       "z": [-1.5, 2.0, -3.0, 0.5, 1.0, -0.0, 4.0], "n": [1, -2, 3, 4, 5, 6, 7]})
    safe = csv_safe(df)
    assert list(safe["run_set"]) == ["'=HYPERLINK(\"http://x\")", "'+1", "'-cmd", "'@SUM(A1)", "'\tx", "'\rx", "E_64"]
    assert safe["z"].tolist() == df["z"].tolist() and safe["n"].tolist() == df["n"].tolist()  # numbers stay numbers
    assert df["run_set"][0].startswith("=")  # the caller's frame is not changed
    root = simulate.write_run_set(tmp_path / "sim", name="=HYPERLINK(\"x\")", runs=2, n=32, seed=3)
    out = tmp_path / "out"
    main(["tables", "--results", str(root), "--out", str(out)])
    agreement = pd.read_csv(out / "agreement.csv", keep_default_na=False)
    assert set(agreement["run_set"]) == {"'=HYPERLINK(\"x\")"}
    assert pd.api.types.is_float_dtype(agreement["z"])


def test_run_set_figures_from_a_written_health_json_equal_those_from_the_runs(run_set, tmp_path):
    """health.json writes a passed per-run case with fewer numbers (schema 4): the run-set
    figures drawn from the file are the same PNG bytes as those drawn from the run files."""
    from dhstats.load.settings import parse
    from dhstats.session import Session

    other = simulate.write_run_set(tmp_path / "sim", name="E_256", runs=2, n=256, seed=4)
    reports = tmp_path / "reports"
    Session(parse({"reports": str(reports), "history": "none", "max_plots": "0"}, tmp_path), [run_set, other]).run()
    figures = ["--figure", "sigma_vs_e", "--figure", "ratio_vs_e", "--figure", "pooled_ratio"]
    both = [str(run_set), "--results", str(other)]
    from_runs = main(["plot", "--results", *both, "--out", str(tmp_path / "runs"), "--dpi", "40", *figures])
    assert from_runs == main(["plot", "--results", *both, "--out", str(tmp_path / "file"), "--dpi", "40", *figures,
                              "--health", str(reports / "health.json")])
    drawn = sorted(p.name for p in (tmp_path / "runs").glob("*.png"))
    assert len(drawn) == 4 and drawn == sorted(p.name for p in (tmp_path / "file").glob("*.png"))
    for name in drawn:
        assert (tmp_path / "runs" / name).read_bytes() == (tmp_path / "file" / name).read_bytes(), name

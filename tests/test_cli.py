"""The ``dhstats`` CLI: tables (CSV columns and numbers as checks.md), plot, simulate."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dhstats import simulate
from dhstats.cli import main
from dhstats.results import load_runs
from dhstats.verdicts import evaluate

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


@pytest.fixture(scope="module")
def run_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    root = simulate.write_run_set(out, name="E_64", runs=2, n=64, seed=3, entropy_noise=0.01, score_noise=0.5)
    bad = root / "run_03" / "results.json"
    simulate.write_malformed(bad, "short_array")
    return root


def test_tables_writes_the_csvs_and_z_follows_checks_md(run_set, tmp_path, capsys):
    assert main(["tables", "--results", str(run_set), "--out", str(tmp_path)]) == 1  # run_03 invalid
    err = capsys.readouterr().err
    assert "E_64/run_03/results.json: true.entries[1].diagnostics.h_new: 15 values, expected 16" in err
    for name in ("summary", "standard_errors", "agreement", "truncation", "filtered_estimates"):
        df = pd.read_csv(tmp_path / f"{name}.csv")
        assert {"results", "run", "eta"} <= set(df.columns) and set(df["run"]) == {"run_01", "run_02"}
    agreement = pd.read_csv(tmp_path / "agreement.csv")
    assert {"se_linear", "se_true", "combined_se", "z", "notebook_se_linear", "notebook_se_true",
            "notebook_within_1sigma", "delta_true", "delta_linear", "diff"} <= set(agreement.columns)
    # the table's z is the gate's z, and z = diff / √(se_linear² + se_true²)
    for run in load_runs([run_set])[:2]:
        _, verdicts = evaluate(run)
        for v in (v for v in verdicts if v.check == "linear_agreement"):
            row = agreement[(agreement.run == v.run) & (agreement.eta == v.eta)].iloc[0]
            assert row.z == pytest.approx(v.numbers["z"], rel=1e-12)
            assert row.z == pytest.approx(row["diff"] / math.hypot(row.se_linear, row.se_true), rel=1e-12)
            assert row.se_linear == pytest.approx(v.numbers["sigma_linear"], rel=1e-12)
    assert set(pd.read_csv(tmp_path / "summary.csv").columns) >= {
        "delta_true", "delta_linear", "delta_linquad", "linear_over_true", "linquad_over_true"}


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real not present")
def test_tables_on_real_data_shows_the_notebook_se_too_small(tmp_path):
    assert main(["tables", "--results", str(REAL / "E_512"), "--out", str(tmp_path)]) == 0
    df = pd.read_csv(tmp_path / "agreement.csv")
    assert len(df) == 20 and df["within_ksigma"].all()
    # the notebook's η·se_shard is the shard-mean SE: ≈ num_shards (64) times too small
    ratio = df["se_linear"] / df["notebook_se_linear"]
    assert ratio.between(64 / 1.1, 64 / 0.8).all()


def test_plot_writes_pngs(run_set, tmp_path):
    assert main(["plot", "--results", str(run_set), "--run", "run_01", "--eta", "8e-07",
                 "--out", str(tmp_path), "--dpi", "40"]) == 1  # run_03 is invalid, still reported
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(pngs) == 5 and all(p.startswith("E_64_run_01") for p in pngs)
    assert all((tmp_path / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_python_dash_m_and_simulate_subcommand(tmp_path):
    out = subprocess.run([sys.executable, "-m", "dhstats", "simulate", "--out", str(tmp_path),
                          "--runs", "1", "--sequences", "32", "--defect", "shard_mean_se"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    (run,) = load_runs([tmp_path / "E_32"])
    _, verdicts = evaluate(run)
    assert [v.outcome for v in verdicts if v.check == "se_consistency"] == ["failed"]


def test_missing_results_directory_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="not a directory"):
        main(["tables", "--results", str(tmp_path / "nope"), "--out", str(tmp_path)])

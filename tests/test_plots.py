"""Tests of dhstats.plots: figures carry the numbers of dhstats.stats/series, cope with
missing optional data, render to PNG and leave no pyplot state behind.

The run is built by hand (n = 50, 3 η, seeded) with the sums results-format.md requires:
Σ gdotv = G, Σ per_sequence_vhvv = Q, delta_h_true = Σw̃h_new/Σw̃T − Σh_base/ΣT.
"""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from dhstats import plots, stats
from dhstats.results import Quadratic, Run, RunFile
from dhstats.series import eta_curve, sequence_series
from dhstats.verdicts import Settings

from builders import consistent_entry

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
ETAS = (1e-6, 4e-6, 1.6e-5)


# --------------------------------------------------------------------------- fixtures


def make_run(n: int = 50, seed: int = 7) -> Run:
    """A valid, internally consistent run: n sequences, η ∈ ETAS, quadratic block."""
    rng = np.random.default_rng(seed)
    T = rng.integers(20, 200, n).astype(float)
    h_base = T * rng.uniform(0.3, 0.6, n)  # nats per sequence
    gdotv = rng.normal(-300.0, 200.0, n)  # nats/token per unit LR, per sequence
    vhvv = rng.normal(5e7, 2e7, n)
    G, Q = float(gdotv.sum()), float(vhvv.sum())
    entries = []
    for eta in ETAS:
        log_w = np.clip(rng.normal(0.0, 0.3, n), -10, 10)
        w = np.exp(log_w - log_w.max())
        w_tilde = w / w.sum()
        h_new = h_base + eta * G * T + rng.normal(0.0, 0.05, n) * np.sqrt(T)
        entries.append(consistent_entry(eta, w_tilde, T, h_new, h_base, log_weights=log_w))
    quadratic = Quadratic(vhvv=Q, gdotv=G * 1.01, per_sequence_vhvv=vhvv,
                          se_gdotv=stats.se_sum(gdotv), se_vhvv=stats.se_sum(vhvv), num_shards=8)
    return Run(
        file=RunFile("E_test", "run_01", Path("/nonexistent/E_test/run_01/results.json")),
        delta_h_per_lr=G,
        entries=tuple(entries),
        gdotv=gdotv,
        length=T.copy(),
        per_sequence_vhvv=vhvv,
        se_shard=stats.se_sum(gdotv),
        num_shards=8,
        quadratic=quadratic,
    )


def without_per_sequence(run: Run, reported_se: bool = True) -> Run:
    """As written without per-sequence capture: no approx.per_sequence, no per_sequence_vhvv."""
    q = run.quadratic and dataclasses.replace(run.quadratic, per_sequence_vhvv=None)
    return dataclasses.replace(run, gdotv=None, length=None, per_sequence_vhvv=None, quadratic=q,
                               se_shard=run.se_shard if reported_se else None)


def without_h_base(run: Run) -> Run:
    return dataclasses.replace(run, entries=tuple(dataclasses.replace(e, h_base=None) for e in run.entries))


def without_quadratic(run: Run) -> Run:
    return dataclasses.replace(run, quadratic=None, per_sequence_vhvv=None)


def bare(run: Run) -> Run:
    """Every optional field missing: no per-sequence data, no SEs, no h_base, no quadratic."""
    return without_quadratic(without_h_base(without_per_sequence(run, reported_se=False)))


VARIANTS = {
    "full": lambda r: r,
    "no_per_sequence": without_per_sequence,
    "no_h_base": without_h_base,
    "no_quadratic": without_quadratic,
    "bare": bare,
}


@pytest.fixture(scope="module")
def run() -> Run:
    return make_run()


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """No test may leave a pyplot figure open (plots.py must not use pyplot)."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


# --------------------------------------------------------------------------- helpers


def by_gid(ax, gid: str) -> list:
    return [a for a in ax.get_children() if a.get_gid() == gid]


def one(ax, gid: str):
    found = by_gid(ax, gid)
    assert len(found) == 1, f"expected one artist with gid {gid!r}, found {len(found)}"
    return found[0]


def notes(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == plots.NOTE_GID]


def titles(fig: Figure) -> str:
    parts = [ax.get_title() for ax in fig.axes]
    if fig._suptitle is not None:
        parts.append(fig._suptitle.get_text())
    return " | ".join(parts)


def assert_png(fig: Figure) -> None:
    png = plots.to_png(fig)
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) > 1000
    assert fig.axes == []  # released


# --------------------------------------------------------------------------- per figure


def test_error_histogram_counts_the_normalised_error(run):
    e = run.entries[1]
    fig = plots.error_histogram(run, e.eta, bins=20)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    c = stats.notebook_contributions(e.normalized_weights, e.token_counts, e.h_new, e.base_entropy)
    expected, edges = np.histogram(np.abs(c - e.eta * run.gdotv) / abs(e.delta_h_true), bins=20)
    stairs = one(ax, "error")
    np.testing.assert_array_equal(stairs.get_data().values, expected)
    np.testing.assert_allclose(stairs.get_data().edges, edges)
    assert "E_test/run_01" in titles(fig) and "η=4e-06" in titles(fig)
    assert notes(fig) == []
    assert_png(fig)


def test_error_histogram_with_zero_delta_h_is_not_normalised(run):
    e = dataclasses.replace(run.entries[0], delta_h_true=0.0)
    zero = dataclasses.replace(run, entries=(e,) + run.entries[1:])
    fig = plots.error_histogram(zero, e.eta)
    ser = sequence_series(zero, e)
    assert one(fig.axes[0], "error").get_data().edges[-1] == pytest.approx(np.abs(ser.true - ser.linear).max())
    assert "not normalised" in fig.axes[0].get_xlabel()
    assert_png(fig)


def test_contribution_histograms_three_symmetric_panels(run):
    e = run.entries[2]
    fig = plots.contribution_histograms(run, e.eta, bins=30)
    assert len(fig.axes) == 3
    ser = sequence_series(run, e)
    for ax, gid, values in zip(fig.axes, ("true", "linear", "linquad"), (ser.true, ser.linear, ser.linquad)):
        stairs = one(ax, gid)
        counts = stairs.get_data().values
        assert counts.sum() == run.n and counts.size == 30
        lim = 1.05 * np.abs(values).max()
        assert ax.get_xlim() == pytest.approx((-lim, lim))
        zero = one(ax, "zero")
        assert list(zero.get_xdata()) == [0.0, 0.0] and zero.get_linestyle() == "--"
    # one count axis for all panels
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim() == fig.axes[2].get_ylim()
    assert "E_test/run_01" in titles(fig) and "η=1.6e-05" in titles(fig)
    assert_png(fig)


def test_clip_sweep_lines_are_stats_clip_sweep(run):
    e = run.entries[1]
    fig = plots.clip_sweep(run, e.eta, base_quantile=0.99, steps=6)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    ser = sequence_series(run, e)
    thresholds, sums = stats.clip_sweep(ser.linear, ser.true, ser.linquad, 0.99, 6)
    assert set(sums) == {"true", "linear", "linquad"}
    for name, values in sums.items():
        line = one(ax, name)
        np.testing.assert_allclose(line.get_xdata(), thresholds)
        np.testing.assert_allclose(line.get_ydata(), values)
    assert list(one(ax, "delta_h_true").get_ydata()) == [e.delta_h_true] * 2
    assert_png(fig)


def test_truncation_sweep_points_are_stats_truncation(run):
    settings = Settings()
    e = run.entries[2]
    fig = plots.truncation_sweep(run, e.eta, settings)
    assert len(fig.axes) == 2
    top, bottom = fig.axes
    qs = sorted(set(stats.DEFAULT_SWEEP_QUANTILES) | set(settings.keep_quantiles), reverse=True)
    cuts = [stats.truncation(e.eta, run.gdotv, e.normalized_weights, e.token_counts, e.h_new,
                             e.h_base, e.base_entropy, q, settings.sigma) for q in qs]
    ratio = one(top, "ratio")
    np.testing.assert_allclose(ratio.get_xdata(), [1 - q for q in qs])
    np.testing.assert_allclose(ratio.get_ydata(), [c.ratio for c in cuts])
    np.testing.assert_allclose(one(bottom, "notebook_ratio").get_ydata(), [c.notebook_ratio for c in cuts])
    filled, hollow = one(top, "ratio_conclusive"), one(top, "ratio_inconclusive")
    np.testing.assert_allclose(filled.get_ydata(), [c.ratio for c in cuts if c.conclusive])
    np.testing.assert_allclose(hollow.get_ydata(), [c.ratio for c in cuts if not c.conclusive])
    assert hollow.get_markerfacecolor() != filled.get_markerfacecolor()
    band = one(top, "ratio_bounds")  # axhspan: a Rectangle in (axes x, data y)
    assert (band.get_y(), band.get_y() + band.get_height()) == pytest.approx(settings.ratio_bounds)
    judged = sorted(1 - line.get_xdata()[0] for line in by_gid(top, "judged_quantile"))
    assert judged == pytest.approx(sorted(settings.keep_quantiles))
    assert "E_test/run_01" in titles(fig) and "η=1.6e-05" in titles(fig)
    assert_png(fig)


def test_truncation_sweep_marks_inconclusive_quantiles_hollow(run):
    e = run.entries[0]
    fig = plots.truncation_sweep(run, e.eta, Settings(sigma=1e9), keep_quantiles=[1.0, 0.95, 0.9])
    top = fig.axes[0]
    assert len(one(top, "ratio_conclusive").get_xdata()) == 0
    assert len(one(top, "ratio_inconclusive").get_xdata()) == 3
    assert_png(fig)


def test_delta_h_vs_eta_lines_are_eta_curve(run):
    settings = Settings()
    fig = plots.delta_h_vs_eta(run, settings, highlight=[ETAS[0], ETAS[2]])
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    pts = eta_curve(run, settings)
    eta = [p.eta for p in pts]
    linear = one(ax, "linear")
    np.testing.assert_allclose(linear.get_xdata(), eta)
    np.testing.assert_allclose(linear.get_ydata(), [p.delta_linear for p in pts])
    np.testing.assert_allclose(one(ax, "linquad").get_ydata(), [p.delta_linquad for p in pts])
    for gid, centre, sigma in (("linear_band", "delta_linear", "sigma_linear"),
                               ("linquad_band", "delta_linquad", "sigma_linquad")):
        ys = one(ax, gid).get_paths()[0].vertices[:, 1]
        lo = min(getattr(p, centre) - getattr(p, sigma) for p in pts)
        hi = max(getattr(p, centre) + getattr(p, sigma) for p in pts)
        assert (ys.min(), ys.max()) == pytest.approx((lo, hi))
    (bars,) = ax.containers
    data_line, _, (bar_lines,) = bars
    np.testing.assert_allclose(data_line.get_ydata(), [p.delta_true for p in pts])
    half = [abs(seg[1, 1] - seg[0, 1]) / 2 for seg in bar_lines.get_segments()]
    np.testing.assert_allclose(half, [p.sigma_true for p in pts])
    marks = sorted(line.get_xdata()[0] for line in by_gid(ax, "highlight"))
    assert marks == [ETAS[0], ETAS[2]]
    assert "E_test/run_01" in ax.get_title()
    assert notes(fig) == []
    assert_png(fig)


def test_delta_h_vs_eta_single_highlight(run):
    fig = plots.delta_h_vs_eta(run, highlight=ETAS[1])
    assert [line.get_xdata()[0] for line in by_gid(fig.axes[0], "highlight")] == [ETAS[1]]
    assert by_gid(plots.delta_h_vs_eta(run).axes[0], "highlight") == []


def test_case_figures_keys_and_render(run):
    figs = plots.case_figures(run, ETAS[1])
    assert list(figs) == ["contributions", "error", "clip_sweep", "truncation_sweep"]
    assert [len(f.axes) for f in figs.values()] == [3, 1, 1, 2]
    for fig in figs.values():
        assert_png(fig)


def test_to_png_dpi_sets_the_size(run):
    import struct

    sizes = []
    for dpi in (40, 80):
        png = plots.to_png(plots.error_histogram(run, ETAS[0]), dpi=dpi)
        sizes.append(struct.unpack(">II", png[16:24]))  # IHDR width, height
    assert sizes[0] == (200, 120) and sizes[1] == (400, 240)


# --------------------------------------------------------------------------- missing data


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_figure_copes_with_missing_data(run, variant):
    r = VARIANTS[variant](run)
    figs = plots.case_figures(r, ETAS[1])
    figs["delta_h_vs_eta"] = plots.delta_h_vs_eta(r, highlight=ETAS[1])
    text = {name: " / ".join(notes(fig)) for name, fig in figs.items()}
    if r.gdotv is None:
        for name in ("contributions", "error", "clip_sweep", "truncation_sweep"):
            assert "no per-sequence gdotv" in text[name], name
        assert not by_gid(figs["contributions"].axes[1], "linear")
        assert not by_gid(figs["clip_sweep"].axes[0], "linear")
        assert one(figs["clip_sweep"].axes[0], "delta_h_true")  # what exists is still drawn
        assert one(figs["contributions"].axes[0], "true")
    elif r.entries[0].h_base is None:
        assert "no h_base" in text["truncation_sweep"]
        assert not by_gid(figs["truncation_sweep"].axes[0], "ratio")
        assert one(figs["truncation_sweep"].axes[1], "notebook_ratio")  # needs no h_base
    if r.quadratic is None:
        assert "no quadratic block" in text["contributions"]
        assert "no quadratic block" in text["delta_h_vs_eta"]
        assert not by_gid(figs["delta_h_vs_eta"].axes[0], "linquad")
    elif r.gdotv is None:
        assert one(figs["delta_h_vs_eta"].axes[0], "linquad")  # from the totals G_q, Q
    if variant == "bare":
        assert "no σ_G" in text["delta_h_vs_eta"] and "no σ_true" in text["delta_h_vs_eta"]
        assert not by_gid(figs["delta_h_vs_eta"].axes[0], "linear_band")
    if variant == "full":
        assert all(t == "" for t in text.values()), text
    for fig in figs.values():
        assert_png(fig)


def test_plots_module_does_not_import_pyplot():
    code = "import sys, dhstats.plots; assert 'matplotlib.pyplot' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


# --------------------------------------------------------------------------- real data


def test_real_runs_render():
    if not REAL.is_dir():
        pytest.skip(f"real data not found at {REAL}")
    from dhstats.results import load_runs

    runs = [r for r in load_runs(sorted(p for p in REAL.iterdir() if p.is_dir())) if isinstance(r, Run)]
    assert runs, "no valid real run"
    r = runs[0]
    e = r.entries[-1]
    figs = plots.case_figures(r, e.eta)
    ratio = one(figs["truncation_sweep"].axes[0], "ratio").get_ydata()
    q1 = stats.truncation(e.eta, r.gdotv, e.normalized_weights, e.token_counts, e.h_new,
                          e.h_base, e.base_entropy, 1.0, Settings().sigma)
    assert ratio[0] == pytest.approx(q1.ratio)  # q = 1.0 comes first
    assert str(r.file.key) in titles(figs["error"])
    for fig in [*figs.values(), plots.delta_h_vs_eta(r, highlight=e.eta)]:
        assert_png(fig)

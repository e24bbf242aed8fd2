"""Tests of dhstats.figures.gallery: figures carry the numbers of dhstats.stats.stats/series/sigmas, never
raise through render() (missing data → a one-line note), render ≥ 600 px wide PNGs and leave
no pyplot state behind.

The run is built by hand (n = 50, 3 η, seeded) with the sums results-format.md requires:
Σ gdotv = G, Σ per_sequence_vhvv = Q, delta_h_true = Σw̃h_new/Σw̃T − Σh_base/ΣT.
"""
from __future__ import annotations

import base64
import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from dhstats.figures import gallery as plots

from dhstats.figures import base as plot_base
from dhstats import simulate
from dhstats.stats import stats
from dhstats.stats import truncation as trunc
from dhstats.figures.base import MissingData
from dhstats.figures.rendered import Figure as Rendered
from dhstats.load.results import Quadratic, Run, RunFile, validate
from dhstats.stats.series import sequence_series
from dhstats.load.settings import Settings
from dhstats.stats.sigmas import run_sigmas

from builders import consistent_entry, make_run
from paths import PROJECT_ROOT, REAL

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ETAS = (1e-6, 4e-6, 1.6e-5)


# --------------------------------------------------------------------------- fixtures


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
    return make_run(n=50, seed=7, etas=ETAS, G=-1.5e4, gdotv_sd=200.0)


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
    texts = [t for ax in fig.axes for t in ax.texts] + list(fig.texts)
    return [t.get_text() for t in texts if t.get_gid() == plots.NOTE_GID]


def titles(fig: Figure) -> str:
    parts = [ax.get_title() for ax in fig.axes]
    if fig._suptitle is not None:
        parts.append(fig._suptitle.get_text())
    return " | ".join(parts)


def png_size(png: bytes) -> tuple[int, int]:
    import struct

    assert png.startswith(PNG_SIGNATURE)
    return struct.unpack(">II", png[16:24])  # IHDR width, height


def assert_png(fig: Figure) -> None:
    png = plots.to_png(fig)
    assert len(png) > 1000
    assert png_size(png)[0] >= 600  # readable at the gate's DPI


def decoded(result) -> bytes:
    """The PNG bytes of a rendered figure (bytes; base64 only as Figure.base64, for HTML)."""
    assert isinstance(result.png, bytes) and result.png.startswith(PNG_SIGNATURE), result
    assert base64.b64decode(result.base64) == result.png
    return result.png


# --------------------------------------------------------------------------- per (run, η)


def test_error_histogram_counts_the_normalised_error(run):
    e = run.entries[1]
    fig = plots.error_histogram(run, e.eta, bins=20)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    c = stats.notebook_contributions(e.normalized_weights, e.token_counts, e.h_new, e.base_entropy)
    expected, edges = np.histogram(np.abs(c - e.eta * run.gdotv) / abs(e.delta_h_true), bins=20)
    stairs = one(fig.axes[0], "error")
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


def test_contribution_histograms_share_the_prediction_range(run):
    e = run.entries[2]
    fig = plots.contribution_histograms(run, e.eta, bins=30)
    assert len(fig.axes) == 3
    ser = sequence_series(run, e)
    pred = 1.05 * max(np.abs(ser.linear).max(), np.abs(ser.linquad).max())
    limits = {"true": 1.05 * np.abs(ser.true).max(), "linear": pred, "linquad": pred}
    for ax, gid in zip(fig.axes, ("true", "linear", "linquad")):
        counts = one(ax, gid).get_data().values
        assert counts.sum() == run.n and counts.size == 30
        assert ax.get_xlim() == pytest.approx((-limits[gid], limits[gid]))
        zero = one(ax, "zero")
        assert list(zero.get_xdata()) == [0.0, 0.0] and zero.get_linestyle() == "--"
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim() == fig.axes[2].get_ylim()
    assert "E_test/run_01" in titles(fig) and "η=1.6e-05" in titles(fig)
    assert notes(fig) == []
    assert_png(fig)


def test_contributions_without_vhv_has_two_panels_and_says_why(run):
    r = without_quadratic(run)
    fig = plots.contribution_histograms(r, ETAS[0])
    assert len(fig.axes) == 2
    assert notes(fig) == ["lin+quad not drawn: no quadratic block in this run"]
    assert_png(fig)


def test_clip_sweep_lines_are_stats_clip_sweep(run):
    e = run.entries[1]
    fig = plots.clip_sweep(run, e.eta, base_quantile=0.99, steps=6, clip_values=[2e-3, 1e3])
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    ser = sequence_series(run, e)
    thresholds, sums = trunc.clip_sweep(ser.linear, ser.true, ser.linquad, 0.99, 6)
    for name, values in sums.items():
        line = one(ax, name)
        np.testing.assert_allclose(line.get_xdata(), thresholds)
        np.testing.assert_allclose(line.get_ydata(), values)
    assert list(one(ax, "delta_h_true").get_ydata()) == [e.delta_h_true] * 2
    assert list(one(ax, "clip_value").get_xdata()) == [2e-3, 2e-3]
    assert notes(fig) == ["clip value(s) outside the sweep: 1e+03"]
    assert ax.get_xlim()[0] <= min(thresholds.min(), 2e-3) and ax.get_xlim()[1] >= max(thresholds.max(), 2e-3)
    assert_png(fig)


def test_truncation_sweep_points_are_stats_truncation(run):
    settings = Settings()
    e = run.entries[2]
    fig = plots.truncation_sweep(run, e.eta, settings)
    top, bottom = fig.axes
    qs = sorted(set(trunc.DEFAULT_SWEEP_QUANTILES) | set(settings.keep_quantiles), reverse=True)
    cuts = [trunc.truncation(e.eta, run.gdotv, e.normalized_weights, e.token_counts, e.h_new,
                             e.h_base, e.base_entropy, q, settings.k) for q in qs]
    ratio = one(top, "ratio")
    np.testing.assert_allclose(ratio.get_xdata(), [1 - q for q in qs])
    np.testing.assert_allclose(ratio.get_ydata(), [c.ratio for c in cuts])
    np.testing.assert_allclose(one(bottom, "notebook_ratio").get_ydata(), [c.notebook_ratio for c in cuts])
    filled, hollow = one(top, "ratio_conclusive"), one(top, "ratio_inconclusive")
    np.testing.assert_allclose(filled.get_ydata(), [c.ratio for c in cuts if c.conclusive])
    np.testing.assert_allclose(hollow.get_ydata(), [c.ratio for c in cuts if not c.conclusive])
    band = one(top, "ratio_bounds")
    assert (band.get_y(), band.get_y() + band.get_height()) == pytest.approx(settings.ratio_bounds)
    judged = sorted(1 - line.get_xdata()[0] for line in by_gid(top, "judged_quantile"))
    assert judged == pytest.approx(sorted(settings.keep_quantiles))
    assert top.get_xlim() == bottom.get_xlim()  # one x-scale in the figure
    assert_png(fig)


def test_truncation_sweep_grid_and_inconclusive_hollow(run):
    fig = plots.truncation_sweep(run, ETAS[0], Settings(k=1e9), keep_quantiles=[1.0, 0.95, 0.9])
    top = fig.axes[0]
    assert len(one(top, "ratio_conclusive").get_xdata()) == 0
    np.testing.assert_allclose(one(top, "ratio_inconclusive").get_xdata(), [0.0, 0.05, 0.1])
    assert_png(fig)


def test_truncation_sweep_without_h_base_shows_the_notebook_ratio_only(run):
    fig = plots.truncation_sweep(without_h_base(run), ETAS[1])
    assert len(fig.axes) == 1 and one(fig.axes[0], "notebook_ratio")
    assert "no h_base" in " ".join(notes(fig))
    assert_png(fig)


def test_weights_histogram_and_summary(run):
    e = run.entries[0]
    fig = plots.weights(run, e.eta)
    left, right = fig.axes
    counts = one(left, "log_weights").get_data().values
    assert counts.sum() == run.n
    np.testing.assert_allclose(one(right, "sorted_weights").get_ydata(), np.sort(e.normalized_weights)[::-1])
    summary = [t.get_text() for t in fig.texts if t.get_gid() == "weights_summary"][0]
    ess = 1 / np.sum(e.normalized_weights**2)
    assert f"ESS = {ess:.1f} of n = 50" in summary and "k̂" in summary
    assert summary.startswith(f"Σw̃ = {e.normalized_weights.sum():.6g};")
    assert_png(fig)


def test_weights_counts_zero_weights_and_all_zero_is_missing_data(run):
    e = run.entries[0]
    w = e.normalized_weights.copy()
    w[:3] = 0.0
    w /= w.sum()
    some = dataclasses.replace(run, entries=(dataclasses.replace(e, normalized_weights=w),) + run.entries[1:])
    fig = plots.weights(some, e.eta)
    assert one(fig.axes[0], "log_weights").get_data().values.sum() == run.n - 3
    assert "3 weight(s) zero, negative or not finite" in [t.get_text() for t in fig.texts if t.get_gid() == "weights_summary"][0]
    assert_png(fig)
    zero = dataclasses.replace(run, entries=(dataclasses.replace(e, normalized_weights=np.zeros(run.n)),) + run.entries[1:])
    with pytest.raises(MissingData, match="no positive finite normalized weight"):
        plots.weights(zero, e.eta)


# --------------------------------------------------------------------------- per run


def test_delta_h_vs_eta_bands_are_the_prediction_sigmas(run):
    settings = Settings()
    fig = plots.delta_h_vs_eta(run, settings, highlight=[ETAS[0], ETAS[2]])
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    sig = run_sigmas(run, settings.reported_se)
    G, q = run.delta_h_per_lr, run.quadratic
    np.testing.assert_allclose(one(ax, "linear").get_ydata(), [eta * G for eta in ETAS])
    lq = [eta * q.gdotv + 0.5 * eta**2 * q.vhvv for eta in ETAS]
    np.testing.assert_allclose(one(ax, "linquad").get_ydata(), lq)
    for gid, centre, attr in (("linear_band", [eta * G for eta in ETAS], "prediction_linear"),
                              ("linquad_band", lq, "prediction_linquad")):
        ys = one(ax, gid).get_paths()[0].vertices[:, 1]
        s = [getattr(sig[eta], attr) for eta in ETAS]
        assert (ys.min(), ys.max()) == pytest.approx((min(c - x for c, x in zip(centre, s)),
                                                      max(c + x for c, x in zip(centre, s))))
    (bars,) = ax.containers
    data_line, _, (bar_lines,) = bars
    np.testing.assert_allclose(data_line.get_ydata(), [e.delta_h_true for e in run.entries])
    half = [abs(seg[1, 1] - seg[0, 1]) / 2 for seg in bar_lines.get_segments()]
    np.testing.assert_allclose(half, [sig[eta].true.value for eta in ETAS])
    assert sorted(line.get_xdata()[0] for line in by_gid(ax, "highlight")) == [ETAS[0], ETAS[2]]
    zax = fig.axes[1]  # the agreement checks' z on the same x
    z = [(eta * G - e.delta_h_true) / sig[eta].linear.value for eta, e in zip(ETAS, run.entries)]
    np.testing.assert_allclose(one(zax, "z_linear").get_ydata(), z)
    band = one(zax, "k_band")
    assert (band.get_y(), band.get_y() + band.get_height()) == pytest.approx((-3, 3))
    assert zax.get_xlim() == ax.get_xlim()
    assert notes(fig) == []
    assert_png(fig)


def test_ratio_vs_eta_band_is_the_paired_ratio_se(run):
    fig = plots.ratio_vs_eta(run, highlight=ETAS[1])
    ax = fig.axes[0]
    sig = run_sigmas(run, "total")
    a = np.array([eta * run.delta_h_per_lr for eta in ETAS])
    b = np.array([e.delta_h_true for e in run.entries])
    r = a / b
    np.testing.assert_allclose(one(ax, "linear").get_ydata(), r)
    sa = np.array([sig[eta].prediction_linear for eta in ETAS])
    sb = np.array([sig[eta].true.value for eta in ETAS])
    sd = np.array([sig[eta].linear.value for eta in ETAS])
    cov = (sa**2 + sb**2 - sd**2) / 2  # cov(ηG, ΔH_true) of the paired σ's
    se = np.sqrt(sa**2 + r**2 * sb**2 - 2 * r * cov) / np.abs(b)
    ys = one(ax, "linear_band").get_paths()[0].vertices[:, 1]
    assert (ys.min(), ys.max()) == pytest.approx(((r - se).min(), (r + se).max()))
    assert one(ax, "linquad") and list(one(ax, "one").get_ydata()) == [1.0, 1.0]
    assert "paired" in ax.get_legend().get_title().get_text()
    assert_png(fig)


def test_ratio_vs_eta_independent_without_h_base(run):
    r = without_h_base(run)
    fig = plots.ratio_vs_eta(r)
    assert "independent" in fig.axes[0].get_legend().get_title().get_text()
    assert_png(fig)


def test_sigma_comparison_bars(run):
    fig = plots.sigma_comparison(run)
    g_ax, q_ax = fig.axes
    T = run.length
    measured = stats.se_sum(run.gdotv - run.delta_h_per_lr * T / T.sum())  # centred g̃
    heights = [p.get_height() for p in by_gid(g_ax, "bars_σ_G")]
    assert heights == pytest.approx([run.se_shard, run.se_shard * 8, measured])
    assert [t.get_text() for t in g_ax.get_xticklabels()] == ["reported", "×8 shards", "measured"]
    band = one(g_ax, "se_bounds")
    assert (band.get_y(), band.get_y() + band.get_height()) == pytest.approx((measured / 3, measured * 3))
    q = run.quadratic
    mq = stats.se_sum(q.per_sequence_vhvv - q.vhvv * T / T.sum())
    assert [p.get_height() for p in by_gid(q_ax, "bars_σ_Q")] == pytest.approx([q.se_vhvv, q.se_vhvv * 8, mq])
    assert_png(fig)


# --------------------------------------------------------------------------- render: never raises


ALL_RUN_FIGURES = plots.CASE_FIGURES + plots.RUN_FIGURES


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_render_every_run_figure_or_a_note(run, variant):
    r = VARIANTS[variant](run)
    dpi = plots.DPI if variant == "full" else 20  # the size is checked once; small renders are fast
    results = {name: plots.render(name, r, ETAS[1], dpi=dpi) for name in ALL_RUN_FIGURES}
    for name, res in results.items():
        assert res.caption.startswith(plots.CAPTIONS[name][0]) and "E_test/run_01" in res.caption
        if res.png is not None:
            assert png_size(decoded(res))[0] >= (600 if dpi == plots.DPI else 150)
        else:
            assert "\n" not in res.note and res.note.endswith("not drawn"), res
    drawn = {name for name, res in results.items() if res.png is not None}
    if variant == "full":
        assert drawn == set(ALL_RUN_FIGURES)
    if r.gdotv is None:
        for name in ("contributions", "errors", "clip_sweep", "truncation_sweep"):
            assert results[name].note == f"{plot_base.NO_GDOTV}: {plots.CAPTIONS[name][1]} not drawn"
    if variant == "bare":
        assert drawn == {"weights", "delta_h_vs_eta", "ratio_vs_eta"}
        assert results["sigma_comparison"].note.startswith("no reported SE and no per-sequence data")


def test_render_all_zero_weights_does_not_raise(run):
    e = run.entries[1]
    zero = dataclasses.replace(run, entries=(run.entries[0], dataclasses.replace(
        e, normalized_weights=np.zeros(run.n)), run.entries[2]))
    results = plots.render_run(zero, ALL_RUN_FIGURES, e.eta, dpi=20)
    notes_ = {r.caption.split(" — ")[0]: r.note for r in results if r.png is None}
    assert notes_ == {
        plots.CAPTIONS["errors"][0]: f"the normalized weights at η={e.eta:.3g} are all 0, so the true c_i are "
                                     "undefined: per-sequence error not drawn",
        plots.CAPTIONS["weights"][0]: f"no positive finite normalized weight at η={e.eta:.3g} (50 zero, negative "
                                      "or not finite): weights not drawn",
    }


def test_render_huge_eta_leaves_it_out(run):
    e = dataclasses.replace(run.entries[2], eta=1e308)
    big = dataclasses.replace(run, entries=run.entries[:2] + (e,))
    for name in plots.CASE_FIGURES:
        res = plots.render(name, big, 1e308, dpi=20)
        if name != "weights":
            assert res.note == f"η = 1e+308 is too large for finite per-sequence terms: {plots.CAPTIONS[name][1]} not drawn"
    fig = plots.delta_h_vs_eta(big)
    np.testing.assert_allclose(one(fig.axes[0], "linear").get_xdata(), ETAS[:2])
    assert "left out (ΔH not finite): η = 1e+308" in notes(fig)
    assert plots.render("ratio_vs_eta", big, 1e308, dpi=20).png is not None


def test_render_turns_any_exception_into_a_note(run):
    assert plots.render("no_such_figure", run) == Rendered(
        "no_such_figure — E_test/run_01", None, "no_such_figure could not be drawn: KeyError: \"'no_such_figure' is not a run "
        "figure (one of contributions, errors, clip_sweep, truncation_sweep, weights, delta_h_vs_eta, "
        "ratio_vs_eta, sigma_comparison)\"")
    res = plots.render("contributions", run, 123.0)  # no entry at that η
    assert res.png is None and res.note.startswith("contributions could not be drawn: KeyError")
    assert plots.render("errors", run).note == "per-sequence error could not be drawn: ValueError: figure 'errors' is per (run, η): give eta"


def test_render_run_deduplicates_in_order(run):
    names = ["delta_h_vs_eta", "ratio_vs_eta", "contributions", "delta_h_vs_eta"]
    caps = [r.caption.split(" — ")[0] for r in plots.render_run(run, names, ETAS[0])]
    assert caps == [plots.CAPTIONS[n][0] for n in names[:3]]


def test_case_figures_keeps_the_drawable_ones(run):
    assert list(plots.case_figures(run, ETAS[1])) == list(plots.CASE_FIGURES)
    assert list(plots.case_figures(without_per_sequence(run), ETAS[1])) == ["weights"]


def test_to_png_dpi_sets_the_size(run):
    sizes = [png_size(plots.to_png(plots.error_histogram(run, ETAS[0]), dpi=dpi)) for dpi in (40, 80)]
    assert sizes[0] == (320, 152) and sizes[1] == (640, 304)


# --------------------------------------------------------------------------- run-set figures


def agreement_case(results, run, eta, check="linear_agreement", **numbers):
    return {"run_set": results, "run": run, "eta": eta, "check": check, "outcome": "passed",
            "reason": "ok", "message": "", **numbers}


@pytest.fixture(scope="module")
def health() -> dict:
    cases = []
    for name, E, sg in (("E_256", 256, 40.0), ("E_1024", 1024, 20.0)):
        for r, ratio in (("run_01", 1.1), ("run_02", 0.9)):
            for eta in ETAS:
                cases.append(agreement_case(name, r, eta, ratio=ratio, ratio_se=0.1, sigma_g=sg, sigma_true=eta * sg / 2))
                cases.append(agreement_case(name, r, eta, "linquad_agreement", ratio=ratio, ratio_se=None))
        for eta in ETAS:
            cases.append(agreement_case(name, None, eta, "pooled_linear_agreement", ratio=1.0, ratio_se=0.07, Z=0.5, E=E))
    return {"schema": 2, "run_sets": [{"name": "E_256", "E": 256, "runs": 2}, {"name": "E_1024", "E": 1024, "runs": 2}],
            "cases": cases}


def test_pooled_ratio_points(health):
    cases = [c for c in health["cases"] if c["run_set"] == "E_256"]
    fig = plots.pooled_ratio(cases)
    lin, lq = fig.axes
    runs = by_gid(lin, "run_linear")
    assert len(runs) == 2  # run_01, run_02
    assert sorted(float(np.unique(line.get_ydata())[0]) for line in runs) == [0.9, 1.1]
    data = one(lin, "pooled_linear")
    np.testing.assert_allclose(data.get_xdata(), ETAS)
    np.testing.assert_allclose(data.get_ydata(), [1.0] * 3)
    assert by_gid(lq, "run_linquad") and not by_gid(lq, "pooled_linquad")
    assert lin.get_xlim() == lq.get_xlim()
    assert "E_256" in titles(fig)
    assert_png(fig)


def test_pooled_interval_shows_the_tolerance_band():
    def pooled(eta, ratio, lo, hi, reason="ok"):
        return {"run_set": "E_256", "run": None, "eta": eta, "check": "pooled_linear_agreement", "ratio": ratio,
                "ratio_lo": lo, "ratio_hi": hi, "interval_alpha": 0.05, "tolerance": 0.2, "reason": reason}

    cases = [pooled(1e-6, 1.0, 0.9, 1.1), pooled(2e-6, 1.1, 0.7, None, "not_demonstrated"),
             pooled(4e-6, 1.6, 1.4, 1.8, "out_of_tolerance")]
    fig = plots.pooled_interval(cases)
    (ax,) = fig.axes
    band = one(ax, "tolerance")
    assert band.get_y() == pytest.approx(0.8) and band.get_height() == pytest.approx(0.4)
    bars = by_gid(ax, "interval_linear")
    segments = [seg for b in bars for seg in b.get_segments()]
    assert [tuple(np.round(s[:, 1], 6)) for s in segments][0] == (0.9, 1.1)
    assert segments[1][1, 1] == pytest.approx(ax.get_ylim()[1])  # an unbounded limit reaches the edge
    colours = [tuple(b.get_colors()[0][:3]) for b in bars]
    assert colours[0] == (0.0, 0.0, 0.0) and colours[2][0] > 0.8 and colours[1][0] == colours[1][1]  # black, red, grey
    assert "90 % interval" in titles(fig) and "1 ± 0.2" in titles(fig)
    assert_png(fig)


def test_sigma_vs_e_follows_one_over_root_e(health):
    fig = plots.sigma_vs_e(health)
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    g = one(ax, "sigma_g")
    np.testing.assert_allclose(g.get_xdata(), [256, 1024])
    np.testing.assert_allclose(g.get_ydata(), [40.0, 20.0])
    for ref in by_gid(ax, "reference"):
        x, y = np.asarray(ref.get_xdata(), float), np.asarray(ref.get_ydata(), float)
        assert np.log(y[1] / y[0]) / np.log(x[1] / x[0]) == pytest.approx(-0.5)
    assert len(by_gid(ax, "sigma_true")) == len(ETAS)
    assert_png(fig)


def test_ratio_vs_e_one_line_per_eta(health):
    fig = plots.ratio_vs_e(health)
    (ax,) = fig.axes
    lines = by_gid(ax, "pooled_linear")
    assert len(lines) == len(ETAS)
    assert all(np.allclose(line.get_ydata(), 1.0) for line in lines)
    assert_png(fig)


def test_trend_one_series_per_run_set_selection():
    """Sessions on different run sets or settings are separate series, never joined; the legend
    names each selection (run sets, and the settings that differ) and lies inside the figure."""
    def line(i, sets, se):
        return {"time": f"t{i}", "run_sets": [{"name": n, "E": int(n[2:]), "runs": 4} for n in sets],
                "settings": {"sigma": 3.0, "reported_se": se},
                "checks": {"linear_agreement": {"passed": 3, "failed": i, "skipped": 9},
                           "truncation_ratio": {"passed": 0, "failed": 0, "skipped": 5}},
                "pooled_z": {"pooled_linear_agreement": {"E_256": {"1e-06": -0.5 * i, "2e-06": 0.1}}}}
    lines = [line(0, ["E_256"], "total"), line(1, ["E_256", "E_512"], "total"), line(2, ["E_256"], "total"),
             line(3, ["E_256"], "shard-mean")]
    fig = plots.trend(lines + ["not a record"])
    top, bottom = fig.axes
    rates = by_gid(top, "pass_rate")
    assert [list(r.get_xdata()) for r in rates] == [[1, 3], [2], [4]]
    np.testing.assert_allclose(rates[0].get_ydata(), [1, 3 / 5])  # skipped not counted
    assert [r.get_label() for r in rates] == ["E_256 · reported_se=total", "E_256, E_512 · reported_se=total",
                                              "E_256 · reported_se=shard-mean"]
    np.testing.assert_allclose(by_gid(bottom, "pooled_z")[0].get_ydata(), [0.1, 1.0])  # largest |Z| per session
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    box = fig.legends[0].get_window_extent(canvas.get_renderer())
    assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1
    assert box.y1 < min(ax.get_tightbbox(canvas.get_renderer()).y0 for ax in (bottom,)) + 1  # below the axes
    assert_png(fig)


@pytest.mark.parametrize("name,arg", [("pooled_ratio", []), ("sigma_vs_e", {}), ("ratio_vs_e", {"cases": []}),
                                      ("trend", []), ("trend", [{"checks": "x", "pooled_z": 3}])])
def test_set_figures_without_data_are_notes(name, arg):
    res = plots.render(name, arg, where="E_256")
    assert res.png is None and res.note.endswith(f"{plots.CAPTIONS[name][1]} not drawn")
    assert res.caption.endswith("— E_256")


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["run_set", "run", "eta", "check", "ratio", "ratio_se", "E", "sigma_g", "sigma_true",
                         "cases", "run_sets", "name", "checks", "pooled_z", "passed", "failed"]), inner, max_size=6),
    max_leaves=20)


@hsettings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(plots.SET_FIGURES), arg=json_values)
def test_set_figures_never_raise_on_any_json(name, arg):
    """The set figures' builders themselves (not render's catch-all) take any JSON value — a
    hand-edited health.json or history line: a Figure, or MissingData saying what is missing."""
    try:
        fig = getattr(plots, name)(arg)
    except MissingData as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(fig, Figure)


# --------------------------------------------------------------------------- simulated and real data


def test_simulated_run_renders_every_figure_at_100_dpi():
    doc = simulate.simulate_run(128, seed=5, entropy_noise=0.01)
    r = validate(doc, RunFile("E_128", "run_01", Path("/x/E_128/run_01/results.json")))
    for res in plots.render_run(r, ALL_RUN_FIGURES, r.etas[-1], dpi=100):
        assert png_size(decoded(res))[0] >= 750


@pytest.mark.slow
def test_plots_package_does_not_import_pyplot():
    code = "import sys, dhstats.figures.gallery; assert 'matplotlib.pyplot' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)


def test_real_runs_render():
    if not REAL.is_dir():
        pytest.skip(f"real data not found at {REAL}")
    from dhstats.load.results import load_runs

    runs = [r for r in load_runs(sorted(p for p in REAL.iterdir() if p.is_dir())) if isinstance(r, Run)]
    assert runs, "no valid real run"
    r = runs[0]
    e = r.entries[-1]
    fig = plots.truncation_sweep(r, e.eta)
    q1 = trunc.truncation(e.eta, r.gdotv, e.normalized_weights, e.token_counts, e.h_new,
                          e.h_base, e.base_entropy, 1.0, Settings().k)
    assert one(fig.axes[0], "ratio").get_ydata()[0] == pytest.approx(q1.ratio)  # q = 1.0 comes first
    for res in plots.render_run(r, ALL_RUN_FIGURES, e.eta, dpi=20):
        assert res.png is not None, res


def test_weights_heavy_tail_summary_is_red(run):
    e = run.entries[0]
    lw = np.random.default_rng(1).standard_t(1.5, run.n) * 3  # heavy-tailed log-weights
    w = np.exp(lw - lw.max())
    heavy = dataclasses.replace(run, entries=(dataclasses.replace(e, normalized_weights=w / w.sum()),) + run.entries[1:])
    fig = plots.weights(heavy, e.eta, Settings(khat_max=0.2))
    (summary,) = [t for t in fig.texts if t.get_gid() == "weights_summary"]
    assert "(max 0.20)" in summary.get_text() and summary.get_color() == "tab:red"
    assert_png(fig)


WEIRD = [0.0, -0.0, 1.0, -1.0, 1e-300, 1e300, 1e308, math.inf, -math.inf, math.nan]


@hsettings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(ALL_RUN_FIGURES), eta=st.sampled_from([1e-6, 1e-300, 1e154, 1e308]),
       weights=st.sampled_from(["zero", "one", "nan", "inf", "ok"]), value=st.sampled_from(WEIRD),
       field=st.sampled_from(["delta_h_true", "gdotv", "h_new", "h_base", "delta_h_per_lr", "vhvv", "se_shard"]),
       variant=st.sampled_from(list(VARIANTS)))
def test_run_figures_never_raise_on_degenerate_runs(run, name, eta, weights, value, field, variant):
    """Any one degenerate number (±0, ±1e300, 1e308, ±inf, NaN) in any field the figures read,
    degenerate weights and any η: render returns a PNG or a one-line note, never raises."""
    r = VARIANTS[variant](run)
    e = r.entries[0]
    w = {"zero": np.zeros(r.n), "one": np.eye(1, r.n, 3)[0], "nan": np.full(r.n, math.nan),
         "inf": np.r_[math.inf, np.ones(r.n - 1)], "ok": e.normalized_weights}[weights]
    h_new, h_base = e.h_new.copy(), None if e.h_base is None else e.h_base.copy()
    if field == "h_new":
        h_new[0] = value
    if field == "h_base" and h_base is not None:
        h_base[0] = value
    e = dataclasses.replace(e, eta=eta, normalized_weights=w, h_new=h_new, h_base=h_base,
                            delta_h_true=value if field == "delta_h_true" else e.delta_h_true)
    r = dataclasses.replace(r, entries=(e,) + r.entries[1:])
    if field == "gdotv" and r.gdotv is not None:
        g = r.gdotv.copy()
        g[0] = value
        r = dataclasses.replace(r, gdotv=g)
    if field == "delta_h_per_lr":
        r = dataclasses.replace(r, delta_h_per_lr=value)
    if field == "vhvv" and r.quadratic is not None:
        r = dataclasses.replace(r, quadratic=dataclasses.replace(r.quadratic, vhvv=value))
    if field == "se_shard":
        r = dataclasses.replace(r, se_shard=value)
    res = plots.render(name, r, eta, dpi=10)
    assert isinstance(res, Rendered) and (res.png is None) == (res.note is not None)
    if res.png is None:
        assert res.note and "\n" not in res.note


def test_ratio_vs_eta_names_ratios_it_cannot_draw(run):
    e = dataclasses.replace(run.entries[0], delta_h_true=1e-300)  # ΔH_true ≈ 0: ratio ≈ 1e294
    fig = plots.ratio_vs_eta(dataclasses.replace(run, entries=(e,) + run.entries[1:]))
    np.testing.assert_allclose(one(fig.axes[0], "linear").get_xdata(), ETAS[1:])
    assert "left out (ratio not finite or beyond ±1e+06): η = 1e-06" in notes(fig)
    assert_png(fig)


@pytest.mark.parametrize("se", [-1.0, 1e308, math.nan, None])
def test_pooled_ratio_draws_unusable_ses_as_plain_markers(health, se):
    cases = [dict(c, ratio_se=se) if c["run"] == "run_01" else c for c in health["cases"] if c["run_set"] == "E_256"]
    res = plots.render("pooled_ratio", cases, dpi=20)
    assert res.png is not None, res


def test_render_highlights_several_eta_in_run_figures(run):
    for name in ("delta_h_vs_eta", "ratio_vs_eta"):
        fig = plots.figure(name, run, None, highlight=[ETAS[0], ETAS[2]])
        assert sorted(line.get_xdata()[0] for line in by_gid(fig.axes[0], "highlight")) == [ETAS[0], ETAS[2]]
    assert plots.render("delta_h_vs_eta", run, None, highlight=list(ETAS), dpi=20).png is not None


def test_every_figure_named_by_the_registry_exists_and_has_a_caption():
    from dhstats.verdicts import registry

    known = set(plots.CASE_FIGURES + plots.RUN_FIGURES + plots.SET_FIGURES)
    for check in registry.CHECKS:
        assert check.figures, check.name
        assert set(check.figures) <= known, check.name
        scope = plots.SET_FIGURES if check.scope == registry.Scope.RUN_SET else plots.CASE_FIGURES + plots.RUN_FIGURES
        assert set(check.figures) <= set(scope), check.name  # run-set cases have no arrays
    assert set(plots.CAPTIONS) == known


def test_truncation_sweep_marks_the_failing_judged_quantiles(run):
    from dhstats.stats import truncation as trunc

    e = run.entries[2]
    settings = Settings(ratio_bounds=(5.0, 10.0))  # r ≈ 1 everywhere: every conclusive judged q fails
    fig = plots.truncation_sweep(run, e.eta, settings)
    top = fig.axes[0]
    cuts = {q: trunc.truncation(e.eta, run.gdotv, e.normalized_weights, e.token_counts, e.h_new, e.h_base,
                                e.base_entropy, q, settings.k) for q in settings.keep_quantiles}
    failing = sorted(1 - q for q, c in cuts.items() if c.conclusive and c.outside(settings.ratio_bounds, 3.0))
    assert failing, "the fixture should fail these bounds"
    np.testing.assert_allclose(sorted(one(top, "ratio_outside").get_xdata()), failing)
    assert len(one(top, "ratio_error").get_segments()) == sum(c.conclusive for c in cuts.values())
    assert not by_gid(plots.truncation_sweep(run, e.eta).axes[0], "ratio_outside")  # default bounds: passes
    assert_png(fig)


# --------------------------------------------------------------------------- log-axis labels


def test_power_label():
    assert [plot_base.power_label(x) for x in (1e5, 1.0, 1e-3, 2e-3, 2.5e7, 0.0, -1.0, math.inf)] == [
        "10⁵", "10⁰", "10⁻³", "2×10⁻³", "2.5×10⁷", "", "", ""]


def _drawn_tick_labels(axis) -> list[str]:
    """The non-empty labels of the major and minor ticks inside the axis's view (after a draw)."""
    lo, hi = sorted(axis.get_view_interval())
    pairs = [*zip(axis.get_majorticklocs(), axis.get_majorticklabels()),
             *zip(axis.get_minorticklocs(), axis.get_minorticklabels())]
    return [t.get_text() for x, t in pairs if lo <= x <= hi and t.get_visible() and t.get_text()]


def test_log_axes_are_labelled_without_mathtext(run):
    """Figures with a log axis (σ comparison, weights) are rendered with Unicode labels
    (no "$" of a mathtext string), and the labels are the decades the axis shows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for fig in (plots.sigma_comparison(run), plots.weights(run, ETAS[0])):
        plots.to_png(fig)
        labels = [lab for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) for lab in _drawn_tick_labels(axis)
                  if axis.get_scale() == "log"]
        assert labels and not any("$" in t for t in labels)
    fig, axes = plot_base.blank_figure()
    ax = axes[0, 0]
    ax.set_yscale("log")
    ax.set_ylim(1e1, 1e4)
    plot_base.plain_log_labels(fig)
    FigureCanvasAgg(fig).draw()
    labels = set(_drawn_tick_labels(ax.yaxis))
    assert {"10¹", "10²", "10³", "10⁴"} <= labels and not any("$" in t for t in labels)


@pytest.mark.parametrize("lo, hi, shown", [
    (1e1, 1e4, {"10¹", "10²", "10³", "10⁴"}),  # > 1 decade: decades only
    (150.0, 900.0, {"2×10²", "5×10²"}),  # 0.4–1 decade: 2 and 5 (not 3, 4, 6: they collide)
    (210.0, 480.0, {"3×10²", "4×10²"}),  # < 0.4 decade: every coefficient
    (184.0, 497.0, {"2×10²", "3×10²", "4×10²"}),  # 0.43 decade, but 2 and 5 would label one tick
])
def test_log_labels_by_decades_in_view(lo, hi, shown):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig, axes = plot_base.blank_figure()
    ax = axes[0, 0]
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    plot_base.plain_log_labels(fig)
    FigureCanvasAgg(fig).draw()
    assert set(_drawn_tick_labels(ax.xaxis)) == shown


def test_symlog_labels_have_their_sign():
    assert [plot_base.signed_power_label(x) for x in (-1e-3, 0.0, 100.0)] == ["−10⁻³", "0", "10²"]


def test_no_private_matplotlib_name_in_the_package():
    """dhstats uses matplotlib's public API only: no ``matplotlib._…`` module, no imported
    ``_name``, and no ``._attribute`` in a module that imports matplotlib (whose objects would
    be the only foreign ones there). Found by reading the syntax tree of every module."""
    import ast

    found = []
    for path in sorted((PROJECT_ROOT / "dhstats").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        uses_mpl = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    uses_mpl |= alias.name.split(".")[0] == "matplotlib"
                    if alias.name.startswith("matplotlib") and "._" in alias.name:
                        found.append(f"{path.name}:{node.lineno} import {alias.name}")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("matplotlib"):
                uses_mpl = True
                if "._" in node.module or any(a.name.startswith("_") for a in node.names):
                    found.append(f"{path.name}:{node.lineno} from {node.module} import "
                                 + ", ".join(a.name for a in node.names))
        if uses_mpl:
            found += [f"{path.name}:{node.lineno} .{node.attr}" for node in ast.walk(tree)
                      if isinstance(node, ast.Attribute) and node.attr.startswith("_")
                      and not (node.attr.startswith("__") and node.attr.endswith("__"))]
    assert found == []


# --------------------------------------------------------------------------- what a reader can tell apart


def _boxes(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def test_legends_never_cover_the_ratio_one_line(run, health):
    """ratio = 1 is the line a reader looks for: the legends of the ratio figures sit outside
    the axes (their boxes do not overlap), and the line has a legend entry."""
    cases = [c for c in health["cases"] if c["run_set"] == "E_256"]
    for fig in (plots.ratio_vs_eta(run), plots.pooled_ratio(cases), plots.ratio_vs_e(health)):
        r = _boxes(fig)
        legend = next(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)
        box = legend.get_window_extent(r)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(r)), f"legend over the axes: {titles(fig)}"
        assert any(t.get_text().startswith("ratio = 1") for t in legend.get_texts())


def test_panels_of_one_quantity_share_the_y_range(health):
    fig = plots.pooled_ratio([c for c in health["cases"] if c["run_set"] == "E_256"])
    assert len(fig.axes) == 2 and fig.axes[0].get_ylim() == fig.axes[1].get_ylim()


def test_sigma_comparison_band_is_labelled_and_scales_said(run):
    """One legend for both panels, below them: its box overlaps no axes (it never covers a bar)."""
    fig = plots.sigma_comparison(run)
    assert "each panel its own y scale" in titles(fig)
    for ax in fig.axes:
        assert ax.get_title().endswith("(own scale)")
        assert ax.get_legend() is None
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["accepted: 0.333–3 × measured"]
    r = _boxes(fig)
    box = legend.get_window_extent(r)
    assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(r))
        for label in ax.get_xticklabels():
            assert not box.overlaps(label.get_window_extent(r)), label.get_text()


def test_contribution_panels_state_one_x_unit(run):
    """Every panel's x axis in one stated unit (nats/token ×10ⁿ, no per-panel offset text):
    c_i's own range is said in its title and the suptitle, the predictions share theirs."""
    e = run.entries[2]
    fig = plots.contribution_histograms(run, e.eta, bins=30)
    _boxes(fig)
    units = {ax.get_xlabel() for ax in fig.axes}
    assert len(units) == 1 and next(iter(units)).startswith("nats/token ×10")
    assert all(ax.xaxis.get_offset_text().get_text() == "" for ax in fig.axes)
    true_ax, linear_ax, linquad_ax = fig.axes
    assert true_ax.get_title() == "true c_i (own x range)"
    assert "c_i on its own x range, the predictions on one" in titles(fig)
    assert linear_ax.get_xlim() == linquad_ax.get_xlim()
    ser = sequence_series(run, e)
    power = math.floor(math.log10(1.05 * max(np.abs(ser.true).max(), np.abs(ser.linear).max(),
                                             np.abs(ser.linquad).max())))
    assert next(iter(units)) == f"nats/token ×{plot_base.power_label(10.0 ** power)}"
    for ax in fig.axes:  # the tick labels are the positions in that unit
        for x, label in zip(ax.get_xticks(), ax.get_xticklabels()):
            if ax.get_xlim()[0] <= x <= ax.get_xlim()[1]:
                assert float(label.get_text().replace("−", "-")) == pytest.approx(x / 10.0 ** power, rel=1e-2)


def test_eta_legends_sorted_numerically(health):
    fig = plots.sigma_vs_e(health)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    etas = [float(lab.split("η=")[1]) for lab in labels[1:]]
    assert labels[0] == "σ_G" and etas == sorted(etas) and len(etas) == len(ETAS)

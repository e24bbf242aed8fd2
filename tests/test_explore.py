"""Tests of dhstats.notebook.explore: notebook figures draw the tables' numbers, into a given
axes (ax=) or a new Figure, with selection and plotting options."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from dhstats.notebook import frames, tables
from dhstats import simulate
from dhstats.notebook import explore
from dhstats.figures.base import MissingData


@pytest.fixture(scope="module")
def run_sets(tmp_path_factory):
    d = tmp_path_factory.mktemp("explore")
    small = simulate.write_run_set(d, name="E_64", runs=2, n=64, etas=(1e-5, 4e-5), seed=3)
    large = simulate.write_run_set(d, name="E_256", runs=2, n=256, etas=(1e-5, 4e-5), seed=4)
    return frames.load_run_sets([small, large])


def _by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def test_histogram_counts_each_selected_run_and_eta_on_the_given_axes(run_sets):
    ps = frames.per_sequence_frame(run_sets)
    fig = Figure()
    ax = fig.add_subplot()
    assert explore.histogram(ps, "c", runs=["E_64/run_01"], etas=[1e-5], bins=7, ax=ax) is fig
    (stairs,) = [a for a in ax.patches if a.get_gid()]
    assert stairs.get_gid() == "E_64/run_01/1e-05"
    counts = stairs.get_data().values
    assert counts.sum() == 64 and len(counts) == 7  # every sequence once, the bins asked for
    fig2 = explore.histogram(run_sets, "normalised_error", runs=["run_02"], xlim=(0, 5))
    assert len([a for a in fig2.axes[0].patches if a.get_gid()]) == 2 * 2  # run_02 of 2 sets × 2 η
    assert fig2.axes[0].get_xlim() == (0, 5)


def test_selection_that_matches_nothing_says_so(run_sets):
    with pytest.raises(MissingData, match="no rows"):
        explore.histogram(run_sets, "c", runs=["run_09"])


def test_eta_figures_draw_the_agreement_tables_numbers(run_sets):
    agreement = tables.agreement_table(run_sets)
    fig = explore.z_vs_eta(agreement, runs=["E_256/run_01"], k=2.5, ylim=(-4, 4))
    ax = fig.axes[0]
    (line,) = _by_gid(ax, "E_256/run_01")
    mine = agreement[(agreement.run_set == "E_256") & (agreement.run == "run_01")].sort_values("eta")
    np.testing.assert_array_equal(line.get_ydata(), mine["z"].to_numpy(float))
    (band,) = _by_gid(ax, "band")
    assert band.get_label() == "|z| ≤ 2.5"
    ys = band.get_path().transformed(band.get_patch_transform()).vertices[:, 1]  # data y of the band
    assert (ys.min(), ys.max()) == (-2.5, 2.5)
    assert ax.get_ylim() == (-4, 4)
    fig = explore.delta_h_vs_eta(run_sets[0], estimator="linquad")
    (pred,) = _by_gid(fig.axes[0], "linquad E_64/run_01")
    np.testing.assert_allclose(pred.get_ydata(), tables.agreement_table(run_sets[0]).query("run == 'run_01'")
                               .sort_values("eta")["delta_linquad"])


def test_truncation_and_clip_sweeps(run_sets):
    fig = explore.truncation_ratios(run_sets[1], runs=["run_01"], etas=[4e-5], bounds=(0.8, 1.25))
    (line,) = _by_gid(fig.axes[0], "E_256/run_01/4e-05")
    t = tables.truncation_table(run_sets[1]).query("run == 'run_01' and eta == 4e-5").sort_values("keep_quantile")
    np.testing.assert_allclose(line.get_ydata(), t["ratio"])
    fig = explore.clip_sweeps(run_sets, runs=["E_64/run_02"], etas=[1e-5], steps=4)
    (c,) = _by_gid(fig.axes[0], "c E_64/run_02/1e-05")
    assert len(c.get_xdata()) == 5
    # at the largest threshold (the max |η·gdotv|) the clipped linear sum is the whole ηG
    (lin,) = _by_gid(fig.axes[0], "eta_gdotv E_64/run_02/1e-05")
    run = run_sets[0].run("run_02")
    assert lin.get_ydata()[-1] == pytest.approx(1e-5 * run.delta_h_per_lr, rel=1e-9)


def test_sigma_vs_e_reference_line_is_the_scaling_tables(run_sets):
    fig = explore.sigma_vs_e(run_sets)
    ax = fig.axes[0]
    (ref,) = _by_gid(ax, "reference")
    m = tables.scaling_table(run_sets).set_index("run_set").loc["E_256", "sigma_g_sqrt_e"]
    x, y = ref.get_xdata(), ref.get_ydata()
    np.testing.assert_allclose(y * np.sqrt(x), m)
    (pts,) = _by_gid(ax, "E_64")
    se = tables.standard_errors_table(run_sets[0])
    np.testing.assert_allclose(sorted(pts.get_ydata()), sorted(se["sigma_G"]))
    assert set(pts.get_xdata()) == {64}


def _drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _visible_tick_labels(axis):
    lo, hi = sorted(axis.get_view_interval())
    pairs = [*zip(axis.get_majorticklocs(), axis.get_majorticklabels()),
             *zip(axis.get_minorticklocs(), axis.get_minorticklabels())]
    return [t for x, t in pairs if lo <= x <= hi and t.get_visible() and t.get_text()]


def test_styles_give_every_run_its_own_colour_and_marker():
    """12 runs of three run sets (the notebook's real files and E_2048): no two share a
    (colour, marker); the 11th and 12th reuse a colour with another marker. 100 keys of one
    group are still distinct."""
    keys = [(f"E_{e}", f"run_0{i}") for e in (256, 512, 2048) for i in range(1, 5)]
    style = explore.styles(keys)
    assert len(set(style.values())) == 12
    assert [c for c, _ in style.values()][:10] == [f"C{i}" for i in range(10)]
    assert style[("E_256", "run_01")] == ("C0", "o") and style[("E_2048", "run_03")] == ("C0", "^")
    many = explore.styles([("E_1", f"run_{i}") for i in range(100)])
    assert len(set(many.values())) == 100


def test_z_vs_eta_twelve_runs_distinct_and_the_legend_outside_the_data(tmp_path):
    sets = [simulate.write_run_set(tmp_path, name=f"E_{n}", runs=4, n=n, etas=(1e-5, 4e-5), seed=n)
            for n in (32, 48, 64)]
    fig = explore.z_vs_eta(frames.load_run_sets(sets))
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_gid() and "/run_" in ln.get_gid()]
    assert len(lines) == 12
    assert len({(ln.get_color(), ln.get_marker()) for ln in lines}) == 12
    r = _drawn(fig)
    legend = ax.get_legend().get_window_extent(r)
    assert not legend.overlaps(ax.get_window_extent(r))  # beside the axes, not on the data
    assert fig.bbox.contains(legend.x1 - 1, legend.y0 + 1)  # and inside the figure


def test_sigma_vs_e_ticks_at_the_batch_sizes_and_no_label_overlaps(run_sets):
    """The E axis is ticked at the run sets' E (64, 256), and no two tick labels of either
    axis overlap (their drawn text extents); no mathtext."""
    fig = explore.sigma_vs_e(run_sets)
    ax = fig.axes[0]
    r = _drawn(fig)
    assert [t.get_text() for t in _visible_tick_labels(ax.xaxis)] == ["64", "256"]
    for axis in (ax.xaxis, ax.yaxis):
        labels = _visible_tick_labels(axis)
        assert labels and not any("$" in t.get_text() for t in labels)
        boxes = [t.get_window_extent(r) for t in labels]
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), \
            [t.get_text() for t in labels]

"""Figures for exploring runs in a notebook: overlays of runs and η, drawn on a given axes.

Every function takes the table it draws — a :mod:`dhstats.notebook.tables` DataFrame or the
per-sequence frame of :func:`dhstats.notebook.frames.per_sequence_frame` — or the runs themselves
(a :class:`~dhstats.notebook.frames.RunSet`, a list of runs or run sets: the table is then built with
``settings``), plus selection and plotting options: ``runs`` (run names, or ``"E_256/run_01"``),
``etas``, ``bins``, ``xlim``/``ylim``. ``ax=``: draw into this matplotlib Axes (its figure is
returned); without it a new :class:`~matplotlib.figure.Figure` (no pyplot state) is made.
Each returns the Figure. Nothing is estimated here: the numbers are the tables' columns (the
clip sweep uses :func:`dhstats.stats.truncation.clip_sweep`, the kernel of ``dhstats plot``).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation, NullLocator

from dhstats.notebook import tables
from dhstats.stats import truncation as trunc
from dhstats.notebook.frames import per_sequence_frame, runs_frame
from dhstats.load.settings import Settings
from dhstats.figures.base import C_BAND, FONT, MissingData, log_labels, log_ticks

SERIES_LABELS = {"c": "true c_i", "eta_gdotv": "linear η·gdotv_i", "linquad": "lin+quad η·gdotv_i + ½η²·vhvv_i",
                 "psi": "ψ_i", "normalised_error": "|c_i − η·gdotv_i| / |ΔH_true|"}


def _axes(ax, width: float = 7.0, height: float = 4.0):
    """(figure, axes): ``ax`` and its figure, or a new Figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _table(data, build: Callable, settings: Settings | None) -> pd.DataFrame:
    """``data`` if it is already a DataFrame, else ``build(data, settings)``."""
    if isinstance(data, pd.DataFrame):
        return data
    return build(data, settings or Settings())


def _set_col(df: pd.DataFrame) -> str:
    return "run_set" if "run_set" in df.columns else "results"


def _select(df: pd.DataFrame, runs: Iterable[str] | None, etas: Iterable[float] | None) -> pd.DataFrame:
    """Rows of the named runs (``run_01`` or ``E_256/run_01``) and of the η given (rel. 1e-9)."""
    if df.empty:
        raise MissingData("no rows to draw (empty table)")
    keep = np.ones(len(df), dtype=bool)
    if runs is not None:
        names = set(runs)
        full = df[_set_col(df)].astype(str) + "/" + df["run"].astype(str)
        keep &= (df["run"].isin(names) | full.isin(names)).to_numpy()
    if etas is not None and "eta" in df.columns:
        wanted = np.asarray(list(etas), dtype=float)
        e = df["eta"].to_numpy(dtype=float)
        keep &= np.isclose(e[:, None], wanted[None, :], rtol=1e-9, atol=0).any(axis=1)
    out = df[keep]
    if out.empty:
        raise MissingData(f"no rows for runs={runs!r}, etas={etas!r}")
    return out


#: Markers combined with the ten colours C0–C9, so that up to 100 lines differ in (colour, marker).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


def styles(keys) -> dict:
    """(colour, marker) per key (first occurrence order), distinct for up to 100 keys: colours
    C0–C9 in turn, the marker of the key's group (its first element, e.g. the run set) unless
    that pair is taken, then the next free marker. 12 runs of three run sets: every colour is
    used once before any repeats, and a repeated colour comes with another marker."""
    keys = list(dict.fromkeys(keys))
    groups = list(dict.fromkeys(k[0] if isinstance(k, tuple) else k for k in keys))
    taken: set[tuple[str, str]] = set()
    out = {}
    for i, key in enumerate(keys):
        colour = f"C{i % 10}"
        first = groups.index(key[0] if isinstance(key, tuple) else key) % len(MARKERS)
        marker = next((MARKERS[(first + j) % len(MARKERS)] for j in range(len(MARKERS))
                       if (colour, MARKERS[(first + j) % len(MARKERS)]) not in taken), MARKERS[first])
        taken.add((colour, marker))
        out[key] = (colour, marker)
    return out


def _colours(keys) -> dict:
    return {k: colour for k, (colour, _) in styles(keys).items()}


def _finish(ax, xlim, ylim, legend: bool = True) -> None:
    """Limits, grid, plain log labels, and the legend outside the data (right of the axes)."""
    if xlim is not None:
        ax.set_xlim(*xlim)
    if ylim is not None:
        ax.set_ylim(*ylim)
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() in ("log", "symlog") and isinstance(axis.get_major_formatter(), LogFormatterSciNotation):
            log_labels(axis)
    handles = ax.get_legend_handles_labels()[0]
    if legend and handles:
        ax.legend(fontsize=FONT - 2, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0, ncols=1 + (len(handles) - 1) // 24)
    ax.grid(True, ls=":", alpha=0.5)


def _e_ticks(ax, e_values) -> None:
    """Log x ticked at the batch sizes themselves (``256``, ``512``, ``2048``): no minor labels."""
    ticks = np.unique(np.asarray(e_values, dtype=float))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(ticks, [f"{v:g}" for v in ticks])


def histogram(data, column: str = "c", *, runs=None, etas=None, bins: int = 60, xlim=None,
              logy: bool = False, settings: Settings | None = None, ax=None) -> Figure:
    """Histogram of a per-sequence column (``c``, ``eta_gdotv``, ``linquad``, ``psi``,
    ``normalised_error``, …) of :func:`~dhstats.notebook.frames.per_sequence_frame`, one step outline
    per (run, η) over common bin edges (within ``xlim`` when given)."""
    df = _select(_table(data, lambda d, s: per_sequence_frame(d), settings), runs, etas)
    values = df[column].to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise MissingData(f"no finite {column} in the selected rows")
    lo, hi = xlim if xlim is not None else (finite.min(), finite.max())
    edges = np.histogram_bin_edges(finite, bins=bins, range=(lo, hi) if lo < hi else None)
    fig, ax = _axes(ax)
    sc = _set_col(df)
    for (rs, run, eta), g in df.groupby([sc, "run", "eta"], sort=True):
        counts, _ = np.histogram(g[column].to_numpy(dtype=float), bins=edges)
        ax.stairs(counts, edges, label=f"{rs}/{run}, η={eta:.3g}", gid=f"{rs}/{run}/{eta!r}")
    ax.set_xlabel(SERIES_LABELS.get(column, column) + ("" if column == "normalised_error" else " (nats/token)"))
    ax.set_ylabel("sequences")
    if logy:
        ax.set_yscale("log")
    _finish(ax, xlim, None)
    return fig


def delta_h_vs_eta(data, *, estimator: str = "linear", runs=None, ylim=None,
                   settings: Settings | None = None, ax=None) -> Figure:
    """ΔH_true ± σ_true (points with error bars) and a prediction (dashed: ``linear`` ηG or
    ``linquad`` ηG_q + ½η²Q) vs η (log x), one colour per run; from
    :func:`dhstats.notebook.tables.agreement_table`."""
    df = _select(_table(data, tables.agreement_table, settings), runs, None)
    col = {"linear": "delta_linear", "linquad": "delta_linquad"}[estimator]
    if col not in df.columns:
        raise MissingData(f"no {estimator} prediction in these runs")
    fig, ax = _axes(ax)
    sc = _set_col(df)
    style = styles(zip(df[sc], df["run"]))
    for (rs, run), g in df.groupby([sc, "run"], sort=False):
        g = g.sort_values("eta")
        c, marker = style[(rs, run)]
        ax.errorbar(g["eta"], g["delta_true"], yerr=g["se_true"].astype(float), fmt=marker, color=c, ms=4,
                    capsize=2, label=f"{rs}/{run} ΔH_true ± σ_true", gid=f"true {rs}/{run}")
        ax.plot(g["eta"], g[col], "--", color=c, lw=1, gid=f"{estimator} {rs}/{run}")
    ax.plot([], [], "--", color="0.3", label=f"{estimator} prediction (dashed)")
    ax.set_xscale("log")
    ax.set_xlabel("η (learning rate)")
    ax.set_ylabel("ΔH (nats/token)")
    _finish(ax, None, ylim)
    return fig


def z_vs_eta(data, *, estimator: str = "linear", k: float | None = None, runs=None, ylim=None,
             settings: Settings | None = None, ax=None) -> Figure:
    """Each run's agreement z (``linear``: ``z``; ``linquad``: ``z_linquad`` of
    :func:`dhstats.notebook.tables.agreement_table`, the gate's z) vs η, with the ±k band (k from
    ``settings.k`` unless given)."""
    settings = settings or Settings()
    k = settings.k if k is None else k
    df = _select(_table(data, tables.agreement_table, settings), runs, None)
    col = {"linear": "z", "linquad": "z_linquad"}[estimator]
    if col not in df.columns:
        raise MissingData(f"no {estimator} z in these runs")
    fig, ax = _axes(ax)
    ax.axhspan(-k, k, color=C_BAND, alpha=0.12, lw=0, label=f"|z| ≤ {k:g}", gid="band")
    sc = _set_col(df)
    style = styles(zip(df[sc], df["run"]))
    for (rs, run), g in df.groupby([sc, "run"], sort=False):
        g = g.sort_values("eta")
        colour, marker = style[(rs, run)]
        ax.plot(g["eta"], g[col].astype(float), "-", marker=marker, color=colour, ms=4, lw=1,
                label=f"{rs}/{run}", gid=f"{rs}/{run}")
    ax.axhline(0, color="0.4", lw=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("η (learning rate)")
    ax.set_ylabel(f"z ({estimator})")
    _finish(ax, None, ylim)
    return fig


def truncation_ratios(data, *, runs=None, etas=None, bounds=None, ylim=None,
                      settings: Settings | None = None, ax=None) -> Figure:
    """The truncation check's ratio L_S/Δ_S vs keep-quantile q per (run, η), from
    :func:`dhstats.notebook.tables.truncation_table` (filled: conclusive, |Δ_S| ≥ kσ_S; hollow: not
    judged); ``bounds`` (default ``settings.ratio_bounds``) shaded."""
    settings = settings or Settings()
    df = _select(_table(data, tables.truncation_table, settings), runs, etas)
    if "ratio" not in df.columns:
        raise MissingData("no judged truncation ratio (the runs have no h_base)")
    fig, ax = _axes(ax)
    lo, hi = settings.ratio_bounds if bounds is None else bounds
    ax.axhspan(lo, hi, color=C_BAND, alpha=0.12, lw=0, label=f"bounds [{lo:g}, {hi:g}]", gid="bounds")
    sc = _set_col(df)
    colour = _colours(zip(df[sc], df["run"], df["eta"]))
    for (rs, run, eta), g in df.groupby([sc, "run", "eta"], sort=True):
        g = g.sort_values("keep_quantile")
        c = colour[(rs, run, eta)]
        sure = g["conclusive"].astype(bool).to_numpy()
        q, r = g["keep_quantile"].to_numpy(float), g["ratio"].to_numpy(float)
        ax.plot(q, r, "-", color=c, lw=0.8, label=f"{rs}/{run}, η={eta:.3g}", gid=f"{rs}/{run}/{eta!r}")
        ax.plot(q[sure], r[sure], "o", color=c, ms=5)
        ax.plot(q[~sure], r[~sure], "o", color=c, ms=5, mfc="white")
    ax.set_xlabel("keep-quantile q of |η·gdotv_i|")
    ax.set_ylabel("L_S / Δ_S (hollow: inconclusive)")
    _finish(ax, None, ylim)
    return fig


def clip_sweeps(data, *, runs=None, etas=None, series=("c", "eta_gdotv"), base_quantile: float = 0.999,
                steps: int = 10, xlim=None, ylim=None, settings: Settings | None = None, ax=None) -> Figure:
    """Clipped sums Σ clip(x_i, ±t) vs threshold t = quantile_{base^k}(|η·gdotv|), k = steps…0
    (:func:`dhstats.stats.truncation.clip_sweep`), per (run, η) from the per-sequence frame: one
    colour per (run, η), one line style per series (``c`` solid, ``eta_gdotv`` dashed,
    ``linquad`` dotted)."""
    df = _select(_table(data, lambda d, s: per_sequence_frame(d), settings), runs, etas)
    style = {"c": "-", "eta_gdotv": "--", "linquad": ":"}
    name = {"c": "true", "eta_gdotv": "linear", "linquad": "linquad"}
    fig, ax = _axes(ax)
    sc = _set_col(df)
    colour = _colours(zip(df[sc], df["run"], df["eta"]))
    drawn = 0
    for (rs, run, eta), g in df.groupby([sc, "run", "eta"], sort=True):
        lin = g["eta_gdotv"].to_numpy(float)
        if not np.isfinite(lin).all():
            continue
        lq = g["linquad"].to_numpy(float)
        thresholds, sums = trunc.clip_sweep(lin, g["c"].to_numpy(float), lq if np.isfinite(lq).all() else None,
                                            base_quantile, steps)
        for s in series:
            if name[s] in sums:
                ax.plot(thresholds, sums[name[s]], style[s], marker=".", color=colour[(rs, run, eta)],
                        label=f"{rs}/{run}, η={eta:.3g}" if s == series[0] else None, gid=f"{s} {rs}/{run}/{eta!r}")
                drawn += 1
    if not drawn:
        raise MissingData("no per-sequence gdotv in the selected runs")
    for s in series:
        ax.plot([], [], style[s], color="0.3", label=SERIES_LABELS[s])
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())  # a sweep spans < 1 decade: label ends and middle
    lo, hi = ax.dataLim.intervalx
    ticks = log_ticks(np.array([lo, hi]))
    ax.set_xticks(ticks, [f"{t:.3g}" for t in ticks])
    ax.set_xlabel("clipping threshold t (nats/token)")
    ax.set_ylabel("Σ clip(x_i, ±t) (nats/token)")
    _finish(ax, xlim, ylim)
    return fig


def sigma_vs_e(data, *, quantity: str = "sigma_G", settings: Settings | None = None, ax=None) -> Figure:
    """Cross-E comparison (log–log): each run's σ_G (``quantity="sigma_G"``) or σ_true/η per η
    (``"sigma_true"``) against its E, and the line m/√E through the largest-E run set's median
    m = σ·√E (:func:`dhstats.notebook.tables.scaling_table`, the se_scaling check): sampling noise
    shrinks as 1/√E, so the points of every run set lie near the line. ``data``: the runs
    (run sets); the tables are built with ``settings``."""
    settings = settings or Settings()
    se = tables.standard_errors_table(data, settings)
    if se.empty:
        raise MissingData("no valid run")
    sizes = runs_frame(data).rename(columns={"run_set": _set_col(se)})[[_set_col(se), "run", "E"]]
    se = se.merge(sizes, on=[_set_col(se), "run"])
    y = se["sigma_G"] if quantity == "sigma_G" else se["se_true"] / se["eta"]
    scaling = tables.scaling_table(data, settings)
    fig, ax = _axes(ax)
    sc = _set_col(se)
    style = styles(se[sc])
    for name, g in se.assign(y=y.astype(float)).groupby(sc, sort=False):
        colour, marker = style[name]
        ax.plot(g["E"], g["y"], marker, color=colour, ms=5, alpha=0.7, label=str(name), gid=str(name))
    col = "sigma_g_sqrt_e" if quantity == "sigma_G" else "sigma_true_sqrt_e_over_eta"
    ref = scaling.sort_values("E").iloc[-1] if not scaling.empty else None
    if ref is not None and ref[col] is not None and math.isfinite(float(ref[col])):
        e = np.geomspace(se["E"].min() / 1.3, se["E"].max() * 1.3, 20)
        ax.plot(e, float(ref[col]) / np.sqrt(e), "--", color="0.3",
                label=f"∝ 1/√E through {ref[_set_col(scaling)]}", gid="reference")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _e_ticks(ax, se["E"])
    ax.set_xlabel("E (sequences per run)")
    ax.set_ylabel("σ_G (per unit LR)" if quantity == "sigma_G" else "σ_true / η (per unit LR)")
    _finish(ax, None, None)
    return fig


__all__ = ["styles", "histogram", "delta_h_vs_eta", "z_vs_eta", "truncation_ratios", "clip_sweeps", "sigma_vs_e"]

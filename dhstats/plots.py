"""Figures for failing cases and runs (the report layer; the only module drawing with matplotlib).

Re-implements the seed notebook's plots, correctly, on top of :mod:`dhstats.series` and
:mod:`dhstats.stats`: no statistic is computed here. Figures are built with the
object-oriented API (``matplotlib.figure.Figure``, never pyplot): no global state, any
backend, rendered by :func:`to_png` with Agg. Missing optional data (no
``approx.per_sequence``, no ``h_base``, no quadratic block) never raises: the figure shows
what exists and a short note (a ``Text`` with gid ``"note"``) in the affected axes.

Artists that carry data have a ``gid`` (e.g. ``"linear"``, ``"ratio"``) so that tests and
callers can find them without relying on colours or draw order.
"""
from __future__ import annotations

import io
import math
from collections.abc import Iterable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator

from . import stats
from .results import Run
from .series import eta_curve, sequence_series
from .verdicts import Settings

__all__ = [
    "error_histogram",
    "contribution_histograms",
    "clip_sweep",
    "truncation_sweep",
    "delta_h_vs_eta",
    "case_figures",
    "to_png",
    "NOTE_GID",
]

NOTE_GID = "note"  # gid of the Text artists that explain missing data

# Colours of the three ΔH series, the same in every figure.
C_TRUE, C_LINEAR, C_LINQUAD = "black", "tab:blue", "tab:orange"
C_HIGHLIGHT, C_BAND = "tab:red", "tab:green"

_WIDTH, _HEIGHT = 5.0, 3.0  # inches; at dpi 60: 300 × 180 px
_FONT = 9  # points, for every text (no rcParams: no global state)

NO_GDOTV = "no per-sequence gdotv in this run\n(approx.per_sequence missing)"
NO_H_BASE = "no h_base in this entry:\nre-estimated ratio L_S/Δ_S not computable"
NO_GDOTV_SHORT = "no per-sequence gdotv\nin this run"


# --------------------------------------------------------------------------- helpers


def _figure(ncols: int = 1, nrows: int = 1, width: float = _WIDTH, height: float = _HEIGHT,
            **adjust) -> tuple[Figure, np.ndarray]:
    """A small figure with fixed margins (no tight/constrained layout: they cost 20+ ms).
    Axes are not shared: shared axes copy their ticks, and ticks dominate drawing time."""
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    margins = dict(left=0.13, right=0.97, bottom=0.16, top=0.86, wspace=0.12, hspace=0.15)
    margins.update(adjust)
    fig.subplots_adjust(**margins)
    for ax in axes.flat:
        ax.tick_params(labelsize=_FONT - 1, length=2.5, pad=1.5)
        ax.xaxis.label.set_size(_FONT)
        ax.yaxis.label.set_size(_FONT)
        ax.title.set_size(_FONT)
        ax.xaxis.offsetText.set_fontsize(_FONT - 1)
        ax.yaxis.offsetText.set_fontsize(_FONT - 1)
    return fig, axes


def _title(ax, what: str, run: Run, eta: float | None = None) -> None:
    """``what, <run set>/<run>, η=…`` as the axes title."""
    where = run.file.key if eta is None else f"{run.file.key}, η={eta:.3g}"
    ax.set_title(f"{what}, {where}" if what else where, fontsize=_FONT, y=1.0, pad=3)


def _note(ax, text: str, *, y: float = 0.5, clear: bool = True) -> None:
    """Explain missing data inside ``ax`` (gid ``"note"``); ``clear`` drops the ticks."""
    ax.text(0.5, y, text, transform=ax.transAxes, ha="center", va="center",
            fontsize=_FONT, color="0.3", gid=NOTE_GID, wrap=False)
    if clear:
        ax.xaxis.set_major_locator(NullLocator())
        ax.yaxis.set_major_locator(NullLocator())


def _hist(ax, values: np.ndarray, bins, color: str, gid: str, range_=None):
    """One filled step artist (much cheaper to draw than ``ax.hist``'s one patch per bin)."""
    counts, edges = np.histogram(values, bins=bins, range=range_)
    return ax.stairs(counts, edges, fill=True, color=color, alpha=0.8, gid=gid, linewidth=0)


# --------------------------------------------------------------------------- per case


def error_histogram(run: Run, eta: float, bins: int = 60) -> Figure:
    """Histogram of the normalised per-sequence error |c_i − η·gdotv_i| / |ΔH_true|.

    c_i and η·gdotv_i from :func:`dhstats.series.sequence_series` (c_i is
    :func:`dhstats.stats.notebook_contributions`); the notebook's normalisation falls back to
    1 when ΔH_true = 0. Note: c_i is dominated by a zero-sum part, so this shows how the
    measurement is spread over sequences, not an error of the estimator.
    """
    e = run.entry(eta)
    fig, axes = _figure()
    ax = axes[0, 0]
    _title(ax, "Per-sequence error", run, e.eta)
    ser = sequence_series(run, e)
    if ser.linear is None:
        _note(ax, NO_GDOTV)
        return fig
    norm = abs(e.delta_h_true) if e.delta_h_true != 0 else 1.0
    err = np.abs(ser.true - ser.linear) / norm
    _hist(ax, err, bins, C_LINEAR, "error")
    ax.set_xlabel("|c_i − η·gdotv_i| / |ΔH_true|" + ("" if e.delta_h_true != 0 else " (ΔH_true = 0: not normalised)"))
    ax.set_ylabel("sequences")
    ax.set_xlim(left=0)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_locator(MaxNLocator(3, integer=True))
    return fig


def contribution_histograms(run: Run, eta: float, bins: int = 60) -> Figure:
    """Histograms of the per-sequence terms (nats per token), one panel each: true c_i,
    linear η·gdotv_i and lin+quad η·gdotv_i + ½η²·vhvv_i, all from
    :func:`dhstats.series.sequence_series`; symmetric x-limits ±1.05·max|x| per panel, a
    dashed zero line and a common count axis, as in the notebook. A series that cannot be
    formed (no per-sequence gdotv, no per-sequence vHv) leaves a note in its panel.
    """
    e = run.entry(eta)
    ser = sequence_series(run, e)
    if run.quadratic is None:
        why_lq = "no quadratic block\nin this run"
    elif ser.linear is None:
        why_lq = "needs per-sequence gdotv"
    else:
        why_lq = "no per-sequence vHv\nin this run"
    panels = [("true c_i", ser.true, C_TRUE, "true", ""),
              ("linear η·gdotv_i", ser.linear, C_LINEAR, "linear", NO_GDOTV_SHORT),
              ("lin+quad", ser.linquad, C_LINQUAD, "linquad", why_lq)]
    fig, axes = _figure(ncols=3, width=7.6, left=0.07, right=0.98, wspace=0.08, top=0.82,
                        bottom=0.12)
    fig.suptitle(f"Per-sequence contributions (nats/token), {run.file.key}, η={e.eta:.3g}",
                 fontsize=_FONT)
    top = 1
    for ax, (label, values, color, gid, why) in zip(axes[0], panels):
        ax.set_title(label, fontsize=_FONT, y=1.0, pad=3)  # fixed y: no auto-positioning pass
        if values is None:
            _note(ax, why)
            continue
        lim = 1.05 * (float(np.max(np.abs(values))) or 1e-12)
        top = max(top, _hist(ax, values, bins, color, gid, range_=(-lim, lim)).get_data().values.max())
        ax.axvline(0.0, color="0.2", linestyle="--", linewidth=0.8, gid="zero")
        ax.set_xlim(-lim, lim)
        ax.xaxis.set_major_locator(MaxNLocator(3, symmetric=True))
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    # A common count axis, ticked on the first panel only (cheaper than sharey's tick copies).
    for ax in axes[0]:
        ax.set_ylim(0, 1.05 * top)
        if ax is not axes[0, 0]:
            ax.yaxis.set_major_locator(NullLocator())
    axes[0, 0].set_ylabel("sequences")
    axes[0, 0].yaxis.set_major_locator(MaxNLocator(3, integer=True))
    return fig


def clip_sweep(run: Run, eta: float, base_quantile: float = 0.999, steps: int = 10) -> Figure:
    """Clipped sums Σ clip(x_i, ±t) of the true, linear and lin+quad per-sequence terms vs the
    threshold t = quantile_{base^k}(|η·gdotv|), k = steps…0 (log x), from
    :func:`dhstats.stats.clip_sweep`; a horizontal line marks the unclipped ΔH_true.
    """
    e = run.entry(eta)
    fig, axes = _figure(left=0.15)
    ax = axes[0, 0]
    _title(ax, "Clip sweep", run, e.eta)
    ax.axhline(e.delta_h_true, color=C_TRUE, linestyle=":", linewidth=1, gid="delta_h_true",
               label="ΔH_true, unclipped")
    ser = sequence_series(run, e)
    if ser.linear is None:
        _note(ax, NO_GDOTV, y=0.7, clear=False)
        ax.xaxis.set_major_locator(NullLocator())
        ax.set_ylabel("ΔH (nats/token)")
        return fig
    thresholds, sums = stats.clip_sweep(ser.linear, ser.true, ser.linquad, base_quantile, steps)
    ok = thresholds > 0  # a zero threshold cannot sit on a log axis
    if not ok.any():
        _note(ax, "every |η·gdotv_i| threshold is 0", y=0.7, clear=False)
        return fig
    styles = {"true": ("true c_i", C_TRUE, "o"),
              "linear": ("linear", C_LINEAR, "s"),
              "linquad": ("lin+quad", C_LINQUAD, "^")}
    for name, values in sums.items():
        label, color, marker = styles[name]
        ax.plot(thresholds[ok], values[ok], marker=marker, markersize=3, linewidth=1,
                color=color, label=label, gid=name)
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ticks = _log_ticks(thresholds[ok])
    ax.set_xticks(ticks, [f"{t:.3g}" for t in ticks])
    ax.yaxis.set_major_locator(MaxNLocator(4))
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    ax.set_xlabel("clipping threshold t (quantile of |η·gdotv_i|)")
    ax.set_ylabel("Σ clip(x_i, ±t) (nats/token)")
    ax.legend(loc="best", fontsize=_FONT - 1, frameon=False, handlelength=1.5)
    return fig


def _log_ticks(x: np.ndarray) -> list[float]:
    """Ends of the sweep (3 significant digits): the sweep spans < 1 decade, so the default
    log ticks would leave the axis unlabelled."""
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        return [lo]
    return [lo, math.sqrt(lo * hi), hi]


def _q_axis(ax, quantiles: np.ndarray, ticks: bool = True) -> None:
    """x = 1 − q on a symlog scale, labelled with q: separates 0.990…1.0 and 0.90, 0.95."""
    ax.set_xscale("symlog", linthresh=1e-3, linscale=0.4)
    ax.set_xlim(-2e-4, max(0.1, 1 - float(min(quantiles))) * 1.15)
    ax.xaxis.set_minor_locator(NullLocator())
    if not ticks:
        ax.xaxis.set_major_locator(NullLocator())
        return
    lowest = float(min(quantiles))
    qs = [q for q in (1.0, 0.999, 0.99, 0.95, 0.9) if q >= lowest - 1e-12]
    if lowest < 0.9:
        qs.append(lowest)
    ax.set_xticks([1 - q for q in qs], [f"{q:g}" for q in qs])


def truncation_sweep(run: Run, eta: float, settings: Settings = Settings(),
                     keep_quantiles: Iterable[float] | None = None) -> Figure:
    """Truncation ratios vs keep-quantile q, S = {i : |η·gdotv_i| ≤ quantile_q(|η·gdotv|)}.

    Top: the judged ratio r = L_S/Δ_S of :func:`dhstats.stats.truncation` (checks.md,
    truncation_ratio); inconclusive quantiles (|Δ_S| < kσ_S) hollow, ``settings.ratio_bounds``
    shaded, judged quantiles (``settings.keep_quantiles``) dotted. Bottom, information only:
    the notebook's Σ_S η·gdotv_i / Σ_S c_i (:func:`dhstats.stats.truncation_summary`).
    Default q: ``stats.DEFAULT_SWEEP_QUANTILES`` plus ``settings.keep_quantiles``.
    """
    e = run.entry(eta)
    if keep_quantiles is None:
        keep_quantiles = tuple(stats.DEFAULT_SWEEP_QUANTILES) + tuple(settings.keep_quantiles)
    qs = np.array(sorted(set(float(q) for q in keep_quantiles), reverse=True))
    fig, axes = _figure(nrows=2, height=3.6, top=0.9, bottom=0.13, hspace=0.12, left=0.14)
    top, bottom = axes[0, 0], axes[1, 0]
    _q_axis(bottom, qs)
    _q_axis(top, qs, ticks=False)  # same x as the bottom panel; not shared: no tick copies
    _title(top, "Truncation sweep", run, e.eta)
    top.set_ylabel("L_S / Δ_S (judged)")
    bottom.set_ylabel("Σ_S lin / Σ_S c\n(notebook, info)")
    bottom.set_xlabel("keep-quantile q of |η·gdotv_i| (symlog in 1 − q)")
    if run.gdotv is None:
        _note(top, NO_GDOTV, clear=False)
        _note(bottom, NO_GDOTV, clear=False)
        top.yaxis.set_major_locator(NullLocator())
        bottom.yaxis.set_major_locator(NullLocator())
        return fig
    x = 1 - qs
    for q in settings.keep_quantiles:
        for ax in (top, bottom):
            ax.axvline(1 - q, color="0.6", linestyle=":", linewidth=0.8, gid="judged_quantile")

    ser = sequence_series(run, e)
    nb = np.array([_ratio(stats.truncation_summary(q, ser.linear, ser.true)) for q in qs])
    bottom.plot(x, nb, marker="o", markersize=3, linewidth=1, color="0.45", gid="notebook_ratio")
    bottom.axhline(1.0, color="0.6", linewidth=0.6)
    bottom.yaxis.set_major_locator(MaxNLocator(3))

    lo, hi = settings.ratio_bounds
    top.axhspan(lo, hi, color=C_BAND, alpha=0.15, linewidth=0, gid="ratio_bounds")
    if e.h_base is None:
        _note(top, NO_H_BASE, clear=False)
        top.set_ylim(0, 1.2 * hi)
        top.yaxis.set_major_locator(MaxNLocator(3))
        return fig
    cuts = [stats.truncation(e.eta, run.gdotv, e.normalized_weights, e.token_counts, e.h_new,
                             e.h_base, e.base_entropy, q, settings.sigma) for q in qs]
    r = np.array([c.ratio for c in cuts])
    sure = np.array([c.conclusive for c in cuts])
    top.plot(x, r, color=C_LINEAR, linewidth=0.8, gid="ratio")
    top.plot(x[sure], r[sure], linestyle="none", marker="o", markersize=4, color=C_LINEAR,
             gid="ratio_conclusive", label=f"|Δ_S| ≥ {settings.sigma:g}σ_S")
    top.plot(x[~sure], r[~sure], linestyle="none", marker="o", markersize=4, color=C_LINEAR,
             markerfacecolor="white", gid="ratio_inconclusive", label="inconclusive")
    finite = r[np.isfinite(r)]
    ylo = min(0.0, float(finite.min())) if finite.size else 0.0
    yhi = max(hi, float(finite.max())) if finite.size else hi
    pad = 0.08 * (yhi - ylo)
    top.set_ylim(ylo - pad, yhi + pad)
    top.yaxis.set_major_locator(MaxNLocator(3))
    if not finite.size:
        _note(top, "Δ_S = 0 at every q: no ratio", clear=False)
    top.legend(loc="upper left", fontsize=_FONT - 1, frameon=False,
               handlelength=1, ncols=2, borderaxespad=0.2)
    return fig


def _ratio(row: dict) -> float:
    t = row["delta_true_trunc"]
    return row["delta_linear_trunc"] / t if t != 0 else math.nan


def case_figures(run: Run, eta: float, settings: Settings = Settings()) -> dict[str, Figure]:
    """The figures of one failing case (ΔH vs η is per run: :func:`delta_h_vs_eta`)."""
    return {
        "contributions": contribution_histograms(run, eta),
        "error": error_histogram(run, eta),
        "clip_sweep": clip_sweep(run, eta),
        "truncation_sweep": truncation_sweep(run, eta, settings),
    }


# --------------------------------------------------------------------------- per run


def delta_h_vs_eta(run: Run, settings: Settings = Settings(),
                   highlight: float | Iterable[float] | None = None) -> Figure:
    """ΔH vs η (log x) from :func:`dhstats.series.eta_curve`: ΔH_true ± σ_true (error bars),
    ηG ± ησ_G (line and band), ηG_q + ½η²Q ± √((ησ_G)² + (½η²σ_Q)²) (line and band, with a
    quadratic block). ``highlight``: η value(s) to mark (the failing cases). nats per token.
    """
    pts = eta_curve(run, settings)
    eta = np.array([p.eta for p in pts])
    fig, axes = _figure(width=5.0, height=3.2, left=0.16, top=0.9)
    ax = axes[0, 0]
    _title(ax, "ΔH vs η", run)
    missing = []

    def band(values, sigmas, color, gid, label, sigma_label):
        """Line of a prediction, with its ±σ band when every σ exists; False if not."""
        y = np.array(values, dtype=float)
        has_sigma = all(s is not None for s in sigmas)
        ax.plot(eta, y, color=color, linewidth=1.2, marker=".", markersize=4, gid=gid,
                label=label + (f" ± {sigma_label}" if has_sigma else ""))
        if has_sigma:
            s = np.array(sigmas, dtype=float)
            ax.fill_between(eta, y - s, y + s, color=color, alpha=0.18, linewidth=0, gid=f"{gid}_band")
        return has_sigma

    if not band([p.delta_linear for p in pts], [p.sigma_linear for p in pts], C_LINEAR, "linear",
                "ηG", "ησ_G"):
        missing.append("σ_G")
    if run.quadratic is not None:
        if not band([p.delta_linquad for p in pts], [p.sigma_linquad for p in pts], C_LINQUAD,
                    "linquad", "ηG_q + ½η²Q", "σ"):
            missing.append("σ of lin+quad")
    else:
        missing.append("quadratic block")
    y_true = np.array([p.delta_true for p in pts])
    s_true = [p.sigma_true for p in pts]
    if all(s is not None and math.isfinite(s) for s in s_true):
        ax.errorbar(eta, y_true, yerr=np.array(s_true, dtype=float), fmt="o", markersize=4,
                    color=C_TRUE, capsize=2, linewidth=1, gid="true", label="ΔH_true ± σ_true")
    else:
        ax.plot(eta, y_true, "o", markersize=4, color=C_TRUE, gid="true", label="ΔH_true")
        missing.append("σ_true")
    if highlight is not None:
        marks = [highlight] if np.isscalar(highlight) else list(highlight)
        for h in marks:
            ax.axvline(float(h), color=C_HIGHLIGHT, linestyle="--", linewidth=0.9, gid="highlight")
    ax.axhline(0.0, color="0.6", linewidth=0.6)
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_locator(FixedLocator(eta))
    ax.set_xticklabels([f"{v:.3g}" for v in eta])
    ax.set_xlim(eta.min() / 1.4, eta.max() * 1.4)
    ax.yaxis.set_major_locator(MaxNLocator(5))
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    ax.set_xlabel("η (learning rate)")
    ax.set_ylabel("ΔH (nats/token)")
    ax.legend(loc="lower left" if y_true.mean() < 0 else "upper left", fontsize=_FONT - 1,
              frameon=False, handlelength=1.5)
    if missing:  # in the corner the legend leaves free, clear of the zero line
        falling = y_true.mean() < 0
        ax.text(0.99, 0.9 if falling else 0.1, "no " + ", no ".join(missing),
                transform=ax.transAxes, ha="right", va="top" if falling else "bottom",
                fontsize=_FONT - 1, color="0.3", gid=NOTE_GID)
    return fig


# --------------------------------------------------------------------------- rendering


def to_png(fig: Figure, dpi: int = 60) -> bytes:
    """Render ``fig`` with Agg to PNG bytes, then release its axes and their artists."""
    canvas = FigureCanvasAgg(fig)
    buf = io.BytesIO()
    canvas.print_figure(buf, format="png", dpi=dpi)
    for ax in list(fig.axes):  # cheaper than fig.clear() (which re-initialises each axes)
        fig.delaxes(ax)
    return buf.getvalue()

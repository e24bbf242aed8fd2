"""Figures of one (run, η): per-sequence views of a failing case.

Every number comes from :mod:`dhstats.stats.series` / :mod:`dhstats.stats.stats` / :mod:`dhstats.stats.psis`;
nothing is estimated here. A figure whose series is missing raises
:class:`~dhstats.figures.base.MissingData`.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from dhstats.stats import stats
from dhstats.stats import truncation as trunc
from dhstats.stats.psis import khat_threshold, pareto_khat
from dhstats.load.results import Run
from dhstats.stats.series import normalised_error, sequence_series
from dhstats.figures.base import (C_BAND, C_HIGHLIGHT, C_LINEAR, C_LINQUAD, C_TRUE, FONT, NO_GDOTV, MissingData,
                   fig_note, blank_figure, hist, log_ticks, note, power_label, title)


def _series(run: Run, eta: float):
    """The entry at ``eta`` and its per-sequence series; MissingData when they cannot exist."""
    e = run.entry(eta)
    if not math.isfinite(e.eta * e.eta):  # η² overflows (e.g. η = 1e308): no finite ΔH(η) term
        raise MissingData(f"η = {e.eta:.3g} is too large for finite per-sequence terms")
    if run.gdotv is None:
        raise MissingData(NO_GDOTV)
    return e, sequence_series(run, e)


def _why_true_missing(e) -> str:
    w = np.asarray(e.normalized_weights, dtype=float)
    if np.isfinite(w).all() and not (w > 0).any():
        return f"the normalized weights at η={e.eta:.3g} are all 0, so the true c_i are undefined"
    return f"the true c_i at η={e.eta:.3g} are not finite"


def error_histogram(run: Run, eta: float, bins: int = 60) -> Figure:
    """Histogram of |c_i − η·gdotv_i| / |ΔH_true| (the notebook's normalised per-sequence
    error; normalisation 1 when ΔH_true = 0). c_i = :func:`dhstats.stats.stats.notebook_contributions`
    is dominated by a zero-sum part: this shows how the measurement spreads over sequences."""
    e, ser = _series(run, eta)
    fig, axes = blank_figure(height=3.8)
    ax = axes[0, 0]
    title(ax, "Per-sequence error", run.file.key, e.eta)
    d = e.delta_h_true
    normalised = d != 0 and math.isfinite(d)
    err = normalised_error(ser.true, ser.linear, d)
    if not np.isfinite(err).any():
        raise MissingData(_why_true_missing(e))
    hist(ax, err, bins, C_LINEAR, "error")
    ax.set_xlabel("|c_i − η·gdotv_i| / |ΔH_true|" if normalised
                  else "|c_i − η·gdotv_i| (ΔH_true = 0: not normalised)")
    ax.set_ylabel("sequences")
    ax.set_xlim(left=0)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.yaxis.set_major_locator(MaxNLocator(4, integer=True))
    return fig


def contribution_histograms(run: Run, eta: float, bins: int = 60) -> Figure:
    """Histograms of the per-sequence terms (nats/token), one panel each: true c_i, linear
    η·gdotv_i and, with per-sequence vHv, lin+quad η·gdotv_i + ½η²·vhvv_i. Symmetric
    x-ranges ±1.05·max|x|: one shared by the two predictions, one for c_i (the notebook's
    split, dominated by a zero-sum part), the c_i panel titled "own x range"; every x axis
    labelled in one stated unit, nats/token ×10ⁿ (n from the widest range: the ticks of the
    panels compare as numbers, no per-panel offset such as "1e−4" hides the scale); one
    count axis. Panels without finite values are left out with a note."""
    e, ser = _series(run, eta)
    panels = [("true c_i", ser.true, C_TRUE, "true"), ("linear η·gdotv_i", ser.linear, C_LINEAR, "linear")]
    if ser.linquad is not None:
        panels.append(("lin+quad η·gdotv_i + ½η²·vhvv_i", ser.linquad, C_LINQUAD, "linquad"))
    left_out = []
    if not np.isfinite(ser.true).any():
        panels.pop(0)
        left_out.append("true c_i not drawn: " + _why_true_missing(e))
    if ser.linquad is None:
        left_out.append("lin+quad not drawn: " + ("no quadratic block in this run" if run.quadratic is None
                                                  else "no per-sequence vHv in this run"))
    panels = [p for p in panels if np.isfinite(p[1]).any()]
    if not panels:
        raise MissingData(f"no finite per-sequence term at η={e.eta:.3g}")
    fig, axes = blank_figure(ncols=len(panels), width=9.0, height=3.6, left=0.07, top=0.82,
                       bottom=0.15, wspace=0.08)
    def lim_of(values_list) -> float:
        m = max((float(np.max(np.abs(v[np.isfinite(v)]), initial=0.0)) for v in values_list), default=0.0)
        return 1.05 * (m or 1e-12)

    # The predictions (linear, lin+quad) share one x-range; c_i, another quantity, has its own.
    lim_pred = lim_of([v for _, v, _, g in panels if g != "true"])
    limits = {gid: lim_of([values]) if gid == "true" else lim_pred for _, values, _, gid in panels}
    power = math.floor(math.log10(max(limits.values())))
    unit = f"nats/token ×{power_label(10.0 ** power)}"
    own = "true" in limits and len(limits) > 1
    fig.suptitle(f"Per-sequence contributions ({unit}), {run.file.key}, η={e.eta:.3g}"
                 + ("; c_i on its own x range, the predictions on one" if own else ""), fontsize=FONT)
    in_unit = FuncFormatter(lambda x, pos=None: f"{x / 10.0 ** power:.3g}")
    top = 1
    for ax, (label, values, color, gid) in zip(axes[0], panels):
        lim = limits[gid]
        ax.set_title(label + (" (own x range)" if gid == "true" and own else ""), fontsize=FONT, y=1.0, pad=3)
        top = max(top, hist(ax, values, bins, color, gid, range_=(-lim, lim)).get_data().values.max())
        ax.axvline(0.0, color="0.2", linestyle="--", linewidth=0.8, gid="zero")
        ax.set_xlim(-lim, lim)
        ax.xaxis.set_major_locator(MaxNLocator(3, symmetric=True))
        ax.xaxis.set_major_formatter(in_unit)
        ax.set_xlabel(unit)
    for ax in axes[0]:
        ax.set_ylim(0, 1.05 * top)
        if ax is not axes[0, 0]:
            ax.yaxis.set_major_locator(NullLocator())
    axes[0, 0].set_ylabel("sequences")
    axes[0, 0].yaxis.set_major_locator(MaxNLocator(4, integer=True))
    if left_out:
        fig_note(fig, "; ".join(left_out))
    return fig


def clip_sweep(run: Run, eta: float, base_quantile: float = 0.999, steps: int = 10,
               clip_values: Sequence[float] = ()) -> Figure:
    """Clipped sums Σ clip(x_i, ±t) of the true, linear and lin+quad per-sequence terms vs
    t = quantile_{base^k}(|η·gdotv|), k = steps…0 (log x), from :func:`dhstats.stats.truncation.clip_sweep`;
    a dotted line marks the unclipped ΔH_true, dashed verticals the ``clip_values`` within a
    factor 2 of the sweep's range (the others are named in a note: they would squeeze it)."""
    e, ser = _series(run, eta)
    thresholds, sums = trunc.clip_sweep(ser.linear, ser.true, ser.linquad, base_quantile, steps)
    ok = (thresholds > 0) & np.isfinite(thresholds)  # a zero threshold cannot sit on a log axis
    if not ok.any():
        raise MissingData("every |η·gdotv_i| clipping threshold is 0")
    fig, axes = blank_figure(left=0.12)
    ax = axes[0, 0]
    title(ax, "Clip sweep", run.file.key, e.eta)
    ax.axhline(e.delta_h_true, color=C_TRUE, linestyle=":", linewidth=1, gid="delta_h_true",
               label="ΔH_true, unclipped")
    styles = {"true": ("true c_i", C_TRUE, "o"), "linear": ("linear η·gdotv_i", C_LINEAR, "s"),
              "linquad": ("lin+quad", C_LINQUAD, "^")}
    for name, values in sums.items():
        label, color, marker = styles[name]
        ax.plot(thresholds[ok], values[ok], marker=marker, markersize=4, linewidth=1.2,
                color=color, label=label, gid=name)
    xs = list(thresholds[ok])
    t_lo, t_hi = min(xs), max(xs)
    far = []
    for c in clip_values:  # marked when near the sweep; named in a note when far from it
        if t_lo / 2 <= c <= t_hi * 2:
            ax.axvline(c, color=C_HIGHLIGHT, linestyle="--", linewidth=0.9, gid="clip_value")
            xs.append(c)
        else:
            far.append(c)
    if far:
        note(ax, "clip value(s) outside the sweep: " + ", ".join(f"{c:.3g}" for c in far))
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ticks = log_ticks(np.array(xs))
    ax.set_xticks(ticks, [f"{t:.3g}" for t in ticks])
    lo, hi = min(xs), max(xs)
    ax.set_xlim(lo / 1.15, hi * 1.15)
    ax.yaxis.set_major_locator(MaxNLocator(5))
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    ax.set_xlabel(f"clipping threshold t (quantiles {base_quantile:g}^k of |η·gdotv_i|, k = {steps}…0)")
    ax.set_ylabel("Σ clip(x_i, ±t) (nats/token)")
    ax.legend(loc="best", fontsize=FONT - 1, frameon=False, handlelength=1.5)
    return fig


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


def truncation_sweep(run: Run, eta: float, settings=None,
                     keep_quantiles: Iterable[float] | None = None) -> Figure:
    """Truncation ratios vs keep-quantile q, S = {i : |η·gdotv_i| ≤ quantile_q(|η·gdotv|)}.

    Top (with h_base): the judged ratio r = L_S/Δ_S of :func:`dhstats.stats.truncation.truncation`
    (checks.md); at the judged quantiles ±k·SE bars, and a red ✕ where the check fails
    (outside the bounds beyond the error, ``Truncation.outside``); inconclusive quantiles
    (|Δ_S| < kσ_S) hollow,
    ``settings.ratio_bounds`` shaded, judged quantiles dotted. Bottom, information only: the notebook's
    Σ_S η·gdotv_i / Σ_S c_i. Both panels share one x range. Default q:
    ``trunc.DEFAULT_SWEEP_QUANTILES`` plus ``settings.keep_quantiles``.
    """
    from dhstats.load.settings import Settings

    settings = Settings() if settings is None else settings
    e, ser = _series(run, eta)
    if keep_quantiles is None:
        keep_quantiles = tuple(trunc.DEFAULT_SWEEP_QUANTILES) + tuple(settings.keep_quantiles)
    qs = np.array(sorted({float(q) for q in keep_quantiles if 0 < q <= 1}, reverse=True))
    if qs.size == 0:
        raise MissingData("no keep-quantile in (0, 1]")
    judged = e.h_base is not None
    fig, axes = blank_figure(nrows=2 if judged else 1, height=5.2 if judged else 3.4, top=0.92 if judged else 0.88,
                       bottom=0.1 if judged else 0.16, hspace=0.12, left=0.11)
    bottom = axes[-1, 0]
    x = 1 - qs
    nb = np.array([_nb_ratio(trunc.truncation_summary(q, ser.linear, ser.true)) for q in qs])
    _q_axis(bottom, qs)
    bottom.plot(x, nb, marker="o", markersize=4, linewidth=1, color="0.45", gid="notebook_ratio")
    bottom.axhline(1.0, color="0.6", linewidth=0.6)
    bottom.yaxis.set_major_locator(MaxNLocator(4))
    bottom.set_ylabel("Σ_S lin / Σ_S c\n(notebook, info)")
    bottom.set_xlabel("keep-quantile q of |η·gdotv_i| (symlog in 1 − q)")
    for q in settings.keep_quantiles:
        for ax in axes[:, 0]:
            ax.axvline(1 - q, color="0.6", linestyle=":", linewidth=0.8, gid="judged_quantile")
    if not judged:
        title(bottom, "Truncation sweep", run.file.key, e.eta)
        note(bottom, "no h_base in this entry: the judged ratio L_S/Δ_S is not computable", y=0.97, va="top")
        return fig
    top = axes[0, 0]
    _q_axis(top, qs, ticks=False)
    title(top, "Truncation sweep", run.file.key, e.eta)
    top.set_ylabel("L_S / Δ_S (judged)")
    lo, hi = settings.ratio_bounds
    top.axhspan(lo, hi, color=C_BAND, alpha=0.15, linewidth=0, gid="ratio_bounds")
    cuts = [trunc.truncation(e.eta, run.gdotv, e.normalized_weights, e.token_counts, e.h_new,
                             e.h_base, e.base_entropy, q, settings.k) for q in qs]
    r = np.array([c.ratio for c in cuts], dtype=float)
    sure = np.array([c.conclusive for c in cuts], dtype=bool)
    top.plot(x, r, color=C_LINEAR, linewidth=0.8, gid="ratio")
    top.plot(x[sure], r[sure], linestyle="none", marker="o", markersize=5, color=C_LINEAR,
             gid="ratio_conclusive", label=f"|Δ_S| ≥ {settings.k:g}σ_S")
    top.plot(x[~sure], r[~sure], linestyle="none", marker="o", markersize=5, color=C_LINEAR,
             markerfacecolor="white", gid="ratio_inconclusive", label="inconclusive")
    # ±k·SE of r where judged (delta method, cov ignored as in the check), and the quantiles
    # the check fails: outside the bounds by more than their sampling error (Truncation.outside).
    se = np.array([_ratio_se(c) for c in cuts])
    judged_q = np.array([any(abs(q - j) <= 1e-12 for j in settings.keep_quantiles) for q in qs], dtype=bool)
    bars = judged_q & sure & np.isfinite(r) & np.isfinite(se)
    if bars.any():
        top.errorbar(x[bars], r[bars], yerr=settings.k * se[bars], fmt="none", ecolor=C_LINEAR,
                     elinewidth=0.9, capsize=2, alpha=0.7)[2][0].set_gid("ratio_error")
    out = judged_q & np.array([c.conclusive and c.outside(settings.ratio_bounds, settings.k) for c in cuts],
                              dtype=bool)
    if out.any():
        top.plot(x[out], r[out], linestyle="none", marker="X", markersize=8, color=C_HIGHLIGHT,
                 gid="ratio_outside", label="fails")
    fin = r[np.isfinite(r)]
    ylo = min(0.0, float(fin.min())) if fin.size else 0.0
    yhi = max(hi, float(fin.max())) if fin.size else hi
    pad = 0.08 * (yhi - ylo)
    top.set_ylim(ylo - pad, yhi + pad)
    top.yaxis.set_major_locator(MaxNLocator(4))
    if not fin.size:
        note(top, "Δ_S = 0 at every q: no ratio")
    top.legend(loc="best", fontsize=FONT - 1, frameon=False, handlelength=1, ncols=3, borderaxespad=0.2)
    return fig


def _ratio_se(c) -> float:
    """SE of r = L_S/Δ_S: :func:`dhstats.stats.stats.pooled_ratio` of one run with cov 0."""
    try:
        return float(stats.pooled_ratio([c.linear], [c.true], [c.sigma_linear], [c.sigma], [0.0])[1])
    except (OverflowError, ZeroDivisionError, ValueError):
        return math.nan


def _nb_ratio(row: dict) -> float:
    t = row["delta_true_trunc"]
    return row["delta_linear_trunc"] / t if t != 0 else math.nan


def weights(run: Run, eta: float, settings=None) -> Figure:
    """SNIS weights of one η: histogram of log10 w̃_i (positive w̃ only) and the sorted w̃
    (log y) against rank, annotated with Kish's ESS = 1/Σw̃² (:func:`dhstats.stats.stats.kish_ess`)
    and the Pareto k̂ of log w̃ (:func:`dhstats.stats.psis.pareto_khat`, as snis_reliability) with
    its threshold (``settings.khat_max`` or min(1 − 1/log10 n, 0.7)), and Σw̃ (snis_weights
    asserts 1). Zero, negative and non-finite weights are counted in the text, not drawn."""
    e = run.entry(eta)
    w = np.asarray(e.normalized_weights, dtype=float)
    pos = w[np.isfinite(w) & (w > 0)]
    n = w.size
    bad = n - pos.size
    if pos.size == 0:
        raise MissingData(f"no positive finite normalized weight at η={e.eta:.3g} ({n} zero, negative or not finite)")
    ess = stats.kish_ess(pos)
    with np.errstate(divide="ignore"):
        fit = pareto_khat(np.log(np.clip(np.where(np.isfinite(w), w, 0.0), 0.0, None)))
    kmax = getattr(settings, "khat_max", None) or khat_threshold(n)
    k_text = f"Pareto k̂ = {fit.khat:.2f} (max {kmax:.2f})" if fit.khat is not None else f"k̂ not estimable: {fit.reason}"
    total = float(np.sum(w[np.isfinite(w)]))
    summary = f"Σw̃ = {total:.6g}; ESS = {ess:.1f} of n = {n} ({ess / n:.1%}); {k_text}"
    if bad:
        summary += f"; {bad} weight(s) zero, negative or not finite (not drawn)"
    fig, axes = blank_figure(ncols=2, width=9.0, height=3.8, left=0.08, wspace=0.3, top=0.8)
    fig.suptitle(f"SNIS weights, {run.file.key}, η={e.eta:.3g}", fontsize=FONT, y=0.98)
    heavy = fit.khat is not None and fit.khat > kmax
    fig.text(0.5, 0.89, summary, ha="center", va="center", fontsize=FONT - 1,
             color=C_HIGHLIGHT if heavy else "0.15", gid="weights_summary")
    left, right = axes[0]
    hist(left, np.log10(pos), 50, C_LINEAR, "log_weights")
    left.axvline(math.log10(1 / n), color="0.3", linestyle="--", linewidth=0.8, gid="uniform")
    left.set_xlabel("log10 w̃_i (dashed: uniform 1/n)")
    left.set_ylabel("sequences")
    left.yaxis.set_major_locator(MaxNLocator(4, integer=True))
    srt = np.sort(pos)[::-1]
    right.plot(np.arange(1, srt.size + 1), srt, color=C_LINEAR, linewidth=1.2, gid="sorted_weights")
    right.axhline(1 / n, color="0.3", linestyle="--", linewidth=0.8)
    right.set_xscale("log")
    right.xaxis.set_minor_locator(NullLocator())  # minor log ticks cost most of the drawing time
    if srt[0] > 10 * srt[-1]:
        right.set_yscale("log")
        right.yaxis.set_minor_locator(NullLocator())
    else:
        right.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        right.yaxis.set_major_locator(MaxNLocator(4))
    right.set_xlabel("rank (largest first)")
    right.set_ylabel("w̃ (sorted)")
    return fig

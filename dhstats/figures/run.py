"""Figures of one run across its η: ΔH vs η, ratio vs η, reported vs measured σ.

Numbers: :func:`dhstats.stats.series.eta_curve` (ΔH_true, the predictions and the σ's of
:func:`dhstats.stats.sigmas.run_sigmas`: paired covariance of prediction and truth when the run has
per-sequence gdotv and h_base); a ratio's SE is :func:`dhstats.stats.stats.pooled_ratio` over one run. η values whose ΔH cannot be represented
(e.g. η = 1e308: η² overflows) are left out with a note instead of ending the figure.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullLocator

from dhstats.stats import stats
from dhstats.load.results import Run
from dhstats.stats.series import eta_curve
from dhstats.figures.base import (C_BAND, C_HIGHLIGHT, C_LINEAR, C_LINQUAD, C_TRUE, FONT, MissingData, blank_figure,
                   finite, log_eta_axis, note, title)


@dataclasses.dataclass(frozen=True)
class EtaRow:
    """ΔH at one η with the σ's the figures need (nats/token; None: not available).

    ``s_pred_*``: σ of a prediction alone (bands); ``s_true``: σ_true (error bars);
    ``cov_*``: cov(prediction, ΔH_true) (:meth:`dhstats.stats.sigmas.Sigmas.cov`; 0 for the
    independent form); ``source``: σ_lin's source, "paired" | "independent"."""

    eta: float
    true: float
    linear: float
    linquad: float | None
    s_true: float | None
    s_pred_lin: float | None
    s_pred_lq: float | None
    s_diff_lin: float | None
    s_diff_lq: float | None
    cov_lin: float | None
    cov_lq: float | None
    source: str


def _plottable(run: Run) -> tuple[Run, list[float]]:
    """The run restricted to the η whose ΔH(η) terms are finite floats (η·G, η², ΔH_true);
    the left-out η are returned for the note."""
    keep, dropped = [], []
    for e in run.entries:
        ok = all(math.isfinite(v) for v in (e.eta, e.eta * e.eta, e.eta * run.delta_h_per_lr, e.delta_h_true))
        (keep if ok else dropped).append(e if ok else e.eta)
    if not keep:
        raise MissingData("no η with finite ΔH values in this run: η = " + ", ".join(f"{x:.3g}" for x in dropped))
    return (run if not dropped else dataclasses.replace(run, entries=tuple(keep))), dropped


def _none(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _sig(s) -> float | None:
    return None if s is None else _none(s.value)


def eta_rows(run: Run, settings=None) -> tuple[list[EtaRow], list[float]]:
    """One :class:`EtaRow` per plottable η (ascending) from :func:`dhstats.stats.series.eta_curve`
    (σ's of :func:`dhstats.stats.sigmas.run_sigmas` under ``settings.reported_se``), and the η
    left out."""
    from dhstats.load.settings import Settings

    settings = Settings() if settings is None else settings
    run, dropped = _plottable(run)
    rows = []
    for p in eta_curve(run, settings):
        s = p.sigmas
        rows.append(EtaRow(
            eta=p.eta, true=p.delta_true, linear=p.delta_linear, linquad=p.delta_linquad,
            s_true=_sig(s.true), s_pred_lin=_none(s.prediction_linear), s_pred_lq=_none(s.prediction_linquad),
            s_diff_lin=_sig(s.linear), s_diff_lq=_sig(s.linquad), cov_lin=_none(s.cov("linear")), cov_lq=_none(s.cov("linquad")),
            source=s.linear.source if s.linear is not None else "independent"))
    return rows, dropped


def _dropped_note(ax, dropped: list[float]) -> None:
    if dropped:
        note(ax, "left out (ΔH not finite): η = " + ", ".join(f"{x:.3g}" for x in dropped),
             x=0.01, ha="left", y=0.01)


def _highlight(ax, highlight) -> None:
    if highlight is None:
        return
    for h in ([highlight] if np.isscalar(highlight) else list(highlight)):
        if h is not None and math.isfinite(float(h)) and float(h) > 0:
            ax.axvline(float(h), color=C_HIGHLIGHT, linestyle="--", linewidth=0.9, gid="highlight")


def delta_h_vs_eta(run: Run, settings=None, highlight: float | Iterable[float] | None = None) -> Figure:
    """ΔH vs η (log x): ΔH_true ± σ_true (error bars), ηG and ηG_q + ½η²Q with bands ± the
    σ of each prediction alone (nats/token); below, on the same x, each prediction's z with
    the ±k band (``settings.k``). ``highlight``: η to mark (the failing cases)."""
    from dhstats.load.settings import Settings

    settings = Settings() if settings is None else settings
    rows, dropped = eta_rows(run, settings)
    eta = np.array([r.eta for r in rows])
    fig, axes = blank_figure(nrows=2, height=5.6, height_ratios=(2.2, 1), left=0.11, top=0.93, bottom=0.09,
                       hspace=0.08)
    ax, zax = axes[0, 0], axes[1, 0]
    title(ax, "ΔH vs η", run.file.key)
    missing = []

    def line(values, sigmas, color, gid, label):
        y = np.array(values, dtype=float)
        ok = all(s is not None and s >= 0 for s in sigmas)  # a negative σ is not drawn as a band
        ax.plot(eta, y, color=color, linewidth=1.4, marker=".", markersize=6, gid=gid,
                label=label + (" ± σ" if ok else ""))
        if ok:
            s = np.array(sigmas, dtype=float)
            ax.fill_between(eta, y - s, y + s, color=color, alpha=0.18, linewidth=0, gid=f"{gid}_band")
        return ok

    if not line([r.linear for r in rows], [r.s_pred_lin for r in rows], C_LINEAR, "linear", "ηG"):
        missing.append("σ_G")
    if run.quadratic is not None and all(r.linquad is not None for r in rows):
        if not line([r.linquad for r in rows], [r.s_pred_lq for r in rows], C_LINQUAD, "linquad", "ηG_q + ½η²Q"):
            missing.append("σ of lin+quad")
    else:
        missing.append("quadratic block")
    y_true = np.array([r.true for r in rows])
    s_true = [r.s_true for r in rows]
    if all(s is not None and s >= 0 for s in s_true):
        ax.errorbar(eta, y_true, yerr=np.array(s_true, dtype=float), fmt="o", markersize=5, color=C_TRUE,
                    capsize=3, linewidth=1.2, gid="true", label="ΔH_true ± σ_true")
    else:
        ax.plot(eta, y_true, "o", markersize=5, color=C_TRUE, gid="true", label="ΔH_true")
        missing.append("σ_true")
    _highlight(ax, highlight)
    ax.axhline(0.0, color="0.6", linewidth=0.6)
    log_eta_axis(ax, eta)
    ax.tick_params(labelbottom=False)
    ax.set_xlabel("")
    ax.yaxis.set_major_locator(MaxNLocator(6))
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    ax.set_ylabel("ΔH (nats/token)")
    falling = float(np.nanmean(y_true)) < 0 if np.isfinite(y_true).any() else True
    ax.legend(loc="lower left" if falling else "upper left", fontsize=FONT - 1, frameon=False, handlelength=1.5)
    if missing:
        note(ax, "no " + ", no ".join(missing), y=0.97 if falling else 0.03, va="top" if falling else "bottom")
    _dropped_note(ax, dropped)
    _z_panel(zax, rows, settings.k, highlight)
    return fig


def _z_panel(ax, rows: list[EtaRow], k: float, highlight) -> None:
    """z = (prediction − ΔH_true)/σ of the difference per η (the agreement checks' z,
    :func:`dhstats.stats.stats.agreement_z`) with the ±k band: where a case fails, at a glance."""
    eta = np.array([r.eta for r in rows])
    ax.axhspan(-k, k, color=C_BAND, alpha=0.15, linewidth=0, gid="k_band")
    ax.axhline(0.0, color="0.6", linewidth=0.6)
    drawn = []
    for attr, s_attr, color, gid, label in (("linear", "s_diff_lin", C_LINEAR, "z_linear", "linear"),
                                            ("linquad", "s_diff_lq", C_LINQUAD, "z_linquad", "lin+quad")):
        z = np.array([stats.agreement_z(getattr(r, attr), r.true, getattr(r, s_attr))
                      if getattr(r, attr) is not None and getattr(r, s_attr) is not None else math.nan
                      for r in rows], dtype=float)
        ok = np.isfinite(z)
        if ok.any():
            ax.plot(eta[ok], z[ok], color=color, marker="o", markersize=5, linewidth=1.2, gid=gid, label=label)
            drawn.append(z[ok])
    _highlight(ax, highlight)
    log_eta_axis(ax, eta)
    ax.set_ylabel(f"z (±{k:g} passes)")
    top = max([k * 1.3] + [float(np.abs(z).max()) * 1.1 for z in drawn])
    if top > 10 * k:  # far outside: symlog keeps the ±k band visible
        ax.set_yscale("symlog", linthresh=k, linscale=0.6)
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_ylim(-top, top)
        ticks = [t for t in (-1e4, -1e3, -1e2, -10 * k, -k, 0.0, k, 10 * k, 1e2, 1e3, 1e4) if abs(t) <= top]
        ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    else:
        ax.set_ylim(-top, top)
        ax.yaxis.set_major_locator(MaxNLocator(5, symmetric=True))
    if drawn:
        ax.legend(loc="upper left", fontsize=FONT - 2, frameon=False, ncols=2, handlelength=1.2)
    else:
        note(ax, "no z: σ of the difference not available", y=0.5, va="center")


def _ratio_and_se(a: float, b: float, s_a, s_b, cov) -> tuple[float, float | None]:
    """a/b and its SE: :func:`dhstats.stats.stats.pooled_ratio` over one run,
    SE = √(σ_a² + r²σ_b² − 2r·cov(a, b)) / |b|."""
    if s_a is None or s_b is None or cov is None:
        return (a / b if b != 0 else math.nan), None
    try:
        r, se = stats.pooled_ratio([a], [b], [s_a], [s_b], [cov])
    except (OverflowError, ZeroDivisionError):  # ΔH_true ≈ 0: r² overflows; no SE to draw
        return (a / b if b != 0 else math.nan), None
    return float(r), _none(se)


RATIO_MAX = 1e6  # a prediction/ΔH_true beyond this (ΔH_true ≈ 0) is named in a note, not drawn


def ratio_vs_eta(run: Run, settings=None, highlight: float | Iterable[float] | None = None) -> Figure:
    """ηG/ΔH_true and (ηG_q + ½η²Q)/ΔH_true vs η (log x) with ± ratio_se bands, ratio_se =
    σ(prediction − r·ΔH_true)/|ΔH_true| with the paired covariance when available (the
    notebook's linear_over_true, with its error). A dashed line marks 1; η with ΔH_true = 0
    are left out."""
    rows, dropped = eta_rows(run, settings)
    fig, axes = blank_figure(left=0.1, right=0.7, top=0.9)
    ax = axes[0, 0]
    title(ax, "Prediction / ΔH_true vs η", run.file.key)
    drawn, far = 0, []
    series = [("linear", "ηG / ΔH_true", C_LINEAR, "linear", "s_pred_lin", "cov_lin"),
              ("linquad", "(ηG_q + ½η²Q) / ΔH_true", C_LINQUAD, "linquad", "s_pred_lq", "cov_lq")]
    for attr, label, color, gid, s_pred, cov in series:
        pts = [(r.eta, *_ratio_and_se(getattr(r, attr), r.true, getattr(r, s_pred), r.s_true, getattr(r, cov)))
               for r in rows if getattr(r, attr) is not None and r.true != 0]
        if not pts:
            continue
        x = np.array([p[0] for p in pts])
        y = np.array([p[1] for p in pts], dtype=float)
        ok = finite(y) & (np.abs(y) <= RATIO_MAX)
        far.extend(float(v) for v in x[~ok])
        if not ok.any():
            continue
        ax.plot(x[ok], y[ok], color=color, marker="o", markersize=5, linewidth=1.4, gid=gid, label=label)
        se = np.array([np.nan if p[2] is None else p[2] for p in pts], dtype=float)
        band = ok & finite(se) & (se >= 0) & (se <= RATIO_MAX)
        if band.any():
            ax.fill_between(x[band], y[band] - se[band], y[band] + se[band], color=color, alpha=0.18,
                            linewidth=0, gid=f"{gid}_band")
        drawn += 1
    if not drawn:
        raise MissingData(f"ΔH_true is 0 or the ratio is not finite (or beyond ±{RATIO_MAX:g}) at every η")
    if far:
        note(ax, f"left out (ratio not finite or beyond ±{RATIO_MAX:g}): η = "
             + ", ".join(f"{v:.3g}" for v in sorted(set(far))), y=0.97, va="top")
    ax.axhline(1.0, color=C_BAND, linestyle="--", linewidth=1, gid="one", label="ratio = 1 (agreement)")
    _highlight(ax, highlight)
    log_eta_axis(ax, np.array([r.eta for r in rows]))
    ax.yaxis.set_major_locator(MaxNLocator(6))
    ax.set_ylabel("prediction / ΔH_true")
    src = rows[0].source if rows else "independent"
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=FONT - 1, frameon=False, handlelength=1.5,
              title=f"bands: ±1 SE ({src} σ)", title_fontsize=FONT - 1)
    _dropped_note(ax, dropped)
    return fig


def sigma_comparison(run: Run, settings=None) -> Figure:
    """Reported vs measured σ of G and Q (log y): the producer's se_shard (se_vHvv) as
    reported and ×num_shards (the shard-mean convention), beside the measured
    se_sum of the centred per-sequence terms (:func:`dhstats.stats.stats.sigma_from`). The green
    band is the measured σ × ``settings.se_ratio_bounds``: a reported σ outside it fails
    se_consistency."""
    from dhstats.load.settings import Settings

    settings = Settings() if settings is None else settings
    T = run.length if run.length is not None else run.entries[0].token_counts
    groups = []
    meas_g = stats.sigma_from(run.gdotv, None, None, "total", T=T, total=run.delta_h_per_lr)
    groups.append(("σ_G", run.se_shard, run.num_shards, meas_g))
    q = run.quadratic
    if q is not None:
        meas_q = stats.sigma_from(q.per_sequence_vhvv, None, None, "total", T=T, total=q.vhvv)
        groups.append(("σ_Q", q.se_vhvv, q.num_shards or run.num_shards, meas_q))
    groups = [g for g in groups if _none(g[1]) is not None or (g[3] is not None and _none(g[3].value))]
    if not groups:
        raise MissingData("no reported SE and no per-sequence data in this run")
    fig, axes = blank_figure(ncols=len(groups), width=8.0 if len(groups) == 2 else 7.5, height=4.1,
                       wspace=0.3, left=0.1, top=0.85, bottom=0.27)
    fig.suptitle(f"Reported vs measured σ, {run.file.key} (convention used: {settings.reported_se}); "
                 "each panel its own y scale", fontsize=FONT)
    lo, hi = settings.se_ratio_bounds
    for ax, (name, reported, shards, measured) in zip(axes[0], groups):
        labels, values, colors = [], [], []
        if _none(reported) is not None:
            labels.append("reported")
            values.append(reported)
            colors.append("0.6")
            if shards:
                labels.append(f"×{shards} shards")
                values.append(reported * shards)
                colors.append("0.35")
        m = None if measured is None else _none(measured.value)
        if m is not None:
            labels.append("measured")
            values.append(m)
            colors.append(C_LINEAR)
            ax.axhspan(m * lo, m * hi, color=C_BAND, alpha=0.15, linewidth=0, gid="se_bounds",
                       label=f"accepted: {lo:.3g}–{hi:.3g} × measured")
        v = np.array(values, dtype=float)
        pos = (v > 1e-300) & (v < 1e300)  # a bar needs a drawable height on a log axis (not 0, inf, NaN)
        ax.bar(np.arange(v.size)[pos], v[pos], color=np.array(colors)[pos], width=0.6, gid=f"bars_{name}")
        ax.set_xticks(np.arange(v.size), [lab if ok else f"{lab}\n(out of range)" for lab, ok in zip(labels, pos)])
        if pos.any():
            ax.set_yscale("log")
            ax.yaxis.set_minor_locator(NullLocator())  # minor log ticks cost most of the drawing time
            lo_v, hi_v = float(v[pos].min()), float(v[pos].max())
            ax.set_ylim(lo_v / 3, hi_v * 4)  # room for the labels
        ax.set_title(f"{name} (own scale)", fontsize=FONT, y=1.0, pad=3)  # y given: no re-measuring of the ticks
        if m is not None:
            for i, x in enumerate(v):
                if labels[i] != "measured" and pos[i]:
                    ax.text(i, x, f"{x / m:.3g}×", ha="center", va="bottom", fontsize=FONT - 1)
        else:
            note(ax, "no per-sequence data:\nmeasured σ not available", y=0.97, va="top")
    axes[0, 0].set_ylabel("SE of the total")
    bands = [a for ax in axes[0] for a in ax.patches if a.get_gid() == "se_bounds"][:1]
    if bands:  # one legend for the panels, below them: never over a bar
        fig.legend(bands, [bands[0].get_label()], loc="lower center", bbox_to_anchor=(0.5, 0.0),
                   fontsize=FONT - 2, frameon=False, handlelength=1)
    return fig

"""Figures of the gate's reports and of ``dhstats plot`` (the only package drawing with matplotlib).

Re-implements the seed notebook's plots, correctly, plus the gate's own views, on top of
:mod:`dhstats.series`, :mod:`dhstats.sigmas` and :mod:`dhstats.stats` (no statistic is
estimated here). Figures use the object-oriented API (``matplotlib.figure.Figure``, never
pyplot) and are rendered with Agg by :func:`to_png`.

Names are those of ``registry.CHECKS[*].figures``:

* per (run, η): ``contributions``, ``errors``, ``clip_sweep``, ``truncation_sweep``, ``weights``;
* per run (η, when given, is highlighted): ``delta_h_vs_eta``, ``ratio_vs_eta``, ``sigma_comparison``;
* from health.json records: ``pooled_ratio`` (cases of one run set), ``sigma_vs_e`` and
  ``ratio_vs_e`` (the health dict), ``trend`` (history lines), ``baseline_ratio`` (the health
  dict of a session with ``--baseline``).

:func:`figure` builds a run figure by name; :func:`render` builds and renders any figure and
never raises: missing data or a failure becomes a :class:`dhstats.rendered.Figure` with a one-line note
("no per-sequence gdotv in this run …: contributions not drawn"), never an empty figure.
Artists that carry data have a ``gid`` (e.g. ``"linear"``, ``"ratio"``) for tests and callers.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from matplotlib.figure import Figure

from ..rendered import CASE_FIGURES, RUN_FIGURES, SET_FIGURES
from ..rendered import Figure as Rendered
from ..results import Run
from .base import DPI, NOTE_GID, MissingData, to_png
from .case import clip_sweep, contribution_histograms, error_histogram, truncation_sweep, weights
from .run import delta_h_vs_eta, eta_rows, ratio_vs_eta, sigma_comparison
from .equivalence import pooled_interval
from .sets import pooled_ratio, ratio_vs_e, sigma_vs_e, trend
from .baseline import baseline_ratio

__all__ = [
    "CASE_FIGURES", "RUN_FIGURES", "SET_FIGURES", "CAPTIONS", "DPI", "NOTE_GID", "MissingData",
    "figure", "render", "render_run", "caption", "to_png", "case_figures",
    "error_histogram", "contribution_histograms", "clip_sweep", "truncation_sweep", "weights",
    "delta_h_vs_eta", "ratio_vs_eta", "sigma_comparison", "eta_rows",
    "pooled_ratio", "pooled_interval", "sigma_vs_e", "ratio_vs_e", "trend", "baseline_ratio",
]


# Captions in words (what the figure shows), and the short name used in notes.
CAPTIONS: dict[str, tuple[str, str]] = {
    "delta_h_vs_eta": ("ΔH vs η: predictions ± their σ, ΔH_true ± σ_true", "ΔH vs η"),
    "ratio_vs_eta": ("Prediction / ΔH_true vs η, ±1 SE", "ratio vs η"),
    "contributions": ("Per-sequence contributions: true, linear, lin+quad", "contributions"),
    "errors": ("Per-sequence error |c_i − η·gdotv_i| / |ΔH_true|", "per-sequence error"),
    "clip_sweep": ("Clip sweep: clipped sums vs threshold", "clip sweep"),
    "truncation_sweep": ("Truncation sweep: ratio L_S/Δ_S vs keep-quantile", "truncation sweep"),
    "weights": ("SNIS weights: distribution, ESS and Pareto k̂", "weights"),
    "sigma_comparison": ("Reported vs measured σ of G and Q", "σ comparison"),
    "pooled_ratio": ("Prediction / ΔH_true per run and pooled", "pooled ratio"),
    "pooled_interval": ("Pooled prediction / ΔH_true with its 1 − 2α interval", "pooled interval"),
    "sigma_vs_e": ("σ vs batch size E, with the 1/√E line", "σ vs E"),
    "ratio_vs_e": ("Pooled prediction / ΔH_true vs batch size E", "pooled ratio vs E"),
    "trend": ("Estimator health over recent gate sessions", "trend"),
    "baseline_ratio": ("Pooled prediction / ΔH_true vs η against the baseline (and the tolerance band)",
                       "ratio against the baseline"),
}


def caption(name: str, where: str | None = None) -> str:
    """``"Clip sweep: clipped sums vs threshold — E_256/run_01, η=3.2e-06"``."""
    words = CAPTIONS[name][0] if name in CAPTIONS else name
    return f"{words} — {where}" if where else words


def _where(run: Run | None, eta: float | None) -> str | None:
    if run is None:
        return None
    return str(run.file.key) if eta is None else f"{run.file.key}, η={eta:.3g}"


def figure(name: str, run: Run, eta: float | None = None, settings=None, **options) -> Figure:
    """The run figure ``name`` of ``run`` (at ``eta`` for per-(run, η) figures; highlighted
    in per-run figures). ``options``: ``bins`` (contributions, errors), ``base_quantile``,
    ``steps``, ``clip_values`` (clip_sweep), ``keep_quantiles`` (truncation_sweep grid),
    ``highlight`` (η values to mark in delta_h_vs_eta / ratio_vs_eta instead of ``eta``).
    Raises :class:`MissingData` when the run lacks the data, KeyError for an unknown name."""
    if name in CASE_FIGURES and eta is None:
        raise ValueError(f"figure {name!r} is per (run, η): give eta")
    if name == "contributions":
        return contribution_histograms(run, eta, **_pick(options, "bins"))
    if name == "errors":
        return error_histogram(run, eta, **_pick(options, "bins"))
    if name == "clip_sweep":
        return clip_sweep(run, eta, **_pick(options, "base_quantile", "steps", "clip_values"))
    if name == "truncation_sweep":
        return truncation_sweep(run, eta, settings, **_pick(options, "keep_quantiles"))
    if name == "weights":
        return weights(run, eta, settings)
    if name == "delta_h_vs_eta":
        return delta_h_vs_eta(run, settings, highlight=options.get("highlight", eta))
    if name == "ratio_vs_eta":
        return ratio_vs_eta(run, settings, highlight=options.get("highlight", eta))
    if name == "sigma_comparison":
        return sigma_comparison(run, settings)
    raise KeyError(f"{name!r} is not a run figure (one of {', '.join(CASE_FIGURES + RUN_FIGURES)})")


def _pick(options: dict, *keys: str) -> dict:
    return {k: options[k] for k in keys if options.get(k) is not None}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def render(name: str, *args, dpi: int = DPI, where: str | None = None, **kwargs):
    """Build figure ``name`` and render it: a :class:`dhstats.rendered.Figure` with its caption
    and PNG bytes, or with a note instead when it cannot be drawn. Never raises (any exception becomes the note).

    Run figures: ``render(name, run, eta=None, settings=None, **options)`` (see :func:`figure`).
    Set figures: ``render("pooled_ratio", cases)``, ``render("sigma_vs_e", health)``,
    ``render("ratio_vs_e", health)``, ``render("trend", lines, k=3.0)``. ``where`` names
    the run set for captions of set figures (run figures name their run and η)."""
    words = CAPTIONS.get(name, (name, name))[1]
    cap = caption(name, where)
    if name == "pooled_interval" and (delta := _tolerance_of(args[0] if args else ())) is not None:
        cap = caption(name, None) + f" against the tolerance band 1 ± {delta:g}" + (f" — {where}" if where else "")
    try:
        if name in SET_FIGURES:
            with np.errstate(all="ignore"):
                fig = _SET_BUILDERS[name](*args, **kwargs)
        else:
            run = args[0] if args else kwargs.get("run")
            eta = args[1] if len(args) > 1 else kwargs.get("eta")
            if where is None and isinstance(run, Run):
                cap = caption(name, _where(run, eta if name in CASE_FIGURES else None))
            with np.errstate(all="ignore"):  # degenerate inputs: the note, not a warning, says so
                fig = figure(name, *args, **kwargs)
        png = to_png(fig, dpi=dpi)
    except MissingData as exc:
        return Rendered(cap, None, _one_line(f"{exc}: {words} not drawn"))
    except Exception as exc:  # noqa: BLE001 - a figure never ends a session
        return Rendered(cap, None, _one_line(f"{words} could not be drawn: {type(exc).__name__}: {exc}"))
    return Rendered(cap, png)


def _tolerance_of(cases) -> float | None:
    """The tolerance δ of a run set's pooled cases (None: no --tolerance, so no band in the caption)."""
    for c in cases if isinstance(cases, (list, tuple)) else ():
        tol = c.get("tolerance") if isinstance(c, dict) else None
        if isinstance(tol, (int, float)) and not isinstance(tol, bool):
            return float(tol)
    return None


_SET_BUILDERS = {"pooled_interval": pooled_interval, "pooled_ratio": pooled_ratio, "sigma_vs_e": sigma_vs_e,
                 "ratio_vs_e": ratio_vs_e,
                 "trend": trend, "baseline_ratio": baseline_ratio}


def render_run(run: Run, names: Iterable[str], eta: float | None = None, settings=None,
               dpi: int = DPI, **options) -> list[Rendered]:
    """:func:`render` of each run figure in ``names`` (duplicates dropped, order kept), e.g.
    the union of the ``figures`` of a run's failing checks, most telling first."""
    out = []
    for name in dict.fromkeys(names):
        e = eta if name in CASE_FIGURES or eta is not None else None
        out.append(render(name, run, e, settings, dpi=dpi, **options))
    return out


def case_figures(run: Run, eta: float, settings=None) -> dict[str, Figure]:
    """The per-(run, η) figures that can be drawn for this case (name → Figure); figures whose
    data is missing are left out (use :func:`render` to get the note instead)."""
    out = {}
    for name in CASE_FIGURES:
        try:
            out[name] = figure(name, run, eta, settings)
        except MissingData:
            continue
    return out

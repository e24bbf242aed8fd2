"""Figures of the gate's reports and of ``dhstats plot`` (the only package drawing with matplotlib).

Re-implements the seed notebook's plots, correctly, plus the gate's own views, on top of
:mod:`dhstats.stats.series`, :mod:`dhstats.stats.sigmas` and :mod:`dhstats.stats.stats` (no statistic is
estimated here). Figures use the object-oriented API (``matplotlib.figure.Figure``, never
pyplot) and are rendered with Agg by :func:`to_png`.

Names are those of :data:`dhstats.figures.rendered.FIGURES` (the one list of figures: name, scope,
caption, builder), which a check's ``figures`` name:

* per (run, η): ``contributions``, ``errors``, ``clip_sweep``, ``truncation_sweep``, ``weights``;
* per run (η, when given, is highlighted): ``delta_h_vs_eta``, ``ratio_vs_eta``, ``sigma_comparison``;
* from health.json records: ``pooled_ratio`` (cases of one run set), ``sigma_vs_e`` and
  ``ratio_vs_e`` (the health dict), ``trend`` (history lines), ``baseline_ratio`` (the health
  dict of a session with ``--baseline``).

:func:`figure` builds a run figure by name; :func:`render` builds and renders any figure and
never raises: missing data or a failure becomes a :class:`dhstats.figures.rendered.Figure` with a one-line note
("no per-sequence gdotv in this run …: contributions not drawn"), never an empty figure.
Artists that carry data have a ``gid`` (e.g. ``"linear"``, ``"ratio"``) for tests and callers.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from matplotlib.figure import Figure

from dhstats.figures import rendered
from dhstats.figures.rendered import FIGURES, RUN_SCOPES, FigureKind, FigureScope, figure_kind, figures
from dhstats.figures.rendered import Figure as Rendered
from dhstats.load.results import Run
from dhstats.figures.base import DPI, NOTE_GID, MissingData, to_png
from dhstats.figures.case import clip_sweep, contribution_histograms, error_histogram, truncation_sweep, weights
from dhstats.figures.run import delta_h_vs_eta, eta_rows, ratio_vs_eta, sigma_comparison
from dhstats.figures.equivalence import pooled_interval
from dhstats.figures.sets import pooled_ratio, ratio_vs_e, sigma_vs_e, trend
from dhstats.figures.baseline import baseline_ratio

__all__ = [
    "CASE_FIGURES", "RUN_FIGURES", "SET_FIGURES", "CAPTIONS", "FIGURES", "FigureKind", "FigureScope", "DPI",
    "NOTE_GID", "MissingData", "figure", "figures", "figure_kind", "render", "render_run", "caption", "to_png",
    "case_figures",
    "error_histogram", "contribution_histograms", "clip_sweep", "truncation_sweep", "weights",
    "delta_h_vs_eta", "ratio_vs_eta", "sigma_comparison", "eta_rows",
    "pooled_ratio", "pooled_interval", "sigma_vs_e", "ratio_vs_e", "trend", "baseline_ratio",
]


def __getattr__(attr: str):
    """``CASE_FIGURES``, ``RUN_FIGURES``, ``SET_FIGURES`` (:mod:`dhstats.figures.rendered`) and
    ``CAPTIONS`` (name → (caption, short name)), read from :data:`FIGURES` at each access."""
    if attr == "CAPTIONS":
        return {f.name: (f.caption, f.short) for f in FIGURES}
    if attr in ("CASE_FIGURES", "RUN_FIGURES", "SET_FIGURES"):
        return getattr(rendered, attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def _kind(name: str) -> FigureKind | None:
    return next((f for f in FIGURES if f.name == name), None)


def caption(name: str, where: str | None = None) -> str:
    """``"Clip sweep: clipped sums vs threshold — E_256/run_01, η=3.2e-06"``."""
    kind = _kind(name)
    words = kind.caption if kind else name
    return f"{words} — {where}" if where else words


def _where(run: Run | None, eta: float | None) -> str | None:
    if run is None:
        return None
    return str(run.file.key) if eta is None else f"{run.file.key}, η={eta:.3g}"


def figure(name: str, run: Run, eta: float | None = None, settings=None, **options) -> Figure:
    """The run figure ``name`` of ``run`` (at ``eta`` for per-(run, η) figures; highlighted
    in per-run figures), drawn by its :class:`~dhstats.figures.rendered.FigureKind`'s builder with the
    ``options`` it takes: ``bins`` (contributions, errors), ``base_quantile``, ``steps``,
    ``clip_values`` (clip_sweep), ``keep_quantiles`` (truncation_sweep grid), ``highlight`` (η
    values to mark in delta_h_vs_eta / ratio_vs_eta instead of ``eta``).
    Raises :class:`MissingData` when the run lacks the data, KeyError for an unknown name."""
    kind = _kind(name)
    if kind is None or kind.scope not in RUN_SCOPES:
        names = [f.name for f in figures(*RUN_SCOPES)]
        raise KeyError(f"{name!r} is not a run figure (one of {', '.join(names)})")
    picked = _pick(options, *(k for k in kind.options if k != "highlight"))
    if kind.scope == FigureScope.CASE:
        if eta is None:
            raise ValueError(f"figure {name!r} is per (run, η): give eta")
        return kind.builder(run, eta, settings, **picked) if kind.settings else kind.builder(run, eta, **picked)
    if "highlight" in kind.options:
        picked["highlight"] = options.get("highlight", eta)
    return kind.builder(run, settings, **picked)


def _pick(options: dict, *keys: str) -> dict:
    return {k: options[k] for k in keys if options.get(k) is not None}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def render(name: str, *args, dpi: int = DPI, where: str | None = None, **kwargs):
    """Build figure ``name`` and render it: a :class:`dhstats.figures.rendered.Figure` with its caption
    and PNG bytes, or with a note instead when it cannot be drawn. Never raises (any exception becomes the note).

    Run figures: ``render(name, run, eta=None, settings=None, **options)`` (see :func:`figure`).
    Figures from records: their builder's arguments, e.g. ``render("pooled_ratio", cases)``,
    ``render("sigma_vs_e", health)``, ``render("trend", lines, k=3.0)``. ``where`` names
    the run set for captions of set figures (run figures name their run and η)."""
    kind = _kind(name)
    words = kind.short if kind else name
    cap = caption(name, where)
    if name == "pooled_interval" and (delta := _tolerance_of(args[0] if args else ())) is not None:
        cap = caption(name, None) + f" against the tolerance band 1 ± {delta:g}" + (f" — {where}" if where else "")
    try:
        if kind is not None and kind.scope not in RUN_SCOPES:
            with np.errstate(all="ignore"):
                fig = kind.builder(*args, **kwargs)
        else:
            run = args[0] if args else kwargs.get("run")
            eta = args[1] if len(args) > 1 else kwargs.get("eta")
            if where is None and isinstance(run, Run):
                cap = caption(name, _where(run, eta if kind is not None and kind.scope == FigureScope.CASE else None))
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


def render_run(run: Run, names: Iterable[str], eta: float | None = None, settings=None,
               dpi: int = DPI, **options) -> list[Rendered]:
    """:func:`render` of each run figure in ``names`` (duplicates dropped, order kept), e.g.
    the union of the ``figures`` of a run's failing checks, most telling first."""
    out = []
    for name in dict.fromkeys(names):
        e = eta if name in rendered.CASE_FIGURES or eta is not None else None
        out.append(render(name, run, e, settings, dpi=dpi, **options))
    return out


def case_figures(run: Run, eta: float, settings=None) -> dict[str, Figure]:
    """The per-(run, η) figures that can be drawn for this case (name → Figure); figures whose
    data is missing are left out (use :func:`render` to get the note instead)."""
    out = {}
    for name in rendered.CASE_FIGURES:
        try:
            out[name] = figure(name, run, eta, settings)
        except MissingData:
            continue
    return out

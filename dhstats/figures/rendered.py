"""The figures: the one list of them (:data:`FIGURES`), and a rendered figure as the reports
carry it: caption, PNG bytes, or the note saying why not.

Everything that enumerates figures reads :data:`FIGURES`: the gate (a failing check's
``figures`` and whether each is drawn per η), the pages and ``dhstats plot``. Adding a figure
is one :class:`FigureKind` entry and its drawing function.

:func:`dhstats.figures.gallery.render` makes them; the gate's failing cases, the run pages and the
pytest-html report carry them. Between pytest-xdist processes a figure travels as
:meth:`Figure.wire` (execnet serialises only plain tuples) and comes back by :meth:`Figure.of`.
The PNG is kept as bytes; :attr:`Figure.base64` is its text for the places that embed it in
HTML (``data:`` URIs of the pages, pytest-html's ``extras.png``).
"""
from __future__ import annotations

import base64 as _b64
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

class FigureScope(StrEnum):
    """What one figure shows, hence what its builder takes."""

    CASE = "case"  # one (run, η): builder(run, eta[, settings], **options)
    RUN = "run"  # one run, every η (η highlighted): builder(run, settings[, highlight=η], **options)
    RUN_SET = "run_set"  # one run set's health.json case dicts (per-run and pooled)
    SETS = "sets"  # the health dict of several run sets
    BASELINE = "baseline"  # the health dict of a session with --baseline
    HISTORY = "history"  # the history lines of past sessions (builder(lines, k=k))


class Lazy:
    """A builder of :mod:`dhstats.figures.gallery` imported when first called: the gate plans figures
    (which, for whom) without importing matplotlib; only drawing one imports it."""

    def __init__(self, module: str, function: str):
        self.module, self.function = module, function

    def __call__(self, *args, **kwargs):
        return getattr(importlib.import_module(f"dhstats.figures.{self.module}"), self.function)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Lazy({self.module!r}, {self.function!r})"


@dataclass(frozen=True)
class FigureKind:
    """One figure of the reports and of ``dhstats plot``: its name (what a check's ``figures``
    and ``--figure`` name), what it shows (``scope``), its caption in words and its short name
    for notes, the function that draws it (returns a matplotlib Figure, raises
    :class:`dhstats.figures.gallery.MissingData`) and the keyword options that function takes (run
    figures; ``settings``: it takes the session's settings)."""

    name: str
    scope: FigureScope
    caption: str
    short: str
    builder: Callable
    options: tuple[str, ...] = ()
    settings: bool = False


# The one list of figures (order: the order of `dhstats plot` and its --figure help).
FIGURES: list[FigureKind] = [
    FigureKind("contributions", FigureScope.CASE, "Per-sequence contributions: true, linear, lin+quad",
               "contributions", Lazy("case", "contribution_histograms"), ("bins",)),
    FigureKind("errors", FigureScope.CASE, "Per-sequence error |c_i − η·gdotv_i| / |ΔH_true|", "per-sequence error",
               Lazy("case", "error_histogram"), ("bins",)),
    FigureKind("clip_sweep", FigureScope.CASE, "Clip sweep: clipped sums vs threshold", "clip sweep",
               Lazy("case", "clip_sweep"), ("base_quantile", "steps", "clip_values")),
    FigureKind("truncation_sweep", FigureScope.CASE, "Truncation sweep: ratio L_S/Δ_S vs keep-quantile",
               "truncation sweep", Lazy("case", "truncation_sweep"), ("keep_quantiles",), settings=True),
    FigureKind("weights", FigureScope.CASE, "SNIS weights: distribution, ESS and Pareto k̂", "weights",
               Lazy("case", "weights"), settings=True),
    FigureKind("delta_h_vs_eta", FigureScope.RUN, "ΔH vs η: predictions ± their σ, ΔH_true ± σ_true", "ΔH vs η",
               Lazy("run", "delta_h_vs_eta"), ("highlight",), settings=True),
    FigureKind("ratio_vs_eta", FigureScope.RUN, "Prediction / ΔH_true vs η, ±1 SE", "ratio vs η",
               Lazy("run", "ratio_vs_eta"), ("highlight",), settings=True),
    FigureKind("sigma_comparison", FigureScope.RUN, "Reported vs measured σ of G and Q", "σ comparison",
               Lazy("run", "sigma_comparison"), settings=True),
    FigureKind("pooled_interval", FigureScope.RUN_SET, "Pooled prediction / ΔH_true with its 1 − 2α interval",
               "pooled interval", Lazy("equivalence", "pooled_interval")),
    FigureKind("pooled_ratio", FigureScope.RUN_SET, "Prediction / ΔH_true per run and pooled", "pooled ratio",
               Lazy("sets", "pooled_ratio")),
    FigureKind("sigma_vs_e", FigureScope.SETS, "σ vs batch size E, with the 1/√E line", "σ vs E",
               Lazy("sets", "sigma_vs_e")),
    FigureKind("ratio_vs_e", FigureScope.SETS, "Pooled prediction / ΔH_true vs batch size E", "pooled ratio vs E",
               Lazy("sets", "ratio_vs_e")),
    FigureKind("trend", FigureScope.HISTORY, "Estimator health over recent gate sessions", "trend",
               Lazy("sets", "trend")),
    FigureKind("baseline_ratio", FigureScope.BASELINE,
               "Pooled prediction / ΔH_true vs η against the baseline (and the tolerance band)",
               "ratio against the baseline", Lazy("baseline", "baseline_ratio")),
]
RUN_SCOPES = (FigureScope.CASE, FigureScope.RUN)  # figures drawn from a run's file; the others from records


def figures(*scopes: FigureScope) -> tuple[FigureKind, ...]:
    """The figures of these scopes (all figures without one), in :data:`FIGURES` order — read at
    each call, so a figure added to :data:`FIGURES` (:func:`register_figure`) is everywhere."""
    return tuple(f for f in FIGURES if not scopes or f.scope in scopes)


def figure_kind(name: str) -> FigureKind:
    """The figure called ``name`` (KeyError naming the figures otherwise)."""
    for f in FIGURES:
        if f.name == name:
            return f
    raise KeyError(f"{name!r} is not a dhstats figure (one of {', '.join(f.name for f in FIGURES)})")


def register_figure(kind: FigureKind) -> FigureKind:
    """Add a figure at the end of :data:`FIGURES` (ValueError for a name already there)."""
    if any(f.name == kind.name for f in FIGURES):
        raise ValueError(f"{kind.name!r} is already a dhstats figure")
    FIGURES.append(kind)
    return kind


def unregister_figure(name: str) -> None:
    FIGURES.remove(figure_kind(name))


def __getattr__(attr: str):
    """``CASE_FIGURES``, ``RUN_FIGURES`` (names of the figures of one case, one run) and
    ``SET_FIGURES`` (the figures drawn from records), read from :data:`FIGURES` at each access."""
    if attr == "CASE_FIGURES":
        return tuple(f.name for f in figures(FigureScope.CASE))
    if attr == "RUN_FIGURES":
        return tuple(f.name for f in figures(FigureScope.RUN))
    if attr == "SET_FIGURES":
        return tuple(f.name for f in FIGURES if f.scope not in RUN_SCOPES)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


@dataclass(frozen=True)
class Figure:
    caption: str
    png: bytes | None  # the PNG file's bytes; None when the figure was not drawn
    note: str | None = None  # why it was not drawn (None when it was)

    @property
    def base64(self) -> str | None:
        """The PNG as base64 text (for HTML), or None when there is no PNG bytes."""
        return _b64.b64encode(self.png).decode("ascii") if isinstance(self.png, (bytes, bytearray)) else None

    def wire(self) -> tuple[str, bytes | None, str | None]:
        return (self.caption, self.png, self.note)

    @classmethod
    def of(cls, value) -> Figure:
        """A Figure from itself or from its :meth:`wire` form."""
        return value if isinstance(value, cls) else cls(*value)

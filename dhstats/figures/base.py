"""Drawing helpers shared by every figure (no statistic here; no pyplot: no global state).

Figures are ``matplotlib.figure.Figure`` objects rendered by :func:`to_png` with Agg, through
matplotlib's public API only (no rcParams changed, nothing kept between figures). A
figure whose data is missing raises :class:`MissingData` with one line saying what is missing
(``render`` turns it into a note instead of an empty figure); a figure that can be drawn
only in part keeps a short ``Text`` with gid ``"note"`` saying what was left out.
"""
from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogFormatterSciNotation, NullLocator

NOTE_GID = "note"  # gid of the Text artists that explain left-out data

# Colours of the three ΔH series, the same in every figure.
C_TRUE, C_LINEAR, C_LINQUAD = "black", "tab:blue", "tab:orange"
C_HIGHLIGHT, C_BAND = "tab:red", "tab:green"

DPI = 80  # the gate's rendering DPI: every figure is ≥ 7.5 in wide, so ≥ 600 px
WIDTH, HEIGHT = 8.0, 4.2  # inches
FONT = 10  # points, for every text (no rcParams: no global state)

NO_GDOTV = "no per-sequence gdotv in this run (approx.per_sequence missing)"


class MissingData(ValueError):
    """The data a figure shows is not in the run (or health.json); the message is one line."""


def blank_figure(ncols: int = 1, nrows: int = 1, width: float = WIDTH, height: float = HEIGHT,
           height_ratios=None, **adjust) -> tuple[Figure, np.ndarray]:
    """A new figure with fixed margins and styled axes (no tight/constrained layout: they
    cost 20+ ms each). Axes are not shared: callers set equal limits where panels must
    compare (and say so where they do not)."""
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(nrows, ncols, squeeze=False, height_ratios=height_ratios)
    margins = dict(left=0.1, right=0.98, bottom=0.14, top=0.88, wspace=0.14, hspace=0.18)
    margins.update(adjust)
    fig.subplots_adjust(**margins)
    for ax in axes.flat:
        ax.tick_params(labelsize=FONT - 1, length=3, pad=2)
        ax.xaxis.label.set_size(FONT)
        ax.yaxis.label.set_size(FONT)
        ax.title.set_size(FONT)
        ax.xaxis.offsetText.set_fontsize(FONT - 1)
        ax.yaxis.offsetText.set_fontsize(FONT - 1)
    return fig, axes


def title(ax, what: str, key, eta: float | None = None) -> None:
    """``what, <run set>/<run>, η=…`` as the axes title."""
    where = str(key) if eta is None else f"{key}, η={eta:.3g}"
    ax.set_title(f"{what}, {where}" if what else where, fontsize=FONT, y=1.0, pad=4)


def note(ax, text: str, *, x: float = 0.99, y: float = 0.02, ha: str = "right",
         va: str = "bottom") -> None:
    """A short remark on what was left out, inside ``ax`` (gid ``"note"``)."""
    ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=FONT - 1,
            color="0.3", gid=NOTE_GID)


def fig_note(fig: Figure, text: str) -> None:
    """A remark at the bottom-left of the figure (gid ``"note"``), outside the axes."""
    fig.text(0.01, 0.01, text, ha="left", va="bottom", fontsize=FONT - 1, color="0.3",
             gid=NOTE_GID)


def finite(*arrays) -> np.ndarray:
    """Mask of the positions where every array is finite."""
    mask = np.ones(np.shape(arrays[0]), dtype=bool)
    for a in arrays:
        mask &= np.isfinite(np.asarray(a, dtype=float))
    return mask


def hist(ax, values: np.ndarray, bins, color: str, gid: str, range_=None):
    """One filled step artist (cheaper to draw than ``ax.hist``'s patch per bin) over the
    finite values. The range is the finite values' (or ``range_`` when finite), widened
    when all values are equal: ``np.histogram`` rejects a NaN or empty range."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise MissingData("no finite value to histogram")
    lo, hi = (float(v.min()), float(v.max())) if range_ is None else map(float, range_)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        pad = abs(lo) * 1e-3 or 1e-12
        lo, hi = lo - pad, hi + pad
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return ax.stairs(counts, edges, fill=True, color=color, alpha=0.8, gid=gid, linewidth=0)


def log_ticks(x: np.ndarray) -> list[float]:
    """Ends and geometric middle of a positive range (3 significant digits): a sweep that
    spans < 1 decade would otherwise leave a log axis unlabelled."""
    lo, hi = float(np.min(x)), float(np.max(x))
    if lo == hi:
        return [lo]
    return [lo, math.sqrt(lo * hi), hi]


def log_eta_axis(ax, eta: np.ndarray, label: str = "η (learning rate)") -> None:
    """Log x axis ticked at the η values themselves (the same in every η figure)."""
    eta = np.asarray(eta, dtype=float)
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ticks = np.unique(eta)
    ax.set_xticks(ticks, [f"{v:.3g}" for v in ticks])
    ax.set_xlim(ticks.min() / 1.4, ticks.max() * 1.4)
    ax.set_xlabel(label)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_label(x: float) -> str:
    """``10⁵``, ``2×10⁻³`` (3 significant digits) in plain Unicode; "" for x ≤ 0 or not finite."""
    if not (math.isfinite(x) and x > 0):
        return ""
    e = math.floor(math.log10(x) + 1e-9)
    m = x / 10.0**e
    power = "10" + str(e).translate(_SUPERSCRIPT)
    return power if abs(m - 1) < 1e-6 else f"{m:.3g}×{power}"


#: Coefficients m of m×10ⁿ labelled on a log axis's minor ticks, sparsest first: none, 2 and
#: 5 (matplotlib's 2, 3, 4, 6 collide as "3×10²4×10²" in a 7.5-inch panel), every one.
MINOR_LABELS = ((), (2, 5), tuple(range(2, 10)))


def minor_coefficients(lo: float, hi: float) -> tuple[int, ...]:
    """The :data:`MINOR_LABELS` set for a log view [lo, hi]: none above one decade, 2 and 5
    above 0.4 decade, all below; then the next denser set while fewer than two ticks of the
    view (decades included) would carry a label."""
    decades = math.log10(hi / lo)
    start = 0 if decades > 1 else 1 if decades > 0.4 else 2
    for coeffs in MINOR_LABELS[start:]:
        first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        shown = sum(lo <= m * 10.0 ** k <= hi for k in range(first, last + 1) for m in (1, *coeffs))
        if shown >= 2:
            return coeffs
    return MINOR_LABELS[-1]


def signed_power_label(x: float) -> str:
    """:func:`power_label` with a sign and ``0``, for symlog axes: ``−10⁻³``, ``0``, ``10²``."""
    if x == 0:
        return "0"
    return ("−" + power_label(-x)) if x < 0 else power_label(x)


def log_labels(axis) -> None:
    """Label the log or symlog ``axis`` in plain Unicode (:func:`power_label`) through two
    public ``matplotlib.ticker.FuncFormatter``: every major tick (a decade) labelled, minor
    ticks by :func:`minor_coefficients` of the view. No mathtext
    (``$\\mathdefault{10^{5}}$``): parsing it was ≈ 40 % of the rendering time of a
    figure with a log axis."""
    scale = axis.get_scale()

    def minor(x: float, pos=None) -> str:
        lo, hi = sorted(axis.get_view_interval())
        if scale != "log" or not (lo > 0 and hi > lo and x > 0):
            return ""
        keep = minor_coefficients(lo, hi)
        m = x / 10.0 ** math.floor(math.log10(x) + 1e-9)
        return power_label(x) if any(abs(m - c) < 1e-6 for c in keep) else ""

    axis.set_major_formatter(FuncFormatter(lambda x, pos=None: signed_power_label(x)))
    axis.set_minor_formatter(FuncFormatter(minor))


def plain_log_labels(fig: Figure) -> None:
    """Every log or symlog axis of ``fig`` still on matplotlib's default (mathtext) labels
    gets :func:`log_labels`; axes whose caller chose the labels keep them."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() in ("log", "symlog") and isinstance(axis.get_major_formatter(),
                                                                      LogFormatterSciNotation):
                log_labels(axis)


def to_png(fig: Figure, dpi: int = DPI) -> bytes:
    """Render ``fig`` with Agg to PNG bytes (log axes labelled without mathtext:
    :func:`plain_log_labels`). An opaque figure is written as RGB (compression level 3:
    ≈ half the encoding time of RGBA at level 6, and smaller)."""
    from PIL import Image

    plain_log_labels(fig)
    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    image = Image.fromarray(rgba, "RGBA")
    if rgba[..., 3].min() == 255:
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="png", compress_level=3, dpi=(dpi, dpi))
    return buf.getvalue()

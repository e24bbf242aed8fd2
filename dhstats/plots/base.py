"""Drawing helpers shared by every figure (no statistic here; no pyplot: no global state).

Figures are ``matplotlib.figure.Figure`` objects rendered by :func:`to_png` with Agg. No
rcParams are changed; what is kept between figures is for speed only and never changes a
PNG: empty-figure templates per layout (:func:`figure`), text bitmaps and Agg renderers
(:class:`_Renderer`); :func:`without_gc` pauses the garbage collector during a render. A
figure whose data is missing raises :class:`MissingData` with one line saying what is missing
(``render`` turns it into a note instead of an empty figure); a figure that can be drawn
only in part keeps a short ``Text`` with gid ``"note"`` saying what was left out.
"""
from __future__ import annotations

import contextlib
import gc
import io
import math
import pickle
import threading

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, LogFormatterSciNotation, NullLocator

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


TICKS = 6  # major ticks made ahead on each axis of a template (most figures draw ≤ 6 a axis)
_TEMPLATES: dict[tuple, bytes] = {}  # figure() arguments → the pickled empty figure


def figure(ncols: int = 1, nrows: int = 1, width: float = WIDTH, height: float = HEIGHT,
           height_ratios=None, **adjust) -> tuple[Figure, np.ndarray]:
    """A figure with fixed margins (no tight/constrained layout: they cost 20+ ms each).
    Axes are not shared: shared axes copy their ticks, and ticks dominate drawing time;
    callers set equal limits where panels must compare.

    Each call returns a new figure unpickled from a template built once per process and
    per arguments, its axes styled and :data:`TICKS` major ticks a axis made ahead: building
    axes and their ticks (``Axes.__init__``, ``Tick.__init__``) is most of a figure's cost,
    unpickling them ≈ a third of it."""
    key = (ncols, nrows, width, height, None if height_ratios is None else tuple(height_ratios),
           tuple(sorted(adjust.items())))
    blob = _TEMPLATES.get(key)
    if blob is None:
        if len(_TEMPLATES) >= 64:  # a few layouts per figure kind; bound the memory kept
            _TEMPLATES.clear()
        blob = _TEMPLATES[key] = pickle.dumps(_new_figure(ncols, nrows, width, height, height_ratios, adjust))
    fig = pickle.loads(blob)
    return fig, np.array(fig.axes, dtype=object).reshape(nrows, ncols)


def _new_figure(ncols: int, nrows: int, width: float, height: float, height_ratios, adjust: dict) -> Figure:
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
        ax.xaxis.get_major_ticks(TICKS)
        ax.yaxis.get_major_ticks(TICKS)
    return fig


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


class PowerLabels(LogFormatter):
    """Matplotlib's log-axis labels (which ticks get one is unchanged) written by
    :func:`power_label` instead of mathtext (``$\\mathdefault{10^{5}}$``): Agg keeps its
    mathtext parser cache with one renderer, so every figure parsed its labels anew, ≈ 40 %
    of the rendering time of a figure with a log axis."""

    def _num_to_string(self, x, vmin, vmax):
        return power_label(x)


def plain_log_labels(fig: Figure) -> None:
    """Every log axis of ``fig`` that has matplotlib's default (mathtext) labels gets
    :class:`PowerLabels` with the same settings."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for get, put in ((axis.get_major_formatter, axis.set_major_formatter),
                             (axis.get_minor_formatter, axis.set_minor_formatter)):
                old = get()
                if isinstance(old, LogFormatterSciNotation):
                    put(PowerLabels(base=old._base, labelOnlyBase=old.labelOnlyBase,
                                    minor_thresholds=old.minor_thresholds, linthresh=old._linthresh))


class _Renderer(RendererAgg):
    """Agg with matplotlib ≤ 3.10's text path: one FreeType bitmap per string
    (``set_text`` + ``draw_glyphs_to_bitmap``, in C) instead of 3.11's Python loop over glyphs
    (``_draw_text_glyphs_and_boxes``), and the bitmap of a string kept for the next figure
    (tick labels, bar labels and legends repeat across a session's figures); the extents
    layout uses (``get_text_width_height_descent``) come from the same ``set_text``.
    Any failure, mathtext or font features fall back to matplotlib's own path."""

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        features, language = getattr(mtext, "get_fontfeatures", None), getattr(mtext, "get_language", None)
        if ismath or (features is not None and features()) or (language is not None and language()):
            return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
        try:
            image, d, xo, yo = _text_bitmap(self, s, prop, bool(gc.get_antialiased()))
            rad = math.radians(angle)
            self._renderer.draw_text_image(image, round(x + xo + d * math.sin(rad)),
                                           round(y + yo + d * math.cos(rad)) + 1, angle, gc)
        except (AttributeError, TypeError, ValueError, RuntimeError):
            super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)


_BITMAPS: dict[tuple, tuple] = {}  # (text, font properties, DPI, antialiased) → bitmap, descent, offsets


def _text_bitmap(renderer: RendererAgg, s: str, prop, antialiased: bool) -> tuple:
    """The grey bitmap of ``s`` (independent of where and at which angle it is drawn), its
    descent and bitmap offset in pixels, rendered once per process."""
    key = (s, prop, renderer.dpi, antialiased, get_hinting_flag())
    hit = _BITMAPS.get(key)
    if hit is None:
        font = renderer._prepare_font(prop)
        font.set_text(s, 0, flags=get_hinting_flag())
        font.draw_glyphs_to_bitmap(antialiased=antialiased)
        xo, yo = font.get_bitmap_offset()
        if len(_BITMAPS) >= 4096:
            _BITMAPS.clear()
        key = (s, prop.copy(), renderer.dpi, antialiased, key[4])  # a copy: Text objects change their own
        hit = _BITMAPS[key] = (np.array(font.get_image()), font.get_descent() / 64.0, xo / 64.0, yo / 64.0)
    return hit


# Only where RendererAgg draws glyph by glyph in Python (matplotlib ≥ 3.11); before, its own
# draw_text is this one.
_FAST_TEXT = hasattr(RendererAgg, "_draw_text_glyphs_and_boxes")
_RENDERERS = threading.local()  # .by_size: (width px, height px, dpi) → renderer, reused across figures


class _Canvas(FigureCanvasAgg):
    """A canvas whose renderer is reused by every figure of the same pixel size and DPI
    (Agg clears it before each draw): text extents are cached per renderer, so labels
    repeated across figures are laid out once per process."""

    def get_renderer(self):
        key = (*self.get_width_height(physical=True), self.figure.dpi)
        mine = _RENDERERS.__dict__.setdefault("by_size", {})  # one set per thread: a renderer draws one figure at a time
        renderer = mine.get(key)
        if renderer is None:
            if len(mine) >= 8:  # a handful of sizes in a session; bound the buffers kept
                mine.clear()
            renderer = mine[key] = (_Renderer if _FAST_TEXT else RendererAgg)(key[0], key[1], key[2])
        self.renderer, self._lastKey = renderer, key
        return renderer


_GC_LOCK = threading.Lock()
_GC_HELD = [0, False]  # renders under way (every thread), whether the collector was enabled before the first


@contextlib.contextmanager
def without_gc():
    """Python's cyclic garbage collector paused while a figure is built and drawn, then
    resumed as it was. A figure allocates tens of thousands of objects: collections during
    the render promoted them to the older generations, whose growth then triggered full
    collections of the whole session's heap (in the gate's failing set: 0.3 s of full
    collections for 24 figures). Paused, the figure's objects are freed as young garbage by
    the first collection after it. Nested and concurrent renders resume it once, after the
    last one."""
    with _GC_LOCK:
        if _GC_HELD[0] == 0:
            _GC_HELD[1] = gc.isenabled()
            gc.disable()
        _GC_HELD[0] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_HELD[0] -= 1
            if _GC_HELD[0] == 0 and _GC_HELD[1]:
                gc.enable()


def to_png(fig: Figure, dpi: int = DPI) -> bytes:
    """Render ``fig`` with Agg to PNG bytes (log axes labelled without mathtext:
    :func:`plain_log_labels`), then release its axes and their artists. An opaque figure
    is written as RGB (compression level 3: ≈ half the encoding time of RGBA at level 6,
    and smaller)."""
    from PIL import Image

    plain_log_labels(fig)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if not axis.label.get_text():  # nothing to place: skip re-measuring the tick labels
                axis.set_label_coords(0.5, 0.5)
    fig.set_dpi(dpi)
    canvas = _Canvas(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    image = Image.fromarray(rgba, "RGBA")
    if rgba[..., 3].min() == 255:
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="png", compress_level=3, dpi=(dpi, dpi))
    for ax in list(fig.axes):  # cheaper than fig.clear() (which re-initialises each axes)
        fig.delaxes(ax)
    return buf.getvalue()

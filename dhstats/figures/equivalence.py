"""The pooled ratio against its tolerance: what a pooled agreement case could show.

Drawn from a run set's pooled case dicts (health.json schema 2: ``ratio``, ``ratio_lo``,
``ratio_hi`` — the 1 − 2α Fieller interval, α = ``interval_alpha`` — and under --tolerance
``tolerance``). An interval inside the band [1 − δ, 1 + δ] is agreement within ±δ
demonstrated (TOST, checks.md "Resolution and equivalence"); a null limit is unbounded.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dhstats.verdicts import registry
from dhstats.figures.base import C_BAND, C_HIGHLIGHT, C_TRUE, FONT, MissingData, blank_figure, log_eta_axis
from dhstats.figures.sets import _name, _num, _pos, _records

C_UNSHOWN = "0.45"  # an interval that does not demonstrate the tolerance


def _limits(pooled: Sequence[Mapping], delta: float | None) -> tuple[float, float]:
    """y range: the band and every bounded limit and ratio, with a margin; an unbounded limit
    is drawn to the edge."""
    values = [v for c in pooled for v in (_num(c.get("ratio")), _num(c.get("ratio_lo")), _num(c.get("ratio_hi")))
              if v is not None] + [1.0]
    if delta is not None:
        values += [1 - delta, 1 + delta]
    lo, hi = min(values), max(values)
    pad = 0.08 * (hi - lo or 1.0)
    return lo - pad, hi + pad


def pooled_interval(cases: Sequence[Mapping]) -> Figure:
    """Pooled ratio vs η (log x) with its 1 − 2α interval, one panel per estimator; under
    --tolerance the band [1 − δ, 1 + δ] shaded and each interval coloured by whether it lies
    inside (demonstrated, black) or not (grey; red when the case failed out of tolerance)."""
    cases = _records(cases)  # any JSON: a hand-edited health.json draws what it can
    panels = []
    for est in registry.estimators():
        kind, label = est.name, est.estimator.ratio_label
        pooled = sorted((c for c in cases if c.get("check") == est.pooled and c.get("run") is None
                         and _pos(c.get("eta")) and _num(c.get("ratio")) is not None), key=lambda c: c["eta"])
        if pooled:
            panels.append((kind, label, pooled))
    if not panels:
        raise MissingData("no pooled ratio in this run set (pooling needs ≥ 2 judged runs, or --tolerance)")
    name = next((_name(c.get("run_set")) for c in cases if _name(c.get("run_set"))), "run set")
    every = [c for _, _, p in panels for c in p]
    delta = next((_pos(c.get("tolerance")) for c in every if _pos(c.get("tolerance")) is not None), None)
    alpha = next((a for c in every if (a := _pos(c.get("interval_alpha"))) is not None and a < 0.5), 0.05)
    fig, axes = blank_figure(ncols=len(panels), width=9.0 if len(panels) == 2 else 7.5, height=4.0,
                       left=0.08, wspace=0.2, top=0.84, bottom=0.2)
    band = f"; band 1 ± {delta:.3g}: interval inside = agreement demonstrated" if delta is not None else ""
    fig.suptitle(f"Pooled prediction / ΔH_true with its {100 * (1 - 2 * alpha):.3g} % interval, {name}{band}",
                 fontsize=FONT)
    ylim = _limits(every, delta)
    for ax, (kind, label, pooled) in zip(axes[0], panels):
        if delta is not None:
            ax.axhspan(1 - delta, 1 + delta, color=C_BAND, alpha=0.15, linewidth=0, gid="tolerance",
                       label=f"tolerance ±{delta:.3g}")
        ax.axhline(1.0, color=C_BAND, linestyle="--", linewidth=1, gid="one")
        for c in pooled:
            lo, hi = _num(c.get("ratio_lo")), _num(c.get("ratio_hi"))
            inside = delta is not None and lo is not None and hi is not None and 1 - delta < lo and hi < 1 + delta
            colour = C_TRUE if inside or delta is None else \
                C_HIGHLIGHT if c.get("reason") == "out_of_tolerance" else C_UNSHOWN
            ax.vlines(c["eta"], ylim[0] if lo is None else lo, ylim[1] if hi is None else hi, color=colour,
                      linewidth=2.2, gid=f"interval_{kind}")
            ax.plot([c["eta"]], [c["ratio"]], marker="D", markersize=6, color=colour, linestyle="none",
                    gid=f"pooled_{kind}")
            if delta is not None:  # the verdict beside its interval: the equivalence is the headline
                word = ("demonstrated" if c.get("outcome") == "passed" else "outside"
                        if c.get("reason") == "out_of_tolerance" else "not demonstrated")
                top = ylim[1] if hi is None else hi
                ax.annotate(f"{c['ratio']:.3g} {word}", (c["eta"], top), xytext=(0, 4), textcoords="offset points",
                            ha="center", va="bottom", fontsize=FONT - 3, color=colour, gid=f"verdict_{kind}",
                            annotation_clip=False)
        log_eta_axis(ax, np.array([c["eta"] for c in pooled]))
        ax.set_ylim(*ylim)
        ax.set_title(label, fontsize=FONT, pad=3)
        ax.yaxis.set_major_locator(MaxNLocator(6))
        ax.tick_params(axis="x", labelrotation=30)
    axes[0, 0].set_ylabel(f"pooled ratio ({100 * (1 - 2 * alpha):.3g} % interval)")
    if delta is not None:
        axes[0, -1].legend(loc="best", fontsize=FONT - 2, frameon=False, handlelength=1)
    return fig

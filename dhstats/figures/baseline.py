"""The figure of the comparison with a baseline (report.html, "Against the baseline"), drawn
from health.json's ``baseline_*_ratio`` cases alone: both sides' pooled ratio vs η, ±1 SE,
one panel per estimator; under ``--baseline-tolerance δ`` the band baseline ± δ."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dhstats.verdicts import registry
from dhstats.figures.base import C_BAND, FONT, MissingData, blank_figure, log_eta_axis
from dhstats.figures.sets import PALETTE, _errorbar, _map, _num, _records


def baseline_ratio(health: Mapping) -> Figure:
    """Candidate (filled circles) and baseline (open squares) pooled ratio ± SE vs η, per
    matched run set; a move is the gap between them. Raises :class:`MissingData` without a
    comparison case carrying both ratios."""
    words = {c.name: c.estimator.word for c in registry.ratio_comparisons()}
    cases = [c for c in _records(_map(health).get("cases")) if c.get("check") in words
             and _num(c.get("ratio")) is not None and _num(c.get("baseline_ratio")) is not None
             and _num(c.get("eta")) is not None]
    panels = [(check, word, [c for c in cases if c["check"] == check]) for check, word in words.items()]
    panels = [p for p in panels if p[2]]
    if not panels:
        raise MissingData("no comparison with a pooled ratio on both sides")
    fig, axes = blank_figure(ncols=len(panels), width=9.0 if len(panels) == 2 else 6.0, height=4.0,
                       left=0.08, right=0.80, wspace=0.2, top=0.84, bottom=0.15)
    fig.suptitle("Pooled prediction / ΔH_true vs η: candidate and baseline (±1 SE)", fontsize=FONT)
    tol = _num((_map(health).get("settings") or {}).get("baseline_tolerance"))
    sets = sorted({c["run_set"] for c in cases})
    for ax, (check, word, mine) in zip(axes[0], panels):
        for i, name in enumerate(sets):
            pts = sorted((c for c in mine if c["run_set"] == name), key=lambda c: c["eta"])
            if not pts:
                continue
            eta = np.array([c["eta"] for c in pts])
            colour = PALETTE[i % len(PALETTE)]
            base = pts[0].get("baseline_run_set", "baseline")
            _errorbar(ax, eta / 1.04, [c["baseline_ratio"] for c in pts], [c.get("baseline_ratio_se") for c in pts],
                      marker="s", markersize=5, markerfacecolor="white", color=colour, linewidth=1.0,
                      linestyle=":", gid=f"baseline_{check}", label=f"{base} (baseline)")
            _errorbar(ax, eta * 1.04, [c["ratio"] for c in pts], [c.get("ratio_se") for c in pts], marker="o",
                      markersize=5, color=colour, linewidth=1.2, gid=f"candidate_{check}", label=f"{name} (candidate)")
            if tol is not None:
                b = np.array([c["baseline_ratio"] for c in pts], dtype=float)
                ax.fill_between(eta, b - tol, b + tol, color=colour, alpha=0.12, linewidth=0,
                                gid=f"tolerance_{check}", label=f"baseline ± {tol:g}")
            moved = [c for c in pts if c.get("reason") in ("moved", "moved_beyond_tolerance")]
            if moved:
                ax.plot([c["eta"] * 1.04 for c in moved], [c["ratio"] for c in moved], linestyle="none",
                        marker="o", markersize=11, markerfacecolor="none", markeredgecolor="tab:red",
                        gid=f"moved_{check}", label="moved")
        ax.axhline(1.0, color=C_BAND, linestyle="--", linewidth=1, gid="one")
        log_eta_axis(ax, np.array([c["eta"] for c in mine]))
        ax.set_title(f"{word} ratio", fontsize=FONT, pad=3)
        ax.yaxis.set_major_locator(MaxNLocator(5))
    axes[0, 0].set_ylabel("pooled ratio (±1 SE)")
    lo = min(ax.get_ylim()[0] for ax in axes[0])
    hi = max(ax.get_ylim()[1] for ax in axes[0])
    for ax in axes[0]:
        ax.set_ylim(lo, hi)
    axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=FONT - 2, frameon=False)
    return fig


__all__ = ["baseline_ratio"]

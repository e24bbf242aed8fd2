"""Figures across runs and run sets, drawn from health.json records only (no arrays).

Case dicts follow health.json schema 2: agreement cases carry ``ratio``, ``ratio_se``,
``sigma_g``, ``sigma_true``; pooled cases (``run`` null) ``ratio``, ``ratio_se``, ``Z``, ``E``;
history lines (:func:`dhstats.report.history.history_line`) ``time``, ``checks``, ``pooled_z``.
Non-numbers (null) are skipped; a figure with nothing to show raises
:class:`~dhstats.figures.base.MissingData`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullLocator

from dhstats.verdicts import registry
from dhstats.figures.base import C_BAND, C_HIGHLIGHT, C_TRUE, FONT, MissingData, blank_figure, log_eta_axis, note

PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink",
           "tab:gray", "tab:olive", "tab:cyan", "tab:red")


def _num(x) -> float | None:
    """A finite float, or None (null, NaN, ±inf, non-numbers)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def _map(x) -> Mapping:
    return x if isinstance(x, Mapping) else {}


def _records(x) -> list[Mapping]:
    """The objects of a JSON array (anything else in it, or a non-array: left out)."""
    return [c for c in x if isinstance(c, Mapping)] if isinstance(x, (list, tuple)) else []


def _name(x) -> str | None:
    """A run or run-set name: a string, else None."""
    return x if isinstance(x, str) else None


def _pos(x) -> float | None:
    v = _num(x)
    return v if v is not None and v > 0 else None


def _errorbar(ax, x, y, se, **kw):
    """Error bars where the SE is known, plain markers where it is not; undrawable points
    (non-finite, |y| ≥ 1e300) are left out."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    se = np.array([np.nan if s is None else s for s in se], dtype=float)
    keep = np.isfinite(x) & (np.abs(y) < 1e300)  # drawable points only (no NaN, inf, 1e308)
    x, y, se = x[keep], y[keep], se[keep]
    known = (se >= 0) & (se < 1e300)  # a usable error bar (NaN, negative, huge: plain marker)
    label, gid = kw.pop("label", None), kw.pop("gid", None)
    if known.any():  # the gid goes on the data line only (not on caps and bars)
        ax.errorbar(x[known], y[known], yerr=se[known], capsize=3, label=label, **kw)[0].set_gid(gid)
        label = None
    if (~known).any():
        ax.plot(x[~known], y[~known], linestyle="none", label=label, gid=gid,
                **{k: v for k, v in kw.items() if k in ("marker", "markersize", "color", "alpha")})


MAX_RUN_COLOURS = 8


def pooled_ratio(cases: Sequence[Mapping]) -> Figure:
    """One run set: prediction/ΔH_true vs η (log x), each run's ratio ± ratio_se (from its
    agreement cases) and the pooled Σw·prediction / Σw·ΔH_true ± SE (pooled cases, Stouffer's
    weights w = 1/σ_1: the gate's numbers), one panel
    for linear and one for lin+quad on the same x range. A dashed line marks 1."""
    cases = _records(cases)
    panels = []
    for est in registry.estimators():
        kind, label = est.name, est.estimator.ratio_label
        runs = [c for c in cases if c.get("check") == est.case and _name(c.get("run")) is not None
                and _pos(c.get("eta")) and _num(c.get("ratio")) is not None]
        pooled = [c for c in cases if c.get("check") == est.pooled
                  and _pos(c.get("eta")) and _num(c.get("ratio")) is not None]
        if runs or pooled:
            panels.append((kind, label, runs, pooled))
    if not panels:
        raise MissingData("no finite prediction/ΔH_true ratio in this run set")
    name = next((c["run_set"] for c in cases if _name(c.get("run_set"))), "run set")
    fig, axes = blank_figure(ncols=len(panels), width=9.5 if len(panels) == 2 else 8.0, height=4.0,
                       left=0.08, right=0.84, wspace=0.2, top=0.84, bottom=0.2)
    fig.suptitle(f"Prediction / ΔH_true per run and pooled, {name} (panels share the y scale)", fontsize=FONT)
    etas = sorted({c["eta"] for _, _, runs, pooled in panels for c in [*runs, *pooled]})
    run_names = sorted({c["run"] for _, _, runs, _ in panels for c in runs})
    spread = {r: 1.04 ** (i - (len(run_names) - 1) / 2) for i, r in enumerate(run_names)}  # x offsets
    many = len(run_names) > MAX_RUN_COLOURS  # then one grey series: a legend of 100 runs helps nobody
    for ax, (kind, label, runs, pooled) in zip(axes[0], panels):
        groups = [(f"runs ({len(run_names)})", runs, "0.55")] if many else \
            [(r, [c for c in runs if c["run"] == r], PALETTE[i % len(PALETTE)]) for i, r in enumerate(run_names)]
        for r, mine, colour in groups:
            mine = sorted(mine, key=lambda c: c["eta"])
            if mine:
                _errorbar(ax, [c["eta"] * spread[c["run"]] for c in mine], [c["ratio"] for c in mine],
                          [_num(c.get("ratio_se")) for c in mine], marker="o", markersize=4,
                          color=colour, linestyle="none", alpha=0.7, gid=f"run_{kind}", label=r)
        if pooled:
            pooled = sorted(pooled, key=lambda c: c["eta"])
            _errorbar(ax, [c["eta"] for c in pooled], [c["ratio"] for c in pooled],
                      [_num(c.get("ratio_se")) for c in pooled], marker="D", markersize=6, color=C_TRUE,
                      linewidth=1.6, elinewidth=1.6, gid=f"pooled_{kind}", label="pooled")
        ax.axhline(1.0, color=C_BAND, linestyle="--", linewidth=1, gid="one", label="ratio = 1")
        log_eta_axis(ax, np.array(etas))
        ax.set_title(label, fontsize=FONT, pad=3)
        ax.yaxis.set_major_locator(MaxNLocator(5))
        ax.tick_params(axis="x", labelrotation=30)
    _same_y(axes[0])
    axes[0, 0].set_ylabel("prediction / ΔH_true (±1 SE)")
    axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=FONT - 2, frameon=False,
                       handlelength=1)
    return fig


def _same_y(axes) -> None:
    """One y range for panels of the same quantity (set after drawing: no shared axes)."""
    lims = [ax.get_ylim() for ax in axes]
    lo, hi = min(a for a, _ in lims), max(b for _, b in lims)
    for ax in axes:
        ax.set_ylim(lo, hi)


def _set_e(health: Mapping) -> dict[str, float]:
    """Run-set name → E (run_sets[].E, else the E of its cases)."""
    health = _map(health)
    out = {_name(s.get("name")): _pos(s.get("E")) for s in _records(health.get("run_sets"))}
    for c in _records(health.get("cases")):  # else a case's E, else its run's n (= E)
        name = _name(c.get("run_set"))
        if out.get(name) is None and (_pos(c.get("E")) or _pos(c.get("n"))):
            out[name] = _pos(c.get("E")) or _pos(c.get("n"))
    return {k: v for k, v in out.items() if k is not None and v is not None}


def _median(values) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.median(v)) if v else None


def sigma_vs_e(health: Mapping) -> Figure:
    """σ vs batch size E on log–log axes, one point per run set: σ_G (median over its runs,
    from the linear_agreement cases' ``sigma_g``) and σ_true/η at each η (median over runs);
    dashed lines ∝ 1/√E through each series' largest-E point: a σ off its line is mis-scaled
    (the se_scaling check; checks.md)."""
    E = _set_e(health)
    cases = [c for c in _records(_map(health).get("cases")) if c.get("check") in registry.figure_inputs("sigma_vs_e")
             and _name(c.get("run_set")) in E]
    series: dict[str, dict[float, list]] = {}
    for c in cases:
        e = E[c["run_set"]]
        g = _pos(c.get("sigma_g"))
        if g is not None:
            series.setdefault((0.0, "σ_G"), {}).setdefault(e, []).append(g)
        st, eta = _pos(c.get("sigma_true")), _pos(c.get("eta"))
        if st is not None and eta is not None:
            series.setdefault((eta, f"σ_true/η, η={eta:.3g}"), {}).setdefault(e, []).append(st / eta)
    series = {k: v for k, v in series.items() if len(v) >= 1}
    if len({e for v in series.values() for e in v}) < 2:
        raise MissingData("fewer than two run sets of different E with σ values")
    fig, axes = blank_figure(width=8.0, height=4.6, left=0.11, right=0.72, top=0.9)
    ax = axes[0, 0]
    ax.set_title("σ vs batch size E (dashed: ∝ 1/√E)", fontsize=FONT, pad=4)
    all_e = sorted({e for v in series.values() for e in v})
    for i, ((_, name), by_e) in enumerate(sorted(series.items())):  # σ_G, then η ascending (not as text)
        es = np.array(sorted(by_e))
        med = np.array([_median(by_e[e]) for e in es])
        color = C_TRUE if name == "σ_G" else PALETTE[i % len(PALETTE)]
        ax.plot(es, med, marker="o", markersize=5, linewidth=1.4 if name == "σ_G" else 1, color=color,
                label=name, gid="sigma_g" if name == "σ_G" else "sigma_true")
        for e in es:
            ax.plot([e] * len(by_e[e]), by_e[e], linestyle="none", marker=".", markersize=3, color=color, alpha=0.5)
        ref_e = es.max()
        ref = med[-1] * np.sqrt(ref_e / np.array(all_e))
        ax.plot(all_e, ref, linestyle="--", linewidth=0.8, color=color, alpha=0.8, gid="reference")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xticks(all_e, [f"{e:g}" for e in all_e])
    ax.set_xlim(min(all_e) / 1.3, max(all_e) * 1.3)
    ax.set_xlabel("E (sequences per run)")
    ax.set_ylabel("σ per unit LR (nats/token)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=FONT - 2, frameon=False)
    return fig


def ratio_vs_e(health: Mapping) -> Figure:
    """Pooled prediction/ΔH_true ± SE vs E (log x), one line per η; linear and lin+quad
    panels on the same x range; a dashed line marks 1."""
    E = _set_e(health)
    panels = []
    for est in registry.estimators():
        kind, label = est.name, est.estimator.ratio_label
        pts = [c for c in _records(_map(health).get("cases")) if c.get("check") == est.pooled
               and _name(c.get("run_set")) in E and _pos(c.get("eta")) and _num(c.get("ratio")) is not None]
        if pts:
            panels.append((kind, label, pts))
    if len({E[c["run_set"]] for _, _, p in panels for c in p}) < 2:
        raise MissingData("fewer than two run sets of different E with a pooled ratio (pooling needs ≥ 2 runs a set)")
    all_e = sorted({E[c["run_set"]] for _, _, p in panels for c in p})
    fig, axes = blank_figure(ncols=len(panels), width=9.0 if len(panels) == 2 else 7.5, height=4.0,
                       left=0.08, right=0.86, wspace=0.2, top=0.84, bottom=0.15)
    fig.suptitle("Pooled prediction / ΔH_true vs batch size E", fontsize=FONT)
    etas = sorted({c["eta"] for _, _, p in panels for c in p})
    for ax, (kind, label, pts) in zip(axes[0], panels):
        for i, eta in enumerate(etas):
            mine = sorted((c for c in pts if c["eta"] == eta), key=lambda c: E[c["run_set"]])
            if mine:
                off = 1.03 ** (i - (len(etas) - 1) / 2)
                _errorbar(ax, [E[c["run_set"]] * off for c in mine], [c["ratio"] for c in mine],
                          [_num(c.get("ratio_se")) for c in mine], marker="o", markersize=5,
                          color=PALETTE[i % len(PALETTE)], linewidth=1.2, gid=f"pooled_{kind}", label=f"η={eta:.3g}")
        ax.axhline(1.0, color=C_BAND, linestyle="--", linewidth=1, gid="one", label="ratio = 1")
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(all_e, [f"{e:g}" for e in all_e])
        ax.set_xlim(min(all_e) / 1.5, max(all_e) * 1.5)
        ax.set_xlabel("E (sequences per run)")
        ax.set_title(label, fontsize=FONT, pad=3)
        ax.yaxis.set_major_locator(MaxNLocator(5))
    axes[0, 0].set_ylabel("pooled ratio (±1 SE)")
    _same_y(axes[0])
    axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=FONT - 2, frameon=False)
    return fig


def _selection_labels(lines: Sequence[Mapping]) -> dict:
    """One label per run-set selection (:func:`dhstats.report.health.selection`): its run sets, and the
    settings in which the selections of these lines differ (``k=3, reported_se=shard-mean``)."""
    from dhstats.load.jsonvalues import selection

    keys = list(dict.fromkeys(selection(ln) for ln in lines))
    settings = {key: _map(ln.get("settings")) for ln in lines for key in [selection(ln)]}
    differ = sorted({k for a in settings.values() for b in settings.values() for k in set(a) | set(b)
                     if a.get(k) != b.get(k)})
    out = {}
    for key in keys:
        names = ", ".join(n for n, _, _ in key[0]) or "no run set"
        diff = ", ".join(f"{'k' if k == 'sigma' else k}={_short(settings[key].get(k))}" for k in differ)
        out[key] = names + (f" · {diff}" if diff else "")
    return out


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return ",".join(_short(x) for x in v)
    return str(v)


def trend(lines: Sequence[Mapping], k: float = 3.0, last: int = 50) -> Figure:
    """Estimator health over the last ``last`` gate sessions (history lines, oldest first), one
    series per run-set selection (the same run sets and settings, :func:`dhstats.report.health.selection`):
    top, the pass rate passed/(passed + failed) of all judged cases; bottom, the largest pooled
    linear |Z| over (run set, η) with ``k`` dashed. x: session (oldest → newest). Sessions of
    different selections are never joined by a line. The legend is below the axes, whole."""
    from dhstats.load.jsonvalues import selection

    lines = _records(lines)[-last:]
    if not lines:
        raise MissingData("no gate session in the history")
    rate, zmax = [math.nan] * len(lines), [math.nan] * len(lines)
    for i, ln in enumerate(lines):
        checks = [c for c in _map(ln.get("checks")).values() if isinstance(c, Mapping)]
        p = sum(_num(c.get("passed")) or 0 for c in checks)
        f = sum(_num(c.get("failed")) or 0 for c in checks)
        rate[i] = p / (p + f) if p + f else math.nan
        zs = [abs(z) for by_eta in _map(_map(ln.get("pooled_z")).get(registry.estimator("linear").pooled)).values()
              for z in map(_num, _map(by_eta).values()) if z is not None]
        zmax[i] = max(zs) if zs else math.nan
    if not np.isfinite(rate).any() and not np.isfinite(zmax).any():
        raise MissingData("the history holds no judged case")
    labels = _selection_labels(lines)
    height = 5.2 + 0.22 * len(labels)
    legend_h = (0.3 + 0.22 * len(labels)) / height
    fig, axes = blank_figure(nrows=2, width=8.0, height=height, left=0.1, right=0.97, top=1 - 0.35 / height,
                       bottom=legend_h + 0.55 / height, hspace=0.15)
    top, bottom = axes[:, 0]
    top.set_title(f"Estimator health over the last {len(lines)} gate session(s), one series per run-set selection",
                  fontsize=FONT, pad=4)
    x = np.arange(1, len(lines) + 1)
    for i, (key, label) in enumerate(labels.items()):
        mask = np.array([selection(ln) == key for ln in lines])
        colour = PALETTE[i % len(PALETTE)]
        top.plot(x[mask], np.asarray(rate)[mask], marker="o", markersize=3, linewidth=1.2, color=colour,
                 label=label, gid="pass_rate")
        bottom.plot(x[mask], np.asarray(zmax)[mask], marker="o", markersize=3, linewidth=1.2, color=colour,
                    gid="pooled_z")
    top.set_ylim(-0.05, 1.05)
    top.set_ylabel("pass rate\npassed / judged")
    bottom.axhline(k, color=C_HIGHLIGHT, linestyle="--", linewidth=0.8)
    bottom.set_ylabel("largest pooled\nlinear |Z|")
    if not np.isfinite(zmax).any():
        note(bottom, "no pooled Z in the history")
    for ax in (top, bottom):
        ax.set_xlim(0.5, len(lines) + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(8, integer=True))
    top.tick_params(labelbottom=False)
    bottom.set_xlabel("gate session (oldest → newest; last: " + str(lines[-1].get("time", "?")) + ")")
    fig.legend(*top.get_legend_handles_labels(), loc="lower left", bbox_to_anchor=(0.01, 0.01), ncols=1,
               fontsize=FONT - 2, frameon=False, title="run-set selection", title_fontsize=FONT - 2)
    return fig

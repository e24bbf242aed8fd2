"""Why a pooled TOST did not demonstrate agreement within 1 ± δ, in words (checks.md,
"Resolution and equivalence"): one of two things holds.

* **Too imprecise**: the 1 − 2α interval of the pooled ratio is wider than the band (or
  unbounded). More runs, or a larger E, would help: ⌈R·((z_{1−α} + z_0.90)·SE_ratio/δ)²⌉ runs
  of this precision demonstrate ±δ with 80 % power at ratio 1
  (:func:`dhstats.stats.equivalence.runs_to_demonstrate`).
* **Narrow but crossing a bound**: the interval is no wider than the band and the ratio lies
  nearer a bound than 1 (|ratio − 1| ≥ δ/2): the ratio itself sits near a bound ("1.34, near
  1.5"). The runs needed are those at the observed ratio
  (:func:`dhstats.stats.tost_power.runs_at_ratio`), none when the ratio lies on or outside the band:
  more runs would then show it outside, not inside.

By σ ∝ 1/√E the same factor on R is the factor on E at this R (median E of the runs).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dhstats.stats import equivalence, tost_power


@dataclass(frozen=True)
class NotDemonstrated:
    """The headline of a ``not_demonstrated`` pooled case and the numbers it states:
    ``runs_needed`` (None: no number of runs at this ratio), ``e_needed`` (None when not
    stated), ``narrow`` (the interval is no wider than the band)."""

    headline: str
    runs_needed: float | None
    e_needed: float | None
    narrow: bool


def _g3(x: float) -> str:
    return f"{x:.3g}"


def not_demonstrated(R: int, eta: float, ratio: float | None, ratio_lo: float | None, ratio_hi: float | None,
                     ratio_se: float | None, delta: float, alpha: float, sizes: Sequence[int] = ()) -> NotDemonstrated:
    """The two cases of the module docstring. ``ratio_lo``/``ratio_hi``: the 1 − 2α Fieller
    interval (None: unbounded); ``sizes``: the runs' E (their median scales E)."""
    ratio = math.nan if ratio is None else float(ratio)
    ratio_se = math.nan if ratio_se is None else float(ratio_se)
    band = f"±{equivalence.percent(delta)}"
    runs = f"{R} run{'s' * (R != 1)}"
    where = f"{band} not demonstrated over R = {runs} at η = {eta:.3g}"
    level = f"{100 * (1 - 2 * alpha):g} %"
    bounded = ratio_lo is not None and ratio_hi is not None and math.isfinite(ratio_lo) and math.isfinite(ratio_hi)
    interval = (f"[{_g3(ratio_lo)}, {_g3(ratio_hi)}]" if bounded else
                f"[{'−∞' if ratio_lo is None else _g3(ratio_lo)}, {'∞' if ratio_hi is None else _g3(ratio_hi)}]")
    e = sorted(int(n) for n in sizes if isinstance(n, int) and not isinstance(n, bool))
    median_e = e[len(e) // 2] if e else None
    # narrow: no wider than the band, with the ratio nearer a bound than 1 (an interval almost as
    # wide as the band around a ratio near 1 is imprecision, not a ratio near a bound)
    narrow = (bounded and math.isfinite(ratio) and (ratio_hi - ratio_lo) <= 2 * delta
              and abs(ratio - 1) >= delta / 2)
    if not narrow:
        factor = equivalence.demonstration_factor(ratio_se, delta, alpha)
        needed = equivalence.runs_to_demonstrate(R, ratio_se, delta, alpha)
        more, e_needed = _more(needed, factor, median_e, runs)
        return NotDemonstrated(
            f"{where}: too imprecise — the {level} interval {interval} of the pooled ratio is wider than the "
            f"band 1 ± {delta:g}; {more} would demonstrate it (80 % power at ratio 1)",
            None if not math.isfinite(needed) else needed, e_needed, False)
    bound = 1 + delta if ratio >= 1 else 1 - delta
    if abs(ratio - 1) >= delta:
        return NotDemonstrated(
            f"{where}: the pooled ratio sits at {_g3(ratio)}, beyond the bound {bound:g}, and its {level} "
            f"interval {interval} crosses it: more runs at this ratio would not demonstrate {band}",
            None, None, True)
    factor = tost_power.factor_at_ratio(ratio, ratio_se, delta, alpha)
    needed = tost_power.runs_at_ratio(R, ratio, ratio_se, delta, alpha)
    more, e_needed = _more(needed, factor, median_e, runs)
    return NotDemonstrated(
        f"{where}: the pooled ratio sits at {_g3(ratio)}, near the bound {bound:g}, and its {level} interval "
        f"{interval} crosses it — the runs are precise enough, the ratio is the question; {more} would "
        f"demonstrate {band} if the ratio stays at {_g3(ratio)} (80 % power)",
        None if not math.isfinite(needed) else needed, e_needed, True)


def _more(needed: float, factor: float, median_e: int | None, runs: str) -> tuple[str, float | None]:
    if not math.isfinite(needed):  # the ratio's SE is not finite: nothing to scale
        return "more runs (how many cannot be estimated: the ratio's SE is not finite)", None
    more = f"≈ {needed:.0f} runs of this precision"
    if median_e is None or not math.isfinite(factor):
        return more, None
    e_needed = median_e * factor
    return more + f" (or E ≈ {equivalence.about(e_needed)} at {runs})", e_needed


__all__ = ["NotDemonstrated", "not_demonstrated"]

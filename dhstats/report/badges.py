"""Badges (anybadge SVG) rendered from health.json: honest about skips and about the exit status.

* ``estimator-health.svg`` — red whenever the gate's exit status is non-zero, saying why
  (``"4 failed, 1 invalid run"``); green only at exit 0 (``"52 passed"``, plus
  ``" · 4 skipped"``); grey when nothing was judged.
* ``<check>.svg`` per check of :data:`dhstats.verdicts.registry.CHECKS` — ``"P/J passed"`` with
  J = judged = passed + failed, and ``" · S skipped"``: a skip is never a failure. Red when
  any case failed, green when none failed, grey ``"S skipped"`` when every case was skipped.
* Amber (``#ffbf00``) when every case passed but the pass is worth little
  (:mod:`dhstats.report.confidence`): a check "40/40 · resolves ±190 %" or "8/8 · 32 of 40
  inconclusive"; the overall badge "238 passed · low resolution". Exit status unchanged.
* ``trend.svg`` — this session against the last session of the history on the same run sets
  and settings (:func:`dhstats.report.health.selection`): improved / worsened / unchanged with the
  change in failures (failed cases + invalid runs); "run sets changed" or "settings changed"
  when no earlier session is comparable, never improved or worsened across a change.
* ``baseline.svg`` — the comparison with ``--baseline``: "no move · ±0.52" (amber when that
  resolution is worse than ``resolution_warn``), "moved: linear +0.57" (red), grey "no baseline".
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dhstats.verdicts import registry
from dhstats.report.against_baseline import badge_words
from dhstats.report.confidence import low_resolution
from dhstats.report.health import exit_block, selection

HEALTH_BADGE = "estimator-health.svg"
TREND_BADGE = "trend.svg"
BASELINE_BADGE = "baseline.svg"
GREEN, RED, GREY, ORANGE, AMBER = "green", "red", "lightgrey", "orange", "#ffbf00"


@dataclass(frozen=True)
class Badge:
    filename: str
    label: str
    value: str
    colour: str

    def svg(self) -> str:
        import anybadge

        return anybadge.Badge(self.label, self.value, default_color=self.colour).badge_svg_text


def _skipped(n: int) -> str:
    return f" · {n} skipped" if n else ""


def check_badge(name: str, tally: Mapping, low: str | None = None) -> Badge:
    """One check's badge from its ``counts.checks`` entry; ``low``: why it is low resolution
    (:func:`dhstats.report.confidence.low_resolution`), then amber and saying so."""
    passed, failed, skipped = tally["passed"], tally["failed"], tally["skipped"]
    judged = passed + failed
    if low and not failed and judged:
        return Badge(f"{name}.svg", name, f"{passed}/{judged} · {low}", AMBER)
    if judged == 0:
        value, colour = (f"{skipped} skipped", GREY) if skipped else ("no cases", GREY)
    else:
        value, colour = f"{passed}/{judged} passed{_skipped(skipped)}", RED if failed else GREEN
    return Badge(f"{name}.svg", name, value, colour)


def health_badge(health: Mapping) -> Badge:
    """The overall badge: red with the exit summary when exit status ≠ 0."""
    counts = health["counts"]
    ex = health.get("exit") or exit_block(counts)
    c = counts["cases"]
    if ex["status"] is None:
        return Badge(HEALTH_BADGE, "estimator health", IN_PROGRESS, GREY)
    if ex["status"] != 0:
        return Badge(HEALTH_BADGE, "estimator health", ex["summary"], RED)
    if health.get("confidence") == "partial":
        return Badge(HEALTH_BADGE, "estimator health",
                     f"{c['passed']} passed · {counts.get('deselected', 0)} deselected{_skipped(c['skipped'])}", AMBER)
    if c["passed"] + c["failed"] == 0:
        return Badge(HEALTH_BADGE, "estimator health", f"{c['skipped']} skipped" if c["skipped"] else "no cases",
                     GREY)
    if health.get("confidence") == "low_resolution":
        return Badge(HEALTH_BADGE, "estimator health", f"{c['passed']} passed · low resolution", AMBER)
    return Badge(HEALTH_BADGE, "estimator health", f"{c['passed']} passed{_skipped(c['skipped'])}", GREEN)


IN_PROGRESS = "session in progress"


def in_progress_badges(with_trend: bool = True) -> list[Badge]:
    """Every badge of a session that has no verdict yet: grey, ``"session in progress"``."""
    out = [Badge(HEALTH_BADGE, "estimator health", IN_PROGRESS, GREY)]
    out += [Badge(f"{name}.svg", name, IN_PROGRESS, GREY) for name in registry.NAMES]
    return out + ([Badge(TREND_BADGE, "health trend", IN_PROGRESS, GREY)] if with_trend else [])


def failures(line: Mapping) -> int:
    """Failed cases + invalid runs of a health document or history line."""
    counts = line.get("counts", line)
    return int(counts["cases"]["failed"]) + int(counts["runs"]["error"])


def trend(current: Mapping, history: Sequence[Mapping] | Mapping | None) -> tuple[str, int | None]:
    """``(word, Δ failures)`` against the last session of ``history`` (lines, oldest first; or
    one previous line) with the same run sets and settings: "improved" (fewer failures),
    "worsened" (more), "unchanged"; "first session" with no history; "run sets changed" /
    "settings changed" when no earlier session is comparable (what changed is said against the
    previous session)."""
    lines = [history] if isinstance(history, Mapping) else list(history or ())
    if not lines:
        return "first session", None
    mine = selection(current)
    same = [ln for ln in lines if selection(ln) == mine]
    if not same:
        return ("run sets changed" if selection(lines[-1])[0] != mine[0] else "settings changed"), None
    delta = failures(current) - failures(same[-1])
    return ("worsened" if delta > 0 else "improved" if delta < 0 else "unchanged"), delta


def trend_badge(current: Mapping, previous: Sequence[Mapping] | Mapping | None) -> Badge:
    word, delta = trend(current, previous)
    colour = {"improved": GREEN, "worsened": RED, "unchanged": GREEN if failures(current) == 0 else ORANGE}
    value = word if not delta else f"{word} ({delta:+d} failed)".replace("-", "−")
    return Badge(TREND_BADGE, "health trend", value, colour.get(word, GREY))


def baseline_badge(health: Mapping) -> Badge:
    """``baseline.svg``: the comparison with a baseline (:func:`dhstats.report.against_baseline.badge_words`;
    grey "no baseline" without one)."""
    value, colour = badge_words(health) if "cases" in health else ("no baseline", "grey")
    return Badge(BASELINE_BADGE, "baseline", value, {"green": GREEN, "red": RED, "amber": AMBER}.get(colour, GREY))


def badges(health: Mapping, previous: Sequence[Mapping] | Mapping | None = None,
           with_trend: bool = True) -> list[Badge]:
    """Every badge of a session: overall, one per check (registry order; the checks against a
    baseline only with one), the baseline's, trend."""
    out = [health_badge(health)]
    out += [check_badge(c.name, health["counts"]["checks"].get(c.name, {"passed": 0, "failed": 0, "skipped": 0}),
                        low_resolution(health, c.name) if "cases" in health else None)
            for c in registry.CHECKS if not c.baseline or health.get("baseline")]
    out.append(baseline_badge(health))
    if with_trend:
        out.append(trend_badge(health, previous))
    return out


__all__ = ["IN_PROGRESS", "in_progress_badges", "Badge", "HEALTH_BADGE", "TREND_BADGE", "badges", "check_badge", "failures", "health_badge", "trend",
           "trend_badge"]

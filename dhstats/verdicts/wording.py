"""How the gate words its findings: one place for numbers, for the shape of a failure message
and for the causes several failures can share.

* Numbers: :func:`num` (3 significant figures), :func:`pm` (value ± SE, the SE to 2).
* A failed case's message is a *headline* — its first line: the cause and what to do, whole,
  with at most a few numbers and never a formula — then the *detail* on the next line: every
  number, the σ and its formula (:func:`failure`, :func:`headline_of`, :func:`detail_of`).
  Tables show the headline whole and the detail on demand; pytest and the run pages show both.
* A case that names a known cause carries ``finding`` = a key of :data:`FINDINGS`; the report
  groups the failures that share one into a single finding ("8 runs: the producer reports
  shard-mean SEs; use --reported-se shard-mean"), said once, with its cases under it.

No imports from the rest of the package (pure text and arithmetic): every layer may use this one.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from dhstats.stats import equivalence

SIGNIFICANT = 3


def num(x, digits: int = SIGNIFICANT) -> str:
    """``digits`` significant figures (0.0322, 380, 1.09e+07); ``n/a`` for None; ``nan``/``inf``."""
    if x is None:
        return "n/a"
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, int):
        return str(x) if abs(x) < 10 ** 6 else f"{x:.{digits}g}"
    return f"{x:.{digits}g}"


def pm(x, se) -> str:
    """``1.41 ± 0.15``: the value to 3 significant figures, its SE to 2."""
    return f"{num(x)} ± {num(se, 2)}"


def eta(x) -> str:
    """η as everywhere in the reports (``1.6e-06``)."""
    return "n/a" if x is None else f"{x:g}"


def failure(headline: str, detail: str) -> str:
    """A failed case's message: the headline (cause and remedy) on the first line, the detail
    (numbers, formulas) on the second."""
    return f"{_sentence(headline)}\n{_sentence(detail)}"


def headline_of(message) -> str:
    """The first line of a message (a failure's cause and remedy)."""
    return (str(message or "").splitlines() or [""])[0]


def detail_of(message) -> str:
    """Everything after the first line of a message."""
    return "\n".join(str(message or "").splitlines()[1:])


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 run``, ``3 runs``."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def of_runs(k: int, n: int, verb: str = "fail") -> str:
    """``1 of 4 runs fails``, ``3 of 4 runs fail`` (the verb agrees with k)."""
    return f"{k} of {plural(n, 'run')} {verb + 's' if k == 1 else verb}"


def signed(x: float) -> str:
    """A z with its sign and 3 significant figures (``−95.7``)."""
    return num(x).replace("-", "−")


def percent_of(x: float) -> str:
    """A number already in percent as text: 41 %, 4.1 %, 0.41 % (two significant digits below
    10 %). A fraction (0.41 → "41 %") is :func:`dhstats.stats.equivalence.percent`'s."""
    if not math.isfinite(x):
        return f"{x} %"
    return f"{x:.0f} %" if x >= 10 else f"{x:.2g} %"


# --------------------------------------------------------------------------- agreement checks

CONSTANT_RATIO = ("constant ratio across η ({ratios}): a biased G, not curvature — the "
                  "prediction is off by the same factor at every η; check the gdotv estimator")
APPROXIMATE = ("σ_true ≈ η·σ_G is approximate (no h_base; on the real files η·σ_G/σ_true ranges "
               "0.81–2.71)")


def _stouffer(z: Sequence[float]) -> float:
    """Σz/√R (:func:`dhstats.stats.stats.stouffer`, without numpy)."""
    return sum(z) / math.sqrt(len(z))


def pooled_meaning(z_runs: Mapping[str, float], alone: int, Z: float, k: float,
                   companion: Sequence[float]) -> tuple[str | None, str]:
    """``(finding, meaning)`` of a failing pooled case, from what is known: how many runs fail
    ``alone``, what Z is without the largest run (leave-one-out, information: "drives it" only
    when without it |Z| ≤ k and most other runs do not point the same way; ``z_runs``: each judged run's z),
    and for the linear check whether pooled lin+quad holds at this η (``companion``: the z's of
    its judged per-run cases; none for lin+quad)."""
    top = max(z_runs, key=lambda run: float(z_runs[run]) * math.copysign(1.0, Z))
    rest = [float(z) for run, z in z_runs.items() if run != top]
    without = _stouffer(rest) if rest else math.nan
    where = f"{top} (z = {signed(float(z_runs[top]))})"
    if not alone:
        parts = ["no run fails on its own: a bias shared by the runs, too small for any one run to show "
                 "(the estimator is biased at this batch size)"]
    else:
        parts = [f"{of_runs(alone, len(z_runs))} on {'its' if alone == 1 else 'their'} own"]
    if math.isfinite(without) and abs(without) <= k and len(z_runs) > 2:
        same = sum(float(z) * Z > 0 for z in (z_runs[run] for run in z_runs if run != top))
        if 2 * same > len(rest):  # information, not blame: the others point the same way
            parts.append(f"without {top} Z = {signed(without)}; the other runs point the same way too, "
                         "less precisely")
        else:
            parts.append(f"{where} drives it (without it Z = {signed(without)}; the other runs do not point "
                         "the same way): look at that run first")
    else:
        parts.append(f"shared by the run set, not one batch (largest: {where})")
    finding = None
    if len(companion) >= 2:
        Zq = _stouffer([float(z) for z in companion])
        if abs(Zq) <= k:
            finding = "beyond_linear"
            parts.append(f"pooled lin+quad holds at this η (Z = {signed(Zq)}): curvature, η beyond the linear regime")
        else:
            parts.append(f"pooled lin+quad fails at this η too (Z = {signed(Zq)}): not curvature — a biased gdotv")
    return finding, "; ".join(parts)


# --------------------------------------------------------------------------- equivalence


def _ratio3(x) -> str:
    return "∞" if x is None else signed(float(x))


def against_band(case: Mapping) -> str | None:
    """A pooled case judged under --tolerance δ as its interval against the band:
    "1.28 [1.12, 1.45] within 1 ± 0.5: demonstrated", "1.62 [1.55, 1.7] outside 1 ± 0.5",
    "1.34 [1.18, 1.51] vs 1 ± 0.5: not demonstrated" (fields ``ratio``, ``ratio_lo``,
    ``ratio_hi`` — null: unbounded — ``tolerance``, ``reason``). None without a tolerance or a ratio."""
    tol, ratio = case.get("tolerance"), case.get("ratio")
    if not isinstance(tol, (int, float)) or not isinstance(ratio, (int, float)):
        return None
    lo = "−∞" if case.get("ratio_lo") is None else _ratio3(case["ratio_lo"])
    interval = f"{_ratio3(ratio)} [{lo}, {_ratio3(case.get('ratio_hi'))}]"
    band = f"1 ± {tol:g}"
    reason = case.get("reason")
    if case.get("outcome") == "passed":
        return f"{interval} within {band}: demonstrated"
    if reason == "out_of_tolerance":
        return f"{interval} outside {band}"
    if reason == "not_demonstrated":
        return f"{interval} vs {band}: not demonstrated"
    return f"{interval} vs {band}: {case.get('outcome')}" + (f" ({reason})" if reason else "")


# --------------------------------------------------------------------------- shared causes

# key → (what it is, what to do): the finding's words, said once for all its cases.
FINDINGS: dict[str, tuple[str, str]] = {
    "shard_mean_se": ("the producer reports shard-mean SEs (ρ·num_shards ≈ 1)",
                      "use --reported-se shard-mean (or dhstats_reported_se = shard-mean in the ini)"),
    "biased_g": ("the prediction is off by the same factor at every η: a biased G (gdotv), not curvature",
                 "check the gdotv estimator"),
    "beyond_linear": ("η is beyond the linear regime: lin+quad holds where ηG fails",
                      "judge these η by lin+quad, or use smaller η"),
    "shared_bias": ("a bias shared by the runs of a run set",
                    "see the pooled ratio and each run's ratio (the per-run pooled-ratio figure)"),
}


def finding_headline(key: str, cases: Sequence[dict]) -> str:
    """``8 runs: the producer reports shard-mean SEs (…); use --reported-se shard-mean``."""
    what, todo = FINDINGS[key]
    runs = {(c.get("run_set"), c.get("run")) for c in cases if c.get("run") is not None}
    sets = {c.get("run_set") for c in cases if c.get("run") is None}
    who = [plural(len(runs), "run")] if runs else []
    who += [plural(len(sets), "run set")] if sets else []
    return f"{' and '.join(who)}: {what}; {todo}"



def reach(resolution: float | None, passed: bool = True) -> str:
    """What the difference test could see (80 % power): "would detect a bias of ±33 % or more"
    for a pass, "resolution ±33 %" for a failure; ``resolution`` None or ∞: Σ ΔH_true/σ = 0."""
    if resolution is not None and math.isnan(resolution):
        return "resolution n/a"
    if resolution is None or math.isinf(resolution):
        return "could not detect a bias of any size (Σ ΔH_true/σ = 0)"
    if not passed:
        return f"resolution ±{equivalence.percent(resolution)}"
    return f"would detect a bias of ±{equivalence.percent(resolution)} or more"


__all__ = ["against_band", "pooled_meaning", "reach", "APPROXIMATE", "CONSTANT_RATIO", "FINDINGS", "detail_of", "eta", "failure", "finding_headline", "headline_of", "num", "of_runs",
           "percent_of", "plural", "pm", "signed"]

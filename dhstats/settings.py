"""Gate settings: declared once, parsed and validated in one pytest-free place.

Every option has one :class:`Option` row (name, default as written, help). The plugin adds
them as ``--name`` command-line options and ``dhstats_name`` ini keys; the CLI reuses
:func:`parse` on its own argparse values. Precedence (command line → ini → default) is
resolved by the caller, which passes the winning *text* of each option to :func:`parse`.

A bad value raises :class:`SettingsError` with the option's flag in the message; the plugin
turns it into ``pytest.UsageError`` (exit 4), the CLI into exit status 2.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path


class SettingsError(ValueError):
    """An option value that cannot be used (the message names the option)."""


@dataclass(frozen=True)
class Option:
    name: str  # python name; flag --name-with-dashes, ini key dhstats_name ("sigma" sets Settings.k)
    default: str  # as written on the command line
    help: str
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option("sigma", "3", "k: a case fails when |z| > k (default 3)"),
    Option("holm", "", "judge z-checks (per case and pooled) by Holm–Bonferroni at family-wise level ALPHA "
                       "instead of |z| ≤ k"),
    Option("ratio_bounds", "0.5,2", "LO,HI for the truncation ratio (default 0.5,2)"),
    Option("keep_quantiles", "0.99,0.95,0.90", "keep-quantiles of the truncation check (default 0.99,0.95,0.90)"),
    Option("min_ess_fraction", "0.1", "minimum ESS/n (default 0.1)"),
    Option("khat_max", "auto", "maximum Pareto k̂ (default auto: min(1 − 1/log10 n, 0.7))"),
    Option("se_ratio_bounds", "1/3,3", "LO,HI for reported/measured SE (default 1/3,3)"),
    Option("scaling_bounds", "1/2,2", "LO,HI for se_scaling: a run set's σ·√E over the largest-E set's (default 1/2,2)"),
    Option("tolerance", "", "judge the pooled agreement cases by equivalence: the pooled ratio within 1 ± δ "
                            "demonstrated by two one-sided tests (off by default; e.g. 0.2)"),
    Option("equivalence_alpha", "0.05", "α of each one-sided test under --tolerance (default 0.05: a 90 % interval)"),
    Option("resolution_warn", "0.5", "a check that passes but cannot see a relative bias under this is "
                                     "low resolution, its badge amber (default 0.5)"),
    Option("reported_se", "total", "convention of the producer's reported SEs: total or shard-mean (×num_shards)",
           ("total", "shard-mean")),
    Option("max_plots", "24", "figures rendered for failing cases per session, -n included (default 24, ≈ 0.05 s each; -1: no limit; "
                              "0: none); later failures name the `dhstats plot` command"),
    Option("max_file_mb", "1024", "largest results.json read, in MB (default 1024); larger files are invalid input"),
    Option("reports", "reports", "directory for report.html, health.json, runs/, badges/ (default reports/, "
                                 "relative to where pytest was started)"),
    Option("history", "", "append one line per gate session to this JSONL file (default REPORTS/history.jsonl; "
                          "'none' to disable)"),
)
OPTION = {o.name: o for o in OPTIONS}


@dataclass(frozen=True)
class Settings:
    """Thresholds of the checks (defaults: checks.md). ``khat_max=None``: min(1 − 1/log10 n, 0.7)."""

    k: float = 3.0  # a case fails when |z| > k (flag --sigma, ini dhstats_sigma)
    holm: float | None = None
    ratio_bounds: tuple[float, float] = (0.5, 2.0)
    keep_quantiles: tuple[float, ...] = (0.99, 0.95, 0.90)
    min_ess_fraction: float = 0.1
    khat_max: float | None = None
    se_ratio_bounds: tuple[float, float] = (1 / 3, 3.0)
    scaling_bounds: tuple[float, float] = (0.5, 2.0)
    reported_se: str = "total"  # or "shard-mean"
    tolerance: float | None = None  # δ: pooled agreement judged by TOST against [1 − δ, 1 + δ]
    equivalence_alpha: float = 0.05
    resolution_warn: float = 0.5

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class SessionOptions:
    """What a gate session needs beyond the thresholds (not part of health.json's settings)."""

    settings: Settings = field(default_factory=Settings)
    max_plots: int = 24  # -1: no limit
    max_file_bytes: int = 1024 * 2**20
    reports: Path | None = None  # None: no output files (a library session not told where to write)
    history: Path | None = None  # None: no history file


# --------------------------------------------------------------------------- parsing


def _number(text: str, name: str) -> float:
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError, OverflowError):
        raise SettingsError(f"{OPTION[name].flag}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SettingsError(f"{OPTION[name].flag}: {text!r} is not a finite number")
    return value


def _integer(text: str, name: str) -> int:
    value = _number(text, name)
    if value != int(value):
        raise SettingsError(f"{OPTION[name].flag}: {text!r} is not a whole number")
    return int(value)


def _numbers(text: str, name: str, count: int | None = None) -> tuple[float, ...]:
    values = tuple(_number(t, name) for t in text.replace(";", ",").split(",") if t.strip())
    if count is not None and len(values) != count:
        raise SettingsError(f"{OPTION[name].flag}: expected {count} numbers, got {text!r}")
    return values


def _bounds(text: str, name: str) -> tuple[float, float]:
    lo, hi = _numbers(text, name, 2)
    if not 0 < lo < hi:
        raise SettingsError(f"{OPTION[name].flag}: need 0 < LO < HI, got {text!r}")
    return lo, hi


def _texts(raw: Mapping[str, object]):
    def text(name: str) -> str:
        value = raw.get(name)
        return OPTION[name].default if value is None else str(value).strip()
    return text


def parse_settings(raw: Mapping[str, object]) -> Settings:
    """The thresholds (:class:`Settings`) from their winning texts; missing names take the
    default. What the CLI's tables and plots need, without a reports directory."""
    text = _texts(raw)
    k = _number(text("sigma"), "sigma")  # the threshold k keeps its flag --sigma
    if not k > 0:
        raise SettingsError(f"--sigma: must be > 0, got {text('sigma')!r}")
    holm = _number(text("holm"), "holm") if text("holm") else None
    if holm is not None and not 0 < holm < 1:
        raise SettingsError(f"--holm: ALPHA must be in (0, 1), got {text('holm')!r}")
    quantiles = _numbers(text("keep_quantiles"), "keep_quantiles")
    if not quantiles or not all(0 < q <= 1 for q in quantiles):
        raise SettingsError(f"--keep-quantiles: each must be in (0, 1], got {text('keep_quantiles')!r}")
    min_ess = _number(text("min_ess_fraction"), "min_ess_fraction")
    if not 0 <= min_ess <= 1:
        raise SettingsError(f"--min-ess-fraction: must be in [0, 1], got {text('min_ess_fraction')!r}")
    khat = text("khat_max")
    khat_max = None if khat in ("", "auto") else _number(khat, "khat_max")
    tolerance = _number(text("tolerance"), "tolerance") if text("tolerance") else None
    if tolerance is not None and not tolerance > 0:
        raise SettingsError(f"--tolerance: δ must be > 0, got {text('tolerance')!r}")
    alpha = _number(text("equivalence_alpha"), "equivalence_alpha")
    if not 0 < alpha < 0.5:
        raise SettingsError(f"--equivalence-alpha: must be in (0, 0.5), got {text('equivalence_alpha')!r}")
    warn = _number(text("resolution_warn"), "resolution_warn")
    if not warn > 0:
        raise SettingsError(f"--resolution-warn: must be > 0, got {text('resolution_warn')!r}")
    reported = text("reported_se")
    if reported not in OPTION["reported_se"].choices:
        raise SettingsError(f"--reported-se: total or shard-mean, got {reported!r}")
    return Settings(
        k=k, holm=holm,
        ratio_bounds=_bounds(text("ratio_bounds"), "ratio_bounds"),
        keep_quantiles=quantiles, min_ess_fraction=min_ess, khat_max=khat_max,
        se_ratio_bounds=_bounds(text("se_ratio_bounds"), "se_ratio_bounds"),
        scaling_bounds=_bounds(text("scaling_bounds"), "scaling_bounds"),
        reported_se=reported, tolerance=tolerance, equivalence_alpha=alpha, resolution_warn=warn,
    )


def parse(raw: Mapping[str, object], start: Path | None = None) -> SessionOptions:
    """Options of a gate session from their winning texts (missing names take the default).
    ``start`` is the directory relative paths are taken from (pytest's invocation directory).

    ``reports`` absent from ``raw`` (a library call such as ``parse({"reported_se": …})``):
    no reports directory and no history, so :class:`dhstats.session.Session` writes nothing
    the caller did not ask for. Present, even as None (the plugin passes every option), it
    takes the option's default, ``reports/``."""
    text = _texts(raw)
    settings = parse_settings(raw)
    max_plots = _integer(text("max_plots"), "max_plots")
    if max_plots < -1:
        raise SettingsError(f"--max-plots: -1 (no limit) or ≥ 0, got {text('max_plots')!r}")
    max_mb = _number(text("max_file_mb"), "max_file_mb")
    if not max_mb > 0:
        raise SettingsError(f"--max-file-mb: must be > 0, got {text('max_file_mb')!r}")
    start = Path.cwd() if start is None else Path(start)
    if "reports" not in raw:
        return SessionOptions(settings, max_plots, int(max_mb * 2**20), None, None)
    reports = (start / text("reports")).resolve()
    if reports.exists() and not reports.is_dir():
        raise SettingsError(f"--reports: {reports} exists and is not a directory")
    hist = text("history")
    # absolute but not resolved: a symbolic link given as --history is refused, not followed
    history = None if hist.lower() == "none" else Path(os.path.abspath(start / hist)) if hist else reports / "history.jsonl"
    return SessionOptions(settings, max_plots, int(max_mb * 2**20), reports, history)

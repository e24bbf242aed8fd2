"""Gate settings: declared once, parsed and validated in one pytest-free place.

Every option has one :class:`Option` row (name, default as written, help). The plugin adds
them as ``--name`` command-line options and ``dhstats_name`` ini keys; the CLI reuses
:func:`parse` on its own argparse values. Precedence (command line → ini → default) is
resolved by the caller, which passes the winning *text* of each option to :func:`parse`.

A bad value raises :class:`SettingsError` with the option's flag in the message; the plugin
turns it into ``pytest.UsageError`` (exit 4), the CLI into exit status 2. Every number is read
as a binary float (``A`` or ``A/B``, at most 64 characters: no arbitrary-precision arithmetic on
user input) and must lie within its option's :attr:`Option.limits`, printed in the help.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path


class SettingsError(ValueError):
    """An option value that cannot be used (the message names the option)."""


def limit_text(x: float) -> str:
    """A limit as written in the help: 1048576, 0.5, 1e-12."""
    return str(int(x)) if x == int(x) else f"{x:g}"


@dataclass(frozen=True)
class Option:
    name: str  # python name; flag --name-with-dashes, ini key dhstats_name
    default: str  # as written on the command line
    help: str
    choices: tuple[str, ...] = ()
    limits: tuple[float, float] | None = None  # every number of the value within [lo, hi]
    aliases: tuple[str, ...] = ()  # older names: flags --alias, ini keys dhstats_alias
    metavar: str = "VALUE"  # the value's name in --help

    @property
    def flag(self) -> str:
        """The flag as named in messages (``--k/--sigma`` with its alias)."""
        return "/".join(self.flags)

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple("--" + n.replace("_", "-") for n in (self.name, *self.aliases))

    @property
    def ini_keys(self) -> tuple[str, ...]:
        return tuple(f"dhstats_{n}" for n in (self.name, *self.aliases))

    @property
    def described(self) -> str:
        """The help with the option's limits, as printed by ``--help`` and for the ini key."""
        if self.limits is None:
            return self.help
        return f"{self.help} [allowed: {limit_text(self.limits[0])} to {limit_text(self.limits[1])}]"

    @property
    def argparse_help(self) -> str:
        """:attr:`described` as argparse wants it: a literal % doubled (argparse %-formats help)."""
        return self.described.replace("%", "%%")


OPTIONS: tuple[Option, ...] = (
    Option("k", "3", "a z-check fails when |z| > k (default 3; --sigma and dhstats_sigma are aliases)",
           limits=(0.1, 20), aliases=("sigma",), metavar="K"),
    Option("holm", "", "judge z-checks (per case and pooled) by Holm–Bonferroni at family-wise level ALPHA "
                       "instead of |z| ≤ k", limits=(1e-12, 0.5), metavar="ALPHA"),
    Option("ratio_bounds", "0.5,2", "LO,HI for the truncation ratio (default 0.5,2)",
           limits=(1e-3, 1e3), metavar="LO,HI"),
    Option("keep_quantiles", "0.99,0.95,0.90", "keep-quantiles of the truncation check (default 0.99,0.95,0.90; at most 20)", limits=(0.01, 1), metavar="Q,..."),
    Option("min_ess_fraction", "0.1", "minimum ESS/n (default 0.1)", limits=(0, 1), metavar="F"),
    Option("khat_max", "auto", "maximum Pareto k̂ (default auto: min(1 − 1/log10 n, 0.7))",
           limits=(0.01, 2), metavar="K"),
    Option("se_ratio_bounds", "1/3,3", "LO,HI for reported/measured SE (default 1/3,3)",
           limits=(1e-3, 1e3), metavar="LO,HI"),
    Option("scaling_bounds", "1/2,2", "LO,HI for se_scaling: a run set's σ·√E over the largest-E set's "
                                      "(default 1/2,2)", limits=(1e-3, 1e3), metavar="LO,HI"),
    Option("tolerance", "", "judge the pooled agreement cases by equivalence: the pooled ratio within 1 ± δ "
                            "demonstrated by two one-sided tests (off by default; e.g. 0.2)",
           limits=(1e-3, 10), metavar="DELTA"),
    Option("equivalence_alpha", "0.05", "α of each one-sided test under --tolerance (default 0.05: a 90 % "
                                        "interval)", limits=(1e-6, 0.49), metavar="ALPHA"),
    Option("resolution_warn", "0.5", "a check that passes but cannot see a relative bias under this is "
                                     "low resolution, its badge amber (default 0.5)",
           limits=(1e-3, 100), metavar="W"),
    Option("baseline", "", "compare with a baseline: a directory of run sets, or a health.json (schema ≥ 3) of an "
                           "earlier session; run sets matched by name (one on each side: whatever their names)",
           metavar="PATH"),
    Option("baseline_tolerance", "", "judge the baseline comparison by equivalence: the pooled ratio moved by less "
                                     "than ±δ, demonstrated by two one-sided tests (off by default; e.g. 0.2)",
           limits=(1e-3, 10), metavar="δ"),
    Option("lock_timeout", "60", "seconds a gate session waits for another session writing the same reports "
                                 "directory, then exits 4 naming it (default 60)", limits=(0, 86400), metavar="S"),
    Option("reported_se", "total", "convention of the producer's reported SEs: total or shard-mean (×num_shards)",
           ("total", "shard-mean")),
    Option("max_plots", "24", "figures rendered for failing cases per session, -n included (default 24, ≈ 0.05 s each; -1: no limit; "
                              "0: none); later failures name the `dhstats plot` command",
           limits=(-1, 100_000), metavar="N"),
    Option("max_file_mb", "1024", "largest results.json read, in MB (default 1024); larger "
                                  "files are invalid input", limits=(1e-3, 2**20), metavar="MB"),
    Option("reports", "reports", "directory for report.html, health.json, runs/, badges/ (default reports/, "
                                 "relative to where pytest was started)", metavar="DIR"),
    Option("history", "", "append one line per gate session to this JSONL file (default REPORTS/history.jsonl; "
                          "'none' to disable)", metavar="FILE"),
)
OPTION = {name: o for o in OPTIONS for name in (o.name, *o.aliases)}


def winning_text(option: Option, command_line: object, ini: Mapping[str, object]) -> str:
    """Precedence in one place: the command line, then the option's ini key, then its aliases'
    keys (``dhstats_k``, then ``dhstats_sigma``), then the default. ``ini`` maps each key to its
    text; a key not set is absent or empty."""
    if command_line is not None:
        return str(command_line).strip()
    for key in option.ini_keys:
        text = str(ini.get(key) or "").strip()
        if text:
            return text
    return option.default


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
    inifile: str | None = None  # the pytest configuration file these settings were read from (None: none)
    baseline_tolerance: float | None = None  # δ: the comparison with a baseline judged by TOST against ±δ

    def to_dict(self) -> dict:
        """health.json's ``settings``; ``baseline_tolerance`` only when set (a session without a
        baseline keeps the settings of earlier sessions, so that their trend compares)."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if out["baseline_tolerance"] is None:
            del out["baseline_tolerance"]
        return out


@dataclass(frozen=True)
class SessionOptions:
    """What a gate session needs beyond the thresholds (not part of health.json's settings)."""

    settings: Settings = field(default_factory=Settings)
    max_plots: int = 24  # -1: no limit
    max_file_bytes: int = 1024 * 2**20
    reports: Path | None = None  # None: no output files (a library session not told where to write)
    history: Path | None = None  # None: no history file
    baseline: Path | None = None  # --baseline: a directory of run sets or a health.json (None: no comparison)
    lock_timeout: float = 60.0  # seconds to wait for another session holding the reports directory


# --------------------------------------------------------------------------- parsing


MAX_NUMBER_TEXT = 64  # characters of one number as written


def _float(text: str) -> float:
    """``A`` or ``A/B`` as binary floats (never a :class:`fractions.Fraction`: ``1e100000000``
    is inf here, not a hundred-million-digit integer)."""
    if len(text) > MAX_NUMBER_TEXT:
        raise ValueError(text)
    top, slash, bottom = text.partition("/")
    value = float(top)
    return value / float(bottom) if slash else value


def _number(text: str, name: str) -> float:
    """One number of option ``name``: finite and within the option's limits."""
    option = OPTION[name]
    try:
        value = _float(text.strip())
    except (ValueError, ZeroDivisionError, OverflowError):
        raise SettingsError(f"{option.flag}: {text.strip()[:MAX_NUMBER_TEXT]!r} is not a number") from None
    if not math.isfinite(value):
        raise SettingsError(f"{option.flag}: {text.strip()!r} is not a finite number")
    if option.limits is not None and not option.limits[0] <= value <= option.limits[1]:
        lo, hi = map(limit_text, option.limits)
        raise SettingsError(f"{option.flag}: {text.strip()!r} is outside [{lo}, {hi}]")
    return value


def _integer(text: str, name: str) -> int:
    value = _number(text, name)
    if value != int(value):
        raise SettingsError(f"{OPTION[name].flag}: {text!r} is not a whole number")
    return int(value)


def _numbers(text: str, name: str, count: int | None = None) -> tuple[float, ...]:
    parts = [t for t in text.replace(";", ",").split(",") if t.strip()]
    if len(parts) > 20:
        raise SettingsError(f"{OPTION[name].flag}: at most 20 numbers, got {len(parts)}")
    values = tuple(_number(t, name) for t in parts)
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
        option = OPTION[name]
        value = next((raw[n] for n in (option.name, *option.aliases) if raw.get(n) is not None), None)
        return option.default if value is None else str(value).strip()
    return text


def parse_settings(raw: Mapping[str, object]) -> Settings:
    """The thresholds (:class:`Settings`) from their winning texts; missing names take the
    default. What the CLI's tables and plots need, without a reports directory."""
    text = _texts(raw)
    k = _number(text("k"), "k")
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
    if not 0 < alpha < 0.5:  # 0.5 itself: a 0 % interval
        raise SettingsError(f"--equivalence-alpha: must be in (0, 0.5), got {text('equivalence_alpha')!r}")
    warn = _number(text("resolution_warn"), "resolution_warn")
    if not warn > 0:
        raise SettingsError(f"--resolution-warn: must be > 0, got {text('resolution_warn')!r}")
    base_tol = _number(text("baseline_tolerance"), "baseline_tolerance") if text("baseline_tolerance") else None
    if base_tol is not None and not base_tol > 0:
        raise SettingsError(f"--baseline-tolerance: δ must be > 0, got {text('baseline_tolerance')!r}")
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
        baseline_tolerance=base_tol,
    )


def baseline_path(text: str, start: Path | None = None) -> Path | None:
    """``--baseline``: an existing directory or regular file, relative to ``start`` (None: no
    baseline). What it holds is read by :mod:`dhstats.gate.baseline_source`."""
    text = text.strip()
    if not text:
        return None
    path = (Path.cwd() if start is None else Path(start)) / text
    if not (path.is_dir() or path.is_file()):
        raise SettingsError(f"--baseline: {text!r} is neither a directory of run sets nor a health.json file")
    return path.resolve()


def parse(raw: Mapping[str, object], start: Path | None = None, inifile: str | os.PathLike | None = None) -> SessionOptions:
    """Options of a gate session from their winning texts (missing names take the default).
    ``start`` is the directory relative paths are taken from (pytest's invocation directory);
    ``inifile`` the configuration file in force (recorded in the settings).

    ``reports`` absent from ``raw`` (a library call such as ``parse({"reported_se": …})``):
    no reports directory and no history, so :class:`dhstats.session.Session` writes nothing
    the caller did not ask for. Present, even as None (the plugin passes every option), it
    takes the option's default, ``reports/``."""
    text = _texts(raw)
    settings = parse_settings(raw)
    if inifile is not None:
        settings = replace(settings, inifile=os.fspath(inifile))
    max_plots = _integer(text("max_plots"), "max_plots")
    if max_plots < -1:
        raise SettingsError(f"--max-plots: -1 (no limit) or ≥ 0, got {text('max_plots')!r}")
    max_mb = _number(text("max_file_mb"), "max_file_mb")
    if not max_mb > 0:
        raise SettingsError(f"--max-file-mb: must be > 0, got {text('max_file_mb')!r}")
    start = Path.cwd() if start is None else Path(start)
    lock_timeout = _number(text("lock_timeout"), "lock_timeout")
    if "reports" not in raw:
        return SessionOptions(settings, max_plots, int(max_mb * 2**20), None, None,
                              baseline_path(text("baseline"), start), lock_timeout)
    reports = (start / text("reports")).resolve()
    if reports.exists() and not reports.is_dir():
        raise SettingsError(f"--reports: {reports} exists and is not a directory")
    hist = text("history")
    # absolute but not resolved: a symbolic link given as --history is refused, not followed
    history = None if hist.lower() == "none" else Path(os.path.abspath(start / hist)) if hist else reports / "history.jsonl"
    return SessionOptions(settings, max_plots, int(max_mb * 2**20), reports, history,
                          baseline_path(text("baseline"), start), lock_timeout)


# --------------------------------------------------------------------------- where the configuration came from

SAFE_FORMS = ("pytest checks/ --results DIR (the test path first)", "--results=DIR", "dhstats gate --results DIR")


def _within(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def configuration_from_data(inifile: Path | None, invocation_dir: Path, results: list[Path]) -> bool:
    """Whether pytest's configuration file ``inifile`` comes from the data: its directory is a
    results directory, lies inside one or above one, and is not the invocation directory or
    above it (a file at or above where pytest was started is the user's own, even when the
    results directory lies below it)."""
    if inifile is None:
        return False
    home = Path(inifile).resolve().parent
    start = Path(invocation_dir).resolve()
    if _within(start, home):
        return False
    return any(_within(home, r) or _within(r, home) for r in (Path(x).resolve() for x in results))


def configuration_refusal(inifile: Path | None, user_inifile: Path | None, invocation_dir: Path,
                          results: list[Path]) -> str | None:
    """Why a bare ``pytest`` command line may not judge, or None.

    ``inifile``: the configuration file pytest took (before the gate could see the command line);
    ``user_inifile``: the one pytest takes from the same command line without the ``--results``
    directories (pytest picks its ini file from the path-like arguments, before any plugin has
    declared ``--results``: ``pytest --results D checks/`` searches from ``D`` and its parents).
    Refused: a file from the data (:func:`configuration_from_data`; pytest has already applied
    it, including any ``pythonpath`` and ``-p`` plugin it names), or the user's file dropped
    because a results directory was searched instead. Not called when ``-c`` is given."""
    flag = "dhstats: refusing to judge: "
    safe = "; safe forms: " + ", ".join(SAFE_FORMS)
    if configuration_from_data(inifile, invocation_dir, results):
        return (f"{flag}pytest took its configuration from {inifile}, inside or above a results directory "
                f"(configuration and code come from the user, never from the data){safe}")
    if inifile != user_inifile:
        took = f"{inifile}" if inifile is not None else "no configuration file"
        mine = f"{user_inifile}" if user_inifile is not None else "none"
        return (f"{flag}pytest searched for its configuration from a --results directory and took {took} "
                f"instead of the one it takes without it ({mine}){safe}")
    return None

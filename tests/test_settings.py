"""Option values at their edges: every number bounded, parsed as a float, refused naming the option.

NaN, ±inf, negative, zero, huge and tiny values of each numeric option either lie within the
option's limits (and then a whole session on a small run set judges without an internal error
and prints its summary) or raise :class:`SettingsError` naming the flag (the plugin's exit 4).
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from dhstats.session import Session
from dhstats.load.settings import OPTION, OPTIONS, SettingsError, limit_text, parse
from dhstats.report.terminal import summary_lines

from builders import NOISE, write_run

NUMERIC = [o for o in OPTIONS if o.limits is not None]
PAIRS = {"ratio_bounds", "se_ratio_bounds", "scaling_bounds"}  # LO,HI
EDGES = ["nan", "inf", "-inf", "-1", "0", "1e308", "1e-308", "1e-200", "1e100000000", "-1e100000000", "1/0"]


def _value(name: str, number: str) -> str:
    """``number`` where option ``name`` reads it (the HI of a pair: LO fixed at its lower limit)."""
    return f"{limit_text(OPTION[name].limits[0])},{number}" if name in PAIRS else number


def _within(name: str, number: str) -> bool:
    lo, hi = OPTION[name].limits
    try:
        x = float(number)
    except ValueError:
        return False
    inside = lo <= x <= hi
    if name in PAIRS:
        return inside and x > lo
    if name in ("max_plots",):
        return inside and x == int(x)
    if name in ("max_file_mb", "tolerance"):
        return inside and x > 0
    return inside


@pytest.mark.parametrize("number", EDGES)
@pytest.mark.parametrize("name", [o.name for o in NUMERIC])
def test_every_numeric_option_is_bounded_and_named(name, number):
    raw = {name: _value(name, number)}
    if _within(name, number):
        parse(raw)
        return
    with pytest.raises(SettingsError) as exc:
        parse(raw)
    assert str(exc.value).startswith(OPTION[name].flag + ":")


@pytest.mark.slow
def test_each_limit_is_printed_by_help():
    """``pytest --help`` prints every option with its limits (argparse %-formats help texts:
    the literal "%" of --equivalence-alpha's help once crashed it)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "dhstats.pytest_plugin.plugin", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    text = " ".join(out.stdout.split())
    for o in NUMERIC:
        assert f"[allowed: {limit_text(o.limits[0])} to {limit_text(o.limits[1])}]" in text, o.name


@pytest.mark.parametrize("name, value", [
    ("max_file_mb", "1e308"), ("resolution_warn", "1e-200"), ("sigma", "1e100000000"), ("tolerance", "1e308"),
    ("sigma", "1e300"), ("sigma", "9" * 100_000)])
def test_the_reported_edge_values_are_refused_at_once(name, value):
    start = time.perf_counter()
    with pytest.raises(SettingsError, match=OPTION[name].flag):
        parse({name: value})
    assert time.perf_counter() - start < 0.1  # no arbitrary-precision arithmetic on the input


def test_fractions_are_read_as_floats():
    s = parse({"se_ratio_bounds": "1/3,3", "sigma": "7/2"}).settings
    assert s.se_ratio_bounds == (1 / 3, 3.0) and s.k == 3.5


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("edges") / "E_128"
    write_run(root, "run_01", **NOISE)
    write_run(root, "run_02", seed=2, **NOISE)
    return root


def _limits():
    for o in NUMERIC:
        for limit in o.limits:
            lo, hi, at = limit_text(o.limits[0]), limit_text(o.limits[1]), limit_text(limit)
            yield o.name, (f"{lo},{hi}" if o.name in PAIRS else at)


@pytest.mark.parametrize("name, value", list(_limits()))
def test_a_session_at_each_limit_judges_without_internal_error(small_set, tmp_path, name, value):
    raw = {"reports": str(tmp_path / "reports"), "history": "none", "max_plots": "0", name: value}
    if name in ("equivalence_alpha", "resolution_warn"):
        raw["tolerance"] = "0.5"
    health = Session(parse(raw, tmp_path), [small_set]).run()
    assert not [c for c in health["cases"] if c["reason"] == "internal_error"]
    assert summary_lines(health)  # the terminal summary formats every number


def test_k_and_its_alias_sigma():
    """--k is the threshold's name, --sigma (dhstats_sigma) its alias: the command line wins,
    then dhstats_k, then dhstats_sigma, then the default."""
    from dhstats.load.settings import winning_text

    k = OPTION["k"]
    assert OPTION["sigma"] is k and k.flags == ("--k", "--sigma") and k.ini_keys == ("dhstats_k", "dhstats_sigma")
    assert parse({"sigma": "5"}).settings.k == 5.0 and parse({"k": "4", "sigma": "5"}).settings.k == 4.0
    assert winning_text(k, None, {"dhstats_k": "", "dhstats_sigma": "5"}) == "5"
    assert winning_text(k, None, {"dhstats_k": "4", "dhstats_sigma": "5"}) == "4"
    assert winning_text(k, "6", {"dhstats_k": "4", "dhstats_sigma": "5"}) == "6"
    assert winning_text(k, None, {}) == "3"
    tol = OPTION["tolerance"]
    assert winning_text(tol, None, {"dhstats_tolerance": "0.5"}) == "0.5" and winning_text(tol, None, {}) == ""


def test_the_assumed_line_names_the_configuration_file():
    from dhstats.report.pages import assumed

    assert "configuration: /repo/pytest.ini" in assumed({"k": 3.0, "inifile": "/repo/pytest.ini"})
    assert "configuration: none (defaults and the command line)" in assumed({"k": 3.0, "inifile": None})


def test_the_assumed_line_shows_the_configuration_relative_to_where_the_session_ran(tmp_path, monkeypatch):
    from dhstats.report.pages import assumed

    monkeypatch.chdir(tmp_path)
    assert "configuration: sub/pytest.ini" in assumed({"k": 3.0, "inifile": str(tmp_path / "sub" / "pytest.ini")})
    assert parse({}, inifile=Path("/repo/pytest.ini")).settings.inifile == "/repo/pytest.ini"
    assert parse({}).settings.inifile is None

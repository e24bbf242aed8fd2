"""Safe names (dhstats.load.names): readable, bounded, distinct for distinct names."""
from __future__ import annotations

import hashlib

import pytest

from dhstats.load import names
from dhstats.load.names import NAME_MAX, clashes, safe_name, text_name


def _h(s: str) -> str:
    return hashlib.sha1(s.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def test_plain_names_are_kept_and_others_hashed():
    assert safe_name("run_01") == "run_01"
    assert safe_name("run_a b") == f"run_a_b-{_h('run_a b')}"
    assert safe_name("x" * (NAME_MAX + 1)) == "x" * NAME_MAX + f"-{_h('x' * (NAME_MAX + 1))}"
    assert safe_name(".hidden") == f"_hidden-{_h('.hidden')}"


def test_a_plain_name_that_looks_sanitised_is_hashed_too():
    twin = safe_name("run_a b")  # plain characters, ends in -<8 hex>
    assert safe_name(twin) == f"{twin}-{_h(twin)}" != safe_name("run_a b")
    assert safe_name("run_v-1234") == "run_v-1234"  # not 8 hex digits: kept


def test_distinct_names_stay_distinct():
    family = ["run_a b", "run_a_b", "run_a:b", safe_name("run_a b"), safe_name("run_a:b"),
              safe_name(safe_name("run_a b")), "run_a_b-" + "0" * 8, "run_a_b-" + "0" * 8 + "-" + "0" * 8]
    assert len({safe_name(n) for n in family}) == len(family)
    assert clashes([("E", n) for n in family]) == []


def test_clashes_name_both_runs(monkeypatch):
    monkeypatch.setattr(names, "safe_name", lambda n: "same")  # as a sha1 prefix collision would
    assert clashes([("E", "run_x"), ("E", "run_y"), ("E", "run_x")]) == [("E/run_x", "E/run_y")]


def test_text_name_escapes_bytes_that_are_not_utf8():
    assert text_name("run_ok") == "run_ok"
    assert text_name(b"run_\xff".decode("utf-8", "surrogateescape")) == "run_\\udcff"


def test_a_sha1_prefix_collision_is_a_discovery_error(tmp_path, monkeypatch):
    from dhstats.load.results import DiscoveryError, discover

    for run in ("run_x y", "run_x:y"):
        (tmp_path / "E_4" / run).mkdir(parents=True)
    monkeypatch.setattr(names, "safe_name", lambda n: n[:5])
    with pytest.raises(DiscoveryError, match="would share one page and test id"):
        discover([tmp_path / "E_4"])

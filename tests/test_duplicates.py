"""Runs must be independent: a run that repeats an earlier one (the same file through a link,
the same bytes, or the same sampled sequences written another way) is invalid input,
``duplicate_run``, naming the first; it never counts as evidence in a pooled case."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from dhstats.report.confidence import run_set_sentence
from dhstats.gate import summaries
from dhstats.load.duplicates import DuplicateIndex, Fingerprint
from dhstats.gate.gate import Gate
from dhstats.load.records import ProblemReason, RunFile
from dhstats.load.results import discover, load_fingerprinted, load_runs
from dhstats.session import Session
from dhstats.load.settings import parse

from builders import noise, write_run
from paths import REAL, needs_real

POOLED = ("pooled_linear_agreement", "pooled_linquad_agreement")


def session(tmp_path: Path, roots, **options) -> Session:
    return Session(parse({"reports": str(tmp_path / "reports"), "history": "none", **options}, tmp_path), roots)


def reformatted(src: Path, dst: Path) -> None:
    """The same document written another way: indented, keys in reverse order."""
    def reverse(x):
        if isinstance(x, dict):
            return {k: reverse(x[k]) for k in reversed(list(x))}
        return [reverse(v) for v in x] if isinstance(x, list) else x

    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(reverse(json.loads(src.read_text())), indent=2))


@pytest.fixture
def copied(tmp_path) -> list[Path]:
    """E_128: three distinct runs and five repeats of them, one of each kind; E_256: a
    distinct run and a copy of E_128/run_02."""
    a, b = tmp_path / "E_128", tmp_path / "E_256"
    for i in (1, 2, 3):
        write_run(a, f"run_{i:02d}", n=128, seed=i, **noise(128))
    (a / "run_04").mkdir()
    os.symlink(a / "run_01" / "results.json", a / "run_04" / "results.json")  # a file symlink
    os.symlink(a / "run_02", a / "run_05")  # a directory symlink
    (a / "run_06").mkdir()
    os.link(a / "run_03" / "results.json", a / "run_06" / "results.json")  # a hard link
    (a / "run_07").mkdir()
    shutil.copy(a / "run_01" / "results.json", a / "run_07" / "results.json")  # the same bytes
    reformatted(a / "run_02" / "results.json", a / "run_08" / "results.json")  # the same arrays
    write_run(b, "run_01", n=256, seed=7, **noise(256))
    (b / "run_02").mkdir()
    shutil.copy(a / "run_02" / "results.json", b / "run_02" / "results.json")  # across run sets
    return [a, b]


EXPECTED = {  # run → (the first, how it repeats it)
    "E_128/run_04": ("E_128/run_01", "is the same file as"),
    "E_128/run_05": ("E_128/run_02", "is the same file as"),
    "E_128/run_06": ("E_128/run_03", "is the same file as"),
    "E_128/run_07": ("E_128/run_01", "has the same bytes as"),
    "E_128/run_08": ("E_128/run_02", "has the same per-sequence gdotv and first entry's normalized_weights as"),
    "E_256/run_02": ("E_128/run_02", "has the same bytes as"),
}


def duplicates_of(health: dict) -> dict[str, str]:
    """run → the message of its duplicate_run problem."""
    out = {}
    for r in health["runs"]:
        for p in r["problems"]:
            if p["reason"] == "duplicate_run":
                out[f"{r['run_set']}/{r['run']}"] = p["message"]
    return out


def assert_expected(health: dict) -> None:
    found = duplicates_of(health)
    assert set(found) == set(EXPECTED)
    for run, (first, how) in EXPECTED.items():
        assert found[run].startswith(f"{how} {first}/results.json")
    ok = {f"{r['run_set']}/{r['run']}" for r in health["runs"] if r["outcome"] == "ok"}
    assert ok == {"E_128/run_01", "E_128/run_02", "E_128/run_03", "E_256/run_01"}  # distinct runs not flagged


def test_the_reason_is_a_member_of_the_problem_reasons():
    assert ProblemReason("duplicate_run") is ProblemReason.DUPLICATE_RUN


def test_every_kind_of_repeat_is_found_by_load_runs(copied):
    loaded = load_runs(copied)
    dup = {str(r.file.key): r.problems[0] for r in loaded if hasattr(r, "problems")}
    assert set(dup) == set(EXPECTED)
    assert all(p.reason == ProblemReason.DUPLICATE_RUN for p in dup.values())


def test_a_session_makes_the_later_run_invalid_input_naming_the_first(tmp_path, copied):
    s = session(tmp_path, copied)
    health = s.run()
    assert_expected(health)
    assert health["exit"]["status"] == 1
    for r in health["runs"]:
        if f"{r['run_set']}/{r['run']}" in EXPECTED:
            assert r["outcome"] == "error" and "one run counted twice" in r["message"]
            # the run keeps its input test, and has no other case
            assert not [c for c in health["cases"] if c["run_set"] == r["run_set"] and c["run"] == r["run"]]
    for c in health["cases"]:  # the pooled cases pool the distinct runs only
        if c["check"] in POOLED:
            assert c["R"] == (3 if c["run_set"] == "E_128" else 1) or c["outcome"] == "skipped"
    inputs = [c for c in s.gate.collection.all_cases() if c.check == "input"]
    assert len(inputs) == 10
    # what a pass is worth counts the distinct runs only: "≈ N runs, or E ≈ … at 3 runs"
    sentence = run_set_sentence(health, health["run_sets"][0])
    assert health["run_sets"][0]["runs"] == 8 and "at 3 runs," in sentence, sentence


def test_the_decision_does_not_depend_on_which_runs_were_judged_first(tmp_path, copied):
    """Only the last run judged (as under `-k run_08`): its earlier runs are read for their
    fingerprints, and the answer is the same as in a whole session."""
    g = Gate(parse({"reports": str(tmp_path / "r"), "history": "none"}, tmp_path), copied)
    last = {str(f.key): f for f in g.collection.files}
    for run, (first, how) in EXPECTED.items():
        rv = Gate(parse({"reports": str(tmp_path / "r"), "history": "none"}, tmp_path), copied).run_verdict(last[run])
        assert rv.outcome == "error" and rv.problems[0].reason == ProblemReason.DUPLICATE_RUN
        assert rv.problems[0].message.startswith(f"{how} {first}/results.json")
    assert g.run_verdict(last["E_128/run_03"]).outcome == "ok"


@pytest.mark.slow  # starts a judging process
def test_judging_processes_decide_as_a_serial_session(tmp_path, copied):
    """`-n 2` of the gate: a judging process parses and judges the runs ahead; the session
    decides which repeat another, from the fingerprints they hand back."""
    serial = session(tmp_path / "serial", copied).run()
    s = session(tmp_path / "ahead", copied)
    s.gate.judge_ahead(1)
    ahead = s.run()
    assert_expected(ahead)
    assert ahead["runs"] == [dict(r, path=r["path"]) for r in serial["runs"]]
    strip = lambda h: [{k: v for k, v in c.items() if k != "duration"} for c in h["cases"]]  # noqa: E731
    assert strip(ahead) == strip(serial)


def test_workers_decide_alike_through_the_exchange(tmp_path, copied):
    """Two gates sharing an exchange directory stand for two xdist workers, each judging every
    other run: each decides from the other's shared fingerprints, as a serial session does."""
    import threading

    exchange = tmp_path / "exchange"
    exchange.mkdir()
    opts = parse({"reports": str(tmp_path / "w"), "history": "none"}, tmp_path)
    w1, w2 = Gate(opts, copied, exchange=exchange), Gate(opts, copied, exchange=exchange)
    files = w1.collection.files
    verdicts = {}

    def judge(g, parity):
        for i, f in enumerate(files):
            if i % 2 == parity:
                verdicts[str(f.key)] = g.run_verdict(f)

    other = threading.Thread(target=judge, args=(w2, 1))
    other.start()
    judge(w1, 0)
    other.join()
    flagged = {k: v.problems[0].message for k, v in verdicts.items() if v.problems}
    assert set(flagged) == set(EXPECTED)
    for run, (first, how) in EXPECTED.items():
        assert flagged[run].startswith(f"{how} {first}/results.json")


def test_a_worker_never_waits_for_an_earlier_runs_fingerprint(tmp_path, copied, monkeypatch):
    """xdist hands out the biggest scopes first (--loadscope-reorder): a worker may judge the
    last run while the earlier ones are still queued behind a pooled case that waits for it.
    A worker that finds no shared fingerprint reads the run itself, at once."""
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    opts = parse({"reports": str(tmp_path / "w"), "history": "none"}, tmp_path)
    g = Gate(opts, copied, exchange=exchange)
    last = g.collection.files[-1]
    assert last.key in g.selected  # another worker was given the earlier runs: "expected"
    monkeypatch.setattr(summaries, "POOL_WAIT", 20.0)
    started = time.monotonic()
    rv = g.run_verdict(last)  # no other worker runs: a wait would last POOL_WAIT per earlier run
    assert time.monotonic() - started < 15.0
    (first, how) = EXPECTED["E_256/run_02"]
    assert rv.problems[0].message.startswith(f"{how} {first}/results.json")
    assert len(list(exchange.glob("*.fingerprint.json"))) == len(g.collection.files)  # shared for the others
    # the earlier runs judged after it (xdist's order): each decided as in session order, none its own copy
    for f in g.collection.files[:-1]:
        rv = g.run_verdict(f)
        if str(f.key) in EXPECTED:
            first, how = EXPECTED[str(f.key)]
            assert rv.problems[0].message.startswith(f"{how} {first}/results.json")
        else:
            assert rv.outcome == "ok", rv.message


def test_the_index_matches_on_the_file_or_the_arrays(tmp_path):
    one, two = tmp_path / "a.json", tmp_path / "b.json"
    one.write_text("{}")
    two.write_text("{ }")
    a, b = RunFile("E", "run_01", one), RunFile("E", "run_02", two)
    index = DuplicateIndex()
    first = Fingerprint((1, 10), "a1")
    index.add(a, first)
    assert index.match(b, Fingerprint((1, 11), "a2")) is None  # distinct on every key
    assert index.match(b, Fingerprint((2, 10), "a2")) is None  # the same inode on another device
    assert index.match(b, Fingerprint((1, 10), "a2")) == (a.key, f"is the same file as {a.display} (a symbolic or hard link)")
    key, how = index.match(b, Fingerprint((1, 11), "a1"))
    assert key == a.key and how.startswith("has the same per-sequence gdotv")  # other bytes
    two.write_text("{}")
    assert index.match(b, Fingerprint((1, 11), "a1"))[1] == f"has the same bytes as {a.display} (a copy)"
    assert index.match(b, None) is None
    assert Fingerprint.of(first.to_dict()) == first and Fingerprint.of(None) is None


def test_invalid_runs_have_no_fingerprint_and_keep_their_own_problems(tmp_path):
    a = tmp_path / "E_1"
    for run in ("run_01", "run_02"):
        (a / run).mkdir(parents=True)
        (a / run / "results.json").write_text("{}")
    loaded = load_runs([a])
    assert [p.reason for r in loaded for p in r.problems[:1]] == [ProblemReason.MISSING] * 2
    assert load_fingerprinted(discover([a])[0])[1] is None


# --------------------------------------------------------------------------- copied runs are no evidence


def test_one_mediocre_run_copied_sixteen_times_stays_one_run(tmp_path):
    """Sixteen run_* of one run (eight copies, seven links) judge as that run alone: the pooled
    cases have one run (skipped), and the copies are invalid input — never a green."""
    a = tmp_path / "E_128"
    src = write_run(a, "run_01", n=128, seed=3, **noise(128))
    for i in range(2, 17):
        (a / f"run_{i:02d}").mkdir()
        (shutil.copy if i % 2 else os.symlink)(src, a / f"run_{i:02d}" / "results.json")
    alone = tmp_path / "alone" / "E_128"
    write_run(alone, "run_01", n=128, seed=3, **noise(128))
    one = session(tmp_path / "one", [alone]).run()
    many = session(tmp_path / "many", [a]).run()
    assert len(duplicates_of(many)) == 15 and many["exit"]["status"] == 1
    assert many["confidence"] != "passed"
    pooled = lambda h: [(c["check"], c["eta"], c["outcome"], c.get("R"), c.get("resolution"))  # noqa: E731
                        for c in h["cases"] if c["check"] in POOLED]
    assert pooled(many) == pooled(one)
    assert many["run_sets"][0]["resolution"] == one["run_sets"][0]["resolution"]


@needs_real
@pytest.mark.slow
def test_real_e512_copied_four_times_still_demonstrates_nothing(tmp_path):
    """The real E_512 with every run copied four times (as run_05 … run_16) under
    `--tolerance 0.5 --reported-se shard-mean`: exit 1, as without the copies."""
    e512 = tmp_path / "E_512"
    runs = sorted(p.name for p in (REAL / "E_512").iterdir() if p.name.startswith("run_"))
    for i, run in enumerate(runs * 4, start=1):
        (e512 / f"run_{i:02d}").mkdir(parents=True)
        shutil.copy(REAL / "E_512" / run / "results.json", e512 / f"run_{i:02d}" / "results.json")
    health = session(tmp_path, [e512], tolerance="0.5", reported_se="shard-mean").run()
    assert health["exit"]["status"] == 1
    assert len(duplicates_of(health)) == 3 * len(runs)
    pooled = [c for c in health["cases"] if c["check"] in POOLED]
    assert pooled and all(c["R"] == len(runs) and c["outcome"] == "failed" for c in pooled)


# --------------------------------------------------------------------------- the notebook and the CLI


def test_notebook_run_sets_and_cli_tables_skip_repeats(tmp_path, copied, capsys):
    from dhstats.cli import main
    from dhstats.notebook.frames import load_run_sets

    sets = load_run_sets(copied)
    invalid = {f"{rs.name}/{r.file.run}": r.problems[0].message for rs in sets for r in rs.runs if hasattr(r, "problems")}
    assert set(invalid) == set(EXPECTED)
    for run, (first, how) in EXPECTED.items():
        assert invalid[run].startswith(f"{how} {first}/results.json")
    args = ["tables", "--out", str(tmp_path / "tables")] + [a for p in copied for a in ("--results", str(p))]
    assert main(args) == 1  # done, but some run was invalid input
    err = capsys.readouterr().err
    assert err.count("one run counted twice") == len(EXPECTED)

"""Fuzz campaign: mutations of a real results.json (tests/mutations.py;
a simulated run of the same shape when the real files are absent) through the library and
through a whole gate session (:class:`dhstats.session.Session`), asserting for every mutation:

* no exception escapes;
* the mutated run is either invalid, every problem with a JSON path (or a file-level
  message), or judged with no case passing on a non-finite statistic (and no internal error);
* the intact sibling run in the same session is judged identically to a session where both
  runs are intact (run record and every case record);
* every run found is in health.json.

Budget: ``DHSTATS_FUZZ_EXAMPLES`` (default 40) session examples and 3× that many library
examples: about 15 s on 2 cores. ``DHSTATS_FUZZ_EXAMPLES=1000`` for a long campaign.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mutations
from dhstats.load.results import RunFile, load_run
from dhstats.load.settings import parse

EXAMPLES = int(os.environ.get("DHSTATS_FUZZ_EXAMPLES", "40"))
BASE = mutations.base_document()
VARIANTS = mutations.VARIANTS
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def draw(data) -> mutations.Mutation:
    return mutations.draw_mutation(BASE, lambda seq: data.draw(st.sampled_from(seq)))


# --------------------------------------------------------------------------- library level


@settings(FUZZ, max_examples=3 * EXAMPLES)
@given(data=st.data(), variant=st.sampled_from(sorted(VARIANTS)))
def test_library_contract_on_mutations(data, variant):
    m = draw(data)
    outcome, failures = mutations.library_failures(BASE, m, parse(VARIANTS[variant]).settings)
    assert not failures, f"{m.describe()} ({variant}): " + "; ".join(failures)


# --------------------------------------------------------------------------- session level


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> mutations.Session:
    return mutations.Session(BASE, tmp_path_factory.mktemp("fuzz"))


def session_failures(session, m, variant, figures=False) -> list[str]:
    return mutations.session_failures(session, m, variant, figures)


@settings(FUZZ, suppress_health_check=[*FUZZ.suppress_health_check, HealthCheck.function_scoped_fixture])
@given(data=st.data(), variant=st.sampled_from(sorted(VARIANTS)))
def test_gate_session_contract_on_mutations(session, data, variant):
    m = draw(data)
    failures = session_failures(session, m, variant)
    assert not failures, f"{m.describe()} ({variant}): " + "; ".join(failures)


# --------------------------------------------------------------------------- reproducers of reported defects

N = len(BASE.doc["true"]["entries"][0]["diagnostics"]["token_counts"])
FIGURES = [  # figures raised (all-zero weights; η = 1e308 in eta_curve)
    mutations.Mutation("fill", ("true", "entries", 0, "diagnostics", "normalized_weights"), 0.0),
    mutations.Mutation("extreme", ("true", "entries", 0, "eta"), 1e308),
]
# item 1: finite but Σ overflows; σ_true = inf made both agreements pass
H_BASE_1E308 = mutations.Mutation("fill", ("true", "entries", min(3, BASE.etas - 1), "diagnostics", "h_base"), 1e308)
REPRODUCERS = FIGURES + [
    H_BASE_1E308,
    # at the bound: valid, so judged; sums of these stay finite
    mutations.Mutation("fill", ("true", "entries", 0, "diagnostics", "h_new"), 1e50),
    mutations.Mutation("extreme", ("approx", "delta_h_per_lr"), -1e50),
    mutations.Mutation("fill", ("true", "entries", 1, "diagnostics", "normalized_weights"), 5e-324),
    mutations.Mutation("token", ("approx", "quadratic", "vHvv"), float("nan")),
    mutations.Mutation("truncate", offset=len(BASE.raw) // 2),
    mutations.Mutation("invalid_utf8", value=b"\xed\xa0\x80", offset=BASE.raw.index(b'"approx"') + 2),
]


@pytest.mark.parametrize("m", REPRODUCERS, ids=[m.describe() for m in REPRODUCERS])
def test_issue_reproducers(session, m):
    # the reported setting (shard-mean); figures drawn where they were found raising
    assert not session_failures(session, m, "shard-mean", figures=m in FIGURES)
    for variant in VARIANTS:
        _, failures = mutations.library_failures(BASE, m, parse(VARIANTS[variant]).settings)
        assert not failures, variant


def test_h_base_1e308_is_invalid_input_naming_its_path(tmp_path):
    m = H_BASE_1E308
    d = tmp_path / "E_fuzz" / "run_02"
    d.mkdir(parents=True)
    rf = RunFile("E_fuzz", "run_02", d / "results.json")
    rf.path.write_bytes(m.apply(BASE))
    (p,) = load_run(rf).problems
    assert p.json_path == f"{mutations.json_path(m.path)}[0]"
    assert p.message.startswith("1e+308, expected |x| ≤ 1e50")


def test_every_kind_is_drawn_and_applies():
    # the generator itself: each kind is produced and changes the bytes
    found = {}
    for m in mutations.random_mutations(BASE, 400, seed=3):
        found.setdefault(m.kind, m)
    assert set(found) == set(mutations.KINDS)
    for m in found.values():
        assert m.apply(BASE) != BASE.raw, m.describe()
        assert m.describe().startswith(m.kind if m.kind != "invalid_utf8" else "insert")
    assert N >= 2


def test_contract_checks_detect_breaches():
    # the checkers the campaign relies on do flag what they must (else the fuzz cannot fail)
    from dhstats.load.results import InvalidRun, Problem, ProblemReason, Run
    from dhstats.verdicts.verdicts import Outcome, RunOutcome, RunVerdict, Verdict

    NOT_JSON, MISSING = ProblemReason.NOT_JSON, ProblemReason.MISSING

    assert mutations.nonfinite({"z": float("nan"), "n": 3, "parts": {"a": [1.0, float("-inf")]},
                                "note": "inf"}) == ["z", "parts.a[1]"]
    ok = RunVerdict("E", "run_02", "/x", RunOutcome.OK)

    def verdict(outcome, **numbers):
        return Verdict("linear_agreement", outcome, "m", "E", "run_02", 1e-6, numbers)

    assert mutations.verdict_failures(ok, [verdict(Outcome.PASSED, z=0.5)], None) == []
    assert mutations.verdict_failures(ok, [verdict(Outcome.FAILED, z=float("nan"))], None) == []
    (f,) = mutations.verdict_failures(ok, [verdict(Outcome.PASSED, sigma_true=float("inf"))], None)
    assert "linear_agreement at η=1e-06 passed with non-finite sigma_true" in f
    run = load_run(RunFile("E", "run_01", mutations.REAL_FILE), BASE.raw)
    assert isinstance(run, Run)
    crashed = RunVerdict("E", "run_01", "/x", RunOutcome.ERROR, "internal error while checking")
    assert mutations.verdict_failures(crashed, [], run) == [
        "valid run judged error: internal error while checking"
    ]
    rf = RunFile("E", "run_02", mutations.REAL_FILE)
    good = InvalidRun(rf, (Problem(rf.display, "", NOT_JSON, "not valid JSON: x"),
                         Problem(rf.display, "approx", MISSING, "missing")))
    assert mutations.loaded_failures(good, rf.display) == []
    bad = InvalidRun(rf, (Problem(rf.display, "", MISSING, "h_new is wrong"), Problem("other", "approx", MISSING, "missing")))
    assert mutations.loaded_failures(bad, rf.display) == [
        "problem without a JSON path: 'h_new is wrong'",
        f"problem names file 'other', expected {rf.display!r}",
    ]
    assert mutations.loaded_failures(None, rf.display) == ["load_run returned NoneType"]


# --------------------------------------------------------------------------- outputs mode

OUTPUT_SESSIONS = int(os.environ.get("DHSTATS_FUZZ_OUTPUTS", "10"))  # scenes (two sessions each)
SIGNAL_SESSIONS = int(os.environ.get("DHSTATS_FUZZ_SIGNALS", "2"))  # pytest sessions hit by Ctrl-C
KILL_SESSIONS = int(os.environ.get("DHSTATS_FUZZ_KILLS", "1"))  # pytest sessions killed by SIGKILL
LIMIT_SESSIONS = int(os.environ.get("DHSTATS_FUZZ_LIMITS", "1"))  # pytest sessions under a file-size limit


@pytest.mark.slow
def test_outputs_mode(tmp_path):
    """Hazards where the outputs go (links, occupied paths, FIFOs, malformed history and
    manifest) and Ctrl-C at random moments: every session keeps the invariants
    (tests/output_hazards.py), SIGKILL at random moments and writes failing under a random
    file-size limit after a session that left a verdict. ``DHSTATS_FUZZ_OUTPUTS=500
    DHSTATS_FUZZ_SIGNALS=40 DHSTATS_FUZZ_KILLS=20 DHSTATS_FUZZ_LIMITS=20`` for a long campaign;
    the count of clean sessions is printed (``-s``)."""
    import output_hazards

    seed = int(os.environ.get("DHSTATS_FUZZ_SEED", "0"))
    result = output_hazards.campaign(OUTPUT_SESSIONS, tmp_path, seed=seed, signals=SIGNAL_SESSIONS,
                                     repo=Path(__file__).resolve().parents[1], kills=KILL_SESSIONS,
                                     limits=LIMIT_SESSIONS)
    print(f"outputs mode: {result['clean']} of {result['sessions']} sessions with 0 invariant failures; "
          f"Ctrl-C sessions: {result['signals']}; SIGKILL: {result['kills']}; file-size limit: {result['limits']}")
    assert result["sessions"] == 2 * OUTPUT_SESSIONS + SIGNAL_SESSIONS + 3 * (KILL_SESSIONS + LIMIT_SESSIONS)
    assert result["clean"] == result["sessions"], result["failures"][:5]


def test_output_invariants_detect_breaches(tmp_path, monkeypatch):
    # the checker can fail: a session that writes outside, loses a run or raises is flagged
    import output_hazards
    from dhstats.session import Session

    scene = output_hazards.build(tmp_path / "s", [output_hazards.Hazard("runs", "link_dir")],
                                 output_hazards.run_files())
    assert (scene.reports / "runs").is_symlink() and output_hazards.session_failures(scene) == []

    def careless(session):
        (scene.outside / "dir" / "page.html").write_text("x")
        return {"runs": [{"run": "run_01"}], "not_judged": [{"run": "run_02"}]}

    monkeypatch.setattr(Session, "run", careless)
    assert output_hazards.session_failures(scene) == ["health.json runs ['run_01', 'run_02']", "outside/ changed"]
    monkeypatch.setattr(Session, "run", lambda session: 1 / 0)
    assert output_hazards.session_failures(scene)[0] == "traceback: ZeroDivisionError: division by zero"


def test_a_ctrl_c_after_the_verdict_is_told_from_one_before_it():
    """A session ended by SIGINT counts as clean only when its verdict was whole, pytest had
    printed its last line and any traceback is pytest's own clean-up after it."""
    import output_hazards

    whole = {"exit": {"status": 1}, "runs": [{"run": r} for r in output_hazards.RUNS], "not_judged": []}
    last = "3 failed, 20 passed in 1.20s\n"
    cleanup = "Traceback (most recent call last):\n  in _ensure_unconfigure\nKeyboardInterrupt\n"
    assert output_hazards._after_the_verdict(last, whole)
    assert output_hazards._after_the_verdict(last + cleanup, whole)
    assert not output_hazards._after_the_verdict(cleanup, whole)  # before pytest's last line
    assert not output_hazards._after_the_verdict(last + "Traceback …\n  in judge\nKeyboardInterrupt", whole)
    assert not output_hazards._after_the_verdict(last, {**whole, "in_progress": True})
    assert not output_hazards._after_the_verdict(last, {**whole, "exit": {"status": None}})
    assert not output_hazards._after_the_verdict(last, {**whole, "runs": whole["runs"][:2]})
    assert not output_hazards._after_the_verdict(last, None)

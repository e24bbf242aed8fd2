"""Mutations of a ``results.json`` for the fuzz campaign: usable by hypothesis tests
(``tests/test_fuzz.py``) and by a bench with a numpy random generator.

    base = base_document()                       # the real E_256/run_01 file, else a simulated run
    m = draw_mutation(base, choose)              # choose(seq) -> one element of seq
    raw = m.apply(base)                          # the mutated file's bytes

``choose`` is the only source of randomness: ``lambda seq: data.draw(st.sampled_from(seq))``
under hypothesis (so failures shrink), ``lambda seq: seq[rng.integers(len(seq))]`` in a bench
(:func:`random_mutations`). Every mutation is described by a one-line text naming its JSON path,
e.g. ``token true.entries[3].diagnostics.h_base[0] = NaN``.

Kinds (:data:`KINDS`): delete a key at any depth; a wrong type (string, boolean, null, array,
object) in place of a value; NaN / ±Infinity tokens; extreme numbers (±1e308, beyond the
validation bound, subnormal, a 400-digit integer); an array emptied, shortened, lengthened or
filled with one value (all weights 0.0, …); a number scaled; a duplicated η; the file truncated
at any byte; an invalid UTF-8 sequence inserted at any byte.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from paths import real_file

REAL_FILE = real_file("E_256", "run_01")

#: keys the gate reads (results-format.md, "Fields the gate uses"); mutations favour them
GATE_KEYS = frozenset({
    "approx", "true", "entries", "delta_h_per_lr", "per_sequence", "gdotv", "length", "vhvv",
    "per_sequence_meta", "H_base_mean", "variance", "se_shard", "se_jackknife", "num_shards",
    "quadratic", "vHvv", "per_sequence_vhvv", "se_gdotv", "se_vHvv", "eta", "delta_h_true",
    "diagnostics", "normalized_weights", "token_counts", "h_new", "base_entropy", "h_base",
    "log_weights", "weights_sum", "ess",
})

KINDS = ("delete_key", "wrong_type", "token", "extreme", "empty_array", "wrong_length", "fill",
         "scale", "duplicate_eta", "truncate", "invalid_utf8")

WRONG_TYPES: tuple = ("x", "1e-06", True, False, None, [], {}, [1.0], {"eta": 1e-6})
TOKENS = (float("nan"), float("inf"), float("-inf"))  # json.dumps writes NaN, Infinity, -Infinity
EXTREMES = (1e308, -1e308, 1.7976931348623157e308, 1e50, -1e50, 1.0000000000000002e50, 1e51,
            5e-324, -5e-324, 10**400, -(10**400), 2**64, 0, 0.0, -0.0)
FILLS = (0.0, 1.0, -1.0, 1e50, -1e50, 5e-324, 1e-300)
SCALES = (-1.0, 0.0, 1e10, 1e-10, 1e30, 1e-30, 1.000001)
BAD_UTF8 = (b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xfe\xfe")


@dataclass(frozen=True)
class Base:
    """The document every mutation starts from: its bytes, parsed form and JSON paths."""

    raw: bytes
    source: str  # "real: <path>" or "simulated: …"
    doc: dict = field(repr=False)
    keys: tuple = field(repr=False)  # paths of dict members (deletable), gate fields first
    values: tuple = field(repr=False)  # paths of any value (replaceable)
    numbers: tuple = field(repr=False)  # paths of numbers
    arrays: tuple = field(repr=False)  # paths of arrays
    etas: int = 0  # number of true.entries


def base_document(path: Path = REAL_FILE) -> Base:
    """The real E_256/run_01 file when present, else a simulated run of the same shape
    (n = 64, 5 η) so the campaign runs on a fresh clone."""
    if path.is_file():
        raw, source = path.read_bytes(), f"real: {path}"
    else:
        from dhstats import simulate

        doc = simulate.simulate_run(64, seed=8, entropy_noise=0.01, shape="real")
        raw, source = json.dumps(doc).encode(), "simulated: simulate_run(64, seed=8, shape='real')"
    return make_base(raw, source)


def make_base(raw: bytes, source: str) -> Base:
    doc = orjson.loads(raw)
    keys, values, numbers, arrays = [], [], [], []
    for path, value in _walk(doc, ()):
        values.append(path)
        if isinstance(path[-1], str):
            keys.append(path)
        if isinstance(value, list):
            arrays.append(path)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            numbers.append(path)
    gate_first = lambda paths: tuple(sorted(paths, key=lambda p: (not _reads(p), len(p))))  # noqa: E731
    etas = len(doc.get("true", {}).get("entries", []))
    return Base(raw, source, doc, gate_first(keys), gate_first(values), gate_first(numbers),
                gate_first(arrays), etas)


def _walk(value, prefix: tuple) -> Iterator[tuple[tuple, Any]]:
    """(path, value) below ``value``; long arrays only through items 0, 1, n//2 and n-1."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        n = len(value)
        items = ((i, value[i]) for i in sorted({0, 1, n // 2, n - 1} if n > 4 else range(n)))
    else:
        return
    for key, child in items:
        path = (*prefix, key)
        yield path, child
        yield from _walk(child, path)


def _reads(path: tuple) -> bool:
    """Whether every key of the path is one the gate reads."""
    return all(isinstance(k, int) or k in GATE_KEYS for k in path)


def json_path(path: tuple) -> str:
    """``("true", "entries", 1, "eta")`` → ``true.entries[1].eta``."""
    out = ""
    for k in path:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else k)
    return out


@dataclass(frozen=True)
class Mutation:
    """One change to a document (``path`` and ``value``) or to its bytes (``offset``)."""

    kind: str
    path: tuple = ()
    value: Any = None
    offset: int = 0

    def describe(self) -> str:
        if self.kind == "truncate":
            return f"truncate at byte {self.offset}"
        if self.kind == "invalid_utf8":
            return f"insert {self.value!r} at byte {self.offset}"
        where = json_path(self.path)
        if self.kind in ("delete_key", "empty_array"):
            return f"{self.kind} {where}"
        shown = "a 400-digit integer" if isinstance(self.value, int) and abs(self.value) > 1e308 else repr(self.value)
        return f"{self.kind} {where} = {shown}"

    def apply(self, base: Base) -> bytes:
        """The mutated file's bytes (the base is not changed)."""
        if self.kind == "truncate":
            return base.raw[: self.offset]
        if self.kind == "invalid_utf8":
            return base.raw[: self.offset] + self.value + base.raw[self.offset:]
        doc = orjson.loads(base.raw)  # a fresh copy: ~1 ms, cheaper than deepcopy
        self.edit(doc)
        return json.dumps(doc).encode()  # stdlib: writes NaN/Infinity tokens and big integers

    def edit(self, doc) -> None:
        *parents, last = self.path
        target = doc
        for key in parents:
            target = target[key]
        if self.kind == "delete_key":
            del target[last]
        elif self.kind in ("wrong_type", "token", "extreme", "duplicate_eta"):
            target[last] = self.value
        elif self.kind == "scale":
            target[last] = target[last] * self.value
        elif self.kind == "empty_array":
            target[last] = []
        elif self.kind == "wrong_length":
            arr = target[last]
            target[last] = (arr * (self.value // max(len(arr), 1) + 1))[: self.value]
        elif self.kind == "fill":
            target[last] = [self.value] * len(target[last])
        else:  # pragma: no cover - KINDS are all handled
            raise ValueError(self.kind)


Choose = Callable[[Sequence], Any]


def draw_mutation(base: Base, choose: Choose) -> Mutation:
    """One mutation of ``base``; every decision is ``choose(options)``. Paths are drawn from
    the fields the gate reads three times in four."""
    kind = choose(KINDS)

    def pick(paths: tuple) -> tuple:
        read = tuple(p for p in paths if _reads(p))
        return choose(read if read and choose((True, True, True, False)) else paths)

    if kind == "truncate":
        return Mutation(kind, offset=choose(range(len(base.raw))))
    if kind == "invalid_utf8":
        return Mutation(kind, value=choose(BAD_UTF8), offset=choose(range(len(base.raw) + 1)))
    if kind == "duplicate_eta" and base.etas >= 2:
        j = choose(range(base.etas))
        k = choose([i for i in range(base.etas) if i != j])
        return Mutation(kind, ("true", "entries", j, "eta"), base.doc["true"]["entries"][k]["eta"])
    if kind == "delete_key":
        return Mutation(kind, pick(base.keys))
    if kind == "wrong_type":
        return Mutation(kind, pick(base.values), choose(WRONG_TYPES))
    if kind in ("empty_array", "wrong_length", "fill"):
        path = pick(base.arrays)
        if kind == "empty_array":
            return Mutation(kind, path)
        if kind == "fill":
            return Mutation(kind, path, choose(FILLS))
        n = len(_get(base.doc, path))
        return Mutation(kind, path, choose(sorted({1, max(n - 1, 0), n + 1, 2 * n + 1} - {n})))
    path = pick(base.numbers)  # token, extreme, scale (and duplicate_eta with one entry)
    if kind == "token":
        return Mutation(kind, path, choose(TOKENS))
    if kind == "scale":
        return Mutation(kind, path, choose(SCALES))
    return Mutation("extreme", path, choose(EXTREMES))


def _get(doc, path: tuple):
    for key in path:
        doc = doc[key]
    return doc


def random_mutations(base: Base, count: int, seed: int = 0) -> list[Mutation]:
    """``count`` mutations drawn with ``numpy.random.default_rng(seed)`` (for benches)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return [draw_mutation(base, lambda seq: seq[int(rng.integers(len(seq)))]) for _ in range(count)]


# --------------------------------------------------------------------------- the campaign's contract

#: messages of problems that concern the whole file (no JSON path)
FILE_LEVEL = ("not valid JSON: ", "empty file", "top level is ", "not parsed: ", "file not found",
              "not a regular file", "cannot read: ")


def nonfinite(numbers: dict) -> list[str]:
    """Names of the float values in a verdict's ``numbers`` that are NaN or ±inf."""
    import math

    def walk(value, name):
        if isinstance(value, float) and not math.isfinite(value):
            yield name
        elif isinstance(value, dict):
            for k, v in value.items():
                yield from walk(v, f"{name}.{k}")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                yield from walk(v, f"{name}[{i}]")

    return [n for k, v in numbers.items() for n in walk(v, k)]


def loaded_failures(loaded, display: str) -> list[str]:
    """Breaches of the load contract: a Run, or an InvalidRun whose every problem names the
    file and has a JSON path or a file-level message."""
    from dhstats.load.results import InvalidRun, Run

    if isinstance(loaded, Run):
        return []
    if not isinstance(loaded, InvalidRun):
        return [f"load_run returned {type(loaded).__name__}"]
    if not loaded.problems:
        return ["InvalidRun without problems"]
    out = []
    for p in loaded.problems:
        if p.file != display:
            out.append(f"problem names file {p.file!r}, expected {display!r}")
        if not p.json_path and not p.message.startswith(FILE_LEVEL):
            out.append(f"problem without a JSON path: {p.message!r}")
        if not p.message.strip():
            out.append(f"problem with an empty message at {p.json_path!r}")
    return out


def verdict_failures(run_verdict, verdicts, loaded) -> list[str]:
    """Breaches of the judging contract: an internal error, or a case passing with a
    non-finite number."""
    from dhstats.load.results import Run

    out = []
    if isinstance(loaded, Run) and str(run_verdict.outcome) != "ok":
        out.append(f"valid run judged {run_verdict.outcome}: {run_verdict.message}")
    for v in verdicts:
        bad = nonfinite(v.numbers)
        if str(v.outcome) == "passed" and bad:
            where = v.check if v.eta is None else f"{v.check} at η={v.eta!r}"
            out.append(f"{where} passed with non-finite {', '.join(bad)}: {v.message}")
    return out


def library_failures(base: Base, m: Mutation, settings) -> tuple[str, list[str]]:
    """Load and judge the mutated bytes with the library (no files): ("invalid" | "judged",
    failures). An exception escaping is itself a failure."""
    from dhstats.load.records import RunFile
    from dhstats.verdicts.registry import evaluate
    from dhstats.load.results import Run, load_run

    rf = RunFile("E_fuzz", "run_02", Path("/nonexistent/E_fuzz/run_02/results.json"))
    try:
        loaded = load_run(rf, m.apply(base))
        failures = loaded_failures(loaded, rf.display)
        if isinstance(loaded, Run):
            failures += verdict_failures(*evaluate(loaded, settings), loaded)
    except Exception as exc:  # noqa: BLE001 - the finding
        return "raised", [f"{type(exc).__name__}: {exc}"]
    return ("judged" if isinstance(loaded, Run) else "invalid"), failures


VARIANTS = {  # option texts of a session (health.json's "settings" differ between them)
    "default": {},
    "shard-mean": {"reported_se": "shard-mean"},
    "holm": {"reported_se": "shard-mean", "holm": "0.05"},
}


def sibling_bytes(base: Base) -> bytes:
    """An intact run other than the base (runs must be independent: a copy of the base would be
    a ``duplicate_run``): the real E_256/run_02 beside a real base, else a simulated run."""
    other = real_file("E_256", "run_02")
    if base.source.startswith("real") and other.is_file():
        return other.read_bytes()
    from dhstats import simulate

    return json.dumps(simulate.simulate_run(64, seed=9, entropy_noise=0.01, shape="real")).encode()


class Session:
    """A run set E_fuzz with run_01 (an intact sibling: another run) and run_02 (the base,
    mutated per example)."""

    def __init__(self, base: Base, root: Path):
        self.root = root / "E_fuzz"
        self.base = base
        for run, raw in (("run_01", sibling_bytes(base)), ("run_02", base.raw)):
            (self.root / run).mkdir(parents=True, exist_ok=True)
            (self.root / run / "results.json").write_bytes(raw)
        self.reports = root / "reports"
        self.baseline = {name: self.sibling(self.run(name)[1]) for name in VARIANTS}

    def run(self, variant: str, raw: bytes | None = None, figures: bool = False):
        """One whole session (Session.run). Figures of failing cases are drawn only when asked
        (``--max-plots -1``; else ``0``: a figure takes up to ~1 s)."""
        from dhstats.session import Session
        from dhstats.load.settings import parse

        if raw is not None:
            (self.root / "run_02" / "results.json").write_bytes(raw)
        shutil.rmtree(self.reports, ignore_errors=True)
        options = parse({**VARIANTS[variant], "max_plots": "-1" if figures else "0",
                         "history": "none", "reports": str(self.reports)})
        session = Session(options, [self.root])
        return session.gate, session.run()

    @staticmethod
    def sibling(health: dict) -> tuple:
        """run_01's run record (its path aside) and case records."""
        (rec,) = [{k: v for k, v in r.items() if k != "path"} for r in health["runs"] if r["run"] == "run_01"]
        return rec, [c for c in health["cases"] if c["run"] == "run_01"]


def session_failures(session: Session, m: Mutation, variant: str, figures: bool = False) -> list[str]:
    """Breaches of the session contract for one mutation of run_02 (see test_fuzz.py)."""
    from dhstats.load.results import load_run

    gate, health = session.run(variant, m.apply(session.base), figures)
    out = []
    runs = sorted(r["run"] for r in health["runs"])
    if runs != ["run_01", "run_02"]:
        out.append(f"health.json runs are {runs}")
    if variant != "holm" and session.sibling(health) != session.baseline[variant]:
        # (under --holm the family includes the mutated run's cases, so the sibling's
        # adjusted verdicts may legitimately change)
        out.append("the intact run_01 was judged differently")
    f = next(f for f in gate.collection.files if f.run == "run_02")
    ev = gate.evaluation(f)
    loaded = ev.loaded if ev.loaded is not None else load_run(f)  # --holm keeps no arrays
    out += loaded_failures(loaded, f.display)
    out += verdict_failures(ev.run_verdict, ev.verdicts.values(), loaded)
    pooled = [gate.judge(c) for c in gate.collection.all_cases() if c.file is None]
    out += verdict_failures(ev.run_verdict, pooled, None)
    return out


def random_campaign(count: int, seed: int = 0, session_dir: Path | None = None) -> dict:
    """``count`` random mutations: through the library (all three :data:`VARIANTS`), and
    through whole gate sessions (variant by turns) when ``session_dir`` is given. Returns
    counts per (kind, outcome) and every failure with its mutation's description."""
    from collections import Counter

    from dhstats.load.settings import parse

    base = base_document()
    session = None if session_dir is None else Session(base, Path(session_dir))
    names = sorted(VARIANTS)
    counts: Counter = Counter()
    failures = []
    for i, m in enumerate(random_mutations(base, count, seed)):
        for variant in names:
            outcome, found = library_failures(base, m, parse(VARIANTS[variant]).settings)
            failures += [f"{m.describe()} (library, {variant}): {f}" for f in found]
        counts[(m.kind, outcome)] += 1
        if session is not None:
            variant = names[i % len(names)]
            try:
                found = session_failures(session, m, variant)
            except Exception as exc:  # noqa: BLE001 - the finding
                found = [f"raised {type(exc).__name__}: {exc}"]
            failures += [f"{m.describe()} (session, {variant}): {f}" for f in found]
    return {"source": base.source, "count": count, "counts": dict(counts), "failures": failures}


if __name__ == "__main__":  # python tests/mutations.py COUNT SEED [SESSION_DIR]
    import sys
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    args = sys.argv[1:] + ["500", "0"][len(sys.argv) - 1:]
    t0 = time.perf_counter()
    result = random_campaign(int(args[0]), int(args[1]), Path(args[2]) if len(args) > 2 else None)
    print(f"{result['count']} mutations of {result['source']} in {time.perf_counter() - t0:.1f} s")
    for (kind, outcome), c in sorted(result["counts"].items()):
        print(f"  {kind:14s} {outcome:8s} {c}")
    print(f"{len(result['failures'])} failures")
    for f in result["failures"]:
        print("  " + f)

"""Find, parse and validate producer ``results.json`` files (the load layer).

Format and invariants: ``shared/spec/results-format.md``. Validation collects *every*
problem of a file, each with its JSON path, and never raises: a bad file becomes an
:class:`InvalidRun`, so the other runs are still checked.

Decisions (see README, "Input validation"):

* Validity = what the statistics need to be computable: required fields present, right
  types, finite numbers, equal per-sequence lengths, η > 0 and distinct, T_i ≥ 1 integers.
* Content *consistency* (sums, alignment of ``per_sequence[i].length`` with
  ``token_counts[i]``, normalisation of the weights, token counts equal across entries) is
  not a validity matter: it is judged by the ``consistency`` and ``snis_weights`` checks,
  which can then fail with numbers.
"""
from __future__ import annotations

import gc
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

try:  # orjson is ~3x faster than json and rejects NaN/Infinity tokens by itself
    import orjson

    _fast_loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is a declared dependency
    _fast_loads = json.loads

RESULTS_FILE = "results.json"


class RunKey(NamedTuple):
    """The one name of a run everywhere (cases, caches, health.json, pages): run set + run.
    ``str(key)`` is ``E_2048/run_01``."""

    results: str  # run-set name, e.g. "E_2048" (the --results directory's name)
    run: str  # run directory name, e.g. "run_01"

    def __str__(self) -> str:
        return f"{self.results}/{self.run}"


@dataclass(frozen=True)
class RunFile:
    """Where one run lives: ``<run set>/<run>/results.json``."""

    results: str  # run-set name, e.g. "E_2048" (the --results directory's name)
    run: str  # run directory name, e.g. "run_01"
    path: Path

    @property
    def key(self) -> RunKey:
        return RunKey(self.results, self.run)

    @property
    def display(self) -> str:
        return f"{self.results}/{self.run}/{RESULTS_FILE}"


@dataclass(frozen=True)
class Problem:
    """One input problem: file, JSON path, what is wrong."""

    file: str
    json_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.json_path}" if self.json_path else self.file
        return f"{where}: {self.message}"

    def to_dict(self) -> dict:
        return {"file": self.file, "json_path": self.json_path, "message": self.message}


@dataclass(frozen=True, eq=False)
class Entry:
    """One η of ``true.entries``. Arrays have length n, in the E-batch's sequence order."""

    eta: float
    delta_h_true: float  # nats per token
    normalized_weights: np.ndarray  # w̃_i
    token_counts: np.ndarray  # T_i (float64 holding integers ≥ 1)
    h_new: np.ndarray  # Σ_t H_t under θ+ηv, nats per sequence
    base_entropy: float  # H_base, nats per token
    h_base: np.ndarray | None = None  # Σ_t H_t under θ, nats per sequence
    log_weights: np.ndarray | None = None  # raw log π_new/π_old
    weights_sum: float | None = None
    ess: float | None = None  # reported 1/Σw̃²


@dataclass(frozen=True, eq=False)
class Quadratic:
    """``approx.quadratic``: Q = vHvv and its per-sequence split."""

    vhvv: float  # Q, nats per token per unit LR²
    gdotv: float  # G_q (falls back to G when absent)
    per_sequence_vhvv: np.ndarray | None = None
    se_gdotv: float | None = None
    se_vhvv: float | None = None
    num_shards: int | None = None


@dataclass(frozen=True, eq=False)
class Run:
    """A validated run. ``n`` sequences, ``entries`` sorted by η."""

    file: RunFile
    delta_h_per_lr: float  # G, nats per token per unit LR
    entries: tuple[Entry, ...]
    gdotv: np.ndarray | None = None  # approx.per_sequence[i].gdotv
    length: np.ndarray | None = None  # approx.per_sequence[i].length
    per_sequence_vhvv: np.ndarray | None = None  # approx.per_sequence[i].vhvv
    h_base_mean: float | None = None  # present only after the SNIS denominator correction
    se_shard: float | None = None
    se_jackknife: float | None = None
    num_shards: int | None = None
    quadratic: Quadratic | None = None

    @property
    def n(self) -> int:
        return int(self.entries[0].h_new.size)

    @property
    def etas(self) -> tuple[float, ...]:
        return tuple(e.eta for e in self.entries)

    def entry(self, eta: float) -> Entry:
        for e in self.entries:
            if e.eta == eta or abs(e.eta - eta) <= 1e-9 * abs(eta):
                return e
        raise KeyError(f"{self.file.key}: no entry with eta={eta!r}")


@dataclass(frozen=True)
class InvalidRun:
    """A run whose file cannot be used; ``problems`` lists everything found."""

    file: RunFile
    problems: tuple[Problem, ...]

    @property
    def message(self) -> str:
        return "\n".join(str(p) for p in self.problems)


# --------------------------------------------------------------------------- discovery


class DiscoveryError(ValueError):
    """A ``--results`` directory that does not exist or holds no run."""


def discover(roots) -> list[RunFile]:
    """Runs under each run-set directory: every ``run_*`` sub-directory, sorted by name.

    A run directory without ``results.json`` is still returned (it loads as an
    :class:`InvalidRun`), so no run is lost. A root that itself holds ``results.json`` is
    taken as a single run of the run set named after its parent.
    """
    found: list[RunFile] = []
    names: dict[str, Path] = {}
    for root in roots:
        root = Path(root).resolve()
        if (root / RESULTS_FILE).is_file() and not root.name.startswith("E_"):
            runs = [RunFile(root.parent.name, root.name, root / RESULTS_FILE)]
            set_name, set_dir = root.parent.name, root.parent
        elif root.is_dir():
            set_name, set_dir = root.name, root
            runs = [
                RunFile(set_name, d.name, d / RESULTS_FILE)
                for d in sorted(root.glob("run_*"))
                if d.is_dir()
            ]
            if not runs:
                raise DiscoveryError(f"{root}: no run_*/{RESULTS_FILE} found")
        else:
            raise DiscoveryError(f"{root}: not a directory")
        other = names.setdefault(set_name, set_dir)
        if other != set_dir:
            raise DiscoveryError(
                f"two run sets are both named {set_name!r} ({other} and {set_dir}); "
                "rename one: the run-set name identifies cases in reports"
            )
        found.extend(runs)
    return found


# --------------------------------------------------------------------------- parsing


def parse_document(raw: bytes) -> tuple[Any, str | None]:
    """Parse JSON bytes; returns (document, error). NaN/Infinity tokens are parsed by the
    fallback so that validation can name their JSON path. The cyclic garbage collector is
    paused while parsing: a parse allocates ~10⁵ containers, none cyclic, and would trigger
    full collections over everything else alive (measured: −3 % gate time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _fast_loads(raw), None
    except Exception:
        pass
    finally:
        if enabled:
            gc.enable()
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return None, f"not valid JSON: {exc}"


def load_run(run_file: RunFile, raw: bytes | None = None) -> Run | InvalidRun:
    """Read, parse and validate one run. Never raises for bad input."""
    if raw is None:
        try:
            raw = run_file.path.read_bytes()
        except FileNotFoundError:
            return InvalidRun(run_file, (Problem(run_file.display, "", "file not found"),))
        except OSError as exc:
            return InvalidRun(run_file, (Problem(run_file.display, "", f"cannot read: {exc}"),))
    if not raw.strip():
        return InvalidRun(run_file, (Problem(run_file.display, "", "empty file"),))
    doc, error = parse_document(raw)
    if error:
        return InvalidRun(run_file, (Problem(run_file.display, "", error),))
    return validate(doc, run_file)


def load_runs(roots) -> list[Run | InvalidRun]:
    """All runs under ``roots`` (loaded eagerly; the gate loads one run at a time)."""
    return [load_run(f) for f in discover(roots)]


# --------------------------------------------------------------------------- validation


class _Validator:
    """Walks one document, collecting problems; helpers return None when a value is bad."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path, message))

    def obj(self, parent: dict, key: str, path: str, required: bool) -> dict | None:
        value = parent.get(key)
        if value is None:
            if required:
                self.problem(path, "missing" if key not in parent else "null, expected an object")
            return None
        if not isinstance(value, dict):
            self.problem(path, f"{_kind(value)}, expected an object")
            return None
        return value

    def number(self, parent: dict, key: str, path: str, required: bool) -> float | None:
        if key not in parent or parent[key] is None:
            if required:
                self.problem(path, "missing" if key not in parent else "null, expected a number")
            return None
        value = parent[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(path, f"{_kind(value)}, expected a number")
            return None
        bad = _not_finite(value)
        if bad:
            self.problem(path, bad)
            return None
        return float(value)

    def array(self, parent: dict, key: str, path: str, required: bool, n: int | None):
        if key not in parent or parent[key] is None:
            if required:
                self.problem(path, "missing" if key not in parent else "null, expected an array")
            return None
        return self.values(parent[key], path, n)

    def values(self, value, path: str, n: int | None, element=None) -> np.ndarray | None:
        """Finite float64 array from a JSON array; ``element(i)`` names item i's JSON path."""
        element = element or (lambda i: f"{path}[{i}]")
        if not isinstance(value, list):
            self.problem(path, f"{_kind(value)}, expected an array of numbers")
            return None
        if n is not None and len(value) != n:
            self.problem(path, f"{len(value)} values, expected {n}")
            return None
        if not value:
            self.problem(path, "empty array")
            return None
        if set(map(type, value)) <= {float, int}:
            try:
                arr = np.asarray(value, dtype=np.float64)
            except OverflowError:  # an integer beyond the float64 range: slow path names it
                arr = None
            if arr is not None and np.isfinite(arr).all():
                return arr
        for i, v in enumerate(value):  # slow path: name the first bad element
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                self.problem(element(i), f"{_kind(v)}, expected a number")
                return None
            bad = _not_finite(v)
            if bad:
                self.problem(element(i), bad)
                return None
        return None  # pragma: no cover - unreachable


def _not_finite(value) -> str | None:
    """None when an int/float converts to a finite float64, else the problem's message."""
    try:
        if math.isfinite(value):
            return None
    except OverflowError:  # a JSON integer beyond the float64 range
        return "integer out of the float64 range, not finite"
    return f"{value} is not finite"


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value[:40]!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (int, float)):  # JSON has one number type (parsers differ on big ints)
        return "a number"
    return type(value).__name__


def validate(doc: Any, run_file: RunFile) -> Run | InvalidRun:
    """Validate a parsed document against results-format.md; collect all problems."""
    v = _Validator(run_file.display)
    if not isinstance(doc, dict):
        v.problem("", f"top level is {_kind(doc)}, expected an object")
        return InvalidRun(run_file, tuple(v.problems))

    approx = v.obj(doc, "approx", "approx", required=True)
    true = v.obj(doc, "true", "true", required=True)
    G = v.number(approx, "delta_h_per_lr", "approx.delta_h_per_lr", required=True) if approx is not None else None
    approx = {} if approx is None else approx

    entries_raw = true.get("entries") if true is not None else None
    if true is not None and entries_raw is None:
        v.problem("true.entries", "missing")
    elif entries_raw is not None and not isinstance(entries_raw, list):
        v.problem("true.entries", f"{_kind(entries_raw)}, expected an array")
        entries_raw = None
    elif entries_raw is not None and not entries_raw:
        v.problem("true.entries", "empty, expected at least one entry")

    n = _sequence_count(entries_raw)
    entries = [_entry(v, e, f"true.entries[{j}]", n) for j, e in enumerate(entries_raw or [])]

    first_index: dict[float, int] = {}
    for j, e in enumerate(entries):
        if e is not None and first_index.setdefault(e.eta, j) != j:
            v.problem(f"true.entries[{j}].eta", f"duplicate η {e.eta!r}")

    gdotv = length = vhvv_seq = None
    per_seq = approx.get("per_sequence")
    if per_seq is not None:
        gdotv, length, vhvv_seq = _per_sequence(v, per_seq, n)
    meta = approx.get("per_sequence_meta")
    h_base_mean = v.number(meta, "H_base_mean", "approx.per_sequence_meta.H_base_mean", False) if isinstance(meta, dict) else None

    variance = v.obj(approx, "variance", "approx.variance", required=False) or {}
    se_shard = v.number(variance, "se_shard", "approx.variance.se_shard", False)
    se_jack = v.number(variance, "se_jackknife", "approx.variance.se_jackknife", False)
    num_shards = _shards(v, variance, "approx.variance.num_shards")

    quadratic = _quadratic(v, approx, G, n)

    if v.problems:
        return InvalidRun(run_file, tuple(v.problems))
    entries.sort(key=lambda e: e.eta)
    return Run(
        file=run_file,
        delta_h_per_lr=G,
        entries=tuple(entries),
        gdotv=gdotv,
        length=length,
        per_sequence_vhvv=vhvv_seq,
        h_base_mean=h_base_mean,
        se_shard=se_shard,
        se_jackknife=se_jack,
        num_shards=num_shards,
        quadratic=quadratic,
    )


def _sequence_count(entries_raw) -> int | None:
    """n, taken from the first entry's token_counts (the reference every array must match)."""
    try:
        return len(entries_raw[0]["diagnostics"]["token_counts"])
    except (TypeError, KeyError, IndexError):
        return None


def _entry(v: _Validator, raw, path: str, n: int | None) -> Entry | None:
    if not isinstance(raw, dict):
        v.problem(path, f"{_kind(raw)}, expected an object")
        return None
    before = len(v.problems)
    eta = v.number(raw, "eta", f"{path}.eta", required=True)
    if eta is not None and eta <= 0:
        v.problem(f"{path}.eta", f"{eta!r}, expected η > 0")
    delta = v.number(raw, "delta_h_true", f"{path}.delta_h_true", required=True)
    d = v.obj(raw, "diagnostics", f"{path}.diagnostics", required=True)
    if d is None:
        return None
    p = f"{path}.diagnostics"
    counts = v.array(d, "token_counts", f"{p}.token_counts", True, n)
    if counts is not None:
        bad = np.flatnonzero((counts < 1) | (counts != np.floor(counts)))
        if bad.size:
            i = int(bad[0])
            v.problem(f"{p}.token_counts[{i}]", f"{float(counts[i])!r}, expected an integer ≥ 1")
    fields = dict(
        normalized_weights=v.array(d, "normalized_weights", f"{p}.normalized_weights", True, n),
        h_new=v.array(d, "h_new", f"{p}.h_new", True, n),
        base_entropy=v.number(d, "base_entropy", f"{p}.base_entropy", True),
        h_base=v.array(d, "h_base", f"{p}.h_base", False, n),
        log_weights=v.array(d, "log_weights", f"{p}.log_weights", False, n),
        weights_sum=v.number(d, "weights_sum", f"{p}.weights_sum", False),
        ess=v.number(d, "ess", f"{p}.ess", False),
    )
    if len(v.problems) > before:
        return None
    return Entry(eta=eta, delta_h_true=delta, token_counts=counts, **fields)


def _per_sequence(v: _Validator, records, n: int | None):
    path = "approx.per_sequence"
    if not isinstance(records, list):
        v.problem(path, f"{_kind(records)}, expected an array of records")
        return None, None, None
    if n is not None and len(records) != n:
        v.problem(path, f"{len(records)} records, expected {n}")
        return None, None, None
    if not all(isinstance(r, dict) for r in records):
        i = next(i for i, r in enumerate(records) if not isinstance(r, dict))
        v.problem(f"{path}[{i}]", f"{_kind(records[i])}, expected an object")
        return None, None, None
    out = []
    for key, required in (("gdotv", True), ("length", True), ("vhvv", False)):
        column = [r.get(key) for r in records]
        if not required and all(c is None for c in column):
            out.append(None)
            continue
        missing = next((i for i, c in enumerate(column) if c is None), None)
        if missing is not None:
            v.problem(f"{path}[{missing}].{key}", "missing")
            out.append(None)
            continue
        out.append(v.values(column, path, None, element=lambda i, k=key: f"{path}[{i}].{k}"))
    return tuple(out)


def _shards(v: _Validator, block: dict, path: str) -> int | None:
    m = v.number(block, "num_shards", path, False)
    if m is None:
        return None
    if m < 1 or m != int(m):
        v.problem(path, f"{m!r}, expected an integer ≥ 1")
        return None
    return int(m)


def _quadratic(v: _Validator, approx: dict, G: float | None, n: int | None) -> Quadratic | None:
    q = v.obj(approx, "quadratic", "approx.quadratic", required=False)
    if q is None:
        return None
    p = "approx.quadratic"
    Q = v.number(q, "vHvv", f"{p}.vHvv", required=True)
    Gq = v.number(q, "gdotv", f"{p}.gdotv", required=False)
    per_seq = v.array(q, "per_sequence_vhvv", f"{p}.per_sequence_vhvv", False, n)
    var = v.obj(q, "variance", f"{p}.variance", required=False) or {}
    se_g = v.number(var, "se_gdotv", f"{p}.variance.se_gdotv", False)
    se_q = v.number(var, "se_vHvv", f"{p}.variance.se_vHvv", False)
    shards = _shards(v, var, f"{p}.variance.num_shards")
    if Q is None:
        return None
    return Quadratic(
        vhvv=Q,
        gdotv=Gq if Gq is not None else (G if G is not None else math.nan),
        per_sequence_vhvv=per_seq,
        se_gdotv=se_g,
        se_vhvv=se_q,
        num_shards=shards,
    )


# --------------------------------------------------------------------------- cheap η scan

_ETA = re.compile(rb'"eta"\s*:\s*(-?[0-9][0-9.eE+-]*)')


def scan_etas(path: Path) -> tuple[float, ...]:
    """The η values of a results file *without parsing it*: every ``"eta": <number>`` key,
    in file order (~1 ms for a 3 MB file instead of ~10–25 ms for a parse).

    Used to name the gate's test cases at collection time, so that collection stays cheap
    and identical on every xdist worker. It is a scan, not a parse: the gate compares it
    with ``true.entries[].eta`` once the file is parsed, and a mismatch fails the run's
    ``input`` case (an η the scan missed) or skips the case (an ``"eta"`` key elsewhere).
    Unreadable files give ``()``.
    """
    try:
        raw = path.read_bytes()
    except OSError:
        return ()
    out: list[float] = []
    for token in _ETA.findall(raw):
        try:
            value = float(token)
        except ValueError:
            continue
        if value not in out:
            out.append(value)
    return tuple(sorted(out))

"""Validate a parsed ``results.json`` document into a :class:`Run` (or an :class:`InvalidRun`).

Format: ``shared/spec/results-format.md``. Validation collects *every* problem of a file,
each as ``Problem(file, json_path, reason, message)``, e.g.
``E_256/run_03/results.json: true.entries[1].diagnostics.h_new: 255 values, expected 256``,
and never raises.

Rules (see docs/design.md, "Validity vs consistency"):

* Validity = what the statistics need to be computable: required fields present, right
  types (a JSON boolean or a numeric string is not a number), equal per-sequence lengths,
  η > 0 and distinct, T_i ≥ 1 integers.
* **Every number the gate reads is finite and |x| ≤ 1e50** (:data:`MAGNITUDE_BOUND`), η
  included. Finite is not enough: ``h_base = [1e308]*256`` is finite but Σ h_base overflows
  to inf. With every input within ±1e50, any product of up to six inputs is ≤ 1e300 and a
  sum of up to 1e8 such products stays below the float64 maximum (1.8e308): sums, η·G,
  ½η²·Q, variances and fourth moments of products cannot overflow. Ratios (z, ESS = 1/Σw̃²,
  H_new = Σw̃h/Σw̃T) can still be non-finite when a denominator is 0; that is the statistics'
  and verdicts' business (a non-finite statistic fails its case). The real files stay below
  1.4e7 in magnitude (``approx.quadratic.vHvv``), 43 orders of magnitude inside the bound.
* Content *consistency* (sums, alignment of ``per_sequence[i].length`` with
  ``token_counts[i]``, normalisation and sign of the weights, token counts equal across
  entries) is not a validity matter: it is judged by the ``consistency`` and ``snis_weights``
  checks, which can then fail with numbers. Negative weights are therefore valid input.
* Arrays are converted and checked with numpy (one type scan, one conversion, one
  ``|x| ≤ bound`` reduction per array; the per-sequence records in one pass per field); the
  per-element Python path only runs to name the first bad element of a bad array.
"""
from __future__ import annotations

import math
from operator import itemgetter
from typing import Any

import numpy as np

from dhstats.load.records import Entry, InvalidRun, Problem, ProblemReason, Quadratic, Run, RunFile

#: |x| ≤ MAGNITUDE_BOUND for every number the gate reads (module docstring: why 1e50).
MAGNITUDE_BOUND = 1e50
_BOUND_TEXT = "1e50"
_NUMBER_TYPES = {float, int}
_MISSING, _TYPE = ProblemReason.MISSING, ProblemReason.WRONG_TYPE
_LENGTH, _RANGE = ProblemReason.WRONG_LENGTH, ProblemReason.OUT_OF_RANGE


class Validator:
    """Walks one document, collecting problems; helpers return None when a value is bad."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, path: str, reason: ProblemReason, message: str) -> None:
        self.problems.append(Problem(self.file, path, reason, message))

    def obj(self, parent: dict, key: str, path: str, required: bool) -> dict | None:
        value = parent.get(key)
        if value is None:
            if required:
                self.problem(path, _MISSING, "missing" if key not in parent else "null, expected an object")
            return None
        if not isinstance(value, dict):
            self.problem(path, _TYPE, f"{_kind(value)}, expected an object")
            return None
        return value

    def number(self, parent: dict, key: str, path: str, required: bool) -> float | None:
        if key not in parent or parent[key] is None:
            if required:
                self.problem(path, _MISSING, "missing" if key not in parent else "null, expected a number")
            return None
        return self.scalar(parent[key], path)

    def scalar(self, value, path: str) -> float | None:
        """A JSON number within the bound, as a float; else a problem and None."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(path, _TYPE, f"{_kind(value)}, expected a number")
            return None
        bad = _out_of_bounds(value)
        if bad:
            self.problem(path, _RANGE, bad)
            return None
        return float(value)

    def array(self, parent: dict, key: str, path: str, required: bool, n: int | None):
        if key not in parent or parent[key] is None:
            if required:
                self.problem(path, _MISSING, "missing" if key not in parent else "null, expected an array")
            return None
        return self.values(parent[key], path, n)

    def values(self, value, path: str, n: int | None, element=None) -> np.ndarray | None:
        """Bounded float64 array from a JSON array; ``element(i)`` names item i's JSON path.

        Fast path: one type scan, one conversion, one ``|x| ≤ bound`` reduction. The slow
        per-element loop runs only to name the first bad item."""
        element = element or (lambda i: f"{path}[{i}]")
        if not isinstance(value, list):
            self.problem(path, _TYPE, f"{_kind(value)}, expected an array of numbers")
            return None
        if n is not None and len(value) != n:
            self.problem(path, _LENGTH, f"{len(value)} values, expected {n}")
            return None
        if not value:
            self.problem(path, _LENGTH, "empty array")
            return None
        arr = _numeric(value)
        if arr is not None:
            inside = np.abs(arr) <= MAGNITUDE_BOUND  # False for NaN and ±inf too
            if inside.all():
                return arr
            i = int(np.argmin(inside))
            self.problem(element(i), _RANGE, _out_of_bounds(value[i]) or "out of bounds")
            return None
        for i, item in enumerate(value):  # slow path: name the first bad element
            if self.scalar(item, element(i)) is None:
                return None
        return np.array(value, dtype=np.float64)  # numbers of other types (numpy scalars)


def _numeric(value: list) -> np.ndarray | None:
    """float64 array of a list holding only JSON numbers, else None (the caller names the
    bad item). numpy infers the dtype in C: any null, string, object, nested array or
    integer beyond 64 bits gives a non-numeric dtype, a ragged or 2-D shape, or an error.
    The one impostor it cannot see is a boolean among numbers (cast to 0/1), so the
    elements' types are scanned only when a 0 or a 1 is present (measured on 2048 floats:
    45 µs against 70 µs for a type scan of every list)."""
    try:
        arr = np.array(value)
    except (ValueError, TypeError, OverflowError):
        return None
    if arr.ndim != 1 or arr.dtype.kind not in "fi":
        return None
    if arr.dtype.kind == "i":
        arr = arr.astype(np.float64)
    if ((arr == 0.0) | (arr == 1.0)).any() and not set(map(type, value)) <= _NUMBER_TYPES:
        return None
    return arr


def _out_of_bounds(value) -> str | None:
    """None when an int/float is finite with |x| ≤ MAGNITUDE_BOUND, else the message."""
    try:
        if abs(value) <= MAGNITUDE_BOUND:
            return None
        if math.isfinite(value):
            return f"{float(value)!r}, expected |x| ≤ {_BOUND_TEXT} (bound on every number the gate reads)"
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
    v = Validator(run_file.display)
    if not isinstance(doc, dict):
        v.problem("", _TYPE, f"top level is {_kind(doc)}, expected an object")
        return InvalidRun(run_file, tuple(v.problems))

    approx = v.obj(doc, "approx", "approx", required=True)
    true = v.obj(doc, "true", "true", required=True)
    G = v.number(approx, "delta_h_per_lr", "approx.delta_h_per_lr", required=True) if approx is not None else None
    approx = {} if approx is None else approx

    entries_raw = true.get("entries") if true is not None else None
    if true is not None and entries_raw is None:
        v.problem("true.entries", _MISSING, "missing" if "entries" not in true else "null, expected an array")
    elif entries_raw is not None and not isinstance(entries_raw, list):
        v.problem("true.entries", _TYPE, f"{_kind(entries_raw)}, expected an array")
        entries_raw = None
    elif entries_raw is not None and not entries_raw:
        v.problem("true.entries", _LENGTH, "empty, expected at least one entry")

    n = _sequence_count(entries_raw)
    entries = [_entry(v, e, f"true.entries[{j}]", n) for j, e in enumerate(entries_raw or [])]

    first_index: dict[float, int] = {}
    for j, e in enumerate(entries):
        if e is not None and first_index.setdefault(e.eta, j) != j:
            v.problem(f"true.entries[{j}].eta", ProblemReason.DUPLICATE, f"duplicate η {e.eta!r}")

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
        counts = entries_raw[0]["diagnostics"]["token_counts"]
    except (TypeError, KeyError, IndexError):
        return None
    return len(counts) if isinstance(counts, list) else None


def _entry(v: Validator, raw, path: str, n: int | None) -> Entry | None:
    if not isinstance(raw, dict):
        v.problem(path, _TYPE, f"{_kind(raw)}, expected an object")
        return None
    before = len(v.problems)
    eta = v.number(raw, "eta", f"{path}.eta", required=True)
    if eta is not None and eta <= 0:
        v.problem(f"{path}.eta", _RANGE, f"{eta!r}, expected η > 0")
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
            v.problem(f"{p}.token_counts[{i}]", _RANGE, f"{float(counts[i])!r}, expected an integer ≥ 1")
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


_PER_SEQUENCE_FIELDS = (("gdotv", True), ("length", True), ("vhvv", False))


def _per_sequence(v: Validator, records, n: int | None):
    """``approx.per_sequence[i].{gdotv, length, vhvv}`` as three arrays (vhvv optional: None
    when no record has it). One ``itemgetter`` pass over the records per field; a record
    lacking the field (or holding null) is named by index."""
    path = "approx.per_sequence"
    if not isinstance(records, list):
        v.problem(path, _TYPE, f"{_kind(records)}, expected an array of records")
        return None, None, None
    if n is not None and len(records) != n:
        v.problem(path, _LENGTH, f"{len(records)} records, expected {n}")
        return None, None, None
    if not records:
        v.problem(path, _LENGTH, "empty array")
        return None, None, None
    if set(map(type, records)) != {dict}:
        i = next(i for i, r in enumerate(records) if not isinstance(r, dict))
        v.problem(f"{path}[{i}]", _TYPE, f"{_kind(records[i])}, expected an object")
        return None, None, None
    out = []
    for key, required in _PER_SEQUENCE_FIELDS:
        try:
            column = list(map(itemgetter(key), records))
        except KeyError:
            column = [r.get(key) for r in records]
        if not required and all(c is None for c in column):
            out.append(None)
            continue
        missing = next((i for i, c in enumerate(column) if c is None), None) if None in column else None
        if missing is not None:
            what = "missing" if key not in records[missing] else "null, expected a number"
            v.problem(f"{path}[{missing}].{key}", _MISSING, what)
            out.append(None)
            continue
        out.append(v.values(column, path, None, element=lambda i, k=key: f"{path}[{i}].{k}"))
    return tuple(out)


def _shards(v: Validator, block: dict, path: str) -> int | None:
    m = v.number(block, "num_shards", path, False)
    if m is None:
        return None
    if m < 1 or m != int(m):
        v.problem(path, _RANGE, f"{m!r}, expected an integer ≥ 1")
        return None
    return int(m)


def _quadratic(v: Validator, approx: dict, G: float | None, n: int | None) -> Quadratic | None:
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

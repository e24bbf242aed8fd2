"""JSON values of the gate's documents (health.json, history lines): a JSON-safe copy, its
bytes, and the key that says which sessions are comparable. No dhstats imports: used by the
report layer and by the figures the producer draws (the trend).
"""
from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Mapping

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a declared dependency
    orjson = None


def clean(obj):
    """JSON-safe copy: non-finite floats → None, tuples → lists, keys → str, paths → str."""
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, str):  # plain str (also for StrEnum members), valid UTF-8
        try:
            obj.encode("utf-8")
            return str(obj)
        except UnicodeEncodeError:  # lone surrogates, e.g. a file name's undecodable bytes
            return obj.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, Mapping):  # keys too: a run name may key a dict (pooled cases' per-run parts)
        return {clean(str(k)): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [clean(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return clean(os.fspath(obj))
    if hasattr(obj, "tolist"):  # a numpy scalar or array slipped through
        return clean(obj.tolist())
    return str(obj)


def dumps_json(obj, indent: bool = True) -> bytes:
    """UTF-8 JSON of ``clean(obj)`` (indent 2 + newline, or one compact line): never NaN tokens."""
    c = clean(obj)
    if orjson is not None:
        try:
            return orjson.dumps(c, option=orjson.OPT_INDENT_2 if indent else 0) + (b"\n" if indent else b"")
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: the stdlib writes it
            pass
    text = json.dumps(c, indent=2 if indent else None, ensure_ascii=False, allow_nan=False,
                      separators=None if indent else (",", ":"))
    return (text + ("\n" if indent else "")).encode("utf-8")


def selection(line: Mapping) -> tuple[tuple, str]:
    """What a session checked and how, as a comparable key: its run sets (name, E, runs; sorted)
    and its settings (canonical JSON). Two sessions are comparable (the trend) only when their
    selections are equal; a health document and its history line give the same key."""
    sets = line.get("run_sets") if isinstance(line.get("run_sets"), list) else []
    names = tuple(sorted((str(s.get("name")), str(s.get("E")), str(s.get("runs"))) for s in sets
                         if isinstance(s, Mapping)))
    return names, json.dumps(clean(line.get("settings")), sort_keys=True)

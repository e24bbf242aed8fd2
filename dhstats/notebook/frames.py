"""Run sets and per-sequence numbers as pandas DataFrames, for notebooks and ``per_sequence.csv``.

* :class:`RunSet` — the runs of one ``--results`` directory (valid and invalid), loaded once;
  iterable, so every :mod:`dhstats.notebook.tables` function takes it (or a list of runs) directly;
  displays as an HTML table of its runs in Jupyter.
* :func:`per_sequence` / :func:`per_sequence_frame` — one row per (run, η, sequence i): the
  per-sequence terms whose sums are the run's totals (columns: :data:`PER_SEQUENCE_COLUMNS`,
  units in ``docs/tables.md``).
* :func:`runs_frame`, :func:`cases_frame` — one row per run / per verdict.
* :func:`example_run_sets` — the embedded example (simulated), when there is no data.
* :class:`Frame` — the DataFrame every table is: η displayed as ``3.2e-06``, kept a float.
* :func:`run_set_dirs` — the run sets at a path (a run set, or its parent).
* :func:`reported_se_convention` — which ``--reported-se`` the producer's files need.
* :func:`judge` — the gate's verdicts on run sets (:class:`dhstats.session.Session`, no pytest) as a
  :class:`~dhstats.verdicts.display.HealthDocument`.

Nothing is estimated here: c_i is :func:`dhstats.stats.stats.notebook_contributions` (through
:func:`dhstats.stats.series.sequence_series`), ψ_i :func:`dhstats.stats.stats.paired_influence`, g̃_i and
q̃_i the centred contributions of :func:`dhstats.stats.sigmas.run_parts` — the kernels the checks use.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dhstats.stats import stats
from dhstats.verdicts.display import HealthDocument, html_table
from dhstats.load.duplicates import mark_duplicates
from dhstats.load.results import MAX_FILE_BYTES, DiscoveryError, InvalidRun, Run, discover, load_fingerprinted
from dhstats.stats.series import normalised_error, sequence_series
from dhstats.load.settings import Settings
from dhstats.stats.sigmas import run_parts

PER_SEQUENCE_COLUMNS = ("run_set", "run", "eta", "sequence", "T", "w", "c", "eta_gdotv", "linquad",
                        "psi", "g_tilde", "q_tilde", "normalised_error")


@dataclass(frozen=True, eq=False, repr=False)
class RunSet:
    """The runs found under one run-set directory (``<path>/run_*/results.json``), in
    discovery order; invalid files are kept as :class:`~dhstats.load.results.InvalidRun` (with
    their problems), never dropped. Iterating yields every run, valid or not."""

    name: str
    path: Path
    runs: tuple[Run | InvalidRun, ...]

    def __iter__(self):
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    @property
    def valid(self) -> list[Run]:
        """The runs that passed validation."""
        return [r for r in self.runs if isinstance(r, Run)]

    @property
    def invalid(self) -> list[InvalidRun]:
        return [r for r in self.runs if isinstance(r, InvalidRun)]

    def run(self, name: str) -> Run:
        """The valid run named ``name`` (e.g. ``"run_01"``); KeyError naming the runs there are."""
        for r in self.valid:
            if r.file.run == name:
                return r
        raise KeyError(f"{self.name}: no valid run {name!r} (runs: {', '.join(r.file.run for r in self.valid)})")

    def __repr__(self) -> str:
        return f"RunSet({self.name!r}: {len(self.valid)} valid run(s), {len(self.invalid)} invalid)"

    def _repr_html_(self) -> str:
        df = runs_frame(self.runs)
        caption = f"run set {self.name}: {len(self.valid)} valid run(s), {len(self.invalid)} invalid"
        return html_table(list(df.columns), df.itertuples(index=False, name=None), caption)


class Frame(pd.DataFrame):
    """A pandas DataFrame whose η column (``eta``) is shown in scientific notation, 3
    significant digits (``3.2e-06``, where pandas' default prints ``0.000003``), in its text
    and its HTML (Jupyter). The data stay floats: only the display is formatted
    (``to_string``/``to_html`` with a formatter for ``eta``); CSV files and computations see
    the numbers. Every table of :mod:`dhstats.notebook.tables` and :mod:`dhstats.notebook.frames` is one;
    pandas operations keep the class (``_constructor``, pandas' documented way to subclass)."""

    @property
    def _constructor(self):
        return Frame

    def _shown(self) -> pd.DataFrame:
        """What is displayed: itself, or, transposed (``df.T``: η a row), a copy whose η row is text."""
        rows = [r for r in ETA_COLUMNS if r in self.index and r not in self.columns]
        if not rows or not self.index.is_unique:
            return self
        shown = self.astype(object)
        for r in rows:
            shown.loc[r] = [eta_text(v) for v in self.loc[r]]
        return shown

    def _display_options(self) -> dict:
        return {"formatters": {c: eta_text for c in self.columns if c in ETA_COLUMNS},
                "max_rows": pd.get_option("display.max_rows"), "max_cols": pd.get_option("display.max_columns"),
                "show_dimensions": pd.get_option("display.show_dimensions")}

    def __repr__(self) -> str:
        return pd.DataFrame.to_string(self._shown(), min_rows=pd.get_option("display.min_rows"),
                                      **self._display_options())

    def _repr_html_(self) -> str:
        return pd.DataFrame.to_html(self._shown(), notebook=True, **self._display_options())


ETA_COLUMNS = ("eta",)


def eta_text(value) -> str:
    """η as shown in a :class:`Frame`: ``3.2e-06`` (3 significant digits), ``NaN`` when missing."""
    try:
        return f"{float(value):.3g}"
    except (TypeError, ValueError):
        return str(value)


def run_set_dirs(path: str | os.PathLike) -> list[Path]:
    """The run-set directories at ``path``: ``[path]`` when it holds ``run_*`` directories (a
    run set such as ``E_2048``), else its sub-directories that do (a parent such as ``data/``
    holding ``E_256``, ``E_512``), by name. FileNotFoundError for a missing path,
    :class:`dhstats.load.results.DiscoveryError` when no run set is there."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory")

    def holds_runs(d: Path) -> bool:
        return any(c.is_dir() and c.name.startswith("run_") for c in d.iterdir())

    if holds_runs(root):
        return [root]
    found = sorted(d for d in root.iterdir() if d.is_dir() and holds_runs(d))
    if not found:
        raise DiscoveryError(f"{root}: no run set here (a directory of run_*/results.json, or its parent)")
    return found


def load_run_set(path: str | os.PathLike, *, max_bytes: int = MAX_FILE_BYTES) -> RunSet:
    """Load every ``run_*/results.json`` under ``path``; the set's name is the directory's
    (e.g. ``E_256``). Raises :class:`dhstats.load.results.DiscoveryError` when there is no run."""
    return _load_sets([path], max_bytes)[0]


def load_run_sets(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[RunSet]:
    """:func:`load_run_set` of each path, in order. One path (``str`` or ``Path``) may be a
    run set or its parent (:func:`run_set_dirs`). A run that repeats an earlier one of any of
    them is invalid input, ``duplicate_run`` (:mod:`dhstats.load.duplicates`)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = run_set_dirs(paths)
    return _load_sets(list(paths), MAX_FILE_BYTES)


def _load_sets(paths: list, max_bytes: int) -> list[RunSet]:
    found = [(Path(p), discover([p])) for p in paths]
    pairs = [load_fingerprinted(f, max_bytes=max_bytes) for _, files in found for f in files]
    marked = iter(mark_duplicates([run for run, _ in pairs], [fp for _, fp in pairs]))
    return [RunSet(path.name, path, tuple(next(marked) for _ in files)) for path, files in found]


def example_run_sets(directory: str | os.PathLike) -> list[RunSet]:
    """The embedded example for trying things without data, written under ``directory`` and
    loaded: :func:`dhstats.simulate.write_example` (``E_example``: 3 runs, n = 256; the linear
    term fails at the largest η, lin+quad holds) and the same simulated producer at n = 1024
    (``E_1024``, 3 runs, same η and entropy noise) for the cross-E comparison. The simulator's
    gradient noise per sequence is ``score_noise``·|R′|/√n, whose sum over n sequences does not
    shrink with n; E_1024 takes score_noise·√(256/1024) so that, as in a real producer, σ_G
    shrinks as 1/√E. Deterministic."""
    from dhstats import simulate
    from dhstats.simulate.files import EXAMPLE_SCORE_NOISE

    small = simulate.write_example(directory)
    large = simulate.write_run_set(directory, name="E_1024", runs=3, n=1024, etas=simulate.EXAMPLE_ETAS,
                                   seed=simulate.EXAMPLE_SEED, entropy_noise=simulate.EXAMPLE_ENTROPY_NOISE,
                                   score_noise=EXAMPLE_SCORE_NOISE * math.sqrt(256 / 1024))
    return load_run_sets([small, large])


def runs_of(source) -> list[Run | InvalidRun]:
    """The runs of a run, a :class:`RunSet`, or an iterable of runs and run sets (flattened,
    in order; invalid runs included)."""
    if isinstance(source, (Run, InvalidRun)):
        return [source]
    out: list = []
    for item in source:
        out += list(item) if isinstance(item, RunSet) else [item]
    return out


def runs_frame(source) -> pd.DataFrame:
    """One row per run: run set, run, status (ok | error), E (sequences), the η values, which
    optional data the file carries (per-sequence gdotv, h_base, quadratic block), the
    producer's num_shards and, for an invalid run, its problems."""
    rows = []
    for r in runs_of(source):
        f = r.file
        if isinstance(r, InvalidRun):
            rows.append({"run_set": f.run_set, "run": f.run, "status": "error", "message": r.message})
            continue
        rows.append({"run_set": f.run_set, "run": f.run, "status": "ok", "E": r.n,
                     "etas": ", ".join(f"{e:.3g}" for e in r.etas),
                     "per_sequence": r.gdotv is not None,
                     "h_base": all(e.h_base is not None for e in r.entries),
                     "quadratic": r.quadratic is not None, "num_shards": r.num_shards, "message": ""})
    cols = ["run_set", "run", "status", "E", "etas", "per_sequence", "h_base", "quadratic", "num_shards", "message"]
    return Frame(rows, columns=cols)


def per_sequence(run: Run, etas: Iterable[float] | None = None) -> pd.DataFrame:
    """One row per (η, sequence i) of a valid run (ascending η, then i = 0…n−1), nats per token:

    * ``T`` = T_i, ``w`` = w̃_i (normalised weights, Σ = 1);
    * ``c`` = w̃_i h_new_i / Σw̃T − (T_i/ΣT)·H_base, the seed notebook's split: Σ_i c_i = ΔH_true;
    * ``eta_gdotv`` = η·gdotv_i: Σ = ηG; ``linquad`` = η·gdotv_i + ½η²·vhvv_i: Σ = ηG + ½η²Q
      (NaN without per-sequence vHv);
    * ``psi`` = ψ_i of the paired delta method (Σ = 0; σ_true = √(n/(n−1)·Σψ²); NaN without h_base);
    * ``g_tilde`` = η-free g̃_i = gdotv_i − G·T_i/ΣT, ``q_tilde`` = vhvv_i − Q·T_i/ΣT (per LR,
      per LR²; Σ = 0): σ_lin = se_sum(η·g̃ − ψ) (checks.md);
    * ``normalised_error`` = |c_i − η·gdotv_i| / |ΔH_true| (not normalised when ΔH_true = 0).

    Columns without their data (no per-sequence gdotv, no h_base) are NaN. ``etas``: only
    these η (each must be in the run: KeyError otherwise)."""
    entries = run.entries if etas is None else [run.entry(float(x)) for x in etas]
    parts = run_parts(run, "total")
    nan = np.full(run.n, np.nan)
    frames = []
    for e in entries:
        s = sequence_series(run, e)
        if not np.array_equal(parts.T, e.token_counts):  # token counts differ across entries
            parts = run_parts(run, "total", e.token_counts)
        with np.errstate(all="ignore"):
            psi = nan if e.h_base is None else stats.paired_influence(
                e.normalized_weights, e.token_counts, e.h_new, e.h_base)
            err = nan if s.linear is None else normalised_error(s.true, s.linear, e.delta_h_true)
        frames.append(Frame({
            "run_set": run.file.run_set, "run": run.file.run, "eta": e.eta,
            "sequence": np.arange(run.n), "T": e.token_counts,
            "w": e.normalized_weights / np.sum(e.normalized_weights), "c": s.true,
            "eta_gdotv": nan if s.linear is None else s.linear,
            "linquad": nan if s.linquad is None else s.linquad, "psi": psi,
            "g_tilde": nan if parts.g_tilde is None else parts.g_tilde,
            "q_tilde": nan if parts.q_tilde is None else parts.q_tilde,
            "normalised_error": err}))
    if not frames:
        return Frame(columns=PER_SEQUENCE_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def per_sequence_frame(source, runs: Iterable[str] | None = None,
                       etas: Iterable[float] | None = None) -> pd.DataFrame:
    """:func:`per_sequence` of every valid run of ``source`` (a RunSet, a run, or a list of
    runs / run sets), stacked; ``runs``: only these run names; ``etas``: only the η each
    run has among these. Invalid runs have no rows (see :func:`runs_frame`)."""
    wanted = None if runs is None else set(runs)
    parts = []
    for r in runs_of(source):
        if not isinstance(r, Run) or (wanted is not None and r.file.run not in wanted):
            continue
        mine = None if etas is None else [x for x in etas if any(_same(x, e) for e in r.etas)]
        parts.append(per_sequence(r, mine))
    if not parts:
        return Frame(columns=PER_SEQUENCE_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def _same(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-9 * abs(b)


def cases_frame(source, checks: Iterable[str] | None = None, outcome: str | None = None) -> pd.DataFrame:
    """One row per case: the records of a health document (its ``cases``) or an iterable of
    verdicts / case dicts — run set, run, η, check, outcome, the numbers (z, σ's, resolution
    when the gate gives it, …) and the message. ``checks``/``outcome`` filter."""
    records = source.get("cases", []) if isinstance(source, Mapping) else source
    rows = [r.to_dict() if hasattr(r, "to_dict") else dict(r) for r in records]
    wanted = None if checks is None else set(checks)
    rows = [r for r in rows if (wanted is None or r.get("check") in wanted)
            and (outcome is None or r.get("outcome") == outcome)]
    df = Frame(rows)
    if "results" in df.columns and "run_set" not in df.columns:
        df = df.rename(columns={"results": "run_set"})
    front = [c for c in ("run_set", "run", "eta", "check", "outcome", "z", "resolution") if c in df.columns]
    rest = [c for c in df.columns if c not in front and c != "message"]
    return df[front + rest + (["message"] if "message" in df.columns else [])]


def reported_se_convention(source, settings: Settings = Settings()) -> str:
    """``"shard-mean"`` when every run with per-sequence gdotv, a reported ``se_shard`` and
    num_shards > 1 reports the SE of the mean shard contribution — ρ = se_shard / se_sum(g̃)
    outside ``settings.se_ratio_bounds`` but ρ·num_shards inside
    (:meth:`dhstats.stats.stats.SERatio.shard_mean`, the se_consistency check's diagnosis) — else
    ``"total"`` (also when no run can tell). The value for ``Settings(reported_se=…)``."""
    lo, hi = settings.se_ratio_bounds
    verdicts = []
    for r in runs_of(source):
        if not isinstance(r, Run) or r.gdotv is None or r.se_shard is None or not r.num_shards:
            continue
        g_tilde = run_parts(r, "total").g_tilde
        ratio = stats.se_ratio(r.se_shard, g_tilde, r.num_shards)
        verdicts.append(not lo <= ratio.rho <= hi and ratio.shard_mean(settings.se_ratio_bounds))
    return "shard-mean" if verdicts and all(verdicts) else "total"


def judge(run_sets: str | os.PathLike | Iterable[RunSet | str | os.PathLike], settings: Settings = Settings(), *,
          reports: str | os.PathLike) -> HealthDocument:
    """The gate's verdict on these run sets, without pytest: :meth:`dhstats.session.Session.run`
    (every check, pooled and se_scaling cases, no figures), which writes health.json and
    badges into ``reports`` (and nothing else); its health document, for display. One path
    may be a run set or its parent (:func:`run_set_dirs`)."""
    from dhstats.session import Session
    from dhstats.load.settings import SessionOptions

    if isinstance(run_sets, (str, os.PathLike)):
        run_sets = run_set_dirs(run_sets)
    roots = [rs.path if isinstance(rs, RunSet) else Path(rs) for rs in run_sets]
    options = SessionOptions(settings, max_plots=0, reports=Path(reports), history=None)
    return HealthDocument(Session(options, roots).run())

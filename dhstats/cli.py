"""``dhstats`` command line: ``gate``, ``tables``, ``plot``, ``simulate``.

``gate`` runs the gate's pytest session on the installed test module (in a checkout,
``pytest checks/ --results DIR`` is the same session); the others serve the notebook's tables
and plots, with the notebook's parameters, and the reference simulator.

Exit status: 0 done; 1 done, but some run was invalid input (reported on stderr, skipped);
2 usage error (a bad option value, a --results directory that does not exist or holds no run,
a ``plot --run`` or ``--eta`` that is not in the files: the message names what exists).
Option values are validated by :func:`dhstats.load.settings.parse_settings` (the gate's options) and here
(the CLI's own: --clip, --clip-base-quantile, --clip-steps, --truncation-grid, --dpi).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

from dhstats.load.names import safe_name
from dhstats.load.results import DiscoveryError, Run, load_runs
from dhstats.load.settings import OPTION, Settings, SettingsError, parse_settings

# The notebook's values (shared/seed): compare_filtered_estimates' clip thresholds, the clip
# sweep's base quantile and steps; the truncation sweep grid is trunc.DEFAULT_SWEEP_QUANTILES.
DEFAULT_CLIP = "5e-4,1e-4"
DEFAULT_CLIP_BASE_QUANTILE = "0.999"
DEFAULT_CLIP_STEPS = "10"


# --------------------------------------------------------------------------- option values


def _numbers(text: str, flag: str) -> tuple[float, ...]:
    out = []
    for t in str(text).replace(";", ",").split(","):
        if not t.strip():
            continue
        try:
            v = float(t)
        except ValueError:
            raise SettingsError(f"{flag}: {t.strip()!r} is not a number") from None
        if not math.isfinite(v):
            raise SettingsError(f"{flag}: {t.strip()!r} is not a finite number")
        out.append(v)
    if not out:
        raise SettingsError(f"{flag}: expected one or more numbers, got {text!r}")
    return tuple(out)


def _one(text: str, flag: str) -> float:
    values = _numbers(text, flag)
    if len(values) != 1:
        raise SettingsError(f"{flag}: expected one number, got {text!r}")
    return values[0]


def _integer(text: str, flag: str, lo: int, hi: int) -> int:
    v = _one(text, flag)
    if v != int(v) or not lo <= v <= hi:
        raise SettingsError(f"{flag}: expected a whole number in [{lo}, {hi}], got {text!r}")
    return int(v)


@dataclasses.dataclass(frozen=True)
class Options:
    """Everything ``tables`` and ``plot`` take besides paths, validated."""

    settings: Settings
    clip: tuple[float, ...]  # the notebook's 5e-4, 1e-4 unless given
    clip_given: bool
    clip_base_quantile: float
    clip_steps: int
    truncation_grid: tuple[float, ...] | None  # None: the default sweep (plots) / keep-quantiles (tables)
    dpi: int = 100
    baseline: object = None  # tables --baseline: a dhstats.gate.baseline_source.BaselineSource


def options(args) -> Options:
    """Validate the parsed arguments; raises :class:`SettingsError` naming the option."""
    settings = parse_settings({"k": args.k, "keep_quantiles": args.keep_quantiles,
                               "reported_se": args.reported_se, "tolerance": args.tolerance,
                               "equivalence_alpha": args.equivalence_alpha,
                               "baseline_tolerance": getattr(args, "baseline_tolerance", "")})
    clip = _numbers(DEFAULT_CLIP if args.clip is None else args.clip, "--clip")
    if not all(c > 0 for c in clip):
        raise SettingsError(f"--clip: each value must be > 0, got {args.clip!r}")
    base = _one(args.clip_base_quantile, "--clip-base-quantile")
    if not 0 < base < 1:
        raise SettingsError(f"--clip-base-quantile: must be in (0, 1), got {args.clip_base_quantile!r}")
    steps = _integer(args.clip_steps, "--clip-steps", 1, 1000)
    grid = None
    if args.truncation_grid:
        grid = _numbers(args.truncation_grid, "--truncation-grid")
        if not all(0 < q <= 1 for q in grid):
            raise SettingsError(f"--truncation-grid: each keep-quantile must be in (0, 1], got {args.truncation_grid!r}")
    dpi = _integer(getattr(args, "dpi", "100"), "--dpi", 20, 600)
    for flag in ("health", "history"):
        path = getattr(args, flag, None)
        if path and not Path(path).is_file():
            raise SettingsError(f"--{flag}: {path} is not a file")
    if getattr(args, "history", None):
        from dhstats.report.history import HistoryError, check_path

        try:  # a link to a file is refused like the gate's --history (reads are never through one)
            check_path(args.history)
        except HistoryError as exc:
            raise SettingsError(f"--history: {exc}") from None
    baseline = None
    if getattr(args, "baseline", ""):
        from dhstats.gate.baseline_source import open_baseline
        from dhstats.load.settings import SessionOptions, baseline_path

        baseline = open_baseline(baseline_path(args.baseline), SessionOptions(settings))
    return Options(settings, clip, args.clip is not None, base, steps, grid, dpi, baseline)


# --------------------------------------------------------------------------- loading


def _load(args) -> list:
    """Every run under ``--results``; a repeat of an earlier run is invalid (``duplicate_run``)."""
    return load_runs(args.results)  # DiscoveryError: usage error (main)


def _out_dir(path: str) -> Path:
    """The output directory, created; a path that cannot be one is a usage error."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(f"--out: cannot create directory {out}: {exc.strerror or exc}") from None
    return out


def _report_invalid(runs) -> int:
    bad = [r for r in runs if not isinstance(r, Run)]
    for r in bad:
        print("invalid input, run skipped:\n  " + r.message.replace("\n", "\n  "), file=sys.stderr)
    return 1 if bad else 0


# --------------------------------------------------------------------------- tables


def _why_empty(name: str, runs: list[Run]) -> str:
    """Why table ``name`` has no row, for stderr."""
    if not runs:
        return "no valid run to tabulate"
    if name in ("truncation", "filtered_estimates") and all(r.gdotv is None for r in runs):
        return "no valid run has per-sequence gdotv (approx.per_sequence), which truncation and clipping need"
    if name == "scaling":
        return "se_scaling needs two or more run sets of different E"
    if name == "pooled":
        return "pooling needs two or more valid runs in a run set"
    if name == "baseline":
        return "no run set matched in --baseline (by name, or one set on each side)"
    return "nothing to tabulate for these runs"


def build_tables(runs, opts: Options) -> dict:
    """:func:`dhstats.notebook.tables.all_tables` with the notebook's parameters: truncation.csv rows at
    the keep-quantiles ∪ --truncation-grid, filtered_estimates at the keep-quantiles and --clip."""
    from dhstats.notebook import tables

    out = tables.all_tables(runs, opts.settings)
    if opts.truncation_grid:
        qs = tuple(sorted(set(opts.settings.keep_quantiles) | set(opts.truncation_grid), reverse=True))
        out["truncation"] = tables.truncation_table(runs, dataclasses.replace(opts.settings, keep_quantiles=qs))
    out["filtered_estimates"] = tables.filtered_estimates_table(
        runs, keep_quantiles=opts.settings.keep_quantiles, clip_thresholds=opts.clip)
    if opts.baseline is not None:
        out["baseline"] = tables.baseline_table(runs, opts.baseline, opts.settings)
    return out


def cmd_tables(args, opts: Options) -> int:
    import pandas as pd

    from dhstats.notebook.tables import csv_safe

    runs = _load(args)
    valid = [r for r in runs if isinstance(r, Run)]
    out = _out_dir(args.out)
    with pd.option_context("display.width", 160, "display.max_columns", 30, "display.max_rows", 200,
                           "display.float_format", "{:.4g}".format):
        for name, df in build_tables(runs, opts).items():
            path = out / f"{name}.csv"
            csv_safe(df).to_csv(path, index=False)
            print(f"\n== {name} ({len(df)} rows) -> {path}")
            if df.empty:
                print(f"dhstats tables: {name}.csv has no rows: {_why_empty(name, valid)}", file=sys.stderr)
            elif name == "agreement":
                cols = [c for c in ("run_set", "run", "eta", "delta_true", "delta_linear", "combined_se",
                                    "sigma_source", "z", "within_ksigma", "notebook_combined_se",
                                    "notebook_within_1sigma") if c in df.columns]
                print(df[cols].to_string(index=False))
            elif name in ("summary", "pooled", "scaling", "truncation", "baseline"):
                print(df.to_string(index=False))
    print("\ncolumns: dhstats tables --columns")
    return _report_invalid(runs)


def columns_text() -> str:
    """The tables' data dictionary (``dhstats/columns.md``, installed with the package)."""
    from importlib.resources import files

    return files("dhstats").joinpath("columns.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- plot


def _write(out: Path, stem: str, result, where: str) -> bool:
    """Write one :func:`dhstats.figures.gallery.render` result (a :class:`dhstats.figures.rendered.Figure`); a
    note goes to stderr."""
    if result.png is None:
        print(f"dhstats plot: {where}: {result.note}", file=sys.stderr)
        return False
    (out / f"{stem}.png").write_bytes(result.png)
    return True


def cmd_plot(args, opts: Options) -> int:
    from dhstats.figures import gallery as plots

    runs = _load(args)
    _check_selection(args, runs)
    out = _out_dir(args.out)
    names = args.figure or [f.name for f in plots.figures()]
    case_opts = {"base_quantile": opts.clip_base_quantile, "steps": opts.clip_steps,
                 "clip_values": opts.clip if opts.clip_given else ()}
    if opts.truncation_grid:
        case_opts["keep_quantiles"] = opts.truncation_grid
    written = 0
    valid = [r for r in runs if isinstance(r, Run) and (not args.run or r.file.run in args.run)]
    for run in valid:
        stem = f"{safe_name(run.file.run_set)}_{safe_name(run.file.run)}"  # bounded, [A-Za-z0-9._-]
        for name in _of_scope(names, plots.FigureScope.RUN):
            res = plots.render(name, run, None, opts.settings, dpi=opts.dpi)
            written += _write(out, f"{stem}_{name}", res, str(run.file.key))
        etas = [e for e in run.etas if not args.eta or any(_same_eta(e, x) for x in args.eta)]
        for x in args.eta or ():
            if not any(_same_eta(e, x) for e in run.etas):
                print(f"dhstats plot: {run.file.key}: no entry with η = {x!r}", file=sys.stderr)
        for eta in etas:
            for name in _of_scope(names, plots.FigureScope.CASE):
                res = plots.render(name, run, eta, opts.settings, dpi=opts.dpi,
                                   **{k: v for k, v in case_opts.items() if k in plots.figure_kind(name).options})
                written += _write(out, f"{stem}_eta={eta!r}_{name}", res, f"{run.file.key}, η={eta:.3g}")
    scopes = (plots.FigureScope.RUN_SET, plots.FigureScope.SETS, plots.FigureScope.BASELINE)
    if _of_scope(names, *scopes) and (valid or args.health):
        written += _set_figures(args, opts, names, valid, out)
    if args.history:
        from dhstats.report.history import read_history

        for name in _of_scope(names, plots.FigureScope.HISTORY):
            res = plots.render(name, read_history(args.history), k=opts.settings.k, dpi=opts.dpi)
            written += _write(out, name, res, str(args.history))
    print(f"{written} plot(s) written to {out}")
    return _report_invalid(runs)


def _of_scope(names, *scopes) -> list[str]:
    """The figures of ``names`` (in their order) whose scope is one of ``scopes``
    (:data:`dhstats.figures.rendered.FIGURES`)."""
    from dhstats.figures.rendered import figure_kind

    return [n for n in names if figure_kind(n).scope in scopes]


def _same_eta(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * abs(b)


def _check_selection(args, runs) -> None:
    """``--run`` names a run of the --results directories and ``--eta`` an η of a selected
    valid run, else a usage error naming what exists (nothing is drawn or written)."""
    names = sorted({r.file.run for r in runs})
    unknown = sorted(set(args.run or ()) - set(names))
    if unknown:
        raise SettingsError(f"--run: no run named {', '.join(map(repr, unknown))} in --results; the runs are "
                            f"{', '.join(names) or 'none'}")
    chosen = [r for r in runs if isinstance(r, Run) and (not args.run or r.file.run in args.run)]
    etas = sorted({e for r in chosen for e in r.etas})
    absent = [x for x in args.eta or () if not any(_same_eta(e, x) for e in etas)]
    if absent and chosen:
        raise SettingsError(f"--eta: {', '.join(f'{x:g}' for x in absent)} not in the selected runs' true.entries; "
                            f"their η are {', '.join(f'{e:g}' for e in etas)}")


def _set_figures(args, opts: Options, names, valid: list[Run], out: Path) -> int:
    import json

    from dhstats.figures import gallery as plots
    from dhstats.notebook import tables

    try:
        health = json.loads(Path(args.health).read_text()) if args.health else tables.set_document(valid, opts.settings)
    except Exception as exc:  # noqa: BLE001 - figures never end the command
        print(f"dhstats plot: run-set figures not drawn: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 0
    written = 0
    for name in _of_scope(names, plots.FigureScope.RUN_SET):
        for rs in sorted({c.get("run_set") for c in health.get("cases", []) if c.get("run_set")}):
            mine = [c for c in health["cases"] if c.get("run_set") == rs]
            written += _write(out, f"{safe_name(rs)}_{name}", plots.render(name, mine, where=rs, dpi=opts.dpi), rs)
    for name in _of_scope(names, plots.FigureScope.SETS):
        written += _write(out, name, plots.render(name, health, dpi=opts.dpi), "run sets")
    if health.get("baseline"):  # a --health of a session with --baseline
        for name in _of_scope(names, plots.FigureScope.BASELINE):
            written += _write(out, name, plots.render(name, health, dpi=opts.dpi), "baseline")
    return written


def gate_arguments(argv, invocation_dir: Path) -> list[str]:
    """The pytest command line of ``dhstats gate ARGV``: the installed test package, ``--results``
    values in the ``=`` form, and the configuration pytest finds from the invocation directory
    alone (``-c FILE --rootdir DIR``; an empty file when there is none) unless ARGV gives ``-c``
    or ``--rootdir``. pytest would otherwise search for its configuration from the first
    path-like argument, a results directory, and run what an ini file there names."""
    from dhstats.pytest_plugin.layout import NO_CONFIGURATION, PACKAGE_MODULE
    from dhstats.pytest_plugin.pytest_internals import pytest_choice

    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--results" and i + 1 < len(argv):
            out.append(f"--results={argv[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    given = any(a in ("-c", "--config-file", "--rootdir") or a.startswith(("--config-file=", "--rootdir="))
                or (a.startswith("-c") and not a.startswith("--")) for a in out)
    if not given:
        rootpath, inipath, _ = pytest_choice([], invocation_dir)
        out = ["-c", str(inipath or NO_CONFIGURATION), f"--rootdir={rootpath}", *out]
    # the package, not its module, as the argument: test ids then name the module
    # (test_gate.py::test_linear_agreement[…]) even when it lies outside the rootdir; the gate
    # module and its functions are collected whatever the repository's python_files/_functions
    gate = ["--pyargs", PACKAGE_MODULE, "-o", "python_files=test_gate.py", "-o", "python_functions=test_*"]
    return [*gate, *out]


class _GateCommand:
    """A plugin of ``dhstats gate``'s own session: usage errors name ``dhstats gate``."""

    @staticmethod
    def pytest_addoption(parser) -> None:
        parser.prog = "dhstats gate"


def gate_parser() -> argparse.ArgumentParser:
    """The help of ``dhstats gate``: the gate's own options (every pytest option applies too)."""
    from dhstats.load.settings import OPTIONS

    p = argparse.ArgumentParser(
        prog="dhstats gate", usage="dhstats gate [--results DIR ...] [gate options] [pytest options]",
        description="Run the ΔH gate (a pytest session on the installed test module) from this directory. "
                    "The configuration is the one pytest finds from this directory (pytest.ini, pyproject.toml "
                    "[tool.pytest.ini_options], tox.ini, setup.cfg; dhstats_* keys), never one inside or above a "
                    "results directory; pytest's own options apply too (pytest --help).",
        epilog="Exit status: pytest's (0 passed, 1 a check failed or a run is invalid, 2 interrupted, "
               "3 internal error, 4 usage error, 5 nothing collected).")
    p.add_argument("--results", action="append", metavar="DIR",
                   help="run-set directory holding run_*/results.json (repeatable)")
    for o in OPTIONS:
        p.add_argument(*o.flags, help=o.argparse_help, **({"choices": o.choices} if o.choices else {"metavar": o.metavar}))
    p.add_argument("-n", metavar="N", help="judge the runs in N processes (pytest-xdist; the tests themselves "
                   "run in this one)")
    return p


def cmd_gate(argv) -> int:
    """``dhstats gate [options]``: the gate's pytest session on the installed test module in
    this process (:func:`gate_arguments`), with the options, ini keys, outputs and exit status of
    ``pytest checks/`` in a checkout."""
    import pytest

    if any(a in ("-h", "--help") for a in argv):
        gate_parser().print_help()
        return 0
    return int(pytest.main(gate_arguments(argv, Path.cwd()), plugins=[_GateCommand()]))


def cmd_simulate(argv) -> int:
    from dhstats import simulate

    return simulate.main(argv)


# --------------------------------------------------------------------------- parser


def _common(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--results", action="append", required=required, metavar="DIR",
                   help="run-set directory holding run_*/results.json (repeatable)")
    for name in ("k", "keep_quantiles", "reported_se", "tolerance", "equivalence_alpha"):
        o = OPTION[name]
        p.add_argument(*o.flags, dest=name, default=o.default, help=o.argparse_help,
                       **({"choices": o.choices} if o.choices else {"metavar": o.metavar}))
    p.add_argument("--clip", default=None, metavar="C[,C...]",
                   help=f"clip values (nats/token): filtered_estimates' clip@C rows (default {DEFAULT_CLIP}, the "
                        "notebook's); plot: marked on the clip sweep when given")
    p.add_argument("--clip-base-quantile", default=DEFAULT_CLIP_BASE_QUANTILE, metavar="B",
                   help="clip sweep thresholds: quantiles B^k of |η·gdotv|, k = STEPS…0 (default 0.999)")
    p.add_argument("--clip-steps", default=DEFAULT_CLIP_STEPS, metavar="STEPS", help="clip sweep steps (default 10)")
    p.add_argument("--truncation-grid", default="", metavar="Q[,Q...]",
                   help="keep-quantiles of the truncation sweep (default: 1 and 0.999^k, k = 10…0, plus "
                        "--keep-quantiles); tables: extra truncation.csv rows")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dhstats", description="dhstats: the ΔH acceptance gate (dhstats gate --results "
                                "DIR, from your repository), the notebook's tables and plots, and the reference "
                                "simulator.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("tables", help="write the notebook's tables (CSV) and print them; --columns: what each "
                       "column means")
    _common(t, required=False)
    t.add_argument("--columns", action="store_true", help="print the column definitions of every table and exit")
    t.add_argument("--out", default="tables-out", help="output directory (default: tables-out)")
    for name in ("baseline", "baseline_tolerance"):  # baseline.csv: the gate's comparison with a baseline
        t.add_argument(OPTION[name].flag, default=OPTION[name].default, help=OPTION[name].argparse_help)
    t.set_defaults(func=cmd_tables, subparser=t)

    pl = sub.add_parser("plot", help="render the report's figures to PNG files")
    _common(pl)
    pl.add_argument("--out", default="plots-out", help="output directory (default: plots-out)")
    pl.add_argument("--run", action="append", help="only these runs (e.g. run_01; repeatable)")
    pl.add_argument("--eta", action="append", type=float, help="only these η (repeatable)")
    pl.add_argument("--figure", action="append", metavar="NAME",
                    help="only these figures (repeatable): " + ", ".join(_figure_names()))
    pl.add_argument("--health", metavar="FILE", help="health.json for the run-set figures (default: judged here)")
    pl.add_argument("--history", metavar="FILE", help="history.jsonl of gate sessions: draws the trend figure")
    pl.add_argument("--dpi", default="100", help="resolution (default 100: figures ≥ 750 px wide)")
    pl.set_defaults(func=cmd_plot)

    sub.add_parser("simulate", help="write simulated run sets (see dhstats simulate --help)", add_help=False)
    sub.add_parser("gate", help="run the gate (pytest) with the installed dhstats: dhstats gate --results DIR "
                   "[pytest options]", add_help=False)
    return p


def _figure_names() -> tuple[str, ...]:
    from dhstats.figures.rendered import figures

    return tuple(f.name for f in figures())


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "simulate":
        return cmd_simulate(argv[1:])
    if argv and argv[0] == "gate":
        return cmd_gate(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "columns", False):
        print(columns_text(), end="")
        return 0
    if not args.results:  # tables without --columns
        args.subparser.error("the following arguments are required: --results")
    try:
        if getattr(args, "figure", None):
            unknown = [f for f in args.figure if f not in _figure_names()]
            if unknown:
                raise SettingsError(f"--figure: unknown {', '.join(unknown)} (one of {', '.join(_figure_names())})")
        opts = options(args)
        return args.func(args, opts)
    except (SettingsError, DiscoveryError) as exc:
        print(f"dhstats {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

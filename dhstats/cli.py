"""``dhstats`` command line: ``tables``, ``plot``, ``simulate``.

The gate itself is ``pytest checks/ --results DIR`` (see README); this CLI serves the
notebook's tables and plots and the reference simulator.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .results import DiscoveryError, Run, discover, load_run
from .verdicts import Settings


def _load(args) -> list:
    try:
        files = discover(args.results)
    except DiscoveryError as exc:
        raise SystemExit(f"dhstats: {exc}")
    return [load_run(f) for f in files]


def _report_invalid(runs) -> int:
    bad = [r for r in runs if not isinstance(r, Run)]
    for r in bad:
        print("invalid input, run skipped:\n  " + r.message.replace("\n", "\n  "), file=sys.stderr)
    return 1 if bad else 0


def cmd_tables(args) -> int:
    import pandas as pd

    from .tables import all_tables

    runs = _load(args)
    settings = Settings(sigma=args.sigma)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tables = all_tables(runs, settings)
    with pd.option_context("display.width", 160, "display.max_columns", 30, "display.max_rows", 200,
                           "display.float_format", "{:.4g}".format):
        for name, df in tables.items():
            path = out / f"{name}.csv"
            df.to_csv(path, index=False)
            print(f"\n== {name} ({len(df)} rows) -> {path}")
            if name == "agreement" and not df.empty:
                cols = ["results", "run", "eta", "delta_true", "delta_linear", "se_linear", "se_true",
                        "combined_se", "z", "within_ksigma", "notebook_se_linear", "notebook_se_true",
                        "notebook_within_1sigma"]
                print(df[cols].to_string(index=False))
            elif name in ("summary", "truncation") and not df.empty:
                print(df.to_string(index=False))
    return _report_invalid(runs)


def cmd_plot(args) -> int:
    from . import plots

    runs = _load(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = Settings(sigma=args.sigma)
    for run in runs:
        if not isinstance(run, Run) or (args.run and run.file.run not in args.run):
            continue
        stem = f"{run.file.results}_{run.file.run}"
        (out / f"{stem}_delta_h_vs_eta.png").write_bytes(plots.to_png(plots.delta_h_vs_eta(run, settings), dpi=args.dpi))
        etas = run.etas if not args.eta else [run.entry(x).eta for x in args.eta]
        for eta in etas:
            for name, fig in plots.case_figures(run, eta, settings).items():
                (out / f"{stem}_eta={eta!r}_{name}.png").write_bytes(plots.to_png(fig, dpi=args.dpi))
    print(f"plots written to {out}")
    return _report_invalid(runs)


def cmd_simulate(argv) -> int:
    from . import simulate

    return simulate.main(argv)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dhstats", description="dhstats: the notebook's tables and plots, and the reference simulator. The gate is `pytest checks/ --results DIR`.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("tables", help="write the notebook's tables (CSV) and print them")
    t.add_argument("--results", action="append", required=True, metavar="DIR",
                   help="run-set directory holding run_*/results.json (repeatable)")
    t.add_argument("--out", default="tables-out", help="output directory (default: tables-out)")
    t.add_argument("--sigma", type=float, default=3.0, help="k for within_ksigma (default 3)")
    t.set_defaults(func=cmd_tables)

    pl = sub.add_parser("plot", help="render the report's plots to PNG files")
    pl.add_argument("--results", action="append", required=True, metavar="DIR")
    pl.add_argument("--out", default="plots-out")
    pl.add_argument("--run", action="append", help="only these runs (e.g. run_01)")
    pl.add_argument("--eta", action="append", type=float, help="only these η")
    pl.add_argument("--sigma", type=float, default=3.0)
    pl.add_argument("--dpi", type=int, default=80)
    pl.set_defaults(func=cmd_plot)

    sub.add_parser("simulate", help="write simulated run sets (see dhstats simulate --help)", add_help=False)
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "simulate":
        return cmd_simulate(argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``dhstats simulate``: the command line of the simulator."""
from __future__ import annotations

import argparse
import sys

from dhstats.simulate.defects import DEFECTS
from dhstats.simulate.files import write_example, write_run_set
from dhstats.simulate.run import DEFAULT_ETAS, SHAPES

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dhstats simulate",
        description="Write simulated run sets in the producer's results.json format "
                    "(exactly solvable policy; exact values in the 'simulator' field).",
        epilog="defects: " + "; ".join(f"{k}: {v}" for k, v in DEFECTS.items()))
    p.add_argument("--out", required=True, help="output directory (the run set goes in OUT/NAME)")
    p.add_argument("--runs", type=int, default=4, help="number of runs (default 4)")
    p.add_argument("--sequences", type=int, default=256, help="E, sequences per run (default 256)")
    p.add_argument("--etas", type=float, nargs="+", default=list(DEFAULT_ETAS),
                   help="η grid (default: the producer's 8e-7 … 1.28e-5)")
    p.add_argument("--name", help="run-set name (default E_<sequences>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--defect", action="append", default=[], choices=sorted(DEFECTS),
                   help="inject a defect (repeatable)")
    p.add_argument("--se-convention", choices=("total", "shard-mean"), default="total")
    p.add_argument("--entropy-noise", type=float, default=0.0,
                   help="per-sequence entropy noise in nats (producer: ≈0.01; default 0)")
    p.add_argument("--score-noise", type=float, default=0.0,
                   help="per-sequence gradient-estimator noise, in units of |dR/dη| (default 0)")
    p.add_argument("--num-shards", type=int, help="default max(2, E // 8)")
    p.add_argument("--shape", choices=SHAPES, default="sim",
                   help="document layout: 'sim' (default; with the exact values) or 'real' (every "
                        "field of the real producer's files, real size, no simulator block)")
    p.add_argument("--example", action="store_true",
                   help="write the example run set OUT/E_example instead")
    return p


def main(argv=None) -> int:
    """``dhstats simulate --out DIR [--runs N] [--sequences E] [--etas η ...] [--name NAME]
    [--seed S] [--defect NAME ...] [--se-convention total|shard-mean] [--entropy-noise X]
    [--score-noise X] [--num-shards M] [--shape sim|real] [--example]``"""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.example:
            root = write_example(args.out)
        else:
            root = write_run_set(args.out, name=args.name or f"E_{args.sequences}",
                                 runs=args.runs, n=args.sequences, etas=args.etas,
                                 seed=args.seed, num_shards=args.num_shards,
                                 se_convention=args.se_convention, defects=args.defect,
                                 entropy_noise=args.entropy_noise, score_noise=args.score_noise,
                                 shape=args.shape)
    except ValueError as exc:
        print(f"dhstats simulate: error: {exc}", file=sys.stderr)
        return 2
    print(root)
    return 0

"""Reference simulator: exactly solvable runs written in the producer's ``results.json`` format.

An autoregressive softmax policy whose entropy change ΔH(η) and its η-derivatives are computed
exactly (:mod:`.policy`); runs of n sampled sequences with the producer's estimators G, Q, the
SNIS measurement per η and the reported SEs (:mod:`.run`, formulas in its docstring); planted
defects that each break one checked property (:mod:`.defects`); the real producer's full
layout for realistic file sizes (:mod:`.shape`); run sets, the example and malformed files
on disk (:mod:`.files`); the ``dhstats simulate`` command (:mod:`.command`).

Public API: :class:`Policy`, :func:`simulate_run`, :func:`write_run_set`,
:func:`write_example`, :func:`write_malformed`, :func:`main`, :data:`DEFECTS`,
:data:`MALFORMED_KINDS`, :data:`DEFAULT_ETAS`, :data:`EXAMPLE_ETAS`, :data:`SHAPES`.
"""
from __future__ import annotations

from dhstats.simulate.command import main
from dhstats.simulate.defects import (BIAS_SIGMAS, DEFECTS, SCALE_FACTOR, SPIKE_FRACTION, SPIKE_G_MULTIPLE,
                      SPIKE_MIN_SIGMAS, UNNORMALIZED_FACTOR)
from dhstats.simulate.files import (EXAMPLE_ENTROPY_NOISE, EXAMPLE_ETAS, EXAMPLE_NAME, EXAMPLE_SEED,
                    MALFORMED_KINDS, dumps_run, write_example, write_malformed,
                    write_run_set)
from dhstats.simulate.policy import Policy
from dhstats.simulate.run import DEFAULT_ETAS, LOGW_CLIP, SHAPES, simulate_run
from dhstats.simulate.shape import REAL_2048_ETAS

__all__ = [
    "Policy",
    "simulate_run",
    "write_run_set",
    "dumps_run",
    "write_example",
    "write_malformed",
    "main",
    "DEFECTS",
    "MALFORMED_KINDS",
    "DEFAULT_ETAS",
    "EXAMPLE_ETAS",
    "REAL_2048_ETAS",
    "SHAPES",
]

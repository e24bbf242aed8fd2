"""The ΔH acceptance gate, as installed (see :mod:`dhstats.checks`): one test per (check, run
set, run, η), derived from the registry by :func:`dhstats.plugin.gate_tests`."""
from dhstats.plugin import gate_tests

globals().update(gate_tests())

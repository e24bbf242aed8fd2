"""The gate's test module, installed with dhstats: run the gate from any repository, no checkout.

    dhstats gate --results E_2048                      # the same pytest session as below
    pytest --pyargs dhstats.checks --results E_2048

:mod:`dhstats.pytest_plugin.layout` (a ``pytest11`` entry point) loads the gate plugin when a command points
here; the options, ini keys (``dhstats_*`` in the repository's own pytest configuration) and
outputs are those of ``pytest checks/`` in a dhstats checkout (docs/ci.md).
"""

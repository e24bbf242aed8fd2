"""Loads the ΔH gate plugin (dhstats.pytest_plugin.plugin): options --results, --sigma, … and the
checks/ cases. Inactive unless pytest is asked to run checks/."""
pytest_plugins = ["dhstats.pytest_plugin.plugin"]

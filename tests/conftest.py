"""Shared test configuration: hypothesis settings profiles.

``HYPOTHESIS_PROFILE`` selects one (default ``ci`` when ``CI=true``, else ``dev``):

* ``dev``      — quick local runs (25 examples a property);
* ``ci``       — what ``.ci/run`` uses: 60 examples, derandomised (a CI failure reproduces);
* ``thorough`` — a long search before a release (1000 examples).

No profile sets a deadline: numpy-heavy properties on a shared 2-core machine vary in time, and
a test states ``deadline=None`` itself where it needs none. Tests set no ``max_examples``.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=25)
settings.register_profile("ci", max_examples=60, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") == "true" else "dev"))

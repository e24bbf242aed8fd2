"""The pytest wiring, the only layer that imports pytest: the gate plugin's hooks and the
parametrisation of checks/test_gate.py (``plugin``), the ``pytest11`` entry point that declares
``--results`` early and finds the gate's pytest.ini (``layout``), and the adapters to
pytest-html (``pytest_html_adapter``) and pytest-xdist (``xdist_adapter``), and every private
name of pytest, pytest-html and xdist the gate uses, with its reason (``pytest_internals``).
May import every layer.
"""

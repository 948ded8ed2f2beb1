"""Loaded into each moto test process (``-p moto_suite_plugin``) by test_moto_suite.py.

moto's Step Functions parser tests post ``/moto-api/config`` to a hard-coded ``localhost:5000``
(``tests/test_stepfunctions/parser/__init__.py``, ``base_url``), whatever
``TEST_SERVER_MODE_ENDPOINT`` says; each file here has its own server on a free port, so the
helpers are pointed at it. Nothing else of moto's tests is changed.
"""

from __future__ import annotations

import os


def pytest_configure(config):  # noqa: ARG001 - pytest hook signature
    endpoint = os.environ.get("TEST_SERVER_MODE_ENDPOINT", "")
    try:
        import tests.test_stepfunctions.parser as parser_helpers
    except ImportError:
        return
    if endpoint.startswith("http://"):
        parser_helpers.base_url = endpoint[len("http://"):]

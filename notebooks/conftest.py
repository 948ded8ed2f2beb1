"""``pytest --nbval-lax notebooks/``: the notebooks, as committed (execute=False), against the sandbox.

A notebook's kernel is another process: it reaches the sandbox only through the endpoint, so the
sandbox's URL goes into ``AWS_ENDPOINT_URL`` (boto3 honours it) before the first kernel starts, and
the notebooks' defaults (``endpoint_url=None``) talk to it as they would talk to AWS. The demo
table the defaults name (``orders``, PITR and a stream) is created before the first cell runs.
moto's state is process-wide, so the sandbox the test session already runs is reused.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

_ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
_state: dict = {}


def pytest_configure(config):
    # the notebooks' default run_dir, relative to their folder: start from no state
    shutil.rmtree(Path(__file__).parent / "runs" / "manual", ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before the first notebook cell, so before its kernel starts: the sandbox and the demo table."""
    if _state or not str(item.fspath).endswith(".ipynb"):
        return
    import boto3

    from runbook_lib.sandbox import Sandbox
    from runbook_lib.sandbox.traffic import create_demo_table, seed_items

    running = Sandbox.current()
    sandbox = running or Sandbox(restore_seconds=1.0, restorable_lag=0.0).start()
    _state.update(sandbox=sandbox, own=running is None, saved_env={k: os.environ.get(k) for k in _ENV})
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": sandbox.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    sandbox.reset()
    ddb = boto3.client("dynamodb", endpoint_url=sandbox.endpoint_url, region_name="us-east-1")
    create_demo_table(ddb, "orders")
    seed_items(ddb, "orders", 50, seed=3)


def pytest_unconfigure(config):
    if not _state:
        return
    if _state["own"]:
        _state["sandbox"].stop()
    for key, value in _state["saved_env"].items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _state.clear()

"""Shared fixtures: one sandbox per test session, reset between tests that use it."""

from __future__ import annotations

import os

import boto3
import pytest

from runbook_lib.sandbox import SETTINGS, Sandbox

REGION = "us-east-1"

# Tests never talk to real AWS: fake credentials, and no profile.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def _sandbox_session():
    with Sandbox(restore_seconds=1.0, restorable_lag=0.0) as sb:
        yield sb


@pytest.fixture
def sandbox(_sandbox_session):
    """A clean sandbox: no resources, default settings for this test."""
    saved = dict(vars(SETTINGS))
    SETTINGS.restore_seconds = 1.0
    SETTINGS.restorable_lag = 0.0
    _sandbox_session.reset()
    yield _sandbox_session
    for k, v in saved.items():
        setattr(SETTINGS, k, v)


@pytest.fixture
def endpoint(sandbox) -> str:
    return sandbox.endpoint_url


@pytest.fixture
def aws(endpoint):
    """Plain boto3 clients on the sandbox, as a user's own code would make them."""

    def make(service: str):
        return boto3.client(service, endpoint_url=endpoint, region_name=REGION)

    return make

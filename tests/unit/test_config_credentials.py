"""What the runbook signs requests to an ``endpoint_url`` with (issue 10, "a sandbox that only its
user can drive"): never the user's own AWS credentials, unless told the endpoint is AWS."""

from __future__ import annotations

import logging

import pytest

from runbook_lib.aws import clients as config

SANDBOX = "http://127.0.0.1:4566"


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch):
    for name in (config.SANDBOX_ACCESS_KEY_ENV, config.SANDBOX_SECRET_KEY_ENV,
                 config.SANDBOX_SESSION_TOKEN_ENV, config.ENDPOINT_CREDENTIALS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALUSERKEY00000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    config._shared_client_unlocked.cache_clear()
    config._cached_session.cache_clear()
    config._warn_remote_endpoint.cache_clear()
    yield
    config._shared_client_unlocked.cache_clear()
    config._cached_session.cache_clear()


def _key(client) -> str:
    return client._request_signer._credentials.get_frozen_credentials().access_key


def test_the_users_aws_credentials_are_never_sent_to_an_endpoint():
    assert _key(config.client("sqs", endpoint_url=SANDBOX)) == "testing"


def test_the_sandbox_identity_comes_from_its_own_variables_and_is_cached_per_identity(monkeypatch):
    root = config.client("sqs", endpoint_url=SANDBOX)
    monkeypatch.setenv(config.SANDBOX_ACCESS_KEY_ENV, "AKIAOPERATOR")
    monkeypatch.setenv(config.SANDBOX_SECRET_KEY_ENV, "operator-secret")
    operator = config.client("sqs", endpoint_url=SANDBOX)
    assert _key(operator) == "AKIAOPERATOR" and _key(root) == "testing"
    assert operator is not root


def test_real_aws_uses_the_default_credential_chain():
    assert _key(config.client("sqs", region="eu-west-1")) == "AKIAREALUSERKEY00000"


def test_an_endpoint_declared_to_be_aws_gets_the_default_chain(monkeypatch):
    monkeypatch.setenv(config.ENDPOINT_CREDENTIALS_ENV, "aws")
    client = config.client("sqs", endpoint_url="https://vpce-0123.sqs.us-east-1.vpce.amazonaws.com")
    assert _key(client) == "AKIAREALUSERKEY00000"


@pytest.mark.parametrize("url, loopback", [
    ("http://127.0.0.1:5000", True), ("http://localhost:5000", True), ("http://[::1]:5000", True),
    ("http://127.0.1.1:5000", True), ("http://10.0.0.5:5000", False),
    ("http://sandbox.example.com:5000", False), ("http://localhost.example.com", False),
    ("http://127.0.0.1.evil.example:5000", False), ("http://bucket.localhost:5000", True),
])
def test_loopback_endpoints_are_recognised(url, loopback):
    assert config.is_loopback_endpoint(url) is loopback


def test_a_remote_endpoint_is_warned_about_once_and_still_gets_no_user_credentials(caplog):
    with caplog.at_level(logging.WARNING, logger="runbook_lib.aws.clients"):
        first = config.client("sqs", endpoint_url="http://10.0.0.5:5000")
        config.client("dynamodb", endpoint_url="http://10.0.0.5:5000")
    warnings = [r for r in caplog.records if "not on this machine" in r.getMessage()]
    assert len(warnings) == 1
    assert _key(first) == "testing"
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="runbook_lib.aws.clients"):
        config.client("sqs", endpoint_url=SANDBOX)
    assert not caplog.records

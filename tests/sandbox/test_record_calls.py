"""PITR_RUNBOOK_RECORD_CALLS: every client config makes appends '<service> <Operation>' per call, the
record the operator policy is derived from (runbook_lib/permissions.py)."""

from __future__ import annotations

from runbook_lib.aws import clients as config
from runbook_lib.aws.clients import AwsTarget

REGION = "us-east-1"


def test_each_call_of_a_runbook_client_is_recorded_with_its_service_and_operation(endpoint, monkeypatch, tmp_path):
    path = tmp_path / "calls.txt"
    monkeypatch.setenv(config.RECORD_CALLS_ENV, str(path))
    config._shared_client_unlocked.cache_clear()
    try:
        target = AwsTarget(region=REGION, endpoint_url=endpoint)
        target.client("dynamodb").list_tables()
        target.client("dynamodbstreams").list_streams()
        target.client("sts").get_caller_identity()
        target.client("dynamodb").list_tables()
    finally:
        config._shared_client_unlocked.cache_clear()
    assert path.read_text().splitlines() == [
        "dynamodb ListTables", "dynamodbstreams ListStreams", "sts GetCallerIdentity", "dynamodb ListTables"]


def test_without_the_variable_nothing_is_recorded(endpoint, monkeypatch, tmp_path):
    monkeypatch.delenv(config.RECORD_CALLS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    config._shared_client_unlocked.cache_clear()
    try:
        AwsTarget(region=REGION, endpoint_url=endpoint).client("dynamodb").list_tables()
    finally:
        config._shared_client_unlocked.cache_clear()
    assert list(tmp_path.iterdir()) == []

"""The thin AWS layer: error codes read one way, one polling loop with a deadline, shards page by page."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from runbook_lib.aws.codes import error_code, error_message, is_access_denied, is_not_found
from runbook_lib.aws.streams import stream_shards
from runbook_lib.aws.waiting import poll


def _client_error(code: str, message: str = "m", status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


def test_error_code_reads_aws_code_and_names_a_bare_http_status():
    assert error_code(_client_error("ResourceNotFoundException")) == "ResourceNotFoundException"
    assert error_code(_client_error("404", status=404)) == "404"  # HeadBucket: botocore's code is the status
    assert error_code(ClientError({"ResponseMetadata": {"HTTPStatusCode": 502}}, "Op")) == "HTTP 502"
    assert error_code(ValueError("not an AWS error")) == ""
    assert error_message(_client_error("X", "the table is gone")) == "the table is gone"
    assert is_not_found(_client_error("ResourceNotFoundException"))
    assert is_access_denied(_client_error("AccessDenied")) and is_access_denied(_client_error("AccessDeniedException"))
    assert not is_access_denied(_client_error("ThrottlingException"))


def test_poll_returns_the_first_answer_and_backs_off_up_to_the_cap():
    answers = iter([None, None, None, "ready"])
    slept: list[float] = []
    assert poll(lambda: next(answers), timeout=60, interval=1.0, backoff=2.0, max_interval=3.0,
                on_timeout=lambda: AssertionError("no timeout expected"), sleep=slept.append) == "ready"
    assert slept == [1.0, 2.0, 3.0]


def test_poll_raises_what_on_timeout_builds_after_one_last_check():
    calls = []

    class Late(Exception):
        pass

    with pytest.raises(Late):
        poll(lambda: calls.append(1), timeout=0.05, interval=0.01, on_timeout=Late)
    assert len(calls) >= 2


class _Streams:
    def __init__(self, pages):
        self.pages, self.calls = pages, []

    def describe_stream(self, **kwargs):
        self.calls.append(kwargs)
        return {"StreamDescription": self.pages[len(self.calls) - 1]}


def test_stream_shards_follows_last_evaluated_shard_id_and_tells_open_shards():
    pages = [
        {"Shards": [{"ShardId": "a", "SequenceNumberRange": {"StartingSequenceNumber": "1", "EndingSequenceNumber": "9"}}],
         "LastEvaluatedShardId": "a", "StreamStatus": "ENABLED"},
        {"Shards": [{"ShardId": "b", "SequenceNumberRange": {"StartingSequenceNumber": "10"}}], "StreamStatus": "ENABLED"},
    ]
    client = _Streams(pages)
    listed = stream_shards(client, "arn:stream")
    assert [s["ShardId"] for s in listed.shards] == ["a", "b"]
    assert [s["ShardId"] for s in listed.open_shards] == ["b"]
    assert client.calls == [{"StreamArn": "arn:stream"}, {"StreamArn": "arn:stream", "ExclusiveStartShardId": "a"}]


def test_waiting_for_active_names_the_indexes_still_building():
    from runbook_lib.aws.clients import AwsTarget
    from runbook_lib.aws.tables import wait_table_active
    from runbook_lib.errors import PreconditionError

    class _Ddb:
        def describe_table(self, TableName):
            return {"Table": {"TableName": TableName, "TableStatus": "ACTIVE",
                              "GlobalSecondaryIndexes": [{"IndexName": "by-status", "IndexStatus": "CREATING"},
                                                         {"IndexName": "by-day", "IndexStatus": "ACTIVE"}]}}

    with pytest.raises(PreconditionError) as info:
        wait_table_active(AwsTarget(endpoint_url="http://127.0.0.1:1"), "orders", timeout=0.05, client=_Ddb())
    assert "index by-status CREATING" in str(info.value) and "by-day" not in str(info.value)
    assert info.value.code == "ResourceInUseException"


def test_an_endpoint_in_aws_endpoint_url_is_the_targets_and_gets_sandbox_credentials_not_the_users(monkeypatch):
    """boto3 sends every call to AWS_ENDPOINT_URL ("Service-specific endpoints", AWS SDKs and Tools
    Reference Guide, https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html):
    the runbook must know it talks to that endpoint, and sign for it with the sandbox's credentials."""
    from runbook_lib.aws import clients

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUSERSREALKEY0000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "users-real-secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    target = clients.AwsTarget(region="us-east-1")
    assert target.endpoint_url == "http://127.0.0.1:4566" and target.is_sandbox
    sts = target.client("sts")
    assert sts.meta.endpoint_url == "http://127.0.0.1:4566"
    assert sts._request_signer._credentials.access_key == "testing"
    assert clients.AwsTarget(endpoint_url="http://127.0.0.1:5000").endpoint_url == "http://127.0.0.1:5000"
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert clients.AwsTarget().endpoint_url is None

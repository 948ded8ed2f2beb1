"""The SQS faults a drill can switch on, shown with plain boto3: ``partial-send`` and the SQS clock.

Faults are switched over HTTP (``POST /_sandbox/faults``), as a user's own drill would switch them.
"""

from __future__ import annotations

import json
import random
import urllib.request

import pytest


def _faults(endpoint: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(endpoint + "/_sandbox/faults", data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _seed_for(pattern: list[bool], rate: float) -> int:
    """A seed whose draws (``random.Random(seed).random() < rate``, one per entry) give ``pattern``."""
    for seed in range(10_000):
        rng = random.Random(seed)
        if [rng.random() < rate for _ in pattern] == pattern:
            return seed
    raise AssertionError("no seed gives that pattern")


def _entry(body: str, group: str = "item-1") -> dict:
    return {"Id": body, "MessageBody": body, "MessageGroupId": group, "MessageDeduplicationId": body}


def _bodies(sqs, url: str) -> list[str]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)
    return [m["Body"] for m in got.get("Messages", [])]


@pytest.fixture
def fifo(aws):
    sqs = aws("sqs")
    return sqs, sqs.create_queue(QueueName="buffer.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]


def test_partial_send_fails_entries_as_sqs_reports_them_and_a_resend_lands_behind_a_newer_change(endpoint, fifo):
    """With ``partial-send`` on, ``SendMessageBatch`` answers HTTP 200 with some entries under
    ``Failed`` (``Id``, ``SenderFault`` false, a server-side ``Code``: ``InternalFailure`` or
    ``ServiceUnavailable``, ``Message``) and queues the others. A failed entry was not stored and its
    deduplication id is not remembered: sending it again is accepted, and lands behind whatever of
    its group was queued in the meantime. So a sender that puts two changes of one item (one
    message group) in one call can queue the newer before the older: the reordering the forwarder
    must avoid.

    AWS: "SendMessageBatch" (the result of each message is reported individually; check for
    failures even when the call returns HTTP 200)
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html,
    "BatchResultErrorEntry"
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_BatchResultErrorEntry.html,
    "Common Errors" (InternalFailure 500, ServiceUnavailable 503)
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html
    """
    sqs, url = fifo
    seed = _seed_for([True, False], 0.5)
    _faults(endpoint, {"enable": {"partial-send": {"rate": 0.5, "seed": seed}}})
    # WHEN the older and the newer change of one item go in one call and the older one fails
    response = sqs.send_message_batch(QueueUrl=url, Entries=[_entry("older"), _entry("newer")])
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert [s["Id"] for s in response["Successful"]] == ["newer"]
    [failed] = response["Failed"]
    assert failed["Id"] == "older" and failed["SenderFault"] is False
    assert failed["Code"] in ("InternalFailure", "ServiceUnavailable") and failed["Message"]
    # AND the sender sends the failed entry again (the fault is off by then)
    _faults(endpoint, {"disable": ["partial-send"]})
    again = sqs.send_message_batch(QueueUrl=url, Entries=[_entry("older")])
    assert [s["Id"] for s in again["Successful"]] == ["older"] and not again.get("Failed")
    # THEN the group holds the newer change first: the older one was not deduplicated, and is behind
    assert _bodies(sqs, url) == ["newer", "older"]
    assert _faults(endpoint)["events"]["partial-send"] == {"entries_failed": 1, "calls_with_failures": 1}


def test_partial_send_fails_about_rate_of_the_entries_and_only_on_fifo_queues(endpoint, aws, fifo):
    sqs, url = fifo
    standard = sqs.create_queue(QueueName="plain")["QueueUrl"]
    _faults(endpoint, {"enable": {"partial-send": {"rate": 0.3, "seed": 5}}})
    rng = random.Random(5)
    expected = [rng.random() < 0.3 for _ in range(100)]
    failed = []
    for call in range(10):
        entries = [_entry(f"m{call * 10 + i}", group=f"g{i % 3}") for i in range(10)]
        failed += [f["Id"] for f in sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])]
    assert failed == [f"m{i}" for i, fail in enumerate(expected) if fail]
    assert 15 <= len(failed) <= 45
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert int(attrs["ApproximateNumberOfMessages"]) == 100 - len(failed)
    plain = sqs.send_message_batch(QueueUrl=standard, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(10)])
    assert len(plain["Successful"]) == 10 and not plain.get("Failed")

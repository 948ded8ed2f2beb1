"""Dead-letter queue moves and redrive on the sandbox, over HTTP, as SQS documents them.

AWS documents followed:
- "Learn how to configure a dead-letter queue redrive in Amazon SQS", SQS Developer Guide,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html
  (a message moved to a FIFO DLQ gets its message id as deduplication id; redriven messages are
  new messages with a new message id and enqueue time; the DLQ redrives oldest first);
- "Setting-up dead-letter queue retention in Amazon SQS", SQS Developer Guide,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/setting-up-dead-letter-queue-retention.html
  (for FIFO queues the enqueue timestamp resets when a message moves to the DLQ);
- StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask, SQS API Reference,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html
  (one active task per source queue; TaskHandle only for RUNNING tasks; MaxResults 1 by default).
moto 5.2.5 answers every one of the three operations with HTTP 500 (NotImplementedError), and
moves the same message object (same deduplication id) into the DLQ.
"""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError


def _arn(sqs, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


@pytest.fixture
def fifo(aws):
    """A FIFO queue whose FIFO DLQ takes a message at its second receive (maxReceiveCount 1)."""
    sqs = aws("sqs")
    dlq = sqs.create_queue(QueueName="buffer-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    source = sqs.create_queue(
        QueueName="buffer.fifo",
        Attributes={
            "FifoQueue": "true",
            "RedrivePolicy": f'{{"deadLetterTargetArn": "{_arn(sqs, dlq)}", "maxReceiveCount": "1"}}',
        },
    )["QueueUrl"]
    return sqs, source, dlq


def _dead_letter(sqs, url: str, count: int) -> list[dict]:
    """Receive without deleting (visibility 0) until ``count`` messages have moved to the DLQ, as
    SQS moves a message received again past ``maxReceiveCount``; the messages as first received."""
    first: dict[str, dict] = {}
    for _ in range(10 * count + 10):
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                     MessageSystemAttributeNames=["All"]).get("Messages", []):
            first.setdefault(m["MessageId"], m)
        depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                       "ApproximateNumberOfMessagesNotVisible"])
        if sum(int(v) for v in depth["Attributes"].values()) == 0 and len(first) == count:
            return sorted(first.values(), key=lambda m: int(m["Attributes"]["SequenceNumber"]))
    raise AssertionError("the messages never reached the DLQ")


def _code(err) -> str:
    """The error code without the query-compatible prefix (botocore reads
    ``AWS.SimpleQueueService.UnsupportedOperation`` from SQS's ``x-amzn-query-error`` header)."""
    return err.value.response["Error"]["Code"].removeprefix("AWS.SimpleQueueService.")


def _wait_task(sqs, dlq_arn: str, status: str = "COMPLETED", timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        (task,) = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
        if task["Status"] == status or time.monotonic() > deadline:
            return task
        time.sleep(0.05)


def test_a_message_moved_to_a_fifo_dlq_takes_its_message_id_as_dedup_id_and_names_its_source(fifo):
    sqs, source, dlq = fifo
    sqs.send_message(QueueUrl=source, MessageBody="change-1", MessageGroupId="g", MessageDeduplicationId="event-1")
    (original,) = _dead_letter(sqs, source, 1)

    (moved,) = sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["All"])["Messages"]

    assert moved["Body"] == "change-1"
    assert moved["Attributes"]["MessageDeduplicationId"] == original["MessageId"]
    assert moved["Attributes"]["MessageGroupId"] == "g"
    assert moved["Attributes"]["DeadLetterQueueSourceArn"] == _arn(sqs, source)
    assert int(moved["Attributes"]["ApproximateReceiveCount"]) >= 2  # counted across all queues
    assert int(moved["Attributes"]["SentTimestamp"]) >= int(original["Attributes"]["SentTimestamp"])


def test_two_messages_sharing_a_dedup_id_both_reach_the_fifo_dlq(aws, fifo):
    # Two source queues with one DLQ, each sending dedup id "same": both must be kept in the DLQ
    sqs, source, dlq = fifo
    other = sqs.create_queue(
        QueueName="other.fifo",
        Attributes={"FifoQueue": "true", "RedrivePolicy": f'{{"deadLetterTargetArn": "{_arn(sqs, dlq)}", "maxReceiveCount": "1"}}'},
    )["QueueUrl"]
    for url in (source, other):
        sqs.send_message(QueueUrl=url, MessageBody=url, MessageGroupId="g", MessageDeduplicationId="same")
        _dead_letter(sqs, url, 1)

    attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "2"


def test_redrive_moves_messages_back_to_their_source_as_new_messages_in_order(fifo):
    # GIVEN three changes of one group dead-lettered one after the other
    sqs, source, dlq = fifo
    originals = []
    for n in range(3):
        sqs.send_message(QueueUrl=source, MessageBody=f"change-{n}", MessageGroupId="g", MessageDeduplicationId=f"e{n}")
        originals += _dead_letter(sqs, source, 1)
    started = int(time.time() * 1000)

    # WHEN the DLQ is redriven to its source (no DestinationArn)
    handle = sqs.start_message_move_task(SourceArn=_arn(sqs, dlq))["TaskHandle"]
    task = _wait_task(sqs, _arn(sqs, dlq))

    # THEN the task completed, the DLQ is empty, and the source holds new messages, oldest first
    assert task["Status"] == "COMPLETED" and handle
    assert task["ApproximateNumberOfMessagesMoved"] == task["ApproximateNumberOfMessagesToMove"] == 3
    assert "TaskHandle" not in task and "DestinationArn" not in task
    assert sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
        "ApproximateNumberOfMessages"] == "0"
    back = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in back] == ["change-0", "change-1", "change-2"]
    assert {m["MessageId"] for m in back}.isdisjoint(m["MessageId"] for m in originals)
    for m, original in zip(back, originals):
        assert m["Attributes"]["MessageGroupId"] == "g"
        assert m["Attributes"]["MessageDeduplicationId"] == original["MessageId"]
        assert int(m["Attributes"]["SentTimestamp"]) >= started  # the redrive is the new enqueue time
        assert m["Attributes"]["ApproximateReceiveCount"] == "1"
        assert "DeadLetterQueueSourceArn" not in m["Attributes"]


def test_redrive_to_a_destination_of_the_same_type_at_a_given_rate(aws, fifo):
    sqs, source, dlq = fifo
    elsewhere = sqs.create_queue(QueueName="elsewhere.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sqs.send_message(QueueUrl=source, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="e")
    _dead_letter(sqs, source, 1)

    sqs.start_message_move_task(SourceArn=_arn(sqs, dlq), DestinationArn=_arn(sqs, elsewhere), MaxNumberOfMessagesPerSecond=5)
    task = _wait_task(sqs, _arn(sqs, dlq))

    assert task["DestinationArn"] == _arn(sqs, elsewhere) and task["MaxNumberOfMessagesPerSecond"] == 5
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=elsewhere)["Messages"]] == ["x"]


def test_only_a_dlq_can_be_a_source_and_only_one_task_runs_per_source(aws, fifo):
    sqs, source, dlq = fifo
    standard = sqs.create_queue(QueueName="standard")["QueueUrl"]
    with pytest.raises(ClientError) as err:
        sqs.start_message_move_task(SourceArn=_arn(sqs, source))  # not a DLQ
    assert _code(err) == "UnsupportedOperation"
    with pytest.raises(ClientError) as err:
        sqs.start_message_move_task(SourceArn=_arn(sqs, source).replace("buffer.fifo", "missing.fifo"))
    assert _code(err) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        sqs.start_message_move_task(SourceArn=_arn(sqs, dlq), DestinationArn=_arn(sqs, standard))
    assert _code(err) == "UnsupportedOperation"

    # a slow task (1 message a second, 3 messages) is still RUNNING when a second one is asked for
    for n in range(3):
        sqs.send_message(QueueUrl=source, MessageBody=f"c{n}", MessageGroupId=f"g{n}", MessageDeduplicationId=f"e{n}")
    _dead_letter(sqs, source, 3)
    handle = sqs.start_message_move_task(SourceArn=_arn(sqs, dlq), MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    with pytest.raises(ClientError) as err:
        sqs.start_message_move_task(SourceArn=_arn(sqs, dlq))
    assert _code(err) == "UnsupportedOperation"
    (running,) = sqs.list_message_move_tasks(SourceArn=_arn(sqs, dlq))["Results"]
    assert running["Status"] == "RUNNING" and running["TaskHandle"] == handle

    # WHEN it is cancelled THEN it stops; what was moved stays moved; it cannot be cancelled twice
    moved = sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"]
    task = _wait_task(sqs, _arn(sqs, dlq), "CANCELLED")
    assert task["Status"] == "CANCELLED" and task["ApproximateNumberOfMessagesMoved"] < 3
    assert moved <= task["ApproximateNumberOfMessagesMoved"]
    with pytest.raises(ClientError) as err:
        sqs.cancel_message_move_task(TaskHandle=handle)
    assert _code(err) == "UnsupportedOperation"
    with pytest.raises(ClientError) as err:
        sqs.cancel_message_move_task(TaskHandle="bm90LWEtdGFzaw==")
    assert _code(err) == "ResourceNotFoundException"

    # a new task may start now, and the list shows the most recent first, one unless asked for more
    sqs.start_message_move_task(SourceArn=_arn(sqs, dlq))
    _wait_task(sqs, _arn(sqs, dlq))
    tasks = sqs.list_message_move_tasks(SourceArn=_arn(sqs, dlq), MaxResults=10)["Results"]
    assert [t["Status"] for t in tasks] == ["COMPLETED", "CANCELLED"]

"""Where the sandbox corrects moto: segmented scans of binary keys, SQS deduplication and deletes."""

from __future__ import annotations

import json
import threading
import time

from runbook_lib.sandbox.traffic import create_demo_table, seed_items


def test_segmented_scan_of_a_binary_hash_key_covers_every_item_once(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "bkeys", key_type="B", pitr=False, stream=None)
    seed_items(ddb, "bkeys", 120)
    keys = []
    for segment in range(4):
        page = ddb.scan(TableName="bkeys", Segment=segment, TotalSegments=4, ProjectionExpression="pk")
        keys += [item["pk"]["B"] for item in page["Items"]]
    assert len(keys) == len(set(keys)) == 120


def _fifo(aws):
    sqs = aws("sqs")
    return sqs, sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]


def test_fifo_deduplication_id_is_remembered_after_the_message_is_deleted(aws):
    # AWS: a deduplication id is remembered for five minutes, even once its message is deleted
    sqs, url = _fifo(aws)
    sqs.send_message(QueueUrl=url, MessageBody="a", MessageGroupId="g", MessageDeduplicationId="d1")
    message = sqs.receive_message(QueueUrl=url)["Messages"][0]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    sqs.send_message(QueueUrl=url, MessageBody="a", MessageGroupId="g", MessageDeduplicationId="d1")
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    sqs.send_message(QueueUrl=url, MessageBody="b", MessageGroupId="g", MessageDeduplicationId="d2")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "b"


def test_concurrent_deletes_lose_no_delete(aws):
    sqs, url = _fifo(aws)
    for batch in range(10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": "x", "MessageGroupId": f"g{batch}-{i}", "MessageDeduplicationId": f"d{batch}-{i}"}
            for i in range(10)])
    handles = []
    while len(handles) < 100:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages", [])
        assert got, "all 100 messages must be receivable"
        handles += [m["ReceiptHandle"] for m in got]
    chunks = [handles[i::8] for i in range(8)]
    threads = [threading.Thread(target=lambda c=c: [sqs.delete_message(QueueUrl=url, ReceiptHandle=h) for h in c]) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


# -- ReceiveMessage: the sandbox's one-pass receive keeps moto's and SQS's rules -----------------
def _send(sqs, url, body, group, attributes=None):
    kwargs = {"MessageAttributes": attributes} if attributes else {}
    sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body, **kwargs)


def _bodies(response):
    return [m["Body"] for m in response.get("Messages", [])]


def test_fifo_receive_keeps_group_order_and_skips_a_group_in_flight(aws):
    sqs, url = _fifo(aws)
    _send(sqs, url, "a1", "a")
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=30)
    assert _bodies(first) == ["a1"]
    for body, group in (("a2", "a"), ("b1", "b"), ("c1", "c"), ("b2", "b")):
        _send(sqs, url, body, group)
    # a has a message in flight: only b and c are deliverable, each group in its order
    second = _bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30))
    assert sorted(second) == ["b1", "b2", "c1"] and second.index("b1") < second.index("b2")
    assert _bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == []
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["Messages"][0]["ReceiptHandle"])
    assert _bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == ["a2"]


def test_a_message_whose_visibility_timeout_ends_is_delivered_again(aws):
    sqs, url = _fifo(aws)
    _send(sqs, url, "m", "g")
    _send(sqs, url, "n", "g")
    got = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1, AttributeNames=["ApproximateReceiveCount"])
    assert _bodies(got) == ["m"] and got["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "1"
    assert _bodies(sqs.receive_message(QueueUrl=url)) == []  # the group waits for m
    time.sleep(1.2)
    again = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])
    assert _bodies(again) == ["m"] and again["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert again["Messages"][0]["ReceiptHandle"] != got["Messages"][0]["ReceiptHandle"]


def test_a_message_received_max_receive_count_times_moves_to_the_dead_letter_queue(aws):
    sqs = aws("sqs")
    dlq = sqs.create_queue(QueueName="dead.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName="live.fifo", Attributes={
        "FifoQueue": "true", "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
    _send(sqs, url, "poison", "p")
    for _ in range(2):
        assert _bodies(sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)) == ["poison"]
    _send(sqs, url, "fine", "f")
    # the third receive finds poison over maxReceiveCount: it moves, and the other group flows
    assert _bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == ["fine"]
    assert _bodies(sqs.receive_message(QueueUrl=dlq)) == ["poison"]


def test_receive_returns_only_the_message_attributes_asked_for_and_keeps_the_others(aws):
    sqs, url = _fifo(aws)
    attributes = {
        "trace.id": {"DataType": "String", "StringValue": "t"},
        "trace.span": {"DataType": "String", "StringValue": "s"},
        "other": {"DataType": "Number", "StringValue": "1"},
    }
    _send(sqs, url, "m", "g", attributes)
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["trace.*"], VisibilityTimeout=0)
    assert set(got["Messages"][0]["MessageAttributes"]) == {"trace.id", "trace.span"}
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])
    assert set(got["Messages"][0]["MessageAttributes"]) == set(attributes)


def test_a_long_poll_returns_as_soon_as_a_message_arrives(aws):
    sqs, url = _fifo(aws)
    sender = threading.Timer(0.5, lambda: _send(aws("sqs"), url, "late", "g"))
    sender.start()
    started = time.monotonic()
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)
    waited = time.monotonic() - started
    sender.join()
    assert _bodies(got) == ["late"]
    assert 0.4 < waited < 4.5
    started = time.monotonic()
    assert _bodies(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)) == []  # the group is busy: a full wait
    assert time.monotonic() - started >= 0.9


# -- FIFO delivery after a visibility timeout, and group-first receives ---------------------------
def _send_all(sqs, url, bodies, group):
    for body in bodies:
        _send(sqs, url, body, group)


def test_fifo_group_comes_back_from_its_oldest_undeleted_message_after_a_visibility_timeout(aws):
    """A group is busy only while one of its messages is in flight; when the visibility timeout of
    the received messages ends, the group is delivered again from its oldest undeleted message.

    AWS: "FIFO queue delivery logic in Amazon SQS" (messages of one group are received in order;
    no more of a group while some are in flight, "unless ... they become visible again")
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html
    and "Amazon SQS visibility timeout"
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html
    """
    sqs, url = _fifo(aws)
    bodies = [f"b{i}" for i in range(12)]
    _send_all(sqs, url, bodies, "g")
    # GIVEN ten received and three of them deleted
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=1)["Messages"]
    assert [m["Body"] for m in first] == bodies[:10]
    for message in first[:3]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert _bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == []  # b3..b9 in flight
    # WHEN their visibility timeout is over
    time.sleep(1.3)
    # THEN the group comes back from b3, in order, b10 and b11 after b9
    assert _bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)) == bodies[3:]


def test_fifo_receive_returns_as_many_of_one_group_as_it_can_then_other_groups(aws):
    """AWS: "When receiving messages from a FIFO queue with multiple message group IDs, Amazon SQS
    attempts to return as many messages with the same message group ID as possible in a single
    call" and, with fewer than asked for in that group, "may include messages from other message
    group IDs in the same batch, but each group retains FIFO order".
    "FIFO queue delivery logic in Amazon SQS",
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html
    """
    sqs, url = _fifo(aws)
    for body in ("a1", "b1", "a2", "c1", "b2", "a3"):
        _send(sqs, url, body, body[0])
    assert _bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, VisibilityTimeout=30)) == ["a1", "a2", "a3"]
    # group a is in flight: b (oldest first) then c
    assert _bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)) == ["b1", "b2", "c1"]

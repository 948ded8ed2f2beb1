"""Where the sandbox corrects moto: segmented scans of binary keys, SQS deduplication and deletes."""

from __future__ import annotations

import threading

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

"""The sandbox counts requests and item requests per table, for cost-per-change benchmarks."""

from __future__ import annotations

import json
import urllib.request


def _stats(endpoint: str, reset: bool = False) -> dict:
    req = urllib.request.Request(endpoint + "/_sandbox/stats", data=b"{}" if reset else None,
                                 method="POST" if reset else "GET")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_dynamodb_and_sqs_calls_are_counted_per_operation_and_per_table(aws, endpoint):
    ddb, sqs = aws("dynamodb"), aws("sqs")
    for name in ("a", "b"):
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    url = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    assert _stats(endpoint, reset=True) == {"requests": {}, "items": {}}

    ddb.batch_write_item(RequestItems={
        "a": [{"PutRequest": {"Item": {"pk": {"S": str(n)}}}} for n in range(7)],
        "b": [{"DeleteRequest": {"Key": {"pk": {"S": "x"}}}}],
    })
    ddb.get_item(TableName="a", Key={"pk": {"S": "1"}}, ConsistentRead=True)
    ddb.batch_get_item(RequestItems={"a": {"Keys": [{"pk": {"S": "1"}}, {"pk": {"S": "2"}}]}})
    sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(n), "MessageBody": "m", "MessageGroupId": f"g{n}", "MessageDeduplicationId": f"d{n}"}
        for n in range(3)])

    stats = _stats(endpoint)
    assert stats["requests"] == {"dynamodb.BatchWriteItem": 1, "dynamodb.GetItem": 1,
                                 "dynamodb.BatchGetItem": 1, "sqs.SendMessageBatch": 1}
    assert stats["items"] == {"dynamodb.BatchWriteItem:a": 7, "dynamodb.BatchWriteItem:b": 1,
                              "dynamodb.GetItem:a": 1, "dynamodb.BatchGetItem:a": 2,
                              "sqs.SendMessageBatch:entries": 3}


def test_reset_zeroes_the_counters(aws, endpoint, sandbox):
    aws("dynamodb").list_tables()
    assert _stats(endpoint)["requests"]["dynamodb.ListTables"] >= 1
    sandbox.reset()
    assert _stats(endpoint) == {"requests": {}, "items": {}}

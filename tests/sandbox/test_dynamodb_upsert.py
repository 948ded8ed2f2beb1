"""UpdateItem on a key that has no item is one write: one INSERT stream record, and nothing if it fails.

AWS behaviour followed: "UpdateItem", Amazon DynamoDB API Reference
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html): "Edits an
existing item's attributes, or adds a new item to the table if it does not already exist"; a stream
record per item change, "INSERT - a new item was added to the table" ("Record", DynamoDB Streams
API Reference, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_Record.html).
moto put a keys-only item first, then updated it: two INSERT records, and a keys-only item left
behind when the update failed.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from test_dynamodb_transactions import _stream_reader  # noqa: E402 - tests/sandbox is on sys.path

from runbook_lib.sandbox.traffic import create_demo_table


def test_an_update_that_creates_an_item_writes_one_insert_with_the_whole_item(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "ups-one")
    streams = aws("dynamodbstreams")
    arn = ddb.describe_table(TableName="ups-one")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    ddb.update_item(TableName="ups-one", Key={"pk": {"S": "new"}}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": "7"}})
    records = streams.get_records(ShardIterator=it)["Records"]
    assert [(r["eventName"], r["dynamodb"]["NewImage"]) for r in records] == [
        ("INSERT", {"pk": {"S": "new"}, "v": {"N": "7"}})
    ]
    assert "OldImage" not in records[0]["dynamodb"]


def test_an_update_that_fails_on_a_new_key_leaves_no_item_and_no_record(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "ups-fail")
    read = _stream_reader(aws, ddb, "ups-fail")
    with pytest.raises(ClientError) as caught:  # the item would be over DynamoDB's 400 KB
        ddb.update_item(TableName="ups-fail", Key={"pk": {"S": "big"}}, UpdateExpression="SET b = :b",
                        ExpressionAttributeValues={":b": {"S": "x" * 410_000}})
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert ddb.get_item(TableName="ups-fail", Key={"pk": {"S": "big"}}).get("Item") is None
    assert read() == []
    # and an update of an existing item still records MODIFY
    ddb.put_item(TableName="ups-fail", Item={"pk": {"S": "old"}})
    ddb.update_item(TableName="ups-fail", Key={"pk": {"S": "old"}}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": "1"}})
    assert read() == [("INSERT", "old"), ("MODIFY", "old")]

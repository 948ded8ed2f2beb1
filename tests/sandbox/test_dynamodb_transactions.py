"""TransactWriteItems is all or nothing in the table's stream too, and idempotent with a ClientRequestToken.

AWS behaviour followed: "TransactWriteItems", Amazon DynamoDB API Reference
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html): "The
actions are completed atomically so that either all of them succeed, or all of them fail";
"Providing a ClientRequestToken makes the call to TransactWriteItems idempotent, meaning that
multiple identical calls have the same effect as one single call ... If you submit a request with
the same client token but a change in other parameters within the 10-minute idempotency window,
DynamoDB returns an IdempotentParameterMismatch exception." A stream record is written for each
item change ("Change data capture for DynamoDB Streams", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html): a change that did
not happen has none.
"""

from __future__ import annotations

import uuid

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from runbook_lib.sandbox.traffic import create_demo_table


def _stream_reader(aws, ddb, table: str):
    streams = aws("dynamodbstreams")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    state = {"it": streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]}

    def read() -> list[tuple[str, str]]:
        page = streams.get_records(ShardIterator=state["it"])
        state["it"] = page["NextShardIterator"]
        return [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in page["Records"]]

    return read


def _cancelled(ddb, table: str) -> None:
    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "never"}}}},  # applied first by moto
            {"Delete": {"TableName": table, "Key": {"pk": {"S": "also-kept"}}}},
            {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "kept"}},
                                "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"


def test_a_cancelled_transaction_writes_no_stream_record(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "txs-cancel")
    ddb.put_item(TableName="txs-cancel", Item={"pk": {"S": "kept"}})
    ddb.put_item(TableName="txs-cancel", Item={"pk": {"S": "also-kept"}})
    read = _stream_reader(aws, ddb, "txs-cancel")
    _cancelled(ddb, "txs-cancel")
    assert read() == []
    assert ddb.get_item(TableName="txs-cancel", Key={"pk": {"S": "never"}}).get("Item") is None
    assert ddb.get_item(TableName="txs-cancel", Key={"pk": {"S": "also-kept"}}).get("Item") == {"pk": {"S": "also-kept"}}


def test_the_stream_goes_on_after_a_cancelled_transaction(aws):
    """An iterator taken before the cancellation sees the writes after it (moto put back a copy of the
    table, with a copy of its shard, and every open iterator read a shard that no longer grew)."""
    ddb = aws("dynamodb")
    create_demo_table(ddb, "txs-after")
    ddb.put_item(TableName="txs-after", Item={"pk": {"S": "kept"}})
    ddb.put_item(TableName="txs-after", Item={"pk": {"S": "also-kept"}})
    read = _stream_reader(aws, ddb, "txs-after")
    _cancelled(ddb, "txs-after")
    ddb.put_item(TableName="txs-after", Item={"pk": {"S": "next"}})
    ddb.transact_write_items(TransactItems=[{"Delete": {"TableName": "txs-after", "Key": {"pk": {"S": "kept"}}}}])
    assert read() == [("INSERT", "next"), ("REMOVE", "kept")]


def test_a_transaction_retried_with_its_client_request_token_is_applied_once(aws, endpoint):
    import boto3

    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                       config=Config(retries={"max_attempts": 1}))
    create_demo_table(ddb, "txs-token")
    read = _stream_reader(aws, ddb, "txs-token")
    token = str(uuid.uuid4())
    add_one = [{"Update": {"TableName": "txs-token", "Key": {"pk": {"S": "n"}}, "UpdateExpression": "ADD v :one",
                           "ExpressionAttributeValues": {":one": {"N": "1"}}}}]
    ddb.transact_write_items(TransactItems=add_one, ClientRequestToken=token)
    ddb.transact_write_items(TransactItems=add_one, ClientRequestToken=token)  # a retry: same effect as one call
    assert ddb.get_item(TableName="txs-token", Key={"pk": {"S": "n"}})["Item"]["v"] == {"N": "1"}
    assert read() == [("INSERT", "n")]
    # the same token with other parameters within the window
    add_two = [{"Update": dict(add_one[0]["Update"], ExpressionAttributeValues={":one": {"N": "2"}})}]
    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(TransactItems=add_two, ClientRequestToken=token)
    assert caught.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # another token is another transaction
    ddb.transact_write_items(TransactItems=add_one, ClientRequestToken=str(uuid.uuid4()))
    assert ddb.get_item(TableName="txs-token", Key={"pk": {"S": "n"}})["Item"]["v"] == {"N": "2"}

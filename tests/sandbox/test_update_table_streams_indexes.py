"""UpdateTable: a table whose stream is disabled still takes writes; a new index keeps the key definitions.

AWS behaviour followed: "UpdateTable", Amazon DynamoDB API Reference
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTable.html):
``AttributeDefinitions`` "An array of attributes that describe the key schema for the table and
indexes. If you are adding a new global secondary index to the table, AttributeDefinitions must
include the key element(s) of the new index" (the table's own key schema is unchanged);
``StreamSpecification`` with ``StreamEnabled`` false disables the stream, and the table goes on
taking writes ("Change data capture for DynamoDB Streams", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html: after a stream is
disabled its records stay readable for 24 hours, and no new ones are written to it). Both answered
HTTP 500 in the sandbox: every write after the stream was disabled, and a restore of a table that
had an index added.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from test_dynamodb_transactions import _stream_reader  # noqa: E402 - tests/sandbox is on sys.path
from test_pitr_journal import _restored  # noqa: E402

from runbook_lib.sandbox.traffic import create_demo_table


def test_a_table_takes_writes_after_its_stream_is_disabled_and_the_old_stream_takes_no_more(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "ut-stream")
    read_old = _stream_reader(aws, ddb, "ut-stream")
    ddb.put_item(TableName="ut-stream", Item={"pk": {"S": "before"}})
    ddb.update_table(TableName="ut-stream", StreamSpecification={"StreamEnabled": False})
    ddb.put_item(TableName="ut-stream", Item={"pk": {"S": "while-off"}})
    ddb.update_item(TableName="ut-stream", Key={"pk": {"S": "before"}}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": "1"}})
    ddb.delete_item(TableName="ut-stream", Key={"pk": {"S": "while-off"}})
    assert read_old() == [("INSERT", "before")]
    ddb.update_table(TableName="ut-stream", StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    read_new = _stream_reader(aws, ddb, "ut-stream")
    ddb.put_item(TableName="ut-stream", Item={"pk": {"S": "after"}})
    assert read_new() == [("INSERT", "after")]
    assert read_old() == []


def test_adding_an_index_keeps_the_key_definitions_and_the_table_restores(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "ut-gsi")
    ddb.put_item(TableName="ut-gsi", Item={"pk": {"S": "a"}, "g": {"S": "x"}})
    ddb.update_table(
        TableName="ut-gsi",
        AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                                 "Projection": {"ProjectionType": "ALL"}}}],
    )
    defs = ddb.describe_table(TableName="ut-gsi")["Table"]["AttributeDefinitions"]
    assert sorted((d["AttributeName"], d["AttributeType"]) for d in defs) == [("g", "S"), ("pk", "S")]
    time.sleep(0.02)
    at = datetime.now(timezone.utc)
    time.sleep(0.02)
    assert set(_restored(ddb, "ut-gsi", "ut-gsi-r", at)) == {"a"}


def test_enabling_a_second_stream_or_disabling_none_is_a_validation_error(aws):
    """UpdateTable, StreamSpecification: "You receive a ValidationException if you try to enable a stream
    on a table that already has a stream, or if you try to disable a stream on a table that doesn't have
    a stream" (moto answered ResourceInUseException, which the runbook retries as transient)."""
    import pytest
    from botocore.exceptions import ClientError

    ddb = aws("dynamodb")
    create_demo_table(ddb, "ut-twice")
    with pytest.raises(ClientError) as caught:
        ddb.update_table(TableName="ut-twice", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    ddb.update_table(TableName="ut-twice", StreamSpecification={"StreamEnabled": False})
    with pytest.raises(ClientError) as caught:
        ddb.update_table(TableName="ut-twice", StreamSpecification={"StreamEnabled": False})
    assert caught.value.response["Error"]["Code"] == "ValidationException"

"""A PutItem or UpdateItem that changes nothing writes no stream record.

AWS behaviour followed: "Change data capture for DynamoDB Streams", Amazon DynamoDB Developer Guide
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html): "If you perform a
PutItem or UpdateItem operation that does not change any data in an item, DynamoDB Streams does not
write a stream record for that operation." moto wrote a MODIFY record with equal images for each.
"""

from __future__ import annotations

from test_dynamodb_transactions import _stream_reader  # noqa: E402 - tests/sandbox is on sys.path

from runbook_lib.sandbox.traffic import create_demo_table


def test_a_write_that_changes_nothing_writes_no_record(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "sr-noop")
    item = {"pk": {"S": "a"}, "v": {"N": "1"}, "tags": {"SS": ["x", "y"]}}
    ddb.put_item(TableName="sr-noop", Item=item)
    read = _stream_reader(aws, ddb, "sr-noop")
    ddb.put_item(TableName="sr-noop", Item=item)
    ddb.update_item(TableName="sr-noop", Key={"pk": {"S": "a"}}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": "1"}})
    ddb.batch_write_item(RequestItems={"sr-noop": [{"PutRequest": {"Item": item}}]})
    assert read() == []
    # a real change still writes its record
    ddb.update_item(TableName="sr-noop", Key={"pk": {"S": "a"}}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": "2"}})
    assert read() == [("MODIFY", "a")]

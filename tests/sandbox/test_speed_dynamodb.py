"""The sandbox writes the items of DynamoDB answers itself (``speed_dynamodb``, a speed-up): the
answers must be exactly those of moto's serializer, for every attribute type.

The wire format followed is DynamoDB's JSON protocol for ``AttributeValue``: "Data Types" and
"AttributeValue", Amazon DynamoDB API Reference
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_AttributeValue.html): one
member per value, numbers as strings, binary as base64.
"""

from __future__ import annotations

import json
import random

import pytest

from runbook_lib.sandbox import speed_dynamodb
from runbook_lib.sandbox.traffic import create_demo_table, key_schema, make_item, make_key


def _raw_bodies(client) -> list[bytes]:
    bodies: list[bytes] = []
    client.meta.events.register("after-call.dynamodb.*", lambda http_response, **_: bodies.append(http_response.content))
    return bodies


@pytest.fixture
def fast_items():
    saved = speed_dynamodb.fast_items
    yield
    speed_dynamodb.fast_items = saved


def _calls(ddb, table: str, schema) -> None:
    ddb.scan(TableName=table, ReturnConsumedCapacity="TOTAL")
    ddb.scan(TableName=table, Limit=3, Segment=1, TotalSegments=2)
    ddb.get_item(TableName=table, Key=make_key(schema, 4), ConsistentRead=True)
    ddb.get_item(TableName=table, Key=make_key(schema, 999))  # no Item member
    ddb.batch_get_item(RequestItems={table: {"Keys": [make_key(schema, n) for n in (1, 2, 3)]}},
                       ReturnConsumedCapacity="TOTAL")
    ddb.query(TableName=table, KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": make_key(schema, 5)["pk"]})
    ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": make_key(schema, 6)}}])
    ddb.execute_statement(Statement=f'SELECT * FROM "{table}"')


@pytest.mark.parametrize("key_type", ["S", "B"])
def test_item_answers_equal_motos_serializer_for_every_attribute_type(aws, fast_items, key_type):
    # GIVEN items with every attribute type (S N B SS NS BS M L BOOL NULL, nested), one of 30 KB
    ddb = aws("dynamodb")
    table = f"speed-{key_type}"
    create_demo_table(ddb, table, key_type=key_type, pitr=False, stream=None)
    schema = key_schema(ddb, table)
    rng = random.Random(3)
    for n in range(12):
        ddb.put_item(TableName=table, Item=make_item(schema, n, rng, size=30_000 if n == 7 else 0))
    bodies = _raw_bodies(ddb)
    # WHEN the same calls are answered by the sandbox's writer and by moto's serializer
    speed_dynamodb.fast_items = True
    _calls(ddb, table, schema)
    fast = [json.loads(b) for b in bodies]
    bodies.clear()
    speed_dynamodb.fast_items = False
    _calls(ddb, table, schema)
    generic = [json.loads(b) for b in bodies]
    # THEN the answers are the same, member for member
    assert len(fast) == len(generic) == 8
    for got, expected in zip(fast, generic):
        assert got == expected
    assert any("Items" in a for a in fast) and any("Item" in a for a in fast) and any("Responses" in a for a in fast)


def test_item_answers_round_trip_binary_values(aws, fast_items):
    # GIVEN an item with a binary value and a binary set
    ddb = aws("dynamodb")
    create_demo_table(ddb, "speed-bin", pitr=False, stream=None)
    item = {"pk": {"S": "k"}, "b": {"B": b"\x00\xff\x10"}, "bs": {"BS": [b"\x01", b"\x02\x03"]}}
    ddb.put_item(TableName="speed-bin", Item=item)
    # WHEN it is read back through the sandbox's writer
    speed_dynamodb.fast_items = True
    got = ddb.scan(TableName="speed-bin")["Items"]
    # THEN the bytes are those written
    assert got == [{"pk": {"S": "k"}, "b": {"B": b"\x00\xff\x10"}, "bs": {"BS": [b"\x01", b"\x02\x03"]}}]


def test_items_over_the_size_limit_are_refused_and_items_under_it_stored(aws):
    """"The maximum item size in DynamoDB is 400 KB, which includes both attribute name binary length
    (UTF-8 length) and attribute value lengths" ("Quotas in Amazon DynamoDB", Amazon DynamoDB Developer
    Guide, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html): the
    sandbox's own item constructor (``speed_dynamodb``) keeps moto's check."""
    from botocore.exceptions import ClientError

    ddb = aws("dynamodb")
    create_demo_table(ddb, "sizes", pitr=False, stream=None)
    # GIVEN an item of many attributes that stays under the limit, and one whose last attribute crosses it
    under = {"pk": {"S": "under"}, **{f"a{i:03d}": {"S": "x" * 3_800} for i in range(100)}}
    over = {"pk": {"S": "over"}, **{f"a{i:03d}": {"S": "x" * 3_800} for i in range(100)}, "last": {"S": "x" * 30_000}}
    # WHEN both are put THEN the first is stored whole and the second refused as DynamoDB refuses it
    ddb.put_item(TableName="sizes", Item=under)
    assert ddb.get_item(TableName="sizes", Key={"pk": {"S": "under"}})["Item"] == under
    try:
        ddb.put_item(TableName="sizes", Item=over)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ValidationException"
        assert "Item size has exceeded the maximum allowed size" in exc.response["Error"]["Message"]
    else:
        raise AssertionError("an item over 400 KB was stored")
    assert "Item" not in ddb.get_item(TableName="sizes", Key={"pk": {"S": "over"}})

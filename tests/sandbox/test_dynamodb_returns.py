"""Batch and transaction answers carry ConsumedCapacity and ItemCollectionMetrics only when asked.

"BatchWriteItem", Amazon DynamoDB API Reference
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html):
``ReturnConsumedCapacity`` "NONE - No ConsumedCapacity details are included in the response" (the
default); ``ItemCollectionMetrics`` is "returned only if the ReturnItemCollectionMetrics parameter
was specified". The same parameters and rules in "BatchGetItem" and "TransactWriteItems". moto
answers with both fields always.
"""

from __future__ import annotations

from runbook_lib.sandbox.traffic import create_demo_table


def _table(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "answers", pitr=False, stream=None)
    return ddb


def test_batch_write_answers_consumed_capacity_only_when_asked(aws):
    ddb = _table(aws)
    put = [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]
    plain = ddb.batch_write_item(RequestItems={"answers": put})
    assert "ConsumedCapacity" not in plain and "ItemCollectionMetrics" not in plain
    assert plain["UnprocessedItems"] == {}
    explicit_none = ddb.batch_write_item(RequestItems={"answers": put}, ReturnConsumedCapacity="NONE")
    assert "ConsumedCapacity" not in explicit_none
    asked = ddb.batch_write_item(RequestItems={"answers": put}, ReturnConsumedCapacity="TOTAL",
                                 ReturnItemCollectionMetrics="SIZE")
    assert [c["TableName"] for c in asked["ConsumedCapacity"]] == ["answers"]
    assert "ItemCollectionMetrics" in asked


def test_batch_get_answers_consumed_capacity_only_when_asked(aws):
    ddb = _table(aws)
    ddb.put_item(TableName="answers", Item={"pk": {"S": "a"}})
    request = {"answers": {"Keys": [{"pk": {"S": "a"}}]}}
    plain = ddb.batch_get_item(RequestItems=request)
    assert "ConsumedCapacity" not in plain
    assert len(plain["Responses"]["answers"]) == 1
    asked = ddb.batch_get_item(RequestItems=request, ReturnConsumedCapacity="TOTAL")
    assert [c["TableName"] for c in asked["ConsumedCapacity"]] == ["answers"]


def test_transact_write_answers_consumed_capacity_only_when_asked(aws):
    ddb = _table(aws)
    items = [{"Put": {"TableName": "answers", "Item": {"pk": {"S": "t"}}}}]
    plain = ddb.transact_write_items(TransactItems=items)
    assert "ConsumedCapacity" not in plain and "ItemCollectionMetrics" not in plain
    assert ddb.get_item(TableName="answers", Key={"pk": {"S": "t"}})["Item"] == {"pk": {"S": "t"}}

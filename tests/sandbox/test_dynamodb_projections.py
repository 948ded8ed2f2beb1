"""ProjectionExpression in TransactGetItems, and an expression attribute name followed by list indexes.

AWS behaviour followed: "Get", Amazon DynamoDB API Reference
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Get.html): ``ProjectionExpression``
"A string that defines one or more attributes to be retrieved from the table specified in
TableName"; "Specifying item attributes when using expressions", Amazon DynamoDB Developer Guide
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.Attributes.html): a
document path element is an attribute name (or ``#name``) with optional list indexes, ``[n]``.
"""

from __future__ import annotations

from runbook_lib.sandbox.traffic import create_demo_table

ITEM = {"pk": {"S": "a"}, "v": {"N": "1"}, "s": {"S": "x"}, "l": {"L": [{"N": "1"}, {"N": "2"}]}}


def test_transact_get_items_returns_only_the_projected_attributes(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "proj-tx", pitr=False, stream=None)
    ddb.put_item(TableName="proj-tx", Item=ITEM)
    out = ddb.transact_get_items(TransactItems=[
        {"Get": {"TableName": "proj-tx", "Key": {"pk": {"S": "a"}}, "ProjectionExpression": "v, #s",
                 "ExpressionAttributeNames": {"#s": "s"}}},
        {"Get": {"TableName": "proj-tx", "Key": {"pk": {"S": "a"}}}},
        {"Get": {"TableName": "proj-tx", "Key": {"pk": {"S": "none"}}, "ProjectionExpression": "v"}},
    ])["Responses"]
    assert out == [{"Item": {"v": {"N": "1"}, "s": {"S": "x"}}}, {"Item": ITEM}, {}]


def test_a_name_placeholder_with_a_list_index_is_a_used_name(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "proj-idx", pitr=False, stream=None)
    ddb.put_item(TableName="proj-idx", Item=ITEM)
    kwargs = {"ProjectionExpression": "v, #l[1]", "ExpressionAttributeNames": {"#l": "l"}}
    expected = {"v": {"N": "1"}, "l": {"L": [{"N": "2"}]}}
    assert ddb.get_item(TableName="proj-idx", Key={"pk": {"S": "a"}}, **kwargs)["Item"] == expected
    assert ddb.scan(TableName="proj-idx", **kwargs)["Items"] == [expected]

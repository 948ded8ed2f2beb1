"""PartiQL writes as DynamoDB documents them, and never an HTTP 500.

AWS behaviour followed: "PartiQL delete statements for DynamoDB", Amazon DynamoDB Developer Guide
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-reference.delete.html): "If the
DynamoDB table does not have any item with the same primary key as that of the item for which the
DELETE is issued, SUCCESS is returned with 0 items deleted. If the table has an item with same
primary key, but the condition in the WHERE clause of the DELETE statement evaluates to false,
ConditionalCheckFailedException is returned"; "PartiQL insert statements for DynamoDB"
(.../ql-reference.insert.html): "If the DynamoDB table already has an item with the same primary key
as the primary key of the item being inserted, DuplicateItemException is returned"; "Running batch
operations with PartiQL for DynamoDB" (.../ql-reference.multiplestatements.batching.html): each
statement of a batch succeeds or fails on its own; "Performing transactions with PartiQL for
DynamoDB" (.../ql-reference.multiplestatements.transactions.html): a transaction is all or nothing.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from test_dynamodb_transactions import _stream_reader  # noqa: E402 - tests/sandbox is on sys.path
from test_pitr_journal import _restored, _scan_all  # noqa: E402
from test_pitr_transactions import _now  # noqa: E402

from runbook_lib.sandbox.traffic import create_demo_table


def _code(caught) -> str:
    return caught.value.response["Error"]["Code"]


def test_delete_with_parameters_removes_the_item_in_the_table_its_stream_and_a_later_restore(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "pq-del")
    ddb.put_item(TableName="pq-del", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    ddb.put_item(TableName="pq-del", Item={"pk": {"S": "b"}})
    read = _stream_reader(aws, ddb, "pq-del")
    out = ddb.execute_statement(Statement='DELETE FROM "pq-del" WHERE pk = ? RETURNING ALL OLD *',
                                Parameters=[{"S": "a"}])
    assert out["Items"] == [{"pk": {"S": "a"}, "v": {"N": "1"}}]
    assert read() == [("REMOVE", "a")]
    assert set(_scan_all(ddb, "pq-del")) == {"b"}
    assert set(_restored(ddb, "pq-del", "pq-del-r", _now())) == {"b"}
    # no such item: success, nothing deleted
    assert ddb.execute_statement(Statement='DELETE FROM "pq-del" WHERE pk = ?', Parameters=[{"S": "a"}])["Items"] == []
    # the item is there but the rest of the WHERE clause is false
    with pytest.raises(ClientError) as caught:
        ddb.execute_statement(Statement="DELETE FROM \"pq-del\" WHERE pk = 'b' AND v = 5")
    assert _code(caught) == "ConditionalCheckFailedException"
    assert set(_scan_all(ddb, "pq-del")) == {"b"}


def test_insert_of_an_existing_key_is_a_duplicate_item_and_changes_nothing(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "pq-ins")
    ddb.execute_statement(Statement="INSERT INTO \"pq-ins\" VALUE {'pk': 'a', 'v': 1}")
    with pytest.raises(ClientError) as caught:
        ddb.execute_statement(Statement="INSERT INTO \"pq-ins\" VALUE {'pk': 'a', 'v': 2}")
    assert _code(caught) == "DuplicateItemException"
    assert _scan_all(ddb, "pq-ins")["a"]["v"] == {"N": "1"}


def test_a_statement_the_sandbox_cannot_parse_is_a_validation_error_not_a_500(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "pq-500")
    ddb.put_item(TableName="pq-500", Item={"pk": {"S": "a"}})
    with pytest.raises(ClientError) as caught:
        ddb.execute_statement(Statement='UPDATE "pq-500" SET v = 2 WHERE pk = ?', Parameters=[{"S": "a"}])
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert _code(caught) == "ValidationException"


def test_each_statement_of_a_batch_answers_on_its_own(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "pq-batch")
    ddb.put_item(TableName="pq-batch", Item={"pk": {"S": "old"}})
    out = ddb.batch_execute_statement(Statements=[
        {"Statement": "INSERT INTO \"pq-batch\" VALUE {'pk': 'new'}"},
        {"Statement": "INSERT INTO \"pq-batch\" VALUE {'pk': 'old'}"},
        {"Statement": 'DELETE FROM "pq-batch" WHERE pk = ?', "Parameters": [{"S": "old"}]},
        {"Statement": 'UPDATE "pq-batch" SET v = 2 WHERE pk = ?', "Parameters": [{"S": "new"}]},
    ])["Responses"]
    assert [r.get("Error", {}).get("Code") for r in out] == [None, "DuplicateItem", None, "ValidationError"]
    assert set(_scan_all(ddb, "pq-batch")) == {"new"}


def test_a_transaction_with_an_insert_of_an_existing_key_writes_nothing(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "pq-tx")
    ddb.put_item(TableName="pq-tx", Item={"pk": {"S": "old"}})
    read = _stream_reader(aws, ddb, "pq-tx")
    with pytest.raises(ClientError) as caught:
        ddb.execute_transaction(TransactStatements=[
            {"Statement": "INSERT INTO \"pq-tx\" VALUE {'pk': 'new'}"},
            {"Statement": "INSERT INTO \"pq-tx\" VALUE {'pk': 'old'}"},
        ])
    assert _code(caught) == "TransactionCanceledException"
    assert [r["Code"] for r in caught.value.response["CancellationReasons"]] == ["None", "DuplicateItem"]
    assert set(_scan_all(ddb, "pq-tx")) == {"old"}
    assert read() == []


def test_a_statement_on_a_missing_table_is_resource_not_found(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "pq.dotted", pitr=False, stream=None)
    ddb.execute_statement(Statement="INSERT INTO \"pq.dotted\" VALUE {'pk': 'a'}")  # a table name with a dot
    for statement in ("INSERT INTO \"pq-none\" VALUE {'pk': 'a'}", 'DELETE FROM "pq-none" WHERE pk = \'a\''):
        with pytest.raises(ClientError) as caught:
            ddb.execute_statement(Statement=statement)
        assert _code(caught) == "ResourceNotFoundException"

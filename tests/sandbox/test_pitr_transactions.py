"""Transactions on tables under PITR, and on a restored table that shares items with its source.

AWS behaviour followed: "TransactWriteItems", Amazon DynamoDB API Reference
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html): "a
synchronous write operation that groups up to 100 action requests ... The actions are completed
atomically so that either all of them succeed, or all of them fail"; the actions may name
different tables of one account and region; a failed condition cancels the whole transaction with
``TransactionCanceledException`` and its ``CancellationReasons``. The sandbox answered HTTP 500 to
every TransactWriteItems on a PITR table (moto deep-copies each table, and the journal holds a lock).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError
from test_pitr_journal import _restored, _scan_all  # noqa: E402 - tests/sandbox is on sys.path

from runbook_lib.sandbox.traffic import create_demo_table


def _now() -> datetime:
    time.sleep(0.02)
    at = datetime.now(timezone.utc)
    time.sleep(0.02)
    return at


def test_a_transaction_across_a_source_and_its_restored_table_changes_each_table_only(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "tx-src")
    ddb.put_item(TableName="tx-src", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    _restored(ddb, "tx-src", "tx-dst", _now())  # the restored table shares item "a" with its source
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "tx-src", "Item": {"pk": {"S": "b"}, "v": {"N": "2"}}}},
        {"Update": {"TableName": "tx-dst", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"N": "9"}}}},
    ])
    assert _scan_all(ddb, "tx-src") == {"a": {"pk": {"S": "a"}, "v": {"N": "1"}}, "b": {"pk": {"S": "b"}, "v": {"N": "2"}}}
    assert _scan_all(ddb, "tx-dst") == {"a": {"pk": {"S": "a"}, "v": {"N": "9"}}}


def test_a_cancelled_transaction_leaves_no_write_in_the_table_nor_in_a_later_restore(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "tx-cancel")
    ddb.put_item(TableName="tx-cancel", Item={"pk": {"S": "kept"}})
    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "tx-cancel", "Item": {"pk": {"S": "half"}}}},  # applied first by moto
            {"ConditionCheck": {"TableName": "tx-cancel", "Key": {"pk": {"S": "kept"}},
                                "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert set(_scan_all(ddb, "tx-cancel")) == {"kept"}
    # the restore reads the journal: the cancelled Put is not there either
    assert set(_restored(ddb, "tx-cancel", "tx-cancel-r", _now())) == {"kept"}
    # and the table still takes transactions and journals them
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "tx-cancel", "Item": {"pk": {"S": "later"}}}}])
    assert set(_restored(ddb, "tx-cancel", "tx-cancel-r2", _now())) == {"kept", "later"}

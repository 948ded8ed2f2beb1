"""A Query or Scan on a missing index is a ValidationException; DeleteTable answers DELETING.

AWS behaviour followed: DynamoDB answers a request naming an index the table does not have with
``ValidationException`` "The table does not have the specified index: <name>" ("Error handling with
DynamoDB", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html:
ValidationException for a request that cannot be run as given; the wording as AWS answers it);
"DeleteTable", Amazon DynamoDB API Reference
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DeleteTable.html): "When
DynamoDB receives this request, the table is in the DELETING state".
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from runbook_lib.aws.codes import is_not_found
from runbook_lib.sandbox.traffic import create_demo_table


def test_query_and_scan_on_a_missing_index_are_validation_errors_not_a_missing_table(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "ans-idx", pitr=False, stream=None)
    for call, kwargs in (
        (ddb.query, {"KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": "x"}}}),
        (ddb.scan, {}),
    ):
        with pytest.raises(ClientError) as caught:
            call(TableName="ans-idx", IndexName="no-such-index", **kwargs)
        assert caught.value.response["Error"]["Code"] == "ValidationException"
        assert "does not have the specified index: no-such-index" in caught.value.response["Error"]["Message"]
        assert not is_not_found(caught.value)


def test_delete_table_answers_deleting(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "ans-del", pitr=False, stream=None)
    assert ddb.delete_table(TableName="ans-del")["TableDescription"]["TableStatus"] == "DELETING"


def test_update_table_on_a_missing_index_is_resource_not_found_not_a_500(aws):
    """UpdateTable's ResourceNotFoundException: "The operation tried to access a nonexistent table or index"."""
    ddb = aws("dynamodb")
    create_demo_table(ddb, "ans-gsi", pitr=False, stream=None)
    for update in ({"Delete": {"IndexName": "none"}},
                   {"Update": {"IndexName": "none", "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}}):
        with pytest.raises(ClientError) as caught:
            ddb.update_table(TableName="ans-gsi", GlobalSecondaryIndexUpdates=[update])
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"

"""Validations AWS makes and moto does not, which the buffer relies on."""

from __future__ import annotations

import io
import zipfile

import pytest
from botocore.exceptions import ClientError

from runbook_lib.sandbox.traffic import create_demo_table


def test_batch_write_rejects_two_requests_for_one_key(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "dups", pitr=False, stream=None)
    requests = [
        {"PutRequest": {"Item": {"pk": {"S": "a"}, "v": {"N": "1"}}}},
        {"PutRequest": {"Item": {"pk": {"S": "a"}, "v": {"N": "2"}}}},
    ]
    with pytest.raises(ClientError) as info:
        ddb.batch_write_item(RequestItems={"dups": requests})
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "duplicates" in info.value.response["Error"]["Message"]
    mixed = [requests[0], {"DeleteRequest": {"Key": {"pk": {"S": "a"}}}}]
    with pytest.raises(ClientError):
        ddb.batch_write_item(RequestItems={"dups": mixed})
    assert ddb.scan(TableName="dups")["Count"] == 0  # nothing written by a rejected call
    ddb.batch_write_item(RequestItems={"dups": [requests[0], {"PutRequest": {"Item": {"pk": {"S": "b"}}}}]})
    assert ddb.scan(TableName="dups")["Count"] == 2


def _function(aws) -> str:
    iam = aws("iam")
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return {}\n")
    return aws("lambda").create_function(
        FunctionName="fn", Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": buf.getvalue()}
    )["FunctionArn"]


@pytest.mark.parametrize(
    "extra",
    [{"BatchSize": 11}, {"BatchSize": 10, "MaximumBatchingWindowInSeconds": 5}],
    ids=["batch_over_10", "batching_window"],
)
def test_fifo_mapping_limits_are_a_client_error(aws, extra):
    queue = aws("sqs").create_queue(QueueName="buf.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = aws("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    _function(aws)
    with pytest.raises(ClientError) as info:
        aws("lambda").create_event_source_mapping(EventSourceArn=arn, FunctionName="fn", Enabled=False, **extra)
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert aws("lambda").list_event_source_mappings()["EventSourceMappings"] == []
    ok = aws("lambda").create_event_source_mapping(EventSourceArn=arn, FunctionName="fn", Enabled=False, BatchSize=10)
    with pytest.raises(ClientError) as info:
        aws("lambda").update_event_source_mapping(UUID=ok["UUID"], BatchSize=25)
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"

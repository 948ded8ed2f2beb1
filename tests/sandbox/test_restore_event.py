"""A successful restore raises CloudTrail's event; a rule starts a Step Functions workflow with it."""

from __future__ import annotations

import json
import time

from runbook_lib.sandbox import SETTINGS
from runbook_lib.sandbox.traffic import create_demo_table

PATTERN = {
    "source": ["aws.dynamodb"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {
        "eventSource": ["dynamodb.amazonaws.com"],
        "eventName": ["RestoreTableToPointInTime"],
        "requestParameters": {"sourceTableName": ["orders"], "targetTableName": ["orders-restored"]},
    },
}


def _trail(aws, *, selectors=None, logging_on=True):
    aws("s3").create_bucket(Bucket="trail-bucket")
    aws("cloudtrail").create_trail(Name="management", S3BucketName="trail-bucket", IsMultiRegionTrail=True)
    if selectors:
        aws("cloudtrail").put_event_selectors(TrailName="management", EventSelectors=selectors)
    if logging_on:
        aws("cloudtrail").start_logging(Name="management")


def _capture_queue(aws) -> tuple[str, str]:
    url = aws("sqs").create_queue(QueueName="seen-events")["QueueUrl"]
    arn = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws("events").put_rule(Name="restores", EventPattern=json.dumps(PATTERN))
    aws("events").put_targets(Rule="restores", Targets=[{"Id": "q", "Arn": arn}])
    return url


def _restore(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    ddb.put_item(TableName="orders", Item={"pk": {"S": "a"}})
    time.sleep(0.02)
    ddb.restore_table_to_point_in_time(SourceTableName="orders", TargetTableName="orders-restored", UseLatestRestorableTime=True)


def test_restore_puts_cloudtrail_event_when_a_trail_logs(aws):
    _trail(aws)
    url = _capture_queue(aws)
    _restore(aws)
    messages = aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 1
    event = json.loads(messages[0]["Body"])
    assert event["source"] == "aws.dynamodb" and event["detail-type"] == "AWS API Call via CloudTrail"
    detail = event["detail"]
    assert detail["eventName"] == "RestoreTableToPointInTime" and "errorCode" not in detail
    assert detail["requestParameters"]["sourceTableName"] == "orders"
    assert detail["requestParameters"]["useLatestRestorableTime"] is True
    assert detail["responseElements"]["tableDescription"]["tableName"] == "orders-restored"
    assert detail["responseElements"]["tableDescription"]["tableStatus"] == "CREATING"


def test_no_trail_no_event(aws):
    url = _capture_queue(aws)
    _restore(aws)
    assert aws("sqs").receive_message(QueueUrl=url).get("Messages", []) == []


def test_trail_not_logging_or_read_only_gives_no_event(aws):
    _trail(aws, selectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}])
    url = _capture_queue(aws)
    _restore(aws)
    assert aws("sqs").receive_message(QueueUrl=url).get("Messages", []) == []


def test_failed_restore_gives_no_event(aws):
    _trail(aws)
    url = _capture_queue(aws)
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders", pitr=False)
    try:
        ddb.restore_table_to_point_in_time(SourceTableName="orders", TargetTableName="orders-restored", UseLatestRestorableTime=True)
    except ddb.exceptions.ClientError:
        pass
    assert aws("sqs").receive_message(QueueUrl=url).get("Messages", []) == []


DEFINITION = {
    "StartAt": "Describe",
    "States": {
        "Describe": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:dynamodb:describeTable",
            "Parameters": {"TableName.$": "$.detail.requestParameters.targetTableName"},
            "ResultSelector": {"status.$": "$.Table.TableStatus", "name.$": "$.Table.TableName"},
            "ResultPath": "$.table",
            "Next": "Ready?",
        },
        "Ready?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.table.status", "StringEquals": "ACTIVE", "Next": "Enable"}],
            "Default": "Wait",
        },
        "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Describe"},
        "Enable": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:lambda:updateEventSourceMapping",
            "Parameters": {"Uuid.$": "$.mapping", "Enabled": True},
            "ResultSelector": {"state.$": "$.State"},
            "End": True,
        },
    },
}


def test_rule_starts_state_machine_that_enables_the_mapping(aws):
    SETTINGS.restore_seconds = 1.0
    _trail(aws)
    # a disabled mapping for the workflow to turn on
    import io
    import zipfile

    role = aws("iam").create_role(RoleName="role1", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return {}\n")
    aws("lambda").create_function(FunctionName="applier", Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": buf.getvalue()})
    q = aws("sqs").create_queue(QueueName="buf.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    qarn = aws("sqs").get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = aws("lambda").create_event_source_mapping(EventSourceArn=qarn, FunctionName="applier", Enabled=False, BatchSize=10)["UUID"]
    machine = aws("stepfunctions").create_state_machine(name="enable-replay", definition=json.dumps(DEFINITION), roleArn=role)["stateMachineArn"]
    aws("events").put_rule(Name="on-restore", EventPattern=json.dumps(PATTERN))
    aws("events").put_targets(
        Rule="on-restore",
        Targets=[{"Id": "sfn", "Arn": machine, "RoleArn": role, "InputTransformer": None}] if False else [{"Id": "sfn", "Arn": machine, "RoleArn": role}],
    )
    # the mapping id travels in the input: a rule with a fixed Input would lose the event, so the
    # test machine reads it from the event itself after a Pass state would add it; simpler: set it
    # on the definition through a Pass state
    definition = dict(DEFINITION)
    definition["StartAt"] = "AddMapping"
    definition["States"] = {"AddMapping": {"Type": "Pass", "Result": mapping, "ResultPath": "$.mapping", "Next": "Describe"}, **DEFINITION["States"]}
    aws("stepfunctions").update_state_machine(stateMachineArn=machine, definition=json.dumps(definition))

    _restore(aws)
    executions = aws("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
    assert len(executions) == 1
    deadline = time.monotonic() + 30
    status = "RUNNING"
    while time.monotonic() < deadline and status == "RUNNING":
        time.sleep(0.2)
        status = aws("stepfunctions").describe_execution(executionArn=executions[0]["executionArn"])["status"]
    assert status == "SUCCEEDED"
    assert aws("lambda").get_event_source_mapping(UUID=mapping)["State"] == "Enabled"
    assert aws("dynamodb").describe_table(TableName="orders-restored")["Table"]["TableStatus"] == "ACTIVE"


def test_disabled_rule_starts_nothing(aws):
    _trail(aws)
    role = aws("iam").create_role(RoleName="role1", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    machine = aws("stepfunctions").create_state_machine(
        name="noop", definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}), roleArn=role
    )["stateMachineArn"]
    aws("events").put_rule(Name="on-restore", EventPattern=json.dumps(PATTERN), State="DISABLED")
    aws("events").put_targets(Rule="on-restore", Targets=[{"Id": "sfn", "Arn": machine}])
    _restore(aws)
    assert aws("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []

"""A successful restore raises CloudTrail's event; a rule starts a Step Functions workflow with it."""

from __future__ import annotations

import json
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

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


# ------------------------------------------------------------ the target's dead-letter queue
def _noop_machine(aws) -> tuple[str, str]:
    role = aws("iam").create_role(RoleName="rule-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    machine = aws("stepfunctions").create_state_machine(
        name="noop", definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}), roleArn=role
    )["stateMachineArn"]
    return machine, role


def _dlq(aws, name="rule-dlq", *, rule_arn=None) -> tuple[str, str]:
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    if rule_arn:
        sqs.set_queue_attributes(
            QueueUrl=url,
            Attributes={
                "Policy": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                                "Resource": arn,
                                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                            }
                        ],
                    }
                )
            },
        )
    return url, arn


def test_put_targets_keeps_dead_letter_config_and_retry_policy(aws):
    machine, role = _noop_machine(aws)
    _, dlq_arn = _dlq(aws)
    aws("events").put_rule(Name="on-restore", EventPattern=json.dumps(PATTERN))
    target = {
        "Id": "sfn",
        "Arn": machine,
        "RoleArn": role,
        "DeadLetterConfig": {"Arn": dlq_arn},
        "RetryPolicy": {"MaximumRetryAttempts": 20, "MaximumEventAgeInSeconds": 3600},
    }
    aws("events").put_targets(Rule="on-restore", Targets=[target])
    (stored,) = aws("events").list_targets_by_rule(Rule="on-restore")["Targets"]
    assert stored["DeadLetterConfig"] == {"Arn": dlq_arn}
    assert stored["RetryPolicy"] == {"MaximumRetryAttempts": 20, "MaximumEventAgeInSeconds": 3600}


@pytest.mark.parametrize(
    "retry",
    [{"MaximumRetryAttempts": 186}, {"MaximumRetryAttempts": -1}, {"MaximumEventAgeInSeconds": 59}, {"MaximumEventAgeInSeconds": 86401}],
)
def test_put_targets_refuses_a_retry_policy_out_of_range(aws, endpoint, retry):
    """RetryPolicy: MaximumRetryAttempts 0..185, MaximumEventAgeInSeconds 60..86,400 ("RetryPolicy",
    Amazon EventBridge API Reference, https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_RetryPolicy.html;
    botocore's model gives the same bounds). Out of range is a ValidationException ("Common Errors",
    https://docs.aws.amazon.com/eventbridge/latest/APIReference/CommonErrors.html)."""
    machine, role = _noop_machine(aws)
    aws("events").put_rule(Name="on-restore", EventPattern=json.dumps(PATTERN))
    # botocore checks minimums itself; the service must refuse what another client would send
    unchecked = boto3.client("events", endpoint_url=endpoint, region_name="us-east-1", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as err:
        unchecked.put_targets(Rule="on-restore", Targets=[{"Id": "sfn", "Arn": machine, "RoleArn": role, "RetryPolicy": retry}])
    assert (err.value.response["Error"]["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("ValidationException", 400)
    assert aws("events").list_targets_by_rule(Rule="on-restore")["Targets"] == []


def test_put_rule_refuses_a_description_over_512_characters(aws):
    """PutRule ``Description``: at most 512 characters ("PutRule", Amazon EventBridge API Reference,
    https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html)."""
    events = aws("events")
    events.put_rule(Name="fits", EventPattern=json.dumps(PATTERN), Description="d" * 512)
    with pytest.raises(ClientError) as err:
        events.put_rule(Name="too-long", EventPattern=json.dumps(PATTERN), Description="d" * 513)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert [r["Name"] for r in events.list_rules()["Rules"]] == ["fits"]


def _dead_letters(aws, url) -> list[dict]:
    return aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])


def test_a_state_machine_that_cannot_be_started_sends_the_event_to_the_target_dlq(aws):
    """EventBridge sends an event it cannot deliver to the target's DLQ, at once for a target that
    no longer exists, with the attributes RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE, ...
    ("Event retry policy and using dead-letter queues", EventBridge User Guide,
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html)."""
    # GIVEN a rule whose Step Functions target has a DLQ its policy lets this rule send to
    _trail(aws)
    machine, role = _noop_machine(aws)
    rule_arn = aws("events").put_rule(Name="on-restore", EventPattern=json.dumps(PATTERN))["RuleArn"]
    url, dlq_arn = _dlq(aws, rule_arn=rule_arn)
    aws("events").put_targets(Rule="on-restore", Targets=[{"Id": "sfn", "Arn": machine, "RoleArn": role, "DeadLetterConfig": {"Arn": dlq_arn}}])
    # WHEN the state machine is gone and the restore's event arrives
    aws("stepfunctions").delete_state_machine(stateMachineArn=machine)
    _restore(aws)
    # THEN the event is in the DLQ, as EventBridge documents it
    (message,) = _dead_letters(aws, url)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["RULE_ARN"] == rule_arn
    assert attributes["TARGET_ARN"] == machine
    assert attributes["ERROR_CODE"] == "NO_RESOURCE"
    assert "StateMachineDoesNotExist" in attributes["ERROR_MESSAGE"]
    assert attributes["RETRY_ATTEMPTS"] == "0"
    event = json.loads(message["Body"])
    assert event["detail-type"] == "AWS API Call via CloudTrail"
    assert event["detail"]["requestParameters"]["targetTableName"] == "orders-restored"


@pytest.mark.parametrize("policy_rule", [None, "arn:aws:events:us-east-1:123456789012:rule/another-rule"])
def test_a_dlq_whose_policy_does_not_let_this_rule_send_gets_nothing(aws, policy_rule):
    """EventBridge needs the queue's resource policy to send ("Granting permissions to the dead-letter
    queue", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html#eb-dlq-perms)."""
    _trail(aws)
    machine, role = _noop_machine(aws)
    aws("events").put_rule(Name="on-restore", EventPattern=json.dumps(PATTERN))
    url, dlq_arn = _dlq(aws, rule_arn=policy_rule)
    aws("events").put_targets(Rule="on-restore", Targets=[{"Id": "sfn", "Arn": machine, "RoleArn": role, "DeadLetterConfig": {"Arn": dlq_arn}}])
    aws("stepfunctions").delete_state_machine(stateMachineArn=machine)
    _restore(aws)
    assert _dead_letters(aws, url) == []


def test_event_lost_fault_drops_the_restore_event(aws, endpoint):
    """CloudTrail delivers events to EventBridge on a best-effort basis ("Event delivery from AWS
    services", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-delivery-level.html)."""
    _trail(aws)
    url = _capture_queue(aws)
    machine, role = _noop_machine(aws)
    aws("events").put_targets(Rule="restores", Targets=[{"Id": "sfn", "Arn": machine, "RoleArn": role}])
    _faults(endpoint, {"enable": {"event-lost": {}}})

    _restore(aws)

    assert aws("dynamodb").describe_table(TableName="orders-restored")["Table"]["TableStatus"] == "CREATING"
    assert aws("sqs").receive_message(QueueUrl=url).get("Messages", []) == []
    assert aws("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []
    assert _faults(endpoint)["events"]["event-lost"] == {"restore events dropped": 1}
    # switched off, the next restore's event arrives again
    _faults(endpoint, {"disable": ["event-lost"]})
    queue_arn = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    any_target = {k: v for k, v in PATTERN.items() if k != "detail"} | {"detail": {"eventName": ["RestoreTableToPointInTime"]}}
    aws("events").put_rule(Name="any-restore", EventPattern=json.dumps(any_target))
    aws("events").put_targets(Rule="any-restore", Targets=[{"Id": "q", "Arn": queue_arn}])
    aws("dynamodb").restore_table_to_point_in_time(SourceTableName="orders", TargetTableName="orders-again", UseLatestRestorableTime=True)
    assert len(aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])) == 1


def _faults(endpoint, body=None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(endpoint + "/_sandbox/faults", data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())

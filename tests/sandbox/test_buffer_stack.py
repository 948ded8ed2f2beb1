"""The buffer stack on the sandbox, over HTTP: deploy, operate, tear down, refuse bad input."""

from __future__ import annotations

import ast
import dataclasses
import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from types import MappingProxyType

import pytest

from runbook_lib import buffer
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.errors import BufferError, InputError, PreconditionError
from runbook_lib.sandbox.traffic import create_demo_table

REGION = "us-east-1"
SOURCE, TARGET = "orders", "orders-restored"

COMMON_OUTPUTS = {
    "QueueUrl",
    "QueueArn",
    "DlqUrl",
    "DlqArn",
    "StreamFailureQueueUrl",
    "StreamFailureQueueArn",
    "ForwarderFunctionName",
    "ApplierFunctionName",
    "StreamMappingUuid",
    "QueueMappingUuid",
    "KeyDigestSecretArn",
}
EVENT_OUTPUTS = COMMON_OUTPUTS | {"StateMachineArn", "RuleName", "RuleDlqUrl", "RuleDlqArn"}


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(region=REGION, endpoint_url=endpoint)


@pytest.fixture
def source(aws) -> dict:
    return create_demo_table(aws("dynamodb"), SOURCE)


def _policy(document) -> dict:
    """A role policy document as GetRolePolicy gives it: JSON (URL-encoded on the wire), or, for a
    role moto's CloudFormation created, the Python repr of the template's map."""
    if isinstance(document, dict):
        return document
    text = urllib.parse.unquote(document)
    try:
        return json.loads(text)
    except ValueError:
        return ast.literal_eval(text)


def _deploy(target, automation="notebook", **kwargs) -> buffer.BufferStack:
    p = buffer.plan(target, source_table=SOURCE, target_table=TARGET, automation=automation, **kwargs)
    return buffer.deploy(target, p)


def _nothing_created(aws):
    assert aws("cloudformation").describe_stacks()["Stacks"] == []
    for bucket in aws("s3").list_buckets()["Buckets"]:
        assert aws("s3").list_objects_v2(Bucket=bucket["Name"]).get("KeyCount", 0) == 0
    assert aws("lambda").list_functions()["Functions"] == []
    assert aws("sqs").list_queues().get("QueueUrls", []) == []


@pytest.fixture(scope="module")
def plain_moto():
    """moto's own server in a process of its own: none of the sandbox's (process-wide) extensions."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).read()  # noqa: S310 - loopback
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ------------------------------------------------------------------------------------ deploy
def test_stack_generates_a_key_digest_secret_that_only_its_functions_read_and_nothing_shows(target, source, aws, tmp_path):
    # GIVEN a deployed buffer
    stack = _deploy(target)
    arn = stack.key_digest_secret_arn
    assert arn.startswith(f"arn:aws:secretsmanager:{REGION}:") and f":secret:{stack.stack_name}-key-digest" in arn

    # THEN the stack generated a secret of 64 letters and digits, one a stack (not a constant)
    value = aws("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    assert len(value) == 64 and value.isalnum()
    # and both functions get its ARN, never its value, and may read that one secret only
    lam, iam = aws("lambda"), aws("iam")
    for fn in (stack.forwarder_function_name, stack.applier_function_name):
        config = lam.get_function_configuration(FunctionName=fn)
        variables = config["Environment"]["Variables"]
        assert variables["KEY_DIGEST_SECRET_ARN"] == arn
        assert not any(value in str(v) for v in variables.values())
        role = config["Role"].rsplit("/", 1)[-1]
        documents = [iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
                     for name in iam.list_role_policies(RoleName=role)["PolicyNames"]]
        secret_statements = [
            statement
            for document in documents
            for statement in _policy(document)["Statement"]
            if "secretsmanager" in json.dumps(statement.get("Action"))
        ]
        assert [(s["Effect"], s["Action"], s["Resource"]) for s in secret_statements] == [
            ("Allow", "secretsmanager:GetSecretValue", arn)]
    # and no output, parameter, nor what the runbook keeps in state.json holds the value
    assert not any(value in str(v) for v in stack.outputs.values())
    assert not any(value in str(v) for v in stack.parameters.values())
    assert value not in json.dumps(stack.to_dict())


@pytest.mark.parametrize("automation", ["notebook", "event"])
def test_plain_moto_creates_the_stack_with_every_output(plain_moto, automation):
    target = AwsTarget(region=REGION, endpoint_url=plain_moto)
    source = f"plain-{automation}"
    create_demo_table(target.client("dynamodb"), source, pitr=False)
    p = buffer.plan(target, source_table=source, target_table=f"{source}-restored", automation=automation)
    stack = buffer.deploy(target, p)
    assert stack.status == "CREATE_COMPLETE"
    # moto's CloudFormation skips AWS::SecretsManager::Secret (no secret, so no KeyDigestSecretArn
    # output): the sandbox adds the model (runbook_lib/sandbox/secrets.py)
    expected = EVENT_OUTPUTS if automation == "event" else COMMON_OUTPUTS
    assert set(stack.outputs) == expected - {"KeyDigestSecretArn"}
    assert target.client("secretsmanager").list_secrets()["SecretList"] == []
    assert buffer.teardown(target, stack, execute=True).clean


@pytest.mark.parametrize("automation", ["notebook", "event"])
def test_deploy_reaches_create_complete_with_every_output(target, source, aws, automation):
    # GIVEN a source table with a stream WHEN the buffer is deployed
    stack = _deploy(target, automation)

    # THEN the stack is complete, with every output of its mode
    assert stack.status == "CREATE_COMPLETE"
    assert set(stack.outputs) == (EVENT_OUTPUTS if automation == "event" else COMMON_OUTPUTS)
    assert stack.automation == automation
    assert buffer.describe(target, stack.stack_name) == stack
    # and capture runs from the source stream, replay waits
    lam = aws("lambda")
    stream_mapping = lam.get_event_source_mapping(UUID=stack.stream_mapping_uuid)
    assert stream_mapping["EventSourceArn"] == source["LatestStreamArn"]
    assert stream_mapping["State"] == "Enabled"
    assert stream_mapping["BisectBatchOnFunctionError"] is True
    assert stream_mapping["DestinationConfig"]["OnFailure"]["Destination"].endswith("-stream-failures")
    queue_mapping = lam.get_event_source_mapping(UUID=stack.queue_mapping_uuid)
    assert queue_mapping["State"] == "Disabled"
    assert queue_mapping["BatchSize"] <= 10
    assert queue_mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # and the functions run exactly the zip that was built
    for fn in (stack.forwarder_function_name, stack.applier_function_name):
        config = lam.get_function_configuration(FunctionName=fn)
        assert config["CodeSha256"] == buffer.code_sha256(buffer.build_zip())
        assert config["Runtime"] == "python3.12"
    attrs = aws("sqs").get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true"
    assert json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"] == stack.dlq_arn
    assert stack.dlq_arn.endswith(".fifo")
    # replay keeps no table of its own: only the source and the restored table exist
    assert sorted(aws("dynamodb").list_tables()["TableNames"]) == [SOURCE]


def test_event_mode_rule_names_this_source_and_target(target, source, aws):
    stack = _deploy(target, "event")
    rule = aws("events").describe_rule(Name=stack.rule_name)
    pattern = json.loads(rule["EventPattern"])
    assert pattern["detail"]["errorCode"] == [{"exists": False}]
    assert pattern["detail"]["requestParameters"]["targetTableName"] == [TARGET]
    assert {"sourceTableName": [SOURCE]} in pattern["detail"]["requestParameters"]["$or"]
    (rule_target,) = aws("events").list_targets_by_rule(Rule=stack.rule_name)["Targets"]
    assert rule_target["Arn"] == stack.state_machine_arn
    # and what EventBridge cannot deliver to the workflow goes to a standard queue of its own
    assert rule_target["DeadLetterConfig"] == {"Arn": stack.rule_dlq_arn}
    assert rule_target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 20}
    attrs = aws("sqs").get_queue_attributes(QueueUrl=stack.rule_dlq_url, AttributeNames=["All"])["Attributes"]
    assert attrs["QueueArn"] == stack.rule_dlq_arn and "FifoQueue" not in attrs
    (statement,) = json.loads(attrs["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == stack.rule_dlq_arn
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": rule["Arn"]}}


def test_a_restore_event_the_workflow_cannot_take_lands_in_the_rule_dlq(target, aws):
    """A target that no longer exists sends the event straight to the target's DLQ ("Event retry
    policy and using dead-letter queues", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html)."""
    # GIVEN the buffer in event mode whose workflow is gone (deleted by hand, say)
    aws("s3").create_bucket(Bucket="trail-bucket")
    aws("cloudtrail").create_trail(Name="management", S3BucketName="trail-bucket", IsMultiRegionTrail=True)
    aws("cloudtrail").start_logging(Name="management")
    create_demo_table(aws("dynamodb"), SOURCE)
    stack = _deploy(target, "event")
    aws("stepfunctions").delete_state_machine(stateMachineArn=stack.state_machine_arn)
    # WHEN the source is restored into the target
    aws("dynamodb").restore_table_to_point_in_time(SourceTableName=SOURCE, TargetTableName=TARGET, UseLatestRestorableTime=True)
    # THEN the stack's policy let the rule put the event in its DLQ, with EventBridge's attributes
    messages = aws("sqs").receive_message(QueueUrl=stack.rule_dlq_url, MessageAttributeNames=["All"])["Messages"]
    attributes = {k: v["StringValue"] for k, v in messages[0]["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "NO_RESOURCE" and attributes["TARGET_ARN"] == stack.state_machine_arn
    assert attributes["RULE_ARN"].endswith(f":rule/{stack.rule_name}")
    assert json.loads(messages[0]["Body"])["detail"]["requestParameters"]["targetTableName"] == TARGET


def test_event_mode_deploys_for_table_names_of_255_characters(target, aws):
    """Table names hold up to 255 characters ("Naming rules", DynamoDB Developer Guide,
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html);
    the rule's Description at most 512 (PutRule), which the sandbox enforces as AWS does."""
    source, restored = "s" * 255, "t" * 255
    create_demo_table(aws("dynamodb"), source)
    stack = buffer.deploy(target, buffer.plan(target, source_table=source, target_table=restored, automation="event"))
    rule = aws("events").describe_rule(Name=stack.rule_name)
    assert len(rule["Description"]) <= 512
    assert json.loads(rule["EventPattern"])["detail"]["requestParameters"]["targetTableName"] == [restored]
    assert buffer.teardown(target, stack, execute=True).clean


def test_plan_changes_nothing_and_names_what_deploy_creates(target, source, aws):
    p = buffer.plan(target, source_table=SOURCE, target_table=TARGET, automation="event")
    assert p.action == "create" and p.stack_name == buffer.stack_name_for(SOURCE, TARGET)
    assert p.source_stream_arn == source["LatestStreamArn"]
    types = {r.type for r in p.resources}
    assert {"AWS::Events::Rule", "AWS::StepFunctions::StateMachine", "AWS::SQS::Queue"} <= types
    assert f"{p.stack_name}.fifo" in {r.name for r in p.resources}
    _nothing_created(aws)


def test_deploy_with_the_stack_in_place_updates_it(target, source, aws):
    stack = _deploy(target)
    buffer.enable_replay(target, stack)
    # WHEN the buffer is deployed again with a changed queue mapping
    again = _deploy(target, replay_from="2026-01-01T00:00:00Z", parameters={"ApplierBatchSize": 5})
    # THEN it is the same stack, updated, and replay that was on is still on
    assert again.stack_id == stack.stack_id and again.status == "UPDATE_COMPLETE"
    assert again.outputs == stack.outputs
    mapping = aws("lambda").get_event_source_mapping(UUID=stack.queue_mapping_uuid)
    assert mapping["BatchSize"] == 5 and mapping["State"] == "Enabled"
    env = aws("lambda").get_function_configuration(FunctionName=stack.applier_function_name)["Environment"]
    assert env["Variables"]["REPLAY_FROM"] == "2026-01-01T00:00:00+00:00"


# ------------------------------------------------------------------------------------ operate
def test_enable_and_disable_replay(target, source, aws):
    stack = _deploy(target)
    messages: list[str] = []
    assert buffer.enable_replay(target, stack, progress=messages.append) == "Enabled"
    assert aws("lambda").get_event_source_mapping(UUID=stack.queue_mapping_uuid)["State"] == "Enabled"
    assert buffer.status(target, stack).replay_enabled
    assert buffer.enable_replay(target, stack) == "Enabled"  # already on: no change
    assert buffer.disable_replay(target, stack) == "Disabled"
    assert aws("lambda").get_event_source_mapping(UUID=stack.queue_mapping_uuid)["State"] == "Disabled"
    assert any("replay on" in m for m in messages)


def test_set_replay_start_changes_only_replay_from(target, source, aws):
    stack = _deploy(target)
    lam = aws("lambda")
    before = lam.get_function_configuration(FunctionName=stack.applier_function_name)["Environment"]["Variables"]

    value = buffer.set_replay_start(target, stack, datetime(2026, 11, 28, 5, 0, tzinfo=timezone.utc))

    config = lam.get_function_configuration(FunctionName=stack.applier_function_name)
    after = config["Environment"]["Variables"]
    assert value == after["REPLAY_FROM"] == "2026-11-28T05:00:00+00:00"
    assert {k: v for k, v in after.items() if k != "REPLAY_FROM"} == {
        k: v for k, v in before.items() if k != "REPLAY_FROM"
    }
    assert config["LastUpdateStatus"] == "Successful"
    assert buffer.set_replay_start(target, stack, None) == ""
    assert lam.get_function_configuration(FunctionName=stack.applier_function_name)["Environment"]["Variables"][
        "REPLAY_FROM"
    ] == ""
    with pytest.raises(InputError):
        buffer.set_replay_start(target, stack, "yesterday")


def test_status_reports_depth_in_flight_and_dlq_depth(target, source, aws):
    stack = _deploy(target)
    sqs = aws("sqs")
    # GIVEN three messages in the buffer and two in its DLQ (replay off)
    for i in range(3):
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody="{}", MessageGroupId=f"g{i}", MessageDeduplicationId=f"d{i}")
    for i in range(2):
        sqs.send_message(QueueUrl=stack.dlq_url, MessageBody="{}", MessageGroupId=f"g{i}", MessageDeduplicationId=f"x{i}")

    s = buffer.status(target, stack)
    assert (s.depth, s.in_flight, s.delayed, s.dlq_depth, s.stream_failures) == (3, 0, 0, 2, 0)
    assert not s.drained and not s.replay_enabled
    assert s.queue_mapping_state == "Disabled" and s.stream_mapping_state == "Enabled"
    assert s.oldest_age_seconds is None  # the sandbox has no SQS metrics
    assert s.to_dict()["depth"] == 3

    # WHEN one message is being processed THEN it counts as in flight
    sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=1, VisibilityTimeout=60)
    s = buffer.status(target, stack)
    assert (s.depth, s.in_flight) == (2, 1)

    sqs.purge_queue(QueueUrl=stack.queue_url)
    assert buffer.status(target, stack).drained


# ------------------------------------------------------------------------------------ teardown
def _assert_nothing_left(aws, stack: buffer.BufferStack, source: dict):
    lam = aws("lambda")
    assert aws("cloudformation").describe_stacks()["Stacks"] == [] or all(
        s["StackStatus"] == "DELETE_COMPLETE" for s in aws("cloudformation").describe_stacks()["Stacks"]
    )
    assert lam.list_functions()["Functions"] == []
    assert lam.list_event_source_mappings(EventSourceArn=source["LatestStreamArn"])["EventSourceMappings"] == []
    assert lam.list_event_source_mappings()["EventSourceMappings"] == []
    assert aws("sqs").list_queues().get("QueueUrls", []) == []
    assert aws("dynamodb").list_tables()["TableNames"] == [SOURCE]
    assert aws("events").list_rules()["Rules"] == []
    assert aws("s3").list_objects_v2(Bucket=stack.code_bucket).get("KeyCount", 0) == 0
    assert aws("secretsmanager").list_secrets()["SecretList"] == []


@pytest.mark.parametrize("automation", ["notebook", "event"])
def test_teardown_leaves_nothing_and_a_second_teardown_is_a_noop(target, source, aws, automation):
    stack = _deploy(target, automation)
    buffer.enable_replay(target, stack)

    # a dry run lists what goes, and changes nothing
    dry = buffer.teardown(target, stack)
    assert not dry.executed and dry.stack_found
    assert any(r.startswith("AWS::Lambda::EventSourceMapping") for r in dry.resources)
    assert any(r.startswith("AWS::S3::Object") for r in dry.resources)
    assert buffer.describe(target, stack.stack_name) is not None

    report = buffer.teardown(target, stack, execute=True)
    assert report.clean and report.stack_found
    _assert_nothing_left(aws, stack, source)
    assert buffer.describe(target, stack.stack_name) is None

    again = buffer.teardown(target, stack, execute=True)
    assert again.clean and not again.stack_found
    by_name = buffer.teardown(target, stack.stack_name, execute=True)
    assert by_name.clean and not by_name.stack_found


def test_teardown_reports_the_messages_it_discards(target, source, aws):
    stack = _deploy(target)
    sqs = aws("sqs")
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody="{}", MessageGroupId="g", MessageDeduplicationId="d")
    sqs.send_message(QueueUrl=stack.dlq_url, MessageBody="{}", MessageGroupId="g", MessageDeduplicationId="d")
    messages: list[str] = []
    report = buffer.teardown(target, stack, execute=True, progress=messages.append)
    assert (report.discarded_messages, report.discarded_dlq_messages) == (1, 1)
    assert any("discarding 1 buffered message(s) and 1 in the DLQ" in m for m in messages)


def test_teardown_names_a_mapping_that_outlives_the_stack(target, source, aws):
    # GIVEN a mapping made outside the stack on the buffer's queue, as the sample's survived
    stack = _deploy(target)
    stray = aws("lambda").create_event_source_mapping(
        EventSourceArn=stack.queue_arn, FunctionName=stack.applier_function_name, BatchSize=10, Enabled=False
    )["UUID"]

    # WHEN the buffer is torn down THEN the teardown fails and names it
    with pytest.raises(BufferError) as err:
        buffer.teardown(target, stack, execute=True)
    assert stray in str(err.value) and "left 1 resource" in str(err.value)

    # and once it is gone, the teardown verifies clean
    aws("lambda").delete_event_source_mapping(UUID=stray)
    assert buffer.teardown(target, stack, execute=True).clean


def test_teardown_names_a_rule_dlq_that_outlives_the_stack(target, source, aws):
    # GIVEN an event-mode buffer whose rule DLQ is still there after the stack is deleted
    stack = _deploy(target, "event")
    rule_dlq_name = stack.rule_dlq_url.rsplit("/", 1)[-1]
    aws("cloudformation").delete_stack(StackName=stack.stack_id)
    aws("sqs").create_queue(QueueName=rule_dlq_name)
    # WHEN the teardown runs THEN it fails and names the queue
    with pytest.raises(BufferError) as err:
        buffer.teardown(target, stack, execute=True)
    assert f"AWS::SQS::Queue {rule_dlq_name}" in str(err.value)
    aws("sqs").delete_queue(QueueUrl=aws("sqs").get_queue_url(QueueName=rule_dlq_name)["QueueUrl"])
    assert buffer.teardown(target, stack, execute=True).clean


def test_a_stack_that_cannot_be_created_raises_buffer_error_with_the_cause(target, source, aws):
    # GIVEN a plan whose stream does not exist (plan itself refuses this; forced here)
    p = buffer.plan(target, source_table=SOURCE, target_table=TARGET)
    missing = p.source_stream_arn.rsplit("/", 1)[0] + "/2000-01-01T00:00:00.000"
    bad = dataclasses.replace(p, parameters=MappingProxyType({**p.parameters, "SourceStreamArn": missing}))
    # WHEN it is deployed THEN the error names the resource's failure and the remedy
    with pytest.raises(BufferError) as err:
        buffer.deploy(target, bad)
    assert "Invalid EventSourceArn" in str(err.value) and "deploy again" in str(err.value)


# ------------------------------------------------------------------------------------ bad input
def test_missing_source_table_raises_before_anything_is_created(target, aws):
    with pytest.raises(PreconditionError) as err:
        buffer.plan(target, source_table="nope", target_table=TARGET)
    assert "does not exist" in str(err.value) and err.value.code == "ResourceNotFoundException"
    _nothing_created(aws)


def test_source_without_stream_raises_before_anything_is_created(target, aws):
    create_demo_table(aws("dynamodb"), SOURCE, stream=None)
    with pytest.raises(PreconditionError) as err:
        buffer.plan(target, source_table=SOURCE, target_table=TARGET)
    assert "StreamEnabled" in str(err.value)
    _nothing_created(aws)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"automation": "cron"},
        {"starting_position": "AT_TIMESTAMP"},
        {"target_table": SOURCE},
        {"target_table": "x"},
        {"replay_from": "not a time"},
        {"max_message_bytes": 10},
        {"parameters": {"ApplierBatchSize": 11}},
        {"parameters": {"QueueVisibilityTimeout": 30, "ApplierTimeoutSeconds": 60}},
        {"parameters": {"NoSuchParameter": 1}},
        {"stack_name": "x" * 51},
    ],
)
def test_bad_input_raises_input_error_before_any_call(target, source, aws, kwargs):
    args = {"source_table": SOURCE, "target_table": TARGET, **kwargs}
    with pytest.raises(InputError):
        buffer.plan(target, **args)
    _nothing_created(aws)


# ------------------------------------------------------------------------- Automation=event
def test_successful_restore_enables_replay_through_the_workflow(target, aws):
    # GIVEN a logging trail, a source with PITR and the buffer in event mode
    aws("s3").create_bucket(Bucket="trail-bucket")
    aws("cloudtrail").create_trail(Name="management", S3BucketName="trail-bucket", IsMultiRegionTrail=True)
    aws("cloudtrail").start_logging(Name="management")
    create_demo_table(aws("dynamodb"), SOURCE)
    stack = _deploy(target, "event", parameters={"RestorePollSeconds": 1})
    # WHEN the source is restored into the target
    aws("dynamodb").restore_table_to_point_in_time(
        SourceTableName=SOURCE, TargetTableName=TARGET, UseLatestRestorableTime=True
    )
    # THEN the workflow waits for ACTIVE and turns replay on
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if buffer.status(target, stack).queue_mapping_state == "Enabled":
            break
        time.sleep(0.5)
    executions = aws("stepfunctions").list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    assert [e["status"] for e in executions] == ["SUCCEEDED"]
    assert buffer.status(target, stack).queue_mapping_state == "Enabled"


# ------------------------------------------- the enable-replay definition on moto's interpreter
# Created through the API (not CloudFormation) from infra/enable_replay.asl.json,
# so that the definition the stack deploys is what runs.
def _workflow(aws, stack, *, timeout_seconds=60, poll_seconds=1) -> str:
    definition = buffer.render_state_machine_definition(
        target_table=TARGET,
        queue_mapping_uuid=stack.queue_mapping_uuid,
        restore_timeout_seconds=timeout_seconds,
        restore_poll_seconds=poll_seconds,
    )
    return aws("stepfunctions").create_state_machine(
        name="enable-replay-under-test",
        definition=definition,
        roleArn="arn:aws:iam::123456789012:role/enable-replay",
    )["stateMachineArn"]


def _run(aws, arn: str, *, timeout: float = 30.0) -> dict:
    sfn = aws("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"detail": {}}))["executionArn"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.2)
    raise AssertionError(f"execution still running after {timeout} s")


def _restore(aws):
    aws("dynamodb").restore_table_to_point_in_time(
        SourceTableName=SOURCE, TargetTableName=TARGET, UseLatestRestorableTime=True
    )


def test_workflow_waits_for_the_restore_then_enables_replay(target, source, aws, sandbox):
    sandbox.settings.restore_seconds = 2.0
    stack = _deploy(target)
    arn = _workflow(aws, stack)
    _restore(aws)
    assert aws("dynamodb").describe_table(TableName=TARGET)["Table"]["TableStatus"] == "CREATING"

    result = _run(aws, arn)

    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert output["mapping"] == {"uuid": stack.queue_mapping_uuid, "state": output["mapping"]["state"]}
    assert output["left"] < 60  # it polled at least once while CREATING, and counted the wait
    assert buffer.status(target, stack).queue_mapping_state == "Enabled"


def test_workflow_fails_when_the_restore_outlasts_its_timeout(target, source, aws, sandbox):
    sandbox.settings.restore_seconds = 60.0
    stack = _deploy(target)
    arn = _workflow(aws, stack, timeout_seconds=2, poll_seconds=1)
    _restore(aws)

    result = _run(aws, arn)

    assert (result["status"], result.get("error")) == ("FAILED", "RestoreTimedOut")
    assert TARGET in result["cause"]
    assert buffer.status(target, stack).queue_mapping_state == "Disabled"


def test_workflow_fails_when_the_target_table_is_missing(target, source, aws):
    stack = _deploy(target)
    arn = _workflow(aws, stack)

    result = _run(aws, arn)

    assert (result["status"], result.get("error")) == ("FAILED", "DescribeTableFailed")
    assert buffer.status(target, stack).queue_mapping_state == "Disabled"


def test_applier_concurrency_is_capped_by_default_and_the_plan_says_so(target, source, aws):
    # GIVEN the template's defaults: the plan shows the cap, without a warning
    p = buffer.plan(target, source_table=SOURCE, target_table=TARGET)
    assert p.applier_max_concurrency == 10
    assert not any("ApplierMaximumConcurrency" in w for w in p.warnings)
    # an uncapped plan is allowed, with a warning
    uncapped = buffer.plan(target, source_table=SOURCE, target_table=TARGET, applier_max_concurrency=0)
    assert uncapped.applier_max_concurrency is None
    assert any("uncapped" in w for w in uncapped.warnings)
    # WHEN deployed with a chosen cap, THEN the queue mapping carries it
    stack = buffer.deploy(target, buffer.plan(target, source_table=SOURCE, target_table=TARGET, applier_max_concurrency=25))
    mapping = aws("lambda").get_event_source_mapping(UUID=stack.queue_mapping_uuid)
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 25}


def test_plan_records_the_max_message_size_it_deploys_and_warns_when_preflight_checked_another(target, source, aws):
    # GIVEN the template's default: recorded, and no warning when step 00 checked that value
    p = buffer.plan(target, source_table=SOURCE, target_table=TARGET, preflight_max_message_bytes=262_144)
    assert p.max_message_bytes == 262_144 == int(p.parameters["MaximumMessageSize"])
    assert not any("MaximumMessageSize" in w for w in p.warnings)
    # WHEN step 01 deploys another value (a template parameter) than step 00 checked
    p = buffer.plan(target, source_table=SOURCE, target_table=TARGET, parameters={"MaximumMessageSize": "1048576"},
                    preflight_max_message_bytes=262_144)
    # THEN the plan records what it deploys and says that preflight checked something else
    assert p.max_message_bytes == 1_048_576
    (size_warning,) = [w for w in p.warnings if "MaximumMessageSize" in w]
    assert "MaximumMessageSize 1048576 is deployed" in size_warning and "against 262144" in size_warning
    _nothing_created(aws)

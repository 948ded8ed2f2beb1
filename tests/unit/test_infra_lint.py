"""The CloudFormation in ``infra/``: cfn-lint clean, and none of the sample's defects back.

DESIGN.md section 3 lists what the sample got wrong; each structural test below fails if one of
those defects returns. ``infra/enable_replay.asl.json`` is the one source of the Step Functions
definition; ``buffer.yaml`` inlines it verbatim (a ``Fn::Sub`` string). Regenerate the inlined copy
with ``UPDATE_GOLDEN=1 pytest tests/unit/test_infra_lint.py``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint_file

from runbook_lib import buffer
from runbook_lib.buffer.names import resource_names
from runbook_lib.buffer.template import substitute
from runbook_lib.errors import InputError

INFRA = Path(__file__).resolve().parents[2] / "infra"
TEMPLATES = sorted(p for p in INFRA.iterdir() if p.suffix in (".yaml", ".yml"))
ASL = INFRA / "enable_replay.asl.json"

# IAM actions that support no resource-level permission, and so may use Resource "*".
# None is needed today: every statement names its exact ARN.
STAR_ALLOWED_ACTIONS: frozenset[str] = frozenset()

SUB_SAMPLE = {
    "TargetTableName": "orders-restored",
    "QueueMappingUuid": "a1b2c3d4-0000-0000-0000-000000000000",
    "RestoreTimeoutSeconds": "3600",
    "RestorePollSeconds": "30",
    "RestorePollMaxSeconds": "300",
}


@pytest.fixture(scope="module")
def template() -> dict:
    return buffer.load_template()


@pytest.fixture(scope="module")
def resources(template) -> dict:
    return template["Resources"]


def _of_type(resources: dict, type_: str) -> dict:
    return {k: v for k, v in resources.items() if v["Type"] == type_}


def _asl_text() -> str:
    return ASL.read_text()


def _render_asl(region: str = "us-east-1") -> dict:
    """The definition as Fn::Sub would render it, with sample values."""
    return json.loads(
        buffer.render_state_machine_definition(
            target_table=SUB_SAMPLE["TargetTableName"],
            queue_mapping_uuid=SUB_SAMPLE["QueueMappingUuid"],
            restore_timeout_seconds=int(SUB_SAMPLE["RestoreTimeoutSeconds"]),
            restore_poll_seconds=int(SUB_SAMPLE["RestorePollSeconds"]),
            restore_poll_max_seconds=int(SUB_SAMPLE["RestorePollMaxSeconds"]),
            region=region,
        )
    )


# ------------------------------------------------------------------------------------ lint
def test_infra_holds_templates():
    assert [p.name for p in TEMPLATES] == ["buffer.yaml", "cfn-service-role.yaml", "drill-schedule.yaml"]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint_passes(path):
    # one region of each commercial, China and GovCloud partition
    matches = lint_file(path, config=ManualArgs(regions=["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"]))
    assert [str(m) for m in matches] == []


@pytest.mark.parametrize("path", [*TEMPLATES, ASL], ids=lambda p: p.name)
def test_no_arn_names_a_partition_literally(path):
    """Every ARN takes ``${AWS::Partition}``: ``arn:aws:`` is wrong in aws-cn, aws-us-gov, aws-iso..."""
    text = path.read_text()
    assert re.findall(r"arn:aws(?:-[a-z-]+)?:", text) == []
    assert "arn:${AWS::Partition}:states:::aws-sdk:" in (INFRA / "buffer.yaml").read_text()


@pytest.mark.parametrize(
    ("region", "partition"),
    [("us-east-1", "aws"), ("cn-northwest-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), ("us-iso-east-1", "aws-iso")],
)
def test_state_machine_tasks_use_the_partition_of_the_region(region, partition):
    tasks = [v for v in _render_asl(region)["States"].values() if v["Type"] == "Task"]
    assert tasks and all(t["Resource"].startswith(f"arn:{partition}:states:::aws-sdk:") for t in tasks)


# ------------------------------------------------------- one source for the state machine
def test_state_machine_definition_is_inlined_from_the_asl_file():
    inlined = buffer.inline_state_machine_definition(_asl_text())
    current = (INFRA / "buffer.yaml").read_text()
    if inlined != current and os.environ.get("UPDATE_GOLDEN") == "1":
        (INFRA / "buffer.yaml").write_text(inlined)
        current = inlined
    assert current == inlined, (
        "infra/buffer.yaml does not carry infra/enable_replay.asl.json verbatim: "
        "run UPDATE_GOLDEN=1 pytest tests/unit/test_infra_lint.py"
    )


def test_template_definition_equals_the_asl_file(resources):
    sub = resources["EnableReplayStateMachine"]["Properties"]["DefinitionString"]["Fn::Sub"]
    assert sub[0].strip() == _asl_text().strip()
    assert sub[1] == {"QueueMappingUuid": {"Ref": "QueueMapping"}}


def test_asl_placeholders_are_all_resolvable(template):
    names = set(re.findall(r"\$\{([A-Za-z0-9_:]+)\}", _asl_text()))
    assert names <= set(template["Parameters"]) | {"QueueMappingUuid", "AWS::Partition"}
    assert names == set(SUB_SAMPLE) | {"AWS::Partition"}


# ------------------------------------------------------------------------- the buffer queues
def test_queue_is_fifo_with_fifo_dlq(resources):
    queue = resources["Queue"]["Properties"]
    dlq = resources["DeadLetterQueue"]["Properties"]
    assert queue["FifoQueue"] is True
    assert queue["ContentBasedDeduplication"] is False
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert dlq["FifoQueue"] is True
    assert dlq["QueueName"]["Fn::Sub"].endswith(".fifo")
    assert queue["QueueName"]["Fn::Sub"].endswith(".fifo")


@pytest.mark.parametrize("name", ["Queue", "DeadLetterQueue", "StreamFailureQueue"])
def test_queues_are_encrypted_and_keep_14_days(resources, name):
    props = resources[name]["Properties"]
    assert props["SqsManagedSseEnabled"] is True
    assert props["MessageRetentionPeriod"] == 1209600


def test_the_stack_keeps_no_table_of_its_own(resources):
    # replay converges without a per-key watermark (runbook_lib/cdc/applier.py): no table to pay for
    assert _of_type(resources, "AWS::DynamoDB::Table") == {}


# ------------------------------------------------------------------------------- mappings
def test_queue_mapping_created_disabled_fifo_batch_no_window(template, resources):
    props = resources["QueueMapping"]["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert props["Enabled"] is False
    assert "MaximumBatchingWindowInSeconds" not in props
    batch = props["BatchSize"]
    if isinstance(batch, dict):
        param = template["Parameters"][batch["Ref"]]
        assert param["MaxValue"] <= 10 and param["Default"] <= 10
    else:
        assert batch <= 10


@pytest.mark.parametrize("name", ["StreamMapping", "QueueMapping"])
def test_both_mappings_report_batch_item_failures(resources, name):
    assert resources[name]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_stream_mapping_bounded_retries_bisect_and_on_failure_destination(template, resources):
    props = resources["StreamMapping"]["Properties"]
    params = template["Parameters"]
    retries = params[props["MaximumRetryAttempts"]["Ref"]]
    assert 0 <= retries["MinValue"] and retries["MaxValue"] <= 10000 and retries["Default"] <= 100
    age = params[props["MaximumRecordAgeInSeconds"]["Ref"]]
    assert age["MinValue"] >= 60 and age["MaxValue"] <= 604800  # never -1 (infinite)
    assert props["BisectBatchOnFunctionError"] is True
    dest = props["DestinationConfig"]["OnFailure"]["Destination"]
    assert dest == {"Fn::GetAtt": ["StreamFailureQueue", "Arn"]}
    # a stream mapping's on-failure destination cannot be a FIFO queue
    assert not resources["StreamFailureQueue"]["Properties"].get("FifoQueue", False)
    assert props["StartingPosition"] == {"Ref": "StreamStartingPosition"}
    assert props["EventSourceArn"] == {"Ref": "SourceStreamArn"}


def test_functions_run_python_312_from_s3(resources):
    fns = _of_type(resources, "AWS::Lambda::Function")
    assert set(fns) == {"ForwarderFunction", "ApplierFunction"}
    handlers = {k: v["Properties"]["Handler"] for k, v in fns.items()}
    assert handlers == {
        "ForwarderFunction": "runbook_lib.cdc.forwarder.handler",
        "ApplierFunction": "runbook_lib.cdc.applier.handler",
    }
    for fn in fns.values():
        assert fn["Properties"]["Runtime"] == "python3.12"
        assert fn["Properties"]["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}


def test_function_environments_match_the_handlers_contract(resources):
    fwd = resources["ForwarderFunction"]["Properties"]["Environment"]["Variables"]
    app = resources["ApplierFunction"]["Properties"]["Environment"]["Variables"]
    assert set(fwd) == {"QUEUE_URL", "MAX_MESSAGE_BYTES", "LOG_LEVEL", "KEY_DIGEST_SECRET_ARN"}
    assert set(app) == {"TARGET_TABLE", "TARGET_REGION", "SOURCE_TABLE", "REPLAY_FROM", "LOG_LEVEL", "KEY_DIGEST_SECRET_ARN"}
    # the target's region: the stack's own unless TargetRegion names another (cross-region restore)
    assert app["TARGET_REGION"] == _TARGET_REGION
    # the secret's ARN (Ref), never its value
    assert fwd["KEY_DIGEST_SECRET_ARN"] == app["KEY_DIGEST_SECRET_ARN"] == {"Ref": "KeyDigestSecret"}


def test_key_digest_secret_is_readable_only_by_the_two_functions_and_only_that_secret(resources):
    """GetSecretValue on the stack's secret, in the forwarder's and the applier's roles only; no
    other secretsmanager action anywhere; the secret is generated, never a parameter or an output
    value."""
    grants = {}
    for name, res in _of_type(resources, "AWS::IAM::Role").items():
        for policy in res["Properties"].get("Policies", []):
            for st in policy["PolicyDocument"]["Statement"]:
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                if any(a.startswith("secretsmanager:") for a in actions):
                    grants.setdefault(name, []).append((st["Effect"], actions, st["Resource"]))
    only = [("Allow", ["secretsmanager:GetSecretValue"], {"Ref": "KeyDigestSecret"})]
    assert grants == {"ForwarderRole": only, "ApplierRole": only}
    secret = resources["KeyDigestSecret"]["Properties"]
    assert "SecretString" not in secret and secret["GenerateSecretString"]["PasswordLength"] >= 32


def test_log_groups_have_retention_for_each_function(resources):
    groups = _of_type(resources, "AWS::Logs::LogGroup")
    names = {v["Properties"]["LogGroupName"]["Fn::Sub"] for v in groups.values()}
    assert names == {"/aws/lambda/${AWS::StackName}-forwarder", "/aws/lambda/${AWS::StackName}-applier"}
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


# ------------------------------------------------------------------------------------ IAM
def _statements(resources):
    for name, res in _of_type(resources, "AWS::IAM::Role").items():
        for policy in res["Properties"].get("Policies", []):
            for st in policy["PolicyDocument"]["Statement"]:
                yield name, st
    for name, res in _of_type(resources, "AWS::IAM::Policy").items():
        for st in res["Properties"]["PolicyDocument"]["Statement"]:
            yield name, st


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_no_iam_statement_on_star(resources):
    offenders = []
    for role, st in _statements(resources):
        for res in _as_list(st["Resource"]):
            if res == "*" and not set(_as_list(st["Action"])) <= STAR_ALLOWED_ACTIONS:
                offenders.append((role, st.get("Sid"), st["Action"]))
        for action in _as_list(st["Action"]):
            assert "*" not in action, (role, action)
    assert offenders == []
    assert not _of_type(resources, "AWS::IAM::ManagedPolicy")
    for res in _of_type(resources, "AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in res["Properties"]


def test_state_machine_role_only_describes_target_and_updates_the_mapping(resources):
    sts = [st for role, st in _statements(resources) if role == "StateMachineRole"]
    got = {tuple(_as_list(st["Action"])): st["Resource"] for st in sts}
    assert got == {
        ("dynamodb:DescribeTable",): {
            "Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TargetTableName}"
        },
        ("lambda:UpdateEventSourceMapping",): {
            "Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:event-source-mapping:${QueueMapping}"
        },
    }


def test_rule_role_only_starts_the_state_machine(resources):
    sts = [st for role, st in _statements(resources) if role == "RuleRole"]
    assert [(st["Action"], st["Resource"]) for st in sts] == [
        ("states:StartExecution", {"Ref": "EnableReplayStateMachine"})
    ]


def _grants(resources, role: str) -> dict[str, list]:
    """action -> the resources a role's statements grant it on."""
    out: dict[str, list] = {}
    for name, st in _statements(resources):
        if name == role:
            for action in _as_list(st["Action"]):
                out.setdefault(action, []).extend(_as_list(st["Resource"]))
    return out


#: the target table's region as the template computes it
_TARGET_REGION = {"Fn::If": ["TargetInStackRegion", {"Ref": "AWS::Region"}, {"Ref": "TargetRegion"}]}


def test_target_region_is_empty_by_default_and_a_region_name_otherwise(template):
    spec = template["Parameters"]["TargetRegion"]
    assert spec["Default"] == "" and template["Conditions"]["TargetInStackRegion"] == {
        "Fn::Equals": [{"Ref": "TargetRegion"}, ""]}
    from runbook_lib.buffer.parameters import check_parameter

    for good in ("", "eu-west-1", "us-gov-west-1", "cn-northwest-1"):
        check_parameter("TargetRegion", good, spec)
    with pytest.raises(InputError):
        check_parameter("TargetRegion", "arn:aws:eu-west-1", spec)


def _table_arn(param: str) -> dict:
    return {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${%s}" % param}


def test_forwarder_role_names_the_stream_and_its_queues(resources):
    grants = _grants(resources, "ForwarderRole")
    for action in ("dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream"):
        assert grants[action] == [{"Ref": "SourceStreamArn"}]
    assert grants["sqs:SendMessage"] == [
        {"Fn::GetAtt": ["Queue", "Arn"]},
        {"Fn::GetAtt": ["StreamFailureQueue", "Arn"]},
    ]
    assert not any(a.startswith("dynamodb:") and "Item" in a for a in grants)  # reads no table


def test_applier_role_reads_the_source_and_writes_the_target_only(resources):
    grants = _grants(resources, "ApplierRole")
    assert grants["sqs:ReceiveMessage"] == grants["sqs:DeleteMessage"] == [{"Fn::GetAtt": ["Queue", "Arn"]}]
    dynamodb = {a: res for a, res in grants.items() if a.startswith("dynamodb:")}
    # the handler's only calls: BatchWriteItem on the target, BatchGetItem (consistent) on the source
    # the target's exact ARN in its region (TargetRegion, else the stack's); the source in the stack's
    assert dynamodb == {
        "dynamodb:BatchWriteItem": [{"Fn::Sub": [
            "arn:${AWS::Partition}:dynamodb:${Region}:${AWS::AccountId}:table/${TargetTableName}",
            {"Region": _TARGET_REGION}]}],
        "dynamodb:BatchGetItem": [_table_arn("SourceTableName")],
    }
    assert "sqs:SendMessage" not in grants
    # the poller's actions and no others ("Using Lambda with Amazon SQS", execution role
    # permissions, https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html: ReceiveMessage,
    # DeleteMessage, GetQueueAttributes); the handler itself makes no SQS call
    assert {a for a in grants if a.startswith("sqs:")} == {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


# --------------------------------------------------------------------- Automation=event
def test_event_resources_exist_only_in_event_mode(template, resources):
    assert template["Conditions"]["EventAutomation"] == {"Fn::Equals": [{"Ref": "Automation"}, "event"]}
    for name in (
        "RestoreRule", "RuleRole", "StateMachineRole", "EnableReplayStateMachine",
        "RuleDeadLetterQueue", "RuleDeadLetterQueuePolicy",
    ):  # fmt: skip
        assert resources[name]["Condition"] == "EventAutomation"
    assert template["Parameters"]["Automation"]["AllowedValues"] == ["notebook", "event"]


def test_rule_matches_only_a_successful_restore_of_this_source_into_this_target(resources):
    pattern = resources["RestoreRule"]["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.dynamodb"]
    assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    detail = pattern["detail"]
    assert detail["eventSource"] == ["dynamodb.amazonaws.com"]
    assert detail["eventName"] == ["RestoreTableToPointInTime"]
    assert detail["errorCode"] == [{"exists": False}]
    params = detail["requestParameters"]
    assert params["targetTableName"] == [{"Ref": "TargetTableName"}]
    assert params["$or"] == [
        {"sourceTableName": [{"Ref": "SourceTableName"}]},
        {
            "sourceTableArn": [
                {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${SourceTableName}"}
            ]
        },
    ]
    (target,) = resources["RestoreRule"]["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": "EnableReplayStateMachine"}


def _values(source: str, target: str, stack: str, region: str = "us-east-1") -> dict:
    from runbook_lib.aws.partitions import partition

    return {
        "SourceTableName": source,
        "TargetTableName": target,
        "AWS::StackName": stack,
        "AWS::Region": region,
        "AWS::AccountId": "123456789012",
        "AWS::Partition": partition(region),
    }


def test_rule_description_stays_within_512_characters_for_any_table_names(resources):
    """PutRule's ``Description`` holds at most 512 characters (botocore: RuleDescription max 512).

    Table names hold up to 255 characters each, and CloudFormation stack names up to 128.
    """
    description = resources["RestoreRule"]["Properties"]["Description"]
    longest = substitute(description, _values("s" * 255, "t" * 255, "p" * 128))
    assert isinstance(longest, str) and len(longest) <= 512
    sample = substitute(description, _values("orders", "orders-restored", "pitr-orders"))
    assert "pitr-orders" in sample


def test_rule_target_dead_letters_to_a_standard_queue_only_this_rule_may_send_to(resources):
    """EventBridge DLQs are standard queues in the rule's region; EventBridge needs ``sqs:SendMessage``
    granted by the queue's policy, scoped with ``aws:SourceArn`` to the rule ("Event retry policy and
    using dead-letter queues", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html).
    """
    from runbook_lib.sandbox.events import queue_policy_allows_events

    (target,) = resources["RestoreRule"]["Properties"]["Targets"]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["RuleDeadLetterQueue", "Arn"]}}
    retry = target["RetryPolicy"]
    assert 0 <= retry["MaximumRetryAttempts"] <= 185 and 60 <= retry["MaximumEventAgeInSeconds"] <= 86400
    queue = resources["RuleDeadLetterQueue"]["Properties"]
    assert not queue.get("FifoQueue", False)
    assert queue["SqsManagedSseEnabled"] is True and queue["MessageRetentionPeriod"] == 1209600
    policy = resources["RuleDeadLetterQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "RuleDeadLetterQueue"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == {"Fn::GetAtt": ["RuleDeadLetterQueue", "Arn"]}
    assert resources["RestoreRule"]["DependsOn"] == "RuleDeadLetterQueuePolicy"
    # rendered: exactly this stack's rule may send, in any partition
    for region in ("us-east-1", "cn-north-1", "us-gov-west-1"):
        values = _values("orders", "orders-restored", "pitr-orders", region)
        part = values["AWS::Partition"]
        rendered = substitute(statement, values)
        document = {"Statement": [{**rendered, "Resource": f"arn:{part}:sqs:{region}:123456789012:pitr-orders-restore-dlq"}]}
        queue_arn = f"arn:{part}:sqs:{region}:123456789012:pitr-orders-restore-dlq"
        rule_arn = f"arn:{part}:events:{region}:123456789012:rule/pitr-orders-restore"
        assert queue_policy_allows_events(document, queue_arn, rule_arn)
        assert not queue_policy_allows_events(document, queue_arn, rule_arn.replace("pitr-orders", "other"))
    names = resource_names("pitr-orders")
    assert substitute(resources["RestoreRule"]["Properties"]["Name"], _values("a", "b", "pitr-orders")) == names["rule"]
    assert substitute(queue["QueueName"], _values("a", "b", "pitr-orders")) == names["rule_dlq"]


def test_rule_pattern_matches_the_restore_event_and_nothing_else():
    """The pattern, rendered, against CloudTrail events as EventBridge delivers them."""
    pattern = buffer.render_event_pattern(
        source_table="orders", target_table="orders-restored", region="us-east-1", account_id="123456789012"
    )

    def event(**params):
        return {
            "source": "aws.dynamodb",
            "detail-type": "AWS API Call via CloudTrail",
            "detail": {
                "eventSource": "dynamodb.amazonaws.com",
                "eventName": "RestoreTableToPointInTime",
                "requestParameters": params,
            },
        }

    ok_by_name = event(sourceTableName="orders", targetTableName="orders-restored", useLatestRestorableTime=True)
    ok_by_arn = event(
        sourceTableArn="arn:aws:dynamodb:us-east-1:123456789012:table/orders", targetTableName="orders-restored"
    )
    failed = event(sourceTableName="orders", targetTableName="orders-restored")
    failed["detail"]["errorCode"] = "TableAlreadyExistsException"
    other_source = event(sourceTableName="invoices", targetTableName="orders-restored")
    other_target = event(sourceTableName="orders", targetTableName="orders-copy")
    other_call = event(sourceTableName="orders", targetTableName="orders-restored")
    other_call["detail"]["eventName"] = "RestoreTableFromBackup"

    from moto.events.models import EventPattern

    matcher = EventPattern(json.dumps(pattern), pattern)
    assert matcher.matches_event(ok_by_name)
    assert matcher.matches_event(ok_by_arn)
    for ev in (failed, other_source, other_target, other_call):
        assert not matcher.matches_event(ev)


def test_state_machine_has_timeout_failure_branch_and_enables_by_uuid():
    asl = _render_asl()
    states = asl["States"]
    assert asl["TimeoutSeconds"] == int(SUB_SAMPLE["RestoreTimeoutSeconds"])
    fails = {k for k, v in states.items() if v["Type"] == "Fail"}
    assert {"RestoreFailed", "RestoreTimedOut"} <= fails
    for name in fails:
        assert states[name]["Error"] and states[name]["Cause"]
    describe = [v for v in states.values() if v.get("Resource") == "arn:aws:states:::aws-sdk:dynamodb:describeTable"]
    assert len(describe) == 1 and describe[0]["Parameters"] == {"TableName": "orders-restored"}
    assert describe[0]["Catch"][0]["Next"] in fails
    waits = [v for v in states.values() if v["Type"] == "Wait"]
    assert waits and all(w["SecondsPath"] == "$.wait" for w in waits)  # the wait grows per poll
    assert states["Start"]["Parameters"]["next"] == int(SUB_SAMPLE["RestorePollSeconds"])
    assert states["HoldWait"]["Parameters"]["wait"] == int(SUB_SAMPLE["RestorePollMaxSeconds"])
    choice = states["IsRestoreDone"]
    targets = {c["Next"] for c in choice["Choices"]} | {choice["Default"]}
    assert {"RestoreFailed", "EnableReplay", "RestoreTimedOut", "GrowWait", "HoldWait"} <= targets
    enable = states["EnableReplay"]
    assert enable["Resource"] == "arn:aws:states:::aws-sdk:lambda:updateEventSourceMapping"
    # aws-sdk tasks use the SDK's names (Step Functions developer guide, "AWS SDK service
    # integrations", API naming conventions): the API's UUID is Uuid, in parameters and result
    assert enable["Parameters"] == {"Uuid": SUB_SAMPLE["QueueMappingUuid"], "Enabled": True}
    assert enable["ResultSelector"]["uuid.$"] == "$.Uuid"
    for task in (v for v in states.values() if v["Type"] == "Task"):
        assert "ResultSelector" in task  # keep results small (and free of timestamps)
        assert task["Catch"][0]["Next"] in fails
    # no Lambda of its own: only aws-sdk integrations
    assert all(
        v["Resource"].startswith("arn:aws:states:::aws-sdk:") for v in states.values() if v["Type"] == "Task"
    )


# ------------------------------------------------------------------------------ outputs
def test_outputs(template):
    outputs = template["Outputs"]
    assert set(outputs) == {
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
        "StateMachineArn",
        "RuleName",
        "RuleDlqUrl",
        "RuleDlqArn",
        "KeyDigestSecretArn",
    }
    # the secret's ARN, never its value (no GetAtt of a value, no resolve: dynamic reference)
    assert outputs["KeyDigestSecretArn"]["Value"] == {"Ref": "KeyDigestSecret"}
    assert "resolve:secretsmanager" not in json.dumps(template)
    for name in ("StateMachineArn", "RuleName", "RuleDlqUrl", "RuleDlqArn"):
        assert outputs[name]["Condition"] == "EventAutomation"


def test_required_parameters_present(template):
    assert {
        "SourceTableName",
        "SourceStreamArn",
        "TargetTableName",
        "CodeBucket",
        "CodeKey",
        "Automation",
        "ReplayFrom",
        "StreamStartingPosition",
        "MaximumMessageSize",
        "QueueVisibilityTimeout",
        "MaxReceiveCount",
        "RestoreTimeoutSeconds",
        "LogRetentionDays",
    } <= set(template["Parameters"])
    assert template["Parameters"]["StreamStartingPosition"]["AllowedValues"] == ["TRIM_HORIZON", "LATEST"]

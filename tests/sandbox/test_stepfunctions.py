"""Step Functions on the sandbox behaves as AWS does where the event automation depends on it.

Documents followed (each test names its own):
- Step Functions developer guide, "Learning to use AWS service SDK integrations in Step
  Functions", https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html
  (SDK naming of parameters; ``ServiceName.ErrorName`` errors);
- "Passing parameters to a service API in Step Functions",
  https://docs.aws.amazon.com/step-functions/latest/dg/connect-parameters.html ("The field ... is
  not supported by Step Functions"), refused at CreateStateMachine as aws/aws-cdk#29968 shows;
- "Avoid reaching the history quota", https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html;
- API reference, GetExecutionHistory and StartExecution,
  https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html,
  https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from runbook_lib import buffer, monitor
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.sandbox.traffic import create_demo_table

ROLE = "arn:aws:iam::123456789012:role/sfn"


def _machine(aws, definition: dict, name: str = "m") -> str:
    return aws("stepfunctions").create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]


def _finish(aws, execution_arn: str, timeout: float = 120.0) -> dict:
    sfn = aws("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.2)
    raise AssertionError(f"{execution_arn} still running after {timeout} s")


def _run(aws, definition: dict, execution_input: dict | None = None) -> dict:
    arn = _machine(aws, definition, name=f"m-{uuid.uuid4().hex[:8]}")
    execution = aws("stepfunctions").start_execution(stateMachineArn=arn, input=json.dumps(execution_input or {}))
    return _finish(aws, execution["executionArn"])


def _task(resource: str, parameters: dict, **extra) -> dict:
    return {"Type": "Task", "Resource": f"arn:aws:states:::aws-sdk:{resource}", "Parameters": parameters, **extra}


def _one_task(task: dict) -> dict:
    return {"StartAt": "T", "States": {"T": {**task, "End": True}}}


def _loop(iterations: int) -> dict:
    """Pass/Choice loop: 4 history events per iteration."""
    return {
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Result": {"n": 0}, "Next": "Count"},
            "Count": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "More?"},
            "More?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericLessThan": iterations, "Next": "Count"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }


# ------------------------------------------------------------------ SDK naming at definition
@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"UUID": "x", "Enabled": True}, "UUID"),
        ({"UUID.$": "$.mapping", "Enabled": True}, "UUID"),
        ({"Uuid": "x", "Enabled": True, "BatchSize": 10, "MaximumBatchingWindow": 1}, "MaximumBatchingWindow"),
    ],
)
def test_create_state_machine_refuses_a_field_the_sdk_does_not_name(aws, parameters, field):
    """AWS refuses an aws-sdk task field outside the SDK's names when the state machine is created
    ("SCHEMA_VALIDATION_FAILED: The field ... is not supported by Step Functions", aws/aws-cdk#29968)."""
    definition = _one_task(_task("lambda:updateEventSourceMapping", parameters))
    with pytest.raises(ClientError) as err:
        _machine(aws, definition)
    assert err.value.response["Error"]["Code"] == "InvalidDefinition"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.value.response["Error"]["Message"] == (
        f"Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: The field \"{field}\" is not supported "
        "by Step Functions at /States/T/Parameters'"
    )
    assert aws("stepfunctions").list_state_machines()["stateMachines"] == []


def test_nested_fields_are_checked_and_sdk_names_are_accepted(aws):
    """DynamoDB's ``BOOL`` is ``Bool`` in an aws-sdk task (developer guide, AWS SDK integrations);
    map keys (attribute names) are data, their values are checked."""
    bad = _one_task(_task("dynamodb:putItem", {"TableName": "t", "Item": {"pk": {"S": "a"}, "flag": {"BOOL": True}}}))
    with pytest.raises(ClientError) as err:
        _machine(aws, bad)
    assert 'The field "BOOL" is not supported' in err.value.response["Error"]["Message"]

    good = _one_task(
        _task("dynamodb:putItem", {"TableName": "t", "Item": {"pk": {"S": "a"}, "flag": {"Bool": True}, "k.$": "$.k"}})
    )
    assert _machine(aws, good, name="good").startswith("arn:aws:states:")


def test_update_state_machine_refuses_a_field_the_sdk_does_not_name(aws):
    arn = _machine(aws, _one_task(_task("lambda:updateEventSourceMapping", {"Uuid": "x", "Enabled": True})))
    with pytest.raises(ClientError) as err:
        aws("stepfunctions").update_state_machine(
            stateMachineArn=arn, definition=json.dumps(_one_task(_task("lambda:updateEventSourceMapping", {"UUID": "x"})))
        )
    assert err.value.response["Error"]["Code"] == "InvalidDefinition"


def test_cloudformation_refuses_a_state_machine_with_a_field_the_sdk_does_not_name(aws):
    """The deployment fails with the definition's error, as on AWS (aws/aws-cdk#29968: "Resource
    handler returned message: Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED ...'").
    moto creates resources inside CreateStack, so the error comes back on that call (a body the
    CloudFormation client cannot parse) instead of a ROLLBACK status: see README, sandbox table."""
    template = {
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": "from-cfn",
                    "RoleArn": ROLE,
                    "DefinitionString": json.dumps(_one_task(_task("lambda:updateEventSourceMapping", {"UUID": "x"}))),
                },
            }
        }
    }
    with pytest.raises((ClientError, ResponseParserError)) as err:
        aws("cloudformation").create_stack(StackName="bad-sfn", TemplateBody=json.dumps(template))
    assert "InvalidDefinition" in str(err.value)
    assert "SCHEMA_VALIDATION_FAILED: The field" in str(err.value) and "UUID" in str(err.value)
    assert aws("stepfunctions").list_state_machines()["stateMachines"] == []


# ------------------------------------------------------------------ SDK naming at run time
def _item_table(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "items")
    ddb.put_item(TableName="items", Item={"pk": {"S": "a"}, "flag": {"BOOL": True}, "none": {"NULL": True}})


def test_task_result_uses_sdk_names(aws):
    """The result of an aws-sdk task is named as the SDK names it: ``Bool`` (and DynamoDB's
    ``NULL`` as ``Nul``, the Java SDK's customization), so ``$.Item.flag.Bool`` finds the value."""
    _item_table(aws)
    task = _task(
        "dynamodb:getItem",
        {"TableName": "items", "Key": {"pk": {"S": "a"}}},
        ResultSelector={"flag.$": "$.Item.flag.Bool", "item.$": "$.Item"},
    )
    result = _run(aws, _one_task(task))
    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert output["flag"] is True
    assert output["item"] == {"pk": {"S": "a"}, "flag": {"Bool": True}, "none": {"Nul": True}}


def test_a_result_selector_reading_the_api_name_finds_nothing(aws):
    """``$.Item.flag.BOOL`` does not exist in an SDK-named result: the execution fails with
    ``States.Runtime`` as on AWS (a path that matches nothing)."""
    _item_table(aws)
    task = _task(
        "dynamodb:getItem", {"TableName": "items", "Key": {"pk": {"S": "a"}}}, ResultSelector={"flag.$": "$.Item.flag.BOOL"}
    )
    result = _run(aws, _one_task(task))
    assert (result["status"], result.get("error")) == ("FAILED", "States.Runtime")


def test_sdk_named_parameters_reach_the_api(aws):
    """``Uuid`` in the task is the API's ``UUID``: the mapping is found and enabled."""
    queue = aws("sqs").create_queue(QueueName="q")["QueueUrl"]
    queue_arn = aws("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role = aws("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    import io
    import zipfile

    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return {}\n")
    aws("lambda").create_function(
        FunctionName="fn", Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": code.getvalue()}
    )
    mapping = aws("lambda").create_event_source_mapping(EventSourceArn=queue_arn, FunctionName="fn", Enabled=False)["UUID"]
    task = _task(
        "lambda:updateEventSourceMapping",
        {"Uuid": mapping, "Enabled": True},
        ResultSelector={"uuid.$": "$.Uuid", "state.$": "$.State"},
    )
    result = _run(aws, _one_task(task))
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["uuid"] == mapping
    assert aws("lambda").get_event_source_mapping(UUID=mapping)["State"] == "Enabled"


def test_task_errors_are_named_service_dot_exception(aws):
    """A Lambda error is ``Lambda.ResourceNotFoundException`` (``ServiceName.ErrorName``, both
    PascalCase), so a Catch on that name catches it."""
    definition = {
        "StartAt": "Get",
        "States": {
            "Get": _task(
                "lambda:getEventSourceMapping",
                {"Uuid": str(uuid.uuid4())},
                Catch=[{"ErrorEquals": ["Lambda.ResourceNotFoundException"], "Next": "Caught"}],
                Next="Done",
            ),
            "Caught": {"Type": "Pass", "End": True},
            "Done": {"Type": "Succeed"},
        },
    }
    result = _run(aws, definition)
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["Error"] == "Lambda.ResourceNotFoundException"


# ----------------------------------------------------------------------------- history
def test_execution_fails_at_25000_history_events(aws):
    """Event 25,000 that is not ExecutionSucceeded is ExecutionFailed, error ``States.Runtime``,
    cause "The execution reached the maximum number of history events (25000).\""""
    result = _run(aws, _loop(100_000))
    assert result["status"] == "FAILED"
    assert result["error"] == "States.Runtime"
    assert result["cause"] == "The execution reached the maximum number of history events (25000)."
    sfn = aws("stepfunctions")
    last = sfn.get_execution_history(executionArn=result["executionArn"], reverseOrder=True, maxResults=2)["events"]
    assert [(e["id"], e["type"]) for e in last] == [(25000, "ExecutionFailed"), (24999, last[1]["type"])]


def test_the_history_limit_is_not_caught_by_states_all(aws):
    """``States.ALL`` "can't catch the States.DataLimitExceeded terminal error or Runtime error
    types" (developer guide, "Handling errors in Step Functions workflows",
    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html): the task
    that meets the limit does not go to its catcher."""
    definition = _loop(100_000)
    definition["States"]["Count"]["Next"] = "Call"
    definition["States"]["Call"] = _task(
        "dynamodb:listTables",
        {},
        ResultPath=None,
        Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Caught"}],
        Next="More?",
    )
    definition["States"]["Caught"] = {"Type": "Succeed"}
    result = _run(aws, definition)
    assert (result["status"], result["error"]) == ("FAILED", "States.Runtime")
    last = aws("stepfunctions").get_execution_history(executionArn=result["executionArn"], reverseOrder=True, maxResults=1)
    assert [(e["id"], e["type"]) for e in last["events"]] == [(25000, "ExecutionFailed")]


def test_an_execution_under_the_limit_succeeds(aws):
    result = _run(aws, _loop(100))
    assert result["status"] == "SUCCEEDED"


def test_execution_history_pages_as_aws_does(aws):
    """maxResults: absent or 0 -> 100, at most 1,000; nextToken continues; reverseOrder reverses."""
    result = _run(aws, _loop(300))  # 1 + 2 + 300 * 4 - 2 + 3 = about 1,200 events
    arn = result["executionArn"]
    sfn = aws("stepfunctions")
    first = sfn.get_execution_history(executionArn=arn)
    assert len(first["events"]) == 100 and first["nextToken"]
    assert len(sfn.get_execution_history(executionArn=arn, maxResults=0)["events"]) == 100
    second = sfn.get_execution_history(executionArn=arn, nextToken=first["nextToken"])
    assert [e["id"] for e in second["events"]] == list(range(101, 201))
    all_events = [e for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn) for e in page["events"]]
    assert [e["id"] for e in all_events] == list(range(1, len(all_events) + 1))
    assert all_events[-1]["type"] == "ExecutionSucceeded" and len(all_events) > 1000
    big = sfn.get_execution_history(executionArn=arn, maxResults=1000)
    assert len(big["events"]) == 1000 and big["nextToken"]
    backwards = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=3)
    assert [e["id"] for e in backwards["events"]] == [len(all_events), len(all_events) - 1, len(all_events) - 2]
    with pytest.raises(ClientError) as err:
        sfn.get_execution_history(executionArn=arn, maxResults=1001)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as err:
        sfn.get_execution_history(executionArn=arn, nextToken="not-a-token")
    assert err.value.response["Error"]["Code"] == "InvalidToken"
    with pytest.raises(ClientError) as err:  # a token is for the same arguments
        sfn.get_execution_history(executionArn=arn, nextToken=first["nextToken"], reverseOrder=True)
    assert err.value.response["Error"]["Code"] == "InvalidToken"


def test_workflow_history_summary_reads_every_page(aws, endpoint):
    result = _run(aws, _loop(300))
    rows = monitor.workflow_history_summary(AwsTarget(region="us-east-1", endpoint_url=endpoint), result["executionArn"])
    assert len(rows) > 1000 and rows[-1]["type"] == "ExecutionSucceeded"


# ------------------------------------------------------------------------- execution names
def test_executions_started_without_a_name_get_unique_uuid_names(aws):
    arn = _machine(aws, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    sfn = aws("stepfunctions")
    first = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    names = {sfn.describe_execution(executionArn=a)["name"] for a in (first, second)}
    assert len(names) == 2
    for name in names:
        assert str(uuid.UUID(name)) == name
        assert first.endswith(":" + name) or second.endswith(":" + name)
    assert {e["name"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]} == names


@pytest.mark.parametrize(
    ("name", "code"),
    [("x" * 81, "ValidationException"), ("has space", "InvalidName"), ("a/b", "InvalidName"), ("tab\u0085", "InvalidName"), ("bad\ufffe", "InvalidName")],
)
def test_start_execution_refuses_names_aws_refuses(aws, name, code):
    arn = _machine(aws, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    with pytest.raises(ClientError) as err:
        aws("stepfunctions").start_execution(stateMachineArn=arn, name=name)
    assert err.value.response["Error"]["Code"] == code
    assert aws("stepfunctions").list_executions(stateMachineArn=arn)["executions"] == []


def test_an_80_character_name_is_accepted(aws):
    arn = _machine(aws, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    execution = aws("stepfunctions").start_execution(stateMachineArn=arn, name="n" * 80)["executionArn"]
    assert aws("stepfunctions").describe_execution(executionArn=execution)["name"] == "n" * 80


# ------------------------------------------------------------------ moto's config switch
def _config(endpoint: str, execute: bool) -> None:
    body = json.dumps({"stepfunctions": {"execute_state_machine": execute}}).encode()
    request = urllib.request.Request(endpoint + "/moto-api/config", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    urllib.request.urlopen(request, timeout=10).read()  # noqa: S310 - loopback


def test_step_functions_answers_in_both_interpreter_modes(aws, endpoint):
    """moto's own switch works both ways on the sandbox (issue 17: once off, every call answered 500)."""
    sfn = aws("stepfunctions")
    try:
        _config(endpoint, False)
        arn = _machine(aws, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, name="plain")
        assert [m["name"] for m in sfn.list_state_machines()["stateMachines"]] == ["plain"]
        execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
        assert sfn.describe_execution(executionArn=execution)["status"] in ("RUNNING", "SUCCEEDED")
    finally:
        _config(endpoint, True)
    arn = _machine(aws, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, name="interpreted")
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert _finish(aws, execution)["status"] == "SUCCEEDED"


# ---------------------------------------------- the enable-replay workflow's history budget
def test_the_budget_walk_counts_the_events_the_interpreter_writes(aws, endpoint, sandbox):
    """The deploy plan's event count comes from walking the definition: on the interpreter, a
    restore that outlasts the timeout writes exactly the events the walk counts without retries."""
    sandbox.settings.restore_seconds = 60.0
    create_demo_table(aws("dynamodb"), "orders")
    aws("dynamodb").restore_table_to_point_in_time(
        SourceTableName="orders", TargetTableName="orders-restored", UseLatestRestorableTime=True
    )
    text = buffer.render_state_machine_definition(
        target_table="orders-restored",
        queue_mapping_uuid=str(uuid.uuid4()),
        restore_timeout_seconds=8,
        restore_poll_seconds=1,
        restore_poll_max_seconds=2,
    )
    arn = _machine(aws, json.loads(text), name="enable-replay-budget")
    execution = aws("stepfunctions").start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    result = _finish(aws, execution, timeout=60)
    assert (result["status"], result.get("error")) == ("FAILED", "RestoreTimedOut")
    events = [e for p in aws("stepfunctions").get_paginator("get_execution_history").paginate(executionArn=execution) for e in p["events"]]

    from runbook_lib import workflow_budget

    walked = workflow_budget.walk(json.loads(text), {"DescribeTarget": lambda n: {"status": "CREATING"}})
    assert walked.end_state == "RestoreTimedOut"
    assert len(events) == walked.events_without_retries
    waits = [e for e in events if e["type"] == "WaitStateEntered"]
    assert len(waits) == walked.runs["WaitForRestore"] == 4  # 1 + 2 + 2 + 2 = 7 s; another 2 would reach 8

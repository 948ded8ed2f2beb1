"""The buffer package's operations against scripted clients: the races and timeouts moto cannot stage."""

from __future__ import annotations

from datetime import datetime, timezone
from types import MappingProxyType

import pytest
from botocore.exceptions import ClientError

from runbook_lib import buffer
from runbook_lib.buffer import dlq
from runbook_lib.buffer.names import STACK_NAME_RE, resource_names
from runbook_lib.errors import BufferError, InputError

STACK = buffer.BufferStack(
    stack_name="pitr-orders-orders-restored-12345678",
    stack_id="arn:aws:cloudformation:us-east-1:123456789012:stack/pitr/1",
    status="CREATE_COMPLETE",
    region="us-east-1",
    outputs=MappingProxyType(
        {
            "ApplierFunctionName": "pitr-applier",
            "ForwarderFunctionName": "pitr-forwarder",
            "QueueMappingUuid": "uuid-q",
            "StreamMappingUuid": "uuid-s",
        }
    ),
    parameters=MappingProxyType({"SourceTableName": "orders", "TargetTableName": "orders-restored"}),
)


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "Op")


class ScriptedLambda:
    """Answers from scripts (lists consumed one call at a time; the last answer repeats)."""

    def __init__(self, configs, mappings, update_errors=()):
        self.configs = list(configs)
        self.mappings = list(mappings)
        self.update_errors = list(update_errors)
        self.calls: list[tuple[str, dict]] = []

    @staticmethod
    def _next(script):
        return script.pop(0) if len(script) > 1 else script[0]

    def get_function_configuration(self, **kw):
        self.calls.append(("get_function_configuration", kw))
        return self._next(self.configs)

    def get_event_source_mapping(self, **kw):
        self.calls.append(("get_event_source_mapping", kw))
        return {"UUID": kw["UUID"], "State": self._next(self.mappings)}

    def update_event_source_mapping(self, **kw):
        self.calls.append(("update_event_source_mapping", kw))
        if self.update_errors:
            raise _error(self.update_errors.pop(0))
        return {}

    def update_function_configuration(self, **kw):
        self.calls.append(("update_function_configuration", kw))
        return {}


class FakeTarget:
    is_sandbox = True  # short poll intervals
    region_name = "us-east-1"
    endpoint_url = "http://127.0.0.1:1"

    def __init__(self, **clients):
        self.clients = clients

    def client(self, service):
        if service not in self.clients:
            raise AssertionError(f"unexpected call to {service}")
        return self.clients[service]


def _config(status="Successful", state="Active", env=None, revision="r1", **extra):
    return {
        "State": state,
        "LastUpdateStatus": status,
        "Environment": {"Variables": env if env is not None else {"TARGET_TABLE": "orders-restored", "REPLAY_FROM": ""}},
        "RevisionId": revision,
        **extra,
    }


# ----------------------------------------------------------------------------- the race
def test_enable_replay_waits_for_a_function_update_before_touching_the_mapping():
    lam = ScriptedLambda(
        configs=[_config("InProgress"), _config("InProgress"), _config("Successful")],
        mappings=["Disabled", "Enabling", "Enabled"],
    )
    messages: list[str] = []

    state = buffer.enable_replay(FakeTarget(**{"lambda": lam}), STACK, progress=messages.append)

    assert state == "Enabled"
    names = [c[0] for c in lam.calls]
    first_update = names.index("update_event_source_mapping")
    assert names[:3] == ["get_function_configuration"] * 3  # settled before the mapping changed
    assert first_update > 3
    assert lam.calls[first_update][1] == {"UUID": "uuid-q", "Enabled": True}
    assert any("waiting for the update of pitr-applier" in m for m in messages)


def test_enable_replay_retries_while_the_mapping_is_in_use():
    lam = ScriptedLambda(
        configs=[_config()],
        mappings=["Disabled", "Enabled"],
        update_errors=["ResourceInUseException", "ResourceConflictException"],
    )
    assert buffer.enable_replay(FakeTarget(**{"lambda": lam}), STACK) == "Enabled"
    assert [c[0] for c in lam.calls].count("update_event_source_mapping") == 3


def test_disable_replay_is_a_noop_when_already_disabled():
    lam = ScriptedLambda(configs=[_config()], mappings=["Disabled"])
    assert buffer.disable_replay(FakeTarget(**{"lambda": lam}), STACK) == "Disabled"
    assert "update_event_source_mapping" not in [c[0] for c in lam.calls]


def test_a_mapping_that_never_settles_times_out_with_a_remedy():
    lam = ScriptedLambda(configs=[_config()], mappings=["Disabled", "Enabling"])
    with pytest.raises(BufferError) as err:
        buffer.enable_replay(FakeTarget(**{"lambda": lam}), STACK, timeout=0.5)
    assert "timed out" in str(err.value) and "retry" in str(err.value)


def test_a_function_update_that_never_ends_times_out():
    lam = ScriptedLambda(configs=[_config("InProgress")], mappings=["Disabled"])
    with pytest.raises(BufferError, match="timed out"):
        buffer.enable_replay(FakeTarget(**{"lambda": lam}), STACK, timeout=0.5)
    assert "update_event_source_mapping" not in [c[0] for c in lam.calls]


def test_a_mapping_turned_back_by_someone_else_is_an_error():
    lam = ScriptedLambda(configs=[_config()], mappings=["Disabled", "Disabled", "Enabling", "Disabled"])
    with pytest.raises(BufferError, match="went back to Disabled"):
        buffer.enable_replay(FakeTarget(**{"lambda": lam}), STACK, timeout=5)


# ----------------------------------------------------------------------- set_replay_start
def test_set_replay_start_keeps_other_variables_and_waits_for_success():
    env_before = {"TARGET_TABLE": "orders-restored", "LOG_LEVEL": "INFO", "REPLAY_FROM": ""}
    env_after = {**env_before, "REPLAY_FROM": "2026-11-28T05:00:00+00:00"}
    lam = ScriptedLambda(
        configs=[_config(env=env_before, revision="r7"), _config("InProgress", env=env_after), _config(env=env_after)],
        mappings=["Disabled"],
    )
    value = buffer.set_replay_start(FakeTarget(**{"lambda": lam}), STACK, "2026-11-28T05:00:00Z")
    assert value == "2026-11-28T05:00:00+00:00"
    (update,) = [kw for name, kw in lam.calls if name == "update_function_configuration"]
    assert update == {"FunctionName": "pitr-applier", "Environment": {"Variables": env_after}, "RevisionId": "r7"}


def test_set_replay_start_is_a_noop_when_already_set():
    lam = ScriptedLambda(configs=[_config()], mappings=["Disabled"])
    assert buffer.set_replay_start(FakeTarget(**{"lambda": lam}), STACK, None) == ""
    assert "update_function_configuration" not in [c[0] for c in lam.calls]


def test_set_replay_start_reports_a_failed_update():
    lam = ScriptedLambda(
        configs=[
            _config(),
            _config("Failed", LastUpdateStatusReason="KMS key disabled", LastUpdateStatusReasonCode="KMSDisabledException"),
        ],
        mappings=["Disabled"],
    )
    with pytest.raises(BufferError) as err:
        buffer.set_replay_start(FakeTarget(**{"lambda": lam}), STACK, "2026-11-28T05:00:00Z")
    assert "KMS key disabled" in str(err.value) and err.value.code == "KMSDisabledException"


# ---------------------------------------------------------------------------- naming, input
@pytest.mark.parametrize(
    "source,target",
    [("orders", "orders-restored"), ("my.table_v2", "my.table_v2-r"), ("a" * 255, "b" * 255), ("___", "...")],
)
def test_stack_name_is_deterministic_valid_and_short(source, target):
    name = buffer.stack_name_for(source, target)
    assert name == buffer.stack_name_for(source, target)
    assert len(name) <= buffer.MAX_STACK_NAME
    assert STACK_NAME_RE.match(name)
    assert len(resource_names(name)["forwarder"]) <= 64


def test_stack_names_differ_per_pair():
    assert buffer.stack_name_for("orders", "a") != buffer.stack_name_for("orders", "b")
    assert buffer.stack_name_for("a_b", "c") != buffer.stack_name_for("a.b", "c")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"automation": "manual"},
        {"starting_position": "AT_TIMESTAMP"},
        {"target_table": "orders"},
        {"source_table": "no spaces allowed"},
        {"replay_from": "last tuesday"},
        {"max_message_bytes": 2_000_000},
        {"restore_timeout_seconds": 10},
        {"log_retention_days": 2},
        {"parameters": {"MaxReceiveCount": 0}},
        {"parameters": {"ApplierMaximumConcurrency": 1}},
        {"applier_max_concurrency": 1},
        {"applier_max_concurrency": 1001},
        {"applier_max_concurrency": 2.5},
        {"parameters": {"SourceStreamArn": "arn:aws:dynamodb:us-east-1:1:table/x/stream/y"}},
        {"stack_name": "9starts-with-a-digit"},
    ],
)
def test_plan_rejects_bad_input_before_any_aws_call(kwargs):
    args = {"source_table": "orders", "target_table": "orders-restored", **kwargs}
    with pytest.raises(InputError):
        buffer.plan(FakeTarget(), **args)  # FakeTarget() fails any client call


def test_plan_refuses_a_dlq_reachable_within_the_dedup_interval():
    # 2 receives x 120 s: a change could reach the DLQ and be redriven less than five minutes
    # after its first send, where the applier could not tell it is late
    args = {"source_table": "orders", "target_table": "orders-restored"}
    with pytest.raises(InputError, match="MaxReceiveCount x QueueVisibilityTimeout"):
        buffer.plan(FakeTarget(), **args, parameters={"MaxReceiveCount": 2, "QueueVisibilityTimeout": 120})
    with pytest.raises(AssertionError, match="unexpected call"):  # 3 x 120 s passes the check
        buffer.plan(FakeTarget(), **args, parameters={"MaxReceiveCount": 3, "QueueVisibilityTimeout": 120})


def test_buffer_stack_round_trips_through_state_json():
    again = buffer.BufferStack.from_dict(STACK.to_dict())
    assert again == STACK
    assert again.queue_mapping_uuid == "uuid-q" and again.state_machine_arn is None


def test_a_missing_output_names_the_remedy():
    with pytest.raises(BufferError, match="deploy it again"):
        _ = STACK.queue_url


def test_inlining_the_definition_is_idempotent():
    text = buffer.template_text()
    asl = (buffer.infra_dir() / buffer.ASL_FILE).read_text()
    once = buffer.inline_state_machine_definition(asl, text)
    assert buffer.inline_state_machine_definition(asl, once) == once


def test_template_fits_an_inline_template_body():
    assert len(buffer.template_text().encode()) < buffer.MAX_TEMPLATE_BODY


# ------------------------------------------------------------------------ a failed deploy
class FakeS3:
    def __init__(self):
        self.objects: dict[tuple[str, str], bytes] = {}

    def head_bucket(self, **kw):
        return {}

    def put_object(self, **kw):
        self.objects[(kw["Bucket"], kw["Key"])] = kw["Body"]


class FailingCfn:
    """A create that fails on one resource, rolls back and (OnFailure=DELETE) is deleted."""

    def __init__(self):
        self.created: dict = {}
        now = datetime.now(timezone.utc)
        self.events = [
            {"EventId": "3", "LogicalResourceId": "pitr", "ResourceStatus": "DELETE_COMPLETE", "Timestamp": now},
            {
                "EventId": "2",
                "Timestamp": now,
                "LogicalResourceId": "QueueMapping",
                "ResourceStatus": "CREATE_FAILED",
                "ResourceStatusReason": "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds",
            },
            {"EventId": "1", "LogicalResourceId": "Queue", "ResourceStatus": "CREATE_COMPLETE", "Timestamp": now},
        ]

    def describe_stacks(self, StackName):
        if not self.created:
            raise ClientError({"Error": {"Code": "ValidationError", "Message": f"Stack {StackName} does not exist"}}, "DescribeStacks")
        return {"Stacks": [{"StackName": "pitr", "StackId": "id-1", "StackStatus": "DELETE_COMPLETE"}]}

    def create_stack(self, **kw):
        self.created = kw
        return {"StackId": "id-1"}

    def describe_stack_events(self, StackName):
        return {"StackEvents": self.events}

    def get_paginator(self, name):
        assert name == "describe_stack_events"
        events = self.events

        class Pages:
            def paginate(self, StackName):
                yield {"StackEvents": events}

        return Pages()


def _plan_for_fakes() -> buffer.DeployPlan:
    zip_bytes = buffer.build_zip()
    return buffer.DeployPlan(
        stack_name="pitr",
        action="create",
        region="us-east-1",
        account_id="123456789012",
        source_table="orders",
        target_table="orders-restored",
        source_table_arn="arn:aws:dynamodb:us-east-1:123456789012:table/orders",
        source_stream_arn="arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/1",
        stream_view_type="NEW_AND_OLD_IMAGES",
        automation="notebook",
        replay_from=None,
        starting_position="TRIM_HORIZON",
        parameters=MappingProxyType({"Automation": "notebook"}),
        code_key="pitr-runbook/pitr/cdc.zip",
        code_sha256=buffer.code_sha256(zip_bytes),
        default_artifact_bucket="pitr-runbook-123456789012-us-east-1",
        resources=(),
        code_zip=zip_bytes,
    )


def test_a_failed_create_raises_with_the_failed_resources_reasons():
    cfn, s3 = FailingCfn(), FakeS3()
    target = FakeTarget(cloudformation=cfn, s3=s3)

    with pytest.raises(BufferError) as err:
        buffer.deploy(target, _plan_for_fakes())

    message = str(err.value)
    assert "QueueMapping: Queue visibility timeout: 30 seconds is less than Function timeout" in message
    assert "rolled back and deleted" in message and "deploy again" in message
    assert cfn.created["OnFailure"] == "DELETE" and cfn.created["Capabilities"] == ["CAPABILITY_IAM"]
    assert s3.objects == {("pitr-runbook-123456789012-us-east-1", "pitr-runbook/pitr/cdc.zip"): buffer.build_zip()}


# ----------------------------------------------------------------------------- DLQ redrive
REDRIVE_STACK = buffer.BufferStack(
    stack_name="pitr-orders", stack_id="arn:aws:cloudformation:us-east-1:123456789012:stack/pitr/2",
    status="CREATE_COMPLETE", region="us-east-1",
    outputs=MappingProxyType({
        "QueueUrl": "https://sqs/q.fifo", "QueueArn": "arn:aws:sqs:us-east-1:123456789012:q.fifo",
        "DlqUrl": "https://sqs/dlq.fifo", "DlqArn": "arn:aws:sqs:us-east-1:123456789012:dlq.fifo",
    }),
    parameters=MappingProxyType({}),
)


class ScriptedSqs:
    """A DLQ of ``depth`` messages; ``tasks`` are the ListMessageMoveTasks answers, in order."""

    def __init__(self, depth: int, tasks: list[list[dict]]):
        self.depth, self.tasks = depth, list(tasks)
        self.calls: list[tuple[str, dict]] = []

    def get_queue_attributes(self, **kw):
        self.calls.append(("get_queue_attributes", kw))
        return {"Attributes": {"ApproximateNumberOfMessages": str(self.depth), "ApproximateNumberOfMessagesNotVisible": "0"}}

    def list_message_move_tasks(self, **kw):
        self.calls.append(("list_message_move_tasks", kw))
        return {"Results": self.tasks.pop(0) if len(self.tasks) > 1 else self.tasks[0]}

    def start_message_move_task(self, **kw):
        self.calls.append(("start_message_move_task", kw))
        return {"TaskHandle": "h1"}


def _task(status: str, moved: int, **extra) -> dict:
    return {"Status": status, "ApproximateNumberOfMessagesMoved": moved, "ApproximateNumberOfMessagesToMove": 2, **extra}


def test_redrive_without_execute_only_counts_the_dlq():
    sqs = ScriptedSqs(2, [[]])
    result = buffer.redrive_dlq(FakeTarget(sqs=sqs), REDRIVE_STACK)
    assert (result.executed, result.status, result.to_move) == (False, "planned", 2)
    assert [c for c, _ in sqs.calls] == ["get_queue_attributes"]


def test_redrive_moves_the_dlq_back_to_the_buffer_queue_and_follows_the_task():
    # GIVEN two messages in the DLQ and no task running
    sqs = ScriptedSqs(2, [[], [_task("RUNNING", 1, TaskHandle="h1")], [_task("COMPLETED", 2)]])
    said: list[str] = []

    # WHEN
    result = buffer.redrive_dlq(FakeTarget(sqs=sqs), REDRIVE_STACK, execute=True, max_per_second=10, progress=said.append)

    # THEN one task from the DLQ to the buffer queue, followed to COMPLETED with progress
    (start,) = [kw for c, kw in sqs.calls if c == "start_message_move_task"]
    assert start == {"SourceArn": REDRIVE_STACK.dlq_arn, "DestinationArn": REDRIVE_STACK.queue_arn, "MaxNumberOfMessagesPerSecond": 10}
    assert (result.status, result.moved, result.to_move, result.task_handle, result.ok) == ("COMPLETED", 2, 2, "h1", True)
    assert any("1 of 2" in line for line in said) and any("2 of 2" in line for line in said)


def test_redrive_follows_a_task_already_running_instead_of_starting_another():
    sqs = ScriptedSqs(2, [[_task("RUNNING", 0, TaskHandle="h0")], [_task("COMPLETED", 2)]])
    result = buffer.redrive_dlq(FakeTarget(sqs=sqs), REDRIVE_STACK, execute=True)
    assert "start_message_move_task" not in [c for c, _ in sqs.calls]
    assert result.status == "COMPLETED" and result.task_handle == "h0"


def test_a_failed_redrive_names_the_reason_and_the_remedy():
    sqs = ScriptedSqs(2, [[], [_task("FAILED", 1, FailureReason="AWS.SimpleQueueService.NonExistentQueue")]])
    with pytest.raises(BufferError, match="NonExistentQueue.*redrive_dlq again"):
        buffer.redrive_dlq(FakeTarget(sqs=sqs), REDRIVE_STACK, execute=True)


def test_an_empty_dlq_starts_no_task():
    sqs = ScriptedSqs(0, [[]])
    assert buffer.redrive_dlq(FakeTarget(sqs=sqs), REDRIVE_STACK, execute=True).status == "empty"
    assert "start_message_move_task" not in [c for c, _ in sqs.calls]


def test_redrive_can_wait_for_failing_changes_to_reach_the_dlq(monkeypatch):
    class FillingSqs(ScriptedSqs):
        def get_queue_attributes(self, **kw):
            answer = super().get_queue_attributes(**kw)
            self.depth = 1  # the failing change lands in the DLQ after the first look
            return answer

    monkeypatch.setattr(dlq.time, "sleep", lambda seconds: None)
    sqs = FillingSqs(0, [[], [_task("COMPLETED", 1)]])
    result = buffer.redrive_dlq(FakeTarget(sqs=sqs), REDRIVE_STACK, execute=True, wait_for_dlq=60)
    assert result.status == "COMPLETED"
    assert [c for c, _ in sqs.calls].count("start_message_move_task") == 1

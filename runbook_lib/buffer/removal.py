"""Tearing the buffer down: replay off, running workflows stopped, the stack deleted and waited
for, the handler zip deleted, and then the proof that nothing is left (:mod:`.leftovers`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from botocore.exceptions import ClientError

from ..aws.clients import AwsTarget
from ..aws.codes import error_code
from ..aws.waiting import interval, poll
from ..errors import BufferError
from ..times import utcnow
from .draining import queue_counts
from .feedback import Progress, aws_failure, say
from .leftovers import leftovers, stack_resources
from .names import resource_names
from .replay import disable_replay, mapping
from .stacks import BufferStack, account_id, describe_raw, failure_reasons, role_arg, to_stack, wait_stack


@dataclass(frozen=True)
class TeardownReport:
    stack_name: str
    executed: bool
    stack_found: bool
    #: what the teardown deletes (dry run) or deleted: "Type name"
    resources: tuple[str, ...]
    #: the verification found nothing left (a leftover raises BufferError instead)
    verified: bool = False
    #: messages still in the buffer (and its DLQ) when the stack was deleted
    discarded_messages: int = 0
    discarded_dlq_messages: int = 0

    @property
    def clean(self) -> bool:
        return self.executed and self.verified

    def rows(self) -> list[dict[str, str]]:
        return [{"resource": r, "action": "deleted" if self.executed else "will be deleted"} for r in self.resources]


def teardown(
    target: AwsTarget,
    stack: BufferStack | str,
    *,
    execute: bool = False,
    timeout: float = 1800.0,
    progress: Progress | None = None,
    cfn_role_arn: str | None = None,
) -> TeardownReport:
    """Delete the buffer and prove nothing is left.

    Dry run (default): lists what would be deleted. ``execute=True``: turns replay off, deletes the
    stack and waits, deletes the handler zip, then checks that no mapping on the source stream or
    the queue names our functions and that no queue, function, rule, state machine, log group or
    role is left; raises :class:`BufferError` listing any leftover. Tearing
    down a buffer that is already gone is a no-op (that still verifies). ``cfn_role_arn``: the
    CloudFormation service role the stack is deleted with (see :func:`deploy`); None: the role the
    stack holds (``RoleARN`` of ``DescribeStacks``), if any.
    """
    known = stack if isinstance(stack, BufferStack) else None
    name = known.stack_name if known else str(stack)
    raw = describe_raw(target, known.stack_id if known and known.stack_id else name)
    if raw is None and known is not None:
        raw = describe_raw(target, name)
    current = to_stack(raw, target.region_name) if raw else known
    resources = stack_resources(target, raw["StackId"]) if raw else []
    artifact = (current.code_bucket, current.code_key) if current and current.code_bucket and current.code_key else None

    listed = [f"{r['ResourceType']} {r.get('PhysicalResourceId') or r['LogicalResourceId']}" for r in resources]
    if raw is not None:
        listed.insert(0, f"AWS::CloudFormation::Stack {name}")
    if artifact:
        listed.append(f"AWS::S3::Object s3://{artifact[0]}/{artifact[1]}")
    roles = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::IAM::Role" and r.get("PhysicalResourceId")]

    if not execute:
        return TeardownReport(stack_name=name, executed=False, stack_found=raw is not None, resources=tuple(listed))

    discarded = (0, 0)
    if raw is not None:
        try:
            mapping_state = mapping(target, current.queue_mapping_uuid).get("State") if current.outputs else None
        except BufferError:
            mapping_state = None
        if mapping_state and mapping_state != "Disabled":
            disable_replay(target, current, timeout=min(timeout, 300.0), progress=progress)
        discarded = _buffered_counts(target, current)
        if any(discarded):
            say(progress, f"discarding {discarded[0]} buffered message(s) and {discarded[1]} in the DLQ")
        _stop_workflows(target, current, progress)
        say(progress, f"deleting stack {name}")
        cfn = target.client("cloudformation")
        started = utcnow() - timedelta(seconds=1)
        try:
            # without a role given, the one the stack was created with: the operator's policy allows
            # DeleteStack only with the service role (cloudformation:RoleArn), and a request without
            # RoleARN carries no such key, so it would be denied although CloudFormation would use it
            cfn.delete_stack(StackName=raw["StackId"], **role_arg(cfn_role_arn or raw.get("RoleARN")))
        except ClientError as exc:
            raise aws_failure(exc, f"DeleteStack {name}", "retry the teardown") from exc
        final = wait_stack(target, raw["StackId"], timeout=timeout, progress=progress, what=f"deletion of {name}")
        if final["StackStatus"] != "DELETE_COMPLETE":
            reasons = failure_reasons(target, raw["StackId"], started) or [final.get("StackStatusReason", "")]
            raise BufferError(
                f"stack {name} ended {final['StackStatus']}: {'; '.join(reasons)}. Delete the resources named "
                "there by hand, then run the teardown again",
                step="buffer",
            )
    else:
        say(progress, f"stack {name} is already gone: verifying that nothing is left")
    if artifact:
        try:
            target.client("s3").delete_object(Bucket=artifact[0], Key=artifact[1])
        except ClientError as exc:
            if error_code(exc) not in ("NoSuchBucket", "NoSuchKey", "404"):
                raise aws_failure(exc, f"deleting s3://{artifact[0]}/{artifact[1]}", "delete it by hand") from exc

    left: list[str] = []

    def nothing_left() -> bool | None:
        left[:] = leftovers(
            target,
            name,
            stream_arn=current.source_stream_arn if current else None,
            queue_arn=(current.outputs.get("QueueArn") if current else None)
            or f"arn:{target.partition}:sqs:{target.region_name}:{account_id(target)}:{resource_names(name)['queue']}",
            state_machine_arn=current.state_machine_arn if current else None,
            role_names=roles,
            artifact=artifact,
        )
        return None if left else True

    def left_behind() -> BufferError:
        return BufferError(
            f"teardown of {name} left {len(left)} resource(s) behind: {'; '.join(left)}. "
            "Delete them by hand (or run the teardown again), then verify",
            step="buffer",
        )

    # Deletions settle: a mapping or a table may still be deleting for a moment.
    poll(nothing_left, timeout=2.0 if target.is_sandbox else 120.0, interval=interval(target, 5.0), on_timeout=left_behind)
    say(progress, f"buffer {name} torn down; nothing left")
    return TeardownReport(
        stack_name=name,
        executed=True,
        stack_found=raw is not None,
        resources=tuple(listed),
        verified=True,
        discarded_messages=discarded[0],
        discarded_dlq_messages=discarded[1],
    )


def _buffered_counts(target: AwsTarget, stack: BufferStack) -> tuple[int, int]:
    """(messages in the buffer, messages in its DLQ), 0 for a queue that cannot be read."""
    sqs = target.client("sqs")
    counts = []
    for url in (stack.outputs.get("QueueUrl"), stack.outputs.get("DlqUrl")):
        try:
            c = queue_counts(sqs, url) if url else {}
        except ClientError:
            c = {}
        counts.append(sum(c.values()))
    return counts[0], counts[1]


def _stop_workflows(target: AwsTarget, stack: BufferStack, progress: Progress | None) -> None:
    """Stop running enable-replay executions: one waiting for a restore would outlive the stack."""
    arn = stack.state_machine_arn
    if not arn:
        return
    sfn = target.client("stepfunctions")
    try:
        running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
        for execution in running:
            say(progress, f"stopping the enable-replay execution {execution['name']}")
            sfn.stop_execution(
                executionArn=execution["executionArn"], error="BufferTornDown", cause="the buffer stack is being deleted"
            )
    except ClientError as exc:
        if error_code(exc) not in ("StateMachineDoesNotExist", "ExecutionDoesNotExist"):
            raise aws_failure(exc, f"stopping the executions of {arn}", "stop them by hand, then retry") from exc

"""The deployed stack: :class:`BufferStack` (outputs and parameters as CloudFormation reports
them), reading it, waiting for it to settle, and the reasons a create, update or delete failed."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from botocore.exceptions import ClientError

from ..aws.clients import AwsTarget
from ..aws.codes import error_code
from ..aws.waiting import interval, poll
from ..errors import BufferError
from .feedback import Progress, aws_failure, timed_out

log = logging.getLogger(__name__)

STACK_IN_PROGRESS = re.compile(r"_IN_PROGRESS$")
STACK_OK = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})


@dataclass(frozen=True)
class BufferStack:
    """A deployed buffer: the stack's outputs and parameters, as CloudFormation reports them."""

    stack_name: str
    stack_id: str
    status: str
    region: str
    outputs: Mapping[str, str]
    parameters: Mapping[str, str]

    def _out(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            raise BufferError(
                f"stack {self.stack_name} has no output {key}: it was not deployed from this "
                "version of infra/buffer.yaml; deploy it again",
                step="buffer",
            ) from None

    queue_url = property(lambda self: self._out("QueueUrl"))
    queue_arn = property(lambda self: self._out("QueueArn"))
    dlq_url = property(lambda self: self._out("DlqUrl"))
    dlq_arn = property(lambda self: self._out("DlqArn"))
    stream_failure_queue_url = property(lambda self: self.outputs.get("StreamFailureQueueUrl"))
    forwarder_function_name = property(lambda self: self._out("ForwarderFunctionName"))
    applier_function_name = property(lambda self: self._out("ApplierFunctionName"))
    stream_mapping_uuid = property(lambda self: self._out("StreamMappingUuid"))
    queue_mapping_uuid = property(lambda self: self._out("QueueMappingUuid"))
    state_machine_arn = property(lambda self: self.outputs.get("StateMachineArn"))
    rule_name = property(lambda self: self.outputs.get("RuleName"))
    #: (event mode) the standard queue of events the rule could not deliver to the workflow
    rule_dlq_url = property(lambda self: self.outputs.get("RuleDlqUrl"))
    rule_dlq_arn = property(lambda self: self.outputs.get("RuleDlqArn"))
    #: the ARN (never the value) of the secret that keys the key digest (redacted reports)
    key_digest_secret_arn = property(lambda self: self._out("KeyDigestSecretArn"))
    automation = property(lambda self: self.parameters.get("Automation", "notebook"))
    source_table = property(lambda self: self.parameters.get("SourceTableName"))
    target_table = property(lambda self: self.parameters.get("TargetTableName"))
    source_stream_arn = property(lambda self: self.parameters.get("SourceStreamArn"))
    code_bucket = property(lambda self: self.parameters.get("CodeBucket"))
    code_key = property(lambda self: self.parameters.get("CodeKey"))

    def to_dict(self) -> dict[str, Any]:
        """For the run state (``stack``)."""
        return {
            "name": self.stack_name,
            "id": self.stack_id,
            "status": self.status,
            "region": self.region,
            "outputs": dict(self.outputs),
            "parameters": dict(self.parameters),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BufferStack:
        return cls(
            stack_name=data["name"],
            stack_id=data.get("id", data["name"]),
            status=data.get("status", "UNKNOWN"),
            region=data.get("region", ""),
            outputs=MappingProxyType(dict(data.get("outputs", {}))),
            parameters=MappingProxyType(dict(data.get("parameters", {}))),
        )


def account_id(target: AwsTarget) -> str:
    """The account of the target's credentials (``GetCallerIdentity``)."""
    try:
        return target.client("sts").get_caller_identity()["Account"]
    except ClientError as exc:
        raise aws_failure(exc, "GetCallerIdentity", "check the credentials for this account and region") from exc


def role_arg(cfn_role_arn: str | None) -> dict[str, str]:
    """``RoleARN`` for CreateStack/UpdateStack/DeleteStack when a service role is given."""
    return {"RoleARN": cfn_role_arn} if cfn_role_arn else {}


def describe_raw(target: AwsTarget, stack: str) -> dict[str, Any] | None:
    """The stack (by name or id) as ``DescribeStacks`` answers, or None if there is none (or it is deleted)."""
    try:
        stacks = target.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
            return None
        raise aws_failure(exc, f"DescribeStacks {stack}", "check permissions and the region") from exc
    if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
        return None
    return stacks[0]


def to_stack(raw: Mapping[str, Any], region: str) -> BufferStack:
    return BufferStack(
        stack_name=raw["StackName"],
        stack_id=raw["StackId"],
        status=raw["StackStatus"],
        region=region,
        outputs=MappingProxyType({o["OutputKey"]: o["OutputValue"] for o in raw.get("Outputs", [])}),
        parameters=MappingProxyType({p["ParameterKey"]: p.get("ParameterValue", "") for p in raw.get("Parameters", [])}),
    )


def describe(target: AwsTarget, stack_name: str) -> BufferStack | None:
    """The deployed buffer named ``stack_name``, or None."""
    raw = describe_raw(target, stack_name)
    return to_stack(raw, target.region_name) if raw else None


def failure_reasons(target: AwsTarget, stack_id: str, since: datetime | None) -> list[str]:
    """``Resource: reason`` of every failed resource event since ``since``, oldest first, once each."""
    cfn = target.client("cloudformation")
    reasons: list[str] = []
    try:
        for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack_id):
            for ev in page["StackEvents"]:
                if since is not None and ev["Timestamp"] < since:
                    continue
                if ev.get("ResourceStatus", "").endswith("_FAILED") and ev.get("ResourceStatusReason"):
                    reasons.append(f"{ev['LogicalResourceId']}: {ev['ResourceStatusReason']}")
    except ClientError as exc:  # the reasons are a courtesy; the failure itself is reported
        log.warning("cannot read the events of %s: %s", stack_id, error_code(exc))
    return list(dict.fromkeys(reversed(reasons)))


def wait_stack(
    target: AwsTarget,
    stack_id: str,
    *,
    timeout: float,
    progress: Progress | None,
    what: str,
) -> dict[str, Any]:
    """Wait until the stack leaves every *_IN_PROGRESS state; return it (DELETE_COMPLETE included)."""
    cfn = target.client("cloudformation")
    seen: set[str] = set()

    def check() -> dict[str, Any] | None:
        raw = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
        try:
            events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        except ClientError:
            events = []
        for ev in reversed(events):
            if ev["EventId"] not in seen:
                seen.add(ev["EventId"])
                if ev["LogicalResourceId"] != raw["StackName"] and progress is not None:
                    progress(f"{ev['LogicalResourceId']} {ev['ResourceStatus']}")
        return None if STACK_IN_PROGRESS.search(raw["StackStatus"]) else raw

    return poll(
        check,
        timeout=timeout,
        interval=interval(target, 5.0),
        on_timeout=timed_out(timeout, what, "follow the stack in the CloudFormation console, then run the step again"),
    )

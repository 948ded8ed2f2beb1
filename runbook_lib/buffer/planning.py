"""The deploy plan: what :func:`~runbook_lib.buffer.deployment.deploy` will create or update,
with every template parameter, the handler zip and its key. Building it reads AWS and changes
nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from botocore.exceptions import ClientError

from ..automation import DEFAULT as DEFAULT_AUTOMATION, EVENT, check_automation
from ..aws.clients import AwsTarget
from ..aws.codes import error_code
from ..aws.partitions import partition
from ..aws.tables import validate_table_pair
from ..errors import InputError, PreconditionError
from ..times import iso, to_utc
from .feedback import aws_failure
from .names import check_stack_name, default_artifact_bucket, stack_name_for
from .package import build_zip, code_key, code_sha256
from .parameters import (
    RESERVED,
    STARTING_POSITIONS,
    check_parameter,
    max_message_warnings,
    resolve_parameters,
)
from .stacks import account_id, describe_raw
from .template import load_template, substitute


@dataclass(frozen=True)
class PlannedResource:
    logical_id: str
    type: str
    name: str  # physical name as it will be, or what assigns it ("(generated)")


@dataclass(frozen=True)
class DeployPlan:
    """What :func:`deploy` will do. Building it reads AWS and changes nothing."""

    stack_name: str
    action: str  # "create" | "update"
    region: str
    account_id: str
    source_table: str
    target_table: str
    source_table_arn: str
    source_stream_arn: str
    stream_view_type: str
    automation: str
    replay_from: datetime | None
    starting_position: str
    #: every template parameter except ``CodeBucket``/``CodeKey`` (known at deploy time)
    parameters: Mapping[str, str]
    code_key: str
    code_sha256: str
    default_artifact_bucket: str
    resources: tuple[PlannedResource, ...]
    existing_status: str | None = None
    warnings: tuple[str, ...] = ()
    code_zip: bytes = field(default=b"", repr=False, compare=False)

    def rows(self) -> list[dict[str, str]]:
        """One row per resource, for a table in the notebook."""
        return [asdict(r) for r in self.resources]

    @property
    def applier_max_concurrency(self) -> int | None:
        """The queue mapping's ``ScalingConfig.MaximumConcurrency``; None = no cap."""
        return int(float(self.parameters.get("ApplierMaximumConcurrency", "0"))) or None

    @property
    def max_message_bytes(self) -> int:
        """The queues' ``MaximumMessageSize`` this plan deploys (the forwarder's ``MAX_MESSAGE_BYTES``)."""
        return int(float(self.parameters["MaximumMessageSize"]))


def plan(
    target: AwsTarget,
    *,
    source_table: str,
    target_table: str,
    automation: str = DEFAULT_AUTOMATION,
    replay_from: datetime | str | None = None,
    starting_position: str = "TRIM_HORIZON",
    max_message_bytes: int | None = None,
    restore_timeout_seconds: int | None = None,
    log_retention_days: int | None = None,
    applier_max_concurrency: int | None = None,
    stack_name: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    preflight_max_message_bytes: int | None = None,
    target_region: str | None = None,
) -> DeployPlan:
    """What :func:`deploy` would create or update, with every template parameter. Changes nothing.

    Inputs are checked before any call (:class:`InputError`); then the source table must exist and
    have a stream (:class:`PreconditionError`). ``parameters`` overrides any other template
    parameter by name (``QueueVisibilityTimeout``, ``MaxReceiveCount``, ``ApplierBatchSize``...).
    ``applier_max_concurrency`` caps the applier's concurrent invocations (the queue mapping's
    ``ScalingConfig.MaximumConcurrency``, 2 to 1000, 0 = no cap; None = the template's default).
    ``preflight_max_message_bytes``: the maximum message size step 00 sized the items against;
    when it is not the ``MaximumMessageSize`` deployed (:attr:`DeployPlan.max_message_bytes`),
    the plan says so in its warnings. ``target_region``: the target table's region when it is not
    the stack's (a cross-region restore: the template's ``TargetRegion``; the applier writes there).
    """
    # -- inputs, before any call ---------------------------------------------------------------
    validate_table_pair(source_table, target_table)
    check_automation(automation)
    if starting_position not in STARTING_POSITIONS:
        raise InputError(f"starting_position {starting_position!r} must be one of {', '.join(STARTING_POSITIONS)}")
    replay_at = to_utc(replay_from, "replay_from")
    name = stack_name or stack_name_for(source_table, target_table)
    check_stack_name(name)
    given: dict[str, Any] = dict(parameters or {})
    for reserved in RESERVED:
        if reserved in given:
            raise InputError(f"{reserved} is set by plan/deploy, not through parameters")
    given.update(Automation=automation, StreamStartingPosition=starting_position)
    given["ReplayFrom"] = iso(replay_at) if replay_at else ""
    if max_message_bytes is not None:
        given["MaximumMessageSize"] = max_message_bytes
    if restore_timeout_seconds is not None:
        given["RestoreTimeoutSeconds"] = restore_timeout_seconds
    if log_retention_days is not None:
        given["LogRetentionDays"] = log_retention_days
    if applier_max_concurrency is not None:
        given["ApplierMaximumConcurrency"] = applier_max_concurrency
    template = load_template()
    values = resolve_parameters(template, {k: str(v) for k, v in given.items()})
    zip_bytes = build_zip()

    # -- AWS, read only ------------------------------------------------------------------------
    region = target.region_name
    account = account_id(target)
    table = _source_table(target, source_table)
    spec = table.get("StreamSpecification") or {}
    stream_arn = table.get("LatestStreamArn")
    if not spec.get("StreamEnabled") or not stream_arn:
        raise PreconditionError(
            f"table {source_table} has no stream, so its changes cannot be captured: enable one with "
            "UpdateTable StreamSpecification={StreamEnabled: true, StreamViewType: NEW_AND_OLD_IMAGES}",
            table=source_table,
            step="buffer",
        )
    view = spec.get("StreamViewType", "")
    warnings: list[str] = []
    if view in ("KEYS_ONLY", "OLD_IMAGE"):
        warnings.append(
            f"stream view type is {view}: every change is applied by re-reading the item from the source "
            "(convergent, but more reads); NEW_AND_OLD_IMAGES avoids that"
        )
    if values["StreamStartingPosition"] == "LATEST":
        warnings.append("StreamStartingPosition LATEST: changes made before deployment are not buffered")
    if float(values["ApplierMaximumConcurrency"]) == 0:
        warnings.append(
            "ApplierMaximumConcurrency 0: replay is uncapped (one invocation per message group, up to 1,250 at "
            "once): it can take the account's Lambda concurrency and throttle against the restored table"
        )
    warnings += max_message_warnings(int(float(values["MaximumMessageSize"])), preflight_max_message_bytes)

    existing = describe_raw(target, name)
    existing_status = existing["StackStatus"] if existing else None
    if existing:
        params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in existing.get("Parameters", [])}
        if (params.get("SourceTableName"), params.get("TargetTableName")) != (source_table, target_table):
            raise PreconditionError(
                f"stack {name} already buffers {params.get('SourceTableName')} -> {params.get('TargetTableName')}: "
                "choose another stack_name, or tear that buffer down first",
                step="buffer",
            )
    values["SourceTableName"] = source_table
    values["TargetTableName"] = target_table
    values["TargetRegion"] = target_region if target_region and target_region != region else ""
    check_parameter("TargetRegion", values["TargetRegion"], template["Parameters"]["TargetRegion"])
    values["SourceStreamArn"] = stream_arn
    check_parameter("SourceStreamArn", stream_arn, template["Parameters"]["SourceStreamArn"])

    action = "update" if existing and existing_status not in ("ROLLBACK_COMPLETE",) else "create"
    return DeployPlan(
        stack_name=name,
        action=action,
        region=region,
        account_id=account,
        source_table=source_table,
        target_table=target_table,
        source_table_arn=table["TableArn"],
        source_stream_arn=stream_arn,
        stream_view_type=view,
        automation=automation,
        replay_from=replay_at,
        starting_position=starting_position,
        parameters=MappingProxyType(values),
        code_key=code_key(name, zip_bytes),
        code_sha256=code_sha256(zip_bytes),
        default_artifact_bucket=default_artifact_bucket(account, region),
        resources=planned_resources(template, name, values, region, account),
        existing_status=existing_status,
        warnings=tuple(warnings),
        code_zip=zip_bytes,
    )


def _source_table(target: AwsTarget, source_table: str) -> dict[str, Any]:
    """``DescribeTable`` of the source; :class:`PreconditionError` when it does not exist."""
    try:
        return target.client("dynamodb").describe_table(TableName=source_table)["Table"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise PreconditionError(
                f"source table {source_table} does not exist in {target.region_name}: check the table name and the region",
                table=source_table,
                code=error_code(exc),
                step="buffer",
            ) from None
        raise aws_failure(exc, f"DescribeTable {source_table}", "check permissions", table=source_table) from exc


#: The property of each resource type that holds its physical name.
_NAME_PROPERTY = {
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Events::Rule": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::SecretsManager::Secret": "Name",
}


def planned_resources(
    template: Mapping[str, Any], stack_name: str, values: Mapping[str, str], region: str, account: str
) -> tuple[PlannedResource, ...]:
    """Every resource the template creates with these parameters, named as it will be."""
    event_mode = values["Automation"] == EVENT
    subs = {
        **values,
        "AWS::StackName": stack_name,
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": partition(region),
    }
    out = []
    for logical_id, res in template["Resources"].items():
        if res.get("Condition") == "EventAutomation" and not event_mode:
            continue
        prop = _NAME_PROPERTY.get(res["Type"])
        name = substitute(res["Properties"].get(prop), subs) if prop else None
        if not isinstance(name, str):
            name = "(assigned at create)" if res["Type"] == "AWS::Lambda::EventSourceMapping" else "(generated)"
        out.append(PlannedResource(logical_id, res["Type"], name))
    return tuple(out)

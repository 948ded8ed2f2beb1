"""The table settings the runbook reads and re-applies, answered as DynamoDB answers them.

``runbook_lib.settings`` (snapshot, diff, apply) and ``runbook_lib.preflight`` read and set a
table's settings through the calls listed in ``settings.API_CALLS``. moto 5.2.5 falls short on
several of them, and every shortfall showed up as a WARN row that no AWS account would show. This
module is the protocol half (parse the request, call the rule, shape the answer); the state and
rules are in ``table_settings_state.py``, Application Auto Scaling's fixes in ``app_autoscaling.py``.

- ``DescribeContributorInsights`` / ``UpdateContributorInsights`` are not implemented (HTTP 500).
  Here a table or index without contributor insights answers ``ContributorInsightsStatus:
  DISABLED``; ``ENABLE`` answers ``ENABLING`` and the next describe ``ENABLED`` with the rule
  names and ``ContributorInsightsMode`` (``ACCESSED_AND_THROTTLED_KEYS`` unless another is asked);
  ``DISABLE`` answers ``DISABLING`` and then ``DISABLED``. A missing table or index is
  ``ResourceNotFoundException``.
- ``GetResourcePolicy`` / ``PutResourcePolicy`` / ``DeleteResourcePolicy`` take the ARN's last
  path segment for a table name, so every stream ARN answered ``ResourceNotFoundException``. Here
  the ARN names a table or one of its streams (the current one or an earlier, disabled one, whose
  policy AWS lets you read and change); a resource without a policy answers
  ``PolicyNotFoundException``, and only a table or stream that does not exist answers
  ``ResourceNotFoundException``. ``DeleteResourcePolicy`` without a policy is
  ``PolicyNotFoundException`` too (moto: ``ResourceNotFoundException``).
- ``DescribeKinesisStreamingDestination`` / ``EnableKinesisStreamingDestination`` /
  ``DisableKinesisStreamingDestination`` / ``UpdateKinesisStreamingDestination`` are not
  implemented (HTTP 500). Here a table without destinations answers an empty
  ``KinesisDataStreamDestinations``; enable answers ``ENABLING`` and the next describe ``ACTIVE``;
  disable answers ``DISABLING`` and the destination stays listed as ``DISABLED``.
- ``DescribeTimeToLive`` / ``UpdateTimeToLive`` on a missing table answered the code
  ``ResourceNotFound``, which is in no botocore model: here ``ResourceNotFoundException``.
- ``CreateTable`` / ``UpdateTable`` ignore ``TableClass`` and ``OnDemandThroughput``, so
  ``DescribeTable`` never showed ``TableClassSummary`` or ``OnDemandThroughput``: here they are
  kept and described (a value of -1 removes that maximum, as on AWS). ``UpdateTable`` with one of
  the two ``WarmThroughput`` values dropped the other: here the other is kept.
- ``TagResource`` / ``UntagResource`` on the ARN of a table that does not exist succeeded: here
  ``ResourceNotFoundException``. ``TagResource`` and ``CreateTable`` took any tag: here a key or
  value with the reserved ``aws:`` prefix or a character outside DynamoDB's set is a
  ``ValidationException`` ("Tagging restrictions in DynamoDB").
- ``UpdateTimeToLive`` could be called again at once: AWS refuses any further call on the table for
  up to an hour after one (``ValidationException``); here for ``SETTINGS.ttl_change_seconds``
  (3600 by default; tests lower it).
- ``UpdateTable`` refused to enable a stream on a table that had one before (AWS allows it: a new
  stream, with a new label and ARN, once the old one is disabled).

Fault ``settings-access-denied`` (``operations``: comma-separated DynamoDB operation names, by
default ``GetResourcePolicy``) answers those reads ``AccessDeniedException`` (HTTP 400), as AWS
does for a caller whose IAM policy lacks the action: the settings snapshot must show it as a
setting it could not read, never as a setting that is not there.

Where it still differs from AWS: the state's differences (transitions over by the next describe,
the TTL lock, the default ``ContributorInsightsMode``, no insights data, nothing written to
Kinesis, the codes for a missing or already active Kinesis stream, a deleted table's policies)
are listed in ``table_settings_state.py``; ``ListContributorInsights`` is still not implemented;
CloudWatch ``PutMetricAlarm`` does not validate its enums (moto's behaviour, kept).
"""

from __future__ import annotations

import time

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.dynamodb.exceptions import ResourceNotFoundException
from moto.dynamodb.responses import DynamoHandler, DynamoResult

from . import faults
from .table_settings_state import (
    TableSettings,
    _lock,
    delete_resource_policy,
    describe_contributor_insights,
    describe_kinesis_destinations,
    disable_kinesis_destination,
    enable_kinesis_destination,
    find_table,
    get_resource_policy,
    patch_models,
    put_resource_policy,
    set_table_options,
    settings_of,
    update_contributor_insights,
    update_kinesis_destination,
    update_time_to_live_allowed,
    validate_table_options,
    validate_tags,
)

_installed = False

ACCESS_DENIED = "settings-access-denied"
faults.register(
    ACCESS_DENIED,
    "DynamoDB settings reads answer AccessDeniedException (a caller whose IAM policy lacks them)",
    operations="GetResourcePolicy",
)

#: the DynamoDB reads the fault can deny: operation name -> DynamoHandler method
_DENIABLE = {
    "DescribeTimeToLive": "describe_time_to_live",
    "DescribeContinuousBackups": "describe_continuous_backups",
    "ListTagsOfResource": "list_tags_of_resource",
    "DescribeContributorInsights": "describe_contributor_insights",
    "GetResourcePolicy": "get_resource_policy",
    "DescribeKinesisStreamingDestination": "describe_kinesis_streaming_destination",
}


# -- protocol: parse the request, call the state, shape the answer ----------------------------------
def _describe_contributor_insights(self: DynamoHandler) -> ActionResult:
    return ActionResult(
        describe_contributor_insights(self.dynamodb_backend, self.body.get("TableName"), self.body.get("IndexName"))
    )


def _update_contributor_insights(self: DynamoHandler) -> ActionResult:
    return ActionResult(
        update_contributor_insights(
            self.dynamodb_backend,
            self.body.get("TableName"),
            self.body.get("IndexName"),
            self.body.get("ContributorInsightsAction"),
            self.body.get("ContributorInsightsMode"),
        )
    )


def _get_resource_policy(self: DynamoHandler) -> ActionResult:
    policy = get_resource_policy(self.dynamodb_backend, self.body.get("ResourceArn"))
    return ActionResult({"Policy": policy.policy_doc, "RevisionId": policy.revision_id})


def _put_resource_policy(self: DynamoHandler) -> ActionResult:
    policy = put_resource_policy(
        self.dynamodb_backend, self.body.get("ResourceArn"), self.body.get("Policy"), self.body.get("ExpectedRevisionId")
    )
    return ActionResult({"RevisionId": policy.revision_id})


def _delete_resource_policy(self: DynamoHandler) -> ActionResult:
    policy = delete_resource_policy(self.dynamodb_backend, self.body.get("ResourceArn"), self.body.get("ExpectedRevisionId"))
    return ActionResult({"RevisionId": policy.revision_id})


def _describe_kinesis_streaming_destination(self: DynamoHandler) -> ActionResult:
    return ActionResult(describe_kinesis_destinations(self.dynamodb_backend, self.body.get("TableName")))


def _kinesis_action(fn, config_key: str):
    def action(self: DynamoHandler) -> ActionResult:
        return ActionResult(
            fn(self.dynamodb_backend, self.body.get("TableName"), self.body.get("StreamArn"), self.body.get(config_key))
        )

    return action


def _ttl_table_check(original):
    def action(self: DynamoHandler) -> ActionResult:
        find_table(self.dynamodb_backend, self.body.get("TableName"))  # ResourceNotFoundException, not "ResourceNotFound"
        return original(self)

    return action


def _tagged_table_check(original):
    def action(self: DynamoHandler) -> ActionResult:
        arn = self.body.get("ResourceArn")
        if not any(t.table_arn == arn for t in list(self.dynamodb_backend.tables.values())):
            raise ResourceNotFoundException(f"Requested resource not found: {arn}")
        validate_tags(self.body.get("Tags"))
        return original(self)

    return action


def _update_time_to_live(original):
    def action(self: DynamoHandler) -> ActionResult:
        table = find_table(self.dynamodb_backend, self.body.get("TableName"))
        with _lock:
            update_time_to_live_allowed(table)
            result = original(self)
            settings_of(table).ttl_changed_at = time.monotonic()
        return result

    return action


def _wrap_create_table(original):
    def create_table(self: DynamoHandler) -> ActionResult:
        validate_table_options(self.body)
        validate_tags(self.body.get("Tags"))
        original(self)
        table = find_table(self.dynamodb_backend, self.body["TableName"])
        set_table_options(table, {k: v for k, v in self.body.items() if k in ("TableClass", "OnDemandThroughput")})
        return DynamoResult(table.describe())

    return create_table


def _wrap_update_table(original):
    def update_table(self: DynamoHandler) -> ActionResult:
        validate_table_options(self.body)
        table = find_table(self.dynamodb_backend, self.body.get("TableName"))
        previous_warm = {k: v for k, v in (table.warm_throughput or {}).items() if k != "Status"}
        original(self)  # moto's update, behind the sandbox's guards (a restoring table is in use)
        set_table_options(table, self.body, previous_warm=previous_warm)
        return DynamoResult(table.describe())

    return update_table


def _deniable(operation: str, original):
    def action(self: DynamoHandler) -> ActionResult:
        params = faults.active(ACCESS_DENIED)
        if params is not None and operation in {o.strip() for o in str(params["operations"]).split(",")}:
            faults.note(ACCESS_DENIED, f"denied {operation}")
            raise JsonRESTError(
                "AccessDeniedException",
                f"User: arn:aws:sts::{self.current_account}:assumed-role/runbook/session is not authorized to perform: "
                f"dynamodb:{operation} because no identity-based policy allows the dynamodb:{operation} action",
            )
        return original(self)

    return action


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        DynamoHandler.describe_contributor_insights = _describe_contributor_insights
        DynamoHandler.update_contributor_insights = _update_contributor_insights
        DynamoHandler.get_resource_policy = _get_resource_policy
        DynamoHandler.put_resource_policy = _put_resource_policy
        DynamoHandler.delete_resource_policy = _delete_resource_policy
        DynamoHandler.describe_kinesis_streaming_destination = _describe_kinesis_streaming_destination
        DynamoHandler.enable_kinesis_streaming_destination = _kinesis_action(
            enable_kinesis_destination, "EnableKinesisStreamingConfiguration"
        )
        DynamoHandler.disable_kinesis_streaming_destination = _kinesis_action(
            disable_kinesis_destination, "EnableKinesisStreamingConfiguration"
        )
        DynamoHandler.update_kinesis_streaming_destination = _kinesis_action(
            update_kinesis_destination, "UpdateKinesisStreamingConfiguration"
        )
        DynamoHandler.describe_time_to_live = _ttl_table_check(DynamoHandler.describe_time_to_live)
        DynamoHandler.update_time_to_live = _update_time_to_live(DynamoHandler.update_time_to_live)
        DynamoHandler.tag_resource = _tagged_table_check(DynamoHandler.tag_resource)
        DynamoHandler.untag_resource = _tagged_table_check(DynamoHandler.untag_resource)
        DynamoHandler.create_table = _wrap_create_table(DynamoHandler.create_table)
        DynamoHandler.update_table = _wrap_update_table(DynamoHandler.update_table)
        patch_models()
        for operation, method in _DENIABLE.items():
            setattr(DynamoHandler, method, _deniable(operation, getattr(DynamoHandler, method)))
        _installed = True


__all__ = ["install", "settings_of", "TableSettings"]

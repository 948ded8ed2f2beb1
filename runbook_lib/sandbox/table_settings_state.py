"""The state and rules of the table settings ``table_settings.py`` answers: what a DynamoDB table
holds besides moto's own attributes, and what each settings call does to it (the "models" half;
the requests are parsed and answered in ``table_settings.py``).

- Contributor insights per table and index: ``ENABLE`` / ``DISABLE``, the mode, the rule names.
- Resource policies on a table and on each of its streams, the current one or an earlier,
  disabled one (whose policy AWS lets you read and change); a resource without a policy is
  ``PolicyNotFoundException``, only a missing table or stream ``ResourceNotFoundException``;
  ``ExpectedRevisionId`` checked as AWS words it.
- Kinesis streaming destinations: enabled, disabled (still listed), precision updated.
- ``TableClass`` and ``OnDemandThroughput`` kept and described (a value of -1 removes that
  maximum, as on AWS); an ``UpdateTable`` with one ``WarmThroughput`` value keeps the other.
- Every stream label a table has had; a table whose stream was disabled can enable a new one; enabling
  a stream on a table that has one, or disabling one on a table that has none, is
  ``ValidationException`` (moto: ``ResourceInUseException`` for the first, nothing for the second); and
  takes writes while it has none (no record reaches the disabled stream; moto answered every write
  HTTP 500).
- ``UpdateTable``'s ``AttributeDefinitions`` are added to the table's (moto replaced them, losing
  the table's key definitions; a restore of the table then answered HTTP 500).
- When ``UpdateTimeToLive`` last changed the table: AWS refuses another call for up to an hour
  (``ValidationException``), here for ``SETTINGS.ttl_change_seconds``.

Where it still differs from AWS: every transition (``ENABLING`` -> ``ENABLED``, ``DISABLING`` ->
``DISABLED``, ``ENABLING`` -> ``ACTIVE``, warm throughput ``UPDATING``) is over by the next
describe, where AWS takes seconds to minutes (TTL up to an hour, and the sandbox always refuses a
second ``UpdateTimeToLive`` for the whole ``ttl_change_seconds``, where AWS's "up to one hour" may
be shorter); ``ContributorInsightsMode`` defaults to ``ACCESSED_AND_THROTTLED_KEYS`` when none is
asked (AWS's default is not stated in the API reference); no contributor insights data or
CloudWatch rules exist behind the rule names; nothing is written to a Kinesis stream; an enable for
a Kinesis stream that does not exist, or one already active for the table, answers
``ResourceNotFoundException`` / ``ResourceInUseException`` with our own wording (codes from the
operation's model; AWS's exact answer for these cases is not documented); a deleted table's
resource policies stay until the sandbox is reset; the attribute definitions of a deleted index are
kept.
"""

from __future__ import annotations

import re

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from moto.dynamodb.exceptions import (
    MockValidationException,
    PolicyNotFoundException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import ResourcePolicy

from .settings import SETTINGS

_lock = threading.RLock()

CONTRIBUTOR_INSIGHTS_MODES = ("ACCESSED_AND_THROTTLED_KEYS", "THROTTLED_KEYS")
TABLE_CLASSES = ("STANDARD", "STANDARD_INFREQUENT_ACCESS")
TIMESTAMP_PRECISIONS = ("MILLISECOND", "MICROSECOND")


# -- state: what a table holds besides moto's own attributes ---------------------------------------
@dataclass
class TableSettings:
    """Settings moto does not keep, held on the table object (so they go with it when it is deleted)."""

    #: index name (None for the table) -> {"status", "mode", "updated"}
    contributor_insights: dict[str | None, dict[str, Any]] = field(default_factory=dict)
    #: Kinesis stream ARN -> {"status", "precision"}, in the order they were first enabled
    kinesis: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: every stream label the table has had (its streams' ARNs end in /stream/<label>)
    stream_labels: list[str] = field(default_factory=list)
    #: OnDemandThroughput as set by CreateTable/UpdateTable (None: never set)
    on_demand: dict[str, int] | None = None
    #: when TableClass was last set
    table_class_updated: datetime | None = None
    #: time.monotonic() of the last UpdateTimeToLive (None: never)
    ttl_changed_at: float | None = None


def settings_of(table: Any) -> TableSettings:
    with _lock:
        state = table.__dict__.get("_sandbox_settings")
        if state is None:
            state = table.__dict__["_sandbox_settings"] = TableSettings()
        return state


def _now() -> datetime:
    return datetime.now(timezone.utc)


def find_table(backend: DynamoDBBackend, name_or_arn: str | None) -> Any:
    """The table named by its name or ARN; ``ResourceNotFoundException`` if there is none."""
    if name_or_arn:
        table = backend.tables.get(name_or_arn)
        if table is not None:
            return table
        for table in list(backend.tables.values()):
            if table.table_arn == name_or_arn:
                return table
    raise ResourceNotFoundException(table_name=name_or_arn)


def _check_index(table: Any, index: str | None) -> None:
    if index is not None and index not in {g.name for g in table.global_indexes}:
        raise ResourceNotFoundException(f"Requested resource not found: Index: {index} not found for table {table.name}")


# -- state: contributor insights -------------------------------------------------------------------
def _rule_names(table: Any, index: str | None, mode: str, since: datetime) -> list[str]:
    stamp = int(since.timestamp() * 1000)
    name = f"{table.name}-{index}" if index else table.name
    kinds = ("PKT", "SKT") if mode == "THROTTLED_KEYS" else ("PKC", "PKT", "SKC", "SKT")
    schema = table.schema if index is None else _index(table, index).schema
    if not any(k["KeyType"] == "RANGE" for k in schema):
        kinds = tuple(k for k in kinds if k.startswith("PK"))
    return [f"DynamoDBContributorInsights-{k}-{name}-{stamp}" for k in kinds]


def _index(table: Any, index: str) -> Any:
    return next(g for g in table.global_indexes if g.name == index)


def describe_contributor_insights(backend: DynamoDBBackend, table_name: str, index: str | None) -> dict[str, Any]:
    table = find_table(backend, table_name)
    _check_index(table, index)
    state = settings_of(table).contributor_insights.get(index)
    out: dict[str, Any] = {"TableName": table.name}
    if index:
        out["IndexName"] = index
    if state is None:
        out["ContributorInsightsStatus"] = "DISABLED"
        return out
    out["ContributorInsightsStatus"] = state["status"]
    out["LastUpdateDateTime"] = state["updated"]
    if state["status"] == "ENABLED":
        out["ContributorInsightsRuleList"] = _rule_names(table, index, state["mode"], state["updated"])
        out["ContributorInsightsMode"] = state["mode"]
    return out


def update_contributor_insights(
    backend: DynamoDBBackend, table_name: str, index: str | None, action: str, mode: str | None
) -> dict[str, Any]:
    if action not in ("ENABLE", "DISABLE"):
        raise MockValidationException(
            f"1 validation error detected: Value '{action}' at 'contributorInsightsAction' failed to satisfy "
            "constraint: Member must satisfy enum value set: [ENABLE, DISABLE]"
        )
    if mode is not None and mode not in CONTRIBUTOR_INSIGHTS_MODES:
        raise MockValidationException(
            f"1 validation error detected: Value '{mode}' at 'contributorInsightsMode' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(CONTRIBUTOR_INSIGHTS_MODES)}]"
        )
    table = find_table(backend, table_name)
    _check_index(table, index)
    states = settings_of(table).contributor_insights
    with _lock:
        previous = states.get(index) or {}
        if action == "ENABLE":
            chosen = mode or previous.get("mode") or "ACCESSED_AND_THROTTLED_KEYS"
            states[index] = {"status": "ENABLED", "mode": chosen, "updated": _now()}
            answer = "ENABLING"
        else:
            chosen = mode or previous.get("mode")
            states[index] = {"status": "DISABLED", "mode": chosen, "updated": _now()}
            answer = "DISABLING"
    out: dict[str, Any] = {"TableName": table.name, "ContributorInsightsStatus": answer}
    if index:
        out["IndexName"] = index
    if chosen:
        out["ContributorInsightsMode"] = chosen
    return out


# -- state: resource policies on tables and streams ------------------------------------------------
def policy_resource(backend: DynamoDBBackend, arn: str | None) -> str:
    """Check that ``arn`` names an existing table or one of its streams; return it.

    ``arn:<partition>:dynamodb:<region>:<account>:table/<name>`` or ``.../table/<name>/stream/<label>``.
    Anything else, or a table or stream that does not exist, is ``ResourceNotFoundException``.
    """
    parts = (arn or "").split(":", 5)
    path = parts[5].split("/") if len(parts) == 6 else []
    if len(path) >= 2 and path[0] == "table":
        table = backend.tables.get(path[1])
        if table is not None and table.table_arn == f"{parts[0]}:{parts[1]}:{parts[2]}:{parts[3]}:{parts[4]}:table/{path[1]}":
            if len(path) == 2:
                return arn  # type: ignore[return-value]
            if len(path) == 4 and path[2] == "stream" and path[3] in _stream_labels(table):
                return arn  # type: ignore[return-value]
            raise ResourceNotFoundException(f"Requested resource not found: Stream: {arn} not found")
        raise ResourceNotFoundException(table_name=path[1])
    raise ResourceNotFoundException(f"Requested resource not found: {arn}")


def _stream_labels(table: Any) -> list[str]:
    labels = list(settings_of(table).stream_labels)
    if table.latest_stream_label and table.latest_stream_label not in labels:
        labels.append(table.latest_stream_label)
    return labels


def _named(arn: str) -> tuple[str, str]:
    """How a revision mismatch names the resource: AWS's words for a table (moto's aws_verified
    tests in test_dynamodb_resource_policy.py record them); a stream, whose wording is not known,
    by its ARN."""
    path = arn.split(":", 5)[-1].split("/")
    if len(path) == 2 and path[0] == "table":
        return f"table {path[1]}", f"the policy associated to target table {path[1]}"
    return arn, arn


def get_resource_policy(backend: DynamoDBBackend, arn: str) -> ResourcePolicy:
    arn = policy_resource(backend, arn)
    policy = backend.resource_policies.get(arn)
    if policy is None:
        raise PolicyNotFoundException(f"Resource-based policy not found for the provided ResourceArn: {arn}")
    return policy


def put_resource_policy(backend: DynamoDBBackend, arn: str, document: str, expected_revision: str | None) -> ResourcePolicy:
    arn = policy_resource(backend, arn)
    with _lock:
        current = backend.resource_policies.get(arn)
        name, holder = _named(arn)
        if current is not None and expected_revision == "NO_POLICY":
            raise PolicyNotFoundException(
                "Resource-based policy not found for the provided ResourceArn: Requested policy update expecting "
                f"none to be present for {name}, but a policy exists with revision id {current.revision_id}."
            )
        if expected_revision and expected_revision != "NO_POLICY" and (current is None or current.revision_id != expected_revision):
            raise PolicyNotFoundException(
                f"Resource-based policy not found for the provided ResourceArn: Requested update for policy with "
                f"revision id {expected_revision}, but {holder} has "
                + (f"revision id {current.revision_id}." if current else "no policy.")
            )
        if current is not None and current.policy_doc == document:
            return current
        policy = ResourcePolicy(resource_arn=arn, policy_doc=document)
        backend.resource_policies[arn] = policy
        return policy


def delete_resource_policy(backend: DynamoDBBackend, arn: str, expected_revision: str | None) -> ResourcePolicy:
    arn = policy_resource(backend, arn)
    with _lock:
        current = backend.resource_policies.get(arn)
        if current is None:
            raise PolicyNotFoundException(f"Resource-based policy not found for the provided ResourceArn: {arn}")
        if expected_revision and current.revision_id != expected_revision:
            raise PolicyNotFoundException(
                f"Resource-based policy not found for the provided ResourceArn: Requested update for policy with "
                f"revision id {expected_revision}, but {_named(arn)[1]} has revision id {current.revision_id}."
            )
        return backend.resource_policies.pop(arn)


# -- state: Kinesis streaming destinations ---------------------------------------------------------
def _kinesis_stream_exists(backend: DynamoDBBackend, stream_arn: str) -> bool:
    from moto.kinesis.models import kinesis_backends

    try:
        kinesis = kinesis_backends[backend.account_id][backend.region_name]
    except KeyError:
        return False
    return any(s.arn == stream_arn for s in list(kinesis.streams.values()))


def _precision(config: dict | None) -> str | None:
    value = (config or {}).get("ApproximateCreationDateTimePrecision")
    if value is not None and value not in TIMESTAMP_PRECISIONS:
        raise MockValidationException(
            f"1 validation error detected: Value '{value}' at 'approximateCreationDateTimePrecision' failed to "
            "satisfy constraint: Member must satisfy enum value set: [MILLISECOND, MICROSECOND]"
        )
    return value


def describe_kinesis_destinations(backend: DynamoDBBackend, table_name: str) -> dict[str, Any]:
    table = find_table(backend, table_name)
    destinations = []
    for stream_arn, dest in list(settings_of(table).kinesis.items()):
        entry = {"StreamArn": stream_arn, "DestinationStatus": dest["status"]}
        if dest.get("precision"):
            entry["ApproximateCreationDateTimePrecision"] = dest["precision"]
        destinations.append(entry)
    return {"TableName": table.name, "KinesisDataStreamDestinations": destinations}


def enable_kinesis_destination(backend: DynamoDBBackend, table_name: str, stream_arn: str, config: dict | None) -> dict[str, Any]:
    precision = _precision(config) or "MILLISECOND"
    table = find_table(backend, table_name)
    if not _kinesis_stream_exists(backend, stream_arn):
        raise ResourceNotFoundException(f"Requested resource not found: Kinesis stream {stream_arn} not found")
    with _lock:
        dests = settings_of(table).kinesis
        if (dests.get(stream_arn) or {}).get("status") == "ACTIVE":
            raise ResourceInUseException(f"Table {table.name} already streams to {stream_arn}")
        dests[stream_arn] = {"status": "ACTIVE", "precision": precision}
    out = {"TableName": table.name, "StreamArn": stream_arn, "DestinationStatus": "ENABLING"}
    if config:
        out["EnableKinesisStreamingConfiguration"] = {"ApproximateCreationDateTimePrecision": precision}
    return out


def disable_kinesis_destination(backend: DynamoDBBackend, table_name: str, stream_arn: str, config: dict | None) -> dict[str, Any]:
    _precision(config)
    table = find_table(backend, table_name)
    with _lock:
        dest = settings_of(table).kinesis.get(stream_arn)
        if dest is None or dest["status"] != "ACTIVE":
            raise ResourceNotFoundException(f"Requested resource not found: Table {table.name} does not stream to {stream_arn}")
        dest["status"] = "DISABLED"
    out = {"TableName": table.name, "StreamArn": stream_arn, "DestinationStatus": "DISABLING"}
    if config:
        out["EnableKinesisStreamingConfiguration"] = dict(config)
    return out


def update_kinesis_destination(backend: DynamoDBBackend, table_name: str, stream_arn: str, config: dict | None) -> dict[str, Any]:
    precision = _precision(config)
    table = find_table(backend, table_name)
    with _lock:
        dest = settings_of(table).kinesis.get(stream_arn)
        if dest is None or dest["status"] != "ACTIVE":
            raise ResourceNotFoundException(f"Requested resource not found: Table {table.name} does not stream to {stream_arn}")
        if precision:
            dest["precision"] = precision
    out = {"TableName": table.name, "StreamArn": stream_arn, "DestinationStatus": "UPDATING"}
    if config:
        out["UpdateKinesisStreamingConfiguration"] = dict(config)
    return out


# -- state: table class, on-demand throughput, warm throughput, streams -----------------------------
def validate_table_options(body: dict) -> None:
    """``TableClass`` and ``OnDemandThroughput`` values AWS would refuse (before anything changes)."""
    table_class = body.get("TableClass")
    if table_class is not None and table_class not in TABLE_CLASSES:
        raise MockValidationException(
            f"1 validation error detected: Value '{table_class}' at 'tableClass' failed to satisfy constraint: "
            "Member must satisfy enum value set: [STANDARD_INFREQUENT_ACCESS, STANDARD]"
        )
    for key, value in (body.get("OnDemandThroughput") or {}).items():
        if not isinstance(value, int) or (value < 1 and value != -1):
            raise MockValidationException(
                f"OnDemandThroughput {key} must be -1 (no maximum) or at least 1, got {value!r}"
            )


#: "Tagging restrictions in DynamoDB" (developer guide,
#: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TaggingRestrictions.html): "The
#: allowed characters are letters, white space, and numbers, plus the following special characters:
#: + - = . _ : /", and the ``aws:`` prefix is AWS's, "which you can't assign".
_TAG_TEXT = re.compile(r"[\w\s+\-=._:/]*")


def validate_tags(tags: list[dict] | None) -> None:
    """Tags AWS would refuse, before anything changes (``TagResource``, ``CreateTable``): characters
    outside DynamoDB's set, or a key or value with the reserved ``aws:`` prefix (the message's
    wording is the sandbox's: AWS documents the rule, not its error text)."""
    for tag in tags or []:
        key, value = str(tag.get("Key", "")), str(tag.get("Value", ""))
        for what, text in (("key", key), ("value", value)):
            if text.lower().startswith("aws:"):
                raise MockValidationException(f"Tag {what} {text!r}: the aws: prefix is reserved for AWS-assigned tags")
            if not _TAG_TEXT.fullmatch(text):
                raise MockValidationException(
                    f"Tag {what} {text!r}: only letters, numbers, white space and + - = . _ : / are allowed")


def set_table_options(table: Any, body: dict, *, previous_warm: dict | None = None) -> None:
    state = settings_of(table)
    with _lock:
        if body.get("TableClass"):
            table.table_class = body["TableClass"]
            state.table_class_updated = _now()
        if body.get("OnDemandThroughput"):
            merged = dict(state.on_demand or {})
            for key, value in body["OnDemandThroughput"].items():
                if value == -1:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            state.on_demand = merged or None
        if body.get("WarmThroughput") and previous_warm:
            table.warm_throughput = {**previous_warm, **body["WarmThroughput"], "Status": "ACTIVE"}


def _describe_with_options(original):
    def describe(self, base_key: str = "TableDescription") -> dict[str, Any]:
        result = original(self, base_key=base_key)
        desc = result[base_key]
        state = self.__dict__.get("_sandbox_settings")
        table_class = getattr(self, "table_class", None)
        if table_class:
            summary: dict[str, Any] = {"TableClass": table_class}
            if state is not None and state.table_class_updated is not None:
                summary["LastUpdateDateTime"] = state.table_class_updated
            desc["TableClassSummary"] = summary
        if state is not None and state.on_demand:
            desc["OnDemandThroughput"] = dict(state.on_demand)
        return result

    return describe


def _remember_stream_label(original):
    def set_stream_specification(self, streams):
        original(self, streams)
        label = self.latest_stream_label
        if label:
            labels = settings_of(self).stream_labels
            if label not in labels:
                labels.append(label)

    return set_stream_specification


def _reenable_streams(original):
    def update_table_streams(self, table, stream_specification):
        enabling = stream_specification.get("StreamEnabled") or stream_specification.get("StreamViewType")
        currently_on = bool((table.stream_specification or {}).get("StreamEnabled"))
        # AWS (UpdateTable, StreamSpecification): "You receive a ValidationException if you try to enable a
        # stream on a table that already has a stream, or if you try to disable a stream on a table that
        # doesn't have a stream" (moto: ResourceInUseException, which callers retry as transient)
        if enabling and currently_on:
            raise MockValidationException(f"Table already has an enabled stream: {table.name}")
        if not enabling and not currently_on:
            raise MockValidationException(f"Table does not have an enabled stream to disable: {table.name}")
        if enabling and table.latest_stream_label and not currently_on:
            # AWS: a table whose stream was disabled can enable a new one (a new label and ARN)
            table.set_stream_specification(dict(stream_specification))
            return
        return original(self, table, stream_specification)

    return update_table_streams


def _merge_attribute_definitions(original):
    """AWS: ``UpdateTable``'s ``AttributeDefinitions`` describe the new index's keys ("If you are adding
    a new global secondary index to the table, AttributeDefinitions must include the key element(s) of
    the new index"); the table's own key definitions stay. moto replaced the table's list with the
    request's: the table lost its key definitions (DescribeTable showed only the index's, and a
    restore of it answered HTTP 500)."""

    def update_table(self, name, attr_definitions, *args, **kwargs):
        if attr_definitions:
            table = self.get_table(name)
            merged = {a["AttributeName"]: a for a in table.attr or []}
            merged.update({a["AttributeName"]: a for a in attr_definitions})
            attr_definitions = list(merged.values())
        return original(self, name, attr_definitions, *args, **kwargs)

    return update_table


def _only_while_enabled(original):
    """A disabled stream takes no more records (its shard stays readable, as AWS keeps a disabled
    stream's records for 24 hours). moto kept writing to it and, with ``StreamViewType`` gone from the
    table's settings, every write to the table answered HTTP 500 until a stream was enabled again."""

    def add(self, old, new):
        table = self.table
        if table.stream_shard is not self or not (table.stream_specification or {}).get("StreamEnabled"):
            return None
        return original(self, old, new)

    return add


def update_time_to_live_allowed(table: Any) -> None:
    """AWS: "Any additional UpdateTimeToLive calls for the same table during this one hour
    duration result in a ValidationException" (``SETTINGS.ttl_change_seconds`` here)."""
    changed = settings_of(table).ttl_changed_at
    if changed is not None and time.monotonic() - changed < SETTINGS.ttl_change_seconds:
        raise MockValidationException(
            f"Time to live has been modified multiple times within a fixed interval for table {table.name}: "
            "wait for the previous change to finish (up to one hour)"
        )


def patch_models() -> None:
    """Patch moto's table and backend with the rules above (called once, by ``table_settings.install``)."""
    from moto.dynamodb.models import table as table_mod

    table_mod.Table.describe = _describe_with_options(table_mod.Table.describe)
    table_mod.Table.set_stream_specification = _remember_stream_label(table_mod.Table.set_stream_specification)
    DynamoDBBackend.update_table_streams = _reenable_streams(DynamoDBBackend.update_table_streams)
    DynamoDBBackend.update_table = _merge_attribute_definitions(DynamoDBBackend.update_table)
    table_mod.StreamShard.add = _only_while_enabled(table_mod.StreamShard.add)

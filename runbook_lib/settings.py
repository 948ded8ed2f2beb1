"""Table settings a point-in-time restore does not carry over: read them, diff them, re-apply them.

A restored table gets the source's key schema, indexes, billing mode and throughput, and nothing
else that an operator usually relies on: no TTL, no stream, no PITR, no tags, no deletion
protection, no auto scaling, no alarms, no contributor insights, no resource policy. The runbook
records those settings before the restore (:func:`snapshot`, shown by ``00_preflight``) and
re-applies them to the restored table as a reviewed diff (``05_cutover``):

>>> snap = snapshot(target, "orders")
>>> plan = diff(target, snap, "orders-restored")
>>> plan.to_dataframe()                        # review: setting, current, desired, API call
>>> plan = apply(target, plan, execute=True)   # applies; plan.stream_arn is the new stream
>>> diff(target, snap, "orders-restored").empty
True

Rules the diff follows, so that what it proposes is safe to apply at 3 a.m.:

- it only adds or aligns what the source had; it never disables a protection (PITR, deletion
  protection) or removes a tag, policy or alarm that is on the target and not on the source;
- it changes a value only where the value differs (stream view type, TTL attribute, PITR
  recovery period, tag value, auto scaling bounds, alarm definition);
- a setting the snapshot could not read (an API the caller may not call, or that an emulator does
  not implement) is not guessed: it is listed in ``plan.notes``;
- SSE is reported, not changed: set it at restore time with ``SSESpecificationOverride``.

:func:`apply` re-reads the target and applies only the reviewed changes that are still needed,
so applying the same plan twice, or applying a plan after someone fixed a setting by hand, is a
no-op for what is already in place. The snapshot is a JSON-ready dict and never holds item data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from botocore import xform_name
from botocore.exceptions import ClientError

from .aws.clients import AwsTarget
from .aws.codes import error_code, error_message
from .aws.tables import describe_table, optional_client, validate_table_name, wait_table_active
from .errors import InputError, PreconditionError

log = logging.getLogger(__name__)

SNAPSHOT_VERSION = 1

#: DynamoDB table names: 3 to 255 characters of a-z, A-Z, 0-9, '_', '-', '.'.

#: Stands for the restored table's stream ARN in a planned call until the stream exists.
STREAM_ARN_TOKEN = "${TargetStreamArn}"

#: CloudWatch alarms that Application Auto Scaling owns: re-created by the copied policies.
_AUTOSCALING_ALARM_PREFIX = "TargetTracking-"

_ALARM_KEYS = (
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
)

#: Every AWS call the snapshot, diff and apply make, by the setting it reads or sets:
#: (service, operation). The one list: ``READ_APIS`` (the remedies' permissions) derives from
#: it, a :class:`Step` may only plan a call listed here, and ``tests/sandbox/test_settings_api.py``
#: records the calls the code really makes against it and drives each one against the sandbox.
API_CALLS: dict[str, tuple[tuple[str, str], ...]] = {
    "table": (("dynamodb", "DescribeTable"), ("dynamodb", "UpdateTable")),
    "ttl": (("dynamodb", "DescribeTimeToLive"), ("dynamodb", "UpdateTimeToLive")),
    "pitr": (("dynamodb", "DescribeContinuousBackups"), ("dynamodb", "UpdateContinuousBackups")),
    "tags": (("dynamodb", "ListTagsOfResource"), ("dynamodb", "TagResource")),
    "autoscaling": (
        ("application-autoscaling", "DescribeScalableTargets"),
        ("application-autoscaling", "DescribeScalingPolicies"),
        ("application-autoscaling", "RegisterScalableTarget"),
        ("application-autoscaling", "PutScalingPolicy"),
    ),
    "alarms": (("cloudwatch", "DescribeAlarms"), ("cloudwatch", "PutMetricAlarm")),
    "contributor_insights": (
        ("dynamodb", "DescribeContributorInsights"),
        ("dynamodb", "UpdateContributorInsights"),
    ),
    "resource_policy": (("dynamodb", "GetResourcePolicy"), ("dynamodb", "PutResourcePolicy")),
    "stream_resource_policy": (("dynamodb", "GetResourcePolicy"), ("dynamodb", "PutResourcePolicy")),
    "kinesis_destinations": (
        ("dynamodb", "DescribeKinesisStreamingDestination"),
        ("dynamodb", "EnableKinesisStreamingDestination"),
    ),
}

_READ_PREFIXES = ("Describe", "Get", "List")
_ALL_CALLS = frozenset(call for calls in API_CALLS.values() for call in calls)


def _is_read(operation: str) -> bool:
    return operation.startswith(_READ_PREFIXES)


#: Human labels of the settings a snapshot reads, used in rows and notes.
LABELS = {
    "ttl": "TTL",
    "pitr": "point-in-time recovery",
    "tags": "tags",
    "autoscaling": "auto scaling targets and policies",
    "alarms": "CloudWatch alarms",
    "contributor_insights": "contributor insights",
    "resource_policy": "resource policy",
    "stream_resource_policy": "stream resource policy",
    "kinesis_destinations": "Kinesis streaming destinations",
}

#: The permission(s) each optional read needs, named in remedies (from :data:`API_CALLS`).
READ_APIS = {
    setting: " and ".join(f"{service}:{op}" for service, op in calls if _is_read(op))
    for setting, calls in API_CALLS.items()
    if setting != "table"
}


def iso_time(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    return str(value)


def _jsonable(value: Any) -> Any:
    """Datetimes to ISO strings, recursively: what a snapshot and a plan hold must dump as JSON."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return iso_time(value)
    return value


class _Reads:
    """Runs optional reads, recording each failure's error code under its setting."""

    def __init__(self) -> None:
        self.unreadable: dict[str, str] = {}

    def __call__(self, setting: str, fn: Callable[[], Any], *, absent: Iterable[str] = ()) -> Any:
        try:
            return fn()
        except ClientError as err:
            code = error_code(err)
            if code in absent:
                return None
            self.unreadable[setting] = code
            log.warning("could not read %s: %s", LABELS.get(setting, setting), code)
            return _UNREAD


_UNREAD = object()


# -- snapshot -------------------------------------------------------------------------------
def snapshot(target: AwsTarget, table: str) -> dict[str, Any]:
    """Read every setting of ``table`` that a point-in-time restore does not carry over.

    Returns a JSON-ready dict (no item data). A setting that could not be read is ``None`` and
    its error code is under ``unreadable``; :func:`diff` will not guess it. Raises
    :class:`InputError` for a malformed name and :class:`PreconditionError` if the table is missing.
    """
    validate_table_name(table, param="table")
    ddb = target.client("dynamodb")
    opt_ddb = optional_client(target, "dynamodb")
    desc = describe_table(target, table, client=ddb)
    arn = desc["TableArn"]
    reads = _Reads()

    gsis = [g["IndexName"] for g in desc.get("GlobalSecondaryIndexes") or []]
    billing = (desc.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
    stream_spec = desc.get("StreamSpecification") or {}
    stream_on = bool(stream_spec.get("StreamEnabled"))
    stream_arn = desc.get("LatestStreamArn") if stream_on else None
    sse = desc.get("SSEDescription") or {}

    snap: dict[str, Any] = {
        "version": SNAPSHOT_VERSION,
        "table": table,
        "table_arn": arn,
        "region": target.region_name,
        "taken_at": iso_time(datetime.now(timezone.utc)),
        "billing_mode": billing,
        "provisioned_throughput": _throughput(desc.get("ProvisionedThroughput")) if billing == "PROVISIONED" else None,
        "on_demand_throughput": desc.get("OnDemandThroughput"),
        "warm_throughput": _warm(desc.get("WarmThroughput")),
        "indexes": {
            "global": [
                {
                    "name": g["IndexName"],
                    "provisioned_throughput": _throughput(g.get("ProvisionedThroughput"))
                    if billing == "PROVISIONED"
                    else None,
                }
                for g in desc.get("GlobalSecondaryIndexes") or []
            ],
            "local": [i["IndexName"] for i in desc.get("LocalSecondaryIndexes") or []],
        },
        # DescribeTable omits TableClassSummary for tables that never set one: STANDARD.
        "table_class": (desc.get("TableClassSummary") or {}).get("TableClass") or "STANDARD",
        "sse": (
            {"type": sse.get("SSEType") or "KMS", "kms_key_arn": sse.get("KMSMasterKeyArn")}
            if sse.get("Status") in ("ENABLED", "UPDATING")
            else {"type": "AWS_OWNED", "kms_key_arn": None}
        ),
        "deletion_protection": bool(desc.get("DeletionProtectionEnabled")),
        "stream": {
            "enabled": stream_on,
            "view_type": stream_spec.get("StreamViewType") if stream_on else None,
            "arn": stream_arn,
        },
        "replicas": [r.get("RegionName") for r in desc.get("Replicas") or []],
    }

    snap["ttl"] = _read_ttl(reads, opt_ddb, table)
    snap["pitr"] = _read_pitr(reads, opt_ddb, table)
    snap["tags"] = _read_tags(reads, opt_ddb, arn)
    snap["autoscaling"] = _read_autoscaling(reads, optional_client(target, "application-autoscaling"), table, gsis)
    snap["alarms"] = _read_alarms(reads, optional_client(target, "cloudwatch"), table)
    snap["contributor_insights"] = _read_contributor_insights(reads, opt_ddb, table, gsis)
    snap["resource_policy"] = _read_policy(reads, opt_ddb, "resource_policy", arn)
    snap["stream_resource_policy"] = (
        _read_policy(reads, opt_ddb, "stream_resource_policy", stream_arn) if stream_arn else None
    )
    snap["kinesis_destinations"] = _read_kinesis(reads, opt_ddb, table)
    snap["unreadable"] = dict(reads.unreadable)
    log.info(
        "snapshot of %s: %d setting group(s) unreadable", table, len(reads.unreadable)
    )
    return _jsonable(snap)


def _warm(warm: dict | None) -> dict | None:
    """``WarmThroughput`` without its status: the read and write units per second."""
    if not warm:
        return None
    return {k: int(warm[k]) for k in ("ReadUnitsPerSecond", "WriteUnitsPerSecond") if warm.get(k) is not None} or None


#: Kinesis destinations that stream (or are about to): the ones a restored table should get too.
_KINESIS_ON = ("ENABLING", "ACTIVE", "UPDATING")


def _kinesis_destinations(ddb, table: str) -> list[dict]:
    answer = ddb.describe_kinesis_streaming_destination(TableName=table)
    return sorted(
        (
            {
                "stream_arn": d["StreamArn"],
                "status": d.get("DestinationStatus"),
                "precision": d.get("ApproximateCreationDateTimePrecision"),
            }
            for d in answer.get("KinesisDataStreamDestinations") or []
        ),
        key=lambda d: d["stream_arn"],
    )


def _read_kinesis(reads: "_Reads", ddb, table: str) -> list | None:
    res = reads("kinesis_destinations", lambda: [d for d in _kinesis_destinations(ddb, table) if d["status"] in _KINESIS_ON])
    return None if res is _UNREAD else res


def _throughput(pt: dict | None) -> dict | None:
    if not pt:
        return None
    return {"read": int(pt.get("ReadCapacityUnits") or 0), "write": int(pt.get("WriteCapacityUnits") or 0)}


def _read_ttl(reads: _Reads, ddb, table: str) -> dict | None:
    res = reads("ttl", lambda: ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"])
    if res is _UNREAD:
        return None
    return _ttl_view(res)


def _ttl_view(ttl_desc: dict) -> dict:
    status = ttl_desc.get("TimeToLiveStatus") or "DISABLED"
    return {
        "enabled": status in ("ENABLED", "ENABLING"),
        "status": status,
        "attribute": ttl_desc.get("AttributeName"),
    }


def _read_pitr(reads: _Reads, ddb, table: str) -> dict | None:
    res = reads("pitr", lambda: ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"])
    if res is _UNREAD:
        return None
    return _pitr_view(res)


def _pitr_view(cb: dict) -> dict:
    p = cb.get("PointInTimeRecoveryDescription") or {}
    return {
        "enabled": p.get("PointInTimeRecoveryStatus") in ("ENABLED", "ENABLING"),
        "status": p.get("PointInTimeRecoveryStatus") or "DISABLED",
        "recovery_period_days": p.get("RecoveryPeriodInDays"),
        "earliest_restorable": iso_time(p.get("EarliestRestorableDateTime")),
        "latest_restorable": iso_time(p.get("LatestRestorableDateTime")),
    }


def _list_tags(ddb, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    kwargs: dict[str, Any] = {"ResourceArn": arn}
    while True:
        page = ddb.list_tags_of_resource(**kwargs)
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags") or []})
        if not page.get("NextToken"):
            return tags
        kwargs["NextToken"] = page["NextToken"]


def _read_tags(reads: _Reads, ddb, arn: str) -> dict | None:
    res = reads("tags", lambda: _list_tags(ddb, arn))
    return None if res is _UNREAD else res


def _resource_ids(table: str, gsis: Iterable[str]) -> list[str]:
    return [f"table/{table}"] + [f"table/{table}/index/{g}" for g in gsis]


def _scalable_targets(aas, resource_ids: list[str]) -> list[dict]:
    out: list[dict] = []
    for i in range(0, len(resource_ids), 50):  # ResourceIds takes at most 50
        for page in aas.get_paginator("describe_scalable_targets").paginate(
            ServiceNamespace="dynamodb", ResourceIds=resource_ids[i : i + 50]
        ):
            for t in page.get("ScalableTargets") or []:
                out.append(
                    {
                        "resource_id": t["ResourceId"],
                        "dimension": t["ScalableDimension"],
                        "min": t["MinCapacity"],
                        "max": t["MaxCapacity"],
                        "suspended": t.get("SuspendedState"),
                    }
                )
    return sorted(out, key=lambda t: (t["resource_id"], t["dimension"]))


def _scaling_policies(aas, resource_ids: list[str]) -> list[dict]:
    out: list[dict] = []
    for rid in resource_ids:
        for page in aas.get_paginator("describe_scaling_policies").paginate(
            ServiceNamespace="dynamodb", ResourceId=rid
        ):
            for p in page.get("ScalingPolicies") or []:
                config = p.get("TargetTrackingScalingPolicyConfiguration") or p.get(
                    "StepScalingPolicyConfiguration"
                )
                out.append(
                    {
                        "name": p["PolicyName"],
                        "resource_id": p["ResourceId"],
                        "dimension": p["ScalableDimension"],
                        "type": p["PolicyType"],
                        "config": config,
                    }
                )
    return sorted(out, key=lambda p: (p["resource_id"], p["dimension"], p["name"]))


def _read_autoscaling(reads: _Reads, aas, table: str, gsis: list[str]) -> dict | None:
    ids = _resource_ids(table, gsis)
    res = reads(
        "autoscaling",
        lambda: {"targets": _scalable_targets(aas, ids), "policies": _scaling_policies(aas, ids)},
    )
    return None if res is _UNREAD else res


def _alarm_dimensions(alarm: dict) -> list[list[dict]]:
    dims = [alarm.get("Dimensions") or []]
    for m in alarm.get("Metrics") or []:
        dims.append(((m.get("MetricStat") or {}).get("Metric") or {}).get("Dimensions") or [])
    return dims


def _names_table(alarm: dict, table: str) -> bool:
    return any(
        d.get("Name") == "TableName" and d.get("Value") == table for ds in _alarm_dimensions(alarm) for d in ds
    )


def _alarm_params(alarm: dict) -> dict:
    """The ``PutMetricAlarm`` arguments that re-create ``alarm`` (a DescribeAlarms entry)."""
    out: dict[str, Any] = {}
    for key in _ALARM_KEYS:
        value = alarm.get(key)
        if value is None or value == [] or value == "":
            continue
        out[key] = value
    return _jsonable(out)


def _describe_metric_alarms(cw, **kwargs) -> list[dict]:
    alarms: list[dict] = []
    for page in cw.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"], **kwargs):
        alarms.extend(page.get("MetricAlarms") or [])
    return alarms


def _read_alarms(reads: _Reads, cw, table: str) -> list | None:
    def read() -> list[dict]:
        out = []
        for a in _describe_metric_alarms(cw):
            if a["AlarmName"].startswith(_AUTOSCALING_ALARM_PREFIX) or not _names_table(a, table):
                continue
            params = _alarm_params(a)
            out.append(
                {
                    "name": a["AlarmName"],
                    "params": params,
                    "stream_label": any(d.get("Name") == "StreamLabel" for ds in _alarm_dimensions(a) for d in ds),
                }
            )
        return sorted(out, key=lambda a: a["name"])

    res = reads("alarms", read)
    return None if res is _UNREAD else res


def _read_contributor_insights(reads: _Reads, ddb, table: str, gsis: list[str]) -> dict | None:
    def one(index: str | None) -> dict:
        kwargs = {"TableName": table} | ({"IndexName": index} if index else {})
        r = ddb.describe_contributor_insights(**kwargs)
        status = r.get("ContributorInsightsStatus") or "DISABLED"
        return {"status": status, "enabled": status in ("ENABLED", "ENABLING"), "mode": r.get("ContributorInsightsMode")}

    res = reads("contributor_insights", lambda: {"table": one(None), "indexes": {g: one(g) for g in gsis}})
    return None if res is _UNREAD else res


def _read_policy(reads: _Reads, ddb, setting: str, arn: str) -> str | None:
    res = reads(
        setting,
        lambda: ddb.get_resource_policy(ResourceArn=arn).get("Policy"),
        # Only PolicyNotFoundException means "no policy" (AWS, GetResourcePolicy); anything else,
        # ResourceNotFoundException (the table or stream is gone) or AccessDeniedException
        # included, is a read that failed and is reported as such.
        absent=("PolicyNotFoundException",),
    )
    return None if res is _UNREAD else res


def summarize(snap: dict) -> str:
    """One line: what a restore will not carry over, as ``settings to re-apply`` in preflight."""
    parts = []
    ttl = snap.get("ttl")
    if ttl is not None:
        parts.append(f"TTL on ({ttl['attribute']})" if ttl["enabled"] else "TTL off")
    stream = snap["stream"]
    parts.append(f"stream {stream['view_type']}" if stream["enabled"] else "stream off")
    pitr = snap.get("pitr")
    if pitr is not None:
        if pitr["enabled"]:
            days = pitr.get("recovery_period_days")
            parts.append(f"PITR on ({days} days)" if days else "PITR on")
        else:
            parts.append("PITR off")
    if snap.get("tags") is not None:
        parts.append(f"{len(snap['tags'])} tag(s)")
    parts.append("deletion protection " + ("on" if snap["deletion_protection"] else "off"))
    auto = snap.get("autoscaling")
    if auto is not None:
        parts.append(f"{len(auto['targets'])} auto scaling target(s), {len(auto['policies'])} policy(ies)")
    if snap.get("alarms") is not None:
        parts.append(f"{len(snap['alarms'])} alarm(s)")
    ci = snap.get("contributor_insights")
    if ci is not None:
        on = int(ci["table"]["enabled"]) + sum(int(i["enabled"]) for i in ci["indexes"].values())
        parts.append(f"contributor insights on for {on} table/index(es)")
    if snap.get("kinesis_destinations"):
        parts.append(f"{len(snap['kinesis_destinations'])} Kinesis streaming destination(s)")
    if "resource_policy" not in snap.get("unreadable", {}):
        parts.append("resource policy" if snap.get("resource_policy") else "no resource policy")
    parts.append(f"table class {snap['table_class']}")
    sse = snap["sse"]
    parts.append("SSE " + ("AWS owned key" if sse["type"] == "AWS_OWNED" else f"{sse['type']} key"))
    parts.append(f"billing {snap['billing_mode']}")
    unread = snap.get("unreadable") or {}
    if unread:
        parts.append("not read: " + ", ".join(LABELS.get(k, k) for k in sorted(unread)))
    return "; ".join(parts)


# -- plan -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One API call of a change. ``wait_active``: the table must be ACTIVE before and after."""

    service: str
    operation: str  # the API's name, e.g. "UpdateTimeToLive"
    params: dict
    wait_active: bool = False

    def __post_init__(self) -> None:
        if (self.service, self.operation) not in _ALL_CALLS:
            raise ValueError(f"{self.service}:{self.operation} is not in settings.API_CALLS: add it there (and to its test)")

    def render(self) -> str:
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.params.items())
        return f"{self.operation}({args})"


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Change:
    """One setting to change on the restored table, and the API call(s) that change it."""

    setting: str
    current: Any
    desired: Any
    api_call: str
    steps: tuple[Step, ...] = field(default=(), repr=False, compare=False)
    #: ``planned`` (dry run), ``applied``, ``already in place`` or ``failed``
    status: str = "planned"
    error: str | None = None


@dataclass(frozen=True)
class SettingsPlan:
    """The reviewed diff between a snapshot and the restored table (see :func:`diff`)."""

    source_table: str
    target_table: str
    changes: tuple[Change, ...]
    notes: tuple[str, ...] = ()
    executed: bool = False
    #: the restored table's stream ARN (new when :func:`apply` enabled the stream)
    stream_arn: str | None = None
    snapshot: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def empty(self) -> bool:
        return not self.changes

    def __len__(self) -> int:
        return len(self.changes)

    @property
    def failed(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.status == "failed")

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dataframe(self):
        import pandas as pd

        rows = [
            {
                "setting": c.setting,
                "current": "" if c.current is None else _short(c.current, 200),
                "desired": "" if c.desired is None else _short(c.desired, 200),
                "api_call": c.api_call,
                "status": c.status,
                "error": c.error or "",
            }
            for c in self.changes
        ]
        return pd.DataFrame(rows, columns=["setting", "current", "desired", "api_call", "status", "error"])

    def to_dict(self) -> dict:
        return _jsonable(
            {
                "source_table": self.source_table,
                "target_table": self.target_table,
                "executed": self.executed,
                "stream_arn": self.stream_arn,
                "notes": list(self.notes),
                "changes": [
                    {
                        "setting": c.setting,
                        "current": c.current,
                        "desired": c.desired,
                        "api_call": c.api_call,
                        "status": c.status,
                        "error": c.error,
                    }
                    for c in self.changes
                ],
            }
        )

    def raise_for_failures(self) -> None:
        if self.failed:
            lines = "; ".join(f"{c.setting}: {c.error}" for c in self.failed)
            err = PreconditionError(
                f"{len(self.failed)} setting(s) could not be applied to {self.target_table}: {lines}. "
                "Fix the cause (permissions, a pending table update), then run diff and apply again",
                table=self.target_table,
                step="settings",
                code=self.failed[0].error.split(":")[0] if self.failed[0].error else None,
            )
            err.plan = self  # type: ignore[attr-defined]
            raise err


def derived_alarm_name(name: str, source_table: str, target_table: str) -> str:
    """The copied alarm's name: the source table's name replaced by the target's, else suffixed.

    Deterministic, so re-running :func:`diff` finds the copy it made before. At most 255 characters.
    """
    new = name.replace(source_table, target_table) if source_table in name else f"{name}-{target_table}"
    if len(new) > 255:
        digest = hashlib.sha256(new.encode()).hexdigest()[:8]
        new = new[:246] + "-" + digest
    return new


def _rewrite_dims(dims: list[dict], source: str, target: str) -> list[dict]:
    return [
        {**d, "Value": target} if d.get("Name") == "TableName" and d.get("Value") == source else d for d in dims
    ]


def _rewrite_alarm(params: dict, source: str, target: str, name: str) -> dict:
    out = json.loads(json.dumps(params))
    if "Dimensions" in out:
        out["Dimensions"] = _rewrite_dims(out["Dimensions"], source, target)
    for m in out.get("Metrics") or []:
        metric = (m.get("MetricStat") or {}).get("Metric")
        if metric and "Dimensions" in metric:
            metric["Dimensions"] = _rewrite_dims(metric["Dimensions"], source, target)
    return {"AlarmName": name, **out}


def _rewrite_arn(text: str, source_arn: str, target_arn: str) -> str:
    """Replace ``source_arn`` where it stands as a whole ARN or an ARN prefix (``/...``, ``*``)."""
    return re.sub(re.escape(source_arn) + r'(?=["/*]|$)', target_arn.replace("\\", r"\\"), text)


def _policy_equal(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return a == b


def _norm(value: Any) -> Any:
    """Compare structures loosely: numbers by value, lists of dicts in any order."""
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if v is not None and v != [] and v != ""}
    if isinstance(value, (list, tuple)):
        items = [_norm(v) for v in value]
        try:
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
        except TypeError:
            return items
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


# -- diff -----------------------------------------------------------------------------------
def diff(target: AwsTarget, snap: dict, target_table: str) -> SettingsPlan:
    """The changes that make ``target_table`` carry the settings recorded in ``snap``.

    Reads only; changes nothing. Raises :class:`InputError` for a malformed name or snapshot and
    :class:`PreconditionError` if the target table does not exist (restore it first).
    """
    validate_table_name(target_table, param="target_table")
    if not isinstance(snap, dict) or snap.get("version") != SNAPSHOT_VERSION or "table" not in snap:
        raise InputError(
            "the settings snapshot is missing or from another version: take it again with "
            "settings.snapshot(target, source_table) (00_preflight stores it in state.json)",
            table=target_table,
            step="settings",
        )
    source = snap["table"]
    ddb = target.client("dynamodb")
    opt_ddb = optional_client(target, "dynamodb")
    desc = describe_table(target, target_table, client=ddb)
    tgt_arn = desc["TableArn"]
    src_arn = snap["table_arn"]
    unread = snap.get("unreadable") or {}
    notes: list[str] = [
        f"{LABELS.get(k, k)} of {source} could not be read ({code}): not copied; check it by hand"
        for k, code in sorted(unread.items())
    ]
    changes: list[Change] = []
    reads = _Reads()

    def add(setting: str, current: Any, desired: Any, *steps: Step) -> None:
        changes.append(
            Change(
                setting=setting,
                current=_jsonable(current),
                desired=_jsonable(desired),
                api_call=" then ".join(s.render() for s in steps),
                steps=tuple(steps),
            )
        )

    # deletion protection: enable only
    if snap.get("deletion_protection") and not desc.get("DeletionProtectionEnabled"):
        add(
            "deletion_protection",
            False,
            True,
            Step("dynamodb", "UpdateTable", {"TableName": target_table, "DeletionProtectionEnabled": True}, True),
        )
    elif not snap.get("deletion_protection") and desc.get("DeletionProtectionEnabled"):
        notes.append(f"deletion protection is on for {target_table} and was off for {source}: left on")

    # table class
    tgt_class = (desc.get("TableClassSummary") or {}).get("TableClass") or "STANDARD"
    if snap.get("table_class") and snap["table_class"] != tgt_class:
        add(
            "table_class",
            tgt_class,
            snap["table_class"],
            Step("dynamodb", "UpdateTable", {"TableName": target_table, "TableClass": snap["table_class"]}, True),
        )

    _diff_billing(snap, desc, target_table, add, notes)
    _diff_throughput_limits(snap, desc, target_table, add)

    # SSE: reported, not changed
    tgt_sse = desc.get("SSEDescription") or {}
    tgt_key = tgt_sse.get("KMSMasterKeyArn") if tgt_sse.get("Status") in ("ENABLED", "UPDATING") else None
    if (snap.get("sse") or {}).get("kms_key_arn") != tgt_key:
        notes.append(
            f"encryption differs: {source} uses "
            + (f"KMS key {snap['sse']['kms_key_arn']}" if snap["sse"].get("kms_key_arn") else "the AWS owned key")
            + f", {target_table} uses "
            + (f"KMS key {tgt_key}" if tgt_key else "the AWS owned key")
            + ": pass SSESpecificationOverride to RestoreTableToPointInTime, or UpdateTable SSESpecification"
        )

    # stream
    src_stream = snap["stream"]
    tgt_spec = desc.get("StreamSpecification") or {}
    tgt_stream_on = bool(tgt_spec.get("StreamEnabled"))
    tgt_view = tgt_spec.get("StreamViewType") if tgt_stream_on else None
    stream_arn = desc.get("LatestStreamArn") if tgt_stream_on else None
    stream_planned = False
    if src_stream["enabled"] and tgt_view != src_stream["view_type"]:
        enable = Step(
            "dynamodb",
            "UpdateTable",
            {
                "TableName": target_table,
                "StreamSpecification": {"StreamEnabled": True, "StreamViewType": src_stream["view_type"]},
            },
            True,
        )
        steps = [enable]
        if tgt_stream_on:  # a view type cannot change in place: disable, then enable (a new ARN)
            steps.insert(
                0,
                Step("dynamodb", "UpdateTable", {"TableName": target_table, "StreamSpecification": {"StreamEnabled": False}}, True),
            )
        add(
            "stream",
            {"enabled": tgt_stream_on, "view_type": tgt_view},
            {"enabled": True, "view_type": src_stream["view_type"]},
            *steps,
        )
        stream_planned = True

    # TTL
    src_ttl = snap.get("ttl")
    if src_ttl is not None and src_ttl["enabled"]:
        cur = reads("ttl", lambda: _ttl_view(opt_ddb.describe_time_to_live(TableName=target_table)["TimeToLiveDescription"]))
        cur_view = None if cur is _UNREAD else cur
        if cur_view is not None and cur_view["enabled"] and cur_view["attribute"] != src_ttl["attribute"]:
            # AWS refuses any UpdateTimeToLive on a table for up to an hour after the last one
            # (ValidationException), so a switch of attribute is two applies an hour apart.
            add(
                "ttl",
                {"enabled": True, "attribute": cur_view["attribute"]},
                {"enabled": False, "attribute": cur_view["attribute"]},
                Step(
                    "dynamodb",
                    "UpdateTimeToLive",
                    {"TableName": target_table, "TimeToLiveSpecification": {"Enabled": False, "AttributeName": cur_view["attribute"]}},
                ),
            )
            notes.append(
                f"TTL of {target_table} is on attribute {cur_view['attribute']}, {source}'s on {src_ttl['attribute']}: "
                "this plan disables it; AWS refuses another UpdateTimeToLive on the table for up to an hour, so run "
                f"diff and apply again after that to enable it on {src_ttl['attribute']}"
            )
        elif cur_view is None or not cur_view["enabled"]:
            add(
                "ttl",
                cur_view and {"enabled": cur_view["enabled"], "attribute": cur_view["attribute"]},
                {"enabled": True, "attribute": src_ttl["attribute"]},
                Step(
                    "dynamodb",
                    "UpdateTimeToLive",
                    {"TableName": target_table, "TimeToLiveSpecification": {"Enabled": True, "AttributeName": src_ttl["attribute"]}},
                ),
            )

    # PITR: enable, or align the recovery period; never disable
    src_pitr = snap.get("pitr")
    if src_pitr is not None and src_pitr["enabled"]:
        cur = reads("pitr", lambda: _pitr_view(opt_ddb.describe_continuous_backups(TableName=target_table)["ContinuousBackupsDescription"]))
        cur_view = None if cur is _UNREAD else cur
        want_days = src_pitr.get("recovery_period_days")
        if (
            cur_view is None
            or not cur_view["enabled"]
            or (want_days and cur_view.get("recovery_period_days") != want_days)
        ):
            spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": True}
            if want_days:
                spec["RecoveryPeriodInDays"] = want_days
            add(
                "pitr",
                cur_view and {"enabled": cur_view["enabled"], "recovery_period_days": cur_view.get("recovery_period_days")},
                {"enabled": True, "recovery_period_days": want_days},
                Step("dynamodb", "UpdateContinuousBackups", {"TableName": target_table, "PointInTimeRecoverySpecification": spec}),
            )

    # tags: add missing, align values; aws: tags are reserved
    src_tags = {k: v for k, v in (snap.get("tags") or {}).items() if not k.startswith("aws:")}
    if src_tags:
        cur = reads("tags", lambda: _list_tags(opt_ddb, tgt_arn))
        cur_tags = {} if cur is _UNREAD else cur
        missing = {k: v for k, v in src_tags.items() if cur_tags.get(k) != v}
        if missing:
            add(
                "tags",
                {k: cur_tags[k] for k in missing if k in cur_tags},
                missing,
                Step("dynamodb", "TagResource", {"ResourceArn": tgt_arn, "Tags": [{"Key": k, "Value": v} for k, v in sorted(missing.items())]}),
            )

    # resource policy (table), ARN rewritten
    if snap.get("resource_policy"):
        desired_policy = _rewrite_arn(snap["resource_policy"], src_arn, tgt_arn)
        cur = reads(
            "resource_policy",
            lambda: opt_ddb.get_resource_policy(ResourceArn=tgt_arn).get("Policy"),
            absent=("PolicyNotFoundException",),
        )
        cur_policy = None if cur is _UNREAD else cur
        if not _policy_equal(cur_policy, desired_policy):
            add(
                "resource_policy",
                cur_policy,
                desired_policy,
                Step("dynamodb", "PutResourcePolicy", {"ResourceArn": tgt_arn, "Policy": desired_policy}),
            )

    # stream resource policy: on the new stream, once it exists
    if snap.get("stream_resource_policy") and src_stream.get("arn"):
        new_stream = STREAM_ARN_TOKEN if stream_planned or not stream_arn else stream_arn
        desired_policy = _rewrite_arn(snap["stream_resource_policy"], src_stream["arn"], new_stream)
        desired_policy = _rewrite_arn(desired_policy, src_arn, tgt_arn)
        cur_policy = None
        if new_stream != STREAM_ARN_TOKEN:
            cur = reads(
                "stream_resource_policy",
                lambda: opt_ddb.get_resource_policy(ResourceArn=new_stream).get("Policy"),
                absent=("PolicyNotFoundException",),
            )
            cur_policy = None if cur is _UNREAD else cur
        if not _policy_equal(cur_policy, desired_policy):
            add(
                "stream_resource_policy",
                cur_policy,
                desired_policy,
                Step("dynamodb", "PutResourcePolicy", {"ResourceArn": new_stream, "Policy": desired_policy}),
            )

    # contributor insights: enable where the source had it
    ci = snap.get("contributor_insights")
    if ci is not None:
        wanted = [(None, ci["table"])] + [(g, v) for g, v in sorted(ci["indexes"].items())]
        tgt_gsis = {g["IndexName"] for g in desc.get("GlobalSecondaryIndexes") or []}
        for index, state in wanted:
            if not state["enabled"]:
                continue
            if index is not None and index not in tgt_gsis:
                notes.append(f"index {index} is not on {target_table}: its contributor insights are not copied")
                continue
            kwargs = {"TableName": target_table} | ({"IndexName": index} if index else {})
            cur = reads("contributor_insights", lambda: opt_ddb.describe_contributor_insights(**kwargs))
            cur_status = None if cur is _UNREAD else (cur.get("ContributorInsightsStatus") or "DISABLED")
            if cur_status not in ("ENABLED", "ENABLING"):
                params = {**kwargs, "ContributorInsightsAction": "ENABLE"}
                if state.get("mode"):
                    params["ContributorInsightsMode"] = state["mode"]
                add(
                    "contributor_insights" + (f":index/{index}" if index else ":table"),
                    cur_status,
                    "ENABLED",
                    Step("dynamodb", "UpdateContributorInsights", params),
                )

    # Kinesis streaming destinations: the target streams where the source streamed
    wanted_kinesis = snap.get("kinesis_destinations") or []
    if wanted_kinesis:
        cur = reads("kinesis_destinations", lambda: _kinesis_destinations(opt_ddb, target_table))
        have = {} if cur is _UNREAD else {d["stream_arn"]: d for d in cur}
        for d in wanted_kinesis:
            if (have.get(d["stream_arn"]) or {}).get("status") in _KINESIS_ON:
                continue
            params: dict[str, Any] = {"TableName": target_table, "StreamArn": d["stream_arn"]}
            if d.get("precision"):
                params["EnableKinesisStreamingConfiguration"] = {"ApproximateCreationDateTimePrecision": d["precision"]}
            add(
                f"kinesis_destination:{d['stream_arn']}",
                (have.get(d["stream_arn"]) or {}).get("status"),
                "ACTIVE",
                Step("dynamodb", "EnableKinesisStreamingDestination", params),
            )
            notes.append(
                f"{target_table} will stream to {d['stream_arn']} like {source}: until {source}'s destination is "
                "disabled, that stream carries the changes of both tables"
            )

    _diff_autoscaling(target, snap, target_table, reads, add, notes)
    _diff_alarms(target, snap, target_table, reads, add, notes)

    for k, code in sorted(reads.unreadable.items()):
        notes.append(f"{LABELS.get(k, k)} of {target_table} could not be read ({code}): planned as if absent")

    plan = SettingsPlan(
        source_table=source,
        target_table=target_table,
        changes=tuple(changes),
        notes=tuple(notes),
        stream_arn=stream_arn,
        snapshot=snap,
    )
    log.info("settings diff %s -> %s: %d change(s)", source, target_table, len(changes))
    return plan


def _diff_billing(snap: dict, desc: dict, target_table: str, add, notes: list[str]) -> None:
    src_mode = snap.get("billing_mode")
    tgt_mode = (desc.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
    if not src_mode:
        return
    scaled = any(
        t["resource_id"] == f"table/{snap['table']}" for t in ((snap.get("autoscaling") or {}).get("targets") or [])
    )
    if src_mode != tgt_mode:
        params: dict[str, Any] = {"TableName": target_table, "BillingMode": src_mode}
        if src_mode == "PROVISIONED":
            pt = snap.get("provisioned_throughput") or {"read": 5, "write": 5}
            params["ProvisionedThroughput"] = {"ReadCapacityUnits": pt["read"], "WriteCapacityUnits": pt["write"]}
            tgt_gsis = {g["IndexName"] for g in desc.get("GlobalSecondaryIndexes") or []}
            updates = [
                {
                    "Update": {
                        "IndexName": g["name"],
                        "ProvisionedThroughput": {
                            "ReadCapacityUnits": (g["provisioned_throughput"] or pt)["read"],
                            "WriteCapacityUnits": (g["provisioned_throughput"] or pt)["write"],
                        },
                    }
                }
                for g in snap["indexes"]["global"]
                if g["name"] in tgt_gsis
            ]
            if updates:
                params["GlobalSecondaryIndexUpdates"] = updates
        add("billing_mode", tgt_mode, src_mode, Step("dynamodb", "UpdateTable", params, True))
        return
    if src_mode == "PROVISIONED" and snap.get("provisioned_throughput"):
        want = snap["provisioned_throughput"]
        cur = _throughput(desc.get("ProvisionedThroughput"))
        if cur != want and not scaled:
            add(
                "provisioned_throughput",
                cur,
                want,
                Step(
                    "dynamodb",
                    "UpdateTable",
                    {"TableName": target_table, "ProvisionedThroughput": {"ReadCapacityUnits": want["read"], "WriteCapacityUnits": want["write"]}},
                    True,
                ),
            )
        elif cur != want:
            notes.append("provisioned throughput differs but auto scaling manages it: left to the copied policies")


def _diff_throughput_limits(snap: dict, desc: dict, target_table: str, add) -> None:
    """On-demand maximums the source had; warm throughput up to the source's (it only increases)."""
    tgt_mode = (desc.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
    want_od = {k: v for k, v in (snap.get("on_demand_throughput") or {}).items() if v not in (None, -1)}
    have_od = {k: v for k, v in (desc.get("OnDemandThroughput") or {}).items() if v not in (None, -1)}
    if snap.get("billing_mode") == "PAY_PER_REQUEST" == tgt_mode and want_od and want_od != have_od:
        add(
            "on_demand_throughput",
            have_od or None,
            want_od,
            Step("dynamodb", "UpdateTable", {"TableName": target_table, "OnDemandThroughput": want_od}, True),
        )
    want_warm = snap.get("warm_throughput") or {}
    have_warm = _warm(desc.get("WarmThroughput")) or {}
    raise_to = {k: v for k, v in want_warm.items() if v > have_warm.get(k, 0)}
    if raise_to:
        add(
            "warm_throughput",
            have_warm or None,
            {**have_warm, **raise_to},
            Step("dynamodb", "UpdateTable", {"TableName": target_table, "WarmThroughput": raise_to}, True),
        )


def _retarget_resource_id(resource_id: str, source: str, target: str) -> str:
    prefix = f"table/{source}"
    return f"table/{target}" + resource_id[len(prefix) :] if resource_id.startswith(prefix) else resource_id


def _diff_autoscaling(target: AwsTarget, snap: dict, target_table: str, reads: _Reads, add, notes) -> None:
    auto = snap.get("autoscaling")
    if not auto or not (auto["targets"] or auto["policies"]):
        return
    source = snap["table"]
    aas = optional_client(target, "application-autoscaling")
    desc_gsis = [g["name"] for g in snap["indexes"]["global"]]
    ids = _resource_ids(target_table, desc_gsis)
    cur = reads("autoscaling", lambda: {"targets": _scalable_targets(aas, ids), "policies": _scaling_policies(aas, ids)})
    cur = {"targets": [], "policies": []} if cur is _UNREAD else cur
    cur_targets = {(t["resource_id"], t["dimension"]): t for t in cur["targets"]}
    cur_policies = {(p["resource_id"], p["dimension"], p["name"]): p for p in cur["policies"]}
    for t in auto["targets"]:
        rid = _retarget_resource_id(t["resource_id"], source, target_table)
        have = cur_targets.get((rid, t["dimension"]))
        want = {"min": t["min"], "max": t["max"], "suspended": t.get("suspended")}
        if have and _norm({"min": have["min"], "max": have["max"], "suspended": have.get("suspended")}) == _norm(want):
            continue
        params = {
            "ServiceNamespace": "dynamodb",
            "ResourceId": rid,
            "ScalableDimension": t["dimension"],
            "MinCapacity": t["min"],
            "MaxCapacity": t["max"],
        }
        if t.get("suspended"):
            params["SuspendedState"] = t["suspended"]
        add(
            f"autoscaling_target:{rid}:{t['dimension']}",
            have and {"min": have["min"], "max": have["max"]},
            {"min": t["min"], "max": t["max"]},
            Step("application-autoscaling", "RegisterScalableTarget", params),
        )
    for p in auto["policies"]:
        rid = _retarget_resource_id(p["resource_id"], source, target_table)
        have = cur_policies.get((rid, p["dimension"], p["name"]))
        if have and have["type"] == p["type"] and _norm(have["config"]) == _norm(p["config"]):
            continue
        key = "TargetTrackingScalingPolicyConfiguration" if p["type"] == "TargetTrackingScaling" else "StepScalingPolicyConfiguration"
        params = {
            "PolicyName": p["name"],
            "ServiceNamespace": "dynamodb",
            "ResourceId": rid,
            "ScalableDimension": p["dimension"],
            "PolicyType": p["type"],
            key: p["config"],
        }
        add(
            f"autoscaling_policy:{rid}:{p['name']}",
            have and have["config"],
            p["config"],
            Step("application-autoscaling", "PutScalingPolicy", params),
        )


def _diff_alarms(target: AwsTarget, snap: dict, target_table: str, reads: _Reads, add, notes) -> None:
    alarms = snap.get("alarms")
    if not alarms:
        return
    source = snap["table"]
    cw = optional_client(target, "cloudwatch")
    for a in alarms:
        if a.get("stream_label"):
            notes.append(
                f"alarm {a['name']} watches {source}'s stream by its label: re-create it by hand for "
                f"{target_table}'s new stream"
            )
            continue
        new_name = derived_alarm_name(a["name"], source, target_table)
        desired = _rewrite_alarm(a["params"], source, target_table, new_name)
        cur = reads("alarms", lambda: _describe_metric_alarms(cw, AlarmNames=[new_name]))
        existing = [] if cur is _UNREAD else cur
        have = {"AlarmName": new_name, **_alarm_params(existing[0])} if existing else None
        if have is not None and _norm(have) == _norm(desired):
            continue
        add(
            f"alarm:{new_name}",
            have and "defined differently" or None,
            f"copy of {a['name']} on {target_table}",
            Step("cloudwatch", "PutMetricAlarm", desired),
        )


# -- apply ----------------------------------------------------------------------------------
_TRANSIENT = {"ResourceInUseException", "LimitExceededException", "ContinuousBackupsUnavailableException"}


def _call(target: AwsTarget, clients: dict, step: Step, table: str, timeout: float) -> None:
    client = clients.setdefault(step.service, target.client(step.service))
    method = getattr(client, xform_name(step.operation))
    deadline = time.monotonic() + timeout
    delay = 0.1 if target.is_sandbox else 2.0
    attempts = 0
    while True:
        if step.wait_active:
            wait_table_active(target, table, timeout=max(1.0, deadline - time.monotonic()), client=clients["dynamodb"], step="settings")
        try:
            method(**step.params)
            break
        except ClientError as err:
            code = error_code(err)
            attempts += 1
            if code not in _TRANSIENT or time.monotonic() >= deadline:
                raise
            # "in use" while the table is ACTIVE is not a pending update: give up after a few tries.
            # (ContinuousBackupsUnavailable on a new table and LimitExceeded wait for the deadline.)
            if code == "ResourceInUseException" and attempts >= 3 and _is_active(clients, table):
                raise
            time.sleep(delay)
            delay = min(delay * 2, 15.0)
    if step.wait_active:
        wait_table_active(target, table, timeout=max(1.0, deadline - time.monotonic()), client=clients["dynamodb"], step="settings")


def _is_active(clients: dict, table: str) -> bool:
    try:
        return clients["dynamodb"].describe_table(TableName=table)["Table"].get("TableStatus") == "ACTIVE"
    except ClientError:
        return False


def _resolve(step: Step, stream_arn: str | None) -> Step:
    text = json.dumps(step.params)
    if STREAM_ARN_TOKEN not in text:
        return step
    if not stream_arn:
        raise PreconditionError(
            "the restored table has no stream yet, so its stream resource policy cannot be set: "
            "enable the stream first (it is part of this plan), then apply again",
            step="settings",
        )
    return replace(step, params=json.loads(text.replace(STREAM_ARN_TOKEN, stream_arn)))


def apply(target: AwsTarget, plan: SettingsPlan, *, execute: bool = False, timeout: float = 900.0) -> SettingsPlan:
    """Apply a reviewed plan to the restored table; with ``execute`` false, change nothing.

    The target is read again first: a reviewed change that is no longer needed is marked
    ``already in place`` and not called, so applying twice is a no-op; a change the fresh diff
    finds but the plan did not contain is not applied (it was not reviewed) and is noted.
    Waits for the table to be ACTIVE around every ``UpdateTable``. Returns the plan with each
    change's status and ``stream_arn`` (a new ARN when the stream was enabled). If a change
    fails the others are still attempted, then :class:`PreconditionError` is raised with the
    resulting plan on its ``plan`` attribute.
    """
    if not execute:
        log.info("settings apply (dry run) on %s: %d change(s) planned, nothing changed", plan.target_table, len(plan))
        return plan
    table = plan.target_table
    clients: dict[str, Any] = {"dynamodb": target.client("dynamodb")}
    wait_table_active(target, table, timeout=timeout, client=clients["dynamodb"], step="settings")
    fresh = diff(target, plan.snapshot, table) if plan.snapshot else plan
    fresh_by_setting = {c.setting: c for c in fresh.changes}
    reviewed = {c.setting for c in plan.changes}
    notes = list(plan.notes)
    notes += [
        f"{c.setting} now differs but was not in the reviewed plan: run diff again to review it"
        for c in fresh.changes
        if c.setting not in reviewed
    ]
    stream_arn = fresh.stream_arn
    done: list[Change] = []
    for change in plan.changes:
        current = fresh_by_setting.get(change.setting)
        if current is None:
            done.append(replace(change, status="already in place"))
            continue
        try:
            for step in current.steps:
                step = _resolve(step, stream_arn)
                log.info("settings apply on %s: %s %s", table, change.setting, step.operation)
                _call(target, clients, step, table, timeout)
                if change.setting == "stream":
                    stream_arn = _stream_arn(clients, table)
            done.append(replace(current, status="applied"))
        except (ClientError, PreconditionError) as err:
            code = error_code(err) if isinstance(err, ClientError) else (err.code or "PreconditionError")
            log.error("settings apply on %s: %s failed: %s", table, change.setting, code)
            message = error_message(err) if isinstance(err, ClientError) else err.message
            done.append(replace(current, status="failed", error=f"{code}: {message}"[:300]))
    result = SettingsPlan(
        source_table=plan.source_table,
        target_table=table,
        changes=tuple(done),
        notes=tuple(notes),
        executed=True,
        stream_arn=_stream_arn(clients, table),
        snapshot=plan.snapshot,
    )
    if result.stream_arn and result.stream_arn != plan.stream_arn:
        log.info("settings apply on %s: the table's stream is new", table)
    result.raise_for_failures()
    return result


def _stream_arn(clients: dict, table: str) -> str | None:
    desc = clients["dynamodb"].describe_table(TableName=table)["Table"]
    return desc.get("LatestStreamArn") if (desc.get("StreamSpecification") or {}).get("StreamEnabled") else None

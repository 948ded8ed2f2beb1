"""Reading a table's settings: :func:`snapshot` (what a restore will not carry over) and its one-line
:func:`summarize`. Each setting has its reader; the diff reads the restored table with the same ones."""

from __future__ import annotations

import logging
from typing import Any

from ..aws.clients import AwsTarget
from ..aws.tables import describe_table, optional_client, validate_table_name
from ..times import utcnow
from .alarms import read_alarms
from .autoscaling import read_autoscaling
from .model import LABELS, SNAPSHOT_VERSION, iso_time, jsonable
from .optional_reads import Reads

log = logging.getLogger(__name__)

#: Kinesis destinations that stream (or are about to): the ones a restored table should get too.
KINESIS_ON = ("ENABLING", "ACTIVE", "UPDATING")


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
    reads = Reads()

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
        "taken_at": iso_time(utcnow()),
        "billing_mode": billing,
        "provisioned_throughput": throughput(desc.get("ProvisionedThroughput")) if billing == "PROVISIONED" else None,
        "on_demand_throughput": desc.get("OnDemandThroughput"),
        "warm_throughput": warm(desc.get("WarmThroughput")),
        "indexes": {
            "global": [
                {
                    "name": g["IndexName"],
                    "provisioned_throughput": throughput(g.get("ProvisionedThroughput"))
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

    snap["ttl"] = read_ttl(reads, opt_ddb, table)
    snap["pitr"] = read_pitr(reads, opt_ddb, table)
    snap["tags"] = reads("tags", lambda: list_tags(opt_ddb, arn))
    snap["autoscaling"] = read_autoscaling(reads, optional_client(target, "application-autoscaling"), table, gsis)
    snap["alarms"] = read_alarms(reads, optional_client(target, "cloudwatch"), table)
    snap["contributor_insights"] = _read_contributor_insights(reads, opt_ddb, table, gsis)
    snap["resource_policy"] = read_policy(reads, opt_ddb, "resource_policy", arn)
    snap["stream_resource_policy"] = (
        read_policy(reads, opt_ddb, "stream_resource_policy", stream_arn) if stream_arn else None
    )
    snap["kinesis_destinations"] = reads(
        "kinesis_destinations", lambda: [d for d in kinesis_destinations(opt_ddb, table) if d["status"] in KINESIS_ON]
    )
    snap["unreadable"] = dict(reads.unreadable)
    log.info("snapshot of %s: %d setting group(s) unreadable", table, len(reads.unreadable))
    return jsonable(snap)


# -- one reader per setting ------------------------------------------------------------------
def throughput(pt: dict | None) -> dict | None:
    if not pt:
        return None
    return {"read": int(pt.get("ReadCapacityUnits") or 0), "write": int(pt.get("WriteCapacityUnits") or 0)}


def warm(value: dict | None) -> dict | None:
    """``WarmThroughput`` without its status: the read and write units per second."""
    if not value:
        return None
    return {k: int(value[k]) for k in ("ReadUnitsPerSecond", "WriteUnitsPerSecond") if value.get(k) is not None} or None


def read_ttl(reads: Reads, ddb, table: str) -> dict | None:
    ttl_desc = reads("ttl", lambda: ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"])
    if ttl_desc is None:
        return None
    status = ttl_desc.get("TimeToLiveStatus") or "DISABLED"
    return {
        "enabled": status in ("ENABLED", "ENABLING"),
        "status": status,
        "attribute": ttl_desc.get("AttributeName"),
    }


def read_pitr(reads: Reads, ddb, table: str) -> dict | None:
    cb = reads("pitr", lambda: ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"])
    if cb is None:
        return None
    p = cb.get("PointInTimeRecoveryDescription") or {}
    return {
        "enabled": p.get("PointInTimeRecoveryStatus") in ("ENABLED", "ENABLING"),
        "status": p.get("PointInTimeRecoveryStatus") or "DISABLED",
        "recovery_period_days": p.get("RecoveryPeriodInDays"),
        "earliest_restorable": iso_time(p.get("EarliestRestorableDateTime")),
        "latest_restorable": iso_time(p.get("LatestRestorableDateTime")),
    }


def list_tags(ddb, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    kwargs: dict[str, Any] = {"ResourceArn": arn}
    while True:
        page = ddb.list_tags_of_resource(**kwargs)
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags") or []})
        if not page.get("NextToken"):
            return tags
        kwargs["NextToken"] = page["NextToken"]


def _read_contributor_insights(reads: Reads, ddb, table: str, gsis: list[str]) -> dict | None:
    def one(index: str | None) -> dict:
        kwargs = {"TableName": table} | ({"IndexName": index} if index else {})
        r = ddb.describe_contributor_insights(**kwargs)
        status = r.get("ContributorInsightsStatus") or "DISABLED"
        return {"status": status, "enabled": status in ("ENABLED", "ENABLING"), "mode": r.get("ContributorInsightsMode")}

    return reads("contributor_insights", lambda: {"table": one(None), "indexes": {g: one(g) for g in gsis}})


def read_policy(reads: Reads, ddb, setting: str, arn: str) -> str | None:
    return reads(
        setting,
        lambda: ddb.get_resource_policy(ResourceArn=arn).get("Policy"),
        # Only PolicyNotFoundException means "no policy" (AWS, GetResourcePolicy); anything else,
        # ResourceNotFoundException (the table or stream is gone) or AccessDeniedException
        # included, is a read that failed and is reported as such.
        absent=("PolicyNotFoundException",),
    )


def kinesis_destinations(ddb, table: str) -> list[dict]:
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


# -- the summary -----------------------------------------------------------------------------
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

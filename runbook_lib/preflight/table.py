"""The source table's checks: PITR on (and its window), its stream on (and the view type), and a
free reader slot on that stream."""

from __future__ import annotations

from ..aws.clients import AwsTarget
from ..aws.tables import describe_table
from ..times import iso
from .result import FAIL, PASS, WARN, CheckRow

#: DynamoDB Streams: "no more than two processes at most should be reading from the same
#: streams shard at the same time".
MAX_STREAM_READERS = 2


def check_pitr(target: AwsTarget, table: str) -> CheckRow:
    """PITR on, with its restorable window; FAIL with the remedy when off."""
    ddb = target.client("dynamodb")
    cb = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    p = cb.get("PointInTimeRecoveryDescription") or {}
    status = p.get("PointInTimeRecoveryStatus") or "DISABLED"
    if status != "ENABLED":
        return CheckRow(
            "pitr",
            FAIL,
            f"point-in-time recovery is {status} on {table}: nothing to restore from",
            f"enable it (UpdateContinuousBackups TableName={table} "
            "PointInTimeRecoverySpecification={PointInTimeRecoveryEnabled: true}); restores are possible "
            "from EarliestRestorableDateTime on, so only changes after enabling can be recovered",
        )
    earliest = _iso(p.get("EarliestRestorableDateTime"))
    latest = _iso(p.get("LatestRestorableDateTime"))
    days = p.get("RecoveryPeriodInDays")
    period = f", recovery period {days} days" if days else ""
    return CheckRow("pitr", PASS, f"PITR on; restorable from {earliest} to {latest}{period}")


def _iso(value) -> str | None:
    return iso(value) if value is not None else None


def check_stream(target: AwsTarget, table: str) -> CheckRow:
    """Stream on; ``NEW_IMAGE``/``NEW_AND_OLD_IMAGES`` PASS, ``KEYS_ONLY``/``OLD_IMAGE`` WARN, off FAIL."""
    desc = describe_table(target, table)
    spec = desc.get("StreamSpecification") or {}
    view = spec.get("StreamViewType")
    if not spec.get("StreamEnabled"):
        return CheckRow(
            "stream",
            FAIL,
            f"DynamoDB Streams is off on {table}: the buffer has nothing to capture",
            f"enable it (UpdateTable TableName={table} StreamSpecification={{StreamEnabled: true, "
            "StreamViewType: NEW_AND_OLD_IMAGES}}); changes are captured from then on",
        )
    if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        return CheckRow("stream", PASS, f"stream on, view type {view}: records carry the full new image")
    return CheckRow(
        "stream",
        WARN,
        f"stream on, view type {view}: records carry no new image, so the applier re-reads each item from "
        f"{table} at apply time (slower, more read capacity, and it applies the live state)",
        "acceptable; for full images switch to NEW_AND_OLD_IMAGES (disable the stream, then enable it "
        "with the new view type: that creates a new stream, so do it before the buffer is deployed)",
    )


def check_stream_consumers(target: AwsTarget, table: str) -> CheckRow:
    """Lambda event source mappings already reading the table's stream (2 readers per shard)."""
    desc = describe_table(target, table)
    spec = desc.get("StreamSpecification") or {}
    if not spec.get("StreamEnabled") or not desc.get("LatestStreamArn"):
        return CheckRow("stream_consumers", PASS, "no stream, so no consumer (see the stream check)")
    arn = desc["LatestStreamArn"]
    lam = target.client("lambda")
    active: list[str] = []
    idle = 0
    for page in lam.get_paginator("list_event_source_mappings").paginate(EventSourceArn=arn):
        for m in page.get("EventSourceMappings") or []:
            if (m.get("State") or "Enabled") in ("Disabled", "Disabling", "Deleting"):
                idle += 1
            else:
                active.append(m.get("FunctionArn") or m.get("UUID") or "?")
    disabled = f" ({idle} disabled mapping(s) not counted)" if idle else ""
    caveat = "; readers other than Lambda (KCL, Flink, Pipes) are not visible here"
    if not active:
        return CheckRow("stream_consumers", PASS, f"no Lambda mapping reads the stream{disabled}{caveat}")
    names = ", ".join(sorted(active))
    if len(active) < MAX_STREAM_READERS:
        return CheckRow(
            "stream_consumers",
            WARN,
            f"{len(active)} Lambda mapping already reads the stream ({names}){disabled}: the buffer takes the "
            f"last of {MAX_STREAM_READERS} concurrent readers per shard{caveat}",
            "no action needed unless another reader exists; a third reader would be throttled",
        )
    return CheckRow(
        "stream_consumers",
        FAIL,
        f"{len(active)} Lambda mappings already read the stream ({names}){disabled}: DynamoDB Streams "
        f"supports {MAX_STREAM_READERS} concurrent readers per shard, so the buffer would be throttled",
        "disable or delete one mapping (UpdateEventSourceMapping Enabled=false) for the duration of the "
        "restore, or fan the stream out through a single reader",
    )

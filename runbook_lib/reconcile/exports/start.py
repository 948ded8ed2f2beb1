"""The operator's path: export the source and the target as of one moment, into the runbook's bucket,
and wait for both.

- **PITR on the target.** An export reads the table's point-in-time recovery data, and a restored
  table has PITR off (a restore does not carry it over). It is turned on first
  (``UpdateContinuousBackups``, as step 05's settings would) and the export moment is chosen inside
  both tables' windows: the export time must lie in [EarliestRestorableDateTime,
  LatestRestorableDateTime] of each ("ExportTableToPointInTime", Amazon DynamoDB API Reference,
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportTableToPointInTime.html:
  InvalidExportTimeException otherwise), so the wait lasts until the target's window reaches it.
- **The bucket.** ``pitr-runbook-<account>-<region>`` unless told otherwise, created if missing with
  every public access block on and default encryption (SSE-S3 with a bucket key), as "Security
  best practices for Amazon S3" recommends; the exports go under ``pitr-runbook/exports/<table>/``.
  Exports are written by DynamoDB as the caller: the operator needs ``s3:PutObject``,
  ``s3:AbortMultipartUpload`` and ``s3:PutObjectAcl`` there ("Requesting a table export in
  DynamoDB", Developer Guide, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport_Requesting.html).
- **Both at one moment.** Both requests name the same ``ExportTime`` (whole seconds), with a
  ``ClientToken`` derived from table, time and bucket, so a retried call does not start a second
  export. Then both are followed with ``DescribeExport`` until COMPLETED (a bar of the time waited);
  a FAILED export is an :class:`~.layout.ExportError` with AWS's FailureCode.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ...aws.clients import AwsTarget
from ...aws.codes import error_code, error_message
from ...aws.waiting import interval, poll
from ...errors import InputError, PreconditionError
from ...times import iso, to_utc, utcnow
from .layout import ExportError

log = logging.getLogger(__name__)

#: under this many items (both tables' ItemCount) the scan is the default method; above it, exports
SCAN_THRESHOLD_ITEMS = 5_000_000
EXPORT_PREFIX = "pitr-runbook/exports"
#: an export of a large table takes tens of minutes to hours; AWS states no bound
DEFAULT_EXPORT_TIMEOUT = 6 * 3600.0


def default_bucket(account: str, region: str) -> str:
    """The runbook's own bucket (the buffer's artifact bucket too)."""
    return f"pitr-runbook-{account}-{region}"


def choose_method(method: str, item_counts: tuple[int | None, int | None]) -> str:
    """``"scan"`` or ``"export"``; ``"auto"``: export above :data:`SCAN_THRESHOLD_ITEMS` items in all."""
    if method in ("scan", "export"):
        return method
    if method != "auto":
        raise InputError(f"method must be 'auto', 'scan' or 'export', not {method!r}")
    return "export" if sum(c or 0 for c in item_counts) > SCAN_THRESHOLD_ITEMS else "scan"


@dataclass(frozen=True)
class StartedExports:
    """The two exports requested for one moment."""

    source_arn: str
    target_arn: str
    export_time: datetime
    bucket: str
    pitr_turned_on: bool


def _account(target: AwsTarget) -> str:
    return target.client("sts").get_caller_identity()["Account"]


def ensure_bucket(target: AwsTarget, bucket: str, account: str) -> bool:
    """``bucket`` exists and is this account's; created private and encrypted if missing. True if created."""
    s3 = target.client("s3")
    try:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=account)
        return False
    except ClientError as exc:
        code = error_code(exc)
        if code not in ("404", "NoSuchBucket"):
            raise PreconditionError(
                f"export bucket {bucket} cannot be used ({code}): it must exist in this account, or not exist yet; "
                "pass --export-bucket with a bucket of this account", code=code) from exc
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if target.region_name != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": target.region_name}
    try:
        s3.create_bucket(**kwargs)
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
    except ClientError as exc:
        raise PreconditionError(f"creating export bucket {bucket} failed ({error_code(exc)}: {error_message(exc)}): "
                                "pass --export-bucket with an existing private bucket", code=error_code(exc)) from exc
    log.info("created the private, encrypted export bucket %s", bucket)
    return True


def _pitr(ddb, table: str) -> dict[str, Any]:
    return ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"].get(
        "PointInTimeRecoveryDescription") or {}


def ensure_pitr(target: AwsTarget, table: str) -> bool:
    """PITR on for ``table`` (turned on if off). True if it was turned on here."""
    ddb = target.client("dynamodb")
    if _pitr(ddb, table).get("PointInTimeRecoveryStatus") in ("ENABLED", "ENABLING"):
        return False
    try:
        ddb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    except ClientError as exc:
        raise PreconditionError(
            f"turning PITR on for {table} failed ({error_code(exc)}: {error_message(exc)}): an export needs it; "
            "turn it on (UpdateContinuousBackups) once the table is ACTIVE, or use --method scan",
            table=table, code=error_code(exc)) from exc
    log.info("turned PITR on for %s: the export reads it", table)
    return True


def _window(ddb, table: str) -> tuple[datetime | None, datetime | None]:
    """The table's PITR window; (None, None) while PITR is ENABLING; PITR off is the operator's to fix."""
    p = _pitr(ddb, table)
    status = p.get("PointInTimeRecoveryStatus") or "DISABLED"
    if status == "ENABLING":
        return None, None
    if status != "ENABLED":
        raise PreconditionError(
            f"PITR is {status} for {table}: an export reads it; turn it on (UpdateContinuousBackups) and wait for "
            "EarliestRestorableDateTime, then export a time after it; or use --method scan",
            table=table, code="PointInTimeRecoveryUnavailableException")
    return p.get("EarliestRestorableDateTime"), p.get("LatestRestorableDateTime")


def wait_for_window(
    target: AwsTarget, tables: tuple[str, str], moment: datetime | None, *, timeout: float = 1800.0
) -> datetime:
    """The export moment, once it lies in both tables' PITR windows; returned.

    ``moment`` None: the first whole second at or after both windows' start and now (a window just
    opened starts later than this machine's clock may say; PITR still ENABLING has no window yet).
    A given moment before a table's EarliestRestorableDateTime can never be exported: InputError."""
    ddb = target.client("dynamodb")
    chosen: list[datetime] = [moment] if moment is not None else []

    def check() -> datetime | None:
        windows = [_window(ddb, table) for table in tables]
        if not chosen:
            if any(earliest is None for earliest, _ in windows):
                return None  # ENABLING: no window yet
            chosen.append(_second_up(max([utcnow(), *(to_utc(e, "EarliestRestorableDateTime") for e, _ in windows)])))
        at = chosen[0]
        for table, (earliest, latest) in zip(tables, windows):
            if earliest is not None and at < to_utc(earliest, "EarliestRestorableDateTime"):
                start = iso(to_utc(earliest, "EarliestRestorableDateTime"))
                raise InputError(f"export time {iso(at)} is before {table}'s EarliestRestorableDateTime {start}: "
                                 "choose a later export time (or none: now)", table=table, code="InvalidExportTimeException")
            if latest is None or to_utc(latest, "LatestRestorableDateTime") < at:
                return None
        return at

    return poll(check, timeout=timeout, interval=interval(target, 10.0),
                progress="both tables' PITR windows to reach the export time",
                on_timeout=lambda: PreconditionError(
                    f"the PITR windows of {tables[0]} and {tables[1]} did not reach the export time within {timeout:.0f} s: "
                    "check PITR on both (DescribeContinuousBackups), then run again"))


def _table_arn(ddb, table: str) -> str:
    return ddb.describe_table(TableName=table)["Table"]["TableArn"]


def start_export(target: AwsTarget, table: str, moment: datetime, bucket: str, account: str) -> str:
    """One FULL_EXPORT of ``table`` as of ``moment`` (DYNAMODB_JSON); its ExportArn."""
    ddb = target.client("dynamodb")
    token = hashlib.sha256(f"{table}|{iso(moment)}|{bucket}".encode()).hexdigest()[:36]
    try:
        resp = ddb.export_table_to_point_in_time(
            TableArn=_table_arn(ddb, table), ExportTime=moment, ClientToken=token, S3Bucket=bucket,
            S3BucketOwner=account, S3Prefix=f"{EXPORT_PREFIX}/{table}", S3SseAlgorithm="AES256",
            ExportFormat="DYNAMODB_JSON", ExportType="FULL_EXPORT",
        )  # fmt: skip
    except ClientError as exc:
        code = error_code(exc)
        remedy = {
            "PointInTimeRecoveryUnavailableException": "turn PITR on for the table (UpdateContinuousBackups), or use --method scan",
            "InvalidExportTimeException": "choose an --export-time inside both tables' PITR windows",
            "ExportConflictException": "an export with this ClientToken and other parameters exists: wait a minute and run again",
            "LimitExceededException": "too many exports or table operations at once: wait for running ones to finish",
            "TableNotFoundException": "check the table name and the region",
        }.get(code, "see the AWS error; --method scan reads the tables instead")
        error = InputError if code in ("InvalidExportTimeException", "TableNotFoundException") else PreconditionError
        raise error(f"ExportTableToPointInTime of {table} failed ({code}: {error_message(exc)}): {remedy}",
                    table=table, code=code) from exc
    arn = resp["ExportDescription"]["ExportArn"]
    log.info("export of %s as of %s started: %s", table, iso(moment), arn)
    return arn


def wait_for_exports(target: AwsTarget, arns: tuple[str, ...], *, timeout: float = DEFAULT_EXPORT_TIMEOUT) -> list[dict]:
    """Follow every export with DescribeExport until all are COMPLETED; their descriptions."""
    ddb = target.client("dynamodb")
    done: dict[str, dict] = {}

    def check() -> list[dict] | None:
        for arn in arns:
            if arn in done:
                continue
            desc = ddb.describe_export(ExportArn=arn)["ExportDescription"]
            status = desc.get("ExportStatus")
            if status == "FAILED":
                raise ExportError(f"export {arn} FAILED ({desc.get('FailureCode')}: {desc.get('FailureMessage')}): "
                                  "fix the cause (bucket permissions, KMS key) and run again",
                                  code=desc.get("FailureCode"))
            if status == "COMPLETED":
                done[arn] = desc
        return [done[a] for a in arns] if len(done) == len(arns) else None

    return poll(check, timeout=timeout, interval=interval(target, 15.0), backoff=1.5,
                max_interval=interval(target, 60.0), progress=f"{len(arns)} exports to complete",
                on_timeout=lambda: ExportError(
                    f"the exports did not complete within {timeout:.0f} s: follow them with DescribeExport "
                    f"({', '.join(arns)}) and compare them once COMPLETED"))


def _second_up(moment: datetime) -> datetime:
    return moment if moment.microsecond == 0 else moment.replace(microsecond=0) + timedelta(seconds=1)


def export_both(
    target: AwsTarget,
    source_table: str,
    target_table: str,
    *,
    export_time: datetime | str | None = None,
    bucket: str | None = None,
    timeout: float = DEFAULT_EXPORT_TIMEOUT,
) -> StartedExports:
    """Export both tables as of one moment (default: now) into ``bucket`` and wait for both."""
    given = to_utc(export_time, "export_time")
    account = _account(target)
    bucket = bucket or default_bucket(account, target.region_name)
    ensure_bucket(target, bucket, account)
    turned_on = ensure_pitr(target, target_table)
    # ExportTime is in whole seconds on the wire
    moment = wait_for_window(target, (source_table, target_table), given.replace(microsecond=0) if given else None)
    arns = (start_export(target, source_table, moment, bucket, account),
            start_export(target, target_table, moment, bucket, account))
    done = wait_for_exports(target, arns, timeout=timeout)
    times = {to_utc(d["ExportTime"], "ExportTime") for d in done if d.get("ExportTime") is not None}
    if len(times) > 1:
        raise ExportError(f"the two exports are of different moments ({', '.join(sorted(iso(t) for t in times))}): "
                          "export both again with one --export-time")
    return StartedExports(arns[0], arns[1], moment, bucket, turned_on)


def resolve_method(target: AwsTarget, source_table: str, target_table: str, method: str) -> tuple[str, str]:
    """(``"scan"`` or ``"export"``, why): ``"auto"`` decides by the tables' ItemCount (DynamoDB
    refreshes it about every six hours: close enough to choose a method, never used as a count)."""
    if method in ("scan", "export"):
        return method, "as asked"
    ddb = target.client("dynamodb")
    counts = tuple(ddb.describe_table(TableName=t)["Table"].get("ItemCount") for t in (source_table, target_table))
    chosen = choose_method(method, counts)  # type: ignore[arg-type]
    total = sum(c or 0 for c in counts)
    relation = ">" if chosen == "export" else "<="
    return chosen, f"about {total:,} items in both tables {relation} {SCAN_THRESHOLD_ITEMS:,}"


def exports_for(
    target: AwsTarget,
    source_table: str,
    target_table: str,
    *,
    bucket: str | None = None,
    athena_workgroup: str | None = None,
    athena_output: str | None = None,
    export_time: datetime | str | None = None,
    work_dir: str | None = None,
    progress: bool = True,
):
    """Export both tables at one moment, wait, and return the :class:`ExportPair` to compare."""
    from .compare import AthenaOptions, ExportPair

    athena = None
    if athena_workgroup or athena_output:
        if not (athena_workgroup and athena_output):
            raise InputError("--athena-workgroup and --athena-output go together (the workgroup runs the query, "
                             "the output location holds its results)")
        athena = AthenaOptions(athena_workgroup, athena_output)
    started = export_both(target, source_table, target_table, export_time=export_time, bucket=bucket)
    return ExportPair(started.source_arn, started.target_arn, work_dir=work_dir, athena=athena, progress=progress)

"""DynamoDB exports to S3 as AWS makes them: ``ExportTableToPointInTime``, ``DescribeExport``, ``ListExports``.

moto 5.2.5 exports the table's *current* items into one file with no manifests, at once, and has no
incremental export. This extension replaces its three calls. Documents followed: "DynamoDB table
export output format" (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html),
"Requesting a table export in DynamoDB" (.../developerguide/S3DataExport_Requesting.html), the API
reference of the three operations and botocore's dynamodb model; where the documents and what AWS
writes differ, what AWS writes (as moto's and ScyllaDB's AWS-verified export tests record it) wins.

- **Full export** (``ExportType`` ``FULL_EXPORT``, the default): the items as of ``ExportTime`` (default:
  the request's time), read from the PITR journal of ``pitr.py``, not the current items.
- **Incremental export** (``INCREMENTAL_EXPORT`` with ``IncrementalExportSpecification``): one line per
  item changed in [``ExportFromTime``, ``ExportToTime``), compacted to its final state: ``Metadata``
  (``WriteTimestampMicros`` as ``{"N": micros}``, the item's last write in the window), ``Keys``, and
  by view type: NEW_AND_OLD_IMAGES gives ``OldImage`` (the item just before ``ExportFromTime``) and/or
  ``NewImage`` (just before ``ExportToTime``); NEW_IMAGE gives ``NewImage`` or, for a delete, ``Keys``
  alone. An item inserted and deleted inside the window gives no line. ``ExportToTime`` defaults to
  ``LatestRestorableDateTime``. The window is 15 minutes to 24 hours on AWS;
  ``SETTINGS.incremental_export_min_seconds`` lowers the minimum so tests stay fast.
- **Layout in the bucket**, ``P`` being ``S3Prefix`` + ``/`` (nothing without a prefix):
  ``P AWSDynamoDB/<ExportId>/_started`` (empty, written when the export starts), ``manifest-summary.json``,
  ``manifest-summary.md5``, ``manifest-files.json``, ``manifest-files.md5`` in that folder; data files
  ``P AWSDynamoDB/<ExportId>/data/<26 chars>.json.gz`` for a full export and, as AWS does, in the shared
  ``P AWSDynamoDB/data/`` for an incremental one. Data files are gzip, one JSON object per line
  (``{"Item": ...}`` for a full export). Items are split into files by a hash of the partition key
  (a partition key never spans two files), about ``SETTINGS.export_items_per_file`` items each, at
  least one file (an empty table gives one file holding an empty gzip stream). ``manifest-files.json``
  is JSON lines of ``itemCount``, ``md5Checksum`` (base64 MD5 of the object), ``etag`` (the object's
  S3 ETag, in AWS's one-part multipart form ``<hex>-1``; HeadObject answers the same) and
  ``dataFileS3Key`` (the key from the bucket's root, prefix included). ``manifest-summary.json`` has the
  documented fields (``version`` 2020-06-30 full / 2023-08-01 incremental, ``exportArn``, ``startTime``,
  ``endTime``, ``tableArn``, ``tableId``, ``exportTime`` or ``exportFromTime``/``exportToTime``,
  ``s3Bucket``, ``s3Prefix``, ``s3SseAlgorithm``, ``s3SseKmsKeyId``, ``manifestFilesS3Key`` (full key),
  ``billedSizeBytes``, ``itemCount``, ``outputFormat``, ``outputView`` (incremental), ``exportType``).
  ``DescribeExport``'s ``ExportManifest`` is the key of ``manifest-summary.json``.
- **Status**: ``IN_PROGRESS`` for ``SETTINGS.export_seconds``, then ``COMPLETED`` with ``ItemCount``,
  ``BilledSizeBytes`` (the items' DynamoDB size), ``EndTime`` and ``ExportManifest``; files are written
  at completion. A bucket that does not exist is no error of the call: the export ends ``FAILED`` with
  ``FailureCode`` ``S3NoSuchBucket``, "The specified bucket does not exist", as on AWS.
- **Errors** (codes botocore lists for the operation): ``TableNotFoundException`` ("Table not found:
  <arn>"), ``PointInTimeRecoveryUnavailableException`` (PITR off), ``InvalidExportTimeException``
  (``ExportTime`` outside [EarliestRestorableDateTime, LatestRestorableDateTime]; an incremental window
  that starts before the earliest time, ends after the latest, is shorter than the minimum ("Difference
  between export period ...") or longer than 24 hours), ``ExportConflictException`` ("Duplicate request
  detected": a ``ClientToken`` reused within 8 hours with other parameters; the same token and the same
  parameters answer the first export), ``ExportNotFoundException`` (a well-formed unknown export ARN),
  ``ValidationException`` (a value outside its enum or pattern, an empty ``S3Prefix`` or ``ClientToken``,
  a malformed ``TableArn`` or export ARN ("Invalid Export ARN"), ``MaxResults`` outside 1..25, a
  ``NextToken`` ``ListExports`` did not give, ``INCREMENTAL_EXPORT`` without a specification or without
  ``ExportFromTime``, a specification on a full export).
- **Choices where AWS documents nothing** (each the strict reading): a reused ``ClientToken``'s parameters
  are compared as sent (a default left out and the same default named differ); a specification on a full
  export and ``ExportTime`` on an incremental one are refused; ``ListExports`` pages hold 25 by default.
- **Answers as AWS's**: ``ClientToken`` is always in the description (generated when none was sent);
  ``ExportType`` only when the request named it (AWS omits it otherwise; ``ListExports`` always has it);
  ``S3BucketOwner`` only when the request named it. ``ListExports`` answers every status, in reverse
  alphanumeric order of ``ExportArn`` (newest first per table), pages of ``MaxResults`` (default 25)
  with ``NextToken``; filtered by ``TableArn``, it leaves out the exports of a table since deleted.

Where it still differs from AWS: ``ExportFormat`` ``ION`` and ``FilterSpecification`` are refused with
``ValidationException`` (the sandbox writes DynamoDB JSON only); ``S3SseAlgorithm``/``S3SseKmsKeyId``
are recorded, not applied; the caller's S3 permissions and bucket policies are not checked; the
checksum files are named ``.md5`` (base64 MD5 of the manifest), as AWS writes them, where the output
format page names them ``.checksum``; ``exportType`` is in a full export's summary too; times are exact
to the microsecond (AWS's export periods follow an internal clock that can be a minute off); exports
live in memory.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.exceptions import MockValidationException, PointInTimeRecoveryUnavailable, TableNotFoundException
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.utilities.utils import get_partition

from . import dynamodb_export_files as files
from . import pitr
from .settings import SETTINGS

_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_lock = threading.RLock()
_installed = False

TOKEN_SECONDS = 8 * 3600  # "A client token is valid for 8 hours after the first request that uses it"
MAX_WINDOW_SECONDS = 24 * 3600
PAGE_MAX = 25  # ListExportsMaxLimit
_ENUMS = {
    "ExportFormat": ("exportFormat", ("DYNAMODB_JSON", "ION")),
    "ExportType": ("exportType", ("FULL_EXPORT", "INCREMENTAL_EXPORT")),
    "S3SseAlgorithm": ("s3SseAlgorithm", ("AES256", "KMS")),
}
_BUCKET = re.compile(r"^[a-z0-9A-Z]+[\.\-\w]*[a-z0-9A-Z]+$")
_TABLE_ARN = re.compile(r"^arn:aws[\w-]*:dynamodb:[a-z0-9-]+:\d{12}:table/[\w.-]+$")
_EXPORT_ARN = re.compile(r"^arn:aws[\w-]*:dynamodb:[a-z0-9-]+:\d{12}:table/[\w.-]+/export/\d{14}-[0-9a-f]{8}$")


class ExportConflictException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__(_PREFIX + "ExportConflictException", message)


class InvalidExportTimeException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__(_PREFIX + "InvalidExportTimeException", message)


class ExportNotFoundException(JsonRESTError):
    def __init__(self, arn: str) -> None:
        super().__init__(_PREFIX + "ExportNotFoundException", f"Export not found: {arn}")


@dataclass
class Export:
    backend: Any
    table: Any
    arn: str
    export_id: str
    request: dict  # the parameters a reused ClientToken must match
    client_token: str
    bucket: str
    prefix: str | None
    owner: str | None
    sse: str | None
    kms_key: str | None
    export_format: str
    type_given: str | None
    incremental: dict | None  # {"from": ts, "to": ts, "view": str}
    export_time: float | None
    start_time: float
    ready_at: float
    lines: list = field(default_factory=list)  # (partition digest, line, billed bytes)
    status: str = "IN_PROGRESS"
    end_time: float | None = None
    failure: tuple[str, str] | None = None
    pending_failure: tuple[str, str] | None = None
    item_count: int = 0
    billed_bytes: int = 0
    region: str = "us-east-1"
    source: Any = None  # the PITR journal as it was when the export was requested

    @property
    def export_type(self) -> str:
        return "INCREMENTAL_EXPORT" if self.incremental else "FULL_EXPORT"

    @property
    def folder(self) -> str:
        return f"{files.key_prefix(self.prefix)}AWSDynamoDB/{self.export_id}"


# -- helpers -----------------------------------------------------------------------------------------


def _epoch(value: Any, name: str) -> float:
    from .lambda_events import epoch

    try:
        return epoch(value)
    except (ValueError, TypeError):
        raise MockValidationException(f"{name} is not a valid timestamp") from None


def _constraint(value: Any, member: str, rule: str) -> MockValidationException:
    return MockValidationException(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    )


def _exports(backend: Any) -> dict[str, Export]:
    return backend.__dict__.setdefault("_sandbox_exports", {})


# -- the request ----------------------------------------------------------------------------------------


def _validate(body: dict) -> None:
    for name, (member, values) in _ENUMS.items():
        if name in body and body[name] not in values:
            raise _constraint(body[name], member, f"Member must satisfy enum value set: [{', '.join(values)}]")
    bucket = body.get("S3Bucket")
    if not bucket or not _BUCKET.match(bucket) or len(bucket) > 255:
        raise _constraint(bucket, "s3Bucket", "Member must satisfy regular expression pattern: "
                                              r"^[a-z0-9A-Z]+[\.\-\w]*[a-z0-9A-Z]+$")
    if "S3Prefix" in body and (not body["S3Prefix"] or len(body["S3Prefix"]) > 1024):
        raise _constraint(body["S3Prefix"], "s3Prefix", "Member must have length between 1 and 1024")
    if "S3BucketOwner" in body and not re.fullmatch(r"[0-9]{12}", str(body["S3BucketOwner"])):
        raise _constraint(body["S3BucketOwner"], "s3BucketOwner",
                          "Member must satisfy regular expression pattern: [0-9]{12}")
    if "ClientToken" in body and not re.fullmatch(r"[^$]+", str(body["ClientToken"])):
        raise _constraint(body["ClientToken"], "clientToken",
                          r"Member must satisfy regular expression pattern: ^[^\$]+$")
    if "S3SseKmsKeyId" in body and not body["S3SseKmsKeyId"]:
        raise _constraint("", "s3SseKmsKeyId", "Member must have length greater than or equal to 1")
    arn = body.get("TableArn")
    if not arn or not _TABLE_ARN.match(arn):
        raise _constraint(arn, "tableArn", "Member must be a valid table ARN")
    if body.get("ExportFormat") == "ION":
        raise MockValidationException(
            "ExportFormat ION is not supported by the pitr-runbook sandbox: it writes DYNAMODB_JSON only"
        )
    if body.get("FilterSpecification") is not None:
        raise MockValidationException("FilterSpecification is not supported by the pitr-runbook sandbox")
    spec = body.get("IncrementalExportSpecification")
    if body.get("ExportType") == "INCREMENTAL_EXPORT":
        if not spec:
            raise MockValidationException("IncrementalExportSpecification must be provided for an incremental export")
        if spec.get("ExportFromTime") is None:
            raise MockValidationException("ExportFromTime must be provided for an incremental export")
        view = spec.get("ExportViewType", "NEW_AND_OLD_IMAGES")
        if view not in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
            raise _constraint(view, "incrementalExportSpecification.exportViewType",
                              "Member must satisfy enum value set: [NEW_IMAGE, NEW_AND_OLD_IMAGES]")
        if body.get("ExportTime") is not None:
            raise MockValidationException("ExportTime cannot be specified for an incremental export")
    elif spec is not None:
        raise MockValidationException("IncrementalExportSpecification can only be used with INCREMENTAL_EXPORT")


def _identity(body: dict) -> dict:
    """What a reused ClientToken must repeat: every parameter but the token, times as numbers."""
    ident = {k: v for k, v in body.items() if k != "ClientToken"}
    if ident.get("ExportTime") is not None:
        ident["ExportTime"] = _epoch(ident["ExportTime"], "ExportTime")
    spec = ident.get("IncrementalExportSpecification")
    if spec:
        spec = dict(spec)
        for name in ("ExportFromTime", "ExportToTime"):
            if spec.get(name) is not None:
                spec[name] = _epoch(spec[name], name)
        ident["IncrementalExportSpecification"] = spec
    return ident


def _find_table(backend: Any, arn: str) -> Any:
    table = next((t for t in list(backend.tables.values()) if t.table_arn == arn), None)
    if table is None or pitr._is_creating(table):
        raise TableNotFoundException(arn)
    return table


def _times(table: Any, body: dict, now: float) -> tuple[float | None, dict | None]:
    earliest, latest = pitr._window(table)
    window = f"[{files.iso(earliest)}, {files.iso(latest)}]"
    spec = body.get("IncrementalExportSpecification")
    if body.get("ExportType") != "INCREMENTAL_EXPORT":
        if body.get("ExportTime") is None:
            return now, None
        at = _epoch(body["ExportTime"], "ExportTime")
        if at < earliest or at > latest:
            raise InvalidExportTimeException(
                f"Export time {files.iso(at)} is outside the point in time recovery window {window} "
                f"of table {table.name}"
            )
        return at, None
    start = _epoch(spec["ExportFromTime"], "ExportFromTime")
    end = latest if spec.get("ExportToTime") is None else _epoch(spec["ExportToTime"], "ExportToTime")
    if start < earliest or end > latest:
        raise InvalidExportTimeException(
            f"Export period [{files.iso(start)}, {files.iso(end)}) is outside the point in time recovery "
            f"window {window} of table {table.name}"
        )
    minimum = SETTINGS.incremental_export_min_seconds
    if end - start < minimum:
        raise InvalidExportTimeException(
            f"Difference between export period start time and end time should be at least {minimum:g} seconds"
        )
    if end - start > MAX_WINDOW_SECONDS:
        raise InvalidExportTimeException(
            "Difference between export period start time and end time should be at most 24 hours"
        )
    return None, {"from": start, "to": end, "view": spec.get("ExportViewType", "NEW_AND_OLD_IMAGES")}


def _s3(owner: str, region: str) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[owner][get_partition(region)]


def start_export(backend: Any, body: dict, region: str) -> tuple[Export, dict]:
    """Validate an ``ExportTableToPointInTime`` request as AWS does, then start the export: the export,
    and the description the call answers (IN_PROGRESS for a new one, whatever a timer does next)."""
    _validate(body)
    with _lock:
        table = _find_table(backend, body["TableArn"])
        now = time.time()
        token = body.get("ClientToken") or str(uuid.uuid4())
        ident = _identity(body)
        for export in _exports(backend).values():
            if export.client_token == token and now - export.start_time < TOKEN_SECONDS:
                if export.request != ident:
                    raise ExportConflictException(
                        f"Duplicate request detected: ClientToken {token} was used with other parameters"
                    )
                return export, describe(export)
        if not pitr._pitr_on(table):
            raise PointInTimeRecoveryUnavailable(table.name)
        export_time, incremental = _times(table, body, now)
        export_id = f"{int(now * 1000):014d}-{uuid.uuid4().hex[:8]}"
        export = Export(
            backend=backend, table=table, arn=f"{table.table_arn}/export/{export_id}", export_id=export_id,
            request=ident, client_token=token, bucket=body["S3Bucket"], prefix=body.get("S3Prefix"),
            owner=body.get("S3BucketOwner"), sse=body.get("S3SseAlgorithm"), kms_key=body.get("S3SseKmsKeyId"),
            export_format=body.get("ExportFormat", "DYNAMODB_JSON"), type_given=body.get("ExportType"),
            incremental=incremental, export_time=export_time, start_time=now,
            ready_at=now + SETTINGS.export_seconds, region=region,
        )
        export.source = files.journal_of(table)
        s3 = _s3(export.owner or table.account_id, region)
        if export.bucket in s3.buckets:
            s3.put_object(export.bucket, f"{export.folder}/_started", b"")
        else:
            export.pending_failure = ("S3NoSuchBucket", "The specified bucket does not exist")
            export.ready_at = now
        _exports(backend)[export.arn] = export
        answer = describe(export)
    timer = threading.Timer(max(0.0, export.ready_at - time.time()), _advance, args=(export,))
    timer.daemon = True
    timer.start()
    return export, answer


# -- the work -------------------------------------------------------------------------------------------


def _advance(export: Export) -> None:
    """Finish the export once its time has come (the export's timer thread; the files are made outside the
    lock, so that the sandbox answers meanwhile, DescribeExport with IN_PROGRESS)."""
    with _lock:
        if export.status != "IN_PROGRESS" or _exports(export.backend).get(export.arn) is not export:
            return  # done, or the sandbox was reset meanwhile
        s3 = _s3(export.owner or export.table.account_id, export.region)
        if export.pending_failure is None and export.bucket not in s3.buckets:
            export.pending_failure = ("S3NoSuchBucket", "The specified bucket does not exist")
        if export.pending_failure is not None:
            export.status, export.failure, export.end_time = "FAILED", export.pending_failure, time.time()
            return
    try:
        if export.incremental:
            spec = export.incremental
            export.lines = files.incremental_lines(export.source, spec["from"], spec["to"], spec["view"])
        else:
            export.lines = files.full_lines(export.source, export.export_time)
        files.write_files(export, s3)
    except Exception as exc:  # noqa: BLE001 - the export fails, as moto's does, rather than the timer thread
        with _lock:
            export.status, export.failure, export.end_time = "FAILED", ("UNKNOWN", str(exc)), time.time()
        return
    finally:
        export.source = None
    with _lock:
        export.status, export.end_time = "COMPLETED", time.time()


# -- the answers ---------------------------------------------------------------------------------------


def describe(export: Export) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ExportArn": export.arn,
        "ExportStatus": export.status,
        "StartTime": export.start_time,
        "TableArn": export.table.table_arn,
        "TableId": files.table_id(export.table),
        "ClientToken": export.client_token,
        "S3Bucket": export.bucket,
        "ExportFormat": export.export_format,
    }
    if export.export_time is not None:
        out["ExportTime"] = export.export_time
    optional = {"S3Prefix": export.prefix, "S3BucketOwner": export.owner, "S3SseAlgorithm": export.sse,
                "S3SseKmsKeyId": export.kms_key, "ExportType": export.type_given}
    out.update({k: v for k, v in optional.items() if v is not None})
    if export.incremental:
        out["IncrementalExportSpecification"] = {
            "ExportFromTime": export.incremental["from"],
            "ExportToTime": export.incremental["to"],
            "ExportViewType": export.incremental["view"],
        }
    if export.end_time is not None:
        out["EndTime"] = export.end_time
    if export.status == "COMPLETED":
        out.update({"ExportManifest": f"{export.folder}/manifest-summary.json", "ItemCount": export.item_count,
                    "BilledSizeBytes": export.billed_bytes})
    if export.failure is not None:
        out["FailureCode"], out["FailureMessage"] = export.failure
    return out


def describe_export(backend: Any, arn: Any) -> Export:
    if not isinstance(arn, str) or not _EXPORT_ARN.match(arn):
        raise MockValidationException("Invalid Export ARN")
    export = _exports(backend).get(arn)
    if export is None:
        raise ExportNotFoundException(arn)
    return export


def list_exports(backend: Any, body: dict) -> dict[str, Any]:
    limit = body.get("MaxResults", PAGE_MAX)
    if not isinstance(limit, int) or not 1 <= limit <= PAGE_MAX:
        raise _constraint(limit, "maxResults", f"Member must have value between 1 and {PAGE_MAX}")
    table_arn = body.get("TableArn")
    with _lock:
        exports = list(_exports(backend).values())
    if table_arn is not None:
        exports = [e for e in exports if e.table.table_arn == table_arn and backend.tables.get(e.table.name) is e.table]
    exports.sort(key=lambda e: e.arn, reverse=True)
    token = body.get("NextToken")
    if token is not None:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (ValueError, UnicodeDecodeError, AttributeError):
            after = ""
        if not _EXPORT_ARN.match(after):
            raise MockValidationException("Invalid NextToken for ListExports")
        exports = [e for e in exports if e.arn < after]
    page = exports[:limit]
    out: dict[str, Any] = {"ExportSummaries": [
        {"ExportArn": e.arn, "ExportStatus": e.status, "ExportType": e.export_type} for e in page
    ]}
    if len(exports) > limit:
        out["NextToken"] = base64.urlsafe_b64encode(page[-1].arn.encode()).decode()
    return out


def _export_response(self: DynamoHandler):
    _export, answer = start_export(self.dynamodb_backend, self.body, self.region)
    return DynamoResult({"ExportDescription": answer})


def _describe_response(self: DynamoHandler):
    export = describe_export(self.dynamodb_backend, self.body.get("ExportArn"))
    return DynamoResult({"ExportDescription": describe(export)})


def _list_response(self: DynamoHandler):
    return DynamoResult(list_exports(self.dynamodb_backend, self.body))


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        DynamoHandler.export_table_to_point_in_time = _export_response
        DynamoHandler.describe_export = _describe_response
        DynamoHandler.list_exports = _list_response
        _installed = True


__all__ = [
    "install", "start_export", "describe", "describe_export", "list_exports", "Export",
    "ExportConflictException", "InvalidExportTimeException", "ExportNotFoundException",
]

"""``pitr-runbook publish``: a drill's run directory to S3 and its numbers to CloudWatch.

A scheduled job runs ``pitr-runbook drill ...; pitr-runbook publish ...`` and publishes whatever
the drill left, a FAIL or a drill that stopped half-way included (the job keeps the drill's exit
status): an auditor's evidence is every drill, not only the passing ones.

- **S3** (``--bucket s3://bucket/prefix``): every file of the run directory under
  ``<prefix>/<table>/<UTC stamp>/`` (:mod:`.location`), encrypted as the bucket's default
  encryption says (``GetBucketEncryption``): the same algorithm and key are asked for on each
  ``PutObject``, so that a bucket policy that denies uploads without
  ``x-amz-server-side-encryption`` accepts them ("Protecting data with server-side encryption",
  Amazon S3 User Guide). When the caller may not read the bucket's encryption
  (``s3:GetEncryptionConfiguration`` denied), or that has none, the uploads ask for ``AES256`` (SSE-S3, every
  bucket's default since January 2023).
- **CloudWatch** (``--namespace``, default ``PITRRunbook``): ``PutMetricData`` with dimension
  ``TableName`` = the source table: ``Passed`` (1 or 0, always), ``RestoreSeconds`` (when the
  restore reached ACTIVE) and ``UnexplainedDifferences`` (when reconciliation ran). ``Passed`` is
  sent even for a drill that wrote no summary (0), so the missed-drill alarm tells "no drill ran"
  from "a drill failed". The datum's timestamp is the publish time: the alarms look at recent
  periods, and publish follows the drill at once.

The table comes from ``summary.json``, else the run state, else ``--table``.
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from .. import run_state, runner, times
from ..aws.clients import AwsTarget
from ..aws.codes import error_code, is_access_denied
from ..errors import InputError, PreconditionError
from .location import S3Location
from .records import DrillRecord, record_of

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "PITRRunbook"
DIMENSION = "TableName"
#: metric name -> CloudWatch unit
METRICS = {"Passed": "None", "RestoreSeconds": "Seconds", "UnexplainedDifferences": "Count"}
#: GetBucketEncryption's answer for a bucket without a default encryption configuration (S3's "List
#: of error codes"). AWS gives every bucket SSE-S3 since January 2023, and so does the sandbox; the
#: code stays for S3-compatible endpoints and older documentation, and means: ask for SSE-S3
NO_ENCRYPTION_CONFIG = "ServerSideEncryptionConfigurationNotFoundError"


@dataclass
class PublishResult:
    table: str
    record: DrillRecord
    location: str | None = None
    objects: int = 0
    encryption: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    namespace: str = DEFAULT_NAMESPACE


def drill_record(run_dir: str | Path, table: str | None = None) -> DrillRecord:
    """The drill in ``run_dir``, whatever it got to. ``InputError`` for a missing directory or
    one that names no table."""
    path = Path(run_dir)
    if not path.is_dir():
        raise InputError(f"run directory {path} does not exist: give the --run-dir the drill wrote "
                         "(pitr-runbook drill --run-dir DIR)")
    summary = runner.read_summary(path)
    if not summary.get("source_table") and not table and run_state.exists(path):
        table = run_state.load(path).view().get("source_table")
    record = record_of(summary, location=str(path), table=table)
    if record is None:
        raise InputError(f"{path} names no table (no summary.json, no run state): pass --table NAME")
    return record


def encryption_of(s3, bucket: str) -> dict[str, Any]:
    """``PutObject``'s encryption arguments that match the bucket's default encryption."""
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as exc:
        if error_code(exc) == "NoSuchBucket":
            raise PreconditionError(f"bucket {bucket} does not exist: deploy infra/drill-schedule.yaml (its "
                                    "RunsBucket output) or give --bucket an existing bucket", code="NoSuchBucket") from None
        if error_code(exc) != NO_ENCRYPTION_CONFIG and not is_access_denied(exc):
            raise
        log.info("bucket %s: default encryption not read (%s); asking for SSE-S3", bucket, error_code(exc))
        return {"ServerSideEncryption": "AES256"}
    default = (rules[0] if rules else {}).get("ApplyServerSideEncryptionByDefault") or {}
    algorithm = default.get("SSEAlgorithm") or "AES256"
    out: dict[str, Any] = {"ServerSideEncryption": algorithm}
    if algorithm.startswith("aws:kms") and default.get("KMSMasterKeyID"):
        out["SSEKMSKeyId"] = default["KMSMasterKeyID"]
    if algorithm.startswith("aws:kms") and rules and rules[0].get("BucketKeyEnabled"):
        out["BucketKeyEnabled"] = True
    return out


def upload_run(target: AwsTarget, run_dir: str | Path, location: S3Location, table: str,
               when: datetime) -> tuple[str, int, dict[str, Any]]:
    """Every file of ``run_dir`` under the drill's key prefix: (its s3:// URI, files, encryption)."""
    s3 = target.client("s3")
    encryption = encryption_of(s3, location.bucket)
    base = location.run_key(table, when)
    root = Path(run_dir)
    count = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        key = f"{base}/{path.relative_to(root).as_posix()}"
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with path.open("rb") as body:
            s3.put_object(Bucket=location.bucket, Key=key, Body=body, ContentType=content_type, **encryption)
        count += 1
    return f"s3://{location.bucket}/{base}/", count, encryption


def metric_values(record: DrillRecord) -> dict[str, float]:
    """The data ``record`` gives: ``Passed`` always, the others when the drill measured them."""
    values = {"Passed": 1.0 if record.passed else 0.0}
    if record.rto_seconds is not None:
        values["RestoreSeconds"] = float(record.rto_seconds)
    if record.unexplained is not None:
        values["UnexplainedDifferences"] = float(record.unexplained)
    return values


def put_metrics(target: AwsTarget, namespace: str, table: str, values: dict[str, float]) -> None:
    now = times.utcnow()
    data = [{"MetricName": name, "Dimensions": [{"Name": DIMENSION, "Value": table}], "Timestamp": now,
             "Value": value, "Unit": METRICS[name]} for name, value in values.items()]
    target.client("cloudwatch").put_metric_data(Namespace=namespace, MetricData=data)


def publish(run_dir: str | Path, *, target: AwsTarget, bucket: S3Location | None = None,
            namespace: str = DEFAULT_NAMESPACE, table: str | None = None) -> PublishResult:
    """Upload ``run_dir`` (when ``bucket``) and put its metrics. Nothing of the drill is changed."""
    if not namespace or namespace.startswith("AWS/") or len(namespace) > 255:
        raise InputError(f"--namespace {namespace!r}: a custom namespace of 1-255 characters not starting with "
                         "'AWS/' (PutMetricData reserves AWS/ for AWS services)")
    record = drill_record(run_dir, table)
    result = PublishResult(table=record.table, record=record, namespace=namespace)
    if bucket is not None:
        when = record.when or times.utcnow()
        result.location, result.objects, result.encryption = upload_run(target, run_dir, bucket, record.table, when)
    result.metrics = metric_values(record)
    put_metrics(target, namespace, record.table, result.metrics)
    return result

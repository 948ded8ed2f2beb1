"""Last changes beyond the stream's 24 hours: incremental exports of the source over [T, E).

A difference is explained when its key last changed in [T, R). The source's stream says when, but
it keeps records for 24 hours only, and a source may have no stream. PITR keeps 35 days (or the
table's recovery period), and an **incremental export** (``ExportTableToPointInTime`` with
``ExportType=INCREMENTAL_EXPORT``) writes, for every item changed in [ExportFromTime, ExportToTime),
one line compacted to its last change: ``{"Metadata": {"WriteTimestampMicros": {"N": ...}}, "Keys":
{...}, "NewImage": {...}}`` (NEW_IMAGE: no OldImage; a deleted item has Keys alone) ("DynamoDB table
export output format", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html, incremental
export output). Its data files sit in the shared ``<prefix>/AWSDynamoDB/data/`` folder and are found
through the export's own ``manifest-files.json``, as a full export's are (:func:`~.layout.download_export`).

AWS takes an export period of at least 15 minutes and at most 24 hours, inside the PITR window
("Requesting a table export in DynamoDB", Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport_Requesting.html).
So [T, E) is cut into periods of at most 24 hours (:func:`export_periods`); a period shorter than 15
minutes starts earlier instead (an overlap changes no key's last change: the newest time wins), and
E is the source's LatestRestorableDateTime once it has passed R (and T + 15 minutes), so the exports
see every change from T until about when the comparison ran; changes after E come from the stream
when it has them (merged: the newest time wins). ``WriteTimestampMicros`` is DynamoDB's own clock
(microseconds), not the writer's.

Only the keys still open after the re-reads are kept; the exports are read line by line, so memory
holds those keys, never the changes themselves.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ...aws.clients import AwsTarget
from ...aws.codes import error_code, error_message
from ...errors import InputError, PreconditionError
from ...times import iso, iso_second, to_utc
from ..stream import LastChanges
from ..values import key_id
from .layout import download_export, locate_export
from .start import EXPORT_PREFIX, _account, _pitr, _table_arn, default_bucket, ensure_bucket, wait_for_exports

log = logging.getLogger(__name__)

#: AWS's bounds of one incremental export's period
MIN_PERIOD = timedelta(minutes=15)
MAX_PERIOD = timedelta(hours=24)


@dataclass(frozen=True)
class IncrementalExports:
    """Explain differences beyond the stream from incremental exports into ``bucket`` (None: the
    runbook's own, created if missing). ``min_period``: AWS's 15 minutes (the sandbox takes less
    through its settings, for tests)."""

    bucket: str | None = None
    work_dir: str | Path | None = None
    min_period: timedelta = MIN_PERIOD
    progress: bool = True


@dataclass
class ExportedChanges:
    """Each wanted key's last change in the periods exported, and which exports said so."""

    changes: dict[str, datetime] = field(default_factory=dict)
    export_arns: list[str] = field(default_factory=list)
    covered: tuple[datetime, datetime] | None = None


def export_periods(
    start: datetime, end: datetime, *, min_period: timedelta = MIN_PERIOD, max_period: timedelta = MAX_PERIOD
) -> list[tuple[datetime, datetime]]:
    """[start, end) as export periods of ``min_period`` to ``max_period`` each, in order; a last piece
    shorter than ``min_period`` starts earlier (overlapping the one before). ``end - start`` must be
    at least ``min_period``."""
    if end - start < min_period:
        raise InputError(f"an incremental export period needs at least {min_period}: [{iso(start)}, {iso(end)}) is shorter")
    periods = []
    at = start
    while at < end:
        stop = min(at + max_period, end)
        periods.append((max(start, stop - min_period) if stop - at < min_period else at, stop))
        at = stop
    return periods


def _window(ddb, table: str) -> tuple[datetime, datetime]:
    p = _pitr(ddb, table)
    if p.get("PointInTimeRecoveryStatus") != "ENABLED" or p.get("EarliestRestorableDateTime") is None:
        raise PreconditionError(
            f"PITR is {p.get('PointInTimeRecoveryStatus') or 'DISABLED'} for {table}: its changes in [T, R) can come "
            "only from its stream or from incremental exports, which read PITR", table=table,
            code="PointInTimeRecoveryUnavailableException")
    return (to_utc(p["EarliestRestorableDateTime"], "EarliestRestorableDateTime"),
            to_utc(p["LatestRestorableDateTime"], "LatestRestorableDateTime"))


def plan_periods(
    target: AwsTarget, table: str, restore_time: datetime, replay_from: datetime, *, min_period: timedelta = MIN_PERIOD,
    timeout: float = 1800.0,
) -> list[tuple[datetime, datetime]]:
    """The periods to export: from T (or earlier, for a first period of ``min_period``) to the
    source's LatestRestorableDateTime once it is past R; waits for it (AWS: about 5 minutes behind)."""
    from ...aws.waiting import interval, poll

    ddb = target.client("dynamodb")
    earliest, _latest = _window(ddb, table)
    if restore_time < earliest:
        raise PreconditionError(
            f"the restore point {iso(restore_time)} is before {table}'s EarliestRestorableDateTime {iso(earliest)}: "
            "no export reaches its changes, and its stream keeps 24 hours; the differences stay unexplained",
            table=table, code="InvalidExportTimeException")
    start = restore_time.replace(microsecond=0)  # ExportFromTime is inclusive; whole seconds on the wire
    needed = max(replay_from, start + min_period)

    def check() -> datetime | None:
        _e, latest = _window(ddb, table)
        return latest.replace(microsecond=0) if latest >= needed else None

    end = poll(check, timeout=timeout, interval=interval(target, 30.0),
               progress=f"{table}'s PITR window to pass R (incremental exports)",
               on_timeout=lambda: PreconditionError(
                   f"{table}'s LatestRestorableDateTime did not reach {iso(needed)} within {timeout:.0f} s: run again later"))
    return export_periods(start, end, min_period=min_period)


def start_incremental(target: AwsTarget, table: str, period: tuple[datetime, datetime], bucket: str, account: str) -> str:
    """One INCREMENTAL_EXPORT (NEW_IMAGE: the keys and times are what is read) of ``table``; its ExportArn."""
    ddb = target.client("dynamodb")
    start, end = period
    token = hashlib.sha256(f"{table}|{iso(start)}|{iso(end)}|{bucket}|incremental".encode()).hexdigest()[:36]
    try:
        resp = ddb.export_table_to_point_in_time(
            TableArn=_table_arn(ddb, table), ClientToken=token, S3Bucket=bucket, S3BucketOwner=account,
            S3Prefix=f"{EXPORT_PREFIX}/{table}/incremental", S3SseAlgorithm="AES256", ExportFormat="DYNAMODB_JSON",
            ExportType="INCREMENTAL_EXPORT",
            IncrementalExportSpecification={"ExportFromTime": start, "ExportToTime": end, "ExportViewType": "NEW_IMAGE"},
        )  # fmt: skip
    except ClientError as exc:
        raise PreconditionError(
            f"incremental export of {table} over [{iso(start)}, {iso(end)}) failed ({error_code(exc)}: "
            f"{error_message(exc)}): the differences in [T, R) stay unexplained; check PITR on {table} and the bucket",
            table=table, code=error_code(exc)) from exc
    return resp["ExportDescription"]["ExportArn"]


def read_changes(files: Iterable[Path], key_names: tuple[str, ...], wanted: set[str] | None) -> dict[str, datetime]:
    """Each key's newest ``WriteTimestampMicros`` in incremental export data files (gzip JSON lines),
    rounded down to the second as stream record times are."""
    out: dict[str, datetime] = {}
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                record = json.loads(line)
                kid = key_id(record["Keys"], key_names)
                if wanted is not None and kid not in wanted:
                    continue
                micros = int(record["Metadata"]["WriteTimestampMicros"]["N"])
                # to the second, as the stream's ApproximateCreationDateTime: both sources classify alike
                when = datetime.fromtimestamp(micros // 1_000_000, tz=timezone.utc)
                if kid not in out or when > out[kid]:
                    out[kid] = when
    return out


def exported_changes(
    target: AwsTarget,
    table: str,
    restore_time: datetime,
    replay_from: datetime,
    *,
    keys: Iterable[str] | None,
    key_names: tuple[str, ...],
    options: IncrementalExports,
) -> ExportedChanges:
    """Export ``table``'s changes from T on (several exports when longer than 24 hours), wait, download
    (MD5 checked) and read each wanted key's last change."""
    periods = plan_periods(target, table, restore_time, replay_from, min_period=options.min_period)  # PITR first
    account = _account(target)
    bucket = options.bucket or default_bucket(account, target.region_name)
    ensure_bucket(target, bucket, account)
    arns = [start_incremental(target, table, period, bucket, account) for period in periods]
    log.info("incremental exports of %s over %s: %s", table,
             ", ".join(f"[{iso(a)}, {iso(b)})" for a, b in periods), ", ".join(arns))
    wait_for_exports(target, tuple(arns))
    wanted = set(keys) if keys is not None else None
    found = ExportedChanges(export_arns=arns, covered=(periods[0][0], periods[-1][1]))
    with tempfile.TemporaryDirectory(prefix="pitr-incremental-") as scratch:
        work = Path(options.work_dir) if options.work_dir is not None else Path(scratch)
        for arn in arns:
            local = download_export(target, locate_export(target, arn), work, progress=options.progress)
            for kid, when in read_changes(local.files, key_names, wanted).items():
                if kid not in found.changes or when > found.changes[kid]:
                    found.changes[kid] = when
    return found


def merged(stream: LastChanges | None, exported: ExportedChanges) -> LastChanges:
    """The stream's last changes and the exports', the newest time of each key."""
    out = LastChanges(stream or {})
    if stream is not None:
        out.__dict__.update(stream.__dict__)
    for kid, when in exported.changes.items():
        if kid not in out or when > out[kid]:
            out[kid] = when
    return out


def describe(exported: ExportedChanges, stream_used: bool) -> dict[str, Any]:
    """Where the last changes came from, for the report."""
    out: dict[str, Any] = {"source": "incremental_export", "incremental_exports": list(exported.export_arns)}
    if exported.covered:
        out["exported_from"], out["exported_to"] = (iso_second(t) for t in exported.covered)
    if stream_used:
        out["stream"] = True
    return out


__all__ = ["MAX_PERIOD", "MIN_PERIOD", "ExportedChanges", "IncrementalExports", "export_periods", "exported_changes",
           "merged", "plan_periods", "read_changes"]

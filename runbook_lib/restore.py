"""Step 02 and the first half of 03: choose T and R, check them, restore, follow it to ACTIVE.

The correctness model (README, "Restore point T, replay start R"): T is the restore point, R the replay start.

- **catch-up** (``replay_from="restore_point"``): R = T minus a small overlap (stream times are
  rounded to the second). The restored table converges to the live source.
- **rollback** (``replay_from`` an ISO-8601 time after T): the writes in [T, R) are reverted on
  purpose; the writes from R on are kept.

Either way the buffer must hold every change from R on. A buffer reading its stream from
``TRIM_HORIZON`` holds everything the stream still has (24 hours on AWS); one started at ``LATEST``
holds only what arrived after its capture start, so R must not lie before that moment. A plan that
would silently lose writes is refused, with the remedy named.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from . import progress as progress_bar
from . import run_state
from . import times
from .aws.clients import AwsTarget
from .errors import InputError, PreconditionError, RestoreError
from .aws.codes import error_code
from .aws.tables import table_exists, validate_table_pair  # noqa: F401 - table_exists: the notebooks' gate
from .times import parse_times
from .restore_regions import cross_region_request, describe_sse, sse_override_for  # noqa: F401 - re-exported
from .restore_capacity import BILLING_MODES, TargetCapacity, check_capacity_overrides, target_capacity  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

#: stream record times are rounded to the second: catch-up replays from this much before T
CATCHUP_OVERLAP = timedelta(seconds=2)
#: DynamoDB streams keep records for 24 hours
STREAM_RETENTION = timedelta(hours=24)



# -- parsing ---------------------------------------------------------------------------------------


def validate_table_names(source_table: str, target_table: str) -> None:
    """Both names valid and different; see :func:`runbook_lib.aws.tables.validate_table_pair`."""
    validate_table_pair(source_table, target_table)


# -- the plan --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestorePlan:
    source_table: str
    target_table: str
    mode: str  # "catchup" | "rollback"
    restore_time: datetime  # T
    replay_from: datetime  # R
    earliest_restorable: datetime
    latest_restorable: datetime
    capture_start: datetime | None  # from when the buffer holds every change (None: no buffer yet)
    planned_at: datetime
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: what the restored table gets (see :class:`TargetCapacity`); None for plans made before it existed
    capacity: TargetCapacity | None = None
    #: the region restored into if not the source's; the source's ARN; SSESpecificationOverride (restore_regions)
    target_region: str | None = None
    source_arn: str | None = None
    sse_override: dict[str, Any] | None = None

    @property
    def reverted_window(self) -> tuple[datetime, datetime] | None:
        """[T, R): writes in it are reverted on purpose (rollback only)."""
        return (self.restore_time, self.replay_from) if self.replay_from > self.restore_time else None

    def to_run_plan(self) -> run_state.Plan:
        """What the run state keeps of this plan (the steps after 02 rebuild it with :func:`plan_from_state`)."""
        return run_state.Plan(
            mode=self.mode,
            restore_time=self.restore_time,
            replay_from=self.replay_from,
            earliest_restorable=self.earliest_restorable,
            latest_restorable=self.latest_restorable,
            buffer_coverage_from=self.capture_start,
            notes=list(self.notes),
            target_capacity=self.capacity.to_state() if self.capacity else None,
        )

    def to_dataframe(self):
        import pandas as pd

        rows = [
            ("source table", self.source_table),
            ("target table", self.target_table),
            ("mode", self.mode),
            ("restore point T", times.iso(self.restore_time)),
            ("replay start R", times.iso(self.replay_from)),
            ("restorable window", f"{times.iso(self.earliest_restorable)} .. {times.iso(self.latest_restorable)}"),
            ("buffer coverage from", times.iso(self.capture_start) if self.capture_start else "no buffer yet"),
            (
                "writes reverted on purpose",
                f"[{times.iso(self.reverted_window[0])}, {times.iso(self.reverted_window[1])})" if self.reverted_window else "none",
            ),
        ]
        rows += [("target region", f"{self.target_region} (restored across regions from {self.source_arn})")] * bool(
            self.target_region) + [("target encryption", describe_sse(self.sse_override or {}))] * (self.sse_override is not None)
        if self.capacity is not None:
            rows += self.capacity.rows()
        rows += [("note", n) for n in self.notes]
        return pd.DataFrame(rows, columns=["item", "value"])


def restorable_window(target: AwsTarget, source_table: str) -> tuple[datetime, datetime]:
    ddb = target.client("dynamodb")
    try:
        desc = ddb.describe_continuous_backups(TableName=source_table)["ContinuousBackupsDescription"]
    except Exception as exc:
        code = error_code(exc)
        if code == "TableNotFoundException":  # DescribeContinuousBackups' code for a missing table
            raise PreconditionError(
                f"source table {source_table} does not exist in {target.region_name}: check the name and the region",
                table=source_table,
                code=code,
            ) from None
        raise
    pitr = desc.get("PointInTimeRecoveryDescription", {})
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        raise PreconditionError(
            f"PITR is off for table {source_table}: enable it with UpdateContinuousBackups, then wait for EarliestRestorableDateTime",
            table=source_table,
            code="PointInTimeRecoveryUnavailableException",
        )
    return (
        pitr["EarliestRestorableDateTime"].astimezone(timezone.utc),
        pitr["LatestRestorableDateTime"].astimezone(timezone.utc),
    )


def buffer_coverage_start(target: AwsTarget, source_table: str, *, starting_position: str, capture_start: datetime | None) -> datetime | None:
    """From when the buffer holds every change: the stream's horizon (TRIM_HORIZON) or the capture start (LATEST)."""
    if capture_start is None:
        return None
    if starting_position.upper() != "TRIM_HORIZON":
        return capture_start
    desc = target.client("dynamodb").describe_table(TableName=source_table)["Table"]
    label = desc.get("LatestStreamLabel")
    stream_born = None
    if label:
        try:
            stream_born = datetime.fromisoformat(label.replace("Z", "+00:00")).astimezone(timezone.utc)
        except ValueError:
            stream_born = None
    horizon = capture_start - STREAM_RETENTION
    return max(horizon, stream_born) if stream_born else horizon


def plan_restore(
    target: AwsTarget,
    *,
    source_table: str,
    target_table: str,
    restore_time: str | datetime = "latest",
    replay_from: str | datetime = "restore_point",
    capture_start: datetime | None = None,
    starting_position: str = "TRIM_HORIZON",
    wait_for_coverage: float = 0.0,
    billing_mode_override: str | None = None,
    provisioned_throughput_override: dict[str, Any] | None = None,
    global_secondary_index_override: list[dict[str, Any]] | None = None,
    now: datetime | None = None,
    destination: AwsTarget | None = None,
    sse_kms_key_id: str | None = None,
) -> RestorePlan:
    """Check T and R against the window and the buffer's coverage before anything is called.

    The restored table's capacity is decided here too (:func:`target_capacity`): the overrides
    go into the restore request as ``BillingModeOverride``, ``ProvisionedThroughputOverride`` and
    ``GlobalSecondaryIndexOverride``; without them the target is billed as the source, and a
    provisioned target is warned about (fixed capacity, no auto scaling until cutover).

    ``wait_for_coverage`` (seconds): with ``restore_time="latest"`` and a buffer that started at
    ``LATEST``, wait up to this long for the restorable time to pass the capture start instead of
    refusing.

    ``destination``: where the target is created (None: ``target``); another region restores with
    ``SourceTableArn`` and an SSE override (``sse_kms_key_id``, :mod:`.restore_regions`).
    """
    validate_table_names(source_table, target_table)
    destination = destination or target
    now = now or times.utcnow()
    t_parsed, r_spec = parse_times(restore_time, replay_from, now=now)
    overrides = check_capacity_overrides(billing_mode_override, provisioned_throughput_override, global_secondary_index_override)

    ddb = target.client("dynamodb")
    earliest, latest = restorable_window(target, source_table)
    source_desc = ddb.describe_table(TableName=source_table)["Table"]
    capacity = target_capacity(target, source_desc, overrides)
    crossing = destination.region_name != target.region_name
    sse_override, sse_notes = sse_override_for(source_desc, destination.region_name, sse_kms_key_id, cross_region=crossing)
    target_ddb = destination.client("dynamodb")
    try:
        target_ddb.describe_table(TableName=target_table)
        raise PreconditionError(
            f"target table {target_table} already exists in {destination.region_name}: choose another target_table, or delete it after checking it is not in use",
            table=target_table,
            code="TableAlreadyExistsException",
        )
    except target_ddb.exceptions.ResourceNotFoundException:
        pass

    coverage = buffer_coverage_start(target, source_table, starting_position=starting_position, capture_start=capture_start)
    notes: list[str] = list(sse_notes)
    if t_parsed == "latest":
        t = latest
        if coverage is not None and t < coverage - CATCHUP_OVERLAP and r_spec == "restore_point":
            deadline = time.monotonic() + wait_for_coverage
            while t < coverage and time.monotonic() < deadline:
                time.sleep(min(5.0, max(0.2, deadline - time.monotonic())))
                earliest, latest = restorable_window(target, source_table)
                t = latest
            if t >= coverage:
                notes.append("waited until the latest restorable time passed the buffer's capture start")
        notes.append("'latest' resolved to LatestRestorableDateTime at planning time")
    else:
        t = t_parsed
    if t < earliest or t > latest:
        raise InputError(
            f"restore_time {times.iso(t)} is outside the restorable window of {source_table}: "
            f"[{times.iso(earliest)}, {times.iso(latest)}]",
            table=source_table,
            code="InvalidRestoreTimeException",
        )
    if r_spec == "restore_point":
        mode, r = "catchup", _whole_second(t - CATCHUP_OVERLAP)
    else:
        assert isinstance(r_spec, datetime)
        if r_spec < t:
            raise InputError(
                f"replay_from {times.iso(r_spec)} is before the restore point {times.iso(t)}: "
                "use 'restore_point' for catch-up, or a time after the restore point for a rollback"
            )
        mode, r = ("rollback" if r_spec > t else "catchup"), _whole_second(r_spec)
        if r != r_spec:
            notes.append(f"replay start rounded down to the second ({times.iso(r)}): stream record times are whole seconds")
        if mode == "rollback" and r <= t:
            mode = "catchup"
    # catch-up needs every change after T (the overlap before T is a margin); rollback every change from R
    needed_from = t if mode == "catchup" else r
    if coverage is not None and needed_from < coverage:
        raise PreconditionError(
            f"the buffer holds changes only from {times.iso(coverage)}, but replay must start at {times.iso(needed_from)}: "
            "the writes in between would be lost. Redeploy the buffer with starting_position TRIM_HORIZON, "
            "or choose a restore point (catch-up) or replay start (rollback) after the capture start",
            table=source_table,
        )
    return RestorePlan(
        source_table=source_table,
        target_table=target_table,
        mode=mode,
        restore_time=t,
        replay_from=r,
        earliest_restorable=earliest,
        latest_restorable=latest,
        capture_start=coverage,
        planned_at=now,
        notes=tuple(notes),
        capacity=capacity,
        target_region=destination.region_name if crossing else None,
        source_arn=source_desc["TableArn"],
        sse_override=sse_override,
    )


def _whole_second(dt: datetime) -> datetime:
    """Stream record times are rounded down to the second, so R is a whole second: a change at
    time t is replayed exactly when floor(t) >= R, whichever way the record's time is read."""
    return dt.replace(microsecond=0)


def write_plan(run_dir, plan: RestorePlan) -> run_state.RunState:
    with run_state.edit(run_dir) as state:
        state.plan = plan.to_run_plan()
        state.params.source_table = state.params.source_table or plan.source_table
        state.params.target_table = state.params.target_table or plan.target_table
    return state


# -- the restore -----------------------------------------------------------------------------------


def start_restore(target: AwsTarget, plan: RestorePlan, *, execute: bool = False, run_dir=None,
                  sse_specification: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Call ``RestoreTableToPointInTime`` to T, only when ``execute`` is true, in ``target``: the
    target table's region (across regions with ``SourceTableArn``: :func:`cross_region_request`).
    ``sse_specification``: the request's ``SSESpecificationOverride``, over the plan's (None: the
    plan's, or as the source, AWS's default)."""
    if plan.target_region and target.region_name != plan.target_region:
        raise InputError(f"a restore into {plan.target_region} is called there, not in {target.region_name}")
    request = {
        **cross_region_request(plan),
        "TargetTableName": plan.target_table,
        "RestoreDateTime": plan.restore_time,
        **(plan.capacity.overrides if plan.capacity else {}),
        **({"SSESpecificationOverride": sse_specification} if sse_specification is not None else {}),
    }
    if not execute:
        log.info("dry run: would restore %s to %s at %s", plan.source_table, plan.target_table, times.iso(plan.restore_time))
        return None
    ddb = target.client("dynamodb")
    try:
        response = ddb.restore_table_to_point_in_time(**request)
    except Exception as exc:
        code = error_code(exc)
        if code is None:
            raise
        remedy = {
            "InvalidRestoreTimeException": "the restore point left the restorable window: plan again",
            "TableAlreadyExistsException": "the target exists: choose another target_table",
            "PointInTimeRecoveryUnavailableException": "enable PITR on the source",
            "TableNotFoundException": "no such source table: check the source table name and region",
            "TableInUseException": "a table of the target's name is being created or deleted: wait, or choose another target_table",
            "LimitExceededException": "too many concurrent restores or table operations in this account: wait and retry",
            "ValidationException": "the request was refused as invalid: check billing_mode_override, "
            "provisioned_throughput_override and global_secondary_index_override against the source's indexes"
            + ("; across regions also target_region (same partition, no Hong Kong or Bahrain) and sse_kms_key_id "
               "(a key of the target's region)" if plan.target_region else ""),
        }.get(code, "see the AWS error message")
        raise RestoreError(f"RestoreTableToPointInTime failed ({code}): {remedy}", table=plan.source_table, code=code) from None
    if run_dir is not None:
        with run_state.edit(run_dir) as state:
            state.timings.restore_called = times.utcnow()
    log.info("restore of %s to %s started", plan.source_table, plan.target_table)
    return response["TableDescription"]


@dataclass
class RestoreProgress:
    table: str
    status: str
    elapsed: float
    restore_in_progress: bool


def wait_active(
    target: AwsTarget,
    table: str,
    *,
    timeout: float = 4 * 3600,
    interval: float = 5.0,
    progress: Callable[[RestoreProgress], None] | None = None,
) -> float:
    """Follow a restored table until it is ACTIVE; returns the seconds waited.

    Raises ``RestoreError`` when the table disappears (a failed restore deletes it), ends in a
    status other than CREATING/ACTIVE, or is not ACTIVE within ``timeout``.
    """
    ddb = target.client("dynamodb")
    started = time.monotonic()
    bar = progress_bar.wait(f"{table} to be ACTIVE", timeout=timeout) if progress is None else None
    try:
        while True:
            elapsed = time.monotonic() - started
            try:
                desc = ddb.describe_table(TableName=table)["Table"]
            except ddb.exceptions.ResourceNotFoundException:
                raise RestoreError(
                    f"restored table {table} no longer exists: the restore failed. Check CloudTrail for the "
                    "RestoreTableToPointInTime call and the table's events, then restore again",
                    table=table,
                    code="ResourceNotFoundException",
                ) from None
            status = desc["TableStatus"]
            in_progress = bool(desc.get("RestoreSummary", {}).get("RestoreInProgress"))
            update = RestoreProgress(table, status, elapsed, in_progress)
            if progress is not None:
                progress(update)
            elif bar is not None:
                bar.update(status=f"{status}, restore in progress: {in_progress}")
            if status == "ACTIVE" and not in_progress:
                return elapsed
            if status not in ("CREATING", "UPDATING", "ACTIVE"):
                raise RestoreError(f"restored table {table} is {status}, not CREATING or ACTIVE: the restore failed", table=table)
            if elapsed > timeout:
                raise RestoreError(
                    f"restore of {table} not ACTIVE after {timeout:.0f} s: check the table in the console; "
                    "large tables take hours, raise restore_timeout if it is still CREATING",
                    table=table,
                )
            time.sleep(min(interval, max(0.05, timeout - elapsed + 0.05)))
    finally:
        if bar is not None:
            bar.close()


def record_active(run_dir, elapsed: float | None = None) -> run_state.RunState:
    """The restored table is ACTIVE now (``timings.active``; the run state computes the RTO)."""
    with run_state.edit(run_dir) as state:
        state.timings.active = times.utcnow()
    return state


def plan_from_state(run_dir) -> RestorePlan:
    """The plan step 02 wrote, for the steps after it."""
    state = run_state.load(run_dir)
    plan = state.require_plan()
    return RestorePlan(
        source_table=state.params.source_table,
        target_table=state.params.target_table,
        mode=plan.mode,
        restore_time=plan.restore_time,
        replay_from=plan.replay_from,
        earliest_restorable=plan.earliest_restorable,
        latest_restorable=plan.latest_restorable,
        capture_start=plan.buffer_coverage_from,
        planned_at=times.utcnow(),
        notes=tuple(plan.notes),
        capacity=TargetCapacity.from_state(plan.target_capacity),
        target_region=state.params.target_region,
    )


__all__ = [
    "RestorePlan",
    "RestoreProgress",
    "TargetCapacity",
    "check_capacity_overrides",
    "target_capacity",
    "plan_restore",
    "plan_from_state",
    "record_active",
    "restorable_window",
    "start_restore",
    "validate_table_names",
    "wait_active",
    "write_plan",
]

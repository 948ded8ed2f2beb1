"""The typed records the run state is made of, each with its own JSON (``to_json``/``from_json``):
what a step hands to the next. :mod:`runbook_lib.run_state` puts them together in :class:`RunState`
and alone reads and writes the run directory's file; import them from there."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from . import times


def _t(value: Any, what: str) -> datetime | None:
    return times.to_utc(value, what)


def _iso(value: datetime | None) -> str | None:
    return times.iso(value) if value is not None else None


@dataclass
class Params:
    """The common parameters the run was started with (T and R as given, not resolved)."""

    source_table: str | None = None
    target_table: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    automation: str = "notebook"
    restore_time: str = "latest"
    replay_from: str = "restore_point"
    #: where the target table is created (None: the source's region); see ``aws.regions``
    target_region: str | None = None


@dataclass
class Plan:
    """Step 02's resolved plan: T and R as aware UTC datetimes."""

    mode: str  # "catchup" | "rollback"
    restore_time: datetime  # T
    replay_from: datetime  # R
    earliest_restorable: datetime
    latest_restorable: datetime
    buffer_coverage_from: datetime | None = None
    notes: list[str] = field(default_factory=list)
    #: ``restore.TargetCapacity.to_state()``
    target_capacity: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "restore_time": _iso(self.restore_time),
            "replay_from": _iso(self.replay_from),
            "earliest_restorable": _iso(self.earliest_restorable),
            "latest_restorable": _iso(self.latest_restorable),
            "buffer_coverage_from": _iso(self.buffer_coverage_from),
            "notes": list(self.notes),
            "target_capacity": self.target_capacity,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(
            mode=data["mode"],
            restore_time=_t(data["restore_time"], "plan.restore_time"),
            replay_from=_t(data["replay_from"], "plan.replay_from"),
            earliest_restorable=_t(data["earliest_restorable"], "plan.earliest_restorable"),
            latest_restorable=_t(data["latest_restorable"], "plan.latest_restorable"),
            buffer_coverage_from=_t(data.get("buffer_coverage_from"), "plan.buffer_coverage_from"),
            notes=list(data.get("notes") or []),
            target_capacity=data.get("target_capacity"),
        )


@dataclass
class Stack:
    """The buffer stack step 01 deployed."""

    #: ``buffer.BufferStack.to_dict()``: name, id, status, region, outputs, parameters
    description: dict[str, Any]
    capture_start: datetime | None = None
    starting_position: str = "TRIM_HORIZON"
    cfn_role_arn: str | None = None
    #: when step 01 began to deploy it: the functions' log lines of this run are not older
    deploy_started: datetime | None = None

    @property
    def name(self) -> str:
        return str(self.description.get("name"))

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(self.description.get("outputs") or {})

    def buffer_stack(self):
        from .buffer import BufferStack

        return BufferStack.from_dict(self.description)

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "capture_start": _iso(self.capture_start),
            "starting_position": self.starting_position,
            "cfn_role_arn": self.cfn_role_arn,
            "deploy_started": _iso(self.deploy_started),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stack:
        return cls(
            description=dict(data["description"]),
            capture_start=_t(data.get("capture_start"), "stack.capture_start"),
            starting_position=data.get("starting_position") or "TRIM_HORIZON",
            cfn_role_arn=data.get("cfn_role_arn"),
            deploy_started=_t(data.get("deploy_started"), "stack.deploy_started"),
        )


@dataclass
class Timings:
    """When each milestone was reached. RTO and catch-up are computed here and nowhere else."""

    restore_called: datetime | None = None
    active: datetime | None = None
    replay_enabled: datetime | None = None
    drained: datetime | None = None
    cutover_done: datetime | None = None

    @property
    def rto_seconds(self) -> float | None:
        """The restore's recovery time: ``RestoreTableToPointInTime`` called -> the target ACTIVE."""
        return _between(self.restore_called, self.active)

    @property
    def catch_up_seconds(self) -> float | None:
        """The buffer's catch-up: the target ACTIVE -> the buffer drained into it."""
        return _between(self.active, self.drained)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: _iso(getattr(self, f.name)) for f in fields(self)}
        # written for a person reading the file; never read back (computed from the times above)
        out["rto_seconds"], out["catch_up_seconds"] = self.rto_seconds, self.catch_up_seconds
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Timings:
        return cls(**{f.name: _t(data.get(f.name), f"timings.{f.name}") for f in fields(cls)})


def _between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


@dataclass
class DrainSample:
    """One look at the buffer while it drains (counts only)."""

    t: datetime
    depth: int
    in_flight: int
    dlq: int
    stream_failures: int = 0
    stream_lag: float | None = None
    forwarder_errors: int = 0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "t": _iso(self.t)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DrainSample:
        known = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in data.items() if k in known}, "t": _t(data["t"], "drain_samples.t")})


@dataclass
class Workflow:
    """Event automation: the execution that turned replay on, or why none did."""

    execution_arn: str | None = None
    status: str = "NOT_STARTED"
    fallback: str | None = None


@dataclass
class Fallback:
    """A step did what an automation should have done, and why."""

    step: str
    what: str
    why: str
    at: datetime
    active: datetime | None = None
    event_grace_seconds: float | None = None
    rule_dlq_messages: int = 0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": _iso(self.at), "active": _iso(self.active)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fallback:
        return cls(**{**data, "at": _t(data["at"], "fallbacks.at"), "active": _t(data.get("active"), "fallbacks.active")})


@dataclass
class PreflightRow:
    check: str
    status: str  # PASS | WARN | FAIL
    finding: str
    remedy: str = ""
    code: str | None = None


@dataclass
class PipelineActivity:
    """What the buffer's functions logged, added up (``activity.pipeline_activity``), read once the
    buffer had drained: by step 03 after its drain, again by step 04 after its own drain wait.

    ``counts`` is ``pipeline_activity``'s JSON (events and totals per function, DLQ depth, stream
    failures); ``error`` says why it could not be read (an AccessDenied on ``logs:FilterLogEvents``,
    with its code), and then ``counts`` is empty: the run goes on, the report says so.
    """

    read_at: datetime | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"read_at": _iso(self.read_at), "counts": dict(self.counts), "error": self.error}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PipelineActivity:
        return cls(_t(data.get("read_at"), "pipeline.read_at"), dict(data.get("counts") or {}), data.get("error"))


@dataclass
class Teardown:
    clean: bool
    resources: list[str] = field(default_factory=list)


@dataclass
class Switch:
    """The SSM parameter the application reads its table name from (``runbook_lib.switch``).

    ``previous_*`` is what the parameter held before this run changed it, read (and saved here)
    before ``PutParameter``: ``undo`` puts it back, or deletes a parameter that did not exist.
    ``version`` is the version the switch wrote (``PutParameter``'s answer): an undo refuses a
    parameter changed since (another version). ``switched`` None with ``previous_*`` set: the
    switch was about to be written (a resumed step reads the parameter to see whether it was)."""

    parameter: str
    value: str
    previous_exists: bool
    previous_value: str | None = None
    previous_version: int | None = None
    version: int | None = None
    switched: datetime | None = None
    undone: datetime | None = None
    #: "restored" (the previous value written back, as ``undo_version``) or "deleted"
    undo: str | None = None
    undo_version: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "switched": _iso(self.switched), "undone": _iso(self.undone)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Switch:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        return cls(**{**values, "switched": _t(data.get("switched"), "switch.switched"),
                      "undone": _t(data.get("undone"), "switch.undone")})


#: the parts of the write-unavailability window, in order: (name, the milestone that ends it)
DOWNTIME_PARTS = (("quiet_wait", "quiet"), ("drain", "drained"), ("settings", "settings"), ("switch", "switched"))


@dataclass
class Downtime:
    """Cutover's write-unavailability window, as milestones (aware UTC).

    It starts at the newest write seen on the source's stream while cutover waited for quiet
    (``last_source_write``, the record's ``ApproximateCreationDateTime``, which DynamoDB Streams
    rounds down to the second), or, when none was seen, at the start of that wait; it ends at the
    switch (``PutParameter`` answered), or without one at ``settings`` (the application is then
    pointed by hand). Parts: quiet-period wait (start -> quiet confirmed), drain (-> drained and
    replay off), settings (-> the target's settings checked) and switch (-> ``PutParameter``
    answered). ``first_target_write``: the first record on the target's stream after the switch,
    when the target has a stream and one came within ``first_write_wait_seconds``."""

    quiet_wait_started: datetime | None = None
    last_source_write: datetime | None = None
    quiet: datetime | None = None
    drained: datetime | None = None
    settings: datetime | None = None
    switched: datetime | None = None
    first_target_write: datetime | None = None
    #: how long cutover looked for the first write on the target's stream (None: it did not look)
    first_write_wait_seconds: float | None = None
    #: why the first write on the target is not known (no stream on the target, none seen in time)
    first_write_note: str | None = None

    @property
    def start(self) -> datetime | None:
        return self.last_source_write or self.quiet_wait_started

    @property
    def start_kind(self) -> str:
        return "last_source_write" if self.last_source_write else "quiet_wait_started"

    @property
    def end(self) -> datetime | None:
        return self.switched or self.settings

    @property
    def seconds(self) -> float | None:
        """Start -> the switch (or, without one, the settings checked)."""
        return _between(self.start, self.end)

    def parts(self) -> dict[str, float]:
        """Each part's seconds, for the milestones reached (a part ends where its milestone is)."""
        out: dict[str, float] = {}
        before = self.start
        for name, milestone in DOWNTIME_PARTS:
            when = getattr(self, milestone)
            if when is None or before is None:
                continue
            out[name] = max(0.0, _between(before, when) or 0.0)
            before = when
        return out

    @property
    def until_first_target_write_seconds(self) -> float | None:
        return _between(self.start, self.first_target_write)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        for f in fields(self):
            if isinstance(out[f.name], datetime):
                out[f.name] = _iso(out[f.name])
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Downtime:
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = data.get(f.name)
            values[f.name] = value if f.name in ("first_write_wait_seconds", "first_write_note") else _t(value, f"downtime.{f.name}")
        return cls(**values)


@dataclass
class StepStatus:
    """Where a step got to: ``running`` (started, not finished: a resume checks AWS), ``done``, ``failed``."""

    status: str
    started: datetime | None = None
    finished: datetime | None = None
    error: str | None = None
    #: the step ran with ``execute`` (a dry run's "done" does not stand for an executed step)
    execute: bool = False

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "started": _iso(self.started), "finished": _iso(self.finished)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepStatus:
        return cls(data["status"], _t(data.get("started"), "steps.started"), _t(data.get("finished"), "steps.finished"),
                   data.get("error"), bool(data.get("execute", False)))

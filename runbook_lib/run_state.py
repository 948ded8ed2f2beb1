"""The run state: what one step hands to the next, so that a run can be chained or resumed.

(Over 600 lines on purpose: the file's only reader and writer, one small typed class per part of
the state, each with its own JSON; split, the format would be read in several places again.)

This module alone reads and writes the file in the run directory (``state.json``). Everyone else
holds a :class:`RunState`: typed fields, times as aware UTC datetimes (parsed once, here, with
:mod:`runbook_lib.times`), and one computation of the restore's RTO and the buffer's catch-up time
(:class:`Timings`). A file written by another version of the format, or a malformed one, raises an
error naming the remedy instead of being half read.

    state = run_state.load(run_dir)          # an empty RunState when the run has none yet
    with run_state.edit(run_dir) as state:   # read, change, write atomically
        state.timings.active = times.utcnow()

What it holds: :class:`Params` (the run's common parameters), :class:`Plan` (T, R, the mode, the
restorable window, the buffer's coverage, the target's capacity), :class:`Stack` (the buffer
stack's description, its service role, when capture started and from where), :class:`Timings`,
:class:`DrainSample` list, :class:`Workflow` (event automation), :class:`Fallback` list (what a step
did in place of an automation that did not act), faults (drill bookkeeping), :class:`PipelineActivity`
(the buffer's functions' log lines added up), the message size limit step 00 checked, :class:`PreflightRow`
list, the settings snapshot (``settings.snapshot``'s own JSON), :class:`Teardown`, the status
of each step (:class:`StepStatus`), the application's switch (:class:`Switch`: the SSM parameter, its
value before and the version cutover wrote) and cutover's write-unavailability window (:class:`Downtime`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from . import times
from .errors import InputError, PreconditionError

#: the format of the file; a file of another version is refused (see :func:`load`)
VERSION = 1
STATE_FILE = "state.json"
#: drain samples kept (the newest ones)
MAX_DRAIN_SAMPLES = 2000


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


@dataclass
class RunState:
    version: int = VERSION
    params: Params = field(default_factory=Params)
    started: datetime | None = None
    plan: Plan | None = None
    stack: Stack | None = None
    timings: Timings = field(default_factory=Timings)
    drain_samples: list[DrainSample] = field(default_factory=list)
    workflow: Workflow | None = None
    fallbacks: list[Fallback] = field(default_factory=list)
    #: drill bookkeeping, one entry per injected fault: name, params, injected, pipeline (activity), fallbacks
    faults: list[dict[str, Any]] = field(default_factory=list)
    #: a drill's own facts (``drill.record_drill``): mode, items, traffic, faults, RTO target; the report shows them
    drill: dict[str, Any] | None = None
    preflight: list[PreflightRow] = field(default_factory=list)
    #: what the buffer's functions did (their log lines added up), read after the buffer drained
    pipeline: PipelineActivity | None = None
    #: step 00's message size limit (bytes) it checked the source's items against; step 01 compares
    #: it with the limit the buffer it deploys enforces
    preflight_max_message_bytes: int | None = None
    #: ``settings.snapshot`` of the source (its own JSON): what the restore will not carry
    settings_snapshot: dict[str, Any] | None = None
    teardown: Teardown | None = None
    steps: dict[str, StepStatus] = field(default_factory=dict)
    #: the application's switch (an SSM parameter) cutover wrote, and what it held before
    switch: Switch | None = None
    #: cutover's write-unavailability window
    downtime: Downtime | None = None

    # -- what the steps ask ------------------------------------------------------------------

    @property
    def buffer_stack(self):
        """The deployed ``buffer.BufferStack``, or None when this run has none."""
        return self.stack.buffer_stack() if self.stack else None

    def require_plan(self) -> Plan:
        if self.plan is None:
            raise PreconditionError("the run state has no restore plan: run 02_restore first (same run_dir)", step="02_restore")
        return self.plan

    def require_stack(self) -> Stack:
        if self.stack is None:
            raise PreconditionError(
                "the run state names no buffer stack: run 01_deploy_buffer with execute=True first (same run_dir)",
                step="01_deploy_buffer",
            )
        return self.stack

    def add_drain_sample(self, sample: DrainSample) -> None:
        self.drain_samples = [*self.drain_samples[-(MAX_DRAIN_SAMPLES - 1):], sample]

    def step_done(self, step: str, *, execute: bool) -> bool:
        """``step`` finished in this run, with ``execute`` as given (so a resume need not redo it)."""
        status = self.steps.get(step)
        return status is not None and status.status == "done" and status.execute == execute

    def mark_step(self, step: str, status: str, *, execute: bool, error: str | None = None) -> None:
        """Record where ``step`` got to: ``running`` when it starts, then ``done`` or ``failed``."""
        now = times.utcnow()
        if status == "running":
            self.steps[step] = StepStatus("running", started=now, execute=execute)
        else:
            before = self.steps.get(step)
            self.steps[step] = StepStatus(status, before.started if before else None, now, error, execute)

    # -- JSON ----------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "params": asdict(self.params),
            "started": _iso(self.started),
            "plan": self.plan.to_json() if self.plan else None,
            "stack": self.stack.to_json() if self.stack else None,
            "timings": self.timings.to_json(),
            "drain_samples": [s.to_json() for s in self.drain_samples],
            "workflow": asdict(self.workflow) if self.workflow else None,
            "fallbacks": [f.to_json() for f in self.fallbacks],
            "faults": list(self.faults),
            "drill": self.drill,
            "preflight": [asdict(r) for r in self.preflight],
            "pipeline": self.pipeline.to_json() if self.pipeline else None,
            "preflight_max_message_bytes": self.preflight_max_message_bytes,
            "settings_snapshot": self.settings_snapshot,
            "teardown": asdict(self.teardown) if self.teardown else None,
            "steps": {name: s.to_json() for name, s in self.steps.items()},
            "switch": self.switch.to_json() if self.switch else None,
            "downtime": self.downtime.to_json() if self.downtime else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        return cls(
            version=data["version"],
            params=Params(**(data.get("params") or {})),
            started=_t(data.get("started"), "started"),
            plan=Plan.from_json(data["plan"]) if data.get("plan") else None,
            stack=Stack.from_json(data["stack"]) if data.get("stack") else None,
            timings=Timings.from_json(data.get("timings") or {}),
            drain_samples=[DrainSample.from_json(s) for s in data.get("drain_samples") or []],
            workflow=Workflow(**data["workflow"]) if data.get("workflow") else None,
            fallbacks=[Fallback.from_json(f) for f in data.get("fallbacks") or []],
            faults=list(data.get("faults") or []),
            drill=data.get("drill"),
            preflight=[PreflightRow(**r) for r in data.get("preflight") or []],
            pipeline=PipelineActivity.from_json(data["pipeline"]) if data.get("pipeline") else None,
            preflight_max_message_bytes=data.get("preflight_max_message_bytes"),
            settings_snapshot=data.get("settings_snapshot"),
            teardown=Teardown(**data["teardown"]) if data.get("teardown") else None,
            steps={name: StepStatus.from_json(s) for name, s in (data.get("steps") or {}).items()},
            switch=Switch.from_json(data["switch"]) if data.get("switch") else None,
            downtime=Downtime.from_json(data["downtime"]) if data.get("downtime") else None,
        )

    def view(self) -> dict[str, Any]:
        """The run as the plain mapping the report and the reconciliation read (ISO-8601 text times):
        tables, mode, T, R, capture start, stack, timings (with ``rto_seconds`` and
        ``catch_up_seconds`` from :class:`Timings`), drain samples, fallbacks, faults."""
        plan = self.plan
        return {
            "source_table": self.params.source_table,
            "target_table": self.params.target_table,
            "automation": self.params.automation,
            "region": self.params.region,
            "endpoint_url": self.params.endpoint_url,
            "mode": plan.mode if plan else None,
            "restore_time": _iso(plan.restore_time) if plan else None,
            "replay_from": _iso(plan.replay_from) if plan else None,
            "capture_start": _iso(self.stack.capture_start) if self.stack else None,
            "stack": dict(self.stack.description) if self.stack else None,
            "timings": self.timings.to_json(),
            "drain_samples": [s.to_json() for s in self.drain_samples],
            "fallbacks": [f.to_json() for f in self.fallbacks],
            "faults": list(self.faults),
            "drill": self.drill,
            "pipeline": dict(self.pipeline.counts) if self.pipeline else {},
            "pipeline_error": self.pipeline.error if self.pipeline else None,
            "teardown": asdict(self.teardown) if self.teardown else None,
            "switch": self.switch.to_json() if self.switch else None,
            "downtime": self.downtime.to_json() if self.downtime else None,
        }


def path(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / STATE_FILE


def exists(run_dir: str | os.PathLike) -> bool:
    return path(run_dir).exists()


def load(run_dir: str | os.PathLike) -> RunState:
    """The run state of ``run_dir``; an empty one when the run has none yet.

    Raises :class:`InputError` for a file that is not the run state's JSON, and
    :class:`PreconditionError` for one written by another version of the format.
    """
    file = path(run_dir)
    if not file.exists():
        return RunState()
    try:
        data = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{file} is not valid JSON ({exc}): it is not a run state this runbook wrote; "
            "start the run in a new run_dir, or restore the file from the executed notebooks"
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{file} holds a {type(data).__name__}, not a run state: start the run in a new run_dir")
    version = data.get("version")
    if version != VERSION:
        raise PreconditionError(
            f"{file} was written by another version of pitr-runbook (run state format {version!r}; this one reads "
            f"{VERSION}): finish that run with the version that started it, or start again in a new run_dir"
        )
    try:
        return RunState.from_json(data)
    except InputError as exc:
        raise InputError(f"{file} holds a malformed time ({exc}): start the run in a new run_dir") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(
            f"{file} is malformed ({type(exc).__name__}: {exc}): it was edited by hand or truncated; "
            "start the run in a new run_dir"
        ) from None


def save(run_dir: str | os.PathLike, state: RunState) -> RunState:
    """Write ``state`` atomically (a temporary file in the same folder, then a rename)."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=run, prefix=".state.", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(state.to_json(), fh, indent=2, sort_keys=True)
        os.replace(tmp, run / STATE_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return state


@contextlib.contextmanager
def edit(run_dir: str | os.PathLike | None) -> Iterator[RunState]:
    """Load, let the caller change, save. ``run_dir`` None: a throw-away state (nothing written)."""
    if run_dir is None:
        yield RunState()
        return
    state = load(run_dir)
    yield state
    save(run_dir, state)


__all__ = [
    "VERSION",
    "DOWNTIME_PARTS",
    "Downtime",
    "DrainSample",
    "Fallback",
    "Params",
    "PipelineActivity",
    "Plan",
    "PreflightRow",
    "RunState",
    "Stack",
    "StepStatus",
    "Switch",
    "Teardown",
    "Timings",
    "Workflow",
    "edit",
    "exists",
    "load",
    "path",
    "save",
]

"""The run state: what one step hands to the next, so that a run can be chained or resumed.

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
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from . import times
from .errors import InputError, PreconditionError
from .run_records import (  # noqa: F401 - the records are read as run_state.<Record>
    DOWNTIME_PARTS,
    Downtime,
    DrainSample,
    Fallback,
    Params,
    PipelineActivity,
    Plan,
    PreflightRow,
    Stack,
    StepStatus,
    Switch,
    Teardown,
    Timings,
    Workflow,
    _between,
    _iso,
    _t,
)

#: the format of the file; a file of another version is refused (see :func:`load`)
VERSION = 1
STATE_FILE = "state.json"
#: drain samples kept (the newest ones)
MAX_DRAIN_SAMPLES = 2000


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

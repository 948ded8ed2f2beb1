"""Step 03: the restored table to ACTIVE, replay on, and the buffer draining to caught-up.

- ``automation="notebook"``: this step turns replay on once the table is ACTIVE.
- ``automation="event"``: CloudTrail's event, the rule and the Step Functions workflow turn it on;
  this step only watches the execution and reports its state.

"Caught up" means the buffer holds nothing (no message visible, in flight or delayed) for
``quiet_samples`` samples in a row. With writers still active, new changes keep arriving and are
applied within seconds; the buffer stays near empty.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

from . import buffer
from . import state as run_state
from .config import AwsTarget
from .errors import BufferError, PreconditionError
from .restore import status_bar

log = logging.getLogger(__name__)


def stack_from_state(run_dir) -> buffer.BufferStack:
    s = run_state.load(run_dir)
    if not s.get("stack"):
        raise PreconditionError(f"{run_dir}/state.json names no buffer stack: run 01_deploy_buffer with execute=True first")
    return buffer.BufferStack.from_dict(s["stack"])


# -- replay on ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkflowReport:
    execution_arn: str | None
    status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED | NOT_STARTED
    replay_enabled: bool
    error: str | None = None


#: the restore call's own time is taken after the API answers; its event may start the workflow first
_EVENT_SLACK = timedelta(minutes=5)


def find_restore_execution(target: AwsTarget, stack: buffer.BufferStack, *, since=None) -> dict | None:
    """The newest workflow execution started by this restore's event, or None.

    An execution counts when it started no earlier than ``since`` minus a few minutes and its input
    (the CloudTrail event) names this stack's target table.
    """
    if not stack.state_machine_arn:
        return None
    sfn = target.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=stack.state_machine_arn, maxResults=50).get("executions", [])
    executions.sort(key=lambda e: e["startDate"], reverse=True)
    for execution in executions:
        if since is not None and execution["startDate"] < since - _EVENT_SLACK:
            continue
        try:
            event = json.loads(sfn.describe_execution(executionArn=execution["executionArn"]).get("input") or "{}")
        except ValueError:
            continue
        params = event.get("detail", {}).get("requestParameters", {}) if isinstance(event, dict) else {}
        if params.get("targetTableName") == stack.target_table:
            return execution
    return None


def watch_workflow(
    target: AwsTarget,
    stack: buffer.BufferStack,
    *,
    since=None,
    timeout: float = 900.0,
    interval: float = 2.0,
    progress: Callable[[str], None] | None = None,
) -> WorkflowReport:
    """Wait for the event-driven workflow to start and finish; it must leave replay on."""
    if not stack.state_machine_arn:
        raise PreconditionError(
            f"stack {stack.stack_name} was deployed with automation=notebook: it has no workflow to watch; "
            "run with automation='notebook' or redeploy the buffer with automation='event'"
        )
    sfn = target.client("stepfunctions")
    deadline = time.monotonic() + timeout
    execution = None
    while time.monotonic() < deadline:
        execution = find_restore_execution(target, stack, since=since)
        if execution is not None:
            break
        if progress:
            progress("waiting for the restore event to start the workflow")
        time.sleep(interval)
    if execution is None:
        raise BufferError(
            f"no execution of {stack.state_machine_arn} started within {timeout:.0f} s of the restore: check that a "
            "CloudTrail trail logs management write events in this region and that the rule "
            f"{stack.rule_name} is enabled; turn replay on by hand with automation='notebook'"
        )
    arn = execution["executionArn"]
    while True:
        desc = sfn.describe_execution(executionArn=arn)
        status = desc["status"]
        if progress:
            progress(f"workflow {status}")
        if status != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise BufferError(f"workflow {arn} still RUNNING after {timeout:.0f} s: look at its history in the console")
        time.sleep(interval)
    enabled = buffer.status(target, stack).replay_enabled
    if status != "SUCCEEDED":
        error = f"{desc.get('error', '')}: {desc.get('cause', '')}".strip(": ")
        raise BufferError(
            f"workflow {arn} ended {status} ({error or 'no cause given'}): replay is "
            f"{'on' if enabled else 'off'}; turn it on with automation='notebook' once the table is ACTIVE"
        )
    return WorkflowReport(arn, status, enabled)


def turn_on_replay(
    target: AwsTarget,
    stack: buffer.BufferStack,
    *,
    automation: str,
    execute: bool,
    run_dir=None,
    since=None,
    timeout: float = 900.0,
    progress: Callable[[str], None] | None = None,
) -> WorkflowReport | None:
    if automation not in ("notebook", "event"):
        raise PreconditionError(f"automation must be 'notebook' or 'event', not {automation!r}")
    if not execute:
        log.info("dry run: replay stays as it is")
        return None
    if automation == "event":
        report = watch_workflow(target, stack, since=since, timeout=timeout, progress=progress)
    else:
        buffer.enable_replay(target, stack)
        report = WorkflowReport(None, "NOT_STARTED", True)
    if run_dir is not None:
        run_state.update(
            run_dir,
            timings={"replay_enabled": run_state.iso(run_state.utcnow())},
            workflow={"execution_arn": report.execution_arn, "status": report.status},
        )
    return report


# -- drain -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrainResult:
    caught_up: bool
    seconds: float
    samples: tuple[dict[str, Any], ...]
    dlq_depth: int
    stream_failures: int

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(list(self.samples))


def follow_drain(
    target: AwsTarget,
    stack: buffer.BufferStack,
    *,
    run_dir=None,
    timeout: float = 1800.0,
    sample_seconds: float = 2.0,
    quiet_samples: int = 3,
    require_empty: bool = False,
    progress: Callable[[buffer.BufferStatus], None] | None = None,
) -> DrainResult:
    """Sample the buffer until it is caught up ``quiet_samples`` times in a row.

    Caught up: no message waits (depth 0); messages in flight are being applied. With writers
    still active new changes keep arriving, so the queue is never empty for long; once the writers
    have stopped, ``require_empty=True`` waits for nothing visible, in flight or delayed.
    """
    started = time.monotonic()
    samples: list[dict[str, Any]] = []
    quiet = 0
    last: buffer.BufferStatus | None = None
    bar = status_bar("draining buffer") if progress is None else None
    try:
        while True:
            last = buffer.status(target, stack)
            sample = {
                "t": run_state.iso(last.sampled_at),
                "depth": last.depth,
                "in_flight": last.in_flight,
                "dlq": last.dlq_depth,
                "stream_failures": last.stream_failures,
            }
            samples.append(sample)
            if progress is not None:
                progress(last)
            elif bar is not None:
                bar.set_postfix_str(f"depth {last.depth}, in flight {last.in_flight}, DLQ {last.dlq_depth}")
                bar.update(0)
            if run_dir is not None:
                run_state.update(run_dir, drain_samples=run_state.load(run_dir).get("drain_samples", [])[-2000:] + [sample])
            caught_up_now = last.drained if require_empty else (last.depth == 0 and last.delayed == 0)
            quiet = quiet + 1 if caught_up_now else 0
            if quiet >= quiet_samples:
                break
            if time.monotonic() - started > timeout:
                break
            time.sleep(sample_seconds)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.monotonic() - started
    caught_up = quiet >= quiet_samples
    if run_dir is not None and caught_up:
        s = run_state.load(run_dir)
        drained_at = run_state.utcnow()
        timings = {"drained": run_state.iso(drained_at)}
        active = s.get("timings", {}).get("active")
        if active:
            timings["catchup_seconds"] = round((drained_at - run_state.parse_iso(active)).total_seconds(), 3)
        run_state.update(run_dir, timings=timings)
    result = DrainResult(caught_up, seconds, tuple(samples), last.dlq_depth if last else 0, last.stream_failures if last else 0)
    if not caught_up:
        raise BufferError(
            f"the buffer did not drain within {timeout:.0f} s (depth {last.depth if last else '?'}, in flight "
            f"{last.in_flight if last else '?'}): check the applier's errors in its log group and the DLQ, "
            "or raise drain_timeout"
        )
    if result.dlq_depth or result.stream_failures:
        log.warning("buffer drained with %d message(s) in the DLQ and %d stream failure(s): once their cause is "
                    "gone, move the DLQ back with buffer.redrive_dlq (03_monitor: redrive_dlq=True)",
                    result.dlq_depth, result.stream_failures)
    return result


def dlq_summary(target: AwsTarget, stack: buffer.BufferStack) -> dict[str, Any]:
    """Counts only (never message bodies): what the operator must look at before cutover."""
    st = buffer.status(target, stack)
    return {"dlq_depth": st.dlq_depth, "stream_failures": st.stream_failures, "dlq_url": stack.dlq_url}


def workflow_history_summary(target: AwsTarget, execution_arn: str) -> list[dict[str, Any]]:
    """State names and times of a workflow execution, for the notebook (no inputs or outputs shown)."""
    sfn = target.client("stepfunctions")
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=200).get("events", [])
    rows = []
    for e in events:
        details = next((v for k, v in e.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})
        rows.append({"time": e["timestamp"], "type": e["type"], "state": details.get("name", "")})
    return rows


__all__ = [
    "DrainResult",
    "WorkflowReport",
    "dlq_summary",
    "find_restore_execution",
    "follow_drain",
    "stack_from_state",
    "turn_on_replay",
    "watch_workflow",
    "workflow_history_summary",
    "json",
]

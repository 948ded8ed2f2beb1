"""Step 03: the restored table to ACTIVE, replay on, and the buffer draining to caught-up.

- ``automation="notebook"``: this step turns replay on once the table is ACTIVE.
- ``automation="event"``: CloudTrail's event, the rule and the Step Functions workflow turn it on;
  this step watches the execution and reports its state. CloudTrail delivers events to EventBridge
  on a best-effort basis ("Event delivery from AWS services", EventBridge User Guide,
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-delivery-level.html:
  "in some rare cases an event might not be delivered"), and an event that arrives may still fail
  to start the workflow (then EventBridge puts it in the rule target's dead-letter queue). So when
  no execution has started ``event_grace_seconds`` after the restored table became ACTIVE, or the
  rule's DLQ holds this restore's event, this step says so and, with ``execute``, turns replay on
  itself (:func:`buffer.enable_replay`, the call notebook mode makes) and records that it did and
  why in the run state (``fallbacks``); without ``execute`` it says what it would do. A workflow
  that starts later anyway finds the mapping enabled already (enabling it again changes nothing).

"Caught up" means the buffer holds nothing (no message visible, in flight or delayed) for
``quiet_samples`` samples in a row. With writers still active, new changes keep arriving and are
applied within seconds; the buffer stays near empty.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from botocore.exceptions import ClientError

from . import buffer
from .automation import EVENT, check_automation
from .aws.codes import error_code
from . import run_state
from . import times
from .aws.clients import AwsTarget
from .errors import BufferError, InputError, PreconditionError
from .rule_dlq import EVENT_SLACK, RuleDeadLetter, RuleDlqSummary, rule_dlq_summary  # noqa: F401 - monitor's public names
from . import progress as progress_bar

log = logging.getLogger(__name__)


def stack_from_state(run_dir) -> buffer.BufferStack:
    """The buffer stack step 01 deployed in this run (:class:`PreconditionError` if none)."""
    return run_state.load(run_dir).require_stack().buffer_stack()


# -- replay on ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkflowReport:
    execution_arn: str | None
    status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED | NOT_STARTED
    replay_enabled: bool
    error: str | None = None
    #: event mode: why no workflow turned replay on, when this step did (or, in a dry run, would)
    fallback: str | None = None
    #: one plain sentence for the operator: what happened, or what would happen
    message: str = ""


#: event mode: seconds after the restored table is ACTIVE to wait for the workflow to start before
#: turning replay on here. The event is sent when the restore is called, minutes to hours before
#: ACTIVE, so an execution that has not started five minutes after ACTIVE will not come.
EVENT_GRACE_SECONDS = 300.0
FALLBACK_ACTION = "replay turned on by step 03 (buffer.enable_replay), not by the event-driven workflow"


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
        if since is not None and execution["startDate"] < since - EVENT_SLACK:
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
    deadline = time.monotonic() + timeout
    execution = None
    bar = progress_bar.wait("the restore event to start the workflow", timeout=timeout) if progress is None else None
    try:
        while time.monotonic() < deadline:
            execution = find_restore_execution(target, stack, since=since)
            if execution is not None:
                break
            if progress:
                progress("waiting for the restore event to start the workflow")
            elif bar is not None:
                bar.update(status="no execution yet")
            time.sleep(interval)
    finally:
        if bar is not None:
            bar.close(ok=execution is not None)
    if execution is None:
        raise BufferError(
            f"no execution of {stack.state_machine_arn} started within {timeout:.0f} s of the restore: check that a "
            "CloudTrail trail logs management write events in this region and that the rule "
            f"{stack.rule_name} is enabled; turn replay on by hand with automation='notebook'"
        )
    return _follow_execution(target, stack, execution["executionArn"], deadline=deadline, interval=interval, progress=progress)


def _follow_execution(
    target: AwsTarget,
    stack: buffer.BufferStack,
    arn: str,
    *,
    deadline: float,
    interval: float,
    progress: Callable[[str], None] | None,
) -> WorkflowReport:
    """Wait for a started execution to end; it must leave replay on."""
    sfn = target.client("stepfunctions")
    timeout = max(0.0, deadline - time.monotonic())
    # a bar like every other wait (progress.py); a caller with its own progress callback gets none
    bar = progress_bar.wait("the workflow to turn replay on", timeout=timeout) if progress is None else None
    status = None
    try:
        while True:
            desc = sfn.describe_execution(executionArn=arn)
            status = desc["status"]
            if progress:
                progress(f"workflow {status}")
            elif bar is not None:
                bar.update(status=f"workflow {status}")
            if status != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise BufferError(f"workflow {arn} still RUNNING after {timeout:.0f} s: look at its history in the console")
            time.sleep(interval)
    finally:
        if bar is not None:
            bar.close(ok=sys.exc_info()[1] is None and status == "SUCCEEDED")
    enabled = buffer.status(target, stack).replay_enabled
    if status != "SUCCEEDED":
        error = f"{desc.get('error', '')}: {desc.get('cause', '')}".strip(": ")
        raise BufferError(
            f"workflow {arn} ended {status} ({error or 'no cause given'}): replay is "
            f"{'on' if enabled else 'off'}; turn it on with automation='notebook' once the table is ACTIVE"
        )
    return WorkflowReport(arn, status, enabled, message=f"the event-driven workflow turned replay on ({arn})")


def _missed_event_reason(
    target: AwsTarget,
    stack: buffer.BufferStack,
    *,
    since: datetime | None,
    active_at: datetime,
    grace_seconds: float,
    now: datetime,
) -> str | None:
    """Why the workflow will not start for this restore, or None while it still may."""
    dead = rule_dlq_summary(target, stack)
    mine = dead.for_table(stack.target_table, since=since) if dead else []
    if mine:
        first = mine[0]
        return (
            f"EventBridge could not start the workflow for this restore and put its event in the rule's "
            f"dead-letter queue ({first.error_code}: {first.error_message or 'no message'}; {dead.queue_url})"
        )
    if now >= active_at + timedelta(seconds=grace_seconds):
        return (
            f"no execution of the enable-replay workflow started within {grace_seconds:g} s after "
            f"{stack.target_table} became ACTIVE: the restore's CloudTrail event did not reach the rule "
            f"{stack.rule_name} (EventBridge receives CloudTrail events on a best-effort basis; also check "
            "that a trail logs management write events in this region and that the rule is enabled)"
        )
    return None


def _find_execution(target: AwsTarget, stack: buffer.BufferStack, *, since) -> tuple[dict | None, str | None]:
    """(this restore's execution or None, why none can start: the state machine is gone)."""
    try:
        return find_restore_execution(target, stack, since=since), None
    except ClientError as exc:
        if error_code(exc) != "StateMachineDoesNotExist":
            raise
        return None, (
            f"the enable-replay state machine {stack.state_machine_arn} does not exist (deleted outside the "
            "stack?): no execution can start"
        )


def _wait_for_start(
    target: AwsTarget,
    stack: buffer.BufferStack,
    *,
    since: datetime | None,
    active_at: datetime,
    grace_seconds: float,
    interval: float,
    progress: Callable[[str], None] | None,
) -> tuple[dict | None, str | None]:
    """(the execution, None) once one started for this restore; (None, why) once none will."""
    grace_left = max(0.0, (active_at + timedelta(seconds=grace_seconds) - times.utcnow()).total_seconds())
    bar = progress_bar.wait("the restore event to start the workflow", timeout=grace_left) if progress is None else None
    started = False
    try:
        while True:
            execution, missing = _find_execution(target, stack, since=since)
            if execution is not None:
                started = True
                return execution, None
            now = times.utcnow()
            reason = _missed_event_reason(target, stack, since=since, active_at=active_at, grace_seconds=grace_seconds, now=now)
            reason = reason or missing
            if reason is not None:
                return None, reason
            if progress:
                progress("waiting for the restore event to start the workflow")
            elif bar is not None:
                bar.update(status="no execution yet; then this step turns replay on itself")
            remaining = (active_at + timedelta(seconds=grace_seconds) - now).total_seconds()
            time.sleep(max(0.05, min(interval, remaining)))
    finally:
        if bar is not None:
            bar.close(ok=started)


def _event_mode(
    target: AwsTarget,
    stack: buffer.BufferStack,
    *,
    execute: bool,
    run_dir,
    since: datetime | None,
    active_at: datetime | None,
    grace_seconds: float,
    timeout: float,
    interval: float,
    progress: Callable[[str], None] | None,
) -> WorkflowReport:
    if not stack.state_machine_arn:
        raise PreconditionError(
            f"stack {stack.stack_name} was deployed with automation=notebook: it has no workflow to watch; "
            "run with automation='notebook' or redeploy the buffer with automation='event'"
        )
    if grace_seconds < 0:
        raise InputError(f"event_grace_seconds must be 0 or more, not {grace_seconds}")
    active = active_at or times.utcnow()
    if not execute:
        # one look, no waiting and no change
        execution, missing = _find_execution(target, stack, since=since)
        enabled = buffer.status(target, stack).replay_enabled
        if execution is not None:
            status = target.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])["status"]
            return WorkflowReport(execution["executionArn"], status, enabled, message=f"dry run: the workflow is {status}; nothing changed")
        reason = _missed_event_reason(
            target, stack, since=since, active_at=active, grace_seconds=grace_seconds, now=times.utcnow()
        ) or missing
        if reason is None:
            return WorkflowReport(
                None, "NOT_STARTED", enabled,
                message=(
                    f"dry run: no workflow execution yet; with execute=True this step waits until "
                    f"{times.iso(active + timedelta(seconds=grace_seconds))} for one, then turns replay on itself"
                ),
            )  # fmt: skip
        return WorkflowReport(
            None, "NOT_STARTED", enabled, fallback=reason,
            message=(
                f"{reason}. Dry run: with execute=True this step would turn replay on itself "
                "(buffer.enable_replay) and record that in the run state (fallbacks); nothing changed"
            ),
        )  # fmt: skip
    execution, reason = _wait_for_start(
        target, stack, since=since, active_at=active, grace_seconds=grace_seconds, interval=interval, progress=progress
    )
    if execution is not None:
        return _follow_execution(
            target, stack, execution["executionArn"], deadline=time.monotonic() + timeout, interval=interval, progress=progress
        )
    log.warning("%s: turning replay on here", reason)
    if progress:
        progress(f"{reason}: turning replay on here")
    buffer.enable_replay(target, stack)
    dead = rule_dlq_summary(target, stack)
    if run_dir is not None:
        with run_state.edit(run_dir) as state:
            state.fallbacks.append(run_state.Fallback(
                step="03_monitor", what=FALLBACK_ACTION, why=reason, at=times.utcnow(), active=active,
                event_grace_seconds=grace_seconds, rule_dlq_messages=dead.depth if dead else 0,
            ))  # fmt: skip
    return WorkflowReport(None, "NOT_STARTED", True, fallback=reason, message=f"{reason}. Replay was turned on by this step.")


def turn_on_replay(
    target: AwsTarget,
    stack: buffer.BufferStack,
    *,
    automation: str,
    execute: bool,
    run_dir=None,
    since=None,
    active_at=None,
    event_grace_seconds: float = EVENT_GRACE_SECONDS,
    timeout: float = 900.0,
    interval: float = 2.0,
    progress: Callable[[str], None] | None = None,
) -> WorkflowReport | None:
    """Replay on: by this step (notebook mode), or by the workflow, with this step as the fallback.

    ``active_at``: when the restored table became ACTIVE (``timings.active``; default now).
    ``event_grace_seconds``: event mode, how long after that to wait for the workflow to start.
    ``timeout``: event mode, how long a started execution may run. Notebook mode without
    ``execute`` returns None (nothing to say); event mode without it reads and reports.
    """
    check_automation(automation)
    if automation == EVENT:
        report = _event_mode(
            target, stack, execute=execute, run_dir=run_dir, since=times.to_utc(since, "since"),
            active_at=times.to_utc(active_at, "active_at"), grace_seconds=float(event_grace_seconds),
            timeout=timeout, interval=interval, progress=progress,
        )  # fmt: skip
        if not execute:
            log.info("%s", report.message)
            return report
    elif not execute:
        log.info("dry run: replay stays as it is")
        return None
    else:
        buffer.enable_replay(target, stack)
        report = WorkflowReport(None, "NOT_STARTED", True, message="replay turned on by this step")
    if run_dir is not None:
        with run_state.edit(run_dir) as state:
            state.timings.replay_enabled = times.utcnow()
            state.workflow = run_state.Workflow(report.execution_arn, report.status, report.fallback)
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


#: how stale the forwarder's ``IteratorAge`` can be when read (a one-minute metric, plus CloudWatch's
#: publication delay); the sandbox publishes at once
METRIC_STALENESS_SECONDS = 120.0
SANDBOX_METRIC_STALENESS_SECONDS = 2.0


def applied_until(target: AwsTarget, drain: "DrainResult", *, quiet_samples: int) -> datetime:
    """The moment before which a caught-up buffer had taken every change of the source: the first of
    the ``quiet_samples`` caught-up samples, less the forwarder's lag then (its ``IteratorAge``, at
    most :data:`buffer.LAG_TOLERANCE_SECONDS` when caught up) and how stale that metric can be. A
    change older than this was forwarded and no message waited in the queue: it has been applied (or
    is being applied: an applier that fails keeps it in the queue, and the DLQ shows it)."""
    quiet = drain.samples[-quiet_samples:] if len(drain.samples) >= quiet_samples else drain.samples
    first = quiet[0]
    lags = [s.get("stream_lag") for s in quiet if s.get("stream_lag") is not None]
    lag = max(lags) if lags else 0.0
    stale = SANDBOX_METRIC_STALENESS_SECONDS if target.is_sandbox else METRIC_STALENESS_SECONDS
    return times.parse_iso(first["t"]) - timedelta(seconds=lag + stale)


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
    have stopped, ``require_empty=True`` waits for nothing visible, in flight or delayed. Either
    way the forwarder must have caught up with the source's stream too
    (:attr:`buffer.BufferStatus.forwarder_behind`: its Lambda ``IteratorAge`` at most
    :data:`buffer.LAG_TOLERANCE_SECONDS`, no failed invocation), or changes still waiting in the
    stream would be missed; on AWS that reads one-minute metrics, so it can be up to a minute late.
    """
    started = time.monotonic()
    samples: list[dict[str, Any]] = []
    quiet = 0
    last: buffer.BufferStatus | None = None
    bar = progress_bar.wait("the buffer to drain", timeout=timeout) if progress is None else None
    figure = progress_bar.live_drain_figure(samples, run_dir) if progress is None else None
    try:
        while True:
            last = buffer.status(target, stack)
            sample = {
                "t": times.iso(last.sampled_at),
                "depth": last.depth,
                "in_flight": last.in_flight,
                "dlq": last.dlq_depth,
                "stream_failures": last.stream_failures,
                "stream_lag": last.stream_lag_seconds,
                "forwarder_errors": last.forwarder_errors,
            }
            samples.append(sample)
            if progress is not None:
                progress(last)
            elif bar is not None:
                lag = "-" if last.stream_lag_seconds is None else f"{last.stream_lag_seconds:.1f} s"
                bar.update(status=(
                    f"depth {last.depth}, in flight {last.in_flight}, DLQ {last.dlq_depth}, stream lag {lag}"
                    + (f", forwarder errors {last.forwarder_errors}" if last.forwarder_errors else "")
                ))
                figure.update()
            if run_dir is not None:
                with run_state.edit(run_dir) as state:
                    state.add_drain_sample(run_state.DrainSample(last.sampled_at, **{k: v for k, v in sample.items() if k != "t"}))
            caught_up_now = last.drained if require_empty else (
                last.depth == 0 and last.delayed == 0 and not last.forwarder_behind
            )
            quiet = quiet + 1 if caught_up_now else 0
            if quiet >= quiet_samples:
                break
            if time.monotonic() - started > timeout:
                break
            time.sleep(sample_seconds)
    finally:
        if bar is not None:
            bar.close()
            figure.close()
    seconds = time.monotonic() - started
    caught_up = quiet >= quiet_samples
    if run_dir is not None and caught_up:
        with run_state.edit(run_dir) as state:
            state.timings.drained = times.utcnow()
    result = DrainResult(caught_up, seconds, tuple(samples), last.dlq_depth if last else 0, last.stream_failures if last else 0)
    if not caught_up:
        raise BufferError(
            f"the buffer did not drain within {timeout:.0f} s (depth {last.depth if last else '?'}, in flight "
            f"{last.in_flight if last else '?'}, stream lag {last.stream_lag_seconds if last else '?'} s, forwarder "
            f"errors {last.forwarder_errors if last else '?'}): check the applier's and the forwarder's errors in "
            "their log groups and the DLQ, or raise drain_timeout"
        )
    if result.dlq_depth or result.stream_failures:
        log.warning("buffer drained with %d message(s) in the DLQ and %d stream failure(s): once their cause is "
                    "gone, move the DLQ back with buffer.redrive_dlq (03_monitor: redrive_dlq=True)",
                    result.dlq_depth, result.stream_failures)
    return result


def dlq_summary(target: AwsTarget, stack: buffer.BufferStack) -> dict[str, Any]:
    """Counts only (never message bodies): what the operator must look at before cutover."""
    st = buffer.status(target, stack)
    out = {"dlq_depth": st.dlq_depth, "stream_failures": st.stream_failures, "dlq_url": stack.dlq_url}
    rule_dlq = rule_dlq_summary(target, stack)
    if rule_dlq is not None:
        out.update(rule_dlq_depth=rule_dlq.depth, rule_dlq_url=rule_dlq.queue_url)
    return out


def workflow_history_summary(target: AwsTarget, execution_arn: str) -> list[dict[str, Any]]:
    """State names and times of a workflow execution, for the notebook (no inputs or outputs shown)."""
    sfn = target.client("stepfunctions")
    # AWS pages the history (at most 1,000 events a call): follow nextToken to the end
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn, maxResults=1000)
    rows = []
    for e in (event for page in pages for event in page.get("events", [])):
        details = next((v for k, v in e.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})
        rows.append({"time": e["timestamp"], "type": e["type"], "state": details.get("name", "")})
    return rows


__all__ = [
    "EVENT_GRACE_SECONDS",
    "DrainResult",
    "RuleDeadLetter",
    "RuleDlqSummary",
    "WorkflowReport",
    "dlq_summary",
    "rule_dlq_summary",
    "find_restore_execution",
    "follow_drain",
    "stack_from_state",
    "turn_on_replay",
    "watch_workflow",
    "workflow_history_summary",
]

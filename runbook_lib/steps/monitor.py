"""Step 03: follow the restore to ACTIVE (RTO), turn replay on (or watch the event-driven workflow
do it, with this step as the fallback), follow the buffer to caught-up, and, when asked, redrive
the DLQ and follow the drain again.

Started again after an interruption, it carries on: a table already ACTIVE is not waited for and
its recorded ACTIVE time (so the RTO) is kept; turning replay on again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .base import Parameter, StepResult, begin, item_rows, pick

STEP = "03_monitor"
PARAMETERS = (
    Parameter("restore_timeout", float, 14400.0, "seconds to wait for the restored table to be ACTIVE"),
    Parameter("restore_poll_seconds", float, 5.0, "seconds between two reads of the restored table's status"),
    Parameter("workflow_timeout", float, 900.0, "event automation: seconds to wait for the workflow to enable replay"),
    Parameter("event_grace_seconds", float, 300.0, "event automation: seconds after the restored table is ACTIVE to "
              "wait for the workflow to start; then this step turns replay on itself (with execute) and records why"),
    Parameter("drain_timeout", float, 1800.0, "seconds to wait for the buffer to be caught up"),
    Parameter("sample_seconds", float, 2.0, "seconds between buffer samples"),
    Parameter("quiet_samples", int, 3, "empty samples in a row that count as caught up"),
    Parameter("redrive_dlq", bool, False, "True (with execute): move the DLQ's messages back to the buffer "
              "(StartMessageMoveTask) once their cause is gone, then follow the drain again"),
    Parameter("dlq_wait", float, 0.0,
              "with redrive_dlq: seconds to wait for changes still failing to reach the DLQ before redriving"),
)  # fmt: skip


def arguments(namespace: dict[str, Any]) -> dict[str, Any]:
    return pick(PARAMETERS, namespace)


@dataclass(repr=False)
class MonitorResult(StepResult):
    rto_seconds: float | None = None
    workflow: Any = None  # monitor.WorkflowReport
    workflow_history: list[dict[str, Any]] = field(default_factory=list)
    rule_dlq: Any = None  # monitor.RuleDlqSummary
    drain: Any = None  # monitor.DrainResult (the last one followed)
    redrive: Any = None  # buffer.RedriveResult
    dlq: dict[str, Any] | None = None  # monitor.dlq_summary: counts only
    view: dict[str, Any] | None = None
    pipeline: Any = None  # run_state.PipelineActivity: the buffer's accounting, read after the drain

    def rows(self) -> list[dict[str, Any]]:
        pairs: list[tuple[str, Any]] = []
        if self.rto_seconds is not None:
            pairs.append(("RTO (restore called -> ACTIVE), s", self.rto_seconds))
        if self.workflow is not None:
            pairs.append(("replay on", self.workflow.message))
        if self.drain is not None:
            pairs += [("caught up after, s", round(self.drain.seconds, 1)), ("DLQ", self.drain.dlq_depth),
                      ("stream failures", self.drain.stream_failures)]
        if self.redrive is not None:
            pairs.append(("DLQ redrive", f"{self.redrive.status}: {self.redrive.moved} of {self.redrive.to_move} moved"))
        pairs += [(k.replace("_", " "), v) for k, v in (self.dlq or {}).items()]
        if self.pipeline is not None and self.pipeline.error:
            pairs.append(("the buffer's accounting", f"could not be read: {self.pipeline.error}"))
        return item_rows(pairs)

    def extra_tables(self):
        import pandas as pd

        tables = []
        if self.workflow_history:
            tables.append(("the workflow's states", pd.DataFrame(self.workflow_history)))
        if self.rule_dlq is not None and self.rule_dlq.depth:
            tables.append((f"the restore rule's dead-letter queue holds {self.rule_dlq.depth} event(s): "
                           f"{self.rule_dlq.queue_url}", self.rule_dlq.to_dataframe()))
        return tables

    def drain_figure(self):
        from .. import report

        return report.drain_figure(self.view or {})

    def timeline(self):
        from .. import report

        return report.timeline_figure(self.view or {})

    def figures(self):
        """The buffer's drain, then the timeline (the report's figures), as a notebook shows them."""
        from ..report import Figures

        return Figures((self.drain_figure(), self.timeline()))


def run(ctx, **parameters: Any) -> MonitorResult:
    from .. import activity, buffer, monitor
    from .. import restore as restore_lib

    p = begin(ctx, STEP, PARAMETERS, parameters)
    plan = restore_lib.plan_from_state(ctx.run_dir)
    state = ctx.load()
    result = MonitorResult(STEP, ctx.execute, "")
    if ctx.execute:
        if state.timings.active is None:
            restore_lib.wait_active(ctx.destination, plan.target_table, timeout=p.restore_timeout,
                                    interval=p.restore_poll_seconds)
            state = restore_lib.record_active(ctx.run_dir)
        result.rto_seconds = state.timings.rto_seconds
    if not ctx.execute and not (ctx.automation == "event" and state.stack is not None):
        result.outcome = "dry run: nothing to follow (no restore was started); replay stays as it is"
        result.view = state.view()
        return result.announce()
    stack = monitor.stack_from_state(ctx.run_dir)
    result.workflow = monitor.turn_on_replay(
        ctx.target, stack, automation=ctx.automation, execute=ctx.execute, run_dir=ctx.run_dir,
        since=state.timings.restore_called, active_at=state.timings.active,
        event_grace_seconds=p.event_grace_seconds, timeout=p.workflow_timeout,
    )  # fmt: skip
    if result.workflow is not None and result.workflow.execution_arn:
        result.workflow_history = monitor.workflow_history_summary(ctx.target, result.workflow.execution_arn)
    result.rule_dlq = monitor.rule_dlq_summary(ctx.target, stack)
    if not ctx.execute:
        result.outcome = result.workflow.message if result.workflow else "dry run: replay stays as it is"
        result.view = ctx.load().view()
        return result.announce()
    drain = dict(timeout=p.drain_timeout, sample_seconds=p.sample_seconds, quiet_samples=p.quiet_samples)
    result.drain = monitor.follow_drain(ctx.target, stack, run_dir=ctx.run_dir, **drain)
    if p.redrive_dlq:
        result.redrive = buffer.redrive_dlq(ctx.target, stack, execute=True, wait_for_dlq=p.dlq_wait)  # its own bars
        result.drain = monitor.follow_drain(ctx.target, stack, run_dir=ctx.run_dir, **drain)
    else:
        result.dlq = monitor.dlq_summary(ctx.target, stack)
    result.pipeline = activity.record(ctx.target, ctx.run_dir, stack)  # drained: the buffer's accounting
    state = ctx.load()
    result.view = state.view()
    rto = f"RTO {result.rto_seconds:.1f} s; " if result.rto_seconds is not None else ""
    result.outcome = (f"{plan.target_table} ACTIVE; {rto}replay on; caught up after {result.drain.seconds:.1f} s "
                      f"(catch-up {state.timings.catch_up_seconds} s); DLQ {result.drain.dlq_depth}, "
                      f"stream failures {result.drain.stream_failures}")
    return result.announce()

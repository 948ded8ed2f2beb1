"""Step 02: resolve T and R against the restorable window and the buffer's coverage, show them,
and (with ``execute``) set the applier's replay start R and call ``RestoreTableToPointInTime``.

A restore this run called already (the run state has ``timings.restore_called`` and the target
table exists) is not called again: the step says so and the run goes on to follow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import times
from .base import Parameter, StepResult, begin, pick

STEP = "02_restore"
PARAMETERS = (
    Parameter("wait_for_coverage", float, 0.0, 'seconds to wait for "latest" to pass the buffer\'s capture start '
              "(only matters with starting_position LATEST)"),
    Parameter("billing_mode_override", str, None, 'the restored table\'s billing mode: None (as the source), '
              '"PAY_PER_REQUEST" (replay is never throttled by capacity) or "PROVISIONED"'),
    Parameter("provisioned_throughput_override", dict, None, 'the restored table\'s capacity, e.g. '
              '{"ReadCapacityUnits": 100, "WriteCapacityUnits": 500}; None: as the source'),
    Parameter("global_secondary_index_override", list, None, "GlobalSecondaryIndexOverride as RestoreTableToPointInTime "
              "takes it (each index with its ProvisionedThroughput); None: as the source"),
    Parameter("sse_kms_key_id", str, None, "a KMS key (ARN, id or alias) of the target's region to encrypt the restored "
              "table with; None: as the source (across regions: an AWS owned key, or the AWS managed key there)"),
)  # fmt: skip


def arguments(namespace: dict[str, Any]) -> dict[str, Any]:
    return pick(PARAMETERS, namespace)


@dataclass(repr=False)
class RestoreResult(StepResult):
    plan: Any = None  # restore.RestorePlan
    table: dict[str, Any] | None = None  # the restore's TableDescription
    view: dict[str, Any] | None = None  # the run state after the step, for the figure

    def to_dataframe(self):
        return self.plan.to_dataframe()

    def timeline(self):
        """The run's timeline: T, R, the buffer's capture start, the reverted window [T, R)."""
        from .. import report

        return report.timeline_figure(self.view or {})

    def figures(self):
        """The timeline, as a notebook shows it (an image)."""
        from ..report import Figures

        return Figures((self.timeline(),))


def run(ctx, **parameters: Any) -> RestoreResult:
    from .. import buffer
    from .. import restore as restore_lib

    p = begin(ctx, STEP, PARAMETERS, parameters)
    state = ctx.load()
    called = _called_already(ctx, state) if ctx.execute else None
    if called is not None:
        plan = restore_lib.plan_from_state(ctx.run_dir)
        outcome = (f"the restore of {ctx.source_table} to {ctx.target_table} was called by this run at "
                   f"{times.iso(called)}: not called again; 03_monitor follows it")
        return RestoreResult(STEP, True, outcome, plan=plan, view=ctx.load().view()).announce()
    plan = restore_lib.plan_restore(
        ctx.target, source_table=ctx.source_table, target_table=ctx.target_table, restore_time=ctx.restore_time,
        replay_from=ctx.replay_from, capture_start=state.stack.capture_start if state.stack else None,
        starting_position=state.stack.starting_position if state.stack else "TRIM_HORIZON",
        wait_for_coverage=p.wait_for_coverage, billing_mode_override=p.billing_mode_override,
        provisioned_throughput_override=p.provisioned_throughput_override,
        global_secondary_index_override=p.global_secondary_index_override,
        destination=ctx.destination, sse_kms_key_id=p.sse_kms_key_id,
    )  # fmt: skip
    restore_lib.write_plan(ctx.run_dir, plan)
    warnings = list(plan.capacity.warnings) if plan.capacity else []
    if not ctx.execute:
        restore_lib.start_restore(ctx.destination, plan, execute=False)
        return RestoreResult(STEP, False, f"{plan.mode}: T {times.iso(plan.restore_time)}, R {times.iso(plan.replay_from)}. "
                             "Dry run: no restore started; set execute=True to restore", warnings, plan=plan,
                             view=ctx.load().view()).announce()
    if state.stack is not None:
        buffer.set_replay_start(ctx.target, state.buffer_stack, plan.replay_from)
    else:
        warnings.append("no buffer deployed in this run: writes during the restore are not captured")
    table = restore_lib.start_restore(ctx.destination, plan, execute=True, run_dir=ctx.run_dir)
    where = f" in {plan.target_region}" if plan.target_region else ""
    outcome = (f"restore started: {table['TableName']}{where} is {table['TableStatus']}; {plan.mode}, "
               f"T {times.iso(plan.restore_time)}, applier replays from R {times.iso(plan.replay_from)}")
    return RestoreResult(STEP, True, outcome, warnings, plan=plan, table=table, view=ctx.load().view()).announce()


def _called_already(ctx, state):
    """When this run called the restore, if it did and the target is there: the run state's time, or,
    when the process died between the call and its record, the target's ``CreationDateTime`` (the
    target's ``RestoreSummary`` names this source and the plan's T). None: not called."""
    from ..aws.tables import describe_table
    from ..errors import PreconditionError

    if state.plan is None:
        return None
    try:
        desc = describe_table(ctx.destination, ctx.target_table)
    except PreconditionError:  # the target does not exist: a failed restore deletes it
        return None
    if state.timings.restore_called is not None:
        return state.timings.restore_called
    summary = desc.get("RestoreSummary") or {}
    restored_at = times.to_utc(summary.get("RestoreDateTime"), "RestoreDateTime") if summary else None
    ours = str(summary.get("SourceTableArn", "")).endswith(f":table/{ctx.source_table}") and restored_at is not None \
        and abs((restored_at - state.plan.restore_time).total_seconds()) < 1
    if not ours:
        return None  # someone else's table: plan_restore refuses it (TableAlreadyExistsException)
    called = times.to_utc(desc["CreationDateTime"], "CreationDateTime")
    with ctx.edit() as edited:
        edited.timings.restore_called = called
    return called

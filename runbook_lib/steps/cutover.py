"""Step 05: re-apply the settings the restore did not carry (a reviewed diff), wait for the writers
to stop, confirm the buffer drained, turn replay off, write the switch the application reads (an
SSM parameter, with ``switch``), delete the stack and verify nothing is left; the write-unavailability
window is measured on the way (``run_state.Downtime``) and added to the report.

Started again after an interruption it carries on: the settings diff of a table already set is
empty, a buffer already torn down (the run state records it) is not looked for again, and a switch
already written (the run state records its version) is not written again; one not yet written after
replay was turned off is written only once the writers are still stopped and the queue still empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Parameter, StepResult, begin, pick

STEP = "05_cutover"
PARAMETERS = (
    Parameter("apply_settings", bool, True, "re-apply what the restore did not carry (TTL, stream, PITR, tags, ...)"),
    Parameter("quiet_seconds", float, 30.0,
              "cutover waits until no write reaches the source for this long (stop the writers first)"),
    Parameter("cutover_timeout", float, 600.0, "give up waiting for quiet after this many seconds"),
    Parameter("drain_timeout", float, 600.0, "seconds to wait for the buffer to drain (queue empty) once the writers "
              "stopped (a refusal, replay left on, when it does not; see drain_required)"),
    Parameter("drain_required", bool, True,
              "False only for a drill's scratch table (with force, no switch): a buffer that does not drain under writes "
              "that never stop does not hold the cutover back"),
    Parameter("force", bool, False,
              "cut over even if writes keep coming or the DLQ is not empty (those writes are lost)"),
    Parameter("teardown", bool, True, "delete the buffer stack after replay stops, and verify nothing is left"),
    Parameter("cfn_role_arn", str, None, "CloudFormation service role ARN the stack is deleted with; None: the one "
              "01_deploy_buffer used (the run state)"),
    Parameter("switch", str, None, 'the SSM parameter the application reads its table name from, "ssm:/path/to/parameter": '
              "the restored table's name is written there once the writers stopped and the buffer drained; None: no switch"),
    Parameter("force_switch", bool, False,
              "write the switch even if writes keep reaching the source or the buffer did not drain (those writes are lost)"),
    Parameter("first_write_wait", float, 60.0,
              "after the switch, look this long for the application's first write on the restored table's stream"),
)  # fmt: skip


def arguments(namespace: dict[str, Any]) -> dict[str, Any]:
    return pick(PARAMETERS, namespace)


@dataclass(repr=False)
class CutoverResult(StepResult):
    settings_plan: Any = None  # settings.SettingsPlan (None: the target does not exist yet)
    settings_summary: str | None = None  # what will be re-applied, when there is no target to diff against
    applied: Any = None  # settings.SettingsPlan as applied
    cutover: Any = None  # cutover.CutoverReport
    switch: Any = None  # switch.SwitchOutcome
    downtime: Any = None  # run_state.Downtime

    def to_dataframe(self):
        import pandas as pd

        if self.settings_plan is not None:
            return self.settings_plan.to_dataframe()
        return pd.DataFrame([{"settings to re-apply": self.settings_summary}]) if self.settings_summary else pd.DataFrame()

    def extra_tables(self):
        tables = [("cutover", self.cutover.to_dataframe())] if self.cutover is not None else []
        if self.downtime is not None:
            from ..report.downtime import downtime_frame

            tables.append(("write-unavailability window", downtime_frame(self.downtime)))
        return tables


def run(ctx, **parameters: Any) -> CutoverResult:
    from .. import cutover, settings
    from .. import restore as restore_lib
    from .. import switch as switch_lib
    from ..report.downtime import add_downtime_to_report, downtime_line

    p = begin(ctx, STEP, PARAMETERS, parameters)
    parameter = switch_lib.parse(p.switch)
    state = ctx.load()
    result = CutoverResult(STEP, ctx.execute, "")
    snapshot = state.settings_snapshot or settings.snapshot(ctx.target, ctx.source_table)
    if restore_lib.table_exists(ctx.destination, ctx.target_table):  # the target's region (target_region)
        result.settings_plan = settings.diff(ctx.destination, snapshot, ctx.target_table)
    else:
        result.settings_summary = settings.summarize(snapshot)
    said = []
    if p.apply_settings and ctx.execute and result.settings_plan is not None:
        result.applied = settings.apply(ctx.destination, result.settings_plan, execute=True)
        said.append(f"{len(result.applied.changes)} setting(s) applied to {ctx.target_table}")
    else:
        said.append("settings not applied (dry run or apply_settings=False)")

    def settings_check() -> None:
        """The window's "settings" part: what is still to re-apply, after the drain (normally nothing, the
        settings were applied above). A failure here does not hold the switch back (the writers are
        stopped; the step's warning names it, and running the step again re-applies it)."""
        from botocore.exceptions import BotoCoreError, ClientError

        from ..errors import RunbookError

        if not p.apply_settings:
            return
        try:
            settings.apply(ctx.destination, settings.diff(ctx.destination, snapshot, ctx.target_table), execute=True)
        except (RunbookError, ClientError, BotoCoreError) as exc:
            result.warnings.append(f"settings of {ctx.target_table} not re-checked after the drain ({exc}): run "
                                   "05_cutover again once the writers run on it, to re-apply what is missing")

    pointed = f"the application reads {ctx.target_table} from {parameter}" if parameter else \
        f"point the application at {ctx.target_table}"
    role = p.cfn_role_arn or (state.stack.cfn_role_arn if state.stack else None)
    if state.stack is None:
        said.append("no buffer in this run: nothing to cut over" + (f"; SSM parameter {parameter} not changed" if parameter else ""))
    elif (state.teardown is not None and state.teardown.clean) or (ctx.execute and state.timings.cutover_done is not None):
        # replay was turned off by this run already (the writers had stopped, the buffer had drained):
        # the switch (if not written yet) and the teardown are left; buffer.teardown finishes a deletion under way
        torn_down = state.teardown is not None and state.teardown.clean
        if parameter and ctx.execute:
            result.switch = cutover.switch_after_resume(
                ctx.target, ctx.source_table, ctx.target_table, parameter, run_dir=ctx.run_dir,
                stack=None if torn_down else state.buffer_stack, quiet_seconds=p.quiet_seconds,
                timeout=p.cutover_timeout, force_switch=p.force_switch, first_write_wait=p.first_write_wait,
                destination=ctx.destination)
            said.append(result.switch.line())
        if torn_down:
            said.append(f"the buffer {state.stack.name} was torn down by this run already")
        elif p.teardown:
            report = cutover.tear_down(ctx.target, state.buffer_stack, run_dir=ctx.run_dir, cfn_role_arn=role)
            said.append(f"replay was turned off by this run already; stack {report.stack_name} deleted and verified gone")
        if ctx.execute:
            said.append(pointed)
    else:
        result.cutover = cutover.cutover(
            ctx.target, state.buffer_stack, run_dir=ctx.run_dir, execute=ctx.execute, quiet_seconds=p.quiet_seconds,
            timeout=p.cutover_timeout, drain_timeout=p.drain_timeout, force=p.force, teardown=p.teardown, progress=None, cfn_role_arn=role,
            switch=parameter, force_switch=p.force_switch,
            settings_check=settings_check if ctx.execute and result.settings_plan is not None else None,
            first_write_wait=p.first_write_wait, destination=ctx.destination, drain_required=p.drain_required,
        )  # fmt: skip
        result.switch = result.cutover.switch
        if result.switch is not None:
            said.append(result.switch.line())
        said.append(f"cutover done: {pointed}" if result.cutover.executed else "dry run: nothing changed")
    if ctx.execute:
        result.downtime = ctx.load().downtime
        if result.downtime is not None and result.downtime.end is not None:
            said.append(downtime_line(result.downtime))
            add_downtime_to_report(ctx.run_dir, ctx.load())
    result.outcome = "; ".join(said)
    return result.announce()

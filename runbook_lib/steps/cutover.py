"""Step 05: re-apply the settings the restore did not carry (a reviewed diff), wait for the writers
to stop, confirm the buffer drained, turn replay off, delete the stack and verify nothing is left.

Started again after an interruption it carries on: the settings diff of a table already set is
empty, and a buffer already torn down (the run state records it) is not looked for again.
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
    Parameter("force", bool, False,
              "cut over even if writes keep coming or the DLQ is not empty (those writes are lost)"),
    Parameter("teardown", bool, True, "delete the buffer stack after replay stops, and verify nothing is left"),
    Parameter("cfn_role_arn", str, None, "CloudFormation service role ARN the stack is deleted with; None: the one "
              "01_deploy_buffer used (the run state)"),
)  # fmt: skip


def arguments(namespace: dict[str, Any]) -> dict[str, Any]:
    return pick(PARAMETERS, namespace)


@dataclass(repr=False)
class CutoverResult(StepResult):
    settings_plan: Any = None  # settings.SettingsPlan (None: the target does not exist yet)
    settings_summary: str | None = None  # what will be re-applied, when there is no target to diff against
    applied: Any = None  # settings.SettingsPlan as applied
    cutover: Any = None  # cutover.CutoverReport

    def to_dataframe(self):
        import pandas as pd

        if self.settings_plan is not None:
            return self.settings_plan.to_dataframe()
        return pd.DataFrame([{"settings to re-apply": self.settings_summary}]) if self.settings_summary else pd.DataFrame()

    def extra_tables(self):
        return [("cutover", self.cutover.to_dataframe())] if self.cutover is not None else []


def run(ctx, **parameters: Any) -> CutoverResult:
    from .. import cutover, settings
    from .. import restore as restore_lib

    p = begin(ctx, STEP, PARAMETERS, parameters)
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
    if state.stack is None:
        said.append("no buffer in this run: nothing to cut over")
    elif state.teardown is not None and state.teardown.clean:
        said.append(f"the buffer {state.stack.name} was torn down by this run already")
    elif ctx.execute and state.timings.cutover_done is not None and p.teardown:
        # replay was turned off by this run already (the writers had stopped, the buffer had
        # drained): only the teardown is left, and buffer.teardown finishes a deletion under way
        report = cutover.tear_down(ctx.target, state.buffer_stack, run_dir=ctx.run_dir,
                                   cfn_role_arn=p.cfn_role_arn or state.stack.cfn_role_arn)
        said.append(f"replay was turned off by this run already; stack {report.stack_name} deleted and verified gone; "
                    f"point the application at {ctx.target_table}")
    else:
        result.cutover = cutover.cutover(
            ctx.target, state.buffer_stack, run_dir=ctx.run_dir, execute=ctx.execute, quiet_seconds=p.quiet_seconds,
            timeout=p.cutover_timeout, force=p.force, teardown=p.teardown, progress=None,
            cfn_role_arn=p.cfn_role_arn or state.stack.cfn_role_arn,
        )  # fmt: skip
        said.append(f"cutover done: point the application at {ctx.target_table}" if result.cutover.executed
                    else "dry run: nothing changed")
    result.outcome = "; ".join(said)
    return result.announce()

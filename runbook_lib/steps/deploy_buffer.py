"""Step 01: plan the buffer stack and, with ``execute``, deploy it; capture starts then.

A stack this run deployed already (the run state names it and CloudFormation still has it) is used,
not deployed again, so a run started again after an interruption carries on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import run_state, times
from .. import progress as progress_bar
from .base import Parameter, StepResult, begin, item_rows, pick

STEP = "01_deploy_buffer"
PARAMETERS = (
    Parameter("starting_position", str, "TRIM_HORIZON", "where the buffer starts reading the stream: TRIM_HORIZON "
              "(everything the stream holds, 24 h) or LATEST"),
    Parameter("artifact_bucket", str, None,
              "S3 bucket for the handler zip; None: pitr-runbook-<account>-<region>, created if missing"),
    Parameter("cfn_role_arn", str, None, "CloudFormation service role ARN (infra/cfn-service-role.yaml) the stack is "
              "created with; None: your own credentials"),
    Parameter("applier_max_concurrency", int, None, "most applier invocations at once, from 2 to 1000 (0: no cap); "
              "None: the template's default (10)"),
    Parameter("buffer_parameters", dict, {}, 'overrides of template parameters, e.g. {"QueueVisibilityTimeout": "30"}'),
)  # fmt: skip


def arguments(namespace: dict[str, Any]) -> dict[str, Any]:
    return pick(PARAMETERS, namespace)


@dataclass(repr=False)
class DeployResult(StepResult):
    plan: Any = None  # buffer.BufferPlan
    stack: Any = None  # buffer.BufferStack, once deployed

    def rows(self) -> list[dict[str, Any]]:
        return list(self.plan.rows()) if self.plan is not None else []

    def extra_tables(self):
        import pandas as pd

        if self.stack is None:
            return []
        return [("stack outputs", pd.DataFrame(item_rows(sorted(self.stack.outputs.items()))))]


def run(ctx, **parameters: Any) -> DeployResult:
    from .. import buffer

    p = begin(ctx, STEP, PARAMETERS, parameters)
    plan = buffer.plan(ctx.target, source_table=ctx.source_table, target_table=ctx.target_table,
                       automation=ctx.automation, starting_position=p.starting_position,
                       applier_max_concurrency=p.applier_max_concurrency, parameters=p.buffer_parameters,
                       preflight_max_message_bytes=ctx.load().preflight_max_message_bytes,  # warns when they differ
                       target_region=ctx.target_region)
    said = (f"stack {plan.stack_name}: {plan.action}; starting position {plan.starting_position}; "
            f"applier concurrency cap {plan.applier_max_concurrency or 'none'}")
    warnings = list(plan.warnings)
    if not ctx.execute:
        return DeployResult(STEP, False, f"{said}. Dry run: nothing deployed; set execute=True to deploy",
                            warnings, plan=plan).announce()
    recorded = ctx.load().stack
    if recorded is not None and recorded.name == plan.stack_name and _still_deployed(ctx, recorded):
        stack = recorded.buffer_stack()
        return DeployResult(STEP, True, f"stack {stack.stack_name} was deployed by this run already: used as it is",
                            warnings, plan=plan, stack=stack).announce()
    deploy_started = times.utcnow()
    with progress_bar.wait(f"stack {plan.stack_name}") as bar:  # one line: the stack's latest event
        stack = buffer.deploy(ctx.target, plan, artifact_bucket=p.artifact_bucket, cfn_role_arn=p.cfn_role_arn,
                              progress=lambda message: bar.update(status=message))
    capture_start = times.utcnow()
    with ctx.edit() as state:
        state.stack = run_state.Stack(stack.to_dict(), capture_start, plan.starting_position, p.cfn_role_arn,
                                      deploy_started=deploy_started)
    return DeployResult(STEP, True, f"stack {stack.stack_name} deployed; capture started {times.iso(capture_start)}",
                        warnings, plan=plan, stack=stack).announce()


def _still_deployed(ctx, recorded: run_state.Stack) -> bool:
    """The stack the run state names exists and is complete (CloudFormation's ``DescribeStacks``)."""
    from ..aws.codes import error_code

    cfn = ctx.target.client("cloudformation")
    try:
        stacks = cfn.describe_stacks(StackName=recorded.description.get("id") or recorded.name)["Stacks"]
    except Exception as exc:  # noqa: BLE001 - a stack that does not exist answers ValidationError
        if error_code(exc) == "ValidationError":
            return False
        raise
    return bool(stacks) and stacks[0]["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")

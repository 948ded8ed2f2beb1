"""Step 00: the checklist (PASS / WARN / FAIL with remedies) and the settings a restore will not
carry; then the gate: every check passed and T, R fit the restorable window. Only reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import run_state
from ..cdc.codec import MAX_MESSAGE_BYTES
from .base import Parameter, StepResult, begin, pick

STEP = "00_preflight"
PARAMETERS = (
    Parameter("automation_required", str, None, 'None: follow automation; the CloudTrail check FAILs only for "event"'),
    Parameter("max_message_bytes", int, MAX_MESSAGE_BYTES, "the buffer queue's MaximumMessageSize; larger items "
              "travel key-only (step 01 warns when it deploys another)"),
    Parameter("sample_items", int, 1000, "how many items to sample for the size check (a bounded Scan)"),
    Parameter("check_permissions", bool, True, "simulate your IAM permissions for the run (iam:SimulatePrincipalPolicy); "
              "skipped with a WARN where not allowed"),
    Parameter("cfn_role_arn", str, None,
              "the CloudFormation service role the buffer will be deployed with (for the permission check)"),
    Parameter("switch", str, None, 'the SSM parameter step 05 will switch, "ssm:/path/to/parameter": read now '
              "(what the application reads, and whether it can be written) and included in the permission check"),
    Parameter("sse_kms_key_id", str, None, "the KMS key step 02 will encrypt the restored table with (checked to be "
              "of the target's region); None: as the source"),
)  # fmt: skip


def arguments(namespace: dict[str, Any]) -> dict[str, Any]:
    return pick(PARAMETERS, namespace)


@dataclass(repr=False)
class PreflightResult(StepResult):
    checks: Any = None  # preflight.Preflight

    def to_dataframe(self):
        return self.checks.to_dataframe()


def run(ctx, **parameters: Any) -> PreflightResult:
    """Run every check, keep the rows and the settings snapshot in the run state."""
    from .. import preflight, switch

    p = begin(ctx, STEP, PARAMETERS, parameters)
    checks = preflight.run_checks(
        ctx.target, source_table=ctx.source_table, target_table=ctx.target_table,
        automation=p.automation_required or ctx.automation, max_message_bytes=p.max_message_bytes,
        sample_items=p.sample_items, check_iam=p.check_permissions, cfn_role_arn=p.cfn_role_arn,
        switch_parameter=switch.parse(p.switch),
        destination=ctx.destination, sse_kms_key_id=p.sse_kms_key_id,
    )  # fmt: skip
    with ctx.edit() as state:
        state.preflight = [run_state.PreflightRow(**row) for row in checks.to_dict()["rows"]]
        state.settings_snapshot = checks.snapshot
        state.preflight_max_message_bytes = p.max_message_bytes  # step 01 compares the size it deploys
    counts = {status: sum(1 for r in checks.rows if r.status == status) for status in ("PASS", "WARN", "FAIL")}
    outcome = f"{len(checks.rows)} checks: {counts['PASS']} PASS, {counts['WARN']} WARN, {counts['FAIL']} FAIL"
    return PreflightResult(STEP, executed=False, outcome=outcome, checks=checks).announce()


def gate(ctx, result: PreflightResult) -> None:
    """Stop the run (``PreconditionError`` naming each FAIL and its remedy) on a failed check, or
    (``InputError``/``PreconditionError``) when T and R do not fit the restorable window."""
    from .. import restore

    result.checks.raise_for_failures()
    early = restore.plan_restore(ctx.target, source_table=ctx.source_table, target_table=ctx.target_table,
                                 restore_time=ctx.restore_time, replay_from=ctx.replay_from, destination=ctx.destination)
    line = (f"preflight passed ({early.mode}: T within {early.earliest_restorable:%Y-%m-%d %H:%M:%S} .. "
            f"{early.latest_restorable:%Y-%m-%d %H:%M:%S} UTC): go on with 01_deploy_buffer")
    print(line, flush=True)

"""Deploying a plan: upload the handler zip, create or update the stack, wait for it, check that
both functions run the zip just built, and keep replay on across an update that turned it off.

A resource failure inside moto's ``CreateStack`` (the sandbox) surfaces as an unparsable
response; AWS reports ``CREATE_FAILED`` instead. Both end in a :class:`BufferError`.
"""

from __future__ import annotations

from datetime import timedelta

from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from ..aws.clients import AwsTarget
from ..aws.codes import error_code
from ..errors import BufferError, InputError, PreconditionError
from ..times import utcnow
from .feedback import Progress, aws_failure, say
from .names import STACK_TAG, boundary_arn_for
from .package import build_zip, code_sha256, ensure_bucket, upload
from .planning import DeployPlan
from .replay import enable_replay, mapping_state_or_none
from .stacks import STACK_IN_PROGRESS, STACK_OK, BufferStack, describe_raw, failure_reasons, role_arg, to_stack, wait_stack
from .template import template_body


def deploy(
    target: AwsTarget,
    plan: DeployPlan,
    *,
    artifact_bucket: str | None = None,
    progress: Progress | None = None,
    timeout: float = 1800.0,
    cfn_role_arn: str | None = None,
) -> BufferStack:
    """Upload the handler zip, create or update the stack, wait for it; returns the outputs.

    Without ``artifact_bucket`` the zip goes to ``pitr-runbook-<account>-<region>``, created
    (private, encrypted, TLS only) if missing. On failure raises :class:`BufferError` with the
    failed resources' reasons; a failed create leaves no stack behind.

    ``cfn_role_arn``: the CloudFormation service role (``infra/cfn-service-role.yaml``) the stack is
    created, updated and deleted with (``RoleARN``), so that the caller needs only ``iam:PassRole``
    on it, never ``iam:CreateRole``/``iam:PutRolePolicy`` of their own. None: the caller's own
    credentials (or the role the stack was created with, which CloudFormation keeps using).
    """
    if plan.region != target.region_name:
        raise InputError(f"the plan is for {plan.region}, the target is {target.region_name}: plan again")
    if cfn_role_arn:
        boundary_arn_for(cfn_role_arn)  # a malformed ARN is refused before any call
    cfn = target.client("cloudformation")
    name = plan.stack_name

    existing = describe_raw(target, name)
    if existing and STACK_IN_PROGRESS.search(existing["StackStatus"]):
        say(progress, f"stack {name} is {existing['StackStatus']}: waiting for it to settle")
        existing = wait_stack(target, existing["StackId"], timeout=timeout, progress=progress, what=f"stack {name}")
        existing = None if existing["StackStatus"] == "DELETE_COMPLETE" else existing
    if existing and existing["StackStatus"] == "ROLLBACK_COMPLETE":
        # A create that failed and rolled back holds no resources, and blocks a new create.
        say(progress, f"stack {name} is ROLLBACK_COMPLETE from a failed create: deleting it first")
        cfn.delete_stack(StackName=existing["StackId"], **role_arg(cfn_role_arn or existing.get("RoleARN")))
        wait_stack(target, existing["StackId"], timeout=timeout, progress=progress, what=f"deletion of {name}")
        existing = None
    if existing and existing["StackStatus"] not in STACK_OK | {"UPDATE_ROLLBACK_COMPLETE"}:
        raise PreconditionError(
            f"stack {name} is {existing['StackStatus']}: repair it in the CloudFormation console "
            "(or tear the buffer down) before deploying",
            step="buffer",
        )

    bucket = artifact_bucket or plan.default_artifact_bucket
    ensure_bucket(target, bucket, plan.account_id, create=artifact_bucket is None, progress=progress)
    zip_bytes = plan.code_zip or build_zip()
    if code_sha256(zip_bytes) != plan.code_sha256:
        raise InputError("the handler code changed since the plan was made: plan again")
    upload(target, zip_bytes, bucket=bucket, key=plan.code_key, account=plan.account_id, progress=progress)

    body = template_body()
    values = dict(plan.parameters)
    if cfn_role_arn and not values.get("RoleBoundaryArn"):
        # the service role may create roles only with its boundary: give every role of the stack that one
        values["RoleBoundaryArn"] = boundary_arn_for(cfn_role_arn)
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]
    params += [
        {"ParameterKey": "CodeBucket", "ParameterValue": bucket},
        {"ParameterKey": "CodeKey", "ParameterValue": plan.code_key},
    ]
    tags = [
        {"Key": STACK_TAG, "Value": "cdc-buffer"},
        {"Key": "pitr-runbook:source-table", "Value": plan.source_table},
        {"Key": "pitr-runbook:target-table", "Value": plan.target_table},
    ]
    started = utcnow() - timedelta(seconds=1)
    replay_was: str | None = None
    try:
        if existing is None:
            say(progress, f"creating stack {name} ({plan.automation} automation)")
            stack_id = cfn.create_stack(
                StackName=name,
                TemplateBody=body,
                Parameters=params,
                Capabilities=["CAPABILITY_IAM"],
                OnFailure="DELETE",
                Tags=tags,
                **role_arg(cfn_role_arn),
            )["StackId"]
            verb = "create"
        else:
            stack_id = existing["StackId"]
            replay_was = mapping_state_or_none(target, to_stack(existing, target.region_name))
            say(progress, f"updating stack {name}")
            try:
                cfn.update_stack(
                    StackName=stack_id, TemplateBody=body, Parameters=params, Capabilities=["CAPABILITY_IAM"], Tags=tags,
                    **role_arg(cfn_role_arn),
                )
            except ClientError as exc:
                if error_code(exc) == "ValidationError" and "No updates are to be performed" in str(exc):
                    say(progress, f"stack {name} is already up to date")
                    return to_stack(existing, target.region_name)
                raise
            verb = "update"
    except ClientError as exc:
        raise aws_failure(exc, f"{'CreateStack' if existing is None else 'UpdateStack'} {name}", "fix the cause and deploy again") from exc
    except ResponseParserError as exc:
        # moto (the sandbox) creates resources inside the CreateStack request: a resource's error
        # comes back as that service's error body, which the CloudFormation client cannot parse,
        # and the stack stays CREATE_IN_PROGRESS half built. AWS reports CREATE_FAILED instead.
        raise BufferError(
            f"{'CreateStack' if existing is None else 'UpdateStack'} {name} failed: {exc}. Tear the buffer "
            "down (teardown(..., execute=True)), fix the cause and deploy again",
            step="buffer",
        ) from exc

    raw = wait_stack(target, stack_id, timeout=timeout, progress=progress, what=f"stack {name} to {verb}")
    if raw["StackStatus"] not in STACK_OK:
        reasons = failure_reasons(target, stack_id, started) or [raw.get("StackStatusReason", "no reason given")]
        after = (
            "the failed create was rolled back and deleted"
            if verb == "create"
            else f"the stack was rolled back to its previous version ({raw['StackStatus']})"
        )
        raise BufferError(
            f"stack {name} failed to {verb}: {'; '.join(reasons)}. {after}; fix the cause and deploy again",
            step="buffer",
        )
    stack = to_stack(raw, target.region_name)
    check_code(target, stack, plan.code_sha256)
    if replay_was == "Enabled" and mapping_state_or_none(target, stack) != "Enabled":
        # The template creates the queue mapping disabled; an update that touches the mapping
        # sends that Enabled: false again. Replay that was on stays on.
        say(progress, "the update turned replay off: turning it back on")
        enable_replay(target, stack, progress=progress)
    say(progress, f"stack {name} is {stack.status}; capture has started")
    return stack


def check_code(target: AwsTarget, stack: BufferStack, sha: str) -> None:
    """Both functions run exactly the zip that was built."""
    lam = target.client("lambda")
    for fn in (stack.forwarder_function_name, stack.applier_function_name):
        got = lam.get_function_configuration(FunctionName=fn).get("CodeSha256")
        if got != sha:
            raise BufferError(
                f"function {fn} runs code {got}, not the package just built ({sha}): deploy again",
                step="buffer",
            )

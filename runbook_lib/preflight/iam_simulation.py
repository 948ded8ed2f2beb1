"""The permission check: the caller's IAM policies simulated against every call a run makes."""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from ..aws.clients import AwsTarget
from ..aws.codes import error_code, is_access_denied
from .result import FAIL, PASS, WARN, CheckRow


def simulation_source(caller_arn: str) -> str | None:
    """The ``PolicySourceArn`` to simulate for ``caller_arn`` (``sts:GetCallerIdentity``'s ``Arn``): an
    IAM user as is, an assumed-role session as its role (``arn:...:iam::A:role/R``; a role with a path
    is not named by the session's ARN and answers NoSuchEntity); None for the root user and anything
    IAM cannot simulate (federated users, the sandbox's root keys)."""
    m = re.fullmatch(r"arn:(aws[a-z-]*):iam::(\d{12}):user/.+", caller_arn)
    if m:
        return caller_arn
    m = re.fullmatch(r"arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/.+", caller_arn)
    if m:
        return f"arn:{m.group(1)}:iam::{m.group(2)}:role/{m.group(3)}"
    return None


def check_permissions(
    target: AwsTarget,
    *,
    source_table: str,
    target_table: str,
    automation: str = "notebook",
    cfn_role_arn: str | None = None,
    switch_parameter: str | None = None,
    target_region: str | None = None,
) -> CheckRow:
    """Whether the caller may make the calls a run needs, asked of ``iam:SimulatePrincipalPolicy``
    (the actions and the real resource ARNs of :func:`runbook_lib.permissions.run_checks`, with the
    condition keys AWS sets for them). FAIL names each denied action, its resource and the statement
    of ``infra/operator-policy.json`` that grants it. Where the caller may not simulate (AccessDenied
    on the simulation itself), or is not an IAM user or role, a WARN says the check was skipped and
    why: never a FAIL. The simulation sees identity policies (and SCPs as Organizations reports them),
    not resource policies or session policies: a PASS is strong evidence, not proof."""
    from .. import permissions
    from ..buffer import stack_name_for

    who = target.client("sts").get_caller_identity()
    caller, account = who["Arn"], who["Account"]
    source = simulation_source(caller)
    if source is None:
        root = caller.endswith(":root")
        return CheckRow(
            "permissions",
            WARN,
            f"not checked: {caller} is "
            + ("the account's root user, whom IAM policies do not restrict" if root else
               "not an IAM user or an assumed role, which iam:SimulatePrincipalPolicy cannot simulate"),
            "run the runbook as an IAM user or role that holds infra/operator-policy.json (README, "
            "\"Running it on AWS\")" + (", never as root" if root else ""),
        )
    checks = permissions.run_checks(
        partition=target.partition, region=target.region_name, account=account, source_table=source_table,
        target_table=target_table, stack_name=stack_name_for(source_table, target_table), cfn_role_arn=cfn_role_arn,
        automation=automation, switch_parameter=switch_parameter, target_region=target_region,
    )
    # one simulation per (resource, context): each action named in it is evaluated on that resource
    groups: dict[tuple[str, str], list[str]] = {}
    for action, resource, context in checks:
        groups.setdefault((resource, json.dumps(context, sort_keys=True)), []).append(action)
    iam = target.client("iam")
    denied: list[tuple[str, str, str]] = []
    try:
        for (resource, context_json), actions in groups.items():
            entries = [
                {"ContextKeyName": key, "ContextKeyValues": [value], "ContextKeyType": "string"}
                for key, value in json.loads(context_json).items()
            ]
            kwargs: dict[str, Any] = {"PolicySourceArn": source, "ActionNames": actions, "ResourceArns": [resource]}
            if entries:
                kwargs["ContextEntries"] = entries
            for page in iam.get_paginator("simulate_principal_policy").paginate(**kwargs):
                for result in page["EvaluationResults"]:
                    if result["EvalDecision"] != "allowed":
                        denied.append((result["EvalActionName"], result.get("EvalResourceName") or resource,
                                       result["EvalDecision"]))
    except ClientError as err:
        code = error_code(err)
        if is_access_denied(err):
            reason = f"{caller} may not call iam:SimulatePrincipalPolicy on {source} ({code})"
        elif code == "NoSuchEntity":
            reason = f"IAM found no {source} to simulate ({code}; a role with a path is not named by its session's ARN)"
        else:
            raise
        return CheckRow(
            "permissions",
            WARN,
            f"not checked: {reason}",
            "grant iam:SimulatePrincipalPolicy on your own ARN (statement CheckOwnPermissions of "
            "infra/operator-policy.json) to have missing permissions found here, or compare your policy with "
            "infra/operator-policy.json by hand; a missing permission otherwise stops the run where it is needed",
            code=code,
        )
    needed = len(checks)
    if not denied:
        return CheckRow("permissions", PASS, f"{caller}: the {needed} actions a run needs are allowed "
                                             "(iam:SimulatePrincipalPolicy on the run's own resource ARNs)")
    listed = "; ".join(
        f"{action} on {resource} ({decision}"
        + (f", statement {permissions.statement_for_action(action)}" if permissions.statement_for_action(action) else "")
        + ")"
        for action, resource, decision in denied
    )
    return CheckRow(
        "permissions",
        FAIL,
        f"{len(denied)} of the {needed} actions a run needs are denied to {caller}: {listed}",
        "grant them as the named statements of infra/operator-policy.json do (README, \"Running it on AWS\"), "
        "then run preflight again; an explicitDeny comes from a Deny statement (or an SCP) that must be lifted",
        code="AccessDenied",
    )

"""Naming rules: the stack's name, the names the template gives its resources, the artifact
bucket, and the permissions boundary beside a CloudFormation service role. No AWS calls."""

from __future__ import annotations

import hashlib
import re

from ..errors import InputError

#: Resource names are ``<stack>-forwarder`` etc.; Lambda function names stop at 64 characters.
MAX_STACK_NAME = 50
STACK_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
#: The artifact bucket's and the handler zip's key prefix.
ARTIFACT_PREFIX = "pitr-runbook"
STACK_TAG = "pitr-runbook:component"


def stack_name_for(source_table: str, target_table: str) -> str:
    """``pitr-<source>-<target>-<hash>``: deterministic, a valid stack name, at most 47 characters."""

    def slug(name: str) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:16].strip("-") or "t"

    digest = hashlib.sha256(f"{source_table}\x00{target_table}".encode()).hexdigest()[:8]
    return f"pitr-{slug(source_table)}-{slug(target_table)}-{digest}"


def check_stack_name(name: str) -> None:
    """:class:`InputError` unless ``name`` is a stack name every derived resource name fits."""
    if len(name) > MAX_STACK_NAME or not STACK_NAME_RE.match(name):
        raise InputError(
            f"stack name {name!r} must start with a letter, hold only letters, digits and hyphens, and be "
            f"at most {MAX_STACK_NAME} characters (resource names are derived from it)"
        )


def default_artifact_bucket(account_id: str, region: str) -> str:
    return f"{ARTIFACT_PREFIX}-{account_id}-{region}"


def resource_names(stack_name: str) -> dict[str, str]:
    """Physical names the template gives its resources (see the Fn::Sub of each name)."""
    return {
        "queue": f"{stack_name}.fifo",
        "dlq": f"{stack_name}-dlq.fifo",
        "stream_failures": f"{stack_name}-stream-failures",
        "forwarder": f"{stack_name}-forwarder",
        "applier": f"{stack_name}-applier",
        "rule": f"{stack_name}-restore",
        "rule_dlq": f"{stack_name}-restore-dlq",
        "state_machine": f"{stack_name}-enable-replay",
        "forwarder_logs": f"/aws/lambda/{stack_name}-forwarder",
        "applier_logs": f"/aws/lambda/{stack_name}-applier",
        "key_digest_secret": f"{stack_name}-key-digest",
    }


def boundary_arn_for(cfn_role_arn: str) -> str:
    """The permissions boundary ``infra/cfn-service-role.yaml`` creates beside the role: the managed
    policy ``<RoleName>-boundary`` of the same account (``arn:<partition>:iam::<account>:policy/...``)."""
    m = re.fullmatch(r"arn:(aws[a-z-]*):iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)", cfn_role_arn)
    if not m:
        raise InputError(f"cfn_role_arn {cfn_role_arn!r} is not an IAM role ARN (arn:<partition>:iam::<account>:role/<name>)")
    partition, account, name = m.groups()
    return f"arn:{partition}:iam::{account}:policy/{name}-boundary"

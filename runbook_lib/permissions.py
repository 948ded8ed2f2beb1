"""The operator's IAM permissions: ``infra/operator-policy.json``, its placeholders, and where each
action comes from.

The policy is derived from the calls the runbook makes, not written from memory:

- :data:`OPERATION_ACTIONS` maps each (botocore service, operation) the runbook's own clients call
  to the IAM actions AWS checks for it. The map is not 1:1: ``HeadBucket`` is ``s3:ListBucket``,
  ``RestoreTableToPointInTime`` also needs item reads and writes on the target table,
  ``StartMessageMoveTask`` also needs receive/delete on the DLQ and send on the destination,
  CloudFormation calls with ``RoleARN`` need ``iam:PassRole``, ``GetCallerIdentity`` needs nothing.
  Each entry says which AWS document it follows.
- ``tests/unit/golden/operator_calls.txt`` lists the calls, recorded from drills in both automation
  modes (``PITR_RUNBOOK_RECORD_CALLS``, see ``config``) plus the few a drill does not reach
  (annotated there); ``tests/unit/test_operator_policy.py`` checks that the policy's actions are
  exactly the actions those calls need (a new call without its permission fails the suite, and
  so does a permission nothing uses), and ``tests/drill/`` checks that a drill makes no call that is
  not listed.

Placeholders (``${Name}`` in the JSON; IAM policy variables such as ``${aws:username}`` are left
alone): see :data:`PLACEHOLDERS`. :func:`render_policy` fills them in; the drill and the README use it.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

POLICY_FILE = "operator-policy.json"
CFN_ROLE_FILE = "cfn-service-role.yaml"

#: What each placeholder of ``infra/operator-policy.json`` stands for.
PLACEHOLDERS = {
    "Partition": "the ARN partition of the region: aws, aws-cn, aws-us-gov, ...",
    "Region": "the region the runbook runs in (one policy per region): the source table's",
    "TargetRegion": "the region the target table is restored into (--target-region); default: Region",
    "Account": "the 12-digit account id",
    "SourceTablePattern": "names of the tables that may be restored FROM, e.g. orders or orders-* (an IAM wildcard pattern)",
    "TargetTablePattern": "names of the tables a restore may create, e.g. orders-restored-* (must not match live tables)",
    "StackPattern": "names of the buffer stacks: pitr-* (buffer.stack_name_for names them pitr-<source>-<target>-<hash>); "
                    "also the prefix of every resource the stack creates",
    "CfnServiceRoleName": "the CloudFormation service role of infra/cfn-service-role.yaml (its RoleName parameter)",
    "OperatorPrincipal": "the operator's own IAM identity, user/<name> or role/<name>, for the preflight's "
                         "iam:SimulatePrincipalPolicy",
    "TrailAccount": "the account whose trails the CloudTrail check may read besides your own: when this account "
                    "is logged by an organization trail, the organization's management account (an organization "
                    "trail's ARN names that account; member accounts read it by that ARN); default: Account",
    "SwitchParameterPattern": "the SSM parameter(s) cutover's switch writes (--switch ssm:/orders/table-name), their "
                              "name without the leading slash, e.g. orders/table-name (IAM wildcards * ?); without "
                              "one, the SwitchParameter statement is left out of the rendered policy",
}
#: the statement that exists only for a switch parameter (left out when no pattern is given)
SWITCH_STATEMENT = "SwitchParameter"

DEFAULT_STACK_PATTERN = "pitr-*"
DEFAULT_CFN_ROLE_NAME = "cfn-service-role-pitr-runbook"

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z]+)\}")

# -- the map: (botocore service name, operation) -> IAM actions ----------------------------------------
#: Actions AWS checks for RestoreTableToPointInTime on the target table: "DynamoDB RestoreTableToPointInTime
#: permissions are necessary on the source table, and DynamoDB read and write permissions on the target
#: table are necessary for restore functionality" ("Using IAM with DynamoDB backup and restore",
#: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/backuprestore_IAM.html; the Service
#: Authorization Reference lists the same as dependent actions of dynamodb:RestoreTableToPointInTime).
RESTORE_TARGET_ACTIONS = (
    "dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
    "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan",
)

_SAME = object()

#: Operations whose IAM action is not ``<prefix>:<Operation>``, or that need more than one action.
_SPECIAL: dict[tuple[str, str], tuple[str, ...]] = {
    # "No permissions are required to perform this operation" (STS API reference, GetCallerIdentity)
    ("sts", "GetCallerIdentity"): (),
    ("dynamodb", "RestoreTableToPointInTime"): ("dynamodb:RestoreTableToPointInTime", *RESTORE_TARGET_ACTIONS),
    # S3: HeadBucket needs s3:ListBucket, HeadObject s3:GetObject ("HeadBucket", "HeadObject", Amazon S3 API
    # reference, Permissions); PutBucketEncryption is s3:PutEncryptionConfiguration, PutPublicAccessBlock
    # s3:PutBucketPublicAccessBlock (Service Authorization Reference, Amazon S3)
    ("s3", "HeadBucket"): ("s3:ListBucket",),
    ("s3", "HeadObject"): ("s3:GetObject",),
    ("s3", "PutBucketEncryption"): ("s3:PutEncryptionConfiguration",),
    ("s3", "GetBucketEncryption"): ("s3:GetEncryptionConfiguration",),
    ("s3", "PutPublicAccessBlock"): ("s3:PutBucketPublicAccessBlock",),
    # DynamoDB writes the export's files as the caller: "s3:AbortMultipartUpload, s3:PutObject,
    # s3:PutObjectAcl" ("Requesting a table export in DynamoDB", Developer Guide,
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport_Requesting.html)
    ("dynamodb", "ExportTableToPointInTime"): (
        "dynamodb:ExportTableToPointInTime", "s3:AbortMultipartUpload", "s3:PutObject", "s3:PutObjectAcl",
    ),
    # a move task receives and deletes from the DLQ and sends to the destination as the caller
    # ("Learn how to configure a dead-letter queue redrive in Amazon SQS", its queue permissions; SQS Developer Guide,
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html)
    ("sqs", "StartMessageMoveTask"): (
        "sqs:StartMessageMoveTask", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
        "sqs:SendMessage",
    ),
    # RoleARN is passed: "iam:PassRole" ("AWS CloudFormation service role", CloudFormation User Guide,
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html)
    ("cloudformation", "CreateStack"): ("cloudformation:CreateStack", "iam:PassRole"),
    ("cloudformation", "UpdateStack"): ("cloudformation:UpdateStack", "iam:PassRole"),
    ("cloudformation", "DeleteStack"): ("cloudformation:DeleteStack", "iam:PassRole"),
    # the first DynamoDB scalable target of an account creates AWSServiceRoleForApplicationAutoScaling_DynamoDBTable
    # ("Service-linked roles for Application Auto Scaling", Application Auto Scaling User Guide,
    # https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-service-linked-roles.html)
    ("application-autoscaling", "RegisterScalableTarget"): (
        "application-autoscaling:RegisterScalableTarget", "iam:CreateServiceLinkedRole",
    ),
}

#: botocore service name -> IAM service prefix, where they differ.
_PREFIX = {"dynamodbstreams": "dynamodb", "stepfunctions": "states"}

#: The services the runbook calls (botocore names); a call to any other service is not mapped.
SERVICES = frozenset({
    "application-autoscaling", "athena", "cloudformation", "cloudtrail", "cloudwatch", "dynamodb", "dynamodbstreams",
    "events", "iam", "lambda", "logs", "s3", "secretsmanager", "sqs", "ssm", "stepfunctions", "sts",
})


def actions_for(service: str, operation: str) -> tuple[str, ...]:
    """The IAM actions AWS checks when the runbook calls ``operation`` of botocore's ``service``."""
    if (service, operation) in _SPECIAL:
        return _SPECIAL[(service, operation)]
    if service not in SERVICES:
        raise KeyError(f"{service} {operation}: the runbook is not known to call {service}; add it to permissions.SERVICES "
                       "with the IAM actions it needs")
    return (f"{_PREFIX.get(service, service)}:{operation}",)


def required_actions(calls: Iterable[tuple[str, str]]) -> dict[str, set[tuple[str, str]]]:
    """action -> the calls that need it."""
    out: dict[str, set[tuple[str, str]]] = {}
    for service, operation in calls:
        for action in actions_for(service, operation):
            out.setdefault(action, set()).add((service, operation))
    return out


# -- the policy file -------------------------------------------------------------------------------------
def policy_path() -> Path:
    from .buffer import infra_dir

    return infra_dir() / POLICY_FILE


@lru_cache(maxsize=1)
def policy_template() -> dict[str, Any]:
    """``infra/operator-policy.json`` as written, placeholders and all."""
    return json.loads(policy_path().read_text())


def _actions_of(statement: Mapping[str, Any]) -> list[str]:
    action = statement.get("Action", [])
    return [action] if isinstance(action, str) else list(action)


def policy_actions(policy: Mapping[str, Any] | None = None) -> set[str]:
    """Every action the policy allows."""
    policy = policy or policy_template()
    return {a for s in policy["Statement"] if s.get("Effect") == "Allow" for a in _actions_of(s)}


def statement_for_action(action: str) -> str | None:
    """The ``Sid`` of the first statement of the policy that allows ``action`` (case-insensitive, as IAM)."""
    try:
        policy = policy_template()
    except (OSError, ValueError):  # pragma: no cover - an installed copy without infra/
        return None
    wanted = action.lower()
    for statement in policy["Statement"]:
        if any(a.lower() == wanted for a in _actions_of(statement)):
            return statement.get("Sid")
    return None


def placeholders_in(policy: Mapping[str, Any] | None = None) -> set[str]:
    return set(_PLACEHOLDER.findall(json.dumps(policy or policy_template())))


def render_policy(
    *,
    partition: str,
    region: str,
    account: str,
    source_table_pattern: str,
    target_table_pattern: str,
    stack_pattern: str = DEFAULT_STACK_PATTERN,
    cfn_service_role_name: str = DEFAULT_CFN_ROLE_NAME,
    operator_principal: str = "user/pitr-operator",
    trail_account: str | None = None,
    switch_parameter_pattern: str | None = None,
    without: Iterable[str] = (),
    target_region: str | None = None,
) -> dict[str, Any]:
    """The policy with its placeholders filled in; ``without`` drops the statements with those Sids.
    ``trail_account``: see :data:`PLACEHOLDERS` (a resource list that names one ARN twice keeps it once).
    ``switch_parameter_pattern``: the SSM parameter name (or pattern) of ``--switch``, with or without its
    leading slash; None leaves the ``SwitchParameter`` statement out (least privilege: no switch, no SSM)."""
    from .errors import InputError

    trail_account = trail_account or account
    for name, value in (("account", account), ("trail_account", trail_account)):
        if not re.fullmatch(r"\d{12}", value):
            raise InputError(f"{name} must be 12 digits, not {value!r}")
    for name, value in (("source_table_pattern", source_table_pattern), ("target_table_pattern", target_table_pattern)):
        if not re.fullmatch(r"[A-Za-z0-9_.*?-]{1,255}", value):
            raise InputError(f"{name} {value!r}: a table name, or a pattern of one with * and ?")
    switch_value = None
    if switch_parameter_pattern is not None:
        switch_value = switch_parameter_pattern.lstrip("/")
        if not re.fullmatch(r"[A-Za-z0-9_.*?/-]{1,1011}", switch_value) or switch_value.strip("*?/") == "":
            raise InputError(f"switch_parameter_pattern {switch_parameter_pattern!r}: an SSM parameter name or a pattern "
                             "of one (letters, digits, _ . - / and * ?), not every parameter")
    if source_table_pattern in ("*", target_table_pattern):
        raise InputError("source_table_pattern must not be * nor equal target_table_pattern: the restored "
                         "tables' writes must not reach live tables")
    values = {
        "Partition": partition, "Region": region, "TargetRegion": target_region or region, "Account": account,
        "SourceTablePattern": source_table_pattern, "TargetTablePattern": target_table_pattern,
        "StackPattern": stack_pattern, "CfnServiceRoleName": cfn_service_role_name,
        "OperatorPrincipal": operator_principal, "TrailAccount": trail_account,
        "SwitchParameterPattern": switch_value,
    }
    dropped = set(without) | (set() if switch_value else {SWITCH_STATEMENT})
    unknown = set(without) - {s.get("Sid") for s in policy_template()["Statement"]}
    if unknown:
        raise InputError(f"no statement {', '.join(sorted(unknown))} in {POLICY_FILE}")
    text = json.dumps({
        **policy_template(),
        "Statement": [s for s in policy_template()["Statement"] if s.get("Sid") not in dropped],
    })
    rendered = json.loads(_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text))
    for statement in rendered["Statement"]:
        resources = statement.get("Resource")
        if isinstance(resources, list):
            unique = list(dict.fromkeys(resources))
            statement["Resource"] = unique[0] if len(unique) == 1 else unique
    return rendered


# -- what a run needs, for the preflight's simulation ------------------------------------------------------
def run_checks(
    *,
    partition: str,
    region: str,
    account: str,
    source_table: str,
    target_table: str,
    stack_name: str,
    cfn_role_arn: str | None = None,
    automation: str = "notebook",
    switch_parameter: str | None = None,
    target_region: str | None = None,
) -> list[tuple[str, str, dict[str, str]]]:
    """(action, resource ARN, condition context) a run on these names needs, at least one per statement
    of the policy: what the preflight asks ``iam:SimulatePrincipalPolicy`` about. Resources are the real
    ARNs the run will touch (those the stack has not created yet named as it will name them); the
    context holds the condition keys AWS sets for the call (``iam:PassedToService``,
    ``cloudformation:RoleArn``, ``lambda:FunctionArn``)."""
    arn = f"arn:{partition}"
    table = f"{arn}:dynamodb:{region}:{account}:table"
    src, tgt = f"{table}/{source_table}", f"{arn}:dynamodb:{target_region or region}:{account}:table/{target_table}"
    bucket = f"{arn}:s3:::pitr-runbook-{account}-{region}"
    stack = f"{arn}:cloudformation:{region}:{account}:stack/{stack_name}/*"
    queue = f"{arn}:sqs:{region}:{account}:{stack_name}"
    fn = f"{arn}:lambda:{region}:{account}:function:{stack_name}"
    role = cfn_role_arn or f"{arn}:iam::{account}:role/{DEFAULT_CFN_ROLE_NAME}"
    none: dict[str, str] = {}
    checks: list[tuple[str, str, dict[str, str]]] = [
        *((a, src, none) for a in ("dynamodb:DescribeTable", "dynamodb:DescribeContinuousBackups", "dynamodb:Scan",
                                    "dynamodb:BatchGetItem", "dynamodb:RestoreTableToPointInTime")),
        *((a, f"{src}/stream/*", none) for a in ("dynamodb:DescribeStream", "dynamodb:GetShardIterator",
                                                 "dynamodb:GetRecords")),
        *((a, tgt, none) for a in (*RESTORE_TARGET_ACTIONS, "dynamodb:DescribeTable", "dynamodb:UpdateTable",
                                    "dynamodb:UpdateTimeToLive", "dynamodb:UpdateContinuousBackups",
                                    "dynamodb:TagResource")),
        # cutover looks for the application's first write on the restored table's stream
        *((a, f"{tgt}/stream/*", none) for a in ("dynamodb:DescribeStream", "dynamodb:GetShardIterator",
                                                 "dynamodb:GetRecords")),
        ("dynamodb:ListTables", "*", none),
        ("cloudtrail:DescribeTrails", "*", none),
        *((a, stack, {"cloudformation:RoleArn": role}) for a in ("cloudformation:CreateStack",
                                                                  "cloudformation:DeleteStack")),
        *((a, stack, none) for a in ("cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents",
                                      "cloudformation:ListStackResources")),
        ("iam:PassRole", role, {"iam:PassedToService": "cloudformation.amazonaws.com"}),
        *((a, bucket, none) for a in ("s3:CreateBucket", "s3:ListBucket")),
        *((a, f"{bucket}/pitr-runbook/{stack_name}/code.zip", none) for a in ("s3:PutObject", "s3:DeleteObject")),
        *((a, f"{fn}-applier", none) for a in ("lambda:GetFunction", "lambda:UpdateFunctionConfiguration")),
        ("lambda:UpdateEventSourceMapping", f"{arn}:lambda:{region}:{account}:event-source-mapping:*",
         {"lambda:FunctionArn": f"{fn}-applier"}),
        ("lambda:ListEventSourceMappings", "*", none),
        ("sqs:GetQueueAttributes", f"{queue}.fifo", none),
        *((a, f"{queue}-dlq.fifo", none) for a in ("sqs:StartMessageMoveTask", "sqs:ReceiveMessage")),
        ("cloudwatch:GetMetricStatistics", "*", none),
        ("iam:GetRole", f"{arn}:iam::{account}:role/{stack_name}-ApplierRole", none),
        ("logs:DescribeLogGroups", "*", none),
        # FilterLogEvents is authorized on the log group's ARN with its trailing ``:*`` (CloudWatch
        # Logs, "LogGroup" arn: the form IAM checks for most actions, all but the tagging ones)
        *(("logs:FilterLogEvents", f"{arn}:logs:{region}:{account}:log-group:/aws/lambda/{stack_name}-{fn_role}:*", none)
          for fn_role in ("forwarder", "applier")),
        ("events:DescribeRule", f"{arn}:events:{region}:{account}:rule/{stack_name}-restore", none),
        ("states:DescribeStateMachine", f"{arn}:states:{region}:{account}:stateMachine:{stack_name}-enable-replay", none),
        ("secretsmanager:GetSecretValue", f"{arn}:secretsmanager:{region}:{account}:secret:{stack_name}-key-AbCdEf", none),
    ]
    if switch_parameter:  # cutover's switch: read, write (and for --undo, delete) that parameter
        parameter = f"{arn}:ssm:{region}:{account}:parameter/{switch_parameter.lstrip('/')}"
        checks += [(a, parameter, none) for a in ("ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter")]
    if automation == "event":
        checks += [
            ("states:ListExecutions", f"{arn}:states:{region}:{account}:stateMachine:{stack_name}-enable-replay", none),
            ("sqs:ReceiveMessage", f"{queue}-restore-dlq", none),
        ]
    return checks


#: "Managed policy size: 6,144 characters", whitespace not counted ("IAM and AWS STS quotas", IAM User
#: Guide, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
MANAGED_POLICY_MAX_CHARS = 6144


def policy_size(policy: Mapping[str, Any]) -> int:
    """Characters IAM counts against the quota: the JSON without whitespace."""
    return len(json.dumps(policy, separators=(",", ":")))


def split_policy(policy: Mapping[str, Any], limit: int = MANAGED_POLICY_MAX_CHARS) -> list[dict[str, Any]]:
    """The policy as few managed policies as fit IAM's size quota, statements kept whole and in order.

    The rendered operator policy is larger than one managed policy may be; attach every part."""
    parts: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    for statement in policy["Statement"]:
        candidate = {"Version": policy.get("Version", "2012-10-17"), "Statement": [*current, statement]}
        if current and policy_size(candidate) > limit:
            parts.append({"Version": candidate["Version"], "Statement": current})
            current = [statement]
        else:
            current = candidate["Statement"]
    if current:
        parts.append({"Version": policy.get("Version", "2012-10-17"), "Statement": current})
    for part in parts:
        if policy_size(part) > limit:
            raise ValueError(f"statement {part['Statement'][0].get('Sid')} alone exceeds {limit} characters")
    return parts

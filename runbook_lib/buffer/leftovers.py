"""What of a buffer still exists after its stack is gone, looked up by the names the template
gives its resources (and the roles the stack had): the proof a teardown ends with.

moto lists a resource left out by a false Condition with empty fields; :func:`stack_resources`
leaves those out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ClientError

from ..aws.clients import AwsTarget
from ..aws.codes import error_code
from .feedback import aws_failure
from .names import resource_names
from .stacks import account_id


def stack_resources(target: AwsTarget, stack_id: str) -> list[dict[str, Any]]:
    """The stack's resources (``ListStackResources``, every page) that exist."""
    cfn = target.client("cloudformation")
    out: list[dict[str, Any]] = []
    try:
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_id):
            # moto also lists the resources a false Condition left out, with empty fields.
            out += [r for r in page["StackResourceSummaries"] if r.get("ResourceType") and r.get("PhysicalResourceId")]
    except ClientError as exc:
        raise aws_failure(exc, f"ListStackResources {stack_id}", "check permissions") from exc
    return out


def _exists(call: Callable[[], Any], gone: Iterable[str]) -> bool:
    try:
        call()
        return True
    except ClientError as exc:
        if error_code(exc) in set(gone):
            return False
        raise


def leftovers(
    target: AwsTarget,
    stack_name: str,
    *,
    stream_arn: str | None,
    queue_arn: str | None,
    state_machine_arn: str | None,
    role_names: Iterable[str],
    artifact: tuple[str, str] | None,
) -> list[str]:
    """What of the buffer still exists, by the names the template gives (and the stack had)."""
    names = resource_names(stack_name)
    lam, sqs = target.client("lambda"), target.client("sqs")
    left: list[str] = []
    function_names = {names["forwarder"], names["applier"]}

    # Event source mappings naming our functions, on the stream or the queue (the sample's
    # mapping outlived its stack).
    for source in filter(None, (stream_arn, queue_arn)):
        try:
            for page in lam.get_paginator("list_event_source_mappings").paginate(EventSourceArn=source):
                for m in page["EventSourceMappings"]:
                    if m["FunctionArn"].rsplit(":function:", 1)[-1].split(":")[0] in function_names:
                        left.append(f"AWS::Lambda::EventSourceMapping {m['UUID']} ({m.get('State')})")
        except ClientError as exc:
            if error_code(exc) not in ("ResourceNotFoundException", "InvalidParameterValueException"):
                raise
    for fn in sorted(function_names):
        try:
            for page in lam.get_paginator("list_event_source_mappings").paginate(FunctionName=fn):
                for m in page["EventSourceMappings"]:
                    entry = f"AWS::Lambda::EventSourceMapping {m['UUID']} ({m.get('State')})"
                    if not any(m["UUID"] in x for x in left):
                        left.append(entry)
        except ClientError as exc:
            if error_code(exc) not in ("ResourceNotFoundException",):
                raise
        if _exists(lambda fn=fn: lam.get_function(FunctionName=fn), ["ResourceNotFoundException"]):
            left.append(f"AWS::Lambda::Function {fn}")
    for key in ("queue", "dlq", "stream_failures", "rule_dlq"):
        if _exists(
            lambda key=key: sqs.get_queue_url(QueueName=names[key]),
            ["AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"],
        ):
            left.append(f"AWS::SQS::Queue {names[key]}")
    if _exists(lambda: target.client("events").describe_rule(Name=names["rule"]), ["ResourceNotFoundException"]):
        left.append(f"AWS::Events::Rule {names['rule']}")
    sfn = target.client("stepfunctions")
    sm_arn = state_machine_arn or (
        f"arn:{target.partition}:states:{target.region_name}:{account_id(target)}"
        f":stateMachine:{names['state_machine']}"
    )
    try:
        sm = sfn.describe_state_machine(stateMachineArn=sm_arn)
        if sm.get("status") != "DELETING":
            left.append(f"AWS::StepFunctions::StateMachine {sm_arn}")
    except ClientError as exc:
        if error_code(exc) != "StateMachineDoesNotExist":
            raise
    logs = target.client("logs")
    for key in ("forwarder_logs", "applier_logs"):
        groups = logs.describe_log_groups(logGroupNamePrefix=names[key])["logGroups"]
        if any(g["logGroupName"] == names[key] for g in groups):
            left.append(f"AWS::Logs::LogGroup {names[key]}")
    if _exists(lambda: target.client("secretsmanager").describe_secret(SecretId=names["key_digest_secret"]),
               ["ResourceNotFoundException"]):
        left.append(f"AWS::SecretsManager::Secret {names['key_digest_secret']}")
    iam = target.client("iam")
    for role in role_names:
        if _exists(lambda role=role: iam.get_role(RoleName=role), ["NoSuchEntity"]):
            left.append(f"AWS::IAM::Role {role}")
    if artifact:
        bucket, key = artifact
        if _exists(lambda: target.client("s3").head_object(Bucket=bucket, Key=key), ["404", "NoSuchKey", "NoSuchBucket"]):
            left.append(f"AWS::S3::Object s3://{bucket}/{key}")
    return left

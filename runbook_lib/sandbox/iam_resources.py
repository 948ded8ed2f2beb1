"""What each call needs allowed: the IAM action(s) and the resource ARN(s) the call touches.

For the services this runbook, its notebooks and its Lambda functions use, following each
service's page of the Service Authorization Reference ("Actions, resources, and condition keys for
...", https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html):
the table, index, stream, backup or export; the queue; the function or event source mapping; the
state machine or execution; the rule or event bus; the stack; the log group or stream; the
trail; the secret; the role, user or policy; the SSM parameter; CloudWatch and the list calls on ``*``. A call this
module does not know is checked against ``*``. ``iam_auth`` applies the answer to a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse


def _iam_backend(account: str, partition: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account][partition]


# ------------------------------------------------------------------------- resources per action
@dataclass
class _Req:
    partition: str
    region: str
    account: str
    params: dict[str, Any]

    def arn(self, service: str, rest: str, region: str | None = None, account: str | None = None) -> str:
        r = self.region if region is None else region
        a = self.account if account is None else account
        return f"arn:{self.partition}:{service}:{r}:{a}:{rest}"


Check = tuple[str, str, dict[str, Any]]  # (action, resource ARN, extra context)


def _table_arn(req: _Req, name: str) -> str:
    return name if name.startswith("arn:") else req.arn("dynamodb", f"table/{name}")


_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
_RESTORE_TARGET = ("PutItem", "UpdateItem", "DeleteItem", "GetItem", "Query", "Scan", "BatchWriteItem")


def _dynamodb(op: str, req: _Req) -> list[Check]:
    p = req.params
    if op in ("BatchWriteItem", "BatchGetItem"):
        return [(f"dynamodb:{op}", _table_arn(req, t), {}) for t in (p.get("RequestItems") or {})]
    if op in ("TransactWriteItems", "TransactGetItems"):
        checks = []
        for entry in p.get("TransactItems") or []:
            for kind, body in (entry or {}).items():
                checks.append((f"dynamodb:{_TRANSACT.get(kind, kind)}", _table_arn(req, (body or {}).get("TableName", "")), {}))
        return checks
    if op == "RestoreTableToPointInTime":
        source = p.get("SourceTableArn") or _table_arn(req, p.get("SourceTableName", ""))
        target = _table_arn(req, p.get("TargetTableName", ""))
        return [(f"dynamodb:{op}", source, {})] + [(f"dynamodb:{a}", target, {}) for a in _RESTORE_TARGET]
    if op in ("Query", "Scan") and p.get("IndexName"):
        return [(f"dynamodb:{op}", _table_arn(req, p["TableName"]) + f"/index/{p['IndexName']}", {})]
    if op == "ListStreams":
        table = p.get("TableName")
        return [(f"dynamodb:{op}", _table_arn(req, table) + "/stream/*" if table else "*", {})]
    if op == "GetRecords":
        return [(f"dynamodb:{op}", str(p.get("ShardIterator", "")).split("|", 1)[0], {})]
    for key in ("StreamArn", "TableArn", "ResourceArn", "BackupArn", "ExportArn"):
        if p.get(key):
            return [(f"dynamodb:{op}", str(p[key]), {})]
    if p.get("TableName"):
        return [(f"dynamodb:{op}", _table_arn(req, p["TableName"]), {})]
    return [(f"dynamodb:{op}", "*", {})]


_SQS_BATCH = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
              "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}


def _queue_arn(req: _Req, url: str) -> str:
    path = urlparse(url).path.strip("/").split("/")
    if len(path) >= 2:
        return req.arn("sqs", path[-1], account=path[-2])
    return req.arn("sqs", path[-1] if path else "")


def _sqs(op: str, req: _Req) -> list[Check]:
    p = req.params
    action = f"sqs:{_SQS_BATCH.get(op, op)}"
    if p.get("QueueUrl"):
        return [(action, _queue_arn(req, str(p["QueueUrl"])), {})]
    if op in ("CreateQueue", "GetQueueUrl") and p.get("QueueName"):
        return [(action, req.arn("sqs", str(p["QueueName"]), account=str(p.get("QueueOwnerAWSAccountId") or req.account)), {})]
    if op in ("StartMessageMoveTask", "ListMessageMoveTasks") and p.get("SourceArn"):
        return [(action, str(p["SourceArn"]), {})]
    return [(action, "*", {})]


_LAMBDA_ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction",
                   "ListVersionsByFunction": "ListVersionsByFunction", "GetFunctionConfiguration": "GetFunctionConfiguration"}


def _function_arn(req: _Req, name: str, qualifier: str | None = None) -> str:
    name = unquote(name)
    if name.startswith("arn:"):
        arn = name
    elif ":function:" in name:  # ACCOUNT:function:NAME
        account, _, rest = name.partition(":function:")
        arn = req.arn("lambda", f"function:{rest}", account=account)
    else:
        arn = req.arn("lambda", f"function:{name}")
    if qualifier and arn.count(":") == 6:
        arn += f":{qualifier}"
    return arn


def _lambda(op: str, req: _Req) -> list[Check]:
    p = req.params
    action = f"lambda:{_LAMBDA_ACTIONS.get(op, op)}"
    checks: list[Check] = []
    if p.get("UUID"):
        # "the resource is the event source mapping, so Lambda provides a condition that lets you restrict
        # permission based on the function that the event source mapping invokes" (lambda:FunctionArn;
        # "Resources and conditions for Lambda actions", Lambda Developer Guide,
        # https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html)
        checks.append((action, req.arn("lambda", f"event-source-mapping:{p['UUID']}"), _mapping_function(req, str(p["UUID"]))))
    elif op in ("CreateEventSourceMapping", "ListEventSourceMappings"):
        ctx = {"lambda:FunctionArn": _function_arn(req, p["FunctionName"])} if p.get("FunctionName") else {}
        checks.append((action, "*", ctx))
    elif p.get("FunctionName"):
        checks.append((action, _function_arn(req, str(p["FunctionName"]), p.get("Qualifier")), {}))
    else:
        checks.append((action, "*", {}))
    if op in ("CreateFunction", "UpdateFunctionConfiguration") and p.get("Role"):
        checks.append(_pass_role(str(p["Role"]), "lambda.amazonaws.com"))
    return checks


def _mapping_function(req: _Req, uuid: str) -> dict[str, Any]:
    """``lambda:FunctionArn`` of an existing event source mapping (empty when there is none)."""
    try:
        from moto.awslambda.models import lambda_backends

        esm = lambda_backends[req.account][req.region]._event_source_mappings.get(uuid)
    except Exception:  # noqa: BLE001 - no backend yet
        esm = None
    return {"lambda:FunctionArn": esm.function_arn} if esm is not None else {}


def _pass_role(role_arn: str, service: str) -> Check:
    return ("iam:PassRole", role_arn, {"iam:PassedToService": service})


def _states(op: str, req: _Req) -> list[Check]:
    p = req.params
    checks: list[Check] = []
    for key in ("executionArn", "stateMachineArn", "mapRunArn", "activityArn", "resourceArn"):
        if p.get(key):
            checks.append((f"states:{op}", str(p[key]), {}))
            break
    else:
        if op == "CreateStateMachine" and p.get("name"):
            checks.append((f"states:{op}", req.arn("states", f"stateMachine:{p['name']}"), {}))
        else:
            checks.append((f"states:{op}", "*", {}))
    if op in ("CreateStateMachine", "UpdateStateMachine") and p.get("roleArn"):
        checks.append(_pass_role(str(p["roleArn"]), "states.amazonaws.com"))
    return checks


def _rule_arn(req: _Req, name: str, bus: str | None) -> str:
    if name.startswith("arn:"):
        return name
    if bus and bus != "default":
        bus_name = bus.rsplit("/", 1)[-1] if bus.startswith("arn:") else bus
        return req.arn("events", f"rule/{bus_name}/{name}")
    return req.arn("events", f"rule/{name}")


def _events(op: str, req: _Req) -> list[Check]:
    p = req.params
    checks: list[Check] = []
    rule = p.get("Rule") or (p.get("Name") if op in ("PutRule", "DescribeRule", "DeleteRule", "EnableRule", "DisableRule") else None)
    if rule:
        checks.append((f"events:{op}", _rule_arn(req, str(rule), p.get("EventBusName")), {}))
    elif op == "PutEvents":
        buses = {str(e.get("EventBusName") or "default") for e in p.get("Entries") or []} or {"default"}
        for bus in sorted(buses):
            checks.append((f"events:{op}", bus if bus.startswith("arn:") else req.arn("events", f"event-bus/{bus}"), {}))
    elif p.get("ResourceARN"):
        checks.append((f"events:{op}", str(p["ResourceARN"]), {}))
    else:
        checks.append((f"events:{op}", "*", {}))
    if op == "PutTargets":
        for target in p.get("Targets") or []:
            if target.get("RoleArn"):
                checks.append(_pass_role(str(target["RoleArn"]), "events.amazonaws.com"))
    return checks


def _stack_arn(req: _Req, name: str) -> str:
    if name.startswith("arn:"):
        return name
    try:
        from moto.cloudformation.models import cloudformation_backends

        backend = cloudformation_backends[req.account][req.region]
        for stack in list(backend.stacks.values()):
            if stack.name == name and getattr(stack, "status", "") != "DELETE_COMPLETE":
                return stack.stack_id
    except Exception:  # noqa: BLE001 - no backend yet
        pass
    return req.arn("cloudformation", f"stack/{name}/*")


def _cloudformation(op: str, req: _Req) -> list[Check]:
    p = req.params
    checks: list[Check] = []
    name = p.get("StackName")
    # cloudformation:RoleArn: "Filters access by the ARN of an IAM service role specified in the request"
    # (Service Authorization Reference, AWS CloudFormation, condition keys)
    ctx = {"cloudformation:RoleArn": str(p["RoleARN"])} if p.get("RoleARN") else {}
    checks.append((f"cloudformation:{op}", _stack_arn(req, str(name)) if name else "*", ctx))
    if p.get("RoleARN") and op in ("CreateStack", "UpdateStack", "DeleteStack", "CreateChangeSet"):
        checks.append(_pass_role(str(p["RoleARN"]), "cloudformation.amazonaws.com"))
    return checks


def _logs(op: str, req: _Req) -> list[Check]:
    p = req.params
    group = p.get("logGroupName")
    if not group and p.get("logGroupIdentifier"):
        ident = str(p["logGroupIdentifier"])
        if ident.startswith("arn:"):
            return [(f"logs:{op}", ident, {})]
        group = ident
    if group and p.get("logStreamName") and op in ("PutLogEvents", "CreateLogStream", "DeleteLogStream", "GetLogEvents"):
        return [(f"logs:{op}", req.arn("logs", f"log-group:{group}:log-stream:{p['logStreamName']}"), {})]
    if group:
        return [(f"logs:{op}", req.arn("logs", f"log-group:{group}"), {})]
    if p.get("resourceArn"):
        return [(f"logs:{op}", str(p["resourceArn"]), {})]
    return [(f"logs:{op}", req.arn("logs", "log-group:*") if op == "DescribeLogGroups" else "*", {})]


def _cloudtrail(op: str, req: _Req) -> list[Check]:
    p = req.params
    name = p.get("Name") or p.get("TrailName")
    if name:
        name = str(name)
        return [(f"cloudtrail:{op}", name if name.startswith("arn:") else req.arn("cloudtrail", f"trail/{name}"), {})]
    return [(f"cloudtrail:{op}", "*", {})]


def _secretsmanager(op: str, req: _Req) -> list[Check]:
    p = req.params
    sid = p.get("SecretId") or (p.get("Name") if op == "CreateSecret" else None)
    if not sid:
        return [(f"secretsmanager:{op}", "*", {})]
    sid = str(sid)
    if sid.startswith("arn:"):
        return [(f"secretsmanager:{op}", sid, {})]
    try:
        from moto.secretsmanager.models import secretsmanager_backends

        secret = secretsmanager_backends[req.account][req.region].secrets.get(sid)
        if secret is not None and getattr(secret, "arn", None):
            return [(f"secretsmanager:{op}", secret.arn, {})]
    except Exception:  # noqa: BLE001 - no backend or no such secret
        pass
    # a secret that does not exist yet: its ARN ends in six random characters
    return [(f"secretsmanager:{op}", req.arn("secretsmanager", f"secret:{sid}-??????"), {})]


def _iam(op: str, req: _Req) -> list[Check]:
    p = req.params
    backend = _iam_backend(req.account, req.partition)
    if p.get("RoleName"):
        name = str(p["RoleName"])
        role = next((r for r in backend.roles.values() if r.name == name), None)
        path = (p.get("Path") or "/") if role is None else role.path
        return [(f"iam:{op}", role.arn if role else f"arn:{req.partition}:iam::{req.account}:role{path}{name}", {})]
    if p.get("UserName"):
        name = str(p["UserName"])
        user = backend.users.get(name)
        return [(f"iam:{op}", user.arn if user else f"arn:{req.partition}:iam::{req.account}:user/{name}", {})]
    if p.get("GroupName"):
        return [(f"iam:{op}", f"arn:{req.partition}:iam::{req.account}:group/{p['GroupName']}", {})]
    if p.get("PolicySourceArn"):
        return [(f"iam:{op}", str(p["PolicySourceArn"]), {})]
    if p.get("PolicyArn"):
        return [(f"iam:{op}", str(p["PolicyArn"]), {})]
    if op == "CreatePolicy" and p.get("PolicyName"):
        return [(f"iam:{op}", f"arn:{req.partition}:iam::{req.account}:policy{p.get('Path') or '/'}{p['PolicyName']}", {})]
    return [(f"iam:{op}", "*", {})]


def _sts(op: str, req: _Req) -> list[Check]:
    p = req.params
    if op in ("AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML") and p.get("RoleArn"):
        return [(f"sts:{op}", str(p["RoleArn"]), {})]
    return [(f"sts:{op}", "*", {})]


def _cloudwatch(op: str, req: _Req) -> list[Check]:
    """Alarm actions name the alarm's ARN (``alarm:<name>``; ``DescribeAlarms`` the account's alarms,
    ``alarm:*``); metric actions have no resource type ("Actions, resources, and condition keys for
    Amazon CloudWatch", Service Authorization Reference)."""
    p = req.params
    names = [p["AlarmName"]] if p.get("AlarmName") else list(p.get("AlarmNames") or [])
    if op in ("PutMetricAlarm", "PutCompositeAlarm", "DeleteAlarms", "DescribeAlarmHistory",
              "EnableAlarmActions", "DisableAlarmActions", "SetAlarmState") and names:
        return [(f"cloudwatch:{op}", req.arn("cloudwatch", f"alarm:{n}"), {}) for n in names]
    if op == "DescribeAlarms":
        return [(f"cloudwatch:{op}", req.arn("cloudwatch", "alarm:*"), {})]
    if op == "PutMetricData":  # its condition key: the namespace the data goes to
        return [(f"cloudwatch:{op}", "*", {"cloudwatch:namespace": p.get("Namespace")})]
    return [(f"cloudwatch:{op}", "*", {})]


def _ssm_parameter_arn(req: _Req, name: str) -> str:
    """A parameter's ARN: ``parameter/`` and the name without its leading slash, a version or label
    selector (``name:3``) dropped ("Actions, resources, and condition keys for AWS Systems Manager",
    resource type ``parameter``, Service Authorization Reference)."""
    if name.startswith("arn:"):
        return name.rsplit(":", 1)[0] if name.count(":") > 5 else name
    return req.arn("ssm", f"parameter/{name.split(':', 1)[0].lstrip('/')}")


def _ssm(op: str, req: _Req) -> list[Check]:
    p = req.params
    if p.get("Name"):
        return [(f"ssm:{op}", _ssm_parameter_arn(req, str(p["Name"])), {})]
    if p.get("Names"):
        return [(f"ssm:{op}", _ssm_parameter_arn(req, str(n)), {}) for n in p["Names"]]
    return [(f"ssm:{op}", "*", {})]


def _generic(prefix: str):
    def resolve(op: str, req: _Req) -> list[Check]:
        return [(f"{prefix}:{op}", "*", {})]

    return resolve


_RESOLVERS = {
    "dynamodb": _dynamodb,
    "sqs": _sqs,
    "lambda": _lambda,
    "states": _states,
    "events": _events,
    "cloudformation": _cloudformation,
    "logs": _logs,
    "cloudtrail": _cloudtrail,
    "secretsmanager": _secretsmanager,
    "iam": _iam,
    "sts": _sts,
    "monitoring": _cloudwatch,
    "ssm": _ssm,
}

#: the protocol of each signing name's service (botocore's service models)
_QUERY = {"iam", "sts", "cloudformation"}
_REST_JSON = {"lambda"}


def checks_for(service: str, op: str, params: dict[str, Any], *, partition: str, region: str, account: str) -> list[Check]:
    """The (action, resource ARN, context) pairs a call needs allowed (the tables above)."""
    resolver = _RESOLVERS.get(service) or _generic(service)
    return resolver(op, _Req(partition, region, account, params))


#: moto's S3 action names (``ACTION_MAP``) that are not IAM's
_S3_ACTIONS = {
    "HeadBucket": "ListBucket",
    "ListBucketVersions": "ListBucketVersions",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetBucketCORS": "GetBucketCORS",
    "PutBucketCORS": "PutBucketCORS",
    "GetLifecycleConfiguration": "GetLifecycleConfiguration",
}


#: (method, bucket subresource) -> IAM action, for those missing from moto's ACTION_MAP ("Amazon S3
#: API operations and the permissions they need" in "Required permissions for Amazon S3 API
#: operations", https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html)
_S3_SUBRESOURCES = {
    ("PUT", "encryption"): "PutEncryptionConfiguration",
    ("GET", "encryption"): "GetEncryptionConfiguration",
    ("DELETE", "encryption"): "PutEncryptionConfiguration",
    ("PUT", "ownershipControls"): "PutBucketOwnershipControls",
    ("GET", "ownershipControls"): "GetBucketOwnershipControls",
    ("PUT", "publicAccessBlock"): "PutBucketPublicAccessBlock",
    ("GET", "publicAccessBlock"): "GetBucketPublicAccessBlock",
    ("DELETE", "publicAccessBlock"): "PutBucketPublicAccessBlock",
    ("GET", "policy"): "GetBucketPolicy",
    ("PUT", "policy"): "PutBucketPolicy",
    ("DELETE", "policy"): "DeleteBucketPolicy",
}

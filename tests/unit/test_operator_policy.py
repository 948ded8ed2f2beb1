"""The operator's policy is derived from the calls the runbook makes, and the CloudFormation service role
from the resource types the buffer's template holds; both are checked here mechanically.

- ``tests/unit/golden/operator_calls.txt``: every (service, operation) the notebooks call, recorded
  from drills (``tests/drill/test_drill_as_operator.py`` keeps it current) plus the calls a drill does
  not reach (annotated), plus ``settings.API_CALLS``;
- ``permissions.actions_for`` maps each call to the IAM actions AWS checks ("Actions, resources, and
  condition keys" pages of the Service Authorization Reference,
  https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html);
- ``infra/operator-policy.json`` must allow exactly those actions: a call without its permission fails
  here, and so does a permission nothing uses.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

from runbook_lib import buffer, permissions, settings
from runbook_lib.errors import AccessDeniedError

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "operator_calls.txt"


def golden_calls() -> set[tuple[str, str]]:
    calls = set()
    for line in GOLDEN.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            service, operation = text.split()
            calls.add((service, operation))
    return calls


def all_calls() -> set[tuple[str, str]]:
    return golden_calls() | {call for calls in settings.API_CALLS.values() for call in calls}


# -- the operator policy ------------------------------------------------------------------------------
def test_policy_allows_exactly_the_actions_the_runbook_calls_need():
    needed = permissions.required_actions(all_calls())
    allowed = permissions.policy_actions()
    missing = {a: sorted(needed[a]) for a in set(needed) - allowed}
    unused = sorted(allowed - set(needed))
    assert not missing, f"calls without their permission in infra/operator-policy.json: {missing}"
    assert not unused, f"permissions in infra/operator-policy.json that no call needs: {unused}"


def test_every_recorded_call_is_an_operation_of_botocore_s_model():
    session = botocore.session.get_session()
    for service, operation in golden_calls():
        assert operation in session.get_service_model(service).operation_names, (service, operation)


def test_restore_needs_item_permissions_on_the_target_and_head_bucket_needs_list_bucket():
    assert set(permissions.actions_for("dynamodb", "RestoreTableToPointInTime")) >= {
        "dynamodb:RestoreTableToPointInTime", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
        "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchWriteItem"}
    assert permissions.actions_for("s3", "HeadBucket") == ("s3:ListBucket",)
    assert permissions.actions_for("dynamodbstreams", "GetRecords") == ("dynamodb:GetRecords",)
    assert permissions.actions_for("stepfunctions", "ListExecutions") == ("states:ListExecutions",)
    assert permissions.actions_for("sts", "GetCallerIdentity") == ()


def _aws_methods_called_in_runbook_lib() -> set[str]:
    """Names of client methods (and paginators) called in the step modules (not the sandbox, the Lambda
    handlers, or the drill's own set-up, which runs as the sandbox's root). ``activity`` is scanned: steps 03
    and 04 read the buffer's logs with it, as the operator."""
    names: set[str] = set()
    for path in sorted((ROOT / "runbook_lib").rglob("*.py")):
        if path.name == "drill.py":  # the drill's own set-up and bookkeeping, as root
            continue
        if {"sandbox", "cdc"} & set(path.relative_to(ROOT / "runbook_lib").parts):
            continue
        if path.relative_to(ROOT / "runbook_lib").parts[0] == "schedule":
            continue  # the scheduled job's calls: infra/drill-schedule.yaml's DrillRole (test_drill_schedule_template.py)
        if path.relative_to(ROOT / "runbook_lib").parts[0] == "report":
            # renders files from the run's data and calls no AWS (checked below); Jinja2's
            # Environment.get_template shares CloudFormation's GetTemplate method name
            assert ".client(" not in path.read_text(), f"{path} calls AWS: scan it"
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if ast.unparse(node.func.value) == "botocore.session":
                    continue  # botocore.session.get_session(): botocore's own, not Athena's GetSession
                names.add(node.func.attr)
                if node.func.attr in ("get_paginator", "get_waiter") and node.args and isinstance(node.args[0], ast.Constant):
                    names.add(str(node.args[0].value))
    return names


def test_every_aws_call_in_the_step_modules_is_in_the_recorded_calls():
    """A call added to the code but not yet recorded (so not yet in the policy) fails here."""
    session = botocore.session.get_session()
    by_method: dict[str, set[tuple[str, str]]] = {}
    for service in permissions.SERVICES:
        for operation in session.get_service_model(service).operation_names:
            by_method.setdefault(xform_name(operation), set()).add((service, operation))
    calls = all_calls()
    unrecorded = sorted(m for m in _aws_methods_called_in_runbook_lib() & set(by_method) if not by_method[m] & calls)
    assert unrecorded == [], f"AWS calls in runbook_lib missing from {GOLDEN.name}: {unrecorded}"


def test_policy_names_only_known_placeholders_and_renders_without_any_left():
    assert permissions.placeholders_in() == set(permissions.PLACEHOLDERS)
    rendered = permissions.render_policy(partition="aws-cn", region="cn-north-1", account="123456789012",
                                         source_table_pattern="orders", target_table_pattern="orders-restored-*")
    text = json.dumps(rendered)
    assert "${" not in text and "arn:aws-cn:dynamodb:cn-north-1:123456789012:table/orders-restored-*" in text


def test_rendered_policy_splits_into_managed_policies_within_iam_s_size_quota():
    rendered = permissions.render_policy(partition="aws", region="eu-west-1", account="123456789012",
                                         source_table_pattern="orders-with-a-long-name-*",
                                         target_table_pattern="orders-with-a-long-name-restored-*")
    parts = permissions.split_policy(rendered)
    assert len(parts) > 1 and all(permissions.policy_size(p) <= permissions.MANAGED_POLICY_MAX_CHARS for p in parts)
    assert [s for p in parts for s in p["Statement"]] == rendered["Statement"]


@pytest.mark.parametrize("source, target", [("*", "x-restored"), ("orders", "orders")])
def test_render_refuses_a_source_pattern_that_reaches_restored_or_all_tables(source, target):
    from runbook_lib.errors import InputError

    with pytest.raises(InputError):
        permissions.render_policy(partition="aws", region="us-east-1", account="123456789012",
                                  source_table_pattern=source, target_table_pattern=target)


def test_no_statement_allows_a_wildcard_action_and_star_only_where_iam_has_no_resource_type():
    """The actions on Resource "*" are those the Service Authorization Reference lists without a
    resource type (ListTables, DescribeTrails, ListEventSourceMappings, DescribeLogGroups, ListStacks,
    GetMetricStatistics, the Application Auto Scaling describes)."""
    star_ok = {"dynamodb:ListTables", "cloudtrail:DescribeTrails", "cloudformation:ListStacks", "lambda:ListEventSourceMappings",
               "logs:DescribeLogGroups", "cloudwatch:GetMetricStatistics",
               "application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies"}
    for st in permissions.policy_template()["Statement"]:
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        assert all("*" not in a for a in actions), st["Sid"]
        if st["Resource"] == "*":
            assert set(actions) <= star_ok, st["Sid"]


def test_pass_role_only_to_cloudformation_and_stacks_only_with_the_service_role():
    statements = {s["Sid"]: s for s in permissions.policy_template()["Statement"]}
    assert statements["PassCfnServiceRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
    assert "cloudformation:RoleArn" in statements["BufferStackWithServiceRole"]["Condition"]["ArnEquals"]
    assert not {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"} & permissions.policy_actions()


# -- the access-denied error ------------------------------------------------------------------------------
@pytest.mark.parametrize("message, action, resource", [
    # DynamoDB's wording ("Identity-based policies for DynamoDB", examples of AccessDeniedException)
    ("User: arn:aws:iam::123456789012:user/pitr-operator is not authorized to perform: "
     "dynamodb:RestoreTableToPointInTime on resource: arn:aws:dynamodb:us-east-1:123456789012:table/orders "
     "because no identity-based policy allows the dynamodb:RestoreTableToPointInTime action",
     "dynamodb:RestoreTableToPointInTime", "arn:aws:dynamodb:us-east-1:123456789012:table/orders"),
    # S3 quotes the resource
    ('User: arn:aws:iam::123456789012:user/pitr-operator is not authorized to perform: s3:PutObject on resource: '
     '"arn:aws:s3:::pitr-runbook-123456789012-us-east-1/pitr-runbook/x.zip" because no identity-based policy '
     'allows the s3:PutObject action', "s3:PutObject", "arn:aws:s3:::pitr-runbook-123456789012-us-east-1/pitr-runbook/x.zip"),
    # an assumed role, and a message ending at the resource
    ("User: arn:aws:sts::123456789012:assumed-role/oncall/alice is not authorized to perform: "
     "cloudformation:CreateStack on resource: arn:aws:cloudformation:us-east-1:123456789012:stack/pitr-a-b-1/*",
     "cloudformation:CreateStack", "arn:aws:cloudformation:us-east-1:123456789012:stack/pitr-a-b-1/*"),
])
def test_access_denied_names_the_action_the_resource_and_the_policy_statement(message, action, resource):
    err = AccessDeniedError.from_message(message, code="AccessDeniedException", operation="X")
    assert (err.action, err.resource) == (action, resource)
    assert err.statement == permissions.statement_for_action(action) and err.statement
    text = str(err)
    assert "\n" not in text and action in text and resource in text and err.statement in text
    assert err.code == "AccessDeniedException" and err.exit_code == 2


def test_access_denied_without_an_action_in_the_message_names_the_operation():
    err = AccessDeniedError.from_message(
        "An error occurred (UnauthorizedOperation) when calling the DescribeVpcs operation: You are not "
        "authorized to perform this operation. Encoded authorization failure message: abc")
    assert err.code == "UnauthorizedOperation" and "DescribeVpcs" in str(err)
    assert AccessDeniedError.from_message("An error occurred (ResourceNotFoundException) when calling the "
                                          "DescribeTable operation: Requested resource not found") is None


# -- the CloudFormation service role --------------------------------------------------------------------
#: Handler permissions the service role leaves out, and why: each belongs to a feature
#: infra/buffer.yaml does not use, or is not an IAM action.
NOT_GRANTED = {
    # no customer managed KMS key anywhere (SSE-SQS, Lambda's and Secrets Manager's AWS managed keys)
    **{a: "no KMS key" for a in ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt",
                                 "kms:GenerateDataKey", "logs:AssociateKmsKey", "logs:DisassociateKmsKey")},
    # functions outside a VPC, without file systems, layers, code signing, capacity providers or versions
    **{a: "no VPC, EFS or S3 Files" for a in ("ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs",
                                              "ec2:DescribeNetworkInterfaces", "elasticfilesystem:DescribeMountTargets",
                                              "s3files:ListMountTargets")},
    **{a: "no code signing, layers, capacity providers, aliases or published versions" for a in (
        "lambda:GetCodeSigningConfig", "lambda:PutFunctionCodeSigningConfig", "lambda:DeleteFunctionCodeSigningConfig",
        "lambda:GetLayerVersion", "lambda:PassCapacityProvider", "lambda:AssociateRuntimeAlias",
        "lambda:PutFunctionScalingConfig", "lambda:PublishVersion")},
    # log groups without data protection, delivery, index or resource policies, deletion protection, bearer auth
    **{a: "no log data protection, delivery or log-group policies" for a in (
        "logs:PutDataProtectionPolicy", "logs:DeleteDataProtectionPolicy", "logs:CreateLogDelivery",
        "logs:PutResourcePolicy", "logs:DeleteResourcePolicy", "logs:PutIndexPolicy", "logs:DeleteIndexPolicy",
        "logs:PutLogGroupDeletionProtection", "logs:PutBearerTokenAuthentication", "firehose:TagDeliveryStream",
        "s3:REST.PUT.OBJECT")},
    # roles get inline policies only; their boundary is set at creation and never changed or removed
    **{a: "no managed policies on roles; boundary fixed" for a in (
        "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary",
        "iam:DeleteRolePermissionsBoundary")},
    # secrets in one region
    **{a: "no replica regions" for a in ("secretsmanager:ReplicateSecretToRegions",
                                         "secretsmanager:RemoveRegionsFromReplication")},
}

def _buffer_types() -> set[str]:
    return {r["Type"] for r in buffer.load_template()["Resources"].values()}


def _handler_actions(types: set[str]) -> set[str]:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    actions: set[str] = set()
    for t in types:
        handlers = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", t).schema["handlers"]
        for kind in ("create", "read", "update", "delete"):  # "list" serves resource discovery, not stacks
            actions |= set(handlers.get(kind, {}).get("permissions", []))
    return actions


def _role_statements() -> list[dict]:
    text = (ROOT / "infra" / permissions.CFN_ROLE_FILE).read_text()
    role = buffer.load_template(text)["Resources"]["ServiceRole"]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_cfn_service_role_grants_what_cloudformation_s_handlers_need_for_the_buffer_s_resource_types():
    """"permissions" of each handler in the resource type's provider schema: what CloudFormation calls
    for that type ("Resource type schema", CloudFormation CLI User Guide,
    https://docs.aws.amazon.com/cloudformation-cli/latest/userguide/resource-type-schema.html)."""
    needed = {a for a in _handler_actions(_buffer_types()) if a not in NOT_GRANTED}
    granted = {a for s in _role_statements() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert sorted(needed - granted) == [], "CloudFormation would fail creating, updating or deleting the stack"
    assert sorted(granted - needed) == [], "the service role grants what no handler of the buffer's types needs"


def test_cfn_service_role_creates_and_changes_roles_only_under_its_boundary_and_passes_them_to_three_services():
    statements = {s["Sid"]: s for s in _role_statements()}
    bounded = statements["RolesWithBoundary"]
    assert {"iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy"} <= set(bounded["Action"])
    assert bounded["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": {"Ref": "BufferRoleBoundary"}}}
    granted = {a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not {"iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary", "iam:AttachRolePolicy"} & granted
    assert set(statements["PassBufferRoles"]["Condition"]["StringEquals"]["iam:PassedToService"]) == {
        "lambda.amazonaws.com", "events.amazonaws.com", "states.amazonaws.com"}


def _buffer_role_actions() -> set[str]:
    out = set()
    for res in buffer.load_template()["Resources"].values():
        if res["Type"] == "AWS::IAM::Role":
            assert res["Properties"]["PermissionsBoundary"] == {
                "Fn::If": ["HasRoleBoundary", {"Ref": "RoleBoundaryArn"}, {"Ref": "AWS::NoValue"}]}
            for policy in res["Properties"].get("Policies", []):
                for st in policy["PolicyDocument"]["Statement"]:
                    out |= set([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    return out


def test_every_buffer_role_takes_the_boundary_and_the_boundary_allows_exactly_the_actions_they_hold():
    """A boundary is a cap: wider than the roles it bounds, it would let an edited template grant more."""
    text = (ROOT / "infra" / permissions.CFN_ROLE_FILE).read_text()
    boundary = buffer.load_template(text)["Resources"]["BufferRoleBoundary"]["Properties"]["PolicyDocument"]
    allowed = {a for st in boundary["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    held = _buffer_role_actions()
    assert sorted(held - allowed) == [], "a buffer role holds an action its boundary does not allow"
    assert sorted(allowed - held) == [], "the boundary allows an action no buffer role holds"


def test_boundary_arn_is_derived_from_the_role_arn_in_its_partition():
    assert buffer.boundary_arn_for("arn:aws-cn:iam::123456789012:role/cfn-service-role-pitr-runbook") == \
        "arn:aws-cn:iam::123456789012:policy/cfn-service-role-pitr-runbook-boundary"
    from runbook_lib.errors import InputError

    with pytest.raises(InputError):
        buffer.boundary_arn_for("not-an-arn")


def test_service_role_name_does_not_match_the_stack_pattern():
    """The service role may edit roles named like buffer stacks; it must not be one of them."""
    pattern = re.compile(permissions.DEFAULT_STACK_PATTERN.replace("*", ".*").replace("?", "."))
    assert not pattern.fullmatch(permissions.DEFAULT_CFN_ROLE_NAME)


#: the role actions whose request carries ``iam:PermissionsBoundary`` ("Actions, resources, and
#: condition keys for AWS Identity and Access Management", Service Authorization Reference,
#: https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html)
_BOUNDARY_KEYED = {"iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy",
                   "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary"}


def test_only_actions_whose_request_names_a_boundary_are_conditioned_on_it():
    """Under a condition on a key the request does not carry, an action is always denied: DeleteRole
    there would leave every stack undeletable (DELETE_FAILED) and every failed create ROLLBACK_FAILED."""
    for st in _role_statements():
        if "iam:PermissionsBoundary" in json.dumps(st.get("Condition", {})):
            actions = {st["Action"]} if isinstance(st["Action"], str) else set(st["Action"])
            assert actions <= _BOUNDARY_KEYED, f"statement {st['Sid']}: {sorted(actions - _BOUNDARY_KEYED)}"
    granted = {a for s in _role_statements() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert "iam:DeleteRole" in granted


def test_the_boundary_reaches_no_table_the_operator_s_patterns_keep_out():
    """A boundary wider than the operator would let an operator who edits the template (UpdateStack
    through the service role) run code that writes live tables ("Permissions boundaries for IAM
    entities", IAM User Guide)."""
    text = (ROOT / "infra" / permissions.CFN_ROLE_FILE).read_text()
    boundary = buffer.load_template(text)["Resources"]["BufferRoleBoundary"]["Properties"]["PolicyDocument"]
    for st in boundary["Statement"]:
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        resource = json.dumps(st["Resource"])
        if any(a.startswith("dynamodb:") for a in actions):
            assert "table/*" not in resource, st["Sid"]
            writes = {"dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
            if writes & set(actions):
                assert "${TargetTablePattern}" in resource and "${SourceTablePattern}" not in resource, st["Sid"]
        if "lambda:UpdateEventSourceMapping" in actions:
            assert "lambda:FunctionArn" in json.dumps(st.get("Condition", {})), st["Sid"]

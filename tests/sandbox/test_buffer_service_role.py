"""The buffer is created, updated and deleted with the CloudFormation service role of
infra/cfn-service-role.yaml ("AWS CloudFormation service role", CloudFormation User Guide,
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html: CreateStack,
UpdateStack and DeleteStack take RoleARN; the caller needs iam:PassRole on it), and every role the stack
creates takes the role's permissions boundary."""

from __future__ import annotations

import pytest

from runbook_lib import buffer, drill, permissions
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.errors import InputError
from runbook_lib.sandbox.traffic import create_demo_table

REGION = "us-east-1"
SOURCE, TARGET = "orders", "orders-restored"


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(region=REGION, endpoint_url=endpoint)


def test_deploy_and_teardown_pass_the_service_role_and_the_stack_s_roles_take_its_boundary(aws, target):
    # GIVEN the service role an administrator deployed once, and a source table
    role_arn = drill.deploy_cfn_service_role(target, source_table=SOURCE, target_table=TARGET)
    boundary = buffer.boundary_arn_for(role_arn)
    assert aws("iam").get_policy(PolicyArn=boundary)["Policy"]["PolicyName"] == f"{permissions.DEFAULT_CFN_ROLE_NAME}-boundary"
    create_demo_table(aws("dynamodb"), SOURCE)
    # WHEN the buffer is deployed with it
    plan = buffer.plan(target, source_table=SOURCE, target_table=TARGET, automation="event")
    stack = buffer.deploy(target, plan, cfn_role_arn=role_arn)
    # THEN CloudFormation holds the role, and every role of the stack has the boundary
    described = aws("cloudformation").describe_stacks(StackName=stack.stack_name)["Stacks"][0]
    assert described["RoleARN"] == role_arn
    assert {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}["RoleBoundaryArn"] == boundary
    roles = [r["PhysicalResourceId"] for r in aws("cloudformation").list_stack_resources(StackName=stack.stack_name)[
        "StackResourceSummaries"] if r["ResourceType"] == "AWS::IAM::Role"]
    assert len(roles) == 4
    for name in roles:
        assert aws("iam").get_role(RoleName=name)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    # and the teardown deletes it with the same role and leaves nothing
    report = buffer.teardown(target, stack, execute=True, cfn_role_arn=role_arn)
    assert report.clean


def test_without_a_service_role_the_stack_s_roles_have_no_boundary(aws, target):
    create_demo_table(aws("dynamodb"), SOURCE)
    stack = buffer.deploy(target, buffer.plan(target, source_table=SOURCE, target_table=TARGET))
    described = aws("cloudformation").describe_stacks(StackName=stack.stack_name)["Stacks"][0]
    assert "RoleARN" not in described
    roles = [r["PhysicalResourceId"] for r in aws("cloudformation").list_stack_resources(StackName=stack.stack_name)[
        "StackResourceSummaries"] if r["ResourceType"] == "AWS::IAM::Role"]
    assert roles and all("PermissionsBoundary" not in aws("iam").get_role(RoleName=n)["Role"] for n in roles)


def test_a_malformed_role_arn_is_refused_before_any_call(aws, target):
    create_demo_table(aws("dynamodb"), SOURCE)
    plan = buffer.plan(target, source_table=SOURCE, target_table=TARGET)
    with pytest.raises(InputError, match="not an IAM role ARN"):
        buffer.deploy(target, plan, cfn_role_arn="cfn-service-role-pitr-runbook")
    assert aws("cloudformation").describe_stacks()["Stacks"] == []
    assert aws("s3").list_buckets()["Buckets"] == []  # not even the artifact bucket


def test_the_operator_tears_down_without_naming_the_role_again(aws, target, monkeypatch):
    """The operator may delete a stack only with the service role (``cloudformation:RoleArn``); a
    ``DeleteStack`` without ``RoleARN`` carries no such key ("Actions, resources, and condition keys
    for AWS CloudFormation", Service Authorization Reference) and is denied, although CloudFormation
    would use the stack's own role. So the teardown passes the role the stack holds."""
    create_demo_table(aws("dynamodb"), SOURCE)
    role_arn = drill.deploy_cfn_service_role(target, source_table=SOURCE, target_table=TARGET)
    operator = drill.create_operator(target, source_table=SOURCE, target_table=TARGET, cfn_role_arn=role_arn)
    for name, value in operator.environment().items():
        monkeypatch.setenv(name, value)
    # GIVEN a stack the operator deployed with the service role
    stack = buffer.deploy(target, buffer.plan(target, source_table=SOURCE, target_table=TARGET), cfn_role_arn=role_arn)
    # WHEN a later session tears it down without --cfn-role-arn
    report = buffer.teardown(target, stack.stack_name, execute=True)
    # THEN it is gone: the teardown used the role the stack holds
    assert report.clean
    monkeypatch.undo()
    assert buffer.describe(target, stack.stack_name) is None

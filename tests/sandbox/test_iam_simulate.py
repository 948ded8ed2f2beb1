"""iam:SimulatePrincipalPolicy in the sandbox ("SimulatePrincipalPolicy", IAM API Reference,
https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html): each action
is evaluated for each resource, decisions allowed / explicitDeny / implicitDeny, MatchedStatements
naming the deciding policies, MaxItems/Marker/IsTruncated paging; moto alone does not implement it."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

REGION = "us-east-1"

ACCOUNT = "123456789012"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"
OTHER = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/payroll"


@pytest.fixture
def user(aws):
    iam = aws("iam")
    iam.create_user(UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="read-orders", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["dynamodb:DescribeTable", "dynamodb:Scan"], "Resource": "arn:aws:dynamodb:*:*:table/*"},
            {"Effect": "Allow", "Action": "iam:SimulatePrincipalPolicy", "Resource": f"arn:aws:iam::{ACCOUNT}:user/alice"},
        ]}))
    arn = iam.create_policy(PolicyName="no-scan-orders", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "dynamodb:Scan", "Resource": TABLE}]}))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="alice", PolicyArn=arn)
    return f"arn:aws:iam::{ACCOUNT}:user/alice"


def test_each_action_is_evaluated_for_each_resource_with_the_deciding_policies(aws, user):
    got = aws("iam").simulate_principal_policy(
        PolicySourceArn=user, ActionNames=["dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:DeleteTable"],
        ResourceArns=[TABLE, OTHER])
    results = [(r["EvalActionName"], r["EvalResourceName"], r["EvalDecision"]) for r in got["EvaluationResults"]]
    assert results == [
        ("dynamodb:DescribeTable", TABLE, "allowed"), ("dynamodb:DescribeTable", OTHER, "allowed"),
        ("dynamodb:Scan", TABLE, "explicitDeny"), ("dynamodb:Scan", OTHER, "allowed"),
        ("dynamodb:DeleteTable", TABLE, "implicitDeny"), ("dynamodb:DeleteTable", OTHER, "implicitDeny"),
    ]
    matched = {(r["EvalActionName"], r["EvalResourceName"]): r["MatchedStatements"] for r in got["EvaluationResults"]}
    # an explicit deny is the only entry; an allow names the allowing policy; an implicit deny none
    assert [(s["SourcePolicyId"], s["SourcePolicyType"]) for s in matched[("dynamodb:Scan", TABLE)]] == [
        ("no-scan-orders", "user-managed")]
    assert [(s["SourcePolicyId"], s["SourcePolicyType"]) for s in matched[("dynamodb:Scan", OTHER)]] == [
        ("read-orders", "user")]
    assert matched[("dynamodb:DeleteTable", TABLE)] == []
    assert got["IsTruncated"] is False and "Marker" not in got


def test_results_are_paged_with_max_items_and_marker(aws, user):
    iam = aws("iam")
    actions = [f"dynamodb:{a}" for a in ("DescribeTable", "Scan", "Query", "GetItem", "PutItem")]
    first = iam.simulate_principal_policy(PolicySourceArn=user, ActionNames=actions, ResourceArns=[TABLE], MaxItems=2)
    assert len(first["EvaluationResults"]) == 2 and first["IsTruncated"] is True and first["Marker"]
    seen = [r["EvalActionName"] for r in first["EvaluationResults"]]
    marker = first["Marker"]
    while marker:
        page = iam.simulate_principal_policy(PolicySourceArn=user, ActionNames=actions, ResourceArns=[TABLE],
                                             MaxItems=2, Marker=marker)
        seen += [r["EvalActionName"] for r in page["EvaluationResults"]]
        marker = page.get("Marker") if page["IsTruncated"] else None
    assert seen == actions
    # botocore's paginator follows the same fields
    pages = iam.get_paginator("simulate_principal_policy").paginate(
        PolicySourceArn=user, ActionNames=actions, ResourceArns=[TABLE], PaginationConfig={"PageSize": 2})
    assert [r["EvalActionName"] for p in pages for r in p["EvaluationResults"]] == actions


def test_without_resources_the_resource_is_star(aws, user):
    got = aws("iam").simulate_principal_policy(PolicySourceArn=user, ActionNames=["dynamodb:ListTables"])
    assert [(r["EvalResourceName"], r["EvalDecision"]) for r in got["EvaluationResults"]] == [("*", "implicitDeny")]


def test_a_role_is_simulated_from_its_own_policies(aws):
    iam = aws("iam")
    role = iam.create_role(RoleName="oncall", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="oncall", PolicyName="restore", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "dynamodb:RestoreTableToPointInTime", "Resource": TABLE}]}))
    got = iam.simulate_principal_policy(PolicySourceArn=role["Role"]["Arn"],
                                        ActionNames=["dynamodb:RestoreTableToPointInTime"], ResourceArns=[TABLE, OTHER])
    assert [r["EvalDecision"] for r in got["EvaluationResults"]] == ["allowed", "implicitDeny"]


def test_context_entries_feed_the_conditions(aws):
    iam = aws("iam")
    iam.create_user(UserName="bob")
    iam.put_user_policy(UserName="bob", PolicyName="pass", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
                       "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}}]}))

    def decision(service: str | None) -> str:
        entries = [{"ContextKeyName": "iam:PassedToService", "ContextKeyValues": [service], "ContextKeyType": "string"}] if service else []
        return iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/bob", ActionNames=["iam:PassRole"],
                                             ContextEntries=entries)["EvaluationResults"][0]["EvalDecision"]

    assert (decision("cloudformation.amazonaws.com"), decision("lambda.amazonaws.com"), decision(None)) == (
        "allowed", "implicitDeny", "implicitDeny")


@pytest.mark.parametrize("source, code", [
    (f"arn:aws:iam::{ACCOUNT}:user/nobody", "NoSuchEntity"),
    # an assumed-role session is not a policy source: simulate its role
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/oncall/alice", "InvalidInput"),
])
def test_a_source_that_is_not_a_user_group_or_role_of_the_account_is_refused(aws, source, code):
    with pytest.raises(ClientError) as exc:
        aws("iam").simulate_principal_policy(PolicySourceArn=source, ActionNames=["dynamodb:Scan"])
    assert exc.value.response["Error"]["Code"] == code


def test_the_call_itself_needs_iam_simulate_principal_policy_on_the_principal(aws, endpoint, user):
    iam = aws("iam")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    as_alice = boto3.client("iam", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=key["AccessKeyId"],
                            aws_secret_access_key=key["SecretAccessKey"])
    assert as_alice.simulate_principal_policy(PolicySourceArn=user, ActionNames=["dynamodb:Scan"])["EvaluationResults"]
    iam.create_user(UserName="carol")
    with pytest.raises(ClientError) as exc:
        as_alice.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/carol", ActionNames=["dynamodb:Scan"])
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    assert "iam:SimulatePrincipalPolicy" in exc.value.response["Error"]["Message"]

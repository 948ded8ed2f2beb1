"""The preflight reports the permissions a run would miss, from iam:SimulatePrincipalPolicy on the run's
own resource ARNs ("SimulatePrincipalPolicy", IAM API Reference,
https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html), and says so with a
WARN, never a FAIL, where the caller may not simulate ("Testing IAM policies with the IAM policy
simulator", IAM User Guide: the simulator needs iam:SimulatePrincipalPolicy)."""

from __future__ import annotations

import json

import pytest

from runbook_lib.aws import clients as config
from runbook_lib import permissions, preflight
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.preflight import FAIL, PASS, WARN
REGION = "us-east-1"

ACCOUNT = "123456789012"


def operator(aws, monkeypatch, *, without=()) -> str:
    """An IAM user holding the rendered operator policy (less ``without``); the runbook signs as it."""
    iam = aws("iam")
    iam.create_user(UserName="pitr-operator")
    policy = permissions.render_policy(partition="aws", region=REGION, account=ACCOUNT, source_table_pattern="orders",
                                       target_table_pattern="orders-restored", without=without)
    for n, part in enumerate(permissions.split_policy(policy)):
        arn = iam.create_policy(PolicyName=f"op-{n}", PolicyDocument=json.dumps(part))["Policy"]["Arn"]
        iam.attach_user_policy(UserName="pitr-operator", PolicyArn=arn)
    key = iam.create_access_key(UserName="pitr-operator")["AccessKey"]
    monkeypatch.setenv(config.SANDBOX_ACCESS_KEY_ENV, key["AccessKeyId"])
    monkeypatch.setenv(config.SANDBOX_SECRET_KEY_ENV, key["SecretAccessKey"])
    return f"arn:aws:iam::{ACCOUNT}:user/pitr-operator"


def check(endpoint, automation="notebook"):
    return preflight.check_permissions(AwsTarget(region=REGION, endpoint_url=endpoint), source_table="orders",
                                       target_table="orders-restored", automation=automation)


@pytest.mark.parametrize("automation", ["notebook", "event"])
def test_the_operator_policy_allows_everything_a_run_needs(aws, endpoint, monkeypatch, automation):
    operator(aws, monkeypatch)
    row = check(endpoint, automation)
    assert row.status == PASS, row


def test_a_missing_statement_is_a_fail_naming_the_action_the_resource_and_the_statement(aws, endpoint, monkeypatch):
    operator(aws, monkeypatch, without=["RestoreSourceTable"])
    row = check(endpoint)
    assert row.status == FAIL
    assert "dynamodb:RestoreTableToPointInTime" in row.finding
    assert f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders " in row.finding
    # the statement of infra/operator-policy.json that grants it, and only the missing action
    assert "statement RestoreSourceTable" in row.finding and row.finding.startswith("1 of the ")
    assert "implicitDeny" in row.finding and "operator-policy.json" in row.remedy


def test_a_caller_that_may_not_simulate_gets_a_warn_saying_why(aws, endpoint, monkeypatch):
    operator(aws, monkeypatch, without=["CheckOwnPermissions"])
    row = check(endpoint)
    assert row.status == WARN and "iam:SimulatePrincipalPolicy" in row.finding and row.code == "AccessDenied"
    assert "not checked" in row.finding and "CheckOwnPermissions" in row.remedy


def test_the_sandbox_s_root_keys_are_not_simulated(endpoint, monkeypatch):
    monkeypatch.delenv(config.SANDBOX_ACCESS_KEY_ENV, raising=False)
    row = check(endpoint)
    assert row.status == WARN and "not checked" in row.finding


def test_an_assumed_role_is_simulated_as_its_role():
    assert preflight.simulation_source("arn:aws:sts::123456789012:assumed-role/oncall/alice") == \
        "arn:aws:iam::123456789012:role/oncall"
    assert preflight.simulation_source("arn:aws-cn:iam::123456789012:user/ops/bob") == \
        "arn:aws-cn:iam::123456789012:user/ops/bob"
    assert preflight.simulation_source("arn:aws:iam::123456789012:root") is None


def test_preflight_counts_restores_without_failing_on_tables_it_may_not_describe(aws, endpoint, monkeypatch):
    ddb = aws("dynamodb")
    for name in ("orders", "payroll"):
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    operator(aws, monkeypatch)
    row = preflight.check_concurrent_restores(AwsTarget(region=REGION, endpoint_url=endpoint))
    assert row.status == PASS and "1 table(s) the caller may not describe" in row.finding

"""Organization trails seen from a member account: the sandbox as AWS, and the runbook's CloudTrail check.

AWS documents followed (the sandbox extension ``runbook_lib/sandbox/cloudtrail_org.py`` quotes them):
- ``DescribeTrails``: organization trails appear in member accounts as shadow trails, only with
  ``includeShadowTrails`` (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_DescribeTrails.html);
- ``GetTrailStatus``: a member account must give the organization trail's full ARN, not its name
  (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_GetTrailStatus.html);
- ``CreateTrail`` ``IsOrganizationTrail``: the management account only, all features, trusted access
  for CloudTrail ("Prepare for creating a trail for your organization",
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-an-organizational-trail-prepare.html);
- an organization trail logs the member accounts' events, which reach their EventBridge
  ("Creating a trail for an organization",
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-trail-organization.html).
The IAM side: the trail ARN names the management account, so the operator policy's CheckCloudTrail
statement must name that account's trails too (``pitr-runbook policy --trail-account``).
"""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from runbook_lib import permissions
from runbook_lib.aws.clients import SANDBOX_ACCESS_KEY_ENV, SANDBOX_SECRET_KEY_ENV, SANDBOX_SESSION_TOKEN_ENV, AwsTarget
from runbook_lib.preflight.cloudtrail import check_cloudtrail
from runbook_lib.preflight.result import FAIL, PASS
from runbook_lib.sandbox.traffic import create_demo_table

REGION = "us-east-1"
MANAGEMENT = "111111111111"


def _assumed(endpoint: str, account: str, role: str) -> dict:
    """Credentials in ``account`` (a role that does not exist: the sandbox leaves them unrestricted,
    like an administrator's)."""
    sts = boto3.client("sts", endpoint_url=endpoint, region_name=REGION)
    return sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="test-session")["Credentials"]


def _clients(endpoint: str, creds: dict):
    def make(service: str):
        return boto3.client(
            service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"],
        )

    return make


@pytest.fixture
def org(endpoint):
    """An organization (all features) whose management account may create organization trails, and a
    member account; returns (management clients, member clients, member account id)."""
    mgmt = _clients(endpoint, _assumed(endpoint, MANAGEMENT, "OrgAdmin"))
    mgmt("organizations").create_organization(FeatureSet="ALL")
    member_id = mgmt("organizations").create_account(Email="member@example.com", AccountName="member")[
        "CreateAccountStatus"]["AccountId"]
    member = _clients(endpoint, _assumed(endpoint, member_id, "MemberAdmin"))
    mgmt("s3").create_bucket(Bucket="org-trail-logs")
    return mgmt, member, member_id


def _org_trail(mgmt, *, logging_on: bool = True) -> str:
    mgmt("organizations").enable_aws_service_access(ServicePrincipal="cloudtrail.amazonaws.com")
    arn = mgmt("cloudtrail").create_trail(
        Name="org-trail", S3BucketName="org-trail-logs", IsMultiRegionTrail=True, IsOrganizationTrail=True
    )["TrailARN"]
    if logging_on:
        mgmt("cloudtrail").start_logging(Name="org-trail")
    return arn


def _code(err: pytest.ExceptionInfo) -> str:
    return err.value.response["Error"]["Code"]


def test_a_member_account_sees_the_organization_trail_as_a_shadow_trail_and_reads_it_by_its_arn(org):
    mgmt, member, _ = org
    arn = _org_trail(mgmt)
    assert f":{MANAGEMENT}:trail/org-trail" in arn
    ct = member("cloudtrail")
    # shown with shadow trails (the default), under the management account's ARN
    trails = ct.describe_trails(includeShadowTrails=True)["trailList"]
    assert [(t["TrailARN"], t["IsOrganizationTrail"]) for t in trails] == [(arn, True)]
    assert ct.describe_trails(includeShadowTrails=False)["trailList"] == []
    # read by its ARN; by its name alone it is not found
    assert ct.get_trail_status(Name=arn)["IsLogging"] is True
    assert ct.get_event_selectors(TrailName=arn)["TrailARN"] == arn
    with pytest.raises(ClientError) as err:
        ct.get_trail_status(Name="org-trail")
    assert _code(err) == "TrailNotFoundException"
    # and the member cannot stop it
    with pytest.raises(ClientError):
        ct.stop_logging(Name=arn)
    assert mgmt("cloudtrail").get_trail_status(Name="org-trail")["IsLogging"] is True


def test_only_the_management_account_with_trusted_access_creates_an_organization_trail(org, aws):
    mgmt, member, _ = org
    aws("s3").create_bucket(Bucket="standalone-logs")
    kwargs = dict(S3BucketName="org-trail-logs", IsMultiRegionTrail=True, IsOrganizationTrail=True)
    with pytest.raises(ClientError) as err:
        aws("cloudtrail").create_trail(Name="t-alone", **{**kwargs, "S3BucketName": "standalone-logs"})
    assert _code(err) == "OrganizationsNotInUseException"  # an account outside any organization
    with pytest.raises(ClientError) as err:
        member("cloudtrail").create_trail(Name="t-member", **kwargs)
    assert _code(err) == "NotOrganizationMasterAccountException"
    with pytest.raises(ClientError) as err:
        mgmt("cloudtrail").create_trail(Name="t-early", **kwargs)
    assert _code(err) == "CloudTrailAccessNotEnabledException"
    assert mgmt("cloudtrail").describe_trails()["trailList"] == []
    mgmt("organizations").enable_aws_service_access(ServicePrincipal="cloudtrail.amazonaws.com")
    assert mgmt("cloudtrail").create_trail(Name="t-ok", **kwargs)["IsOrganizationTrail"] is True


def test_a_restore_in_a_member_account_raises_its_event_when_only_the_organization_trail_logs(org):
    mgmt, member, _ = org
    _org_trail(mgmt)
    url = member("sqs").create_queue(QueueName="seen-events")["QueueUrl"]
    queue_arn = member("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["aws.dynamodb"], "detail": {"eventName": ["RestoreTableToPointInTime"]}}
    member("events").put_rule(Name="restores", EventPattern=json.dumps(pattern))
    member("events").put_targets(Rule="restores", Targets=[{"Id": "q", "Arn": queue_arn}])
    ddb = member("dynamodb")
    create_demo_table(ddb, "orders")
    ddb.put_item(TableName="orders", Item={"pk": {"S": "a"}})
    time.sleep(0.02)
    ddb.restore_table_to_point_in_time(SourceTableName="orders", TargetTableName="orders-restored",
                                       UseLatestRestorableTime=True)
    messages = member("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 1
    assert json.loads(messages[0]["Body"])["detail"]["eventName"] == "RestoreTableToPointInTime"


def _operator(member, member_id: str, endpoint: str, *, trail_account: str | None) -> dict:
    """An IAM user in the member account holding the operator policy's two CloudTrail statements."""
    policy = permissions.render_policy(
        partition="aws", region=REGION, account=member_id, source_table_pattern="orders",
        target_table_pattern="orders-restored-*", trail_account=trail_account,
    )
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") in ("CheckCloudTrail", "ListTrails")]
    iam = member("iam")
    iam.create_user(UserName="pitr-operator")
    iam.put_user_policy(UserName="pitr-operator", PolicyName="trails", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="pitr-operator")["AccessKey"]
    return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"], "SessionToken": ""}


@pytest.mark.parametrize("trail_account", [None, MANAGEMENT])
def test_the_preflight_in_a_member_account_reads_the_organization_trail_when_the_policy_names_its_account(
    org, endpoint, monkeypatch, trail_account
):
    mgmt, member, member_id = org
    _org_trail(mgmt)
    creds = _operator(member, member_id, endpoint, trail_account=trail_account)
    monkeypatch.setenv(SANDBOX_ACCESS_KEY_ENV, creds["AccessKeyId"])
    monkeypatch.setenv(SANDBOX_SECRET_KEY_ENV, creds["SecretAccessKey"])
    monkeypatch.delenv(SANDBOX_SESSION_TOKEN_ENV, raising=False)
    row = check_cloudtrail(AwsTarget(region=REGION, endpoint_url=endpoint), automation="event")
    if trail_account is None:
        # the policy names the member's own trails only: the organization trail cannot be read, and
        # the check says how to let the operator read it
        assert row.status == FAIL
        assert f"organization trail of account {MANAGEMENT}" in row.finding
        assert "AccessDeniedException" in row.finding
        assert f"--trail-account {MANAGEMENT}" in row.remedy
    else:
        assert row.status == PASS, row.finding
        assert "org-trail" in row.finding


def test_the_policy_names_the_trail_account_once_and_refuses_a_malformed_one():
    base = dict(partition="aws", region=REGION, account="222222222222", source_table_pattern="orders",
                target_table_pattern="orders-restored-*")

    def trail_resources(policy):
        return next(s for s in policy["Statement"] if s["Sid"] == "CheckCloudTrail")["Resource"]

    assert trail_resources(permissions.render_policy(**base)) == "arn:aws:cloudtrail:*:222222222222:trail/*"
    assert trail_resources(permissions.render_policy(**base, trail_account=MANAGEMENT)) == [
        "arn:aws:cloudtrail:*:222222222222:trail/*", f"arn:aws:cloudtrail:*:{MANAGEMENT}:trail/*"]
    from runbook_lib.errors import InputError

    with pytest.raises(InputError, match="trail_account"):
        permissions.render_policy(**base, trail_account="o-abc")

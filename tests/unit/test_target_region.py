"""The target's region: checked against the source's before any call; the restore request and the
operator policy it leads to. Documents: "Point-in-time recovery: How it works" and "Restoring a
DynamoDB table to a point in time", Amazon DynamoDB Developer Guide
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery_Howitworks.html,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery.Tutorial.html)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from runbook_lib import permissions
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.aws.regions import check_target_region, destination
from runbook_lib.errors import InputError
from runbook_lib.restore import RestorePlan, cross_region_request, sse_override_for

T = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)


def test_same_or_no_target_region_is_no_crossing_and_another_of_the_partition_is():
    assert check_target_region("us-east-1", None) is None
    assert check_target_region("us-east-1", "us-east-1") is None
    assert check_target_region("us-east-1", "eu-west-1") == "eu-west-1"
    assert check_target_region("cn-north-1", "cn-northwest-1") == "cn-northwest-1"


@pytest.mark.parametrize("source, target, said", [
    ("us-east-1", "cn-north-1", "partition"),
    ("us-east-1", "us-gov-west-1", "partition"),
    ("us-east-1", "ap-east-1", "ap-east-1"),
    ("me-south-1", "eu-west-1", "me-south-1"),
])
def test_a_target_region_dynamodb_cannot_restore_into_is_refused(source, target, said):
    with pytest.raises(InputError) as info:
        check_target_region(source, target)
    assert said in str(info.value)


def test_event_automation_cannot_follow_a_restore_into_another_region():
    with pytest.raises(InputError) as info:
        check_target_region("us-east-1", "eu-west-1", automation="event")
    assert "automation 'notebook'" in str(info.value)
    assert check_target_region("us-east-1", "us-east-1", automation="event") is None


def test_destination_is_the_same_endpoint_in_the_target_region():
    source = AwsTarget(region="us-east-1", endpoint_url="http://127.0.0.1:4566")
    there = destination(source, "eu-west-1")
    assert (there.region_name, there.endpoint_url) == ("eu-west-1", "http://127.0.0.1:4566")
    assert destination(source, None) is source


def _plan(**kw) -> RestorePlan:
    return RestorePlan(source_table="orders", target_table="orders-r", mode="catchup", restore_time=T, replay_from=T,
                       earliest_restorable=T, latest_restorable=T, capture_start=None, planned_at=T, **kw)


def test_a_cross_region_restore_names_its_source_by_arn_and_always_sends_an_sse_override():
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
    request = cross_region_request(_plan(target_region="eu-west-1", source_arn=arn, sse_override={"Enabled": False}))
    assert request == {"SourceTableArn": arn, "SSESpecificationOverride": {"Enabled": False}}
    assert cross_region_request(_plan(source_arn=arn)) == {"SourceTableName": "orders"}
    with pytest.raises(InputError):
        cross_region_request(_plan(target_region="eu-west-1", source_arn=arn))


def test_sse_override_follows_the_source_across_regions_and_refuses_a_key_of_another_region():
    owned, kms = {}, {"SSEDescription": {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": "arn:aws:kms:us-east-1:1:key/a"}}
    assert sse_override_for(owned, "eu-west-1", None, cross_region=True) == ({"Enabled": False}, [])
    spec, notes = sse_override_for(kms, "eu-west-1", None, cross_region=True)
    assert spec == {"Enabled": True, "SSEType": "KMS"} and "AWS managed key" in notes[0]
    assert sse_override_for(kms, "us-east-1", None, cross_region=False) == (None, [])
    key = "arn:aws:kms:eu-west-1:123456789012:key/b"
    assert sse_override_for(kms, "eu-west-1", key, cross_region=True)[0]["KMSMasterKeyId"] == key
    with pytest.raises(InputError) as info:
        sse_override_for(kms, "eu-west-1", key.replace("eu-west-1", "us-east-1"), cross_region=True)
    assert info.value.code == "ValidationException"


def test_operator_policy_grants_the_restored_table_in_the_target_region_and_the_source_in_its_own():
    policy = permissions.render_policy(partition="aws", region="us-east-1", account="123456789012",
                                       source_table_pattern="orders", target_table_pattern="orders-r*",
                                       target_region="eu-west-1")
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["WriteRestoredTable"]["Resource"] == "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-r*"
    assert all(":eu-west-1:" in r for r in by_sid["ReadAndConfigureRestoredTable"]["Resource"])
    assert by_sid["RestoreSourceTable"]["Resource"] == "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
    # cutover looks for the application's first write on the restored table's stream, where it lives
    assert by_sid["ReadRestoredTableStream"]["Resource"] == "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-r*/stream/*"
    assert by_sid["ReadSourceStream"]["Resource"] == "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/*"
    same = permissions.render_policy(partition="aws", region="us-east-1", account="123456789012",
                                     source_table_pattern="orders", target_table_pattern="orders-r*")
    assert {s["Sid"]: s for s in same["Statement"]}["WriteRestoredTable"]["Resource"].split(":")[3] == "us-east-1"


def test_settings_reapplied_in_the_target_region_are_granted_there():
    """Step 05 copies alarms and auto scaling onto the restored table in its region: alarms are read in
    the source's region and written in the target's; scalable targets are registered in the target's."""
    policy = permissions.render_policy(partition="aws", region="us-east-1", account="123456789012",
                                       source_table_pattern="orders", target_table_pattern="orders-r*",
                                       target_region="eu-west-1")
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["CopyAlarms"]["Resource"] == ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:*",
                                                "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:*"]
    assert by_sid["CopyAutoScaling"]["Resource"].split(":")[3] == "eu-west-1"
    same = permissions.render_policy(partition="aws", region="us-east-1", account="123456789012",
                                     source_table_pattern="orders", target_table_pattern="orders-r*")
    assert {s["Sid"]: s for s in same["Statement"]}["CopyAlarms"]["Resource"] == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"

"""The sandbox restores into another region of the partition from the source region's PITR journal,
and refuses what AWS refuses, over HTTP with plain boto3.

AWS documents followed (each test names the one it states):
- "Restoring a DynamoDB table to a point in time", Amazon DynamoDB Developer Guide (AWS CLI section),
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery.Tutorial.html:
  "The sse-specification-override parameter is mandatory for cross-Region restores but optional for
  restores to the same Region as the source table. The source-table-arn parameter must be provided
  for cross-Region restores"; the call is made in the destination region.
- "Point-in-time recovery: How it works", Amazon DynamoDB Developer Guide,
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery_Howitworks.html:
  cross-Region restores within the commercial, China and GovCloud (US) regions; not to or from
  Asia Pacific (Hong Kong) or Middle East (Bahrain).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from runbook_lib.sandbox import SETTINGS
from runbook_lib.sandbox.traffic import create_demo_table

SOURCE_REGION, TARGET_REGION = "us-east-1", "eu-west-1"
SSE = {"Enabled": True, "SSEType": "KMS"}


@pytest.fixture
def regions(endpoint):
    def make(region: str, service: str = "dynamodb"):
        return boto3.client(service, endpoint_url=endpoint, region_name=region)

    return make


def _source(ddb, name: str = "orders") -> str:
    create_demo_table(ddb, name)
    return ddb.describe_table(TableName=name)["Table"]["TableArn"]


def _code(info) -> str:
    return info.value.response["Error"]["Code"]


def _wait_active(ddb, table: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = ddb.describe_table(TableName=table)["Table"]
        if desc["TableStatus"] == "ACTIVE":
            return desc
        time.sleep(0.05)
    raise AssertionError(f"{table} never became ACTIVE")


def test_restore_in_another_region_reads_the_source_regions_journal_as_of_the_restore_time(regions):
    """PointInTimeRecovery.Tutorial: a cross-Region restore is called in the destination region with
    SourceTableArn and SSESpecificationOverride; the table is created there, the source stays."""
    SETTINGS.restore_seconds = 0.2
    # GIVEN a source in us-east-1 with PITR, items changed before and after T
    src, dst = regions(SOURCE_REGION), regions(TARGET_REGION)
    arn = _source(src)
    src.put_item(TableName="orders", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    src.put_item(TableName="orders", Item={"pk": {"S": "b"}, "v": {"N": "1"}})
    time.sleep(0.05)
    t = datetime.now(timezone.utc)
    time.sleep(0.05)
    src.put_item(TableName="orders", Item={"pk": {"S": "a"}, "v": {"N": "2"}})
    src.delete_item(TableName="orders", Key={"pk": {"S": "b"}})
    src.put_item(TableName="orders", Item={"pk": {"S": "c"}, "v": {"N": "1"}})
    # WHEN the restore is called in eu-west-1 with the source's ARN
    desc = dst.restore_table_to_point_in_time(SourceTableArn=arn, TargetTableName="orders-eu", RestoreDateTime=t,
                                              SSESpecificationOverride=SSE)["TableDescription"]
    # THEN the target is eu-west-1's, restoring the us-east-1 table, and holds the state at T
    assert desc["TableArn"].split(":")[3] == TARGET_REGION and desc["TableStatus"] == "CREATING"
    assert desc["RestoreSummary"]["SourceTableArn"] == arn
    _wait_active(dst, "orders-eu")
    items = {i["pk"]["S"]: i["v"]["N"] for i in dst.scan(TableName="orders-eu")["Items"]}
    assert items == {"a": "1", "b": "1"}
    assert "orders-eu" not in src.list_tables()["TableNames"]  # regional: nothing in the source region
    assert dst.describe_table(TableName="orders-eu")["Table"]["SSEDescription"]["SSEType"] == "KMS"
    # "The source-table-arn parameter must be provided for cross-Region restores": a name is looked up
    # in the region the call is made in
    with pytest.raises(ClientError) as info:
        dst.restore_table_to_point_in_time(SourceTableName="orders", TargetTableName="orders-eu2",
                                           UseLatestRestorableTime=True, SSESpecificationOverride=SSE)
    assert _code(info) == "TableNotFoundException"


def test_cross_region_restore_without_sse_override_is_refused(regions):
    """PointInTimeRecovery.Tutorial: "The sse-specification-override parameter is mandatory for
    cross-Region restores but optional for restores to the same Region"."""
    src, dst = regions(SOURCE_REGION), regions(TARGET_REGION)
    arn = _source(src)
    with pytest.raises(ClientError) as info:
        dst.restore_table_to_point_in_time(SourceTableArn=arn, TargetTableName="orders-eu", UseLatestRestorableTime=True)
    assert _code(info) == "ValidationException" and "SSESpecificationOverride" in str(info.value)
    assert "orders-eu" not in dst.list_tables()["TableNames"]
    # the same request in the source's own region needs no override
    src.restore_table_to_point_in_time(SourceTableArn=arn, TargetTableName="orders-same", UseLatestRestorableTime=True)
    # and an AWS owned key ({"Enabled": false}) is an override: present is what is required
    dst.restore_table_to_point_in_time(SourceTableArn=arn, TargetTableName="orders-eu", UseLatestRestorableTime=True,
                                       SSESpecificationOverride={"Enabled": False})


def test_source_arn_of_another_partition_or_account_is_refused(regions):
    """PointInTimeRecovery_Howitworks: cross-Region restores within the commercial, China and GovCloud
    (US) regions; a point-in-time restore restores a table of the caller's account (the module
    docstring says where AWS documents no code and the sandbox answers ValidationException)."""
    src, dst = regions(SOURCE_REGION), regions(TARGET_REGION)
    arn = _source(src)
    cn = arn.replace("arn:aws:", "arn:aws-cn:").replace(SOURCE_REGION, "cn-north-1")
    other_account = arn.replace(":123456789012:", ":210987654321:")
    for bad in (cn, other_account, "arn:aws:s3:::orders"):
        with pytest.raises(ClientError) as info:
            dst.restore_table_to_point_in_time(SourceTableArn=bad, TargetTableName="orders-eu",
                                               UseLatestRestorableTime=True, SSESpecificationOverride=SSE)
        assert _code(info) == "ValidationException", bad
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "orders-eu" not in dst.list_tables()["TableNames"]


def test_hong_kong_and_bahrain_take_no_cross_region_restore(regions):
    """PointInTimeRecovery_Howitworks: "Cross-Region restore is not supported if the source or
    destination Region is Asia Pacific (Hong Kong) or Middle East (Bahrain)"."""
    src = regions(SOURCE_REGION)
    arn = _source(src)
    with pytest.raises(ClientError) as info:
        regions("ap-east-1").restore_table_to_point_in_time(
            SourceTableArn=arn, TargetTableName="orders-hk", UseLatestRestorableTime=True, SSESpecificationOverride=SSE)
    assert _code(info) == "ValidationException"


def test_a_kms_key_of_another_region_is_refused(regions):
    """KMS keys are regional ("Multi-Region keys in AWS KMS", AWS KMS Developer Guide,
    https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html): the
    destination's table cannot be encrypted with a key ARN of the source's region."""
    src, dst = regions(SOURCE_REGION), regions(TARGET_REGION)
    arn = _source(src)
    key = f"arn:aws:kms:{SOURCE_REGION}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    with pytest.raises(ClientError) as info:
        dst.restore_table_to_point_in_time(SourceTableArn=arn, TargetTableName="orders-eu", UseLatestRestorableTime=True,
                                           SSESpecificationOverride={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key})
    assert _code(info) == "ValidationException" and "KMSMasterKeyId" in str(info.value)
    dst.restore_table_to_point_in_time(
        SourceTableArn=arn, TargetTableName="orders-eu", UseLatestRestorableTime=True,
        SSESpecificationOverride={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key.replace(SOURCE_REGION, TARGET_REGION)})


def test_target_name_is_checked_in_the_destination_region_only(regions):
    """Tables are regional (RestoreTableToPointInTime, Amazon DynamoDB API Reference,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_RestoreTableToPointInTime.html:
    TableAlreadyExistsException "A target table with the specified name already exists"): a name
    taken in the destination is refused; the same name in the source region is no obstacle."""
    src, dst = regions(SOURCE_REGION), regions(TARGET_REGION)
    arn = _source(src)
    create_demo_table(dst, "taken", pitr=False, stream=None)
    with pytest.raises(ClientError) as info:
        dst.restore_table_to_point_in_time(SourceTableArn=arn, TargetTableName="taken", UseLatestRestorableTime=True,
                                           SSESpecificationOverride=SSE)
    assert _code(info) == "TableAlreadyExistsException"
    # "orders" exists in us-east-1 only: as a target in eu-west-1 it is free
    desc = dst.restore_table_to_point_in_time(SourceTableArn=arn, TargetTableName="orders", UseLatestRestorableTime=True,
                                              SSESpecificationOverride=SSE)["TableDescription"]
    assert desc["TableArn"] != arn
    with pytest.raises(ClientError) as info:  # still CREATING in eu-west-1
        dst.restore_table_to_point_in_time(SourceTableArn=arn, TargetTableName="orders", UseLatestRestorableTime=True,
                                           SSESpecificationOverride=SSE)
    assert _code(info) == "TableInUseException"

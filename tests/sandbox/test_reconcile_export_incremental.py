"""Explained keys beyond the stream: when the source's stream does not cover [T, R) (no stream, or one
enabled after T, as past its 24 hours), the keys' last changes come from incremental exports of the
source, read on the sandbox with plain boto3 behind the runbook's code.

AWS documents followed: "Requesting a table export in DynamoDB" (incremental exports, a period of 15
minutes to 24 hours inside the PITR window,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport_Requesting.html) and
"DynamoDB table export output format" (incremental output: one line per changed item with
Metadata.WriteTimestampMicros, Keys, NewImage; data files in the shared AWSDynamoDB/data/ folder,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html). The
sandbox's ``incremental_export_min_seconds`` setting lowers the 15 minutes so the test stays short.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from runbook_lib.aws.clients import AwsTarget
from runbook_lib.reconcile import EXPLAINED, UNEXPLAINED, reconcile
from runbook_lib.reconcile.exports.incremental import IncrementalExports
from runbook_lib.sandbox import SETTINGS

REGION = "us-east-1"
SRC, TGT = "orders", "orders-restored"
BUCKET = "pitr-runbook-123456789012-us-east-1"


def _table(ddb, name, *, pitr):
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    if pitr:
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})


def _moment() -> datetime:
    time.sleep(1.1)
    at = datetime.now(timezone.utc)
    time.sleep(1.1)
    return at


@pytest.fixture
def window(aws):
    """A source with PITR, changed in [T, R) and after R; a target holding the items as of T."""
    SETTINGS.export_seconds = 0.2
    SETTINGS.incremental_export_min_seconds = 1.0
    ddb = aws("dynamodb")
    _table(ddb, SRC, pitr=True)
    _table(ddb, TGT, pitr=False)
    items = [{"pk": {"S": f"k{i}"}, "v": {"N": str(i)}} for i in range(6)]
    for item in items:
        ddb.put_item(TableName=SRC, Item=item)
        ddb.put_item(TableName=TGT, Item=item)
    t = _moment()
    ddb.put_item(TableName=SRC, Item={"pk": {"S": "k1"}, "v": {"N": "100"}})  # in [T, R): explained
    ddb.delete_item(TableName=SRC, Key={"pk": {"S": "k2"}})                   # in [T, R): explained
    r = _moment()
    ddb.put_item(TableName=SRC, Item={"pk": {"S": "k3"}, "v": {"N": "300"}})  # after R: unexplained
    time.sleep(1.1)  # LatestRestorableDateTime (the sandbox: now) past R
    return ddb, t, r


def _classes(result):
    return {d.key["pk"]["S"]: (d.kind, d.classification) for d in result.differences}


def test_without_a_stream_incremental_exports_of_the_source_explain_the_keys_changed_in_t_r(window, aws, endpoint):
    ddb, t, r = window
    aws("s3").create_bucket(Bucket=BUCKET)
    target = AwsTarget(REGION, endpoint)
    # WHEN reconciled with T and R, the source having no stream
    result = reconcile(target, SRC, TGT, restore_time=t, replay_from=r,
                       incremental=IncrementalExports(min_period=timedelta(seconds=1), progress=False))
    # THEN the keys changed in [T, R) are explained, the later one is not, and nothing is said missing
    assert _classes(result) == {"k1": ("changed", EXPLAINED), "k2": ("extra", EXPLAINED), "k3": ("changed", UNEXPLAINED)}
    assert result.coverage_warning is None
    assert {d.key["pk"]["S"]: d.last_change for d in result.differences}["k1"] >= t.replace(microsecond=0)
    # AND the report says where those times came from: one incremental export of the source from T on
    source = result.summary()["explained_from"]
    assert source["source"] == "incremental_export" and "stream" not in source
    (arn,) = source["incremental_exports"]
    desc = ddb.describe_export(ExportArn=arn)["ExportDescription"]
    assert desc["ExportType"] == "INCREMENTAL_EXPORT" and desc["TableArn"].endswith(f":table/{SRC}")
    spec = desc["IncrementalExportSpecification"]
    assert spec["ExportFromTime"] == t.replace(microsecond=0) and spec["ExportToTime"] >= r
    assert desc["S3Prefix"] == f"pitr-runbook/exports/{SRC}/incremental" and desc["ItemCount"] == 3


def test_without_incremental_exports_the_keys_stay_unexplained_and_the_warning_names_the_remedy(window, endpoint):
    _ddb, t, r = window
    result = reconcile(AwsTarget(REGION, endpoint), SRC, TGT, restore_time=t, replay_from=r)
    assert {c for _k, c in _classes(result).values()} == {UNEXPLAINED}
    assert "no stream" in result.coverage_warning and "--method export" in result.coverage_warning
    assert "explained_from" not in result.summary()


def test_a_stream_enabled_after_t_is_merged_with_the_incremental_exports(window, aws, endpoint):
    ddb, t, r = window
    aws("s3").create_bucket(Bucket=BUCKET)
    # GIVEN a stream enabled after T (it holds none of the changes in [T, R)), and one more change on k4
    ddb.update_table(TableName=SRC, StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    ddb.put_item(TableName=SRC, Item={"pk": {"S": "k4"}, "v": {"N": "400"}})
    time.sleep(1.1)
    result = reconcile(AwsTarget(REGION, endpoint), SRC, TGT, restore_time=t, replay_from=r,
                       incremental=IncrementalExports(min_period=timedelta(seconds=1), progress=False))
    assert _classes(result) == {"k1": ("changed", EXPLAINED), "k2": ("extra", EXPLAINED),
                                "k3": ("changed", UNEXPLAINED), "k4": ("changed", UNEXPLAINED)}
    assert result.coverage_warning is None and result.summary()["explained_from"]["stream"] is True


def test_a_source_without_pitr_keeps_the_warning_and_says_why_exports_cannot_stand_in(aws, endpoint):
    ddb = aws("dynamodb")
    _table(ddb, SRC, pitr=False)
    _table(ddb, TGT, pitr=False)
    ddb.put_item(TableName=SRC, Item={"pk": {"S": "a"}})
    t = datetime.now(timezone.utc) - timedelta(minutes=5)
    result = reconcile(AwsTarget(REGION, endpoint), SRC, TGT, restore_time=t, replay_from=t + timedelta(minutes=1),
                       incremental=IncrementalExports(bucket=BUCKET, progress=False))
    assert _classes(result) == {"a": ("missing", UNEXPLAINED)}
    assert "incremental exports could not stand in" in result.coverage_warning and "PITR is DISABLED" in result.coverage_warning
    assert aws("s3").list_buckets()["Buckets"] == []  # nothing made in AWS for an export that cannot run

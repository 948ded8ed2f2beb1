"""The operator's export path on the sandbox: PITR turned on for the target, the runbook's bucket made
private and encrypted, both tables exported as of one moment, both followed to COMPLETED.

AWS documents followed: "ExportTableToPointInTime" (Amazon DynamoDB API Reference,
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportTableToPointInTime.html),
"Requesting a table export in DynamoDB" (Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport_Requesting.html), and
"Blocking public access to your Amazon S3 storage" (Amazon S3 User Guide). The sandbox's exports
are checked here only up to DescribeExport (their file layout is the sandbox's own work).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from runbook_lib.aws.clients import AwsTarget
from runbook_lib.errors import InputError, PreconditionError
from runbook_lib.reconcile.exports import start
from runbook_lib.times import utcnow

REGION = "us-east-1"
SRC, TGT = "orders", "orders-restored"


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(REGION, endpoint)


def make_table(ddb, name, *, pitr):
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}})
    if pitr:
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})


def test_export_both_turns_pitr_on_for_the_target_makes_a_private_bucket_and_exports_both_at_one_moment(aws, target):
    # GIVEN a source with PITR and a restored target without it, and no bucket yet
    ddb, s3 = aws("dynamodb"), aws("s3")
    make_table(ddb, SRC, pitr=True)
    make_table(ddb, TGT, pitr=False)
    # WHEN both are exported (the requests seen as botocore sends them)
    sent = []

    def capture(params, **_):
        sent.append(dict(params))

    client = target.client("dynamodb")
    client.meta.events.register("before-parameter-build.dynamodb.ExportTableToPointInTime", capture)
    try:
        started = start.export_both(target, SRC, TGT, timeout=60)
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb.ExportTableToPointInTime", capture)
    # THEN both requests name one ExportTime, full DynamoDB JSON exports into this account's bucket
    assert [p["TableArn"].rsplit("/", 1)[1] for p in sent] == [SRC, TGT]
    assert {p["ExportTime"] for p in sent} == {started.export_time}
    assert all((p["ExportFormat"], p["ExportType"], p["S3BucketOwner"]) == ("DYNAMODB_JSON", "FULL_EXPORT", "123456789012")
               for p in sent)
    assert sent[0]["ClientToken"] != sent[1]["ClientToken"]
    # AND the target has PITR, the bucket is the runbook's, private and encrypted
    assert started.pitr_turned_on
    status = ddb.describe_continuous_backups(TableName=TGT)["ContinuousBackupsDescription"]
    assert status["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert started.bucket == "pitr-runbook-123456789012-us-east-1"
    block = s3.get_public_access_block(Bucket=started.bucket)["PublicAccessBlockConfiguration"]
    assert all(block[k] for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"))
    rule = s3.get_bucket_encryption(Bucket=started.bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # AND both exports are COMPLETED, of the two tables, into that bucket under the runbook's prefix
    for arn, table in ((started.source_arn, SRC), (started.target_arn, TGT)):
        desc = ddb.describe_export(ExportArn=arn)["ExportDescription"]
        assert desc["ExportStatus"] == "COMPLETED" and desc["TableArn"].endswith(f":table/{table}")
        assert (desc["S3Bucket"], desc["S3Prefix"]) == (started.bucket, f"pitr-runbook/exports/{table}")
    assert started.export_time.microsecond == 0


def test_export_both_uses_a_given_bucket_and_leaves_pitr_as_it_was(aws, target):
    ddb, s3 = aws("dynamodb"), aws("s3")
    make_table(ddb, SRC, pitr=True)
    make_table(ddb, TGT, pitr=True)
    s3.create_bucket(Bucket="my-exports")
    started = start.export_both(target, SRC, TGT, bucket="my-exports", timeout=60)
    assert started.bucket == "my-exports" and not started.pitr_turned_on
    assert ddb.describe_export(ExportArn=started.source_arn)["ExportDescription"]["S3Bucket"] == "my-exports"


def test_a_source_without_pitr_is_refused_with_the_remedy_before_any_export(aws, target):
    ddb = aws("dynamodb")
    make_table(ddb, SRC, pitr=False)
    make_table(ddb, TGT, pitr=True)
    with pytest.raises(PreconditionError, match="PITR is DISABLED for orders.*UpdateContinuousBackups") as err:
        start.export_both(target, SRC, TGT, timeout=60)
    assert err.value.code == "PointInTimeRecoveryUnavailableException"
    for table in (SRC, TGT):
        arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
        assert ddb.list_exports(TableArn=arn)["ExportSummaries"] == []


def test_an_export_time_before_the_target_s_window_is_an_input_error(aws, target):
    ddb = aws("dynamodb")
    make_table(ddb, SRC, pitr=True)
    make_table(ddb, TGT, pitr=False)
    with pytest.raises(InputError, match="EarliestRestorableDateTime"):
        start.export_both(target, SRC, TGT, export_time=utcnow() - timedelta(hours=1), timeout=60)


def test_method_auto_exports_above_the_threshold_only():
    assert start.choose_method("auto", (10, 10)) == "scan"
    assert start.choose_method("auto", (start.SCAN_THRESHOLD_ITEMS, 1)) == "export"
    assert start.choose_method("scan", (10**12, 0)) == "scan"
    with pytest.raises(InputError):
        start.choose_method("athena", (0, 0))

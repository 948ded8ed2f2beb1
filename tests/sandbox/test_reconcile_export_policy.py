"""The export path's statements of infra/operator-policy.json, enforced by the sandbox's IAM: exports
of the two tables only, export files of the runbook's bucket under pitr-runbook/exports/ only.

IAM resources as the Service Authorization Reference names them ("Actions, resources, and condition
keys for Amazon DynamoDB": ExportTableToPointInTime on the table; "... for Amazon S3": GetObject on
the object), and the S3 actions an export needs from its caller ("Requesting a table export in
DynamoDB", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport_Requesting.html).
"""

from __future__ import annotations

import json

import boto3
from botocore.exceptions import ClientError

from runbook_lib import permissions

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = f"pitr-runbook-{ACCOUNT}-{REGION}"
SIDS = ("ExportTablesForReconcile", "FollowExportsForReconcile", "ExportFiles")


def _code(call) -> str | None:
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"]
    return None


def test_the_operator_may_export_only_the_two_tables_and_read_only_the_runbook_s_export_files(aws, endpoint):
    # GIVEN three tables with PITR, the runbook's bucket with a file under exports/ and one elsewhere
    ddb, s3 = aws("dynamodb"), aws("s3")
    arns = {}
    for name in ("orders", "orders-restored", "payments"):
        arns[name] = ddb.create_table(
            TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])["TableDescription"]["TableArn"]
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    s3.create_bucket(Bucket=BUCKET)
    for key in ("pitr-runbook/exports/orders/AWSDynamoDB/x/manifest-summary.json", "pitr-runbook/pitr-a/code.zip"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
    # AND an operator holding the export statements of the policy rendered for orders -> orders-restored
    rendered = permissions.render_policy(partition="aws", region=REGION, account=ACCOUNT,
                                         source_table_pattern="orders", target_table_pattern="orders-restored")
    statements = [s for s in rendered["Statement"] if s["Sid"] in SIDS]
    assert [s["Sid"] for s in statements] == list(SIDS)
    iam = aws("iam")
    iam.create_user(UserName="op")
    iam.put_user_policy(UserName="op", PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    key = iam.create_access_key(UserName="op")["AccessKey"]

    def as_op(service):
        return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])

    op_ddb, op_s3 = as_op("dynamodb"), as_op("s3")

    def export(table):
        return op_ddb.export_table_to_point_in_time(TableArn=arns[table], S3Bucket=BUCKET,
                                                    S3Prefix=f"pitr-runbook/exports/{table}")

    # THEN the two tables export, another does not; export files read, other objects do not
    assert _code(lambda: export("orders")) is None
    assert _code(lambda: export("orders-restored")) is None
    assert _code(lambda: export("payments")) == "AccessDeniedException"
    assert _code(lambda: op_s3.get_object(
        Bucket=BUCKET, Key="pitr-runbook/exports/orders/AWSDynamoDB/x/manifest-summary.json")) is None
    assert _code(lambda: op_s3.get_object(Bucket=BUCKET, Key="pitr-runbook/pitr-a/code.zip")) == "AccessDenied"

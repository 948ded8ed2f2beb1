"""``pitr-runbook publish`` against the sandbox over HTTP: a drill's run directory to S3 under its
table and UTC stamp, encrypted as the bucket's default encryption says, and its metrics to
CloudWatch per table.

AWS documents followed: "PutObject" and "GetBucketEncryption", Amazon S3 API Reference
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html: ``x-amz-server-side-encryption``
and ``x-amz-server-side-encryption-aws-kms-key-id``); "Protecting data with server-side encryption",
Amazon S3 User Guide (https://docs.aws.amazon.com/AmazonS3/latest/userguide/serv-side-encryption.html);
"PutMetricData", Amazon CloudWatch API Reference
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html: a
namespace starting with ``AWS/`` is reserved).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from drill_summaries import drill_summary, write_run

from runbook_lib import cli, times

NAMESPACE = "PITRRunbookTest"


def _metric(aws, name: str, table: str) -> list[float]:
    cw = aws("cloudwatch")
    now = times.utcnow()
    points = cw.get_metric_statistics(Namespace=NAMESPACE, MetricName=name, Dimensions=[{"Name": "TableName", "Value": table}],
                                      StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1), Period=60,
                                      Statistics=["Minimum", "Maximum"])["Datapoints"]
    return sorted(p["Maximum"] for p in points)


def _publish(endpoint, *args: str) -> int:
    return cli.main(["publish", "--endpoint-url", endpoint, "--region", "us-east-1", "--namespace", NAMESPACE, *args])


def test_publish_uploads_the_run_dir_under_table_and_stamp_encrypted_as_the_bucket_requires(aws, endpoint, tmp_path, capsys):
    # GIVEN a bucket whose default encryption is SSE-KMS with a customer key, and a drill's run directory
    s3 = aws("s3")
    key_arn = aws("kms").create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket="drill-runs")
    s3.put_bucket_encryption(Bucket="drill-runs", ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}, "BucketKeyEnabled": True}]})
    when = times.utcnow().replace(microsecond=0) - timedelta(minutes=30)
    run = write_run(tmp_path, "drill-orders", drill_summary("orders", when=when, rto=312.0))

    # WHEN it is published
    assert _publish(endpoint, "--run-dir", str(run), "--bucket", "s3://drill-runs/evidence/") == 0

    # THEN every file is under evidence/<table>/<UTC stamp of the restore call>/, asked for with the bucket's key
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="drill-runs")["Contents"])
    assert keys == [f"evidence/orders/{stamp}/{name}" for name in ("notebooks/04_reconcile.ipynb", "report.html", "summary.json")]
    head = s3.head_object(Bucket="drill-runs", Key=f"evidence/orders/{stamp}/summary.json")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_arn
    assert head["ContentType"] == "application/json"
    # AND the numbers are in CloudWatch under the table's dimension
    assert _metric(aws, "Passed", "orders") == [1.0]
    assert _metric(aws, "RestoreSeconds", "orders") == [312.0]
    assert _metric(aws, "UnexplainedDifferences", "orders") == [0.0]
    assert f"s3://drill-runs/evidence/orders/{stamp}/" in capsys.readouterr().out


def test_a_pass_with_a_failed_check_and_a_fail_are_published_as_passed_0(aws, endpoint, tmp_path):
    aws("s3").create_bucket(Bucket="drill-runs")
    check_failed = write_run(tmp_path, "a", drill_summary("orders", checks_ok=False))
    failed = write_run(tmp_path, "b", drill_summary("invoices", verdict="FAIL", unexplained=3))
    assert _publish(endpoint, "--run-dir", str(check_failed), "--bucket", "s3://drill-runs") == 0
    assert _publish(endpoint, "--run-dir", str(failed)) == 0  # metrics only
    assert _metric(aws, "Passed", "orders") == [0.0]
    assert _metric(aws, "Passed", "invoices") == [0.0]
    assert _metric(aws, "UnexplainedDifferences", "invoices") == [3.0]


def test_a_drill_that_wrote_no_summary_is_published_as_passed_0_and_nothing_else(aws, endpoint, tmp_path):
    """The drill stopped before reconciliation: its run directory still goes to S3 (the evidence),
    and Passed=0 tells the alarms a drill ran and failed, not that none ran."""
    s3 = aws("s3")
    s3.create_bucket(Bucket="drill-runs")
    run = write_run(tmp_path, "early", None)
    assert _publish(endpoint, "--run-dir", str(run), "--bucket", "s3://drill-runs/p", "--table", "orders") == 0
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="drill-runs")["Contents"]]
    assert len(keys) == 2 and all(k.startswith("p/orders/") for k in keys)
    assert s3.head_object(Bucket="drill-runs", Key=keys[0])["ServerSideEncryption"] == "AES256"
    assert _metric(aws, "Passed", "orders") == [0.0]
    assert _metric(aws, "RestoreSeconds", "orders") == []


@pytest.mark.parametrize(("args", "says"), [
    (["--run-dir", "MISSING"], "does not exist"),
    (["--run-dir", "EMPTY"], "names no table"),
    (["--run-dir", "RUN", "--bucket", "drill-runs"], "s3://BUCKET"),
    (["--run-dir", "RUN", "--bucket", "s3://no-such-bucket"], "does not exist"),
    (["--run-dir", "RUN", "--namespace", "AWS/DynamoDB"], "AWS/"),
])
def test_publish_refuses_what_it_cannot_publish_with_exit_2(aws, endpoint, tmp_path, capsys, args, says):
    write_run(tmp_path, "RUN", drill_summary())
    (tmp_path / "EMPTY").mkdir()
    args = [str(tmp_path / a) if a in ("MISSING", "EMPTY", "RUN") else a for a in args]
    if "--namespace" in args:
        assert cli.main(["publish", "--endpoint-url", endpoint, *args]) == 2
    else:
        assert _publish(endpoint, *args) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1

"""``infra/drill-schedule.yaml`` deployed on the sandbox over HTTP (CreateStack, CREATE_COMPLETE),
what it made as the services' APIs describe it, and its drill role's policy enforced by the
sandbox's IAM on a session of that role.

AWS documents followed: the CloudFormation Template Reference pages of AWS::Scheduler::Schedule,
AWS::CodeBuild::Project, AWS::CloudWatch::Alarm, AWS::S3::Bucket and AWS::S3::BucketPolicy
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-scheduler-schedule.html
and the pages beside it); "Using IAM with DynamoDB backup and restore"
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/backuprestore_IAM.html:
RestoreTableToPointInTime needs the action on the source table and read and write actions on the
target); "Actions, resources, and condition keys for Amazon CloudWatch", Service Authorization
Reference (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html:
PutMetricData supports the condition key cloudwatch:namespace); PutMetricAlarm, CloudWatch API
Reference (Period x EvaluationPeriods at most 604,800 s).
"""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from runbook_lib.aws.codes import ACCESS_DENIED_CODES, error_code

TEMPLATE = (Path(__file__).resolve().parents[2] / "infra" / "drill-schedule.yaml").read_text()
STACK = "pitr-drills"
REGION = "us-east-1"


def deploy(aws, tables: str = "orders,invoices", targets: str = "3600,7200", **extra: str) -> dict[str, str]:
    cfn = aws("cloudformation")
    params = {"SourceTables": tables, "RtoTargetsSeconds": targets, "ScheduleTimezone": "Europe/Berlin", **extra}
    cfn.create_stack(StackName=STACK, TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_NAMED_IAM"],
                     Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()])
    deadline = time.monotonic() + 60
    while True:
        stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_the_schedule_stack_deploys_with_every_resource(aws):
    out = deploy(aws)
    # the schedule: a cron in the given time zone, starting the build project as its own role
    schedule = aws("scheduler").get_schedule(Name=f"{STACK}-drills")
    assert schedule["ScheduleExpression"] == "cron(0 3 ? * SUN *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    (project,) = aws("codebuild").batch_get_projects(names=[out["DrillProjectName"]])["projects"]
    assert schedule["Target"]["Arn"] == project["arn"] == out["ScheduleArn"].replace(":scheduler:", ":codebuild:").rsplit(":", 1)[0] + f":project/{STACK}-drills"
    assert schedule["Target"]["RoleArn"].endswith(f":role/{STACK}-scheduler")
    # the build: drill then publish for the listed tables, as the drill role, logging to its group
    env = {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]}
    assert env["SOURCE_TABLES"] == "orders,invoices" and env["RTO_TARGETS_SECONDS"] == "3600,7200"
    assert env["RUNS_URI"] == f"s3://{out['RunsBucket']}/runs"
    assert project["serviceRole"] == out["DrillRoleArn"]
    assert "pitr-runbook drill --source-table" in project["source"]["buildspec"]
    assert "pitr-runbook publish --run-dir" in project["source"]["buildspec"]
    assert project["logsConfig"]["cloudWatchLogs"]["groupName"] == out["LogGroupName"]
    # the bucket: encrypted, private, TLS only, run directories expire
    s3 = aws("s3")
    bucket = out["RunsBucket"]
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert set(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values()) == {True}
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (lifecycle,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert lifecycle["Expiration"]["Days"] == 400 and lifecycle["Filter"]["Prefix"] == "runs/"
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    tls = next(s for s in policy["Statement"] if s["Sid"] == "DenyWithoutTls")
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # the alarms: three per listed table, none for the empty slots
    alarms = {a["AlarmName"]: a for a in aws("cloudwatch").describe_alarms(AlarmNamePrefix=STACK)["MetricAlarms"]}
    assert sorted(alarms) == sorted(f"{STACK}-{t}-{k}" for t in ("orders", "invoices")
                                    for k in ("drill-failed", "drill-missed", "rto-over-target"))
    missed = alarms[f"{STACK}-orders-drill-missed"]
    assert (missed["MetricName"], missed["Statistic"], missed["TreatMissingData"]) == ("Passed", "SampleCount", "breaching")
    assert missed["Period"] * missed["EvaluationPeriods"] == 7 * 86400
    assert alarms[f"{STACK}-invoices-rto-over-target"]["Threshold"] == 7200.0
    assert alarms[f"{STACK}-orders-rto-over-target"]["Dimensions"] == [{"Name": "TableName", "Value": "orders"}]
    failed = alarms[f"{STACK}-orders-drill-failed"]
    assert (failed["MetricName"], failed["ComparisonOperator"], failed["Threshold"]) == ("Passed", "LessThanThreshold", 1.0)
    assert all(a["AlarmActions"] == [out["AlarmTopicArn"]] and a["Namespace"] == "PITRRunbook" for a in alarms.values())
    # the role's policy holds no null where the optional KMS statement was left out
    document = aws("iam").get_role_policy(RoleName=f"{STACK}-drill", PolicyName="drill")["PolicyDocument"]
    if isinstance(document, str):  # moto answers a stack's inline policy as Python's repr of it, not JSON
        document = ast.literal_eval(document)
    assert None not in document["Statement"] and not any(s.get("Sid") == "UseSourceKeysThroughDynamoDB" for s in document["Statement"])


def test_a_schedule_in_an_unknown_time_zone_fails_the_stack(aws):
    with pytest.raises(ClientError) as bad_zone:
        deploy(aws, ScheduleTimezone="Mars/Olympus")
    assert error_code(bad_zone.value) == "ValidationError" and "time zone" in str(bad_zone.value)


@pytest.mark.parametrize(("period", "evaluations", "ok"), [(86400, 7, True), (86400, 8, False), (60, 1440, True), (60, 1441, False)])
def test_an_alarm_may_look_back_at_most_seven_days(aws, period, evaluations, ok):
    """PutMetricAlarm: Period x EvaluationPeriods at most 604,800 s, and 86,400 s for periods under an hour."""
    template = {"Resources": {"Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmName": "a", "Namespace": "N", "MetricName": "Passed", "Statistic": "SampleCount", "Period": period,
        "EvaluationPeriods": evaluations, "Threshold": 1, "ComparisonOperator": "LessThanThreshold", "TreatMissingData": "breaching"}}}}
    cfn = aws("cloudformation")
    if ok:
        cfn.create_stack(StackName="alarm", TemplateBody=json.dumps(template))
        (alarm,) = aws("cloudwatch").describe_alarms(AlarmNames=["a"])["MetricAlarms"]
        assert alarm["EvaluationPeriods"] == evaluations and alarm["TreatMissingData"] == "breaching"
    else:
        with pytest.raises(ClientError) as caught:
            cfn.create_stack(StackName="alarm", TemplateBody=json.dumps(template))
        assert error_code(caught.value) == "ValidationError"
        assert aws("cloudwatch").describe_alarms(AlarmNames=["a"])["MetricAlarms"] == []


def _role_session(aws, endpoint: str, role_arn: str):
    creds = aws("sts").assume_role(RoleArn=role_arn, RoleSessionName="codebuild")["Credentials"]
    session = boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                    aws_session_token=creds["SessionToken"], region_name=REGION)
    return lambda service: session.client(service, endpoint_url=endpoint)


def _denied(call, **kwargs) -> None:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    assert error_code(caught.value) in ACCESS_DENIED_CODES, caught.value


def _table(ddb, name: str) -> None:
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}})


def test_the_drill_role_restores_only_into_drill_tables_and_never_changes_a_source(aws, endpoint):
    # GIVEN the stack for orders, and a table it does not list
    root = aws("dynamodb")
    _table(root, "orders")
    _table(root, "payments")
    out = deploy(aws, tables="orders", targets="3600")
    role = _role_session(aws, endpoint, out["DrillRoleArn"])
    ddb = role("dynamodb")

    # THEN it may restore orders into orders-drill-<stamp>, read, tag and delete that scratch table
    ddb.restore_table_to_point_in_time(SourceTableName="orders", TargetTableName="orders-drill-20261201T030000Z",
                                       UseLatestRestorableTime=True)
    arn = ddb.describe_table(TableName="orders-drill-20261201T030000Z")["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "pitr-runbook:drill", "Value": "true"}])
    assert ddb.scan(TableName="orders")["Count"] == 1  # reconciliation reads the source
    # AND never into another name, from another table, or anything that changes a source
    _denied(ddb.restore_table_to_point_in_time, SourceTableName="orders", TargetTableName="orders-copy",
            UseLatestRestorableTime=True)
    _denied(ddb.restore_table_to_point_in_time, SourceTableName="payments", TargetTableName="payments-drill-x",
            UseLatestRestorableTime=True)
    _denied(ddb.delete_table, TableName="orders")
    _denied(ddb.put_item, TableName="orders", Item={"pk": {"S": "b"}})
    _denied(ddb.delete_table, TableName="payments")
    _denied(ddb.scan, TableName="payments")
    ddb.get_waiter("table_exists").wait(TableName="orders-drill-20261201T030000Z", WaiterConfig={"Delay": 0.5, "MaxAttempts": 40})
    ddb.delete_table(TableName="orders-drill-20261201T030000Z")

    # metrics only in its namespace
    cw = role("cloudwatch")
    cw.put_metric_data(Namespace="PITRRunbook", MetricData=[{"MetricName": "Passed", "Value": 1}])
    _denied(cw.put_metric_data, Namespace="Other", MetricData=[{"MetricName": "Passed", "Value": 1}])
    # its bucket: write runs/ only, read checks/ only
    s3 = role("s3")
    bucket = out["RunsBucket"]
    s3.put_object(Bucket=bucket, Key="runs/orders/20261201T030000Z/summary.json", Body=b"{}", ServerSideEncryption="AES256")
    _denied(s3.put_object, Bucket=bucket, Key="elsewhere/x", Body=b"{}", ServerSideEncryption="AES256")
    _denied(s3.get_object, Bucket=bucket, Key="runs/orders/20261201T030000Z/summary.json")
    aws("s3").put_object(Bucket=bucket, Key="checks/orders/check_totals.py", Body=b"def check_x(ctx): pass\n")
    assert s3.get_object(Bucket=bucket, Key="checks/orders/check_totals.py")["Body"].read().startswith(b"def")
    assert s3.get_bucket_encryption(Bucket=bucket)  # publish reads which encryption to ask for

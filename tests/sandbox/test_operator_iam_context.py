"""The condition keys and resource ARNs the operator's policy relies on, set by the sandbox's IAM as AWS
sets them; each test fails when the key is missing (the call would be denied) or ignored (allowed)."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCOUNT = "123456789012"
DENIED = ("AccessDenied", "AccessDeniedException")


@pytest.fixture
def as_user(aws, endpoint):
    """A user with exactly ``statements``; returns a client factory signing as it."""

    def make(statements: list[dict]):
        iam = aws("iam")
        iam.create_user(UserName="op")
        iam.put_user_policy(UserName="op", PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
        key = iam.create_access_key(UserName="op")["AccessKey"]
        return lambda service: boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                                            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])

    return make


def _code(call) -> str | None:
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"]
    return None


def test_create_stack_carries_cloudformation_role_arn_from_the_request(aws, as_user):
    """cloudformation:RoleArn "Filters access by the ARN of an IAM service role specified in the request"
    ("Actions, resources, and condition keys for AWS CloudFormation", Service Authorization Reference,
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html)."""
    role = aws("iam").create_role(RoleName="cfn", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    client = as_user([
        {"Effect": "Allow", "Action": "cloudformation:CreateStack", "Resource": "*",
         "Condition": {"ArnEquals": {"cloudformation:RoleArn": role}}},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role},
    ])("cloudformation")
    body = json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})
    assert _code(lambda: client.create_stack(StackName="without-role", TemplateBody=body)) == "AccessDenied"
    assert _code(lambda: client.create_stack(StackName="with-role", TemplateBody=body, RoleARN=role)) is None


def test_a_mapping_named_by_uuid_carries_the_function_it_invokes_as_lambda_function_arn(aws, as_user):
    """"the resource is the event source mapping, so Lambda provides a condition that lets you restrict
    permission based on the function that the event source mapping invokes" ("Resources and conditions
    for Lambda actions", Lambda Developer Guide,
    https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html)."""
    uuids = {}
    for name in ("pitr-x-applier", "other-consumer"):
        role = aws("iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("handler.py", "def handler(event, context):\n    return {}\n")
        aws("lambda").create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handler",
                                      Code={"ZipFile": buf.getvalue()})
        queue = aws("sqs").create_queue(QueueName=f"{name}-q")["QueueUrl"]
        arn = aws("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        uuids[name] = aws("lambda").create_event_source_mapping(EventSourceArn=arn, FunctionName=name, Enabled=False)["UUID"]
    client = as_user([{"Effect": "Allow", "Action": "lambda:UpdateEventSourceMapping",
                       "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:*",
                       "Condition": {"ArnLike": {"lambda:FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:pitr-*"}}}])("lambda")
    assert _code(lambda: client.update_event_source_mapping(UUID=uuids["pitr-x-applier"], Enabled=True)) is None
    assert _code(lambda: client.update_event_source_mapping(UUID=uuids["other-consumer"], Enabled=True)) == "AccessDeniedException"


def test_alarm_actions_name_the_alarm_arn(aws, as_user):
    """CloudWatch's alarm actions take the alarm's ARN, DescribeAlarms the account's alarms
    ("Actions, resources, and condition keys for Amazon CloudWatch", Service Authorization Reference,
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html)."""
    client = as_user([{"Effect": "Allow", "Action": ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms"],
                       "Resource": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:orders-*"}])("cloudwatch")
    alarm = dict(MetricName="ThrottledRequests", Namespace="AWS/DynamoDB", Statistic="Sum", Period=60,
                 EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    assert _code(lambda: client.put_metric_alarm(AlarmName="orders-restored-throttles", **alarm)) is None
    # (the denial's code is iam_auth's per protocol; what is tested here is the ARN checked)
    assert _code(lambda: client.put_metric_alarm(AlarmName="payroll-throttles", **alarm)) in DENIED
    # DescribeAlarms is checked on alarm:*, which orders-* does not cover
    assert _code(lambda: client.describe_alarms()) in DENIED

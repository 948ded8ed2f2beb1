"""``ScalingConfig.MaximumConcurrency`` of an SQS event source mapping: validated and stored as AWS
does, and honoured by the sandbox's Lambda runtime.

AWS documents followed:
- Lambda API reference, ``ScalingConfig`` ("(Amazon SQS only)"; ``MaximumConcurrency`` valid range
  2 to 1000; "To remove the configuration, pass an empty value"),
  https://docs.aws.amazon.com/lambda/latest/api/API_ScalingConfig.html
- Lambda developer guide, "Configuring scaling behavior for SQS event source mappings" (maximum
  concurrency limits the concurrent instances the SQS event source invokes; for FIFO queues the
  lower of the number of message groups and the setting; exclusive with provisioned mode),
  https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html
- CloudFormation ``AWS::Lambda::EventSourceMapping ScalingConfig`` (MaximumConcurrency 2..1000),
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-lambda-eventsourcemapping-scalingconfig.html
"""

from __future__ import annotations

import io
import json
import time
import zipfile

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from runbook_lib.sandbox import SETTINGS

REGION = "us-east-1"

SPAN_RECORDER = '''
import os
import time

import boto3

_ddb = boto3.client("dynamodb")


def handler(event, context):
    started = time.time()
    time.sleep(0.4)
    _ddb.put_item(TableName=os.environ["SINK_TABLE"], Item={
        "pk": {"S": context.aws_request_id},
        "started": {"N": repr(started)},
        "ended": {"N": repr(time.time())},
    })
'''


def _zip(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("spans.py", text)
    return buf.getvalue()


def _role(aws) -> str:
    return aws("iam").create_role(RoleName="lambda-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]


def _setup(aws, *, fifo: bool = True) -> tuple[str, str]:
    """A sink table, a span-recording function, and a queue: (queue url, queue arn)."""
    aws("dynamodb").create_table(
        TableName="sink",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    aws("lambda").create_function(
        FunctionName="spans",
        Runtime="python3.11",
        Role=_role(aws),
        Handler="spans.handler",
        Code={"ZipFile": _zip(SPAN_RECORDER)},
        Timeout=10,
        Environment={"Variables": {"SINK_TABLE": "sink"}},
    )
    sqs = aws("sqs")
    name = "in.fifo" if fifo else "in"
    attrs = {"VisibilityTimeout": "30", **({"FifoQueue": "true"} if fifo else {})}
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _max_overlap(aws, expected: int) -> int:
    deadline = time.monotonic() + 60
    while True:
        items = aws("dynamodb").scan(TableName="sink", ConsistentRead=True)["Items"]
        if len(items) >= expected:
            break
        assert time.monotonic() < deadline, f"only {len(items)} of {expected} invocations"
        time.sleep(0.1)
    spans = [(float(i["started"]["N"]), float(i["ended"]["N"])) for i in items]
    return max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)


def _fill(aws, url: str, n: int, tag: str) -> None:
    for i in range(n):
        aws("sqs").send_message(QueueUrl=url, MessageBody=f"{tag}{i}", MessageGroupId=f"{tag}{i}", MessageDeduplicationId=f"{tag}{i}")


def test_runtime_never_runs_more_invocations_of_a_mapping_than_its_maximum_concurrency(aws):
    # GIVEN a runtime that would run 6 batches of one mapping at once, and 12 message groups
    SETTINGS.sqs_concurrency = 6
    url, arn = _setup(aws)
    lam = aws("lambda")
    uuid = lam.create_event_source_mapping(FunctionName="spans", EventSourceArn=arn, BatchSize=1, Enabled=False)["UUID"]
    # WHEN the mapping runs uncapped, more than 2 invocations overlap (the measure sees concurrency)
    _fill(aws, url, 12, "free")
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    assert _max_overlap(aws, 12) > 2
    # AND capped at 2, never more than 2 overlap, however many groups are waiting
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    aws("dynamodb").delete_table(TableName="sink")
    aws("dynamodb").create_table(
        TableName="sink",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    out = lam.update_event_source_mapping(UUID=uuid, ScalingConfig={"MaximumConcurrency": 2})
    assert out["ScalingConfig"] == {"MaximumConcurrency": 2}
    _fill(aws, url, 12, "capped")
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    assert _max_overlap(aws, 12) == 2


def test_runtime_runs_as_many_fifo_batches_at_once_as_the_buffer_stacks_maximum_concurrency(aws):
    """AWS runs a FIFO mapping's batches at once up to the lower of the number of message groups and
    MaximumConcurrency ("Configuring scaling behavior for SQS event source mappings", above): with
    the buffer stack's default of 10 and 20 groups waiting, more than the sandbox's former ceiling of
    4 overlap, and never more than 10."""
    # GIVEN the sandbox's default settings, a mapping capped at 10 (the stack's default), 20 groups
    url, arn = _setup(aws)
    lam = aws("lambda")
    uuid = lam.create_event_source_mapping(
        FunctionName="spans", EventSourceArn=arn, BatchSize=1, Enabled=False, ScalingConfig={"MaximumConcurrency": 10}
    )["UUID"]
    _fill(aws, url, 20, "group")
    # WHEN the mapping runs
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    # THEN more than 4 invocations overlap, and at most 10
    assert 4 < _max_overlap(aws, 20) <= 10


def test_scaling_config_is_stored_returned_and_removed_with_an_empty_value(aws):
    _, arn = _setup(aws)
    lam = aws("lambda")
    created = lam.create_event_source_mapping(
        FunctionName="spans", EventSourceArn=arn, Enabled=False, ScalingConfig={"MaximumConcurrency": 5}
    )
    assert created["ScalingConfig"] == {"MaximumConcurrency": 5}
    assert lam.get_event_source_mapping(UUID=created["UUID"])["ScalingConfig"] == {"MaximumConcurrency": 5}
    lam.update_event_source_mapping(UUID=created["UUID"], ScalingConfig={"MaximumConcurrency": 1000})
    assert lam.get_event_source_mapping(UUID=created["UUID"])["ScalingConfig"] == {"MaximumConcurrency": 1000}
    lam.update_event_source_mapping(UUID=created["UUID"], ScalingConfig={})
    assert not lam.get_event_source_mapping(UUID=created["UUID"]).get("ScalingConfig", {}).get("MaximumConcurrency")


@pytest.mark.parametrize("value", [1, 0, 1001])
def test_maximum_concurrency_outside_2_to_1000_is_refused(aws, endpoint, value):
    _, arn = _setup(aws)
    # botocore itself refuses values below 2 before sending; other SDKs and raw callers do not
    raw = boto3.client("lambda", endpoint_url=endpoint, region_name=REGION, config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as err:
        raw.create_event_source_mapping(
            FunctionName="spans", EventSourceArn=arn, Enabled=False, ScalingConfig={"MaximumConcurrency": value}
        )
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    uuid = raw.create_event_source_mapping(FunctionName="spans", EventSourceArn=arn, Enabled=False)["UUID"]
    with pytest.raises(ClientError) as err:
        raw.update_event_source_mapping(UUID=uuid, ScalingConfig={"MaximumConcurrency": value})
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_scaling_config_is_refused_on_a_dynamodb_stream_source(aws):
    _setup(aws)
    ddb = aws("dynamodb")
    ddb.create_table(
        TableName="src",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    stream = ddb.describe_table(TableName="src")["Table"]["LatestStreamArn"]
    with pytest.raises(ClientError) as err:
        aws("lambda").create_event_source_mapping(
            FunctionName="spans", EventSourceArn=stream, StartingPosition="LATEST", ScalingConfig={"MaximumConcurrency": 5}
        )
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_cloudformation_mapping_takes_maximum_concurrency_from_a_parameter(aws):
    _, arn = _setup(aws)
    template = {
        "Parameters": {"Cap": {"Type": "Number", "Default": 7}},
        "Resources": {
            "Mapping": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "FunctionName": "spans",
                    "EventSourceArn": arn,
                    "Enabled": False,
                    "BatchSize": 10,
                    "ScalingConfig": {"MaximumConcurrency": {"Ref": "Cap"}},
                },
            }
        },
    }
    cfn = aws("cloudformation")
    cfn.create_stack(StackName="capped", TemplateBody=json.dumps(template))
    uuid = cfn.describe_stack_resource(StackName="capped", LogicalResourceId="Mapping")["StackResourceDetail"]["PhysicalResourceId"]
    assert aws("lambda").get_event_source_mapping(UUID=uuid)["ScalingConfig"] == {"MaximumConcurrency": 7}

"""One rule for "does this trail log DynamoDB's management write events": the preflight's CloudTrail
check passes exactly when the sandbox delivers a restore's CloudTrail event, because both decide
with ``runbook_lib.aws.cloudtrail.logs_management_writes`` (the cases of the rule itself are in
``tests/unit/test_aws_cloudtrail.py``). Selectors follow "Logging management events"
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-management-events-with-cloudtrail.html)."""

from __future__ import annotations

import json
import time

import pytest

from runbook_lib.aws.clients import AwsTarget
from runbook_lib.preflight import FAIL, PASS, check_cloudtrail
from runbook_lib.sandbox.traffic import create_demo_table

MANAGEMENT = {"Field": "eventCategory", "Equals": ["Management"]}


def _trail(aws, selectors: dict) -> None:
    aws("s3").create_bucket(Bucket="trail-bucket")
    ct = aws("cloudtrail")
    ct.create_trail(Name="management", S3BucketName="trail-bucket", IsMultiRegionTrail=True)
    if selectors:
        ct.put_event_selectors(TrailName="management", **selectors)
    ct.start_logging(Name="management")


def _restore_event_delivered(aws) -> bool:
    url = aws("sqs").create_queue(QueueName="seen-events")["QueueUrl"]
    arn = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["aws.dynamodb"], "detail-type": ["AWS API Call via CloudTrail"],
               "detail": {"eventName": ["RestoreTableToPointInTime"]}}
    aws("events").put_rule(Name="restores", EventPattern=json.dumps(pattern))
    aws("events").put_targets(Rule="restores", Targets=[{"Id": "q", "Arn": arn}])
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    ddb.put_item(TableName="orders", Item={"pk": {"S": "a"}})
    time.sleep(0.02)
    ddb.restore_table_to_point_in_time(SourceTableName="orders", TargetTableName="orders-restored", UseLatestRestorableTime=True)
    return bool(aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"))


@pytest.mark.parametrize(
    "selectors, logs",
    [
        ({}, True),
        ({"EventSelectors": [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]}, True),
        ({"EventSelectors": [{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}]}, False),
        ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False}]}, False),
        ({"AdvancedEventSelectors": [{"FieldSelectors": [MANAGEMENT, {"Field": "readOnly", "Equals": ["false"]}]}]}, True),
        ({"AdvancedEventSelectors": [{"FieldSelectors": [MANAGEMENT, {"Field": "readOnly", "Equals": ["true"]}]}]}, False),
    ],
)
def test_preflight_passes_exactly_when_the_sandbox_delivers_the_restore_event(aws, endpoint, selectors, logs):
    # GIVEN a logging multi-region trail with these selectors
    _trail(aws, selectors)
    # WHEN the preflight checks it and a restore runs
    row = check_cloudtrail(AwsTarget(region="us-east-1", endpoint_url=endpoint), automation="event")
    delivered = _restore_event_delivered(aws)
    # THEN both give the same answer, the rule's
    assert (row.status, delivered) == ((PASS, True) if logs else (FAIL, False)), row


def test_basic_selectors_replace_advanced_ones_as_on_aws(aws, endpoint):
    """A trail holds one kind of selectors ("PutEventSelectors", AWS CloudTrail API Reference,
    https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_PutEventSelectors.html: "You can
    use either AdvancedEventSelectors or EventSelectors, but not both"): after advanced selectors
    that log management events, basic ones that exclude them leave the trail logging none."""
    # GIVEN a trail whose advanced selectors log management events
    _trail(aws, {"AdvancedEventSelectors": [{"FieldSelectors": [MANAGEMENT]}]})
    # WHEN basic selectors without management events are put
    aws("cloudtrail").put_event_selectors(TrailName="management", EventSelectors=[{"IncludeManagementEvents": False}])
    # THEN only those are left, and neither the preflight nor the sandbox counts the trail
    answer = aws("cloudtrail").get_event_selectors(TrailName="management")
    assert not answer.get("AdvancedEventSelectors") and answer["EventSelectors"][0]["IncludeManagementEvents"] is False
    row = check_cloudtrail(AwsTarget(region="us-east-1", endpoint_url=endpoint), automation="event")
    assert (row.status, _restore_event_delivered(aws)) == (FAIL, False), row

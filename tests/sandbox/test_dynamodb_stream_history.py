"""A disabled or replaced stream stays readable by its own ARN.

AWS behaviour followed: "Change data capture for DynamoDB Streams", Amazon DynamoDB Developer Guide
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html): "If you disable a
stream, any stream records in the log remain readable for 24 hours"; enabling a stream again makes a
new one (a new label and ARN); "DescribeStream", DynamoDB Streams API Reference
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_DescribeStream.html):
``StreamStatus`` DISABLED for such a stream. The sandbox answered DescribeStream of a disabled stream
with HTTP 500, and once a new stream was enabled the old ARN read the new stream.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from runbook_lib.sandbox.traffic import create_demo_table


def _records(streams, arn: str) -> list[tuple[str, str]]:
    desc = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=desc["Shards"][0]["ShardId"],
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in streams.get_records(ShardIterator=it)["Records"]]


def test_a_disabled_stream_is_described_disabled_and_keeps_its_records_after_a_new_one(aws):
    ddb, streams = aws("dynamodb"), aws("dynamodbstreams")
    create_demo_table(ddb, "sh-old")
    old = ddb.describe_table(TableName="sh-old")["Table"]["LatestStreamArn"]
    ddb.put_item(TableName="sh-old", Item={"pk": {"S": "one"}})
    ddb.update_table(TableName="sh-old", StreamSpecification={"StreamEnabled": False})
    desc = streams.describe_stream(StreamArn=old)["StreamDescription"]
    assert (desc["StreamStatus"], desc["StreamViewType"]) == ("DISABLED", "NEW_AND_OLD_IMAGES")
    assert _records(streams, old) == [("INSERT", "one")]
    ddb.update_table(TableName="sh-old", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    new = ddb.describe_table(TableName="sh-old")["Table"]["LatestStreamArn"]
    assert new != old
    ddb.put_item(TableName="sh-old", Item={"pk": {"S": "two"}})
    assert streams.describe_stream(StreamArn=old)["StreamDescription"]["StreamStatus"] == "DISABLED"
    assert _records(streams, old) == [("INSERT", "one")]
    assert streams.describe_stream(StreamArn=new)["StreamDescription"]["StreamStatus"] == "ENABLED"
    assert _records(streams, new) == [("INSERT", "two")]
    with pytest.raises(ClientError) as caught:
        streams.describe_stream(StreamArn=old.rsplit("/", 1)[0] + "/2000-01-01T00:00:00.000")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"

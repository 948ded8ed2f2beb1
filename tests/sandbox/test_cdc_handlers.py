"""The CDC handlers against the sandbox over HTTP: real stream records in, a real FIFO queue in the
middle, real tables out. The Lambda runtime is not involved: the test moves the batches itself
(GetRecords -> forwarder, ReceiveMessage -> applier), in the shapes Lambda would pass.

moto gap seen here (sandbox territory): a stream record's ``Keys`` for a binary (B) key attribute
comes back base64-encoded twice, though ``NewImage``/``OldImage`` are right; these tests keep
binary values out of the keys.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import base64
import datetime as dt
import sys
from pathlib import Path

import pytest

from runbook_lib.cdc import applier, codec, forwarder, runtime

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))
from cdc_factories import CANARY_B, CANARY_N, CANARY_S, DIGEST  # noqa: E402

SOURCE, TARGET, QUEUE = "orders", "orders-restored", "orders-buffer.fifo"


# -- helpers: what the Lambda event source mappings would do --------------------------------------
def _lambda_json(value):
    """A boto3-deserialised stream value as Lambda's JSON event carries it."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    if isinstance(value, dict):
        return {k: _lambda_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lambda_json(v) for v in value]
    return value


def stream_batches(aws, stream_arn: str) -> list[dict]:
    streams = aws("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    event_records = [dict(_lambda_json(r), eventSourceARN=stream_arn) for r in records]
    return [{"Records": event_records[i:i + 7]} for i in range(0, len(event_records), 7)]


def drain(aws, queue_url: str, apply_batch) -> list[list[str]]:
    """Receive up to 10 messages at a time, hand them over as a Lambda SQS event, delete what
    the applier did not report; return the failure lists."""
    sqs = aws("sqs")
    reports = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"], VisibilityTimeout=30
        ).get("Messages", [])
        if not messages:
            return reports
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m["Attributes"],
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:" + QUEUE,
                    "awsRegion": "us-east-1",
                }
                for m in messages
            ]
        }
        failed = [f["itemIdentifier"] for f in apply_batch(event)["batchItemFailures"]]
        reports.append(failed)
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        if failed:
            return reports


def scan(aws, table: str) -> dict[str, dict]:
    items = aws("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    return {codec.canonical_key({"pk": i["pk"], "sk": i["sk"]}): i for i in items}


@pytest.fixture
def buffer(aws):
    ddb = aws("dynamodb")
    schema = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    source = ddb.create_table(
        TableName=SOURCE, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}, **schema
    )
    ddb.create_table(TableName=TARGET, **schema)
    queue_url = aws("sqs").create_queue(QueueName=QUEUE, Attributes={"FifoQueue": "true"})["QueueUrl"]
    return source["TableDescription"]["LatestStreamArn"], queue_url


def every_type(pk: str, sk: int, version: int, pad: int = 0) -> dict:
    return {
        "pk": {"S": pk},
        "sk": {"N": str(sk)},
        "s": {"S": f"{CANARY_S}-{version}" + "x" * pad},
        "n": {"N": CANARY_N},
        "b": {"B": CANARY_B},
        "ss": {"SS": [CANARY_S, "b"]},
        "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": [CANARY_B, b"\x01"]},
        "m": {"M": {"x": {"B": CANARY_B}, "y": {"L": [{"N": "1"}, {"NULL": True}]}}},
        "l": {"L": [{"S": "a"}, {"BOOL": False}]},
        "bool": {"BOOL": True},
        "null": {"NULL": True},
        "version": {"N": str(version)},
    }


def write_traffic(aws) -> None:
    ddb = aws("dynamodb")
    for i in range(12):
        ddb.put_item(TableName=SOURCE, Item=every_type(f"user-{i % 4}", i, 1))
    for i in range(0, 12, 3):
        ddb.put_item(TableName=SOURCE, Item=every_type(f"user-{i % 4}", i, 2))
    ddb.update_item(
        TableName=SOURCE, Key={"pk": {"S": "user-1"}, "sk": {"N": "1"}},
        UpdateExpression="SET version = :v", ExpressionAttributeValues={":v": {"N": "3"}},
    )
    ddb.delete_item(TableName=SOURCE, Key={"pk": {"S": "user-2"}, "sk": {"N": "2"}})
    # Bigger than the queue limit the forwarder is given below: travels key-only.
    ddb.put_item(TableName=SOURCE, Item=every_type("user-big", 99, 1, pad=6_000))
    ddb.put_item(TableName=SOURCE, Item=every_type("user-big", 99, 2, pad=6_000))


def test_stream_to_queue_to_table_converges_on_the_source(aws, buffer):
    # GIVEN inserts, updates, a delete and a big item on the source
    stream_arn, queue_url = buffer
    write_traffic(aws)

    # WHEN the stream is forwarded and the queue drained through the handlers' functions
    settings = forwarder.ForwarderSettings(queue_url=queue_url, max_message_bytes=4_096, digest=DIGEST)
    sqs, sent = aws("sqs"), []
    sqs.meta.events.register("provide-client-params.sqs.SendMessageBatch",
                             lambda params, **_: sent.extend(params["Entries"]))
    for event in stream_batches(aws, stream_arn):
        assert forwarder.forward(event, sqs, settings) == {"batchItemFailures": []}
    assert sum(codec.decode(e["MessageBody"]).key_only for e in sent) == 2  # the big item's two puts
    apply_settings = applier.ApplierSettings(TARGET, SOURCE, digest=DIGEST)
    reports = drain(aws, queue_url, lambda event: applier.apply(event, aws("dynamodb"), apply_settings))

    # THEN the target equals the source, item for item
    assert all(r == [] for r in reports) and reports
    assert scan(aws, TARGET) == scan(aws, SOURCE)


def test_redelivery_after_the_dedup_window_does_not_regress_the_target(aws, buffer):
    # GIVEN everything applied
    stream_arn, queue_url = buffer
    write_traffic(aws)
    batches = stream_batches(aws, stream_arn)
    settings = forwarder.ForwarderSettings(queue_url=queue_url, digest=DIGEST)
    for event in batches:
        forwarder.forward(event, aws("sqs"), settings)
    apply_settings = applier.ApplierSettings(TARGET, SOURCE, digest=DIGEST)
    drain(aws, queue_url, lambda event: applier.apply(event, aws("dynamodb"), apply_settings))
    before = scan(aws, TARGET)

    # WHEN every superseded record (all but each key's last) is sent again with fresh
    # deduplication ids, as a retried stream batch would be after the 5-minute window: such a
    # re-send comes at least five minutes after the change, so the changes are made older here
    records = [r for event in batches for r in event["Records"]]
    last = {DIGEST(r["dynamodb"]["Keys"]): r["eventID"] for r in records}

    def ten_minutes_older(r):
        created = r["dynamodb"]["ApproximateCreationDateTime"]
        older = created - (timedelta(minutes=10) if isinstance(created, datetime) else 600)
        return dict(r, eventID="again-" + r["eventID"], dynamodb=dict(r["dynamodb"], ApproximateCreationDateTime=older))

    stale = [ten_minutes_older(r) for r in records if r["eventID"] not in last.values()]
    assert len(stale) >= 5
    assert forwarder.forward({"Records": stale}, aws("sqs"), settings) == {"batchItemFailures": []}
    reports = drain(aws, queue_url, lambda event: applier.apply(event, aws("dynamodb"), apply_settings))

    # THEN nothing regressed
    assert all(r == [] for r in reports)
    assert scan(aws, TARGET) == before == scan(aws, SOURCE)


@pytest.fixture
def lambda_env(monkeypatch, endpoint, aws):
    """The handlers' environment as the stack sets it, the key digest secret in Secrets Manager."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    secret_arn = aws("secretsmanager").create_secret(Name="orders-buffer-key-digest", SecretString="s" * 64)["ARN"]
    monkeypatch.setenv("KEY_DIGEST_SECRET_ARN", secret_arn)
    runtime.reset_clients()
    runtime.reset_key_digest()
    yield monkeypatch
    runtime.reset_clients()
    runtime.reset_key_digest()


def test_handlers_reach_the_sandbox_through_aws_endpoint_url(aws, buffer, lambda_env):
    stream_arn, queue_url = buffer
    write_traffic(aws)
    lambda_env.setenv("QUEUE_URL", queue_url)
    lambda_env.setenv("MAX_MESSAGE_BYTES", "4096")
    lambda_env.setenv("TARGET_TABLE", TARGET)
    lambda_env.setenv("SOURCE_TABLE", SOURCE)
    lambda_env.setenv("REPLAY_FROM", "")
    sent: list[dict] = []
    runtime.client("sqs").meta.events.register("provide-client-params.sqs.SendMessageBatch",
                                               lambda params, **_: sent.extend(params["Entries"]))

    for event in stream_batches(aws, stream_arn):
        assert forwarder.handler(event, None) == {"batchItemFailures": []}
    reports = drain(aws, queue_url, lambda event: applier.handler(event, None))

    assert reports and all(r == [] for r in reports)
    assert scan(aws, TARGET) == scan(aws, SOURCE)
    # the groups are keyed with the secret read from Secrets Manager
    keyed = codec.KeyDigest("s" * 64)
    assert sent and all(e["MessageGroupId"] == keyed(codec.decode(e["MessageBody"]).keys) for e in sent)


def test_handlers_fail_and_send_nothing_once_the_secret_is_gone(aws, buffer, lambda_env):
    """Secrets Manager answers ResourceNotFoundException for a deleted secret (GetSecretValue,
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html): the
    forwarder fails the invocation and sends nothing; there is no unkeyed fallback."""
    stream_arn, queue_url = buffer
    lambda_env.setenv("QUEUE_URL", queue_url)
    aws("secretsmanager").delete_secret(SecretId="orders-buffer-key-digest", ForceDeleteWithoutRecovery=True)
    aws("dynamodb").put_item(TableName=SOURCE, Item=every_type("user-0", 1, 1))
    (event,) = stream_batches(aws, stream_arn)

    with pytest.raises(runtime.KeySecretError, match="ResourceNotFoundException"):
        forwarder.handler(event, None)

    attributes = aws("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"


def test_poison_message_is_reported_while_other_groups_flow(aws, buffer):
    stream_arn, queue_url = buffer
    aws("dynamodb").put_item(TableName=SOURCE, Item=every_type("user-0", 1, 1))
    (event,) = stream_batches(aws, stream_arn)
    forwarder.forward(event, aws("sqs"), forwarder.ForwarderSettings(queue_url=queue_url, digest=DIGEST))
    aws("sqs").send_message(QueueUrl=queue_url, MessageBody="{not json", MessageGroupId="poison", MessageDeduplicationId="p1")

    apply_settings = applier.ApplierSettings(TARGET, SOURCE, digest=DIGEST)
    reports = drain(aws, queue_url, lambda event: applier.apply(event, aws("dynamodb"), apply_settings))

    assert len(reports[-1]) == 1
    assert scan(aws, TARGET) == scan(aws, SOURCE)

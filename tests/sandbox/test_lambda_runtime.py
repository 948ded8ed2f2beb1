"""The sandbox's Lambda runtime, over HTTP with plain boto3: event source mappings as AWS runs them.

Every function here is the same small recorder (``RECORDER``): for each invocation it bumps a call
counter and stores the event, the context and some environment variables in a sink table, through
boto3 with no endpoint (it must find the sandbox through ``AWS_ENDPOINT_URL``). A record's ``mode``
attribute (stream) or body field (SQS) makes it fail: ``error`` always raises, ``error-times-N``
raises on the first N attempts, ``report-times-N`` is reported in ``batchItemFailures`` on the first
N attempts, ``report-bogus-once`` reports an identifier that is not in the batch once,
``stop-times-N`` (the FIFO rule) reports this record and every later one of the batch on its first
N attempts, ``sleep:S`` sleeps.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import time
import zipfile

import boto3
import pytest

from runbook_lib.sandbox import SETTINGS

RECORDER = '''
import json
import logging
import os
import time

import boto3

_ddb = boto3.client("dynamodb")
_SINK = os.environ["SINK_TABLE"]
_ENV = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_TIMEOUT", "AWS_ACCESS_KEY_ID", "GREETING",
        "PYTHONPATH")


def _count(name):
    out = _ddb.update_item(
        TableName=_SINK, Key={"pk": {"S": name}}, UpdateExpression="ADD n :one",
        ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="UPDATED_NEW")
    return int(out["Attributes"]["n"]["N"])


def _mode(record):
    if "dynamodb" in record:
        return record["dynamodb"].get("NewImage", {}).get("mode", {}).get("S", "")
    try:
        return json.loads(record["body"]).get("mode", "")
    except ValueError:
        return ""


def _ident(record):
    return record["dynamodb"]["SequenceNumber"] if "dynamodb" in record else record["messageId"]


def handler(event, context):
    started = time.time()
    call = _count("calls")
    records = event.get("Records", [])
    failures, error, stopped = [], None, False
    for record in records:
        mode, ident = _mode(record), _ident(record)
        if stopped:
            failures.append(ident)
        elif mode.startswith("stop-times-"):
            if _count("attempt#" + ident) <= int(mode.rsplit("-", 1)[1]):
                stopped = True
                failures.append(ident)
        elif mode.startswith("sleep:"):
            time.sleep(float(mode.split(":")[1]))
        elif mode == "error":
            error = error or "poison record"
        elif mode.startswith("error-times-"):
            if _count("attempt#" + ident) <= int(mode.rsplit("-", 1)[1]):
                error = error or "flaky record"
        elif mode.startswith("report-times-"):
            if _count("attempt#" + ident) <= int(mode.rsplit("-", 1)[1]):
                failures.append(ident)
        elif mode == "report-bogus-once":
            if _count("attempt#" + ident) <= 1:
                failures.append("not-in-this-batch")
    ctx = {
        "function_name": context.function_name,
        "aws_request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
    _ddb.put_item(TableName=_SINK, Item={
        "pk": {"S": "call#%06d" % call},
        "event": {"S": json.dumps(event)},
        "context": {"S": json.dumps(ctx)},
        "env": {"S": json.dumps({k: os.environ.get(k) for k in _ENV})},
        "started": {"N": repr(started)},
        "ended": {"N": repr(time.time())},
        "failed": {"BOOL": error is not None},
        "failures": {"S": json.dumps(failures)},
    })
    print("handled %d records" % len(records))
    if error:
        raise RuntimeError(error)
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failures]}
'''

CANARY = "canary-7f3a-item-value"


# -- helpers ---------------------------------------------------------------------------------
def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def _clients(endpoint: str, region: str):
    def make(service: str):
        return boto3.client(service, endpoint_url=endpoint, region_name=region)

    return make


def _wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def _table(aws, name: str, stream: str | None = "NEW_AND_OLD_IMAGES") -> str | None:
    ddb = aws("dynamodb")
    kwargs = {}
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    desc = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **kwargs,
    )["TableDescription"]
    return desc.get("LatestStreamArn")


def _function(aws, name: str, sink: str, *, files=None, handler="recorder.handler", env=None, timeout=10) -> str:
    iam = aws("iam")
    try:
        role = iam.get_role(RoleName="lambda-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    variables = {"SINK_TABLE": sink, **(env or {})}
    return aws("lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler=handler,
        Code={"ZipFile": _zip(files or {"recorder.py": RECORDER})},
        Timeout=timeout,
        Environment={"Variables": variables},
    )["FunctionArn"]


def _calls(aws, sink: str) -> list[dict]:
    """Every invocation the recorder saw, in call order."""
    items = aws("dynamodb").scan(TableName=sink, ConsistentRead=True)["Items"]
    calls = []
    for item in sorted(items, key=lambda i: i["pk"]["S"]):
        if not item["pk"]["S"].startswith("call#"):
            continue
        calls.append(
            {
                "event": json.loads(item["event"]["S"]),
                "context": json.loads(item["context"]["S"]),
                "env": json.loads(item["env"]["S"]),
                "started": float(item["started"]["N"]),
                "ended": float(item["ended"]["N"]),
                "failed": item["failed"]["BOOL"],
                "failures": json.loads(item.get("failures", {}).get("S", "[]")),
            }
        )
    return calls


def _stream_batches(calls) -> list[list[str]]:
    return [[r["dynamodb"]["Keys"]["pk"]["S"] for r in c["event"]["Records"]] for c in calls]


def _put(aws, table: str, key: str, mode: str = "", **extra: str) -> None:
    item = {"pk": {"S": key}, "v": {"S": CANARY}}
    if mode:
        item["mode"] = {"S": mode}
    item.update({k: {"S": v} for k, v in extra.items()})
    aws("dynamodb").put_item(TableName=table, Item=item)


def _enable(aws, uuid: str) -> None:
    aws("lambda").update_event_source_mapping(UUID=uuid, Enabled=True)


def _queue(aws, name: str, **attributes: str) -> tuple[str, str]:
    sqs = aws("sqs")
    if name.endswith(".fifo"):
        attributes["FifoQueue"] = "true"
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _send(aws, url: str, body: dict, group: str | None = None, **kwargs) -> str:
    if group is not None:
        kwargs.update(MessageGroupId=group, MessageDeduplicationId=json.dumps(body, sort_keys=True))
    return aws("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(body), **kwargs)["MessageId"]


def _drain_queue(aws, url: str) -> list[dict]:
    sqs = aws("sqs")
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _sequence_numbers(aws, stream_arn: str) -> list[tuple[str, str]]:
    streams = aws("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=it["ShardIterator"])["Records"]
    return [(r["dynamodb"]["Keys"]["pk"]["S"], r["dynamodb"]["SequenceNumber"]) for r in records]


# -- 1. stream mapping: shape, Enabled, nothing lost -------------------------------------------
def test_stream_mapping_delivers_aws_shaped_records_only_while_enabled(endpoint):
    # A region other than the default: mappings of every region are polled, records carry theirs.
    aws = _clients(endpoint, "eu-west-1")
    stream_arn = _table(aws, "orders")
    _table(aws, "sink", stream=None)
    _function(aws, "rec", "sink")
    mapping = aws("lambda").create_event_source_mapping(
        FunctionName="rec", EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON", Enabled=False
    )
    assert mapping["State"] == "Disabled"

    # WHEN items change while the mapping is disabled
    for key in ("k1", "k2", "k3", "k4"):
        _put(aws, "orders", key)
    _put(aws, "orders", "k1", extra="changed")
    aws("dynamodb").delete_item(TableName="orders", Key={"pk": {"S": "k2"}})
    time.sleep(0.5)  # ten poll intervals

    # THEN nothing is invoked, and the stream keeps every record (moto's own hook would empty it)
    assert _calls(aws, "sink") == []
    assert len(_sequence_numbers(aws, stream_arn)) == 6

    # WHEN the mapping is enabled, THEN every record arrives, in order, in Lambda's shape
    _enable(aws, mapping["UUID"])
    calls = _wait_for(
        lambda: (c := _calls(aws, "sink")) and sum(len(x["event"]["Records"]) for x in c) >= 6 and c,
        what="6 records delivered",
    )
    records = [r for c in calls for r in c["event"]["Records"]]
    assert [r["eventName"] for r in records] == ["INSERT"] * 4 + ["MODIFY", "REMOVE"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["k1", "k2", "k3", "k4", "k1", "k2"]
    assert [r["dynamodb"]["SequenceNumber"] for r in records] == [s for _, s in _sequence_numbers(aws, stream_arn)]
    now = time.time()
    for r in records:
        assert set(r) == {"eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb", "eventSourceARN"}
        assert r["eventVersion"] == "1.1"
        assert r["eventSource"] == "aws:dynamodb"
        assert r["awsRegion"] == "eu-west-1"
        assert r["eventSourceARN"] == stream_arn
        d = r["dynamodb"]
        assert isinstance(d["ApproximateCreationDateTime"], (int, float))
        assert now - 60 < d["ApproximateCreationDateTime"] <= now
        assert isinstance(d["SequenceNumber"], str) and isinstance(d["SizeBytes"], int)
        assert d["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert ("NewImage" in d) == (r["eventName"] != "REMOVE")
        assert ("OldImage" in d) == (r["eventName"] != "INSERT")
    assert records[4]["dynamodb"]["NewImage"]["extra"] == {"S": "changed"}
    assert "extra" not in records[4]["dynamodb"]["OldImage"]
    # the function ran in the mapping's region with its own identity
    assert calls[0]["env"]["AWS_REGION"] == "eu-west-1"
    assert calls[0]["context"]["function_name"] == "rec"
    # and the stream still holds every record afterwards
    assert len(_sequence_numbers(aws, stream_arn)) == 6


# -- 2. starting position and batch size ----------------------------------------------------------
def test_stream_latest_starts_after_creation_and_batch_size_is_honoured(aws):
    stream_arn = _table(aws, "orders")
    _table(aws, "sink_latest", stream=None)
    _table(aws, "sink_trim", stream=None)
    _function(aws, "latest", "sink_latest")
    _function(aws, "trim", "sink_trim")
    for key in ("old1", "old2", "old3"):
        _put(aws, "orders", key)
    lam = aws("lambda")
    latest = lam.create_event_source_mapping(
        FunctionName="latest", EventSourceArn=stream_arn, StartingPosition="LATEST", BatchSize=2, Enabled=False
    )
    trim = lam.create_event_source_mapping(
        FunctionName="trim", EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON", BatchSize=3, Enabled=False
    )
    for key in ("new1", "new2", "new3", "new4", "new5"):
        _put(aws, "orders", key)
    _enable(aws, latest["UUID"])
    _enable(aws, trim["UUID"])

    batches_latest = _wait_for(
        lambda: (b := _stream_batches(_calls(aws, "sink_latest"))) and sum(map(len, b)) >= 5 and b, what="LATEST"
    )
    batches_trim = _wait_for(
        lambda: (b := _stream_batches(_calls(aws, "sink_trim"))) and sum(map(len, b)) >= 8 and b, what="TRIM_HORIZON"
    )
    assert batches_latest == [["new1", "new2"], ["new3", "new4"], ["new5"]]
    assert batches_trim == [["old1", "old2", "old3"], ["new1", "new2", "new3"], ["new4", "new5"]]


# -- 3. stream error handling ----------------------------------------------------------------------
def _stream_setup(aws, **mapping_kwargs) -> tuple[str, str]:
    stream_arn = _table(aws, "orders")
    _table(aws, "sink", stream=None)
    _function(aws, "rec", "sink")
    mapping = aws("lambda").create_event_source_mapping(
        FunctionName="rec", EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON", Enabled=False, **mapping_kwargs
    )
    return stream_arn, mapping["UUID"]


def test_stream_reported_item_failure_retries_from_that_sequence_number(aws):
    _, uuid = _stream_setup(aws, BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    for key in ("k1", "k2", "k3", "k4", "k5"):
        _put(aws, "orders", key, "report-times-1" if key == "k3" else "")
    _enable(aws, uuid)
    calls = _wait_for(lambda: (c := _calls(aws, "sink")) and len(c) >= 2 and c, what="a retry")
    time.sleep(0.3)  # nothing else comes
    assert _stream_batches(_calls(aws, "sink")) == [["k1", "k2", "k3", "k4", "k5"], ["k3", "k4", "k5"]]
    assert not any(c["failed"] for c in calls)


def test_stream_unknown_item_identifier_fails_the_whole_batch(aws):
    _, uuid = _stream_setup(aws, BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    for key in ("k1", "k2", "k3"):
        _put(aws, "orders", key, "report-bogus-once" if key == "k2" else "")
    _enable(aws, uuid)
    _wait_for(lambda: len(_calls(aws, "sink")) >= 2, what="a retry")
    time.sleep(0.3)
    assert _stream_batches(_calls(aws, "sink")) == [["k1", "k2", "k3"], ["k1", "k2", "k3"]]


def test_stream_function_error_is_retried_not_dropped(aws):
    _, uuid = _stream_setup(aws, BatchSize=10)  # MaximumRetryAttempts unset: retry until it works
    for key in ("k1", "k2", "k3"):
        _put(aws, "orders", key, "error-times-2" if key == "k2" else "")
    _enable(aws, uuid)
    _wait_for(lambda: len(_calls(aws, "sink")) >= 3, what="two retries")
    _put(aws, "orders", "k4")
    calls = _wait_for(lambda: (c := _calls(aws, "sink")) and len(c) >= 4 and c, what="the next record")
    assert _stream_batches(calls) == [["k1", "k2", "k3"]] * 3 + [["k4"]]
    assert [c["failed"] for c in calls] == [True, True, False, False]


def test_stream_retries_exhausted_send_the_batch_description_to_the_on_failure_queue(aws):
    failures_url, failures_arn = _queue(aws, "failures")
    stream_arn, uuid = _stream_setup(
        aws,
        BatchSize=10,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )
    for key in ("k1", "k2", "k3"):
        _put(aws, "orders", key, "error" if key == "k2" else "")
    _enable(aws, uuid)
    _wait_for(lambda: len(_calls(aws, "sink")) >= 2, what="one retry")
    _put(aws, "orders", "k4")  # the stream is not stuck behind the poison batch
    calls = _wait_for(lambda: (c := _calls(aws, "sink")) and len(c) >= 3 and c, what="the next record")
    assert _stream_batches(calls) == [["k1", "k2", "k3"], ["k1", "k2", "k3"], ["k4"]]

    bodies = _wait_for(lambda: _drain_queue(aws, failures_url), what="the invocation record")
    assert len(bodies) == 1
    record = bodies[0]
    seqs = dict(_sequence_numbers(aws, stream_arn))
    info = record["DDBStreamBatchInfo"]
    assert info["batchSize"] == 3
    assert info["startSequenceNumber"] == seqs["k1"] and info["endSequenceNumber"] == seqs["k3"]
    assert info["streamArn"] == stream_arn and info["shardId"].startswith("shardId-")
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestContext"]["functionArn"].endswith(":function:rec")
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert "Records" not in record and CANARY not in json.dumps(record)  # metadata only, no item data


def test_stream_bisect_isolates_the_failing_record(aws):
    failures_url, failures_arn = _queue(aws, "failures")
    stream_arn, uuid = _stream_setup(
        aws,
        BatchSize=10,
        MaximumRetryAttempts=0,
        BisectBatchOnFunctionError=True,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )
    for key in ("k1", "k2", "k3", "k4"):
        _put(aws, "orders", key, "error" if key == "k3" else "")
    _enable(aws, uuid)
    calls = _wait_for(lambda: (c := _calls(aws, "sink")) and len(c) >= 5 and c, what="bisection")
    assert _stream_batches(calls) == [["k1", "k2", "k3", "k4"], ["k1", "k2"], ["k3", "k4"], ["k3"], ["k4"]]
    bodies = _wait_for(lambda: _drain_queue(aws, failures_url), what="the invocation record")
    k3 = dict(_sequence_numbers(aws, stream_arn))["k3"]
    assert [b["DDBStreamBatchInfo"]["batchSize"] for b in bodies] == [1]
    assert bodies[0]["DDBStreamBatchInfo"]["startSequenceNumber"] == k3 == bodies[0]["DDBStreamBatchInfo"]["endSequenceNumber"]


# -- 4. SQS ------------------------------------------------------------------------------------------
def _sqs_setup(aws, url_arn: tuple[str, str], timeout: int = 1, **mapping_kwargs) -> str:
    # AWS requires the queue's visibility timeout to be at least the function's timeout
    _table(aws, "sink", stream=None)
    _function(aws, "rec", "sink", timeout=timeout)
    return aws("lambda").create_event_source_mapping(
        FunctionName="rec", EventSourceArn=url_arn[1], Enabled=False, **mapping_kwargs
    )["UUID"]


def _deliveries(calls) -> list[dict]:
    return [dict(r, _call=i) for i, c in enumerate(calls) for r in c["event"]["Records"]]


def test_sqs_fifo_keeps_group_order_and_redelivers_only_reported_failures(aws):
    url, arn = _queue(aws, "in.fifo", VisibilityTimeout="1")
    uuid = _sqs_setup(aws, (url, arn), BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    for name in ("a1", "a2", "a3"):
        _send(aws, url, {"id": name}, group="A",
              MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}})
    for name in ("b1", "b2", "b3"):
        _send(aws, url, {"id": name, "mode": "report-times-1" if name == "b2" else ""}, group="B")
    _enable(aws, uuid)
    # sent while the mapping is enabled: moto's own send-time invocation would receive it too
    _send(aws, url, {"id": "a4"}, group="A")

    deliveries = _wait_for(
        lambda: (d := _deliveries(_calls(aws, "sink"))) and len(d) >= 8 and d, timeout=15, what="redelivery of b2"
    )
    ids = [json.loads(d["body"])["id"] for d in deliveries]
    assert sorted(ids) == ["a1", "a2", "a3", "a4", "b1", "b2", "b2", "b3"]
    first = [i for n, i in enumerate(ids) if i not in ids[:n]]
    assert [i for i in first if i[0] == "a"] == ["a1", "a2", "a3", "a4"]
    assert [i for i in first if i[0] == "b"] == ["b1", "b2", "b3"]
    b2 = [d for d in deliveries if json.loads(d["body"])["id"] == "b2"]
    assert [d["attributes"]["ApproximateReceiveCount"] for d in b2] == ["1", "2"]
    assert b2[0]["messageId"] == b2[1]["messageId"]
    assert all(d["attributes"]["ApproximateReceiveCount"] == "1" for d in deliveries if d not in b2)
    # Lambda's SQS event shape
    d = deliveries[0]
    assert set(d) - {"_call"} == {
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
        "eventSource", "eventSourceARN", "awsRegion",
    }
    assert d["eventSource"] == "aws:sqs" and d["eventSourceARN"] == arn and d["awsRegion"] == "us-east-1"
    assert set(d["attributes"]) == {
        "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
        "SequenceNumber", "MessageGroupId", "MessageDeduplicationId",
    }
    assert all(isinstance(v, str) for v in d["attributes"].values())
    a1 = next(x for x in deliveries if json.loads(x["body"])["id"] == "a1")
    assert a1["attributes"]["MessageGroupId"] == "A"
    assert a1["messageAttributes"]["kind"]["stringValue"] == "test"
    assert a1["messageAttributes"]["kind"]["dataType"] == "String"
    # everything processed is gone from the queue
    _wait_for(
        lambda: aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        ["ApproximateNumberOfMessages"] == "0",
        what="an empty queue",
    )


def test_sqs_fifo_group_with_reported_failures_is_applied_in_order_across_visibility_timeouts(aws):
    """A FIFO function that stops at a failure reports that message and the rest of the batch; Lambda
    deletes the others, and the reported ones come back after the visibility timeout, before
    anything later of their group. Two failures in a group of 12: applied 0..11 in order.

    AWS: "Handling errors for an SQS event source in Lambda" (with FIFO queues, stop at the first
    failure and return it and all unprocessed messages in batchItemFailures)
    https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html and
    "FIFO queue delivery logic in Amazon SQS"
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html
    """
    url, arn = _queue(aws, "order.fifo", VisibilityTimeout="1")
    uuid = _sqs_setup(aws, (url, arn), BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    for n in range(12):
        _send(aws, url, {"id": n, "mode": "stop-times-1" if n in (3, 8) else ""}, group="G")
    _enable(aws, uuid)

    def applied():
        out = []
        for call in _calls(aws, "sink"):
            failed = set(call["failures"])
            out += [json.loads(r["body"])["id"] for r in call["event"]["Records"] if r["messageId"] not in failed]
        return out

    order = _wait_for(lambda: (a := applied()) and len(a) >= 12 and a, timeout=20, what="12 applied messages")
    assert order == list(range(12))
    batches = [[json.loads(r["body"])["id"] for r in c["event"]["Records"]] for c in _calls(aws, "sink")]
    assert batches == [list(range(10)), list(range(3, 12)), list(range(8, 12))]


def test_sqs_function_error_redelivers_after_visibility_timeout_then_dead_letters(aws):
    dlq_url, dlq_arn = _queue(aws, "dlq.fifo")
    url, arn = _queue(
        aws,
        "work.fifo",
        VisibilityTimeout="1",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
    )
    uuid = _sqs_setup(aws, (url, arn), BatchSize=1)
    _send(aws, url, {"id": "poison", "mode": "error"}, group="P")
    _send(aws, url, {"id": "flaky", "mode": "error-times-1"}, group="F")
    _enable(aws, uuid)

    dead = _wait_for(lambda: _drain_queue(aws, dlq_url), timeout=15, what="the dead-letter queue")
    assert [b["id"] for b in dead] == ["poison"]
    deliveries = _deliveries(_calls(aws, "sink"))
    poison = [d for d in deliveries if json.loads(d["body"])["id"] == "poison"]
    flaky = [d for d in deliveries if json.loads(d["body"])["id"] == "flaky"]
    assert [d["attributes"]["ApproximateReceiveCount"] for d in poison] == ["1", "2"]
    assert [d["attributes"]["ApproximateReceiveCount"] for d in flaky] == ["1", "2"]
    calls = _calls(aws, "sink")
    starts = [c["started"] for c in calls if json.loads(c["event"]["Records"][0]["body"])["id"] == "poison"]
    assert starts[1] - starts[0] >= 0.9  # it came back only after the visibility timeout
    attrs = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_sqs_batch_that_times_out_comes_back_while_other_groups_go_on(aws):
    """A function that times out on an SQS batch has failed it: nothing of the batch is deleted,
    the messages come back after the visibility timeout and, after ``maxReceiveCount`` receives,
    go to the dead-letter queue; other message groups are processed meanwhile ("Using Lambda with
    Amazon SQS", https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html; "Configuring
    function timeout", https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html).
    The runtime runs a mapping's batches in one loop: one batch's timeout must stop only that one."""
    dlq_url, dlq_arn = _queue(aws, "dlq.fifo")
    url, arn = _queue(aws, "work.fifo", VisibilityTimeout="2",
                      RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    uuid = _sqs_setup(aws, (url, arn), timeout=1, BatchSize=1)
    _send(aws, url, {"id": "slow", "mode": "sleep:3"}, group="S")
    for n in range(3):
        _send(aws, url, {"id": f"quick{n}"}, group="Q")
    _enable(aws, uuid)

    dead = _wait_for(lambda: _drain_queue(aws, dlq_url), timeout=20, what="the dead-letter queue")
    assert [b["id"] for b in dead] == ["slow"]
    quick = [json.loads(d["body"])["id"] for d in _deliveries(_calls(aws, "sink"))]
    assert quick == ["quick0", "quick1", "quick2"]  # each once, in order, while "slow" timed out
    logs = aws("logs")
    stream = logs.describe_log_streams(logGroupName="/aws/lambda/rec")["logStreams"]
    text = "\n".join(e["message"] for s in stream
                     for e in logs.get_log_events(logGroupName="/aws/lambda/rec", logStreamName=s["logStreamName"])["events"])
    assert text.count("Task timed out after 1.00 seconds") == 2


def test_sqs_batch_in_flight_when_its_mapping_is_disabled_finishes_and_is_deleted(aws):
    """Disabling a mapping stops new receives; an invocation already running completes, and Lambda
    deletes its messages ("UpdateEventSourceMapping", Enabled: "Set to false to pause polling and
    invocation", https://docs.aws.amazon.com/lambda/latest/api/API_UpdateEventSourceMapping.html)."""
    url, arn = _queue(aws, "work.fifo", VisibilityTimeout="30")
    uuid = _sqs_setup(aws, (url, arn), timeout=10, BatchSize=1)
    _send(aws, url, {"id": "a1", "mode": "sleep:2"}, group="A")
    _send(aws, url, {"id": "a2"}, group="A")
    _enable(aws, uuid)
    sqs = aws("sqs")
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    _wait_for(lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
              ["ApproximateNumberOfMessagesNotVisible"] == "1", timeout=15, what="a1 in flight")

    aws("lambda").update_event_source_mapping(UUID=uuid, Enabled=False)
    _wait_for(lambda: len(_calls(aws, "sink")) == 1, timeout=10, what="a1 to finish")
    time.sleep(1.0)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    assert attrs == {"ApproximateNumberOfMessages": "1", "ApproximateNumberOfMessagesNotVisible": "0"}  # a2 waits
    assert [json.loads(d["body"])["id"] for d in _deliveries(_calls(aws, "sink"))] == ["a1"]


def test_sqs_fifo_groups_run_concurrently_and_one_group_never_does(aws):
    SETTINGS.sqs_concurrency = 4
    url, arn = _queue(aws, "par.fifo", VisibilityTimeout="30")
    uuid = _sqs_setup(aws, (url, arn), timeout=10, BatchSize=1)
    for group in "ABCD":
        for n in (1, 2):
            _send(aws, url, {"id": f"{group}{n}", "mode": "sleep:0.8"}, group=group)
    _enable(aws, uuid)
    calls = _wait_for(lambda: (c := _calls(aws, "sink")) and len(c) >= 8 and c, timeout=20, what="8 calls")
    spans = [(json.loads(c["event"]["Records"][0]["body"])["id"], c["started"], c["ended"]) for c in calls]
    overlapping = max(sum(1 for _, s, e in spans if s <= t < e) for _, t, _ in spans)
    assert overlapping >= 2
    for group in "ABCD":
        mine = sorted((s, e, i) for i, s, e in spans if i[0] == group)
        assert [i for _, _, i in mine] == [f"{group}1", f"{group}2"]
        assert mine[0][1] <= mine[1][0]  # the second waited for the first


# -- 5. environment, endpoint, nested handler, code updates ------------------------------------
NESTED_V1 = '''
import importlib.util
import os

import boto3


def handler(event, context):
    # no endpoint given: boto3 must find the sandbox through AWS_ENDPOINT_URL
    boto3.client("dynamodb").put_item(
        TableName=os.environ["SINK_TABLE"], Item={"pk": {"S": "v1:" + context.aws_request_id}})
    return {
        "version": 1,
        "greeting": os.environ.get("GREETING"),
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "region": os.environ.get("AWS_REGION"),
        "function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "memory": context.memory_limit_in_mb,
        "remaining": context.get_remaining_time_in_millis(),
        "arn": context.invoked_function_arn,
        "runbook_lib": importlib.util.find_spec("runbook_lib") is not None,
        "moto": importlib.util.find_spec("moto") is not None,
        "cwd_is_code": os.path.isfile("pkg/sub/mod.py"),
    }
'''

NESTED_V2 = '''
import os


def handler(event, context):
    return {"version": 2, "greeting": os.environ.get("GREETING")}
'''


def _nested_zip(source: str) -> bytes:
    return _zip({"pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/sub/mod.py": source})


def _invoke(aws, name: str, event: dict | None = None, **kwargs) -> tuple[dict, str | None, dict]:
    out = aws("lambda").invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **kwargs)
    return json.loads(out["Payload"].read() or b"null"), out.get("FunctionError"), out


def test_function_sees_its_environment_and_the_sandbox_endpoint_and_code_updates(aws, endpoint):
    _table(aws, "sink", stream=None)
    arn = _function(
        aws, "nested", "sink", files={"pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/sub/mod.py": NESTED_V1},
        handler="pkg.sub.mod.handler", env={"GREETING": "hello"},
    )
    payload, error, _ = _invoke(aws, "nested")
    assert error is None, payload
    assert payload["version"] == 1 and payload["greeting"] == "hello"
    assert payload["endpoint"] == endpoint and payload["region"] == "us-east-1"
    assert payload["function"] == "nested" and payload["memory"] == "128"
    assert 0 < payload["remaining"] <= 10_000
    assert payload["arn"].startswith(arn)
    assert payload["cwd_is_code"]
    # only what the Lambda Python runtime provides is importable besides the zip
    assert payload["runbook_lib"] is False and payload["moto"] is False
    keys = [i["pk"]["S"] for i in aws("dynamodb").scan(TableName="sink")["Items"]]
    assert len(keys) == 1 and keys[0].startswith("v1:")

    # WHEN the code changes, THEN the next invocation runs the new code
    aws("lambda").update_function_code(FunctionName="nested", ZipFile=_nested_zip(NESTED_V2))
    payload, error, _ = _invoke(aws, "nested")
    assert (payload, error) == ({"version": 2, "greeting": "hello"}, None)
    # WHEN the environment changes, THEN the next invocation sees it
    aws("lambda").update_function_configuration(
        FunctionName="nested", Environment={"Variables": {"SINK_TABLE": "sink", "GREETING": "bonjour"}}
    )
    payload, error, _ = _invoke(aws, "nested")
    assert (payload, error) == ({"version": 2, "greeting": "bonjour"}, None)


FAILING = '''
import time


def handler(event, context):
    if event.get("raise"):
        raise ValueError("bad input")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"ok": True}
'''


def test_invoke_reports_errors_timeouts_and_import_failures_as_function_errors(aws):
    _function(aws, "fails", "unused", files={"app.py": FAILING}, handler="app.handler", timeout=1)
    payload, error, _ = _invoke(aws, "fails", {"raise": True})
    assert error == "Unhandled"
    assert payload["errorType"] == "ValueError" and payload["errorMessage"] == "bad input"
    assert payload["stackTrace"]

    started = time.monotonic()
    payload, error, _ = _invoke(aws, "fails", {"sleep": 5})
    assert time.monotonic() - started < 4
    assert error == "Unhandled" and payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in payload["errorMessage"]
    payload, error, _ = _invoke(aws, "fails", {})  # a fresh worker after the timeout
    assert (payload, error) == ({"ok": True}, None)

    _function(aws, "broken", "unused", files={"app.py": FAILING}, handler="nowhere.handler")
    payload, error, _ = _invoke(aws, "broken")
    assert error == "Unhandled" and payload["errorType"] == "Runtime.ImportModuleError"


# -- 6. logs -----------------------------------------------------------------------------------------
LOGGING = '''
import logging


def handler(event, context):
    print("hello from the handler")
    logging.getLogger("app").warning("first line\\nsecond line")
    return context.aws_request_id
'''


def test_function_output_and_lambda_report_lines_reach_cloudwatch_logs(aws):
    _function(aws, "talks", "unused", files={"app.py": LOGGING}, handler="app.handler")
    request_id, error, out = _invoke(aws, "talks", LogType="Tail")
    assert error is None
    tail = base64.b64decode(out["LogResult"]).decode()
    assert f"START RequestId: {request_id}" in tail and f"REPORT RequestId: {request_id}" in tail

    messages = _wait_for(
        lambda: [e["message"] for e in aws("logs").filter_log_events(logGroupName="/aws/lambda/talks")["events"]],
        what="log events",
    )
    assert f"START RequestId: {request_id} Version: $LATEST" in messages
    assert "hello from the handler" in messages
    warning = next(m for m in messages if "first line" in m)
    assert warning.startswith("[WARNING]\t") and request_id in warning and warning.endswith("first line\nsecond line")
    assert f"END RequestId: {request_id}" in messages
    report = next(m for m in messages if m.startswith("REPORT"))
    assert f"RequestId: {request_id}" in report and "Duration:" in report and "Memory Size: 128 MB" in report
    streams = aws("logs").describe_log_streams(logGroupName="/aws/lambda/talks")["logStreams"]
    assert len(streams) == 1 and "[$LATEST]" in streams[0]["logStreamName"]


WHERE = '''
def handler(event, context):
    print("logged")
    return {"group": context.log_group_name, "stream": context.log_stream_name}
'''


def _groups(aws) -> list[str]:
    return sorted(g["logGroupName"] for g in aws("logs").describe_log_groups()["logGroups"])


def test_lambda_creates_the_functions_log_group_default_or_its_logging_config(aws):
    """"By default, CloudWatch automatically creates a log group named /aws/lambda/<function name> for
    your function when it's first invoked"; ``LoggingConfig.LogGroup`` sends the logs to another
    group, created if it does not exist, with streams named ``YYYY/MM/DD/<function_name>[<version>]...``
    ("Configuring CloudWatch log groups", AWS Lambda Developer Guide,
    https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-loggroups.html).
    On AWS the role must allow logs:CreateLogGroup; the sandbox does not enforce IAM."""
    # GIVEN two functions and no log group at all
    _function(aws, "plain", "unused", files={"app.py": WHERE}, handler="app.handler")
    lam = aws("lambda")
    role = lam.get_function_configuration(FunctionName="plain")["Role"]
    lam.create_function(
        FunctionName="custom", Runtime="python3.11", Role=role, Handler="app.handler",
        Code={"ZipFile": _zip({"app.py": WHERE})}, LoggingConfig={"LogFormat": "Text", "LogGroup": "/team/custom-logs"},
    )
    assert _groups(aws) == []
    assert lam.get_function(FunctionName="custom")["Configuration"]["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/team/custom-logs"}

    # WHEN each is invoked
    plain, error, _ = _invoke(aws, "plain")
    assert error is None, plain
    custom, error, _ = _invoke(aws, "custom")
    assert error is None, custom

    # THEN each group exists, holds the function's lines, and the function was told its name
    assert plain["group"] == "/aws/lambda/plain" and custom["group"] == "/team/custom-logs"
    assert _groups(aws) == ["/aws/lambda/plain", "/team/custom-logs"]
    for group, stream in (("/aws/lambda/plain", plain["stream"]), ("/team/custom-logs", custom["stream"])):
        messages = _wait_for(
            lambda group=group: [e["message"] for e in aws("logs").filter_log_events(logGroupName=group)["events"]],
            what=f"events in {group}",
        )
        assert "logged" in messages
        assert [s["logStreamName"] for s in aws("logs").describe_log_streams(logGroupName=group)["logStreams"]] == [stream]
    assert "/custom[$LATEST]" in custom["stream"] and "/[$LATEST]" in plain["stream"]

    # AND a changed LoggingConfig takes effect on the next invocation
    lam.update_function_configuration(FunctionName="custom", LoggingConfig={"LogGroup": "/team/moved"})
    assert lam.get_function_configuration(FunctionName="custom")["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/team/moved"}
    moved, error, _ = _invoke(aws, "custom")
    assert error is None and moved["group"] == "/team/moved"
    assert "/team/moved" in _groups(aws)


# -- robustness ----------------------------------------------------------------------------------------
def test_reset_kills_every_worker_and_stops_old_work_quietly(sandbox, aws, caplog):
    # GIVEN a worker kept warm, and a stream mapping retrying a poison batch forever
    _function(aws, "talks", "unused", files={"app.py": LOGGING}, handler="app.handler")
    _invoke(aws, "talks")
    _, uuid = _stream_setup(aws, BatchSize=10)
    _put(aws, "orders", "k1", "error")
    _enable(aws, uuid)
    _wait_for(lambda: len(_calls(aws, "sink")) >= 2, what="retries")
    pids = sandbox.runtime.worker_pids()
    assert len(pids) == 2

    # WHEN the sandbox resets, THEN every worker is gone and nothing failed on the way
    with caplog.at_level(logging.WARNING, logger="runbook_lib.sandbox.lambda_runtime"):
        sandbox.reset()
        assert sandbox.runtime.worker_pids() == []
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        # AND the runtime goes on serving the new state
        _function(aws, "talks", "unused", files={"app.py": LOGGING}, handler="app.handler")
        assert _invoke(aws, "talks")[1] is None
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_binary_keys_are_encoded_once_in_get_records_and_in_the_lambda_event(aws):
    """moto keeps binary key values as base64 text; the sandbox's records hold bytes, as images do."""
    from runbook_lib.sandbox.lambda_events import json_default as _json_default, stream_event_record
    from moto.dynamodb.models import dynamodb_backends
    import json as _json

    ddb = aws("dynamodb")
    ddb.create_table(TableName="bkeys", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "B"}], BillingMode="PAY_PER_REQUEST",
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    ddb.put_item(TableName="bkeys", Item={"pk": {"B": b"\x01\x02"}})
    arn = ddb.describe_table(TableName="bkeys")["Table"]["LatestStreamArn"]
    streams = aws("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    record = streams.get_records(ShardIterator=it)["Records"][0]["dynamodb"]
    assert record["Keys"]["pk"]["B"] == b"\x01\x02" == record["NewImage"]["pk"]["B"]
    table = dynamodb_backends["123456789012"]["us-east-1"].tables["bkeys"]
    event = _json.loads(_json.dumps(stream_event_record(table.stream_shard.items[0], "us-east-1", arn), default=_json_default))
    assert event["dynamodb"]["Keys"]["pk"]["B"] == "AQI=" == event["dynamodb"]["NewImage"]["pk"]["B"]


# -- 7. injected faults: late-resend, applier-crash ------------------------------------------------
def _set_faults(endpoint: str, body: dict) -> dict:
    import urllib.request

    req = urllib.request.Request(endpoint + "/_sandbox/faults", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_late_resend_delivers_a_processed_stream_batch_again_after_the_sqs_dedup_window(aws, endpoint):
    """``late-resend``: a stream batch the function already processed is delivered to it again, and the
    sandbox's SQS clock is moved forward first, past the five-minute deduplication interval: a
    message sent again with the same deduplication id is accepted (not dropped), and its
    ``SentTimestamp`` is that much later.

    AWS: "Using the Amazon SQS message deduplication ID" (a message with a deduplication id that was
    sent successfully is not delivered again within the five-minute deduplication interval)
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/using-messagededuplicationid-property.html
    and "How Lambda processes records from DynamoDB Streams" (a batch is retried until it succeeds
    or the records expire, so a retry can come later than that interval)
    https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html
    """
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="dedup.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]

    def send(body):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId="change-1")
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["SentTimestamp"],
                                  VisibilityTimeout=0)
        return [(m["Body"], int(m["Attributes"]["SentTimestamp"])) for m in got.get("Messages", [])]

    [(_, first_sent)] = send("first")
    assert [b for b, _ in send("again")] == ["first"]  # within five minutes: dropped
    _, uuid = _stream_setup(aws, BatchSize=10)
    _set_faults(endpoint, {"enable": {"late-resend": {"every": 2, "advance": 330, "function": "rec"}}})
    _enable(aws, uuid)
    _put(aws, "orders", "k1")
    _wait_for(lambda: len(_calls(aws, "sink")) >= 1, what="the first batch")
    _put(aws, "orders", "k2")
    calls = _wait_for(lambda: (c := _calls(aws, "sink")) and len(c) >= 3 and c, what="the re-delivery")
    time.sleep(0.3)
    assert _stream_batches(_calls(aws, "sink")) == [["k1"], ["k2"], ["k2"]]
    assert calls[1]["event"]["Records"] == calls[2]["event"]["Records"]
    events = _set_faults(endpoint, {})["events"]["late-resend"]
    assert events == {"sqs_clock_moved_seconds": 330, "batches_resent": 1, "records_resent": 1}
    # the SQS clock moved: the same deduplication id is accepted again, sent 330 s "later"
    delivered = send("again")
    assert [b for b, _ in delivered] == ["first", "again"]
    assert delivered[1][1] - first_sent >= 330_000


def test_applier_crash_kills_the_invocation_after_its_first_write_and_the_batch_comes_back(aws, endpoint):
    """``applier-crash``: the worker dies (SIGKILL) after the function's first DynamoDB write and before
    it returns; Lambda counts a failed invocation (``Runtime.ExitError``), deletes nothing, and the
    messages come back after the visibility timeout, in order, while the write already made stays.

    AWS: "Handling errors for an SQS event source in Lambda" (when an invocation fails, the messages
    become visible again after the visibility timeout)
    https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html and
    "Troubleshoot execution issues in Lambda" (``Runtime.ExitError``: "Runtime exited with error:
    signal: killed") https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-execution.html
    """
    url, arn = _queue(aws, "crash.fifo", VisibilityTimeout="1")
    uuid = _sqs_setup(aws, (url, arn), BatchSize=10)
    for n in range(3):
        _send(aws, url, {"id": n}, group="G")
    _set_faults(endpoint, {"enable": {"applier-crash": {"function": "rec", "rate": 1.0, "times": 1}}})
    _enable(aws, uuid)
    calls = _wait_for(lambda: _calls(aws, "sink"), timeout=15, what="the second delivery")
    # the killed invocation made one write (the call counter) and nothing after it
    counter = aws("dynamodb").get_item(TableName="sink", Key={"pk": {"S": "calls"}}, ConsistentRead=True)["Item"]
    assert counter["n"]["N"] == "2"
    [call] = calls
    records = call["event"]["Records"]
    assert [json.loads(r["body"])["id"] for r in records] == [0, 1, 2]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in records] == ["2", "2", "2"]
    assert _set_faults(endpoint, {})["events"]["applier-crash"] == {"invocations_killed": 1}
    logs = aws("logs")
    lines = [e["message"] for e in logs.filter_log_events(logGroupName="/aws/lambda/rec")["events"]]
    assert any("Runtime exited with error: signal: killed" in line for line in lines)
    assert any("Status: error\tError Type: Runtime.ExitError" in line for line in lines)
    _wait_for(
        lambda: aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        ["ApproximateNumberOfMessagesNotVisible"] == "0",
        what="the batch deleted",
    )


# -- metrics -----------------------------------------------------------------------------------
def _lambda_stats(aws, function: str, metric: str, stat: str) -> list[dict]:
    now = time.time()
    return aws("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName=metric,
        Dimensions=[{"Name": "FunctionName", "Value": function}],
        StartTime=now - 600,
        EndTime=now + 60,
        Period=600,
        Statistics=[stat],
    )["Datapoints"]


def test_invocations_publish_lambda_metrics_with_iterator_age_for_stream_batches(aws):
    """Lambda publishes, per invocation, ``Invocations`` (Count), ``Errors`` (Count, a failed
    invocation) and, for a stream event source mapping, ``IteratorAge`` (Milliseconds): the age of
    the batch's last record when the mapping sent the batch to the function. Namespace
    ``AWS/Lambda``, dimension ``FunctionName``. AWS: "Types of metrics for Lambda functions"
    https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html and "Using
    CloudWatch metrics with Lambda" https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html
    """
    # GIVEN two records, 1.5 s old when the mapping is enabled; the second fails twice
    _, uuid = _stream_setup(aws, BatchSize=10)
    _put(aws, "orders", "k1")
    _put(aws, "orders", "k2", "error-times-2")
    time.sleep(1.5)
    # WHEN the mapping delivers the batch (two failures, then a success)
    _enable(aws, uuid)
    _wait_for(lambda: len(_calls(aws, "sink")) >= 3, what="two retries and a success")
    # THEN three invocations, two errors, three iterator ages of at least the records' age
    [inv] = _wait_for(lambda: _lambda_stats(aws, "rec", "Invocations", "Sum"), what="Invocations")
    assert inv["Sum"] == 3.0 and inv["Unit"] == "Count"
    [err] = _lambda_stats(aws, "rec", "Errors", "Sum")
    assert err["Sum"] == 2.0
    [age] = _lambda_stats(aws, "rec", "IteratorAge", "SampleCount")
    assert age["SampleCount"] == 3.0 and age["Unit"] == "Milliseconds"
    [age_max] = _lambda_stats(aws, "rec", "IteratorAge", "Maximum")
    assert 1000.0 <= age_max["Maximum"] < 60_000.0
    # and a direct Invoke is counted but has no iterator age
    _function(aws, "direct", "sink")
    _invoke(aws, "direct", {"Records": []})
    [direct] = _lambda_stats(aws, "direct", "Invocations", "Sum")
    assert direct["Sum"] == 1.0
    assert _lambda_stats(aws, "direct", "IteratorAge", "Maximum") == []

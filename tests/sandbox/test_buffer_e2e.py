"""The buffer end to end on the sandbox: deploy from infra/, live traffic, restore, replay, compare.

Drives the library as an operator's own code would (no notebooks): hash-only and hash+range
tables, every attribute type, 350 KB items, inserts, updates and deletes while the restore runs.
"""

from __future__ import annotations

import json
import random
import time
import urllib.request

import pytest

from runbook_lib import times
from runbook_lib import buffer, monitor, reconcile, restore
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.sandbox import SETTINGS
from runbook_lib.sandbox.traffic import Traffic, create_demo_table, key_schema, make_item, seed_items

pytestmark = pytest.mark.slow


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(region="us-east-1", endpoint_url=endpoint)


def _deploy(target, source: str, restored: str, **params) -> buffer.BufferStack:
    plan = buffer.plan(target, source_table=source, target_table=restored, parameters=params or None)
    return buffer.deploy(target, plan)


def _scan(ddb, table: str) -> dict[str, dict]:
    items, kwargs = {}, {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        for item in page["Items"]:
            key = json.dumps({k: item[k] for k in ("pk", "sk") if k in item}, sort_keys=True, default=str)
            items[key] = item
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _same(a: dict, b: dict) -> bool:
    return reconcile.item_digest(a) == reconcile.item_digest(b)


@pytest.mark.parametrize(
    "range_key, key_type", [(False, "S"), (True, "S"), (False, "B"), (True, "N")], ids=["hash_S", "hash_range_S", "hash_B", "hash_range_N"]
)
def test_catch_up_replay_converges_to_the_source_item_for_item(aws, target, range_key, key_type):
    SETTINGS.restore_seconds = 2.0
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders", range_key=range_key, key_type=key_type)
    seed_items(ddb, "orders", 90, large_every=30, large_size=350_000)  # three items of 350 KB
    stack = _deploy(target, "orders", "orders-r")
    traffic = Traffic(ddb, "orders", rate=25, key_space=90, large_fraction=0.05, seed=5).start()
    try:
        time.sleep(2.0)
        plan = restore.plan_restore(target, source_table="orders", target_table="orders-r")
        buffer.set_replay_start(target, stack, plan.replay_from)
        restore.start_restore(target, plan, execute=True)
        # two 350 KB items written after T, outside the traffic's keys: only replay can bring them
        schema = key_schema(ddb, "orders")
        for n in (1000, 1001):
            ddb.put_item(TableName="orders", Item=make_item(schema, n, random.Random(n), size=350_000))
        restore.wait_active(target, "orders-r", interval=0.2, progress=lambda p: None)
        buffer.enable_replay(target, stack)
        time.sleep(2.0)  # writes keep coming while replay runs
    finally:
        stats = traffic.stop()
    assert stats.puts and stats.updates and stats.deletes and not stats.errors
    monitor.follow_drain(target, stack, timeout=120, sample_seconds=0.5, quiet_samples=3, require_empty=True,
                         progress=lambda s: None)
    source, restored = _scan(ddb, "orders"), _scan(ddb, "orders-r")
    assert source.keys() == restored.keys()
    assert all(_same(source[k], restored[k]) for k in source)
    assert sum(len(json.dumps(i, default=str)) > 300_000 for i in restored.values()) >= 2
    assert buffer.status(target, stack).dlq_depth == 0


def test_rollback_replay_keeps_state_at_t_for_exactly_the_keys_last_changed_in_the_window(aws, target):
    SETTINGS.restore_seconds = 1.0
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders", range_key=True)
    seed_items(ddb, "orders", 60)
    stack = _deploy(target, "orders", "orders-r")
    time.sleep(1.2)
    # GIVEN writes before T, inside [T, R) and after R
    t = times.parse_time("0s")
    time.sleep(0.3)
    window_keys = [{"pk": {"S": f"k{n // 3:07d}"}, "sk": {"N": str(n % 3)}} for n in range(0, 12)]
    later_keys = window_keys[:4]  # changed in the window and again after R: must not differ
    for key in window_keys:
        ddb.update_item(TableName="orders", Key=key, UpdateExpression="SET version = :v", ExpressionAttributeValues={":v": {"N": "666"}})
    ddb.delete_item(TableName="orders", Key={"pk": {"S": "k0000019"}, "sk": {"N": "0"}})  # a delete in the window
    time.sleep(1.1 - (time.time() % 1))  # R on a whole second after the window
    r = times.parse_time("0s").replace(microsecond=0)
    time.sleep(0.2)
    for key in later_keys:
        ddb.update_item(TableName="orders", Key=key, UpdateExpression="SET version = :v", ExpressionAttributeValues={":v": {"N": "7"}})
    ddb.put_item(TableName="orders", Item={"pk": {"S": "new"}, "sk": {"N": "1"}, "v": {"S": "after R"}})
    time.sleep(1.2)
    # WHEN the table is restored to T and replayed from R
    plan = restore.plan_restore(target, source_table="orders", target_table="orders-r", restore_time=t, replay_from=r)
    assert plan.mode == "rollback"
    buffer.set_replay_start(target, stack, plan.replay_from)
    restore.start_restore(target, plan, execute=True)
    restore.wait_active(target, "orders-r", interval=0.2, progress=lambda p: None)
    buffer.enable_replay(target, stack)
    monitor.follow_drain(target, stack, timeout=60, sample_seconds=0.5, quiet_samples=3, require_empty=True, progress=lambda s: None)
    # THEN exactly the keys last changed in [T, R) differ from the source
    source, restored = _scan(ddb, "orders"), _scan(ddb, "orders-r")
    differing = {k for k in source.keys() | restored.keys() if k not in source or k not in restored or not _same(source[k], restored[k])}
    expected = {json.dumps(k, sort_keys=True) for k in window_keys[4:]} | {json.dumps({"pk": {"S": "k0000019"}, "sk": {"N": "0"}}, sort_keys=True)}
    assert differing == expected
    assert all(restored[json.dumps(k, sort_keys=True)]["version"] == {"N": "0"} for k in window_keys[4:])


def _faults(endpoint: str, body: dict) -> dict:
    request = urllib.request.Request(endpoint + "/_sandbox/faults", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_change_dead_lettered_then_redriven_after_its_key_moved_on_converges(aws, target, endpoint):
    """The poison-redrive fault end to end: K's first change fails until it is dead-lettered (a
    poison body beside it too), K's next change is applied meanwhile, the runbook's redrive step
    moves the DLQ back, and K keeps its newest image while other groups flowed all along.

    Time: on AWS a change reaches the DLQ only after MaxReceiveCount x QueueVisibilityTimeout, which
    the runbook keeps at 300 s or more (here the plan deploys 1 x 300 s), so a redriven message is
    always sent 300 s or more after its change. The test does not wait five minutes: once the stack
    is deployed it cuts the queue's visibility timeout to 2 s, and before the redrive it moves the
    sandbox's SQS clock (``SentTimestamp``) forward by those 300 s, as the late-resend fault does."""
    from runbook_lib.sandbox import sqs_clock
    from runbook_lib.cdc import codec

    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    create_demo_table(ddb, "orders-r", pitr=False, stream=None)
    stack = _deploy(target, "orders", "orders-r", QueueVisibilityTimeout="300", MaxReceiveCount="1", ApplierTimeoutSeconds="30")
    aws("sqs").set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"VisibilityTimeout": "2"})
    key = {"pk": {"S": "k"}}
    _faults(endpoint, {"enable": {"poison-redrive": {"table": "orders-r", "key": codec.canonical_key(key)}}})
    aws("sqs").send_message(QueueUrl=stack.queue_url, MessageBody="{not json", MessageGroupId="poison", MessageDeduplicationId="p1")
    buffer.enable_replay(target, stack)

    # GIVEN K v1 fails (the fault), while another key is applied
    ddb.put_item(TableName="orders", Item={**key, "v": {"N": "1"}})
    _wait(lambda: _faults(endpoint, {})["events"]["poison-redrive"].get("writes_failed"), 60, "K's write to fail")
    ddb.put_item(TableName="orders", Item={"pk": {"S": "good"}, "v": {"N": "1"}})
    _wait(lambda: "Item" in ddb.get_item(TableName="orders-r", Key={"pk": {"S": "good"}}), 60, "the other key")
    # and K v2 waits behind v1 in K's group
    ddb.put_item(TableName="orders", Item={**key, "v": {"N": "2"}})

    # WHEN v1 has been dead-lettered (the cause is then gone) and v2 applied, the DLQ is redriven
    _wait(lambda: buffer.status(target, stack).dlq_depth == 2, 60, "v1 and the poison body in the DLQ")
    _wait(lambda: ddb.get_item(TableName="orders-r", Key=key, ConsistentRead=True).get("Item", {}).get("v") == {"N": "2"},
          60, "K v2 applied after v1 left the group")
    sqs_clock.advance_sqs_clock(buffer.REDRIVE_MIN_SECONDS)
    said: list[str] = []
    result = buffer.redrive_dlq(target, stack, execute=True, progress=said.append)

    # THEN both moved back; v1, now a late message, is applied as K's current source item (v2)
    assert (result.status, result.moved, result.to_move) == ("COMPLETED", 2, 2), said
    _wait(lambda: _late_seen(target, stack), 60, "the redriven change to be applied")
    events = _faults(endpoint, {})["events"]["poison-redrive"]
    assert events["dead_lettered"] >= 1 and events["tasks_started"] == 1 and events["messages_moved"] == 2
    assert ddb.get_item(TableName="orders-r", Key=key, ConsistentRead=True)["Item"]["v"] == {"N": "2"}
    assert ddb.get_item(TableName="orders-r", Key={"pk": {"S": "good"}})["Item"]["v"] == {"N": "1"}


def _late_seen(target, stack) -> bool:
    """Whether the applier has logged a late (re-read) message."""
    from runbook_lib.activity import pipeline_activity

    return pipeline_activity(target, stack)["applier"]["totals"].get("late", 0) >= 1


def _json_lines(logs, group: str) -> list[dict]:
    """The handlers' JSON log lines in ``group`` (other lines, such as Lambda's own, left out)."""
    out = []
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
        for event in page["events"]:
            text = event["message"]
            start = text.find("{")
            if start >= 0:
                try:
                    out.append(json.loads(text[start:]))
                except ValueError:
                    pass
    return out


def _all_log_text(logs, group: str) -> str:
    return "\n".join(e["message"] for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group)
                     for e in page["events"])


def test_one_keys_digest_is_its_group_its_log_field_its_dlq_group_and_its_report_row(aws, target, endpoint, tmp_path):
    """Keys are data too: one key (a canary value) is seen through the real stack as one keyed digest
    only. The forwarder sends it as the MessageGroupId and logs it, the applier logs it when the
    write fails (the poison-redrive fault), the DLQ keeps it as the message's group, and a redacted
    reconciliation shows it as the key of the report row, so the row matches the log line and the DLQ
    message; the key's value appears in no log line and no report file."""
    from runbook_lib.cdc import codec
    from runbook_lib.report import write_reports

    canary = "CANARY-acct-4711-0042"
    key = {"pk": {"S": canary}}
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    create_demo_table(ddb, "orders-r", pitr=False, stream=None)
    stack = _deploy(target, "orders", "orders-r", QueueVisibilityTimeout="300", MaxReceiveCount="1",
                    ApplierTimeoutSeconds="30", LogLevel="DEBUG")
    aws("sqs").set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"VisibilityTimeout": "2"})
    _faults(endpoint, {"enable": {"poison-redrive": {"table": "orders-r", "key": codec.canonical_key(key)}}})
    buffer.enable_replay(target, stack)

    # GIVEN the key's change fails to apply until it is dead-lettered
    ddb.put_item(TableName="orders", Item={**key, "v": {"N": "1"}})
    _wait(lambda: buffer.status(target, stack).dlq_depth == 1, 90, "the change in the DLQ")

    # THEN the digest under the stack's secret is what every place shows
    secret = aws("secretsmanager").get_secret_value(SecretId=stack.key_digest_secret_arn)["SecretString"]
    digest = codec.KeyDigest(secret)(key)
    assert digest != codec.KeyDigest("another-secret-" + "x" * 40)(key)
    # the DLQ message's group: what the forwarder sent as MessageGroupId (SQS keeps it on the move)
    dlq = aws("sqs").receive_message(QueueUrl=stack.dlq_url, AttributeNames=["MessageGroupId"], MaxNumberOfMessages=10,
                                     VisibilityTimeout=60)["Messages"]
    assert [m["Attributes"]["MessageGroupId"] for m in dlq] == [digest]
    logs = aws("logs")
    forwarder_lines = _json_lines(logs, f"/aws/lambda/{stack.forwarder_function_name}")
    applier_lines = _json_lines(logs, f"/aws/lambda/{stack.applier_function_name}")
    assert [line["group"] for line in forwarder_lines if line.get("event") == "record"] == [digest]
    failed = [line for line in applier_lines if line.get("event") == "message_failed"]
    assert failed and {line["group"] for line in failed} == {digest}
    # and the redacted report's row for the key (missing from the target) is that digest
    key_digest = reconcile.load_key_digest(target, stack.key_digest_secret_arn)
    result = reconcile.reconcile(target, "orders", "orders-r", redact_keys=True, key_digest=key_digest,
                                 key_digest_secret_arn=stack.key_digest_secret_arn)
    paths = write_reports(tmp_path, result, {"stack": stack.to_dict()})
    (row,) = result.differences
    assert row.key == row.key_hash == digest and row.kind == reconcile.MISSING
    assert digest in paths.differences.read_text() and digest in paths.html.read_text()
    # and the key's value is nowhere: not in a log line of either function, not in a report file
    for group in (stack.forwarder_function_name, stack.applier_function_name):
        assert canary not in _all_log_text(logs, f"/aws/lambda/{group}")
    for path in (paths.summary, paths.differences, paths.html):
        assert canary not in path.read_text()
    # and the secret's value is in no log line, no report, no stack output
    for group in (stack.forwarder_function_name, stack.applier_function_name):
        assert secret not in _all_log_text(logs, f"/aws/lambda/{group}")
    for path in (paths.summary, paths.differences, paths.html):
        assert secret not in path.read_text()
    assert secret not in json.dumps(stack.to_dict())


def test_a_forwarder_that_cannot_read_its_secret_fails_and_sends_nothing(aws, target):
    """No fallback to an unkeyed digest through the real stack: with the secret gone (GetSecretValue
    answers ResourceNotFoundException, as for a denied read the function gets an error), every
    invocation of the forwarder fails and nothing reaches the queue."""
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    stack = _deploy(target, "orders", "orders-r")
    aws("secretsmanager").delete_secret(SecretId=stack.key_digest_secret_arn, ForceDeleteWithoutRecovery=True)

    ddb.put_item(TableName="orders", Item={"pk": {"S": "CANARY-acct-9"}, "v": {"N": "1"}})

    logs = aws("logs")
    group = f"/aws/lambda/{stack.forwarder_function_name}"
    lines = _wait(lambda: [line for line in _json_lines(logs, group) if line.get("event") == "key_secret_unavailable"]
                  if logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] else [], 60, "the forwarder to fail")
    assert lines[0]["error"] == "ResourceNotFoundException"
    assert buffer.status(target, stack).depth == 0
    assert not any(line.get("event") == "forwarded" for line in _json_lines(logs, group))
    assert "CANARY" not in _all_log_text(logs, group)

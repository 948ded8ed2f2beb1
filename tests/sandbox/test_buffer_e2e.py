"""The buffer end to end on the sandbox: deploy from infra/, live traffic, restore, replay, compare.

Drives the library as an operator's own code would (no notebooks): hash-only and hash+range
tables, every attribute type, 350 KB items, inserts, updates and deletes while the restore runs.
"""

from __future__ import annotations

import json
import random
import time

import pytest

from runbook_lib import buffer, monitor, reconcile, restore
from runbook_lib.config import AwsTarget
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
    t = restore.parse_time("0s")
    time.sleep(0.3)
    window_keys = [{"pk": {"S": f"k{n // 3:07d}"}, "sk": {"N": str(n % 3)}} for n in range(0, 12)]
    later_keys = window_keys[:4]  # changed in the window and again after R: must not differ
    for key in window_keys:
        ddb.update_item(TableName="orders", Key=key, UpdateExpression="SET version = :v", ExpressionAttributeValues={":v": {"N": "666"}})
    ddb.delete_item(TableName="orders", Key={"pk": {"S": "k0000019"}, "sk": {"N": "0"}})  # a delete in the window
    time.sleep(1.1 - (time.time() % 1))  # R on a whole second after the window
    r = restore.parse_time("0s").replace(microsecond=0)
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


def test_poison_message_goes_to_the_dlq_and_other_groups_keep_flowing(aws, target):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    create_demo_table(ddb, "orders-r", pitr=False, stream=None)
    stack = _deploy(target, "orders", "orders-r", QueueVisibilityTimeout="3", MaxReceiveCount="1", ApplierTimeoutSeconds="3")
    sqs = aws("sqs")
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody="{not json", MessageGroupId="poison", MessageDeduplicationId="p1")
    buffer.enable_replay(target, stack)
    ddb.put_item(TableName="orders", Item={"pk": {"S": "good"}, "v": {"N": "1"}})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        st = buffer.status(target, stack)
        if st.dlq_depth == 1 and "Item" in ddb.get_item(TableName="orders-r", Key={"pk": {"S": "good"}}):
            break
        time.sleep(0.5)
    st = buffer.status(target, stack)
    assert st.dlq_depth == 1, st
    assert ddb.get_item(TableName="orders-r", Key={"pk": {"S": "good"}})["Item"]["v"] == {"N": "1"}

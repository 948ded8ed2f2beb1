"""A sustained throttle on the restored table slows replay down and loses nothing.

The restored table is throttled for a while as an under-provisioned table is (fault
``throttle-target``: ``ProvisionedThroughputExceededException`` and ``UnprocessedItems`` beyond a
few write units a second, as the DynamoDB Developer Guide's "DynamoDB read and write operations",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html, counts
them); the applier must back off instead of dead-lettering changes, and once the buffer has
drained the restored table must equal the source, with an empty DLQ.
"""

from __future__ import annotations

import json
import time

import pytest

from runbook_lib import buffer, monitor, reconcile, restore
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.sandbox import SETTINGS, faults
from runbook_lib.sandbox.capacity import THROTTLE_TARGET
from runbook_lib.sandbox.traffic import Traffic, create_demo_table, seed_items

pytestmark = pytest.mark.slow


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(region="us-east-1", endpoint_url=endpoint)


def _scan(ddb, table: str) -> dict[str, str]:
    items, kwargs = {}, {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        for item in page["Items"]:
            items[json.dumps(item["pk"], sort_keys=True, default=str)] = reconcile.item_digest(item)
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_sustained_throttle_on_the_restored_table_slows_replay_and_loses_nothing(aws, target):
    # GIVEN a buffered source with live traffic, restored while it is written to
    SETTINGS.restore_seconds = 1.0
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    seed_items(ddb, "orders", 60)
    stack = buffer.deploy(
        target,
        buffer.plan(target, source_table="orders", target_table="orders-r",
                    parameters={"ApplierTimeoutSeconds": 20, "QueueVisibilityTimeout": 30, "MaxReceiveCount": 10}),
    )
    traffic = Traffic(ddb, "orders", rate=25, key_space=60, seed=9).start()
    try:
        time.sleep(1.5)
        plan = restore.plan_restore(target, source_table="orders", target_table="orders-r")
        buffer.set_replay_start(target, stack, plan.replay_from)
        restore.start_restore(target, plan, execute=True)
        restore.wait_active(target, "orders-r", interval=0.2, progress=lambda p: None)
        time.sleep(2.0)
    finally:
        stats = traffic.stop()
    assert stats.puts and not stats.errors
    # WHEN the restored table takes only 3 write units a second for 12 seconds while replay runs
    faults.enable(THROTTLE_TARGET, rate=3, seconds=12)
    started = time.monotonic()
    buffer.enable_replay(target, stack)
    monitor.follow_drain(target, stack, timeout=300, sample_seconds=0.5, quiet_samples=3, require_empty=True,
                         progress=lambda s: None)
    drained_after = time.monotonic() - started
    # THEN replay was throttled and slowed down...
    injected = faults.snapshot()["events"][THROTTLE_TARGET]
    assert injected.get("throttled requests", 0) + injected.get("throttled batch items", 0) > 0
    assert drained_after > 3.0
    # ...and lost nothing: the restored table equals the source, and nothing went to the DLQ
    assert _scan(ddb, "orders") == _scan(ddb, "orders-r")
    assert buffer.status(target, stack).dlq_depth == 0

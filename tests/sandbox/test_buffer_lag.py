"""The buffer is drained only when the forwarder has caught up with the stream, not when the queue is empty.

Changes reach the queue through the forwarder (the stream event source mapping). While it lags
(failing sends retried, a backlog), the queue can be empty with changes still waiting in the stream.
AWS's measure of that is Lambda's ``IteratorAge`` (with ``Errors`` for failing batches): "Types of
metrics for Lambda functions", AWS Lambda Developer Guide,
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from runbook_lib import buffer, monitor, restore
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.sandbox import SETTINGS
from runbook_lib.sandbox.traffic import create_demo_table, seed_items

pytestmark = pytest.mark.slow


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(region="us-east-1", endpoint_url=endpoint)


def _faults(endpoint: str, body: dict) -> dict:
    request = urllib.request.Request(endpoint + "/_sandbox/faults", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _put(ddb, n: int) -> None:
    ddb.put_item(TableName="orders", Item={"pk": {"S": f"lag{n:05d}"}, "v": {"N": str(n)}})


def test_empty_queue_with_the_forwarder_behind_the_stream_is_not_drained_until_it_catches_up(aws, target, endpoint):
    SETTINGS.restore_seconds = 1.0
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    seed_items(ddb, "orders", 20)
    # retries enough that the failing batch is never given up on (it stays in the stream)
    stack = buffer.deploy(
        target,
        buffer.plan(target, source_table="orders", target_table="orders-r", parameters={"StreamMaximumRetryAttempts": "10000"}),
    )
    time.sleep(1.2)
    plan = restore.plan_restore(target, source_table="orders", target_table="orders-r")
    buffer.set_replay_start(target, stack, plan.replay_from)
    restore.start_restore(target, plan, execute=True)
    restore.wait_active(target, "orders-r", interval=0.2, progress=lambda p: None)
    buffer.enable_replay(target, stack)
    monitor.follow_drain(target, stack, timeout=60, sample_seconds=0.5, quiet_samples=2, require_empty=True, progress=lambda s: None)

    # GIVEN every SQS send of the forwarder fails: it reports the batch's records as failed
    # (ReportBatchItemFailures, not a function error), the mapping retries them, none reaches the queue
    _faults(endpoint, {"enable": {"partial-send": {"rate": 1.0}}})
    for n in range(30):
        _put(ddb, n)
    # WHEN the buffer is sampled until the forwarder is more than the tolerance behind, then again
    deadline = time.monotonic() + 120
    first = buffer.status(target, stack)
    while (first.stream_lag_seconds or 0.0) <= buffer.LAG_TOLERANCE_SECONDS:
        assert time.monotonic() < deadline, f"the forwarder never fell behind: {first.to_dict()}"
        assert first.queue_empty
        time.sleep(2.0)
        first = buffer.status(target, stack)
    time.sleep(3.0)
    second = buffer.status(target, stack)
    # THEN the queue is empty, yet it is not drained: the forwarder falls further behind
    for st in (first, second):
        assert (st.depth, st.in_flight, st.delayed) == (0, 0, 0)
        assert st.drained is False and st.forwarder_behind is True
        assert st.to_dict()["drained"] is False
    assert second.stream_lag_seconds > first.stream_lag_seconds > buffer.LAG_TOLERANCE_SECONDS
    assert second.to_dict()["stream_lag_seconds"] == second.stream_lag_seconds
    assert _faults(endpoint, {"disable": ["partial-send"]})["events"]["partial-send"]["entries_failed"] > 0

    # WHEN the fault is off, the forwarder catches up and writes go on (a new one-minute datapoint)
    deadline = time.monotonic() + 180
    n, st = 100, buffer.status(target, stack)
    while not st.drained:
        assert time.monotonic() < deadline, f"never drained after the fault was off: {st.to_dict()}"
        _put(ddb, n)
        n += 1
        time.sleep(2.0)
        st = buffer.status(target, stack)
    # THEN drained, with every change through the queue into the restored table
    assert st.stream_lag_seconds is not None and st.stream_lag_seconds <= buffer.LAG_TOLERANCE_SECONDS
    assert not st.forwarder_errors and st.stream_failures == 0
    restored = {i["pk"]["S"] for i in ddb.scan(TableName="orders-r", ConsistentRead=True)["Items"]}
    assert {f"lag{k:05d}" for k in range(30)} <= restored

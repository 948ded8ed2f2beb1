"""The sandbox enforces provisioned capacity per second, as DynamoDB does; and the throttle-target fault.

AWS documents followed:
- "DynamoDB read and write operations" (capacity units per item size and read consistency),
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
- "Burst capacity" (up to 300 seconds of unused capacity kept),
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/burst-adaptive-capacity.html
- API reference ``BatchWriteItem`` / ``BatchGetItem`` (throttled requests come back in
  ``UnprocessedItems`` / ``UnprocessedKeys``; only when none fits, the call is
  ``ProvisionedThroughputExceededException``),
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html and
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
- API reference ``TransactWriteItems`` (``TransactionCanceledException``, reason code
  ``ProvisionedThroughputExceeded``),
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
"""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from runbook_lib.sandbox import capacity, faults
from runbook_lib.sandbox.capacity import BURST_SECONDS, THROTTLE_TARGET, _Balance

REGION = "us-east-1"


class _HeldClock:
    """The clock the sandbox's capacity balances read, held still and moved on only by the test.

    The sandbox runs in this process; its balances fill from ``capacity.time.time()``. On the
    wall clock, a test on a busy machine could see a unit come back between two requests it meant
    to be "at once" (CI failed that way); on this clock every balance is exact."""

    def __init__(self) -> None:
        self.now = float(int(time.time()) + 30)  # whole seconds, after the tables a test creates
        # (their capacity counts from creation); the tests move it by binary fractions, kept exact

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    held = _HeldClock()
    monkeypatch.setattr(capacity, "time", held)
    return held


@pytest.fixture
def ddb(endpoint):
    """A DynamoDB client that does not retry, so that every throttle is seen."""
    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION, config=Config(retries={"total_max_attempts": 1})
    )


def _table(ddb, name: str, *, rcu: int | None = None, wcu: int | None = None) -> None:
    kwargs = dict(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    if rcu is None:
        kwargs["BillingMode"] = "PAY_PER_REQUEST"
    else:
        kwargs["BillingMode"] = "PROVISIONED"
        kwargs["ProvisionedThroughput"] = {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}
    ddb.create_table(**kwargs)


def _item(key: str, size: int = 10) -> dict:
    """An item of about ``size`` bytes (attribute names and values)."""
    return {"pk": {"S": key}, "v": {"S": "x" * max(0, size - len(key) - 3)}}


def _throttled(exc: ClientError) -> bool:
    return (
        exc.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
        and exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    )


def _spend_writes(ddb, table: str) -> int:
    """Write 1-unit items until the table throttles: its write balance is then under one unit.
    (A table saves what it does not use from its creation on, so the balance depends on timing.)"""
    for n in range(10_000):
        try:
            ddb.put_item(TableName=table, Item=_item(f"spend{n}"))
        except ClientError as exc:
            assert _throttled(exc)
            return n
    raise AssertionError("never throttled")


def _spend_reads(ddb, table: str) -> None:
    for _ in range(10_000):
        try:
            ddb.get_item(TableName=table, Key={"pk": {"S": "absent"}}, ConsistentRead=True)  # 1 RCU
        except ClientError as exc:
            assert _throttled(exc)
            return
    raise AssertionError("never throttled")


def test_writes_beyond_provisioned_write_capacity_are_throttled_then_admitted_again(ddb, clock):
    # GIVEN a table provisioned with 2 WCU: it starts with a full burst balance (300 s of its
    # capacity), and a 1-WCU write at a time spends it exactly
    _table(ddb, "prov", rcu=5, wcu=2)
    assert _spend_writes(ddb, "prov") == 2 * BURST_SECONDS
    # WHEN another 1-WCU write comes at once, THEN it is refused as AWS refuses it, and not written
    with pytest.raises(ClientError) as err:
        ddb.put_item(TableName="prov", Item=_item("c"))
    assert _throttled(err.value)
    assert "provisioned throughput for the table was exceeded" in err.value.response["Error"]["Message"]
    assert "Item" not in ddb.get_item(TableName="prov", Key={"pk": {"S": "c"}})
    with pytest.raises(ClientError) as err:
        ddb.delete_item(TableName="prov", Key={"pk": {"S": "spend0"}})
    assert _throttled(err.value)
    with pytest.raises(ClientError) as err:
        ddb.update_item(TableName="prov", Key={"pk": {"S": "spend0"}}, UpdateExpression="SET w = :w",
                        ExpressionAttributeValues={":w": {"N": "1"}})
    assert _throttled(err.value)
    # AND a quarter of a second later (half a unit back) still not
    clock.advance(0.25)
    with pytest.raises(ClientError):
        ddb.put_item(TableName="prov", Item=_item("c"))
    # AND half a second after the balance ran out (one unit back) it takes one write, not two
    clock.advance(0.25)
    ddb.put_item(TableName="prov", Item=_item("c"))
    with pytest.raises(ClientError):
        ddb.put_item(TableName="prov", Item=_item("d"))


def test_a_write_costs_one_unit_per_kilobyte_of_the_larger_of_old_and_new_item(ddb, clock):
    _table(ddb, "prov", rcu=5, wcu=5)
    _spend_writes(ddb, "prov")
    clock.advance(0.75)  # 3.75 units back
    with pytest.raises(ClientError):
        ddb.put_item(TableName="prov", Item=_item("big", 3500))  # 3.5 KB: 4 WCU
    clock.advance(0.25)  # 5 units
    ddb.put_item(TableName="prov", Item=_item("big", 3500))  # 1 left
    clock.advance(0.5)  # 3.5
    # overwriting the big item with a small one still costs the old item's 4 WCU: throttled
    with pytest.raises(ClientError) as err:
        ddb.put_item(TableName="prov", Item=_item("big", 10))
    assert _throttled(err.value)
    # a new small item costs 1 WCU: admitted
    ddb.put_item(TableName="prov", Item=_item("small", 10))


def test_reads_cost_one_unit_per_4kb_strongly_consistent_and_half_eventually(ddb, clock):
    _table(ddb, "prov", rcu=2, wcu=10)
    ddb.put_item(TableName="prov", Item=_item("k", 5000))  # 5 KB: 2 RCU strongly, 1 eventually
    key = {"pk": {"S": "k"}}
    _spend_reads(ddb, "prov")
    clock.advance(1.0)  # 2 units back
    ddb.get_item(TableName="prov", Key=key, ConsistentRead=True)  # 2: none left
    with pytest.raises(ClientError) as err:
        ddb.get_item(TableName="prov", Key=key)  # 1 more: throttled
    assert _throttled(err.value)
    clock.advance(0.75)  # 1.5 back
    ddb.get_item(TableName="prov", Key=key)  # eventually consistent: 1, 0.5 left
    with pytest.raises(ClientError) as err:
        ddb.get_item(TableName="prov", Key=key, ConsistentRead=True)  # 2: throttled
    assert _throttled(err.value)


def test_batch_write_returns_the_throttled_part_as_unprocessed_items(ddb, clock):
    _table(ddb, "prov", rcu=5, wcu=3)
    requests = [{"PutRequest": {"Item": _item(f"k{i:02d}")}} for i in range(25)]
    # GIVEN the table's burst balance spent, then 1.25 s of its 3 WCU saved (3.75 units)
    spent = _spend_writes(ddb, "prov")
    clock.advance(1.25)
    # WHEN a batch of 25 one-unit writes meets that balance
    out = ddb.batch_write_item(RequestItems={"prov": requests})
    # THEN the first three are written and the rest come back, unprocessed
    assert out["UnprocessedItems"] == {"prov": requests[3:]}
    assert ddb.scan(TableName="prov", Select="COUNT")["Count"] == spent + 3
    # AND when none of a batch fits, the whole call is throttled
    with pytest.raises(ClientError) as err:
        ddb.batch_write_item(RequestItems={"prov": requests[3:]})
    assert _throttled(err.value)


def test_batch_get_returns_the_throttled_part_as_unprocessed_keys(ddb, clock):
    _table(ddb, "prov", rcu=2, wcu=50)
    keys = [{"pk": {"S": f"k{i:02d}"}} for i in range(25)]
    ddb.batch_write_item(RequestItems={"prov": [{"PutRequest": {"Item": dict(k)}} for k in keys]})
    # GIVEN the burst balance spent, then 1.25 s of its 2 RCU saved (2.5 units)
    _spend_reads(ddb, "prov")
    clock.advance(1.25)
    out = ddb.batch_get_item(RequestItems={"prov": {"Keys": keys, "ConsistentRead": True}})
    assert len(out["Responses"]["prov"]) == 2
    assert out["UnprocessedKeys"] == {"prov": {"Keys": keys[2:], "ConsistentRead": True}}
    with pytest.raises(ClientError) as err:
        ddb.batch_get_item(RequestItems={"prov": {"Keys": keys[2:], "ConsistentRead": True}})
    assert _throttled(err.value)


def test_unused_capacity_is_kept_as_burst(ddb, clock):
    # GIVEN a 2 WCU table, its balance spent, then left idle for 3 seconds (6 units saved)
    _table(ddb, "prov", rcu=1, wcu=2)
    _spend_writes(ddb, "prov")
    clock.advance(3.0)
    # THEN it takes a burst of 6 one-unit writes at once, and no more
    assert _spend_writes(ddb, "prov") == 6


def test_burst_keeps_at_most_300_seconds_of_unused_capacity():
    balance = _Balance(10.0, now=0.0)
    # an hour idle keeps 300 s x 10 units, not 3,600 s
    assert balance.take(3000.0, 10.0, BURST_SECONDS, now=3600.0)
    assert not balance.take(1.0, 10.0, BURST_SECONDS, now=3600.0)


def test_transaction_over_capacity_is_cancelled_with_the_throttled_action_named(ddb, clock):
    _table(ddb, "prov", rcu=5, wcu=2)
    _spend_writes(ddb, "prov")
    clock.advance(1.0)  # 2 units back
    # two transactional 1 KB puts cost 2 x 2 WCU
    with pytest.raises(ClientError) as err:
        ddb.transact_write_items(
            TransactItems=[{"Put": {"TableName": "prov", "Item": _item("a")}}, {"Put": {"TableName": "prov", "Item": _item("b")}}]
        )
    assert err.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in err.value.response["CancellationReasons"]]
    assert reasons == ["None", "ProvisionedThroughputExceeded"]
    # nothing was written, and the first action's units were given back
    assert "Item" not in ddb.get_item(TableName="prov", Key={"pk": {"S": "a"}})
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "prov", "Item": _item("a")}}])


def test_on_demand_tables_are_never_throttled(ddb):
    _table(ddb, "ondemand")
    for i in range(60):
        ddb.put_item(TableName="ondemand", Item=_item(f"k{i}", 3000))
    out = ddb.batch_write_item(RequestItems={"ondemand": [{"PutRequest": {"Item": _item(f"b{i}")}} for i in range(25)]})
    assert out["UnprocessedItems"] == {}


def test_raising_capacity_with_update_table_takes_effect(ddb, clock):
    _table(ddb, "prov", rcu=1, wcu=1)
    _spend_writes(ddb, "prov")
    ddb.update_table(TableName="prov", ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 100})
    clock.advance(0.125)  # 100 units a second: 12.5 back
    assert _spend_writes(ddb, "prov") == 12


def _restored_target(ddb, aws) -> None:
    _table(ddb, "src")
    ddb.update_continuous_backups(TableName="src", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    ddb.put_item(TableName="src", Item=_item("seed"))
    ddb.restore_table_to_point_in_time(SourceTableName="src", TargetTableName="dst", UseLatestRestorableTime=True)
    deadline = time.monotonic() + 20
    while ddb.describe_table(TableName="dst")["Table"]["TableStatus"] != "ACTIVE":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_throttle_target_fault_throttles_writes_to_the_restored_table_for_a_while(ddb, aws, clock):
    # GIVEN an on-demand source restored into an (on-demand) target, and the fault on
    _restored_target(ddb, aws)
    faults.enable(THROTTLE_TARGET, rate=2, seconds=1.5)
    # WHEN writes reach the target faster than 2 units a second
    ddb.put_item(TableName="dst", Item=_item("a"))
    ddb.put_item(TableName="dst", Item=_item("b"))
    with pytest.raises(ClientError) as err:
        ddb.put_item(TableName="dst", Item=_item("c"))
    assert _throttled(err.value)
    clock.advance(0.75)  # 1.5 units back (no burst beyond one second under the fault)
    out = ddb.batch_write_item(RequestItems={"dst": [{"PutRequest": {"Item": _item(f"k{i}")}} for i in range(4)]})
    assert len(out["UnprocessedItems"]["dst"]) == 3
    # THEN the source is not throttled
    for i in range(10):
        ddb.put_item(TableName="src", Item=_item(f"s{i}"))
    # AND once the fault's time is over, the target takes writes at any rate
    clock.advance(1.0)
    for i in range(10):
        ddb.put_item(TableName="dst", Item=_item(f"late{i}"))
    events = faults.snapshot()["events"][THROTTLE_TARGET]
    assert events["throttled requests"] == 1
    assert events["throttled batch items"] == 3


def test_throttle_target_fault_can_name_any_table(ddb, clock):
    _table(ddb, "named")
    _table(ddb, "other")
    faults.enable(THROTTLE_TARGET, rate=1, seconds=30, table="named")
    ddb.put_item(TableName="named", Item=_item("a"))
    with pytest.raises(ClientError) as err:
        ddb.put_item(TableName="named", Item=_item("b"))
    assert _throttled(err.value)
    for i in range(5):
        ddb.put_item(TableName="other", Item=_item(f"o{i}"))


def test_query_and_scan_are_charged_for_the_size_they_read(ddb, clock):
    _table(ddb, "prov", rcu=1, wcu=20)
    for key in "abcdefgh":
        ddb.put_item(TableName="prov", Item=_item(key, 3000))  # 24 KB in all
    key = {":k": {"S": "a"}}
    # GIVEN the burst balance spent, then a second of its 1 RCU saved (1 unit)
    _spend_reads(ddb, "prov")
    clock.advance(1.0)
    # a query of one 3 KB item, eventually consistent: 0.5 RCU of that
    assert len(ddb.query(TableName="prov", KeyConditionExpression="pk = :k", ExpressionAttributeValues=key)["Items"]) == 1
    # a strongly consistent scan of 24 KB: 6 RCU, admitted on the positive balance and charged in full
    assert ddb.scan(TableName="prov", ConsistentRead=True)["Count"] == 8
    # so the table owes 5.5 RCU: the next reads (within the 5.5 s it takes to pay it back) are throttled
    with pytest.raises(ClientError) as err:
        ddb.get_item(TableName="prov", Key={"pk": {"S": "a"}}, ConsistentRead=True)
    assert _throttled(err.value)
    with pytest.raises(ClientError) as err:
        ddb.scan(TableName="prov")
    assert _throttled(err.value)


def test_an_item_over_400_kb_is_refused_as_invalid_not_throttled(ddb, clock):
    """DynamoDB checks a request before it consumes capacity: an item over the 400 KB limit answers
    ValidationException ("Item size has exceeded the maximum allowed size"), whatever the balance
    (DynamoDB developer guide, "Service, account, and table quotas": item size 400 KB)."""
    _table(ddb, "prov", rcu=1, wcu=1)
    _spend_writes(ddb, "prov")
    with pytest.raises(ClientError) as err:
        ddb.put_item(TableName="prov", Item=_item("big", 410 * 1000))
    assert err.value.response["Error"]["Code"] == "ValidationException"

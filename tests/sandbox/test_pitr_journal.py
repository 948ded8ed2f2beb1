"""The sandbox's PITR journal after a large load: a restore at any time in the window gets that
time's state, and the journal costs about the changes it remembers, not copies of moto's objects.

AWS behaviour followed: "Restoring a DynamoDB table to a point in time", Amazon DynamoDB Developer
Guide (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery.Tutorial.html),
and ``RestoreTableToPointInTime`` (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_RestoreTableToPointInTime.html):
any time from ``EarliestRestorableDateTime`` to ``LatestRestorableDateTime`` restores the table's
items as they were then, the items that existed when PITR was enabled included.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import datetime, timezone

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from runbook_lib.sandbox import SETTINGS
from runbook_lib.sandbox.traffic import create_demo_table, key_schema, make_item, make_key, seed_items

ACCOUNT, REGION = "123456789012", "us-east-1"


def _scan_all(ddb, table: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    kwargs = {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        for item in page["Items"]:
            out[item["pk"]["S"]] = item
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _restored(ddb, source: str, target: str, at: datetime) -> dict[str, dict]:
    ddb.restore_table_to_point_in_time(SourceTableName=source, TargetTableName=target, RestoreDateTime=at)
    deadline = time.monotonic() + 60
    while ddb.describe_table(TableName=target)["Table"]["TableStatus"] != "ACTIVE":
        assert time.monotonic() < deadline, f"{target} never became ACTIVE"
        time.sleep(0.05)
    return _scan_all(ddb, target)


def _between() -> datetime:
    time.sleep(0.02)
    at = datetime.now(timezone.utc)
    time.sleep(0.02)
    return at


def _deep_size(obj, shared: set[int], collect: bool = False) -> int:
    """Bytes of Python objects reachable from ``obj``, not counting the objects in ``shared``
    (``collect``: add the objects reached to ``shared``)."""
    seen: set[int] = shared if collect else set(shared)
    total, todo = 0, [obj]
    while todo:
        o = todo.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            todo.extend(o.keys())
            todo.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            todo.extend(o)
        elif hasattr(o, "__dict__") and not isinstance(o, type):
            todo.append(o.__dict__)
    return total


def test_restores_at_several_times_after_a_large_load_return_each_times_state(aws):
    # GIVEN 1,500 items (every 100th of 300 KB) loaded BEFORE PITR is enabled, then PITR on, and
    # three waves of changes (puts, updates, deletes) with a restore point between each
    SETTINGS.restore_seconds = 0.1
    SETTINGS.restorable_lag = 0.0
    ddb = aws("dynamodb")
    create_demo_table(ddb, "big", pitr=False)
    seed_items(ddb, "big", 1500, seed=5, large_every=100, large_size=300_000)
    ddb.update_continuous_backups(TableName="big", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    earliest = ddb.describe_continuous_backups(TableName="big")["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]["EarliestRestorableDateTime"]
    states = {"earliest": (earliest, _scan_all(ddb, "big"))}
    schema = key_schema(ddb, "big")
    rng = random.Random(6)
    seed_items(ddb, "big", 3000, seed=8)  # overwrites keys 0..1499 (large ones too) and adds 1500..2999
    states["loaded"] = (_between(), _scan_all(ddb, "big"))
    for n in range(0, 3000, 7):
        ddb.update_item(TableName="big", Key=make_key(schema, n), UpdateExpression="SET version = :v",
                        ExpressionAttributeValues={":v": {"N": "9"}})
    ddb.put_item(TableName="big", Item=make_item(schema, 5, rng, size=200_000, version=3))
    states["updated"] = (_between(), _scan_all(ddb, "big"))
    for start in range(0, 3000, 250):
        ddb.batch_write_item(RequestItems={"big": [{"DeleteRequest": {"Key": make_key(schema, n)}}
                                                   for n in range(start, start + 250, 10)]})
    states["deleted"] = (_between(), _scan_all(ddb, "big"))
    assert [len(s) for _, s in states.values()] == [1500, 3000, 3000, 2700]

    # WHEN the table is restored to each of those times THEN each restored table holds that state
    for name, (at, expected) in states.items():
        assert _restored(ddb, "big", f"big-{name}", at) == expected, name


def test_journal_holds_each_version_in_about_its_own_size(aws):
    # GIVEN a PITR table loaded with 2,000 items (about 500 bytes of attributes each)
    ddb = aws("dynamodb")
    create_demo_table(ddb, "sized")
    seed_items(ddb, "sized", 2000, seed=9)
    table = dynamodb_backends[ACCOUNT][REGION].tables["sized"]
    items = list(table.items.values())
    json_bytes = sum(len(json.dumps(item.to_json()["Attributes"], default=repr)) for item in items)
    # WHEN the journal's memory is measured (the key values it shares with the table not counted)
    shared = {id(item.hash_key) for item in items} | {id(v) for item in items for v in _key_parts(item.hash_key)}
    journal_bytes = _deep_size(table._pitr_journal, shared)
    # THEN it is within twice the items' own JSON size (a deep copy of moto's objects is about six times)
    assert len(table._pitr_journal) == 2000
    assert journal_bytes < 2 * json_bytes, (journal_bytes, json_bytes)


def _key_parts(value: DynamoType) -> list:
    return [value.__dict__, value.type, value.value]


def test_a_restored_hash_and_range_table_takes_items_of_new_partition_keys(aws):
    # GIVEN a restore of a hash+range table
    SETTINGS.restore_seconds = 0.1
    SETTINGS.restorable_lag = 0.0
    ddb = aws("dynamodb")
    create_demo_table(ddb, "ranged", range_key=True)
    seed_items(ddb, "ranged", 30, seed=1)
    at = _between()
    ddb.restore_table_to_point_in_time(SourceTableName="ranged", TargetTableName="ranged-r", RestoreDateTime=at)
    deadline = time.monotonic() + 60
    while ddb.describe_table(TableName="ranged-r")["Table"]["TableStatus"] != "ACTIVE":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # WHEN items are written under a partition key it does not hold yet, and under one it holds
    new = {"pk": {"S": "new-partition"}, "sk": {"N": "1"}, "v": {"S": "x"}}
    ddb.put_item(TableName="ranged-r", Item=new)
    ddb.batch_write_item(RequestItems={"ranged-r": [{"PutRequest": {"Item": {**new, "sk": {"N": "2"}}}}]})
    ddb.put_item(TableName="ranged-r", Item={"pk": {"S": "k0000000"}, "sk": {"N": "7"}})
    # THEN they are stored as in any table (a replay into a restored table writes such items)
    got = ddb.query(TableName="ranged-r", KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "new-partition"}})["Items"]
    assert [i["sk"]["N"] for i in got] == ["1", "2"]
    assert ddb.scan(TableName="ranged-r", Select="COUNT")["Count"] == 30 + 3


def _wait_active(ddb, table: str) -> None:
    deadline = time.monotonic() + 60
    while ddb.describe_table(TableName=table)["Table"]["TableStatus"] != "ACTIVE":
        assert time.monotonic() < deadline, f"{table} never became ACTIVE"
        time.sleep(0.05)


def test_a_restore_after_a_large_load_costs_only_the_items_changed_since_t(aws):
    # GIVEN a PITR table of 3,000 items, a restore point T, then 30 items changed after T
    SETTINGS.restore_seconds = 0.1
    SETTINGS.restorable_lag = 0.0
    ddb = aws("dynamodb")
    create_demo_table(ddb, "loaded")
    seed_items(ddb, "loaded", 3000, seed=3)
    at = _between()
    schema = key_schema(ddb, "loaded")
    for n in range(0, 3000, 100):
        ddb.update_item(TableName="loaded", Key=make_key(schema, n), UpdateExpression="SET version = :v",
                        ExpressionAttributeValues={":v": {"N": "5"}})
    # WHEN it is restored to T
    ddb.restore_table_to_point_in_time(SourceTableName="loaded", TargetTableName="loaded-r", RestoreDateTime=at)
    _wait_active(ddb, "loaded-r")
    backend = dynamodb_backends[ACCOUNT][REGION]
    source, target = backend.tables["loaded"], backend.tables["loaded-r"]
    # THEN the restored table's own objects (those its source does not hold) cost about the 30
    # changed items, not a second copy of 3,000 items (about 4 KB of moto's objects each)
    source_objects: set[int] = set()
    _deep_size(source.items, source_objects, collect=True)
    own = _deep_size(target.items, source_objects)
    per_item = _deep_size(source.items, set()) / 3000
    assert own < 3000 * 100 + 30 * per_item * 2, (own, per_item)
    # AND it holds T's state
    assert all(item["version"]["N"] == "0" for item in _scan_all(ddb, "loaded-r").values())
    assert len(_scan_all(ddb, "loaded-r")) == 3000


def test_an_update_after_a_restore_changes_only_the_table_it_names(aws):
    # GIVEN a hash table and a hash+range table, each restored right after its load
    SETTINGS.restore_seconds = 0.1
    SETTINGS.restorable_lag = 0.0
    ddb = aws("dynamodb")
    for name, ranged in (("cow", False), ("cow-ranged", True)):
        create_demo_table(ddb, name, range_key=ranged)
        seed_items(ddb, name, 20, seed=4)
        at = _between()
        ddb.restore_table_to_point_in_time(SourceTableName=name, TargetTableName=f"{name}-r", RestoreDateTime=at)
        _wait_active(ddb, f"{name}-r")
        schema = key_schema(ddb, name)
        scan = lambda table: {json.dumps({k: item[k] for k in make_key(schema, 0)}, sort_keys=True): item  # noqa: E731
                              for item in ddb.scan(TableName=table)["Items"]}
        before = scan(name)
        # WHEN UpdateItem changes key 1 on the source, key 2 on the restored table, key 3 on each
        ddb.update_item(TableName=name, Key=make_key(schema, 1), UpdateExpression="SET version = :v",
                        ExpressionAttributeValues={":v": {"N": "11"}})
        ddb.update_item(TableName=f"{name}-r", Key=make_key(schema, 2), UpdateExpression="SET version = :v",
                        ExpressionAttributeValues={":v": {"N": "22"}})
        for table, value in ((name, "33"), (f"{name}-r", "44")):
            ddb.update_item(TableName=table, Key=make_key(schema, 3), UpdateExpression="SET version = :v",
                            ExpressionAttributeValues={":v": {"N": value}})
        # THEN each table shows only its own updates
        source, restored = scan(name), scan(f"{name}-r")
        key = lambda n: json.dumps(make_key(schema, n), sort_keys=True)  # noqa: E731
        assert source[key(1)]["version"]["N"] == "11" and restored[key(1)] == before[key(1)], name
        assert restored[key(2)]["version"]["N"] == "22" and source[key(2)] == before[key(2)], name
        assert (source[key(3)]["version"]["N"], restored[key(3)]["version"]["N"]) == ("33", "44"), name
        assert {k: v for k, v in restored.items() if k not in (key(2), key(3))} == {
            k: v for k, v in before.items() if k not in (key(2), key(3))}, name

"""The sandbox's PITR: state as of a time, AWS's window and errors, and a restore that takes time."""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from runbook_lib.sandbox import SETTINGS
from runbook_lib.sandbox.traffic import create_demo_table, make_item, make_key, seed_items


def _scan_all(ddb, table: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    kwargs = {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        for item in page["Items"]:
            key = repr(sorted((k, repr(v)) for k, v in item.items() if k in ("pk", "sk")))
            out[key] = item
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _wait_active(ddb, table: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = ddb.describe_table(TableName=table)["Table"]
        if desc["TableStatus"] == "ACTIVE":
            return desc
        time.sleep(0.05)
    raise AssertionError(f"{table} never became ACTIVE")


def _batch(ddb, requests: list[dict]) -> None:
    for i in range(0, len(requests), 25):
        assert not ddb.batch_write_item(RequestItems={"orders": requests[i : i + 25]})["UnprocessedItems"]


def _pause() -> datetime:
    """A point in time strictly between two batches of changes."""
    time.sleep(0.05)
    at = datetime.now(timezone.utc)
    time.sleep(0.05)
    return at


@pytest.mark.parametrize("range_key", [False, True], ids=["hash", "hash_range"])
def test_restore_returns_state_at_restore_time_for_every_item(aws, range_key):
    # GIVEN a table with PITR and thousands of items, changed in three waves
    SETTINGS.restore_seconds = 0.2
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders", range_key=range_key)
    seed_items(ddb, "orders", 2000, seed=1)
    t1 = _pause()
    state1 = _scan_all(ddb, "orders")
    schema = [("pk", "S")] + ([("sk", "N")] if range_key else [])
    rng = random.Random(2)
    # version 2 of a quarter of the items (batched, plus single calls for each write path)
    _batch(ddb, [{"PutRequest": {"Item": make_item(schema, n, rng, version=2)}} for n in range(4, 2000, 4)])
    ddb.update_item(TableName="orders", Key=make_key(schema, 0), UpdateExpression="SET version = :v",
                    ExpressionAttributeValues={":v": {"N": "2"}})
    t2 = _pause()
    state2 = _scan_all(ddb, "orders")
    # then delete half of those
    _batch(ddb, [{"DeleteRequest": {"Key": make_key(schema, n)}} for n in range(8, 2000, 8)])
    ddb.delete_item(TableName="orders", Key=make_key(schema, 0))
    t3 = _pause()
    state3 = _scan_all(ddb, "orders")
    assert len(state1) == 2000 and state1 != state2 != state3 and len(state3) == 2000 - 250

    # WHEN it is restored to each point in time THEN each target holds exactly that state
    for i, (at, expected) in enumerate([(t1, state1), (t2, state2), (t3, state3)]):
        ddb.restore_table_to_point_in_time(SourceTableName="orders", TargetTableName=f"orders-r{i}", RestoreDateTime=at)
        _wait_active(ddb, f"orders-r{i}")
        assert _scan_all(ddb, f"orders-r{i}") == expected


def test_one_item_versions_put_update_delete(aws):
    SETTINGS.restore_seconds = 0.1
    ddb = aws("dynamodb")
    create_demo_table(ddb, "items")
    key = {"pk": {"S": "a"}}
    t0 = _pause()
    ddb.put_item(TableName="items", Item={**key, "v": {"N": "1"}})
    t1 = _pause()
    ddb.put_item(TableName="items", Item={**key, "v": {"N": "2"}})
    t2 = _pause()
    ddb.delete_item(TableName="items", Key=key)
    t3 = _pause()
    expected = {t0: None, t1: "1", t2: "2", t3: None}
    for i, (at, version) in enumerate(expected.items()):
        ddb.restore_table_to_point_in_time(SourceTableName="items", TargetTableName=f"items-{i}", RestoreDateTime=at)
        _wait_active(ddb, f"items-{i}")
        item = ddb.get_item(TableName=f"items-{i}", Key=key).get("Item")
        assert (item["v"]["N"] if item else None) == version


def test_latest_restorable_time_and_source_arn(aws):
    SETTINGS.restore_seconds = 0.1
    ddb = aws("dynamodb")
    desc = create_demo_table(ddb, "things")
    ddb.put_item(TableName="things", Item={"pk": {"S": "x"}, "v": {"N": "1"}})
    time.sleep(0.05)
    resp = ddb.restore_table_to_point_in_time(SourceTableArn=desc["TableArn"], TargetTableName="things-latest", UseLatestRestorableTime=True)
    assert resp["TableDescription"]["RestoreSummary"]["SourceTableArn"] == desc["TableArn"]
    _wait_active(ddb, "things-latest")
    assert ddb.get_item(TableName="things-latest", Key={"pk": {"S": "x"}})["Item"]["v"] == {"N": "1"}


def test_latest_restorable_time_moves_with_the_clock_minus_lag(aws):
    SETTINGS.restorable_lag = 2.0
    ddb = aws("dynamodb")
    create_demo_table(ddb, "lagged")
    first = ddb.describe_continuous_backups(TableName="lagged")["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    time.sleep(3.2)
    later = ddb.describe_continuous_backups(TableName="lagged")["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    now = datetime.now(timezone.utc)
    assert first["LatestRestorableDateTime"] == first["EarliestRestorableDateTime"]  # lag not yet passed
    assert later["LatestRestorableDateTime"] > first["LatestRestorableDateTime"]
    assert abs((now - later["LatestRestorableDateTime"]).total_seconds() - 2.0) < 0.5


def _error_code(call) -> str:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"]


def test_restore_errors_are_the_ones_aws_gives(aws):
    """The error shapes botocore's model and the API reference list for the operation
    ("RestoreTableToPointInTime", Amazon DynamoDB API Reference,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_RestoreTableToPointInTime.html):
    a missing source is TableNotFoundException (there is no SourceTableNotFoundException in DynamoDB)."""
    ddb = aws("dynamodb")
    create_demo_table(ddb, "src")
    create_demo_table(ddb, "nopitr", pitr=False)
    create_demo_table(ddb, "taken", pitr=False)
    earliest = ddb.describe_continuous_backups(TableName="src")["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["EarliestRestorableDateTime"]
    before = earliest - timedelta(seconds=10)
    future = datetime.now(timezone.utc) + timedelta(minutes=5)
    restore = ddb.restore_table_to_point_in_time
    assert _error_code(lambda: restore(SourceTableName="src", TargetTableName="tgt1", RestoreDateTime=before)) == "InvalidRestoreTimeException"
    assert _error_code(lambda: restore(SourceTableName="src", TargetTableName="tgt1", RestoreDateTime=future)) == "InvalidRestoreTimeException"
    assert _error_code(lambda: restore(SourceTableName="nopitr", TargetTableName="tgt1", UseLatestRestorableTime=True)) == "PointInTimeRecoveryUnavailableException"
    assert _error_code(lambda: restore(SourceTableName="src", TargetTableName="taken", UseLatestRestorableTime=True)) == "TableAlreadyExistsException"
    assert _error_code(lambda: restore(SourceTableName="ghost", TargetTableName="tgt1", UseLatestRestorableTime=True)) == "TableNotFoundException"
    assert _error_code(lambda: restore(TargetTableName="tgt1", UseLatestRestorableTime=True)) == "ValidationException"
    assert _error_code(lambda: restore(SourceTableName="src", TargetTableName="tgt1")) == "ValidationException"
    # nothing was created by any failed call
    assert sorted(ddb.list_tables()["TableNames"]) == ["nopitr", "src", "taken"]


def test_restore_into_a_name_being_created_is_table_in_use(aws):
    """TableInUseException: "A target table with the specified name is either being created or
    deleted" (RestoreTableToPointInTime, Amazon DynamoDB API Reference,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_RestoreTableToPointInTime.html)."""
    SETTINGS.restore_seconds = 30
    ddb = aws("dynamodb")
    create_demo_table(ddb, "src")
    ddb.restore_table_to_point_in_time(SourceTableName="src", TargetTableName="tgt", UseLatestRestorableTime=True)
    again = lambda: ddb.restore_table_to_point_in_time(SourceTableName="src", TargetTableName="tgt", UseLatestRestorableTime=True)  # noqa: E731
    assert _error_code(again) == "TableInUseException"
    # a source still being restored is not there yet
    from_creating = lambda: ddb.restore_table_to_point_in_time(SourceTableName="tgt", TargetTableName="tgt2", UseLatestRestorableTime=True)  # noqa: E731
    assert _error_code(from_creating) == "TableNotFoundException"


def test_restore_takes_time_and_carries_only_what_aws_carries(aws):
    SETTINGS.restore_seconds = 1.5
    ddb = aws("dynamodb")
    ddb.create_table(
        TableName="rich",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        Tags=[{"Key": "team", "Value": "payments"}],
    )
    ddb.update_time_to_live(TableName="rich", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    ddb.update_continuous_backups(TableName="rich", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    ddb.put_item(TableName="rich", Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "g": {"S": "x"}})
    time.sleep(0.05)
    started = time.monotonic()
    resp = ddb.restore_table_to_point_in_time(SourceTableName="rich", TargetTableName="rich-r", UseLatestRestorableTime=True)
    assert resp["TableDescription"]["TableStatus"] == "CREATING"
    assert resp["TableDescription"]["RestoreSummary"]["RestoreInProgress"] is True
    assert _error_code(lambda: ddb.get_item(TableName="rich-r", Key={"pk": {"S": "a"}, "sk": {"N": "1"}})) == "ResourceNotFoundException"
    assert _error_code(lambda: ddb.delete_table(TableName="rich-r")) == "ResourceInUseException"
    desc = _wait_active(ddb, "rich-r")
    assert time.monotonic() - started >= 1.3
    assert desc["RestoreSummary"]["RestoreInProgress"] is False
    assert desc["KeySchema"] == ddb.describe_table(TableName="rich")["Table"]["KeySchema"]
    assert [g["IndexName"] for g in desc["GlobalSecondaryIndexes"]] == ["by-g"]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert "StreamSpecification" not in desc and "LatestStreamArn" not in desc
    assert ddb.describe_time_to_live(TableName="rich-r")["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
    pitr = ddb.describe_continuous_backups(TableName="rich-r")["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "DISABLED"
    assert ddb.list_tags_of_resource(ResourceArn=desc["TableArn"])["Tags"] == []
    assert ddb.get_item(TableName="rich-r", Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"]["g"] == {"S": "x"}

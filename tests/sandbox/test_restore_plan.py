"""Planning and following a restore on the sandbox: refusals change nothing; failures are clear."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from runbook_lib import restore
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.errors import InputError, PreconditionError, RestoreError
from runbook_lib.sandbox import SETTINGS
from runbook_lib.sandbox.traffic import create_demo_table


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(region="us-east-1", endpoint_url=endpoint)


def _tables(aws) -> list[str]:
    return sorted(aws("dynamodb").list_tables()["TableNames"])


def test_catch_up_plan_resolves_latest_and_replays_from_just_before(aws, target):
    create_demo_table(aws("dynamodb"), "orders")
    time.sleep(1.2)
    plan = restore.plan_restore(target, source_table="orders", target_table="orders-r")
    assert plan.mode == "catchup" and plan.reverted_window is None
    assert plan.restore_time == plan.latest_restorable
    assert plan.replay_from <= plan.restore_time - restore.CATCHUP_OVERLAP and plan.replay_from.microsecond == 0


def test_rollback_plan_names_the_reverted_window(aws, target):
    create_demo_table(aws("dynamodb"), "orders")
    time.sleep(2.2)
    now = datetime.now(timezone.utc)
    t, r = now - timedelta(seconds=1.5), now
    plan = restore.plan_restore(target, source_table="orders", target_table="orders-r", restore_time=t, replay_from=r)
    assert plan.mode == "rollback"
    assert plan.reverted_window == (t, r.replace(microsecond=0))
    frame = plan.to_dataframe()
    assert "writes reverted on purpose" in set(frame["item"])


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"source_table": "ghost"}, PreconditionError, "does not exist"),
        ({"source_table": "nopitr"}, PreconditionError, "PITR is off"),
        ({"target_table": "taken"}, PreconditionError, "already exists"),
        ({"restore_time": "2020-01-01T00:00:00Z"}, InputError, "outside the restorable window"),
        ({"restore_time": "2099-01-01T00:00:00Z"}, InputError, "in the future"),
        ({"restore_time": "soon"}, InputError, "not a time"),
        ({"target_table": "orders"}, InputError, "must differ"),
        ({"restore_time": "1s", "replay_from": "2020-01-01T00:00:00Z"}, InputError, "before the restore point"),
    ],
)
def test_bad_plans_are_refused_and_change_nothing(aws, target, kwargs, error, fragment):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    create_demo_table(ddb, "nopitr", pitr=False)
    create_demo_table(ddb, "taken", pitr=False, stream=None)
    time.sleep(1.1)
    before = _tables(aws)
    args = {"source_table": "orders", "target_table": "orders-r", **kwargs}
    with pytest.raises(error) as info:
        restore.plan_restore(target, **args)
    assert fragment in str(info.value)
    assert _tables(aws) == before


def test_window_error_names_the_window(aws, target):
    create_demo_table(aws("dynamodb"), "orders")
    with pytest.raises(InputError) as info:
        restore.plan_restore(target, source_table="orders", target_table="orders-r", restore_time="2020-01-01T00:00:00Z")
    earliest, latest = restore.restorable_window(target, "orders")
    assert earliest.isoformat()[:19] in str(info.value)


def test_plan_refuses_to_lose_writes_before_a_latest_capture_start(aws, target):
    # GIVEN a buffer that started reading at LATEST after the restore point
    create_demo_table(aws("dynamodb"), "orders")
    time.sleep(1.2)
    capture_start = datetime.now(timezone.utc)
    # WHEN T (and so R) lies before it THEN the plan is refused, naming the remedy
    with pytest.raises(PreconditionError) as info:
        restore.plan_restore(target, source_table="orders", target_table="orders-r", restore_time="1s",
                             capture_start=capture_start, starting_position="LATEST")
    assert "TRIM_HORIZON" in str(info.value) and "lost" in str(info.value)
    # a TRIM_HORIZON buffer holds the whole stream: the same plan is fine
    plan = restore.plan_restore(target, source_table="orders", target_table="orders-r", restore_time="1s",
                                capture_start=capture_start, starting_position="TRIM_HORIZON")
    assert plan.capture_start <= plan.restore_time


def test_dry_run_restore_creates_nothing_and_execute_follows_to_active(aws, target, tmp_path):
    SETTINGS.restore_seconds = 1.0
    create_demo_table(aws("dynamodb"), "orders")
    time.sleep(1.1)
    plan = restore.plan_restore(target, source_table="orders", target_table="orders-r")
    assert restore.start_restore(target, plan, execute=False) is None
    assert _tables(aws) == ["orders"]
    desc = restore.start_restore(target, plan, execute=True, run_dir=tmp_path)
    assert desc["TableStatus"] == "CREATING"
    seen = []
    elapsed = restore.wait_active(target, "orders-r", interval=0.1, progress=seen.append)
    assert 0.8 <= elapsed < 10
    assert seen[0].status == "CREATING" and seen[-1].status == "ACTIVE"
    state = restore.record_active(tmp_path, elapsed)
    assert state.timings.rto_seconds >= 0.8


def test_restore_that_exceeds_its_timeout_stops_with_a_clear_error(aws, target):
    SETTINGS.restore_seconds = 30
    create_demo_table(aws("dynamodb"), "orders")
    time.sleep(1.1)
    plan = restore.plan_restore(target, source_table="orders", target_table="orders-r")
    restore.start_restore(target, plan, execute=True)
    with pytest.raises(RestoreError) as info:
        restore.wait_active(target, "orders-r", timeout=0.5, interval=0.1, progress=lambda p: None)
    assert "not ACTIVE after" in str(info.value)


def test_restore_of_a_source_gone_since_planning_names_the_remedy(aws, target):
    """On AWS a missing source is TableNotFoundException (RestoreTableToPointInTime, Amazon DynamoDB
    API Reference, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_RestoreTableToPointInTime.html):
    it must reach the operator as a RestoreError with that code and the remedy, not "unexpected"."""
    create_demo_table(aws("dynamodb"), "orders")
    time.sleep(1.1)
    plan = restore.plan_restore(target, source_table="orders", target_table="orders-r")
    aws("dynamodb").delete_table(TableName="orders")
    with pytest.raises(RestoreError) as info:
        restore.start_restore(target, plan, execute=True)
    assert info.value.code == "TableNotFoundException"
    assert "check the source table name and region" in str(info.value)
    assert _tables(aws) == []


def test_restore_whose_table_disappears_is_a_failed_restore(aws, target):
    with pytest.raises(RestoreError) as info:
        restore.wait_active(target, "never-created", timeout=5, interval=0.1, progress=lambda p: None)
    assert "restore failed" in str(info.value)

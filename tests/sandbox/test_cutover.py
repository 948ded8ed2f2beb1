"""Cutover waits for the writers to stop; while they write it refuses and changes nothing."""

from __future__ import annotations

import pytest

from runbook_lib import buffer, cutover
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.errors import CutoverError
from runbook_lib.sandbox.traffic import Traffic, create_demo_table


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(region="us-east-1", endpoint_url=endpoint)


def test_quiet_when_no_write_reaches_the_stream(aws, target):
    create_demo_table(aws("dynamodb"), "orders")
    aws("dynamodb").put_item(TableName="orders", Item={"pk": {"S": "old"}})  # before the wait: not counted
    report = cutover.wait_for_quiet(target, "orders", quiet_seconds=1.0, timeout=10, poll_seconds=0.2)
    assert report.quiet and report.writes_seen == 0 and report.waited_seconds < 5


def test_not_quiet_while_writers_keep_writing(aws, target):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    with Traffic(ddb, "orders", rate=20, key_space=20, seed=1):
        report = cutover.wait_for_quiet(target, "orders", quiet_seconds=1.5, timeout=3, poll_seconds=0.2)
    assert not report.quiet and report.writes_seen > 10


def test_cutover_refuses_while_writes_arrive_and_touches_nothing(aws, target, monkeypatch):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    touched = []
    for name in ("disable_replay", "teardown", "status"):
        monkeypatch.setattr(buffer, name, lambda *a, _n=name, **k: touched.append(_n))
    stack = buffer.BufferStack.from_dict({
        "name": "pitr-buffer", "outputs": {"QueueMappingUuid": "uuid-1", "DlqUrl": "http://dlq"},
        "parameters": {"SourceTableName": "orders", "TargetTableName": "orders-r"},
    })
    with Traffic(ddb, "orders", rate=20, key_space=20, seed=2):
        with pytest.raises(CutoverError) as info:
            cutover.cutover(target, stack, execute=True, quiet_seconds=1.5, timeout=3, teardown=False)
    assert "stop the application's writers" in str(info.value)
    assert touched == []


def test_cutover_dry_run_lists_its_steps_and_changes_nothing(aws, target, monkeypatch):
    create_demo_table(aws("dynamodb"), "orders")
    monkeypatch.setattr(buffer, "teardown", lambda t, s, execute: buffer.TeardownReport(s.stack_name, execute, True, ("AWS::SQS::Queue q",)))
    monkeypatch.setattr(buffer, "disable_replay", lambda *a, **k: pytest.fail("dry run must not disable replay"))
    stack = buffer.BufferStack.from_dict({"name": "pitr-buffer", "outputs": {"QueueMappingUuid": "uuid-1"},
                                          "parameters": {"SourceTableName": "orders", "TargetTableName": "orders-r"}})
    report = cutover.cutover(target, stack, execute=False)
    assert not report.executed and len(report.steps) == 4 and report.teardown.executed is False

"""Cutover waits for the writers to stop; while they write it refuses and changes nothing."""

from __future__ import annotations

import pytest

from runbook_lib import buffer, cutover
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.errors import CutoverError, InputError
from runbook_lib.sandbox.traffic import Traffic, create_demo_table


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(region="us-east-1", endpoint_url=endpoint)


def test_quiet_when_no_write_reaches_the_stream(aws, target):
    create_demo_table(aws("dynamodb"), "orders")
    aws("dynamodb").put_item(TableName="orders", Item={"pk": {"S": "old"}})  # before the wait: not counted
    report = cutover.wait_for_quiet(target, "orders", quiet_seconds=1.0, timeout=10, poll_seconds=0.2)
    assert report.quiet and report.writes_seen == 0 and report.waited_seconds < 5


def test_a_write_made_while_the_wait_sleeps_is_seen_before_the_period_is_called_quiet(aws, target):
    """The last poll's writes are read before judging: one write half-way through the only period
    (poll as long as the period itself) restarts it, and is counted."""
    import threading

    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")

    def write_soon():
        threading.Timer(0.4, lambda: ddb.put_item(TableName="orders", Item={"pk": {"S": "late"}})).start()

    report = cutover.wait_for_quiet(target, "orders", quiet_seconds=1.0, timeout=10, poll_seconds=1.0,
                                    on_watching=write_soon)
    assert report.quiet and report.writes_seen == 1 and report.last_write is not None
    assert report.waited_seconds >= 1.3  # the period started again at the write seen


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


def _drained_buffer(monkeypatch, teardown_report):
    """Stand-ins for what cutover calls after the quiet period: a drained buffer, replay off, and
    ``buffer.teardown`` answering ``teardown_report`` (a real TeardownReport, as teardown returns)."""
    from types import SimpleNamespace

    from runbook_lib import monitor

    monkeypatch.setattr(monitor, "follow_drain", lambda *a, **k: monitor.DrainResult(True, 0.0, (), 0, 0))
    monkeypatch.setattr(buffer, "status", lambda *a, **k: SimpleNamespace(drained=True))
    monkeypatch.setattr(buffer, "disable_replay", lambda *a, **k: "Disabled")
    monkeypatch.setattr(buffer, "teardown", lambda *a, **k: teardown_report)
    return buffer.BufferStack.from_dict({"name": "pitr-buffer", "outputs": {"QueueMappingUuid": "uuid-1"},
                                         "parameters": {"SourceTableName": "orders", "TargetTableName": "orders-r"}})


def test_a_teardown_that_did_not_verify_stops_cutover_with_the_stack_named_and_is_not_recorded(aws, target, monkeypatch, tmp_path):
    from runbook_lib import run_state

    # GIVEN a quiet source and a teardown that deleted the stack but could not verify what is left
    create_demo_table(aws("dynamodb"), "orders")
    unverified = buffer.TeardownReport("pitr-buffer", executed=True, stack_found=True,
                                       resources=("AWS::SQS::Queue q",), verified=False)
    stack = _drained_buffer(monkeypatch, unverified)
    # WHEN cutover runs THEN it raises CutoverError (it read report.leftovers, which does not exist)
    with pytest.raises(CutoverError) as info:
        cutover.cutover(target, stack, run_dir=tmp_path, execute=True, quiet_seconds=0.5, timeout=5)
    assert "pitr-buffer" in str(info.value) and "did not verify" in str(info.value) and "AWS::SQS::Queue q" in str(info.value)
    state = run_state.load(tmp_path)
    assert state.timings.cutover_done is not None and state.teardown is None


def test_a_verified_teardown_is_recorded_in_the_run_state(aws, target, monkeypatch, tmp_path):
    from runbook_lib import run_state

    create_demo_table(aws("dynamodb"), "orders")
    clean = buffer.TeardownReport("pitr-buffer", executed=True, stack_found=True, resources=("AWS::SQS::Queue q",),
                                  verified=True)
    stack = _drained_buffer(monkeypatch, clean)
    report = cutover.cutover(target, stack, run_dir=tmp_path, execute=True, quiet_seconds=0.5, timeout=5)
    assert report.teardown is clean
    assert run_state.load(tmp_path).teardown == run_state.Teardown(clean=True, resources=["AWS::SQS::Queue q"])


def _undrainable(monkeypatch, touched):
    """A buffer that never drains (follow_drain gives up), and stand-ins that log what cutover changes."""
    from types import SimpleNamespace

    from runbook_lib import monitor
    from runbook_lib.errors import BufferError

    def never(*a, **k):
        raise BufferError("the buffer did not drain within 1 s")

    monkeypatch.setattr(monitor, "follow_drain", never)
    monkeypatch.setattr(buffer, "status", lambda *a, **k: SimpleNamespace(
        drained=False, depth=7, in_flight=1, stream_lag_seconds=0, forwarder_errors=0))
    monkeypatch.setattr(buffer, "disable_replay", lambda *a, **k: touched.append("replay off"))
    monkeypatch.setattr(buffer, "teardown", lambda *a, **k: (touched.append("teardown"), buffer.TeardownReport(
        "pitr-buffer", executed=True, stack_found=True, resources=(), verified=True))[1])
    return buffer.BufferStack.from_dict({"name": "pitr-buffer", "outputs": {"QueueMappingUuid": "uuid-1", "DlqUrl": "http://dlq"},
                                         "parameters": {"SourceTableName": "orders", "TargetTableName": "orders-r"}})


@pytest.mark.parametrize("flags", [{"force": True}, {"force_switch": True, "switch": "/app/table"}])
def test_a_forced_cutover_still_refuses_a_buffer_that_does_not_drain_and_changes_nothing(aws, target, monkeypatch, tmp_path, flags):
    """force (or force_switch) gets past writes that keep arriving, never past changes still in the
    buffer: turning replay off and deleting the queue would lose them for good."""
    from runbook_lib.errors import BufferError

    create_demo_table(aws("dynamodb"), "orders")
    create_demo_table(aws("dynamodb"), "orders-r", pitr=False)
    touched: list[str] = []
    stack = _undrainable(monkeypatch, touched)
    with pytest.raises(BufferError):
        cutover.cutover(target, stack, run_dir=tmp_path, execute=True, quiet_seconds=0.5, timeout=5, drain_timeout=1,
                        **flags)
    assert touched == []


def test_only_a_drill_s_scratch_table_cuts_over_without_a_drained_buffer_and_the_report_says_so(aws, target, monkeypatch, tmp_path):
    create_demo_table(aws("dynamodb"), "orders")
    touched: list[str] = []
    stack = _undrainable(monkeypatch, touched)
    with pytest.raises(InputError):  # never with a switch, never without force
        cutover.cutover(target, stack, run_dir=tmp_path, execute=True, force=True, switch="/app/table", drain_required=False)
    report = cutover.cutover(target, stack, run_dir=tmp_path, execute=True, quiet_seconds=0.5, timeout=5, drain_timeout=1,
                             force=True, drain_required=False)
    assert touched == ["replay off", "teardown"] and report.drained is False

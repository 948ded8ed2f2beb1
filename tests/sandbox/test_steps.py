"""The notebook steps (``runbook_lib.steps``): each owns its ``execute`` switch, reads and updates the
run state, and returns a result that shows itself; gates raise ``RunbookError`` subclasses."""

from __future__ import annotations

import pytest

from runbook_lib import monitor, notebook, run_state, steps, times
from runbook_lib.errors import InputError, PreconditionError
from runbook_lib.sandbox.traffic import create_demo_table, seed_items


def _ctx(endpoint, tmp_path, *, execute: bool, **kwargs):
    return notebook.context(source_table="orders", target_table="orders-r", endpoint_url=endpoint, region="us-east-1",
                            run_dir=str(tmp_path), execute=execute, **kwargs)


def _tables(aws) -> list[str]:
    return sorted(aws("dynamodb").list_tables()["TableNames"])


def test_restore_step_dry_run_writes_the_plan_and_starts_no_restore(aws, endpoint, tmp_path, capsys):
    create_demo_table(aws("dynamodb"), "orders")
    times_before = _tables(aws)
    __import__("time").sleep(1.1)
    result = steps.restore.run(_ctx(endpoint, tmp_path, execute=False))
    assert _tables(aws) == times_before
    state = run_state.load(tmp_path)
    assert state.plan.mode == "catchup" and state.plan.restore_time == result.plan.restore_time
    assert state.timings.restore_called is None
    assert "Dry run: no restore started" in result.outcome and not result.executed
    # one line printed; a table and the plan's rows in the notebook
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(result)
    assert "restore point T" in result._repr_html_() and "replay start R" in result._repr_html_()
    assert list(result.to_dataframe().columns) == ["item", "value"]


def test_restore_step_with_execute_calls_the_restore_once_and_a_rerun_follows_it(aws, endpoint, tmp_path):
    create_demo_table(aws("dynamodb"), "orders")
    __import__("time").sleep(1.1)
    ctx = _ctx(endpoint, tmp_path, execute=True)
    first = steps.restore.run(ctx)
    assert first.table["TableStatus"] == "CREATING" and "no buffer deployed" in first.warnings[0]
    called = run_state.load(tmp_path).timings.restore_called
    assert called is not None
    # WHEN the step runs again in the same run (the operator's laptop died after the call)
    again = steps.restore.run(ctx)
    # THEN the restore is not called again (it would fail: the target exists) and the time is kept
    assert "not called again" in again.outcome and again.table is None
    assert run_state.load(tmp_path).timings.restore_called == called


def test_reconcile_step_waits_for_the_drain_with_its_drain_timeout(aws, endpoint, tmp_path, monkeypatch):
    # GIVEN a run with a buffer stack not yet torn down, and a target that differs from the source
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    create_demo_table(ddb, "orders-r")
    seed_items(ddb, "orders", 3, seed=1)
    ctx = _ctx(endpoint, tmp_path, execute=True)
    with ctx.edit() as state:
        state.stack = run_state.Stack(description={"name": "pitr-orders", "outputs": {}, "parameters": {}})
    waited = []
    monkeypatch.setattr(monitor, "follow_drain", lambda *a, **k: waited.append(k))
    from runbook_lib import activity

    read = []  # the buffer's accounting is read afresh once drained, before the report
    monkeypatch.setattr(activity, "record", lambda target, run_dir, stack: read.append((len(waited), str(run_dir))))
    # WHEN step 04 runs with a drain timeout of its own
    result = steps.reconcile.run(ctx, drain_timeout=42, reread_rounds=1, segments=1)
    # THEN the drain check before the re-reads used it (it was a hard-coded 600 s in the notebook)
    assert waited and all(k["timeout"] == 42.0 and k["require_empty"] for k in waited)
    assert read == [(len(waited), str(tmp_path))]
    assert result.verdict == "FAIL" and "VERDICT: FAIL" in result.outcome
    assert (tmp_path / "summary.json").exists() and "VERDICT" in result._repr_html_()


def test_reconcile_step_gates_on_the_target_table(aws, endpoint, tmp_path):
    create_demo_table(aws("dynamodb"), "orders")
    with pytest.raises(PreconditionError) as info:
        steps.reconcile.run(_ctx(endpoint, tmp_path, execute=True))
    assert "orders-r does not exist" in str(info.value) and "02_restore" in str(info.value)
    dry = steps.reconcile.run(_ctx(endpoint, tmp_path, execute=False))
    assert dry.reconciliation is None and "does not exist yet" in dry.outcome and dry.to_dataframe().empty


def test_reconcile_takes_t_and_r_from_the_plan_else_from_the_parameters(endpoint, tmp_path):
    ctx = _ctx(endpoint, tmp_path, execute=False, restore_time="2026-11-28T05:00:00Z", replay_from="restore_point")
    assert steps.reconcile.restore_point_and_replay_start(ctx, run_state.load(tmp_path)) == ("2026-11-28T05:00:00Z", None)
    t = times.parse_iso("2026-11-28T04:00:00Z")
    with ctx.edit() as state:
        state.plan = run_state.Plan("rollback", t, t.replace(hour=5), t, t)
    assert steps.reconcile.restore_point_and_replay_start(ctx, run_state.load(tmp_path)) == (t, t.replace(hour=5))


def test_a_step_refuses_a_parameter_it_does_not_declare(endpoint, tmp_path):
    with pytest.raises(InputError) as info:
        steps.cutover.run(_ctx(endpoint, tmp_path, execute=False), quiet_second=1)
    assert "quiet_second" in str(info.value) and "quiet_seconds" in str(info.value)


def test_restore_step_follows_a_restore_called_just_before_the_process_died(aws, endpoint, tmp_path):
    from runbook_lib import restore

    # GIVEN a plan in the run state, and a restore called for it whose call time was never recorded
    create_demo_table(aws("dynamodb"), "orders")
    __import__("time").sleep(1.1)
    steps.restore.run(_ctx(endpoint, tmp_path, execute=False))
    restore.start_restore(restore_target := _ctx(endpoint, tmp_path, execute=True).target,
                          restore.plan_from_state(tmp_path), execute=True)  # no run_dir: nothing recorded
    assert run_state.load(tmp_path).timings.restore_called is None
    # WHEN step 02 runs again with execute
    result = steps.restore.run(_ctx(endpoint, tmp_path, execute=True))
    # THEN it recognises the target as its own restore (source and T), does not call again, and
    # records the call time as the target's creation time
    created = restore_target.client("dynamodb").describe_table(TableName="orders-r")["Table"]["CreationDateTime"]
    assert "not called again" in result.outcome
    assert run_state.load(tmp_path).timings.restore_called == times.to_utc(created, "created")


def test_restore_step_refuses_a_target_that_is_not_this_runs_restore(aws, endpoint, tmp_path):
    create_demo_table(aws("dynamodb"), "orders")
    __import__("time").sleep(1.1)
    steps.restore.run(_ctx(endpoint, tmp_path, execute=False))
    create_demo_table(aws("dynamodb"), "orders-r")  # someone else's table of the target's name
    with pytest.raises(PreconditionError) as info:
        steps.restore.run(_ctx(endpoint, tmp_path, execute=True))
    assert "orders-r already exists" in str(info.value)


def test_deploy_step_warns_when_preflight_checked_another_message_size_than_it_deploys(aws, endpoint, tmp_path):
    """Step 00 records the maximum message size it sized the items against; step 01 compares it with
    the queue's MaximumMessageSize it deploys (256 KiB, the codec's MAX_MESSAGE_BYTES)."""
    from runbook_lib.cdc.codec import MAX_MESSAGE_BYTES

    create_demo_table(aws("dynamodb"), "orders")
    assert {p.name: p.default for p in steps.preflight.PARAMETERS}["max_message_bytes"] == MAX_MESSAGE_BYTES
    steps.preflight.run(_ctx(endpoint, tmp_path, execute=False), max_message_bytes=1048576, check_permissions=False)
    assert run_state.load(tmp_path).preflight_max_message_bytes == 1048576
    result = steps.deploy_buffer.run(_ctx(endpoint, tmp_path, execute=False))
    assert any(f"MaximumMessageSize {MAX_MESSAGE_BYTES} is deployed, but preflight (step 00) checked the item sizes "
               "against 1048576" in w for w in result.warnings), result.warnings
    # checked the same size: no warning
    steps.preflight.run(_ctx(endpoint, tmp_path, execute=False), check_permissions=False)
    assert not [w for w in steps.deploy_buffer.run(_ctx(endpoint, tmp_path, execute=False)).warnings if "preflight" in w]

"""The run state: one typed file per run, read and written by ``runbook_lib.run_state`` alone."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runbook_lib import run_state, times
from runbook_lib.errors import InputError, PreconditionError
from runbook_lib.reconcile import PASS, Reconciliation
from runbook_lib.report import run_summary

ROOT = Path(__file__).resolve().parents[2]
T = times.parse_iso


def _full_state() -> run_state.RunState:
    state = run_state.RunState(
        params=run_state.Params(source_table="orders", target_table="orders-r", region="eu-west-1",
                                endpoint_url="http://127.0.0.1:5000", automation="event",
                                restore_time="15m", replay_from="2026-11-28T05:10:00Z"),
        started=T("2026-11-28T04:50:00Z"),
        plan=run_state.Plan(mode="rollback", restore_time=T("2026-11-28T05:00:00.250000Z"),
                            replay_from=T("2026-11-28T05:10:00Z"), earliest_restorable=T("2026-11-27T05:00:00Z"),
                            latest_restorable=T("2026-11-28T05:11:00Z"), buffer_coverage_from=T("2026-11-28T04:00:00Z"),
                            notes=["a note"], target_capacity={"billing_mode": "PAY_PER_REQUEST"}),
        stack=run_state.Stack(description={"name": "pitr-orders", "id": "arn:stack", "outputs": {"QueueUrl": "q"},
                                           "parameters": {"SourceTableName": "orders"}},
                              capture_start=T("2026-11-28T04:58:00Z"), starting_position="LATEST",
                              cfn_role_arn="arn:aws:iam::123456789012:role/cfn"),
        timings=run_state.Timings(restore_called=T("2026-11-28T05:12:00Z"), active=T("2026-11-28T05:20:30Z"),
                                  replay_enabled=T("2026-11-28T05:20:35Z"), drained=T("2026-11-28T05:22:30Z")),
        workflow=run_state.Workflow(execution_arn="arn:exec", status="SUCCEEDED"),
        fallbacks=[run_state.Fallback(step="03_monitor", what="replay on", why="event lost", at=T("2026-11-28T05:21:00Z"),
                                      active=T("2026-11-28T05:20:30Z"), event_grace_seconds=5.0, rule_dlq_messages=1)],
        faults=[{"name": "event-lost", "injected": {"restore events dropped": 1}}],
        drill={"mode": "rollback", "items": 150, "faults": ["event-lost"], "rto_target_seconds": 60.0},
        preflight=[run_state.PreflightRow(check="pitr", status="PASS", finding="on", remedy="", code=None)],
        settings_snapshot={"table": "orders", "ttl": {"enabled": False}},
        pipeline=run_state.PipelineActivity(T("2026-11-28T05:22:31Z"), {"applier": {"totals": {"puts": 3}}, "dlq_depth": 0}),
        preflight_max_message_bytes=1048576,
        teardown=run_state.Teardown(clean=True, resources=["AWS::SQS::Queue q"]),
        steps={"00_preflight": run_state.StepStatus("done", T("2026-11-28T04:50:00Z"), T("2026-11-28T04:50:05Z"))},
    )
    state.add_drain_sample(run_state.DrainSample(T("2026-11-28T05:21:00Z"), 10, 2, 0, 0, 1.5, 0))
    return state


def test_a_saved_run_state_loads_back_equal_with_aware_utc_times(tmp_path):
    state = _full_state()
    run_state.save(tmp_path, state)
    loaded = run_state.load(tmp_path)
    assert loaded == state
    assert loaded.plan.restore_time.tzinfo is not None and loaded.plan.restore_time.microsecond == 250000
    assert loaded.buffer_stack.stack_name == "pitr-orders" and loaded.buffer_stack.outputs["QueueUrl"] == "q"
    # the buffer's accounting and the message size step 00 checked travel to steps 01 and 04
    assert loaded.pipeline.counts["applier"]["totals"]["puts"] == 3 and loaded.preflight_max_message_bytes == 1048576
    assert loaded.view()["pipeline"] == {"applier": {"totals": {"puts": 3}}, "dlq_depth": 0}
    # a drill's own facts reach the report through the view
    assert loaded.view()["drill"]["rto_target_seconds"] == 60.0
    # the file is written atomically: no temporary file is left next to it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_run_without_a_state_file_starts_empty(tmp_path):
    state = run_state.load(tmp_path)
    assert state == run_state.RunState() and state.plan is None and state.stack is None


def test_edit_writes_the_change(tmp_path):
    with run_state.edit(tmp_path) as state:
        state.timings.active = T("2026-11-28T05:20:30Z")
    assert run_state.load(tmp_path).timings.active == T("2026-11-28T05:20:30Z")


@pytest.mark.parametrize("version", [None, 0, run_state.VERSION + 1])
def test_a_state_file_of_another_version_is_refused_with_the_remedy(tmp_path, version):
    data = _full_state().to_json()
    if version is None:
        data.pop("version")  # the untyped state.json of earlier releases had none
    else:
        data["version"] = version
    (tmp_path / run_state.STATE_FILE).write_text(json.dumps(data))
    with pytest.raises(PreconditionError) as info:
        run_state.load(tmp_path)
    message = str(info.value)
    assert "another version of pitr-runbook" in message and "new run_dir" in message and repr(version) in message


@pytest.mark.parametrize(
    "text, words",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a run state"),
        (json.dumps({"version": run_state.VERSION, "timings": {"active": "yesterday"}}), "malformed time"),
        (json.dumps({"version": run_state.VERSION, "plan": {"mode": "catchup"}}), "malformed"),
    ],
)
def test_a_malformed_state_file_raises_input_error_naming_the_remedy(tmp_path, text, words):
    (tmp_path / run_state.STATE_FILE).write_text(text)
    with pytest.raises(InputError) as info:
        run_state.load(tmp_path)
    assert words in str(info.value) and "new run_dir" in str(info.value)


def test_rto_and_catch_up_are_computed_by_the_timings_under_one_name():
    timings = _full_state().timings
    assert timings.rto_seconds == 510.0 and timings.catch_up_seconds == 120.0
    written = timings.to_json()
    assert written["rto_seconds"] == 510.0 and written["catch_up_seconds"] == 120.0
    assert "catchup_seconds" not in written
    assert run_state.Timings(restore_called=T("2026-11-28T05:12:00Z")).rto_seconds is None


def test_the_report_takes_rto_and_catch_up_from_the_run_state_instead_of_computing_them():
    view = _full_state().view()
    # a value only the run state could have given: the report must not recompute it from the times
    view["timings"] = {**view["timings"], "rto_seconds": 1.25, "catch_up_seconds": 2.5}
    rec = Reconciliation(source_table="orders", target_table="orders-r", source_count=0, target_count=0, items_scanned=0,
                         scan_seconds=0.0, items_per_second=0.0, differences=(), explained=0, unexplained=0,
                         in_flight=0, verdict=PASS)
    summary = run_summary(rec, view)
    assert (summary["rto_seconds"], summary["catch_up_seconds"]) == (1.25, 2.5)


def test_catch_up_has_one_name_in_the_library():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "runbook_lib").rglob("*.py") if "catchup_seconds" in p.read_text()]
    assert offenders == []


def test_only_the_run_state_module_names_the_state_file():
    assert (ROOT / "runbook_lib" / "run_state.py").read_text().count('"state.json"') == 1
    named = [
        str(f.relative_to(ROOT))
        for f in [*sorted((ROOT / "runbook_lib").rglob("*.py")), *sorted((ROOT / "notebooks").glob("*.ipynb"))]
        if f.name != "run_state.py" and re.search(r"state\.json|STATE_FILE", f.read_text())
    ]
    assert named == []
    assert not (ROOT / "runbook_lib" / "state.py").exists()

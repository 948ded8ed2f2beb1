"""The notebooks under papermill, through ``pitr-runbook run``'s code path, against the sandbox."""

from __future__ import annotations

import json

import pytest

from runbook_lib import cli, run_state, runner
from runbook_lib.sandbox.traffic import create_demo_table, seed_items

pytestmark = pytest.mark.slow


def inventory(aws) -> dict:
    """Everything the runbook could create, by kind."""
    return {
        "tables": sorted(aws("dynamodb").list_tables()["TableNames"]),
        "stacks": sorted(s["StackName"] for s in aws("cloudformation").list_stacks()["StackSummaries"]
                         if s["StackStatus"] != "DELETE_COMPLETE"),
        "queues": sorted(aws("sqs").list_queues().get("QueueUrls", [])),
        "functions": sorted(f["FunctionName"] for f in aws("lambda").list_functions()["Functions"]),
        "mappings": sorted(m["UUID"] for m in aws("lambda").list_event_source_mappings()["EventSourceMappings"]),
        "buckets": sorted(b["Name"] for b in aws("s3").list_buckets()["Buckets"]),
        "rules": sorted(r["Name"] for r in aws("events").list_rules()["Rules"]),
        "machines": sorted(m["name"] for m in aws("stepfunctions").list_state_machines()["stateMachines"]),
    }


def test_dry_run_of_every_notebook_changes_nothing(aws, endpoint, tmp_path):
    # GIVEN a source table ready for a restore
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    seed_items(ddb, "orders", 20)
    before = inventory(aws)
    # WHEN the whole runbook runs without execute
    params = runner.RunParams("orders", "orders-restored", endpoint_url=endpoint, run_dir=str(tmp_path), execute=False)
    result = runner.run(params)
    # THEN every step ran, kept its executed notebook, and AWS is exactly as before
    assert result.exit_code == 0, result.error
    assert result.steps_done == list(runner.STEPS)
    for step in runner.STEPS:
        executed = json.loads((tmp_path / f"{step}.ipynb").read_text())
        assert any(c.get("outputs") for c in executed["cells"] if c["cell_type"] == "code")
    assert inventory(aws) == before
    state = run_state.load(tmp_path)
    assert state.plan.mode == "catchup" and state.plan.restore_time and state.stack is None


def test_failed_precondition_stops_at_the_step_exit_2_one_line(aws, endpoint, tmp_path, capsys):
    before = inventory(aws)
    code = cli.main(["run", "--source-table", "ghost-table", "--target-table", "ghost-restored",
                     "--endpoint-url", endpoint, "--run-dir", str(tmp_path), "--execute"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "00_preflight" in err and "ghost-table" in err and "\n" not in err and "Traceback" not in err
    assert (tmp_path / "00_preflight.ipynb").exists() and not (tmp_path / "01_deploy_buffer.ipynb").exists()
    assert inventory(aws) == before


def test_restore_time_outside_window_is_refused_before_anything_is_created(aws, endpoint, tmp_path, capsys):
    create_demo_table(aws("dynamodb"), "orders")
    before = inventory(aws)
    code = cli.main(["run", "--source-table", "orders", "--target-table", "orders-restored", "--endpoint-url", endpoint,
                     "--restore-time", "2020-01-01T00:00:00Z", "--run-dir", str(tmp_path), "--execute"])
    assert code == 2
    err = capsys.readouterr().err
    assert "outside the restorable window" in err and "00_preflight" in err
    assert inventory(aws) == before

"""``--switch`` on ``run`` and ``drill`` reaches step 05; a malformed one stops before any step (exit 2);
``cutover`` takes ``--undo`` only, and needs a run directory with a run state."""

from __future__ import annotations

import pytest

from runbook_lib import cli, drill, runner

BASE = ["run", "--source-table", "orders", "--target-table", "orders-r"]


def test_run_switch_and_force_switch_become_step_05_parameters(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(runner, "run", lambda params, **k: (seen.setdefault("params", params), runner.RunResult(
        run_dir=str(tmp_path), steps_done=[], exit_code=0, verdict="PASS"))[1])
    assert cli.main([*BASE, "--run-dir", str(tmp_path), "--switch", "ssm:/orders/table-name", "--force-switch"]) == 0
    assert seen["params"].step_parameters["05_cutover"] == {"switch": "ssm:/orders/table-name", "force_switch": True}
    # step 00 reads the parameter and checks the permission to write it before anything changes
    assert seen["params"].step_parameters["00_preflight"] == {"switch": "ssm:/orders/table-name"}


@pytest.mark.parametrize("switch", ["/orders/table-name", "ssm:/orders/table name", "ssm:/ssm/x"])
def test_a_malformed_switch_stops_run_before_any_step_with_exit_2(switch, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(runner, "run_step", lambda *a, **k: pytest.fail("no step may run"))
    assert cli.main([*BASE, "--run-dir", str(tmp_path), "--switch", switch]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ssm" in err[0].lower()


def test_drill_takes_a_switch_and_make_drill_has_one_by_default(monkeypatch):
    import inspect

    assert inspect.signature(drill.drill).parameters["switch"].default == drill.DRILL_SWITCH == "ssm:/drill/orders/table-name"
    seen = {}
    monkeypatch.setattr(drill, "drill", lambda **k: (seen.update(k), runner.RunResult(run_dir=".", steps_done=[], exit_code=0))[1])
    assert cli.main(["drill", "--switch", "ssm:/app/table"]) == 0 and seen["switch"] == "ssm:/app/table"
    assert cli.main(["drill", "--switch", ""]) == 0 and seen["switch"] is None
    seen.clear()
    assert cli.main(["drill"]) == 0 and "switch" not in seen


def test_cutover_without_undo_or_without_a_run_state_exits_2(tmp_path, capsys):
    assert cli.main(["cutover", "--run-dir", str(tmp_path)]) == 2
    assert "--undo" in capsys.readouterr().err
    assert cli.main(["cutover", "--undo", "--run-dir", str(tmp_path / "none")]) == 2
    assert "no run state" in capsys.readouterr().err


def test_run_prints_the_measured_downtime_when_cutover_measured_one(monkeypatch, tmp_path, capsys):
    import json

    (tmp_path / "summary.json").write_text(json.dumps({"verdict": "PASS", "downtime": {
        "seconds": 5.2, "parts": {"quiet_wait": 4.0, "drain": 1.2, "settings": 0.0, "switch": 0.0}}}))
    monkeypatch.setattr(runner, "run", lambda params, **k: runner.RunResult(
        run_dir=str(tmp_path), steps_done=list(runner.STEPS), exit_code=0, verdict="PASS"))
    assert cli.main([*BASE, "--run-dir", str(tmp_path)]) == 0
    assert "downtime: writes unavailable 5.2 s (quiet wait 4.0 s, drain 1.2 s, settings 0.0 s, switch 0.0 s)" in capsys.readouterr().out


def test_the_preflight_s_checks_name_the_switch_parameter_and_the_restored_table_s_stream():
    from runbook_lib import permissions

    checks = permissions.run_checks(partition="aws", region="eu-west-1", account="123456789012", source_table="orders",
                                    target_table="orders-r", stack_name="pitr-x", switch_parameter="/orders/table-name")
    arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/orders/table-name"
    assert {(a, r) for a, r, _ in checks} >= {("ssm:GetParameter", arn), ("ssm:PutParameter", arn),
                                             ("dynamodb:GetRecords", "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-r/stream/*")}
    # and the policy rendered with a switch holds the statements that grant them
    policy = permissions.render_policy(partition="aws", region="eu-west-1", account="123456789012",
                                       source_table_pattern="orders", target_table_pattern="orders-r",
                                       switch_parameter_pattern="/orders/table-name")
    sids = {s["Sid"] for s in policy["Statement"]}
    assert {"SwitchParameter", "ReadRestoredTableStream"} <= sids

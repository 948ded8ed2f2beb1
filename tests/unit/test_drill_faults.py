"""Drills with injected faults: names checked before anything starts, and the report says what happened."""

from __future__ import annotations

import json

import pytest

from runbook_lib import activity, cli, drill
from runbook_lib.errors import InputError
from runbook_lib.report import pipeline_lines, render_html, run_summary
from runbook_lib.sandbox import faults
from test_report import STATE, _reconciliation


@pytest.fixture
def demo_fault():
    faults.register("demo-fault", "fails things on purpose", rate=0.5)
    yield "demo-fault"
    faults._registry.pop("demo-fault", None)


def test_unknown_fault_is_refused_before_the_sandbox_starts(monkeypatch):
    started = []
    monkeypatch.setattr("runbook_lib.sandbox.Sandbox.start", lambda self: started.append(self))
    with pytest.raises(InputError, match="unknown fault 'no-such-fault'.*--fault list"):
        drill.drill(faults=["no-such-fault"])
    assert started == []


def test_fault_that_needs_event_mode_is_refused_in_notebook_mode(demo_fault, monkeypatch):
    monkeypatch.setitem(drill.FAULT_AUTOMATION, demo_fault, "event")
    with pytest.raises(InputError, match="needs --automation event"):
        drill.check_faults([demo_fault], "notebook")
    assert drill.check_faults([demo_fault, demo_fault], "event") == [demo_fault]


def test_cli_fault_list_prints_each_fault_with_its_parameters(demo_fault, capsys, monkeypatch):
    monkeypatch.setattr(drill, "drill", lambda **k: pytest.fail("list must not run a drill"))
    assert cli.main(["drill", "--fault", "list"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("demo-fault") and "fails things on purpose" in line and "rate=0.5" in line
               for line in out.splitlines())


def test_cli_unknown_fault_exits_2_with_one_line(capsys):
    assert cli.main(["drill", "--fault", "no-such-fault"]) == 2
    err = capsys.readouterr().err
    assert "no-such-fault" in err and err.count("\n") == 1


def test_cli_passes_every_fault_to_the_drill(demo_fault, monkeypatch, tmp_path):
    from runbook_lib import runner

    seen = {}

    def fake(**kwargs):
        seen.update(kwargs)
        return runner.RunResult(run_dir=str(tmp_path), steps_done=[], exit_code=0, verdict="PASS")

    monkeypatch.setattr(drill, "drill", fake)
    assert cli.main(["drill", "--fault", demo_fault, "--fault", "other"]) == 0
    assert list(seen["faults"]) == [demo_fault, "other"]


def test_log_lines_are_added_up_by_event_and_field():
    lines = [
        'START RequestId: 1 Version: $LATEST',
        '{"event":"applied","level":"INFO","logger":"runbook_lib.cdc.applier","received":10,"retries":2,"failed":0}',
        '{"event":"applied","level":"WARNING","logger":"runbook_lib.cdc.applier","received":4,"retries":5,"failed":1}',
        '[ERROR] 2026-11-30T10:00:00Z {"event":"message_failed","group":"ab","reason":"write_failed"}',
        'RequestId: 2 Error: Runtime exited with error: signal: killed Runtime.ExitError',
        'REPORT RequestId: 2 Duration: 3 ms Status: error',
        'REPORT RequestId: 1 Duration: 3 ms',
    ]
    summary = activity.summarize_lines(lines)
    assert summary["events"] == {"applied": 2, "message_failed": 1}
    assert summary["totals"] == {"received": 14, "retries": 7, "failed": 1}
    assert summary["invocation_errors"] == 1


def _faulty_state():
    pipeline = {
        "forwarder": {"events": {"forwarded": 3, "entry_failed": 2}, "totals": {"sent": 40}, "invocation_errors": 0},
        "applier": {"events": {"applied": 5}, "totals": {"retries": 9}, "invocation_errors": 1},
        "dlq_depth": 0,
        "stream_failures": 0,
    }
    entry = {"name": "partial-send", "params": {"rate": 0.2}, "injected": {"entries_failed": 2},
             "pipeline": pipeline, "fallbacks": []}
    return {**STATE, "faults": [entry]}


def test_summary_and_report_carry_one_entry_per_fault():
    state = _faulty_state()
    summary = run_summary(_reconciliation(), state)
    assert [f["name"] for f in summary["faults"]] == ["partial-send"]
    assert summary["faults"][0]["injected"] == {"entries_failed": 2}
    json.dumps(summary)
    page = render_html(_reconciliation(), state)
    assert "<h2>Injected faults</h2>" in page and "<h3>partial-send</h3>" in page
    assert "entries_failed 2" in page and "entry_failed 2" in page and "retries 9" in page
    assert ("messages in the DLQ", "0") in pipeline_lines(state["faults"][0]["pipeline"])


def test_report_without_faults_has_no_fault_section():
    assert "Injected faults" not in render_html(_reconciliation(), STATE)
    assert "faults" not in run_summary(_reconciliation(), STATE)


def test_poison_redrive_drill_gets_a_dlq_the_runbook_allows_and_a_redrive_in_03():
    from runbook_lib import buffer
    from runbook_lib.drill import _fault_step_parameters

    base = {"01_deploy_buffer": {"buffer_parameters": {"RestorePollSeconds": "2"}},
            "03_monitor": {"drain_timeout": 300, "quiet_samples": 2}}
    params = _fault_step_parameters(["poison-redrive"], base)
    deploy = params["01_deploy_buffer"]["buffer_parameters"]
    assert deploy["RestorePollSeconds"] == "2"  # the drill's own parameters are kept
    assert int(deploy["MaxReceiveCount"]) * int(deploy["QueueVisibilityTimeout"]) >= buffer.REDRIVE_MIN_SECONDS
    assert params["03_monitor"]["redrive_dlq"] is True and params["03_monitor"]["quiet_samples"] == 2
    # 03 waits for the failing change to land in the DLQ (one receive per visibility timeout)
    assert params["03_monitor"]["dlq_wait"] > int(deploy["MaxReceiveCount"]) * int(deploy["QueueVisibilityTimeout"])
    assert _fault_step_parameters([], base) == base


def test_applier_crash_drill_deploys_a_visibility_timeout_a_killed_batch_comes_back_within():
    from runbook_lib import buffer
    from runbook_lib.drill import _fault_step_parameters

    base = {"01_deploy_buffer": {"buffer_parameters": {"RestorePollSeconds": "2"}}, "03_monitor": {"drain_timeout": 300}}
    deploy = _fault_step_parameters(["applier-crash"], base)["01_deploy_buffer"]["buffer_parameters"]
    assert deploy["RestorePollSeconds"] == "2"
    visibility, timeout = int(deploy["QueueVisibilityTimeout"]), int(deploy["ApplierTimeoutSeconds"])
    assert timeout <= visibility <= 60  # AWS requires >= the function timeout; the drill drains in 300 s
    # the buffer's default MaxReceiveCount keeps a crashed message out of the DLQ as long as the runbook requires
    default_receives = int(buffer.load_template()["Parameters"]["MaxReceiveCount"]["Default"])
    assert default_receives * visibility >= buffer.REDRIVE_MIN_SECONDS


def test_a_drill_records_its_facts_in_the_run_state_and_the_report_shows_them(tmp_path):
    from runbook_lib import run_state
    from runbook_lib.report import summarize

    # GIVEN the facts a drill records before step 04 (unknown ones left out)
    drill.record_drill(tmp_path, mode="rollback", automation="notebook", items=150, faults=["partial-send"],
                       rto_target_seconds=60.0, incident_keys=20, redact_keys=True, as_operator=True, runs_dir="runs",
                       traffic={"rate": 15.0, "puts": 3, "updates": 2, "deletes": 1}, unknown=None)
    view = run_state.load(tmp_path).view()
    assert "unknown" not in view["drill"]
    # WHEN the report is made from that state
    summary = summarize(_reconciliation(), {**STATE, "drill": view["drill"]})
    page = render_html(_reconciliation(), {**STATE, "drill": view["drill"]}, summary=summary)
    # THEN the run is a drill, its facts and checks are shown and in summary.json
    assert summary.kind == "drill" and "<h2>Drill</h2>" in page and "1 min 0 s" in page
    data = summary.to_json()
    assert data["drill"]["faults"] == ["partial-send"] and data["drill"]["rto_target_seconds"] == 60.0
    assert {c["check"] for c in data["drill"]["checks"]} >= {"verdict", "rto_target", "fault_injected", "incident_explained"}


@pytest.mark.parametrize("checks, exit_before, exit_after", [
    ([{"check": "verdict", "ok": True, "detail": "PASS"}, {"check": "rto", "ok": False, "detail": "RTO 7 s over 1 s"}], 0, 1),
    ([{"check": "verdict", "ok": True, "detail": "PASS"}, {"check": "rto", "ok": True, "detail": "RTO 7 s"}], 0, 0),
    ([{"check": "rto", "ok": False, "detail": "RTO 7 s over 1 s"}], 2, 2),  # an operator error says more
])
def test_a_missed_drill_check_makes_a_passing_drill_exit_1(tmp_path, checks, exit_before, exit_after):
    from runbook_lib.runner import RunResult

    (tmp_path / "summary.json").write_text(json.dumps({"verdict": "PASS", "drill": {"checks": checks}}))
    result = RunResult(run_dir=str(tmp_path), steps_done=[], exit_code=exit_before)
    missed = drill.fail_on_missed_checks(result)
    assert result.exit_code == exit_after
    assert [c["check"] for c in missed] == [c["check"] for c in checks if not c["ok"]]


def test_a_drill_without_summary_has_no_missed_checks(tmp_path):
    from runbook_lib.runner import RunResult

    result = RunResult(run_dir=str(tmp_path), steps_done=[], exit_code=3)
    assert drill.fail_on_missed_checks(result) == [] and result.exit_code == 3

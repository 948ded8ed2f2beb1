"""The runner records each step's status in the run state and, resuming, skips the steps done."""

from __future__ import annotations

import pytest

from runbook_lib import run_state, runner
from runbook_lib.errors import InputError


@pytest.fixture
def ran(monkeypatch):
    calls: list[str] = []

    def fake_step(step, params, **kwargs):
        calls.append(step)
        if step == "04_reconcile":
            (__import__("pathlib").Path(params.run_dir) / "summary.json").write_text('{"verdict": "PASS"}')

    monkeypatch.setattr(runner, "run_step", fake_step)
    return calls


def _params(tmp_path, *, execute=True, source="orders"):
    return runner.RunParams(source, "orders-r", run_dir=str(tmp_path), execute=execute)


def test_each_step_is_recorded_running_then_done(tmp_path, ran):
    result = runner.run(_params(tmp_path))
    assert ran == list(runner.STEPS) and result.exit_code == 0 and result.verdict == "PASS"
    state = run_state.load(tmp_path)
    assert [state.steps[s].status for s in runner.STEPS] == ["done"] * 6
    assert all(state.steps[s].execute and state.steps[s].finished >= state.steps[s].started for s in runner.STEPS)


def test_resuming_skips_the_steps_done_and_runs_the_interrupted_one_again(tmp_path, ran):
    # GIVEN a run that died during 02 (00 and 01 done, 02 still "running")
    with run_state.edit(tmp_path) as state:
        state.params.source_table, state.params.target_table = "orders", "orders-r"
        for step in ("00_preflight", "01_deploy_buffer"):
            state.mark_step(step, "done", execute=True)
        state.mark_step("02_restore", "running", execute=True)
    # WHEN it is started again
    result = runner.run(_params(tmp_path), resume=True)
    # THEN 00 and 01 are not run again; 02 and the rest are
    assert ran == list(runner.STEPS[2:])
    assert result.steps_resumed == ["00_preflight", "01_deploy_buffer"] and result.steps_done == list(runner.STEPS)


def test_a_dry_run_does_not_stand_for_an_executed_step_and_resume_is_asked_for(tmp_path, ran):
    runner.run(_params(tmp_path, execute=False))
    ran.clear()
    runner.run(_params(tmp_path, execute=True), resume=True)
    assert ran == list(runner.STEPS)  # dry runs marked "done" without execute: all run again
    ran.clear()
    runner.run(_params(tmp_path, execute=True))
    assert ran == list(runner.STEPS)  # without resume, every step runs


def test_a_failed_verdict_is_recorded_failed_so_a_resume_reconciles_again(tmp_path, monkeypatch):
    calls = []

    def fake_step(step, params, **kwargs):
        calls.append(step)
        if step == "04_reconcile":
            (tmp_path / "summary.json").write_text('{"verdict": "FAIL"}')

    monkeypatch.setattr(runner, "run_step", fake_step)
    assert runner.run(_params(tmp_path)).exit_code == 1
    assert run_state.load(tmp_path).steps["04_reconcile"].status == "failed"
    calls.clear()
    runner.run(_params(tmp_path), resume=True)
    assert calls == ["04_reconcile"]


def test_resuming_a_run_directory_of_other_tables_is_refused(tmp_path, ran):
    runner.run(_params(tmp_path))
    with pytest.raises(InputError) as info:
        runner.run(_params(tmp_path, source="invoices"), resume=True)
    assert "holds the run orders -> orders-r" in str(info.value) and ran.count("00_preflight") == 1

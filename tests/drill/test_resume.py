"""A run survives its operator's laptop: killed during any step (the process and its kernel gone)
and started again with the same run directory, it carries on and ends as if never interrupted.

One run on the sandbox is killed six times, once during each step, and resumed each time: steps
that finished are not run again, the interrupted one checks AWS before it acts (the stack being
deployed is used, the restore already called is followed, the recorded ACTIVE time is kept, a
teardown under way is finished), and the last resume ends with the verdict PASS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psutil
import pytest

from runbook_lib import run_state, runner
from runbook_lib.sandbox import SETTINGS
from runbook_lib.sandbox.traffic import create_demo_table, seed_items

pytestmark = pytest.mark.slow

SOURCE, TARGET = "orders", "orders-r"
_RUN = """
import json, sys
from runbook_lib import runner
result = runner.run(runner.RunParams(**json.loads(sys.argv[1])), resume=True)
print("RESULT " + json.dumps(result.to_dict()))
sys.exit(result.exit_code)
"""


def _running(state: run_state.RunState, step: str) -> bool:
    status = state.steps.get(step)
    return status is not None and status.status == "running"


def _stacks(aws) -> list[dict]:
    return [s for s in aws("cloudformation").list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"]


def _target_exists(aws) -> bool:
    return TARGET in aws("dynamodb").list_tables()["TableNames"]


#: when to kill the run: inside each step, once it has started doing what a resume must not redo
KILL_DURING = {
    "00_preflight": lambda state, aws, since: _running(state, "00_preflight") and since > 1.0,
    "01_deploy_buffer": lambda state, aws, since: _running(state, "01_deploy_buffer") and bool(_stacks(aws)),
    "02_restore": lambda state, aws, since: _running(state, "02_restore") and _target_exists(aws),
    "03_monitor": lambda state, aws, since: _running(state, "03_monitor") and state.timings.replay_enabled is not None,
    "04_reconcile": lambda state, aws, since: _running(state, "04_reconcile") and since > 1.0,
    "05_cutover": lambda state, aws, since: _running(state, "05_cutover") and state.timings.cutover_done is not None,
}


def _start(params: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _RUN, json.dumps(params)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ})


def _kill_tree(proc: subprocess.Popen) -> None:
    """The process and every process it started (papermill's kernel runs in a session of its own)."""
    parent = psutil.Process(proc.pid)
    family = [*parent.children(recursive=True), parent]
    for p in family:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=30)
    proc.communicate(timeout=30)


def _kill_during(step: str, params: dict, aws, run_dir) -> run_state.RunState:
    proc = _start(params)
    started_at = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before it could be killed during {step}: {proc.communicate()[0][-3000:]}"
        state = run_state.load(run_dir)
        if _running(state, step) and started_at is None:
            started_at = time.monotonic()
        since = time.monotonic() - started_at if started_at is not None else 0.0
        if KILL_DURING[step](state, aws, since):
            _kill_tree(proc)
            return run_state.load(run_dir)
        time.sleep(0.1)
    _kill_tree(proc)
    pytest.fail(f"never saw {step} at the point to kill it")


def test_a_run_killed_during_each_step_resumes_and_ends_as_if_never_interrupted(aws, endpoint, tmp_path):
    # GIVEN a source table with PITR and a stream; restores that take a few seconds, as on AWS (hours)
    SETTINGS.restore_seconds = 6.0
    ddb = aws("dynamodb")
    create_demo_table(ddb, SOURCE)
    seed_items(ddb, SOURCE, 60, seed=5)
    time.sleep(1.1)
    run_dir = tmp_path / "run"
    params = {
        "source_table": SOURCE, "target_table": TARGET, "endpoint_url": endpoint, "region": "us-east-1",
        "run_dir": str(run_dir), "execute": True,
        "step_parameters": {
            "00_preflight": {"check_permissions": False},
            "03_monitor": {"restore_timeout": 120.0, "drain_timeout": 120.0, "sample_seconds": 0.5, "quiet_samples": 2},
            "04_reconcile": {"segments": 1, "drain_timeout": 120.0},
            "05_cutover": {"quiet_seconds": 3.0, "cutover_timeout": 60.0},
        },
    }  # fmt: skip
    seen: dict[str, run_state.RunState] = {}

    # WHEN the run is killed during each step in turn, and started again each time
    for step in runner.STEPS:
        seen[step] = state = _kill_during(step, params, aws, run_dir)
        assert state.steps[step].status == "running"
        assert all(state.steps[done].status == "done" for done in runner.STEPS[: runner.STEPS.index(step)])
        if step == "01_deploy_buffer":
            stack_ids = {s["StackId"] for s in _stacks(aws)}
            assert len(stack_ids) == 1
        if step == "02_restore":
            created = ddb.describe_table(TableName=TARGET)["Table"]["CreationDateTime"]

    final = _start(params)
    out, _ = final.communicate(timeout=600)

    # THEN the last start finished only the interrupted step, and the run ends with PASS
    assert final.returncode == 0, out[-4000:]
    result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    assert result["verdict"] == "PASS" and result["steps_done"] == list(runner.STEPS)
    assert result["steps_resumed"] == list(runner.STEPS[:-1])
    state = run_state.load(run_dir)
    assert all(state.steps[s].status == "done" and state.steps[s].execute for s in runner.STEPS)
    # one stack, deployed once and used by every later start
    assert state.stack.description["id"] in stack_ids
    # one restore: the table the first call created, its call time, and the plan it was made to
    assert ddb.describe_table(TableName=TARGET)["Table"]["CreationDateTime"] == created
    assert state.plan == seen["03_monitor"].plan and state.timings.restore_called == seen["03_monitor"].timings.restore_called
    # the ACTIVE time recorded before the kill in 03 is kept: the RTO is the restore's, not the resume's
    assert state.timings.active == seen["04_reconcile"].timings.active and state.timings.rto_seconds < 60
    assert state.timings.drained is not None and state.timings.cutover_done is not None
    # and the teardown that was under way when the run died was finished and verified
    assert state.teardown.clean is True and _stacks(aws) == []
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["unexplained"] == 0 and summary["counts"]["source"] == summary["counts"]["target"] == 60

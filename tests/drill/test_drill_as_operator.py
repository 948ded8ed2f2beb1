"""The drill runs the runbook as the IAM user pitr-operator holding only infra/operator-policy.json, with
IAM enforced by the sandbox: a call the policy does not allow stops the run, as it would on AWS.

``assert_recorded_calls_listed`` is what the drill tests use to keep
``tests/unit/golden/operator_calls.txt`` (what the policy is derived from) complete: a drill that makes a
call not listed there fails; ``UPDATE_GOLDEN=1`` adds it (then ``tests/unit/test_operator_policy.py``
fails until infra/operator-policy.json grants it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runbook_lib import run_state

pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).resolve().parents[1] / "unit" / "golden" / "operator_calls.txt"
_NOT_RECORDED = "# [not reached by a drill on the sandbox]"


def pitr_runbook(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runbook_lib.cli", *args], capture_output=True, text=True, timeout=900)


def assert_recorded_calls_listed(recorded: Path) -> None:
    calls = {tuple(line.split()) for line in recorded.read_text().splitlines() if line.strip()}
    assert calls, "the drill recorded no call: PITR_RUNBOOK_RECORD_CALLS did not reach the notebooks"
    lines = GOLDEN.read_text().splitlines()
    cut = next(i for i, line in enumerate(lines) if line.startswith(_NOT_RECORDED))
    listed = {tuple(line.split("#", 1)[0].split()) for line in lines if line.split("#", 1)[0].strip()}
    new = sorted(calls - listed)
    if new and os.environ.get("UPDATE_GOLDEN"):
        head = [line for line in lines[:cut] if line.startswith("#")]
        body = sorted({line for line in lines[:cut] if line and not line.startswith("#")} | {" ".join(c) for c in new})
        GOLDEN.write_text("\n".join(head + body + lines[cut:]) + "\n")
        return
    assert new == [], f"calls not in {GOLDEN.name} (UPDATE_GOLDEN=1 adds them; then grant them in infra/operator-policy.json): {new}"


def test_a_policy_without_a_statement_stops_the_run_with_exit_2_and_one_line_naming_the_denied_action(tmp_path):
    # GIVEN the operator's policy without ReadBufferStack (cloudformation:DescribeStacks on the buffer
    # stack), and without CheckOwnPermissions, so that the preflight cannot find the gap first
    run = tmp_path / "denied"
    # WHEN the drill runs the notebooks as that user
    proc = pitr_runbook("drill", "--items", "50", "--runs-dir", str(tmp_path), "--run-dir", str(run),
                        "--without-statement", "ReadBufferStack", "--without-statement", "CheckOwnPermissions")
    # THEN the run stops at the buffer's deployment with exit status 2 and one line naming the action,
    # the stack and the statement that grants it
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("pitr-runbook:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    line = lines[0]
    assert line.startswith("pitr-runbook: step 01_deploy_buffer failed: access denied"), line
    assert "cloudformation:DescribeStacks" in line and "stack/pitr-drill-orders-" in line
    assert 'statement "ReadBufferStack"' in line and "operator-policy.json" in line
    result = json.loads((run / "run.json").read_text())
    assert (result["failed_step"], result["error_type"], result["exit_code"]) == ("01_deploy_buffer", "AccessDeniedError", 2)
    # and the preflight said it could not check the permissions (a WARN, not a FAIL)
    state = run_state.load(run)
    rows = {r.check: r for r in state.preflight}
    assert rows["permissions"].status == "WARN" and "iam:SimulatePrincipalPolicy" in rows["permissions"].finding


def test_a_policy_without_the_restore_statement_fails_the_preflight_before_anything_is_created(tmp_path):
    run = tmp_path / "preflight"
    proc = pitr_runbook("drill", "--items", "50", "--runs-dir", str(tmp_path), "--run-dir", str(run),
                        "--without-statement", "RestoreSourceTable")
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((run / "run.json").read_text())
    assert result["failed_step"] == "00_preflight" and result["steps_done"] == []
    assert "dynamodb:RestoreTableToPointInTime" in result["error"] and "RestoreSourceTable" in result["error"]
    assert "\n" not in result["error"]
    assert [line for line in proc.stderr.splitlines() if line.startswith("pitr-runbook:")] == [
        f"pitr-runbook: {result['error']}"]

"""End to end across regions: the drills of test_drill.py with ``--target-region``: the source, its
stream and the buffer in us-east-1, the restored table in eu-west-1 (a cross-region restore, called
there with SourceTableArn and SSESpecificationOverride), live writers throughout, as the
operator user holding only infra/operator-policy.json rendered with that target region."""

from __future__ import annotations

import json

import pytest

from runbook_lib import run_state
from runbook_lib.drill import INCIDENT_KEYS
from test_drill import _no_canary, pitr_runbook  # noqa: E402 - tests/drill is on sys.path
from test_drill_as_operator import assert_recorded_calls_listed  # noqa: E402

pytestmark = pytest.mark.slow

TARGET_REGION = "eu-west-1"


def _restored_in_target_region(run) -> None:
    """Step 02 called the restore in the target's region, and the restored table lives there only."""
    restore = (run / "02_restore.ipynb").read_text()
    assert f"drill-orders-restored in {TARGET_REGION} is CREATING" in restore
    assert f"{TARGET_REGION} (restored across regions from arn:aws:dynamodb:us-east-1:" in restore


def test_catch_up_with_the_target_in_another_region_converges_under_live_writes(tmp_path):
    proc = pitr_runbook("drill", "--items", "150", "--target-region", TARGET_REGION, "--runs-dir", str(tmp_path),
                        "--run-dir", str(tmp_path / "catchup"), "--record-calls", str(tmp_path / "calls.txt"))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "as arn:aws:iam::123456789012:user/pitr-operator" in proc.stdout
    assert_recorded_calls_listed(tmp_path / "calls.txt")
    run = tmp_path / "catchup"
    summary = json.loads((run / "summary.json").read_text())
    # every write made during the restore reached the table in eu-west-1: same items as the source
    assert summary["verdict"] == "PASS" and summary["unexplained"] == 0
    assert summary["counts"]["source"] == summary["counts"]["target"] > 0
    buf = summary["buffer"]
    assert buf is not None and buf["arrived"] > 0 and buf["applied"] > 0, summary
    state = run_state.load(run)
    assert state.params.target_region == TARGET_REGION and state.params.region in (None, "us-east-1")
    assert state.plan.mode == "catchup" and state.teardown.clean is True
    _restored_in_target_region(run)
    _no_canary(run)
    # the switch names the restored table by ARN (its region), and the writers resumed on it there
    assert state.switch is not None and state.switch.value.startswith(f"arn:aws:dynamodb:{TARGET_REGION}:")
    assert state.switch.value.endswith(":table/drill-orders-restored")
    assert summary["downtime"]["seconds"] > 0
    landed = [line for line in proc.stdout.splitlines() if line.startswith("writers") and "landed on" in line]
    assert landed and "on target" in landed[0] and not landed[0].split("on target")[1].strip().startswith("0 "), landed


def test_rollback_with_the_target_in_another_region_reverts_exactly_the_incident_window(tmp_path):
    proc = pitr_runbook("drill", "--mode", "rollback", "--items", "150", "--target-region", TARGET_REGION,
                        "--runs-dir", str(tmp_path), "--run-dir", str(tmp_path / "rollback"),
                        "--record-calls", str(tmp_path / "calls.txt"))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert_recorded_calls_listed(tmp_path / "calls.txt")
    run = tmp_path / "rollback"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["verdict"] == "PASS" and summary["unexplained"] == 0
    assert summary["explained"] >= INCIDENT_KEYS
    state = run_state.load(run)
    assert state.params.target_region == TARGET_REGION
    assert state.plan.mode == "rollback" and state.plan.restore_time < state.plan.replay_from
    assert state.teardown.clean is True
    _restored_in_target_region(run)
    _no_canary(run)


def test_event_automation_across_regions_is_refused_before_anything_runs(tmp_path):
    """The restore's CloudTrail event is recorded in the target's region; the buffer's rule listens
    in the source's and would never fire: refused with the remedy, exit 2, nothing run."""
    proc = pitr_runbook("run", "--source-table", "orders", "--target-table", "orders-r", "--region", "us-east-1",
                        "--target-region", TARGET_REGION, "--automation", "event", "--run-dir", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert "automation 'notebook'" in proc.stderr
    assert not (tmp_path / "r" / "00_preflight.ipynb").exists()

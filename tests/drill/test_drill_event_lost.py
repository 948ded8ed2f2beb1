"""The event-mode drill with fault ``event-lost``: the restore's CloudTrail event never arrives.

CloudTrail delivers events to EventBridge on a best-effort basis ("Event delivery from AWS
services", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-delivery-level.html).
The drill must still PASS because step 03 turns replay on itself, and say so in its state.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runbook_lib import run_state
from runbook_lib.monitor import FALLBACK_ACTION

pytestmark = pytest.mark.slow


def test_event_drill_with_a_lost_event_falls_back_to_the_monitor_and_passes(tmp_path):
    run = tmp_path / "event-lost"
    proc = subprocess.run(
        [sys.executable, "-m", "runbook_lib.cli", "drill", "--automation", "event", "--fault", "event-lost",
         "--items", "150", "--runs-dir", str(tmp_path), "--run-dir", str(run)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["verdict"] == "PASS" and summary["unexplained"] == 0
    state = run_state.load(run)
    # no workflow ran: the monitor turned replay on, and the state says so and why
    assert state.workflow.status == "NOT_STARTED" and state.workflow.execution_arn is None
    (fallback,) = state.fallbacks
    assert fallback.what == FALLBACK_ACTION and "no execution of the enable-replay workflow" in fallback.why
    (fault,) = summary["faults"]
    assert fault["name"] == "event-lost" and fault["injected"] == {"restore events dropped": 1}
    assert fault["fallbacks"] == [fallback.to_json()]
    assert state.teardown.clean is True

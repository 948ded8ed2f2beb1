"""`make drill` with its default switch: the drill's writers read their table from an SSM parameter as an
application would, stop when cutover tells them, and resume on the restored table once cutover has
switched the parameter; the drill measures the write-unavailability window."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from runbook_lib import run_state
from test_drill_as_operator import assert_recorded_calls_listed  # noqa: E402 - tests/drill is on sys.path

pytestmark = pytest.mark.slow


def test_drill_switches_the_parameter_measures_the_downtime_and_the_writers_resume_on_the_target(tmp_path):
    # WHEN the drill runs as `make drill` does (its defaults: the switch ssm:/drill/orders/table-name), with
    # run directories relative to the working directory as `make drill` gives them (papermill runs each
    # notebook in the run directory: the writers must still find the run state)
    run = tmp_path / "switch"
    proc = subprocess.run([sys.executable, "-m", "runbook_lib.cli", "drill", "--items", "150", "--runs-dir", ".",
                           "--run-dir", "switch", "--record-calls", str(tmp_path / "calls.txt")],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr[-3000:]
    # THEN the operator switched the parameter with only the calls its policy is derived from
    assert_recorded_calls_listed(tmp_path / "calls.txt")
    calls = (tmp_path / "calls.txt").read_text().split("\n")
    assert "ssm PutParameter" in calls and "ssm GetParameter" in calls
    state = run_state.load(run)
    assert (state.switch.parameter, state.switch.value, state.switch.previous_value, state.switch.version) == (
        "/drill/orders/table-name", "drill-orders-restored", "drill-orders", 2)
    # the window runs from the last write the writers made on the source to the switch, in its parts
    d = state.downtime
    assert d.last_source_write is not None and d.last_source_write <= d.quiet <= d.drained <= d.settings <= d.switched
    assert d.switched >= state.timings.cutover_done
    summary = json.loads((run / "summary.json").read_text())["downtime"]
    assert summary["from_kind"] == "last_source_write" and summary["to_kind"] == "switch"
    assert set(summary["parts"]) == {"quiet_wait", "drain", "settings", "switch"}
    assert summary["seconds"] == pytest.approx(sum(summary["parts"].values()), abs=0.01)
    assert summary["seconds"] >= 1.0  # at least the drill's quiet period (1 s) without a write
    assert "write-unavailability window" in (run / "report.html").read_text()
    # and the writers, reading the parameter, resumed on the restored table: their writes landed there
    assert summary["first_target_write"] >= summary["to"] and summary["until_first_target_write_seconds"] >= summary["seconds"]
    line = re.search(r"^downtime +measured +.*$", out, re.M)
    assert line and "quiet wait" in line.group(0) and "first write on drill-orders-restored" in line.group(0), out
    landed = re.search(r"^writers +on target +(\d+) write\(s\) landed on drill-orders-restored", out, re.M)
    assert landed and int(landed.group(1)) > 0, out
    history = json.loads((tmp_path / "history.jsonl").read_text().splitlines()[-1])
    assert history["downtime_seconds"] == summary["seconds"]

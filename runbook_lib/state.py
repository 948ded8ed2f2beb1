"""``run_dir/state.json``: what one step hands to the next, so a run can be chained or resumed.

Times are ISO-8601 UTC strings (``2026-11-28T05:00:00.000000+00:00``). Known keys:

``source_table``, ``target_table``, ``region``, ``endpoint_url``, ``automation``, ``mode``
(``catchup`` | ``rollback``), ``restore_time`` (T), ``replay_from`` (R), ``capture_start``,
``stack`` ({``name``, ``outputs``}), ``timings`` ({``restore_called``, ``active``,
``replay_enabled``, ``drained``, ``cutover_done``}), ``drain_samples`` (list of {``t``,
``depth``, ``in_flight``, ``dlq``}), ``settings_snapshot``, ``preflight`` (rows), ``workflow``
({``execution_arn``, ``status``, ``fallback``}), ``fallbacks`` (list of {``step``, ``what``,
``why``, ``at``, ...}: what a step did in place of an automation that did not act, e.g. replay
turned on by step 03 because the restore's CloudTrail event never started the workflow).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"


def load(run_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(run_dir) / STATE_FILE
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def update(run_dir: str | os.PathLike, **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into the state (dicts one level deep) and write it atomically."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    state = load(run)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(state.get(key), dict):
            state[key] = {**state[key], **value}
        else:
            state[key] = value
    fd, tmp = tempfile.mkstemp(dir=run, prefix=".state.", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh, indent=2, sort_keys=True, default=str)
    os.replace(tmp, run / STATE_FILE)
    return state


def add_fallback(run_dir: str | os.PathLike, entry: dict[str, Any]) -> dict[str, Any]:
    """Append ``entry`` to ``fallbacks``: a step did what an automation should have done, and why."""
    return update(run_dir, fallbacks=[*(load(run_dir).get("fallbacks") or []), dict(entry)])

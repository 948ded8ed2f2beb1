"""Drills' run directories as the schedule's tests need them: a ``summary.json`` in the report's
schema (the golden PASS drill, ``tests/unit/golden/summary-drill-pass.json``, with the facts a test
sets), and the files a run directory holds."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path

from runbook_lib import times

GOLDEN = Path(__file__).resolve().parents[1] / "unit" / "golden" / "summary-drill-pass.json"


def drill_summary(table: str = "orders", *, verdict: str = "PASS", rto: float | None = 312.0, unexplained: int = 0,
                  target: float | None = 600.0, when=None, checks_ok: bool = True, items: int = 170) -> dict:
    """A drill's summary.json in the report's schema (the golden PASS drill, with these facts)."""
    summary = copy.deepcopy(json.loads(GOLDEN.read_text()))
    when = when or times.utcnow() - timedelta(hours=1)
    summary.update(source_table=table, target_table=f"{table}-drill-{when:%Y%m%dT%H%M%SZ}", verdict=verdict,
                   unexplained=unexplained, counts={"source": items, "target": items})
    summary["timings"] = {"restore_called": times.iso_second(when), "active": times.iso_second(when + timedelta(seconds=rto or 1))}
    summary.pop("rto_seconds", None)
    if rto is not None:
        summary["rto_seconds"] = rto
    summary["drill"]["rto_target_seconds"] = target
    if target is None:
        summary["drill"].pop("rto_target_seconds")
    # as drill --source-table writes them: the user's checks by status, and folded into the drill's checks
    status = "SUCCESSFUL" if checks_ok else "FAILED"
    summary["drill"]["user_checks"] = [{"name": "check_orders_have_totals", "file": "checks.py", "status": status}]
    summary["drill"]["checks"] = [{"check": "verdict", "ok": verdict == "PASS", "detail": verdict},
                                  {"check": "user_check", "ok": checks_ok, "detail": f"check_orders_have_totals: {status}"}]
    summary["drill"]["source_items"] = items
    return summary


def write_run(root: Path, name: str, summary: dict | None) -> Path:
    run = root / name
    (run / "notebooks").mkdir(parents=True)
    (run / "report.html").write_text("<html>report</html>")
    (run / "notebooks" / "04_reconcile.ipynb").write_text("{}")
    if summary is not None:
        (run / "summary.json").write_text(json.dumps(summary))
    return run

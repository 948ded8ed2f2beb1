"""Reports rendered from a hand-built Reconciliation and state: summary.json, CSV, HTML, figures.

Golden files live in tests/unit/golden/; regenerate them with ``UPDATE_GOLDEN=1 pytest tests/unit/test_report.py``.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from runbook_lib import run_state
from runbook_lib.reconcile import (
    CHANGED,
    EXPLAINED,
    EXTRA,
    FAIL,
    IN_FLIGHT,
    MISSING,
    PASS,
    UNEXPLAINED,
    Difference,
    Reconciliation,
)
from runbook_lib.report import (
    CSV_COLUMNS,
    drain_figure,
    drain_rate,
    render_html,
    run_summary,
    timeline_figure,
    write_reports,
)

GOLDEN = Path(__file__).parent / "golden"
CANARY = "CANARY-VALUE-7f3a"


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def _run_state() -> run_state.RunState:
    """The run state behind the reports: built as the steps build it, read through its view."""
    t = run_state.times.parse_iso
    state = run_state.RunState(
        params=run_state.Params(source_table="orders", target_table="orders-restored"),
        plan=run_state.Plan(mode="rollback", restore_time=t("2026-11-28T05:00:00+00:00"),
                            replay_from=t("2026-11-28T05:10:00+00:00"), earliest_restorable=t("2026-11-28T00:00:00+00:00"),
                            latest_restorable=t("2026-11-28T05:11:00+00:00")),
        stack=run_state.Stack(description={"name": "pitr-orders", "outputs": {}}, capture_start=t("2026-11-28T04:58:00+00:00")),
        timings=run_state.Timings(restore_called=t("2026-11-28T05:12:00+00:00"), active=t("2026-11-28T05:20:30+00:00"),
                                  replay_enabled=t("2026-11-28T05:20:35+00:00"), drained=t("2026-11-28T05:22:30+00:00")),
    )
    for when, depth, in_flight, dlq in (("05:20:30", 1000, 0, 0), ("05:21:00", 1200, 10, 0), ("05:21:30", 600, 10, 1),
                                        ("05:22:30", 0, 0, 1)):
        state.add_drain_sample(run_state.DrainSample(t(f"2026-11-28T{when}+00:00"), depth, in_flight, dlq))
    return state


STATE = _run_state().view()


def _reconciliation(*, show_values: bool = False, verdict: str = FAIL) -> Reconciliation:
    values = (
        {"source_values": {"note": {"S": CANARY}}, "target_values": {"note": {"S": "old"}}} if show_values else {}
    )
    differences = (
        Difference({"pk": {"S": "order#2"}}, CHANGED, ("note",), UNEXPLAINED, None, key_hash="aa01", **values),
        Difference({"pk": {"S": "order#<script>"}}, EXTRA, ("note", "pk"), IN_FLIGHT, None, key_hash="aa02"),
        Difference({"pk": {"S": "order#1"}}, MISSING, ("pk", "total"), EXPLAINED, _utc("2026-11-28T05:04:00"), key_hash="aa03"),
    )
    if verdict == PASS:
        differences = differences[2:]
    return Reconciliation(
        source_table="orders",
        target_table="orders-restored",
        source_count=1000,
        target_count=999,
        items_scanned=1999,
        scan_seconds=2.5,
        items_per_second=799.6,
        differences=differences,
        explained=1,
        unexplained=0 if verdict == PASS else 1,
        in_flight=0 if verdict == PASS else 1,
        verdict=verdict,
        restore_time=_utc("2026-11-28T05:00:00"),
        replay_from=_utc("2026-11-28T05:10:00"),
        coverage_warning=None,
        settled=4,
        reread_rounds=2,
        segments=4,
        consumed_capacity={"orders": 12.5, "orders-restored": 12.5},
        show_values=show_values,
    )


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"golden file {path} missing: run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed: review, then UPDATE_GOLDEN=1"


def test_summary_json_matches_golden(tmp_path):
    paths = write_reports(tmp_path, _reconciliation(), STATE)
    _golden("summary.json", paths.summary.read_text(encoding="utf-8"))


def test_differences_csv_matches_golden(tmp_path):
    paths = write_reports(tmp_path, _reconciliation(), STATE)
    _golden("differences.csv", paths.differences.read_text(encoding="utf-8"))


def test_summary_has_run_figures():
    s = run_summary(_reconciliation(), STATE)
    assert s["verdict"] == FAIL
    assert s["rto_seconds"] == 510.0
    assert s["catch_up_seconds"] == 120.0
    # peak 1200 at 05:21:00, 0 at 05:22:30: 1200 messages in 90 s
    assert s["drain_rate_per_second"] == pytest.approx(13.333, abs=1e-3)
    assert s["restore_time"] == "2026-11-28T05:00:00+00:00"
    assert s["capture_start"] == "2026-11-28T04:58:00+00:00"
    assert s["items_per_second"] == 799.6
    json.dumps(s)


def test_summary_without_state_still_renders():
    s = run_summary(_reconciliation(verdict=PASS), {})
    assert s["rto_seconds"] is None and s["drain_rate_per_second"] is None


def test_drain_rate_needs_a_falling_buffer():
    assert drain_rate({"drain_samples": [{"t": "2026-11-28T05:00:00Z", "depth": 3}]}) is None
    rising = [{"t": "2026-11-28T05:00:00Z", "depth": 1}, {"t": "2026-11-28T05:00:10Z", "depth": 5}]
    assert drain_rate({"drain_samples": rising}) is None


def test_csv_has_a_stable_shape_and_no_values_by_default(tmp_path):
    paths = write_reports(tmp_path, _reconciliation(), STATE)
    rows = list(csv.DictReader(paths.differences.open(encoding="utf-8")))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert [r["classification"] for r in rows] == [UNEXPLAINED, IN_FLIGHT, EXPLAINED]
    assert all(r["source_values"] == "" for r in rows)


def test_html_leads_with_the_verdict_and_embeds_its_figures(tmp_path):
    paths = write_reports(tmp_path, _reconciliation(), STATE)
    page = paths.html.read_text(encoding="utf-8")
    assert page.index('class="verdict fail">FAIL<') < page.index("<h2>Counts</h2>")
    pngs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(pngs) == 3
    assert all(base64.b64decode(p).startswith(b"\x89PNG") for p in pngs)
    # self-contained: no external asset of any kind
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<link" not in page and "<script" not in page


def test_html_escapes_keys(tmp_path):
    page = render_html(_reconciliation(), STATE)
    assert "order#&lt;script&gt;" in page
    assert "<script>" not in page


def test_pass_is_green(tmp_path):
    page = render_html(_reconciliation(verdict=PASS), STATE)
    assert 'class="verdict pass">PASS<' in page


def test_canary_values_absent_unless_asked_for(tmp_path):
    hidden = write_reports(tmp_path / "hidden", _reconciliation(), STATE)
    for path in (hidden.summary, hidden.differences, hidden.html):
        assert CANARY not in path.read_text(encoding="utf-8")
    shown = write_reports(tmp_path / "shown", _reconciliation(show_values=True), STATE)
    assert CANARY in shown.differences.read_text(encoding="utf-8")
    assert CANARY in shown.html.read_text(encoding="utf-8")
    assert CANARY not in shown.summary.read_text(encoding="utf-8")


def test_write_reports_reads_state_from_run_dir(tmp_path):
    run_state.save(tmp_path, _run_state())
    paths = write_reports(tmp_path, _reconciliation())
    assert json.loads(paths.summary.read_text())["mode"] == "rollback"


def test_figures_are_matplotlib_figures_even_without_data():
    for fig in (timeline_figure(STATE), drain_figure(STATE), timeline_figure({}), drain_figure({})):
        assert isinstance(fig, Figure)
        fig.savefig(__import__("io").BytesIO(), format="png")


def test_timeline_shows_every_recorded_time():
    fig = timeline_figure(STATE)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"T restore point", "R replay start", "capture start", "restore called", "target ACTIVE", "buffer drained"} <= texts

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
    _golden("summary.json", paths.summary.read_text(encoding="utf-8").replace(str(tmp_path), "RUN_DIR"))


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
    assert s["restore_time"] == "2026-11-28T05:00:00Z"
    assert s["capture_start"] == "2026-11-28T04:58:00Z"
    assert s["items_per_second"] == 799.6
    json.dumps(s)


def test_summary_without_state_still_renders():
    s = run_summary(_reconciliation(verdict=PASS), {})
    assert "rto_seconds" not in s and "drain_rate_per_second" not in s


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


def test_figures_show_as_the_reports_png_images_in_a_notebook_not_as_their_text():
    """Built without pyplot, a bare Figure shows in IPython as ``<Figure size 1000x320 with 1 Axes>``
    only; the runbook's figures carry their own PNG, the bytes report.html embeds."""
    from IPython.core.formatters import DisplayFormatter

    from runbook_lib.report import figure_png_base64, report_figures

    formatter = DisplayFormatter()
    reconciliation = _reconciliation()
    figures = report_figures(reconciliation, STATE)
    assert list(figures) == ["timeline", "drain", "differences"]
    for name, fig in figures.items():
        data, _ = formatter.format(fig)
        assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n", name
        assert base64.b64encode(data["image/png"]).decode() == figure_png_base64(fig)
    page = render_html(reconciliation, STATE)
    assert page.count("data:image/png;base64,") == len(figures)


def test_a_figures_value_shows_each_figure_as_its_own_image_output():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from runbook_lib.report import Figures

    InteractiveShell.instance()
    with capture_output() as captured:
        from IPython.display import display

        display(Figures((timeline_figure(STATE), drain_figure(STATE))))
    assert [sorted(o.data) for o in captured.outputs] == [["image/png", "text/plain"]] * 2


def test_timeline_shows_every_recorded_time():
    fig = timeline_figure(STATE)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"T restore point", "R replay start", "capture start", "restore called", "target ACTIVE", "buffer drained"} <= texts


#: what activity.pipeline_activity adds up from the functions' log lines, as a run keeps it
PIPELINE = {
    "forwarder": {"events": {"forwarded": 12}, "totals": {"records": 1250, "sent": 1250}, "invocation_errors": 0},
    "applier": {
        "events": {"applied": 130},
        "totals": {"received": 1250, "puts": 1100, "deletes": 100, "skipped_before_replay": 40, "superseded": 10,
                   "reread": 7, "poison": 0},
        "invocation_errors": 0,
    },
    "dlq_depth": 0,
    "stream_failures": 0,
}


def _lead(page: str) -> str:
    return page[page.index('class="verdict'):page.index("<h2>")]


def test_report_leads_with_the_verdict_then_the_writes_that_arrived_were_applied_and_none_lost():
    # GIVEN a run whose state holds the buffer's own accounting
    state = {**STATE, "pipeline": PIPELINE}
    # WHEN the report is rendered
    page = render_html(_reconciliation(verdict=PASS), state)
    # THEN before any section: the verdict, the headline, the buffer's accounting, RTO and catch-up
    lead = _lead(page)
    headline = "1,210 writes arrived during the restore; 1,200 applied, 10 superseded by a newer write of the same item, 0 lost."
    assert lead.index(">PASS<") < lead.index(headline)
    for label, value in (
        ("captured by the buffer", "1,250"), ("skipped: made before R", "40"), ("arrived during the restore", "1,210"),
        ("applied to the restored table", "1,200"),
        ("dropped as stale", "10"), ("dead-lettered", "0"), ("lost", "0"),
        ("RTO", "8 min 30 s"), ("catch-up", "2 min 0 s"), ("T, restore point", "2026-11-28 05:00:00"),
    ):
        assert re.search(re.escape(label) + r"[^<]*</th><td[^>]*>" + re.escape(value) + "<", lead), label
    # and summary.json carries the same accounting
    assert run_summary(_reconciliation(verdict=PASS), state)["buffer"] == {
        "captured": 1250, "sent": 1250, "applied": 1200, "skipped_before_replay": 40, "dropped_as_stale": 10,
        "reread": 7, "poison": 0, "dead_lettered": 0, "stream_failures": 0, "arrived": 1210,
    }


def test_report_times_are_to_the_second_and_utc_is_said_once():
    state = {**STATE, "timings": {**STATE["timings"], "drained": "2026-11-28T05:22:30.123456+00:00"}}
    page = render_html(_reconciliation(), state)
    assert "+00:00" not in page and ".123456" not in page
    assert "2026-11-28 05:22:30" in page and "2026-11-28 05:12:00" in page
    text = re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,", page)  # the figures' bytes are not text
    assert text.count("UTC") == 1


def test_a_fail_with_keys_lost_says_so_in_the_headline():
    dead = {**PIPELINE, "dlq_depth": 2}
    page = render_html(_reconciliation(), {**STATE, "pipeline": dead})
    assert ("1,210 writes arrived during the restore; 1,200 applied, 10 superseded by a newer write of the same "
            "item, 2 dead-lettered, 1 lost, 1 still in flight.") in _lead(page)


def test_a_run_without_the_buffers_accounting_has_no_headline_and_says_nothing_of_it():
    page = render_html(_reconciliation(verdict=PASS), {})
    assert "writes arrived" not in page and "dead-lettered" not in page
    assert "buffer" not in run_summary(_reconciliation(verdict=PASS), {})


def test_a_run_whose_buffer_logs_were_refused_says_the_accounting_could_not_be_read_and_why():
    why = "AccessDeniedException: not authorized to perform: logs:FilterLogEvents (grant ...)"
    state = {**STATE, "pipeline": {}, "pipeline_error": why}
    lead = _lead(render_html(_reconciliation(verdict=PASS), state))
    assert "The buffer's accounting could not be read: AccessDeniedException: not authorized" in lead
    assert run_summary(_reconciliation(verdict=PASS), state)["buffer_error"] == why


def test_the_reconcile_steps_notebook_view_is_the_reports_lead_then_the_differences():
    from runbook_lib import steps
    from runbook_lib.report import summarize

    reconciliation = _reconciliation()
    result = steps.reconcile.ReconcileResult("04_reconcile", True, "VERDICT: FAIL", reconciliation=reconciliation,
                                             summary=summarize(reconciliation, {**STATE, "pipeline": PIPELINE}))
    view = result._repr_html_()
    assert view.index(">FAIL<") < view.index("1,210 writes arrived during the restore; 1,200 applied") < view.index("<table")
    assert view.index("RTO") < view.index("order#2")  # the differences after the lead


def test_a_drills_fault_entry_gives_the_accounting_when_the_run_recorded_no_pipeline():
    state = {**STATE, "faults": [{"name": "partial-send", "pipeline": PIPELINE}]}
    assert "1,210 writes arrived during the restore" in _lead(render_html(_reconciliation(verdict=PASS), state))


def test_the_notebook_view_of_a_summary_is_the_reports_lead():
    from runbook_lib.report import summarize

    view = summarize(_reconciliation(verdict=PASS), {**STATE, "pipeline": PIPELINE})._repr_html_()
    assert view.index(">PASS<") < view.index("1,210 writes arrived during the restore; 1,200 applied, 10 superseded")


def test_every_file_names_a_key_as_the_handlers_do(tmp_path):
    """The report, differences.csv and summary.json identify a key the way the handlers' log lines
    and MessageGroupId do: its keyed digest (codec.KeyDigest) beside the key's canonical text, the
    very text the digest is the HMAC of, however the number was spelt."""
    from runbook_lib.cdc import codec
    from runbook_lib.reconcile import key_id
    from runbook_lib.reconcile.classify import classify
    from runbook_lib.reconcile.reread import _Open

    # GIVEN a difference on a key whose number was scanned as "1.0" and whose binary came as bytes
    digest = codec.KeyDigest("s" * 32)
    kid = key_id({"pk": {"N": "1.0"}, "sk": {"B": b"\x01"}})
    classified = classify({kid: _Open(b"digest", None)}, changes=None, restore_time=None, replay_from=None,
                          key_names=("pk", "sk"), key_digest=digest, redact_keys=False, show_values=False)
    rec = Reconciliation(
        source_table="orders", target_table="orders-restored", source_count=1, target_count=0, items_scanned=1,
        scan_seconds=1.0, items_per_second=1.0, differences=classified.differences, explained=0,
        unexplained=1, in_flight=0, verdict=FAIL, keys_digested=True, key_digest_secret_arn="arn:secret",
    )
    # WHEN the reports are written
    paths = write_reports(tmp_path, rec, {})
    # THEN the stream record's key (as the forwarder digests it for MessageGroupId) matches every file
    stream_key = {"sk": {"B": "AQ=="}, "pk": {"N": "1"}}
    group = codec.key_digest(stream_key, digest)
    (row,) = list(csv.DictReader(paths.differences.open(encoding="utf-8")))
    assert row["key_hash"] == group and row["key"] == codec.canonical_key(stream_key)
    page = paths.html.read_text(encoding="utf-8")
    assert f"<code>{codec.canonical_key(stream_key).replace(chr(34), '&#34;')}</code>" in page
    assert json.loads(paths.summary.read_text())["key_digest"] == {"algorithm": "HMAC-SHA256", "secret_arn": "arn:secret"}


def test_the_drain_figure_title_gives_its_rate_without_float_noise():
    from runbook_lib.report.figures import rate_label

    assert [rate_label(r) for r in (122.161, 13.333, 0.5123, 1234.5)] == ["122", "13", "0.51", "1,234"]

"""Golden files for the report of each kind of run, PASS and FAIL: a reconcile of two existing
tables, a run of the runbook (buffer, timeline, drain), a drill (its facts and checks).

Each case builds the Reconciliation and the run state in the test (fixed times, fixed run
directory), renders ``report.html`` and ``summary.json`` exactly as ``write_reports`` does, and
compares them with ``tests/unit/golden/report-<case>.html`` and ``summary-<case>.json``. Only what is
truly variable is normalised: the bytes of the embedded PNG figures (they depend on matplotlib and
its fonts), after checking each is a PNG.

Regenerate the golden files after a deliberate change, then review the diff:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/unit/test_report_golden.py
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

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
from runbook_lib.report import render_html, summarize
from runbook_lib.report.files import summary_json_text

GOLDEN = Path(__file__).parent / "golden"
GENERATED = datetime(2026, 11, 28, 6, 0, 0, tzinfo=timezone.utc)
T = datetime(2026, 11, 28, 5, 0, 0, tzinfo=timezone.utc)


def at(hms: str) -> datetime:
    """A time on 2026-11-28 UTC: ``05:20:30`` or, with microseconds as an SDK returns them, ``05:20:30.400000``."""
    return datetime.fromisoformat(f"2026-11-28T{hms}+00:00")


def digest(n: int) -> str:
    return f"{n:064x}"


def _reconciliation(differences, *, source="orders", target="orders-restored", source_count=1000, target_count=1000,
                    restore_time=None, replay_from=None, redacted=False, secret=None) -> Reconciliation:
    classes = [d.classification for d in differences]
    unexplained, in_flight = classes.count(UNEXPLAINED), classes.count(IN_FLIGHT)
    return Reconciliation(
        source_table=source, target_table=target, source_count=source_count, target_count=target_count,
        items_scanned=source_count + target_count, scan_seconds=2.5, items_per_second=800.0,
        differences=tuple(differences), explained=classes.count(EXPLAINED), unexplained=unexplained,
        in_flight=in_flight, verdict=PASS if unexplained == 0 and in_flight == 0 else FAIL,
        restore_time=restore_time, replay_from=replay_from, settled=2, reread_rounds=2, segments=4,
        consumed_capacity={source: 125.0, target: 125.0}, show_keys=not redacted, keys_digested=secret is not None,
        key_digest_secret_arn=secret,
    )


# -- reconcile of two existing tables -----------------------------------------------------------------
def _reconcile_state() -> dict:
    return run_state.RunState(params=run_state.Params("orders", "orders-backup", region="eu-west-1")).view()


def reconcile_pass():
    return _reconciliation((), target="orders-backup"), _reconcile_state(), "runs/reconcile-20261128T060000Z"


def reconcile_fail():
    differences = (
        Difference({"pk": {"S": "order#4"}}, MISSING, ("note", "pk", "total"), UNEXPLAINED, None),
        Difference({"pk": {"S": "order#extra"}}, EXTRA, ("pk", "total"), UNEXPLAINED, None),
        Difference({"pk": {"S": "order#3"}}, CHANGED, ("total",), UNEXPLAINED, None),
    )
    rec = _reconciliation(differences, target="orders-backup", target_count=1000)
    return rec, _reconcile_state(), "runs/reconcile-20261128T060000Z"


def reconcile_export_fail():
    """A reconcile from two PITR exports compared on DuckDB, the method chosen by auto: the report
    and summary.json name the method, why, the engine, both ExportArns and the ExportTime."""
    rec = dataclasses.replace(
        reconcile_fail()[0], method="export", method_reason="about 12,000,000 items in both tables > 5,000,000",
        export={"engine": "duckdb", "export_time": at("05:30:00"),
                "source_export_arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/export/01764307800000-a1b2c3d4",
                "target_export_arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-backup/export/01764307800000-e5f6a7b8"},
    )
    return rec, _reconcile_state(), "runs/reconcile-20261128T060000Z"


# -- a run of the runbook -------------------------------------------------------------------------------
PIPELINE = {
    "forwarder": {"events": {}, "totals": {"records": 1250, "sent": 1250}, "invocation_errors": 0},
    "applier": {"events": {}, "totals": {"received": 1250, "puts": 1100, "deletes": 100, "skipped_before_replay": 40,
                                         "superseded": 10, "reread": 7, "poison": 0}, "invocation_errors": 0},
    "dlq_depth": 0,
    "stream_failures": 0,
}


def _run_state(mode: str, *, dlq: int = 0, drill: dict | None = None, faults: list | None = None) -> dict:
    replay_from = T - timedelta(seconds=2) if mode == "catchup" else at("05:10:00")
    state = run_state.RunState(
        params=run_state.Params("orders", "orders-restored", region="eu-west-1", restore_time=T.isoformat(),
                                replay_from="restore_point" if mode == "catchup" else replay_from.isoformat()),
        plan=run_state.Plan(mode=mode, restore_time=T, replay_from=replay_from, earliest_restorable=at("00:00:00"),
                            latest_restorable=at("05:11:00")),
        stack=run_state.Stack(description={"name": "pitr-orders", "outputs": {}}, capture_start=at("04:58:00")),
        timings=run_state.Timings(restore_called=at("05:12:00"), active=at("05:20:30.400000"),
                                  replay_enabled=at("05:20:35"), drained=at("05:22:30")),
        pipeline=run_state.PipelineActivity(at("05:22:31"), {**PIPELINE, "dlq_depth": dlq}),
        drill=drill,
        faults=faults or [],
    )
    for when, depth, in_flight, dead in (("05:20:30", 1000, 0, 0), ("05:21:00", 1200, 10, 0),
                                         ("05:21:30", 600, 10, dlq), ("05:22:30", 0, 0, dlq)):
        state.add_drain_sample(run_state.DrainSample(at(when), depth, in_flight, dead))
    return state.view()


def run_pass():
    rec = _reconciliation((), restore_time=T, replay_from=T - timedelta(seconds=2), secret="arn:aws:secretsmanager:eu-west-1:123456789012:secret:pitr-orders-key-digest")
    return rec, _run_state("catchup"), "runs/orders-20261128"


def run_fail():
    differences = (
        Difference({"pk": {"S": "order#2"}}, CHANGED, ("note",), UNEXPLAINED, None, key_hash=digest(2)),
        Difference({"pk": {"S": "order#7"}}, MISSING, ("pk", "total"), UNEXPLAINED, at("05:15:02"), key_hash=digest(7)),
        Difference({"pk": {"S": "order#9"}}, CHANGED, ("total",), IN_FLIGHT, at("05:22:29"), key_hash=digest(9)),
        Difference({"pk": {"S": "order#1"}}, MISSING, ("pk", "total"), EXPLAINED, at("05:04:00"), key_hash=digest(1)),
    )
    rec = _reconciliation(differences, target_count=999, restore_time=T, replay_from=at("05:10:00"),
                          secret="arn:aws:secretsmanager:eu-west-1:123456789012:secret:pitr-orders-key-digest")
    return rec, _run_state("rollback", dlq=2), "runs/orders-20261128"


# -- a drill --------------------------------------------------------------------------------------------
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pitr-drill-orders-key-digest"


def _drill_facts(mode: str, faults: list[str], rto_target: float) -> dict:
    facts = {"mode": mode, "automation": "notebook", "items": 150, "faults": faults, "rto_target_seconds": rto_target,
             "redact_keys": True, "as_operator": True, "runs_dir": "runs",
             "traffic": {"rate": 15.0, "puts": 304, "updates": 209, "deletes": 102}}
    if mode == "rollback":
        facts["incident_keys"] = 20
    return facts


def drill_pass():
    differences = tuple(Difference(digest(100 + n), CHANGED, ("s", "version"), EXPLAINED, at("05:05:00"),
                                   key_hash=digest(100 + n)) for n in range(20))
    rec = _reconciliation(differences, source="drill-orders", target="drill-orders-restored", source_count=170,
                          target_count=170, restore_time=T, replay_from=at("05:10:00"), redacted=True, secret=SECRET)
    faults = [{"name": "partial-send", "params": {"rate": 0.05}, "injected": {"entries_failed": 31},
               "pipeline": PIPELINE, "fallbacks": []}]
    state = _run_state("rollback", drill=_drill_facts("rollback", ["partial-send"], 900.0), faults=faults)
    state.update(source_table="drill-orders", target_table="drill-orders-restored", region="us-east-1",
                 endpoint_url="http://127.0.0.1:40001")
    # after cutover (step 05 adds it): the write-unavailability window and the switch
    state.update(
        downtime=run_state.Downtime(quiet_wait_started=at("05:30:00.200000"), last_source_write=at("05:30:01"),
                                    quiet=at("05:30:04.300000"), drained=at("05:30:06.800000"),
                                    settings=at("05:30:07.100000"), switched=at("05:30:07.250000"),
                                    first_target_write=at("05:30:09"), first_write_wait_seconds=60.0).to_json(),
        switch=run_state.Switch("/drill/orders/table", "drill-orders-restored", True, "drill-orders", 1, 2,
                                at("05:30:07.250000")).to_json())
    return rec, state, "runs/drill-rollback-20261128T050000Z"


def drill_fail():
    differences = (
        Difference(digest(42), MISSING, ("pk", "s", "version"), UNEXPLAINED, at("05:21:10"), key_hash=digest(42)),
        Difference(digest(43), CHANGED, ("version",), UNEXPLAINED, at("05:21:12"), key_hash=digest(43)),
    )
    rec = _reconciliation(differences, source="drill-orders", target="drill-orders-restored", source_count=170,
                          target_count=169, restore_time=T, replay_from=T - timedelta(seconds=2), redacted=True,
                          secret=SECRET)
    faults = [{"name": "applier-crash", "params": {"rate": 0.2}, "injected": {}, "pipeline": PIPELINE, "fallbacks": []}]
    state = _run_state("catchup", drill=_drill_facts("catchup", ["applier-crash"], 300.0), faults=faults)
    state.update(source_table="drill-orders", target_table="drill-orders-restored", region="us-east-1",
                 endpoint_url="http://127.0.0.1:40001")
    return rec, state, "runs/drill-catchup-20261128T050000Z"


# -- a drill on an existing table (pitr-runbook drill --source-table) ----------------------------------------
SCRATCH = "orders-drill-20261128T051500Z"
USER_CHECKS = [
    {"name": "check_orders_have_a_customer", "file": "/srv/checks.py", "status": "SUCCESSFUL", "seconds": 1.2},
    {"name": "check_totals_add_up", "file": "/srv/checks.py", "status": "FAILED", "message": "3 orders whose total is not the sum of their lines", "seconds": 4.0},
    {"name": "check_search_index", "file": "/srv/checks.py", "status": "TIMED_OUT", "message": "still running after its budget of 300 s: stopped", "seconds": 300.0},
]


def _table_drill_state(user_checks: list, rto_target: float) -> dict:
    state = run_state.RunState(
        params=run_state.Params("orders", SCRATCH, region="eu-west-1", restore_time="latest"),
        timings=run_state.Timings(restore_called=at("05:15:01"), active=at("05:31:40.200000")),
        drill={"mode": "restore", "scratch_table": SCRATCH, "source_items": 1000, "source_bytes": 254000,
               "rto_target_seconds": rto_target, "keep_for_seconds": 0.0, "scratch_deleted": True,
               "encryption": "aws-managed", "redact_keys": True, "check_timeout_seconds": 300.0,
               "runs_dir": "runs", "user_checks": user_checks},
    )
    return state.view()


def drill_table_pass():
    differences = tuple(Difference(digest(200 + n), CHANGED, ("s", "version"), EXPLAINED, at("05:20:00"),
                                   key_hash=digest(200 + n)) for n in range(5))
    rec = _reconciliation(differences, target=SCRATCH, restore_time=at("05:15:00"), replay_from=at("05:32:10"),
                          redacted=True, secret=None)
    return rec, _table_drill_state(USER_CHECKS[:1], 3600.0), f"runs/{SCRATCH}"


def drill_table_fail():
    differences = (Difference(digest(7), MISSING, ("pk",), UNEXPLAINED, None, key_hash=digest(7)),)
    rec = _reconciliation(differences, target=SCRATCH, target_count=999, restore_time=at("05:15:00"),
                          replay_from=at("05:32:10"), redacted=True, secret=None)
    return rec, _table_drill_state(USER_CHECKS, 600.0), f"runs/{SCRATCH}"


CASES = {
    "reconcile-pass": reconcile_pass, "reconcile-fail": reconcile_fail, "reconcile-export-fail": reconcile_export_fail,
    "run-pass": run_pass, "run-fail": run_fail,
    "drill-pass": drill_pass, "drill-fail": drill_fail,
    "drill-table-pass": drill_table_pass, "drill-table-fail": drill_table_fail,
}


def render(case: str) -> tuple[str, str, object]:
    """(report.html, summary.json, the summary) of a case, as write_reports writes them."""
    rec, state, run_dir = CASES[case]()
    summary = summarize(rec, state, run_dir=run_dir)
    return render_html(rec, state, summary=summary, generated=GENERATED), summary_json_text(summary), summary


def _normalised(page: str) -> str:
    """The page with each embedded PNG's bytes replaced by a marker (checked to be a PNG first)."""
    def png(match: re.Match) -> str:
        assert base64.b64decode(match.group(1)).startswith(b"\x89PNG")
        return "base64,PNG"

    return re.sub(r"base64,([A-Za-z0-9+/=]+)", png, page)


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"golden file {path} missing: run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed: review, then UPDATE_GOLDEN=1"


@pytest.mark.parametrize("case", list(CASES))
def test_report_html_matches_golden(case):
    page, _, _ = render(case)
    _golden(f"report-{case}.html", _normalised(page))


@pytest.mark.parametrize("case", list(CASES))
def test_summary_json_matches_golden(case):
    _, text, _ = render(case)
    _golden(f"summary-{case}.json", text)


# -- what each golden must show, said in words ----------------------------------------------------------
def _sections(page: str) -> list[str]:
    return re.findall(r"<h2>([^<(]+?)\s*(?:\(|</h2>)", page)


@pytest.mark.parametrize("case", ["reconcile-pass", "reconcile-fail", "reconcile-export-fail"])
def test_a_reconcile_of_two_tables_shows_counts_differences_and_keys_only(case):
    page, text, _ = render(case)
    sections = _sections(page)
    assert "Counts" in sections
    for absent in ("Timeline", "Buffer drain", "Drill", "Injected faults"):
        assert absent not in sections, (absent, sections)
    assert "&ndash;" not in page and "no times recorded" not in page and "no buffer samples" not in page
    data = json.loads(text)
    assert data["kind"] == "reconcile" and data["schema_version"] == 2
    for absent in ("timings", "buffer", "rto_seconds", "capture_start", "faults", "drill", "mode", "key_digest"):
        assert absent not in data, absent
    assert None not in data.values() and [] not in data.values() and {} not in data.values()


def test_a_full_run_adds_timeline_drain_and_the_buffers_accounting():
    page, text, _ = render("run-fail")
    sections = _sections(page)
    assert {"Counts", "Timeline", "Buffer drain", "What to do next"} <= set(sections)
    assert "Drill" not in sections
    assert "writes arrived during the restore" in page
    data = json.loads(text)
    assert data["kind"] == "run" and data["buffer"]["dead_lettered"] == 2 and "cutover_done" not in data["timings"]


def test_a_drill_adds_its_facts_checks_and_faults():
    page, text, _ = render("drill-fail")
    assert {"Drill", "Injected faults", "Timeline", "What to do next"} <= set(_sections(page))
    data = json.loads(text)
    checks = {c["check"]: c["ok"] for c in data["drill"]["checks"]}
    assert checks == {"verdict": False, "rto_target": False, "fault_injected": False, "dlq_empty": True}
    assert data["drill"]["rto_target_seconds"] == 300.0


@pytest.mark.parametrize("case", list(CASES))
def test_times_are_to_the_second_with_utc_said_once(case):
    page, text, _ = render(case)
    text_only = re.sub(r"base64,[A-Za-z0-9+/=]+", "", page)
    assert "+00:00" not in text_only and not re.search(r"\d\d:\d\d:\d\d\.\d", text_only)
    assert text_only.count("UTC") == 1
    assert "+00:00" not in text and not re.search(r"\d\d:\d\d:\d\d\.\d", text)


@pytest.mark.parametrize("case", list(CASES))
def test_what_to_do_next_appears_exactly_when_the_run_needs_it(case):
    page, text, summary = render(case)
    needed = case.endswith("fail")
    assert ("<h2>What to do next</h2>" in page) is needed
    assert ("next_steps" in json.loads(text)) is needed
    assert bool(summary.next_steps) is needed


def test_the_report_and_summary_name_the_method_and_for_exports_the_engine_arns_and_time():
    scan_page, scan_text, _ = render("reconcile-fail")
    page, text, _ = render("reconcile-export-fail")
    assert json.loads(scan_text)["method"] == "scan" and "export" not in json.loads(scan_text)
    assert "compared by</th><td>scan of both tables through the API</td>" in scan_page
    data = json.loads(text)
    assert (data["method"], data["method_reason"]) == ("export", "about 12,000,000 items in both tables > 5,000,000")
    assert data["export"] == {
        "engine": "duckdb", "export_time": "2026-11-28T05:30:00Z",
        "source_export_arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/export/01764307800000-a1b2c3d4",
        "target_export_arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-backup/export/01764307800000-e5f6a7b8"}
    assert ("PITR exports of both tables as of 2026-11-28 05:30:00, compared on DuckDB "
            "(about 12,000,000 items in both tables &gt; 5,000,000)") in page
    assert "table/orders/export/01764307800000-a1b2c3d4" in page and "table/orders-backup/export/" in page


def test_a_drill_on_a_table_shows_its_scratch_table_and_each_user_check_by_status():
    page, text, _ = render("drill-table-fail")
    data = json.loads(text)
    assert data["kind"] == "drill" and data["target_table"] == SCRATCH and data["rto_seconds"] == 999.2
    assert [(c["name"], c["status"]) for c in data["drill"]["user_checks"]] == [
        ("check_orders_have_a_customer", "SUCCESSFUL"), ("check_totals_add_up", "FAILED"),
        ("check_search_index", "TIMED_OUT")]
    assert {c["check"]: c["ok"] for c in data["drill"]["checks"] if c["check"] != "user_check"} == {
        "verdict": False, "rto_target": False}
    assert [c["ok"] for c in data["drill"]["checks"] if c["check"] == "user_check"] == [True, False, False]
    assert data["drill"]["source_items"] == 1000 and data["drill"]["source_bytes"] == 254000
    assert "scratch table" in page and SCRATCH in page and "TIMED_OUT" in page and "restore drill on an existing table" in page
    assert "R, end of the source" in page and "replay start" not in page


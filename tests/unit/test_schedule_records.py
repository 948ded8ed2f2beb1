"""A drill's record (what ``publish`` sends and ``history`` tabulates) read from the summary.json
that ``drill --source-table`` writes: the golden FAIL drill on a table, with three user checks."""

from __future__ import annotations

import json
from pathlib import Path

from runbook_lib.schedule.records import record_of

GOLDEN = Path(__file__).resolve().parent / "golden"


def test_a_table_drill_s_record_has_its_source_size_and_each_check_once_by_name():
    summary = json.loads((GOLDEN / "summary-drill-table-fail.json").read_text())
    record = record_of(summary)
    assert record.table == "orders" and record.verdict == "FAIL" and not record.passed
    assert (record.source_items, record.source_bytes) == (1000.0, 254000.0)
    assert record.checks == (("verdict", False), ("rto_target", False), ("check_orders_have_a_customer", True),
                             ("check_totals_add_up", False), ("check_search_index", False))
    assert record.checks_text == "1/5 ok; failed: verdict, rto_target, check_totals_add_up, check_search_index"
    assert record.rto_target_seconds == 600.0 and record.over_target


def test_a_passing_table_drill_passes_with_its_one_successful_check():
    record = record_of(json.loads((GOLDEN / "summary-drill-table-pass.json").read_text()))
    assert record.passed and record.checks_text == "3/3 ok" and record.source_bytes == 254000.0

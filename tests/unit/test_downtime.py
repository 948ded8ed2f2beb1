"""The write-unavailability window: its start, end and parts, and how summary.json shows it."""

from __future__ import annotations

from datetime import datetime, timezone

from runbook_lib import run_state
from runbook_lib.report.downtime import downtime_line, downtime_summary


def at(hms: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-28T{hms}+00:00")


def test_window_runs_from_the_last_source_write_through_its_parts_to_the_switch():
    d = run_state.Downtime(quiet_wait_started=at("05:00:00.500000"), last_source_write=at("05:00:01"),
                           quiet=at("05:00:04.500000"), drained=at("05:00:06"), settings=at("05:00:06.250000"),
                           switched=at("05:00:06.300000"), first_target_write=at("05:00:09"))
    assert d.start == at("05:00:01") and d.start_kind == "last_source_write" and d.seconds == 5.3
    assert d.parts() == {"quiet_wait": 3.5, "drain": 1.5, "settings": 0.25, "switch": 0.05}
    assert d.until_first_target_write_seconds == 8.0
    assert run_state.Downtime.from_json(d.to_json()) == d
    assert "writes unavailable 5.3 s" in downtime_line(d) and "8.0 s after the last on the source" in downtime_line(d)


def test_without_a_write_seen_it_starts_at_the_quiet_wait_and_without_a_switch_it_ends_at_the_settings():
    d = run_state.Downtime(quiet_wait_started=at("05:00:00"), quiet=at("05:00:03"), drained=at("05:00:04"),
                           settings=at("05:00:05"), first_write_note="no stream")
    summary = downtime_summary(d.to_json())
    assert summary == {"seconds": 5.0, "from": "2026-11-28T05:00:00Z", "from_kind": "quiet_wait_started",
                       "to": "2026-11-28T05:00:05Z", "to_kind": "settings",
                       "parts": {"quiet_wait": 3.0, "drain": 1.0, "settings": 1.0}, "first_write_note": "no stream"}


def test_a_cutover_that_stopped_before_its_drain_has_no_window_in_the_summary():
    assert downtime_summary(run_state.Downtime(quiet_wait_started=at("05:00:00"), quiet=at("05:00:03")).to_json()) is None
    assert downtime_summary(None) is None

"""Restore inputs are checked before any AWS call: T, R, table names."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from runbook_lib.errors import InputError
from runbook_lib.restore import validate_table_names
from runbook_lib.times import parse_time
from runbook_lib.runner import RunParams, validate

NOW = datetime(2026, 11, 28, 5, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("latest", "latest"),
        ("LATEST", "latest"),
        ("2026-11-28T04:00:00Z", datetime(2026, 11, 28, 4, 0, tzinfo=timezone.utc)),
        ("2026-11-28T06:00:00+02:00", datetime(2026, 11, 28, 4, 0, tzinfo=timezone.utc)),
        ("15m", NOW - timedelta(minutes=15)),
        ("90s", NOW - timedelta(seconds=90)),
        ("2h ago", NOW - timedelta(hours=2)),
        ("1d", NOW - timedelta(days=1)),
    ],
)
def test_parse_time_accepts_latest_iso_utc_and_durations(text, expected):
    assert parse_time(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "", "15 parsecs", "2026-11-28T04:00:00"])
def test_parse_time_rejects_malformed_or_zoneless_times(text):
    with pytest.raises(InputError) as info:
        parse_time(text, now=NOW)
    assert "restore_time" in str(info.value)


@pytest.mark.parametrize(
    "source, target, fragment",
    [("orders", "orders", "must differ"), ("ab", "orders-r", "not a valid"), ("orders", "bad name!", "not a valid"),
     # DynamoDB's TableName pattern is the whole name: a trailing newline is not allowed (CreateTable, TableName)
     ("orders\n", "orders-r", "not a valid"), ("orders", "orders-r\n", "not a valid")],
)
def test_table_names_are_checked(source, target, fragment):
    with pytest.raises(InputError) as info:
        validate_table_names(source, target)
    assert fragment in str(info.value)


def test_run_rejects_replay_start_before_restore_point():
    params = RunParams("orders", "orders-r", restore_time="2026-11-28T04:00:00Z", replay_from="2026-11-28T03:59:00Z")
    with pytest.raises(InputError) as info:
        validate(params)
    assert "before the restore point" in str(info.value)


def test_run_rejects_unknown_automation():
    with pytest.raises(InputError):
        validate(RunParams("orders", "orders-r", automation="cron"))


def test_run_accepts_catch_up_and_rollback():
    validate(RunParams("orders", "orders-r"))
    validate(RunParams("orders", "orders-r", restore_time="2026-11-28T04:00:00Z", replay_from="2026-11-28T04:10:00Z"))


def test_clock_is_utc_to_the_second_without_an_offset():
    from datetime import datetime, timedelta, timezone

    from runbook_lib import times

    paris = timezone(timedelta(hours=1))
    assert times.clock(datetime(2026, 11, 28, 6, 0, 5, 999999, tzinfo=paris)) == "2026-11-28 05:00:05"
    assert times.clock(datetime(2026, 11, 28, 5, 0, 5)) == "2026-11-28 05:00:05"  # naive: taken as UTC


def test_iso_second_is_utc_to_the_second_with_z():
    from runbook_lib import times

    paris = timezone(timedelta(hours=1))
    assert times.iso_second(datetime(2026, 11, 28, 6, 0, 5, 999999, tzinfo=paris)) == "2026-11-28T05:00:05Z"
    assert times.iso_second(datetime(2026, 11, 28, 5, 0, 5)) == "2026-11-28T05:00:05Z"  # naive: taken as UTC
    assert times.parse_iso(times.iso_second(datetime(2026, 11, 28, 5, 0, 5))) == datetime(2026, 11, 28, 5, 0, 5, tzinfo=timezone.utc)

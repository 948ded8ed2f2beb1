"""Incremental export periods and their lines, for explaining differences beyond the stream's 24 hours.

AWS takes an incremental export period of at least 15 minutes and at most 24 hours ("Requesting a
table export in DynamoDB", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport_Requesting.html), and
writes one line per changed item with ``Metadata.WriteTimestampMicros``, ``Keys`` and, by view type,
``NewImage``/``OldImage`` ("DynamoDB table export output format",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html).
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone

import pytest

from runbook_lib.errors import InputError
from runbook_lib.reconcile import key_id
from runbook_lib.reconcile.exports.incremental import MAX_PERIOD, MIN_PERIOD, export_periods, read_changes

T = datetime(2026, 11, 1, 6, 0, 0, tzinfo=timezone.utc)


def test_a_window_longer_than_24_hours_takes_several_exports_each_within_aws_bounds():
    end = T + timedelta(hours=50)
    periods = export_periods(T, end)
    assert periods == [(T, T + timedelta(hours=24)), (T + timedelta(hours=24), T + timedelta(hours=48)),
                       (T + timedelta(hours=48), end)]
    assert all(MIN_PERIOD <= b - a <= MAX_PERIOD for a, b in periods)


def test_a_last_piece_under_15_minutes_starts_earlier_so_the_periods_still_cover_the_window():
    end = T + timedelta(hours=24, minutes=5)
    periods = export_periods(T, end)
    assert periods == [(T, T + timedelta(hours=24)), (end - MIN_PERIOD, end)]
    assert all(MIN_PERIOD <= b - a <= MAX_PERIOD for a, b in periods)


def test_a_window_shorter_than_the_minimum_is_refused():
    with pytest.raises(InputError, match="at least"):
        export_periods(T, T + timedelta(minutes=14))
    assert export_periods(T, T + timedelta(seconds=2), min_period=timedelta(seconds=1)) == [(T, T + timedelta(seconds=2))]


def test_read_changes_keeps_each_wanted_key_s_newest_write_to_the_second_whatever_the_view_type(tmp_path):
    micros = lambda dt: {"N": str(int(dt.timestamp()) * 1_000_000 + 654_321)}  # noqa: E731
    lines = [
        # NEW_AND_OLD_IMAGES: an update, an insert; NEW_IMAGE: a delete (Keys alone)
        {"Metadata": {"WriteTimestampMicros": micros(T)}, "Keys": {"pk": {"S": "a"}, "sk": {"N": "1"}},
         "OldImage": {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"N": "0"}}, "NewImage": {"pk": {"S": "a"}, "sk": {"N": "1"}}},
        {"Metadata": {"WriteTimestampMicros": micros(T + timedelta(seconds=5))}, "Keys": {"sk": {"N": "2"}, "pk": {"S": "b"}},
         "NewImage": {"pk": {"S": "b"}, "sk": {"N": "2"}}},
        {"Metadata": {"WriteTimestampMicros": micros(T + timedelta(seconds=9))}, "Keys": {"pk": {"S": "c"}, "sk": {"N": "3"}}},
    ]
    first, second = tmp_path / "1.json.gz", tmp_path / "2.json.gz"
    first.write_bytes(gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode()))
    # a later export (another period) saw key a again
    later = {**lines[0], "Metadata": {"WriteTimestampMicros": micros(T + timedelta(hours=30))}}
    second.write_bytes(gzip.compress((json.dumps(later) + "\n").encode()))
    names = ("pk", "sk")
    kid = {k: key_id({"pk": {"S": k}, "sk": {"N": n}}, names) for k, n in (("a", "1"), ("b", "2"), ("c", "3"))}
    found = read_changes([first, second], names, {kid["a"], kid["c"]})
    assert found == {kid["a"]: T + timedelta(hours=30), kid["c"]: T + timedelta(seconds=9)}

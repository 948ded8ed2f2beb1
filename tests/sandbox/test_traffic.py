"""The traffic generator: puts, updates and deletes at a set rate, every attribute type, big items."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from runbook_lib.sandbox.traffic import CANARY_PREFIX, MAX_ITEM_BYTES, Traffic, create_demo_table, make_item, seed_items


def test_traffic_mixes_operations_at_the_set_rate(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders", range_key=True)
    traffic = Traffic(ddb, "orders", rate=40, key_space=30, seed=3)
    started = time.monotonic()
    stats = traffic.run(count=80)
    elapsed = time.monotonic() - started
    assert stats.errors == 0 and stats.writes == 80
    assert stats.puts and stats.updates and stats.deletes
    assert 80 / 40 * 0.8 <= elapsed <= 80 / 40 * 3  # paced, not a burst
    item = next(i for i in ddb.scan(TableName="orders")["Items"] if "ss" in i)
    assert {next(iter(v)) for v in item.values()} >= {"S", "N", "B", "SS", "NS", "BS", "M", "L", "BOOL", "NULL"}
    assert item["s"]["S"].startswith(CANARY_PREFIX)


def test_large_items_reach_350_kb_within_the_item_limit(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "big")
    stats = Traffic(ddb, "big", rate=50, key_space=5, mix=(1.0, 0.0, 0.0), large_fraction=1.0, seed=4).run(count=3)
    assert stats.errors == 0
    sizes = [len(i["pad"]["S"]) for i in ddb.scan(TableName="big")["Items"]]
    assert sizes and min(sizes) >= 340_000


def test_bad_settings_are_refused(aws):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders")
    for kwargs in ({"rate": 0}, {"key_space": 0}, {"large_fraction": 2}, {"large_size": MAX_ITEM_BYTES + 1}):
        with pytest.raises(ValueError):
            Traffic(ddb, "orders", **kwargs)


def test_make_item_is_deterministic_for_a_seed():
    import random

    a = make_item([("pk", "S")], 7, random.Random(1))
    b = make_item([("pk", "S")], 7, random.Random(1))
    assert a == b


def test_traffic_command_creates_a_demo_table_and_writes(endpoint, aws):
    out = subprocess.run(
        [sys.executable, "-m", "runbook_lib.cli", "traffic", "--endpoint-url", endpoint, "--region", "us-east-1",
         "--table", "cli-orders", "--create", "--rate", "30", "--seconds", "1"],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )
    assert out.returncode == 0, out.stderr
    assert "puts" in out.stdout and "0 errors" in out.stdout
    assert aws("dynamodb").describe_table(TableName="cli-orders")["Table"]["StreamSpecification"]["StreamEnabled"]


def test_traffic_command_on_a_missing_table_is_one_line_exit_2(endpoint):
    out = subprocess.run(
        [sys.executable, "-m", "runbook_lib.cli", "traffic", "--endpoint-url", endpoint, "--table", "ghost-table"],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "--create" in out.stderr


def test_a_stream_enabled_after_the_load_holds_only_later_changes(aws):
    # GIVEN a demo table loaded with its stream off
    from runbook_lib.sandbox.traffic import enable_stream

    ddb, streams = aws("dynamodb"), aws("dynamodbstreams")
    create_demo_table(ddb, "loaded-first", stream=None)
    seed_items(ddb, "loaded-first", 300, seed=4)
    # WHEN the stream is turned on and one more item written
    arn = enable_stream(ddb, "loaded-first")
    ddb.put_item(TableName="loaded-first", Item={"pk": {"S": "after"}})
    # THEN the stream holds that change only, with both images as the runbook needs them
    desc = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert desc["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=desc["Shards"][0]["ShardId"],
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = streams.get_records(ShardIterator=it)["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["after"]
    assert ddb.scan(TableName="loaded-first", Select="COUNT")["Count"] == 301

"""The queue -> restored table handler, with a fake DynamoDB client that records its calls."""

from __future__ import annotations

import logging

import pytest

from cdc_factories import (
    CANARY_S,
    FakeDynamoDB,
    assert_no_item_data,
    big_item,
    client_error,
    every_type_item,
    load_event,
    make_keys,
    message_for,
    poison_message,
    small_item,
    sqs_event,
    stream_record,
)
from runbook_lib.cdc import applier, codec, runtime

TARGET, SOURCE, WATERMARKS = "orders-restored", "orders", "pitr-cdc-watermarks"
SETTINGS = applier.ApplierSettings(target_table=TARGET, watermark_table=WATERMARKS, source_table=SOURCE)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def retry(sleeps) -> applier.Retry:
    return applier.Retry(sleep=sleeps, random=lambda: 1.0)


def fake_db(*key_names: str) -> FakeDynamoDB:
    names = list(key_names or ("pk",))
    return FakeDynamoDB({TARGET: names, SOURCE: names, WATERMARKS: ["k"]})


def run(event, db, retry, settings=SETTINGS) -> list[str]:
    """Apply ``event``; the messageIds reported as failed."""
    result = applier.apply(event, db, settings, retry)
    assert set(result) == {"batchItemFailures"}
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


def change(event_name: str, i: int, version: int, *, seq: str, schema: str = "hash_S", created: float = 1714564800, **kw):
    keys = make_keys(schema, i)
    image = None if event_name == "REMOVE" else kw.pop("image", None) or small_item(keys, version)
    return stream_record(event_name, keys, image, seq=seq, created=created, **kw)


#: most tests exercise the watermark guard, so their messages are sent late enough to be suspects
LATE = applier.RESEND_HORIZON_SECONDS + 60


def msg(record: dict, message_id: str, **kw) -> dict:
    kw.setdefault("sent_after", LATE)
    return message_for(record, message_id=message_id, **kw)


def version_of(db: FakeDynamoDB, i: int, schema: str = "hash_S") -> int | None:
    item = db.get(TARGET, make_keys(schema, i))
    return None if item is None else int(item["version"]["N"])


def watermark(db: FakeDynamoDB, i: int, schema: str = "hash_S") -> str | None:
    item = db.get(WATERMARKS, {"k": {"S": codec.key_digest(make_keys(schema, i))}})
    return None if item is None else item["seq"]["S"]


def write_requests(db: FakeDynamoDB) -> list[dict]:
    return db.calls_of("batch_write_item")


# -- the documented event -------------------------------------------------------------------------
def test_documented_sqs_fifo_event_is_applied_newest_image_per_key(retry):
    # GIVEN the sample: 101 INSERT, 102 INSERT, 101 MODIFY, 101 REMOVE
    db = FakeDynamoDB({TARGET: ["Id"], SOURCE: ["Id"], WATERMARKS: ["k"]})
    event = load_event("sqsFifoEvent.json")

    # WHEN
    failures = run(event, db, retry)

    # THEN 101 is deleted, 102 is there, each key written once with its watermark
    assert failures == []
    assert db.get(TARGET, {"Id": {"N": "101"}}) is None
    assert db.get(TARGET, {"Id": {"N": "102"}}) == {"Message": {"S": "Another item"}, "Id": {"N": "102"}}
    assert db.get(WATERMARKS, {"k": {"S": codec.key_digest({"Id": {"N": "101"}})}})["seq"]["S"] == codec.padded_sequence(
        "4421584500000000017450439093"
    )
    (call,) = write_requests(db)
    assert call[TARGET] == [  # in batch order of each key's newest change
        {"PutRequest": {"Item": {"Message": {"S": "Another item"}, "Id": {"N": "102"}}}},
        {"DeleteRequest": {"Key": {"Id": {"N": "101"}}}},
    ]
    assert len(call[WATERMARKS]) == 2


def test_sample_event_bodies_match_their_group_and_md5():
    import hashlib

    for record in load_event("sqsFifoEvent.json")["Records"]:
        assert codec.decode(record["body"]).digest == record["attributes"]["MessageGroupId"]
        assert hashlib.md5(record["body"].encode()).hexdigest() == record["md5OfBody"]  # noqa: S324


def test_delete_request_carries_key_not_item(retry):
    db = fake_db("pk", "sk")
    keys = make_keys("hash_S_range_N", 1)
    db.seed(TARGET, small_item(keys))
    record = stream_record("REMOVE", keys, old_image=small_item(keys), seq="10")

    assert run(sqs_event(msg(record, "m1")), db, retry) == []

    (call,) = write_requests(db)
    assert call[TARGET] == [{"DeleteRequest": {"Key": keys}}]
    assert db.get(TARGET, keys) is None


@pytest.mark.parametrize("schema", ["hash_S", "hash_N", "hash_B", "hash_S_range_N", "hash_N_range_B", "hash_B_range_S"])
def test_every_key_schema_and_attribute_type_is_written_as_the_client_takes_it(schema, retry):
    key_names = list(make_keys(schema))
    db = fake_db(*key_names)
    keys = make_keys(schema, 5, canary=True)
    image = every_type_item(keys)
    record = stream_record("INSERT", keys, image, seq="77")

    assert run(sqs_event(msg(record, "m1")), db, retry) == []

    assert db.get(TARGET, keys) == codec.to_client_item(image)  # binary as bytes, the rest as is


# -- REPLAY_FROM --------------------------------------------------------------------------------------
def test_changes_before_replay_from_are_acknowledged_not_applied(retry):
    db = fake_db()
    settings = applier.ApplierSettings(TARGET, WATERMARKS, SOURCE, replay_from=1714564800)
    before = change("INSERT", 1, 1, seq="10", created=1714564799)
    at = change("INSERT", 2, 1, seq="11", created=1714564800)
    after = change("MODIFY", 1, 2, seq="12", created=1714564900)

    failures = run(sqs_event(msg(before, "m1"), msg(at, "m2"), msg(after, "m3")), db, retry, settings)

    assert failures == []
    assert version_of(db, 1) == 2 and version_of(db, 2) == 1
    assert watermark(db, 1) == codec.padded_sequence("12")


def test_key_whose_changes_are_all_before_replay_from_is_not_touched(retry):
    db = fake_db()
    settings = applier.ApplierSettings.from_env(
        {"TARGET_TABLE": TARGET, "WATERMARK_TABLE": WATERMARKS, "REPLAY_FROM": "2024-05-01T12:00:00Z"}
    )
    old = change("INSERT", 1, 1, seq="10", created=1714564799)

    assert run(sqs_event(msg(old, "m1")), db, retry, settings) == []

    assert db.items(TARGET) == [] and db.calls_of("batch_write_item") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", None), ("  ", None), (None, None), ("1714564800", 1714564800.0), ("1714564800.5", 1714564800.5),
     ("2024-05-01T12:00:00Z", 1714564800.0), ("2024-05-01T12:00:00+00:00", 1714564800.0),
     ("2024-05-01T12:00:00", 1714564800.0)],
)
def test_replay_from_accepts_iso_8601_and_epoch_seconds(text, expected):
    assert applier.parse_replay_from(text) == expected


def test_settings_refuse_bad_configuration():
    with pytest.raises(ValueError, match="REPLAY_FROM"):
        applier.ApplierSettings.from_env({"TARGET_TABLE": "t", "WATERMARK_TABLE": "w", "REPLAY_FROM": "soon"})
    with pytest.raises(ValueError, match="WATERMARK_TABLE"):
        applier.ApplierSettings.from_env({"TARGET_TABLE": "t", "WATERMARK_TABLE": "t"})
    with pytest.raises(ValueError, match="TARGET_TABLE"):
        applier.ApplierSettings.from_env({"WATERMARK_TABLE": "w"})


# -- the watermark guard ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stored", "applied"),
    [("19", True), ("20", True), ("21", False)],
    ids=["watermark-lower-applied", "watermark-equal-reapplied", "watermark-higher-dropped"],
)
def test_watermark_guard(stored, applied, retry):
    db = fake_db()
    db.seed(TARGET, small_item(make_keys("hash_S", 1), version=9))
    db.seed(WATERMARKS, {"k": {"S": codec.key_digest(make_keys("hash_S", 1))}, "seq": {"S": codec.padded_sequence(stored)}})

    failures = run(sqs_event(msg(change("MODIFY", 1, 5, seq="20"), "m1")), db, retry)

    assert failures == []
    assert version_of(db, 1) == (5 if applied else 9)
    assert watermark(db, 1) == codec.padded_sequence(max(stored, "20", key=int))


def test_redelivery_after_the_dedup_window_never_regresses_an_item(retry):
    # GIVEN v1 then v2 of an item applied
    db = fake_db()
    v1 = change("INSERT", 1, 1, seq="100")
    v2 = change("MODIFY", 1, 2, seq="101")
    assert run(sqs_event(msg(v1, "m1")), db, retry) == []
    assert run(sqs_event(msg(v2, "m2")), db, retry) == []

    # WHEN v1 comes back more than 5 minutes later (same dedup id, new message)
    writes_before = len(write_requests(db))
    failures = run(sqs_event(msg(v1, "m1-again", receive_count=1)), db, retry)

    # THEN it is acknowledged and dropped
    assert failures == []
    assert version_of(db, 1) == 2
    assert len(write_requests(db)) == writes_before


def test_old_insert_redelivered_after_a_delete_does_not_resurrect_the_item(retry):
    db = fake_db()
    insert = change("INSERT", 1, 1, seq="100")
    remove = change("REMOVE", 1, 0, seq="101")
    assert run(sqs_event(msg(insert, "m1"), msg(remove, "m2")), db, retry) == []

    assert run(sqs_event(msg(insert, "m3")), db, retry) == []

    assert version_of(db, 1) is None
    assert watermark(db, 1) == codec.padded_sequence("101")


def test_watermarks_are_read_once_per_batch_with_a_consistent_read(retry):
    db = fake_db()
    event = sqs_event(*(msg(change("INSERT", i % 3, i, seq=str(100 + i)), f"m{i}") for i in range(7)))

    run(event, db, retry)

    (call,) = db.calls_of("batch_get_item")
    assert call[WATERMARKS]["ConsistentRead"] is True
    assert sorted(k["k"]["S"] for k in call[WATERMARKS]["Keys"]) == sorted(
        codec.key_digest(make_keys("hash_S", i)) for i in range(3)
    )


def test_unprocessed_watermark_keys_are_retried(retry, sleeps):
    db = fake_db()
    db.script["batch_get_item"] = ["unprocessed_all", "unprocessed_all"]

    assert run(sqs_event(msg(change("INSERT", 1, 1, seq="5"), "m1")), db, retry) == []

    assert len(db.calls_of("batch_get_item")) == 3 and len(sleeps) == 2
    assert version_of(db, 1) == 1


# -- one key, one request per call ------------------------------------------------------------------
def test_several_changes_to_one_key_are_applied_as_the_newest_image_only(retry):
    # GIVEN one group with three changes to key 1, interleaved with key 2
    db = fake_db()
    event = sqs_event(
        msg(change("INSERT", 1, 1, seq="100"), "a1"),
        msg(change("INSERT", 2, 1, seq="101"), "b1"),
        msg(change("MODIFY", 1, 2, seq="102"), "a2"),
        msg(change("MODIFY", 1, 3, seq="103"), "a3"),
    )

    assert run(event, db, retry) == []

    # THEN one BatchWriteItem, no key twice in it (the fake rejects duplicates as AWS does)
    (call,) = write_requests(db)
    assert len(call[TARGET]) == 2 and len(call[WATERMARKS]) == 2
    assert version_of(db, 1) == 3 and version_of(db, 2) == 1
    assert watermark(db, 1) == codec.padded_sequence("103")


def test_newest_means_highest_sequence_number_not_last_in_batch(retry):
    # A record the forwarder sent again (after a partial failure) can follow a newer one.
    db = fake_db()
    event = sqs_event(msg(change("MODIFY", 1, 5, seq="500"), "new"), msg(change("MODIFY", 1, 3, seq="300"), "old"))

    assert run(event, db, retry) == []

    assert version_of(db, 1) == 5 and watermark(db, 1) == codec.padded_sequence("500")


def test_write_calls_hold_at_most_25_requests_and_each_key_with_its_watermark(retry):
    db = fake_db()
    event = sqs_event(*(msg(change("INSERT", i, 1, seq=str(1000 + i)), f"m{i}") for i in range(30)))

    assert run(event, db, retry) == []

    calls = write_requests(db)
    assert [len(c[TARGET]) + len(c[WATERMARKS]) for c in calls] == [24, 24, 12]
    for call in calls:
        item_digests = [codec.key_digest({"pk": r["PutRequest"]["Item"]["pk"]}) for r in call[TARGET]]
        assert item_digests == [r["PutRequest"]["Item"]["k"]["S"] for r in call[WATERMARKS]]
    assert len(db.items(TARGET)) == 30


# -- retries ------------------------------------------------------------------------------------------
def test_unprocessed_items_are_retried_with_backoff_until_done(retry, sleeps):
    db = fake_db()
    db.script["batch_write_item"] = ["unprocessed", "unprocessed", "unprocessed_all"]
    event = sqs_event(*(msg(change("INSERT", i, 1, seq=str(100 + i)), f"m{i}") for i in range(4)))

    assert run(event, db, retry) == []

    assert len(write_requests(db)) == 4
    assert [sum(len(v) for v in c.values()) for c in write_requests(db)] == [8, 4, 2, 2]
    assert sleeps == [0.1, 0.2, 0.4]  # exponential (jitter pinned to its maximum here)
    assert len(db.items(TARGET)) == 4 and len(db.items(WATERMARKS)) == 4


def test_backoff_is_jittered_and_capped():
    seen = []
    retry = applier.Retry(sleep=seen.append, random=lambda: 0.5, base=0.05, cap=2.0)
    for attempt in range(1, 10):
        retry.pause(attempt)
    assert seen[:3] == [0.05, 0.1, 0.2]
    assert max(seen) == 1.0


def test_unprocessed_items_past_the_retry_budget_fail_their_messages(sleeps):
    db = fake_db()
    db.script["batch_write_item"] = ["unprocessed_all"] * 10
    retry = applier.Retry(attempts=3, sleep=sleeps)
    event = sqs_event(msg(change("INSERT", 1, 1, seq="1"), "a1"), msg(change("INSERT", 1, 2, seq="2"), "a2"))

    assert run(event, db, retry) == ["a2"]  # a1 was superseded by a2 in this batch: acknowledged
    assert len(write_requests(db)) == 3 and len(sleeps) == 2


@pytest.mark.parametrize("code", sorted(applier.THROTTLING_CODES))
@pytest.mark.parametrize("operation", ["batch_write_item", "batch_get_item", "get_item"])
def test_throttling_is_retried(code, operation, retry, sleeps):
    db = fake_db()
    db.seed(SOURCE, small_item(make_keys("hash_S", 1), 7))
    db.script[operation] = [client_error(code, operation), client_error(code, operation)]
    record = change("MODIFY", 1, 7, seq="9", view_type="KEYS_ONLY")  # key-only: exercises get_item

    assert run(sqs_event(msg(record, "m1")), db, retry) == []

    assert len(db.calls_of(operation)) == 3 and len(sleeps) == 2
    assert version_of(db, 1) == 7


def test_throttling_past_the_retry_budget_fails_the_batch_messages(sleeps):
    db = fake_db()
    db.script["batch_write_item"] = [client_error("ThrottlingException", "BatchWriteItem")] * 5
    retry = applier.Retry(attempts=5, sleep=sleeps)
    event = sqs_event(msg(change("INSERT", 1, 1, seq="1"), "a1"), msg(change("INSERT", 2, 1, seq="2"), "b1"))

    assert run(event, db, retry) == ["a1", "b1"]
    assert len(sleeps) == 4


def test_watermark_read_failure_fails_the_messages_in_play(retry):
    db = fake_db()
    db.script["batch_get_item"] = [client_error("ResourceNotFoundException", "BatchGetItem")]
    event = sqs_event(msg(change("INSERT", 1, 1, seq="1"), "a1"), msg(change("INSERT", 2, 1, seq="2"), "b1"))

    assert run(event, db, retry) == ["a1", "b1"]
    assert db.items(TARGET) == []


# -- poison and skip-group semantics ------------------------------------------------------------------
def test_poison_message_fails_alone_while_other_groups_are_applied(retry):
    db = fake_db()
    event = sqs_event(
        msg(change("INSERT", 1, 1, seq="1"), "a1"),
        poison_message("f" * 64, message_id="p1", receive_count=3),
        msg(change("INSERT", 2, 1, seq="2"), "b1"),
    )

    assert run(event, db, retry) == ["p1"]
    assert version_of(db, 1) == 1 and version_of(db, 2) == 1


@pytest.mark.parametrize(
    "body",
    ["{not json", "", '{"v": 99}', '{"v": 1, "event": "INSERT", "keys": {"pk": {"S": "x"}}, "new": {"a": {"N": "NaN?"}}, "seq": "1", "ts": 1}'],
)
def test_undecodable_bodies_are_poison(body, retry):
    db = fake_db()
    assert run(sqs_event(poison_message("g" * 64, body=body, message_id="p")), db, retry) == ["p"]
    assert write_requests(db) == []


def test_failure_skips_the_rest_of_its_group_only(retry):
    # GIVEN group B: B1 is poison, B2 follows it; groups A and C are fine
    db = fake_db()
    b_group = codec.key_digest(make_keys("hash_S", 2))
    event = sqs_event(
        msg(change("INSERT", 1, 1, seq="10"), "a1"),
        poison_message(b_group, message_id="b1"),
        msg(change("INSERT", 3, 1, seq="11"), "c1"),
        msg(change("INSERT", 2, 2, seq="12"), "b2"),
        msg(change("MODIFY", 1, 2, seq="13"), "a2"),
    )

    # WHEN
    failures = run(event, db, retry)

    # THEN B1 and everything after it in group B fail; A and C are applied
    assert failures == ["b1", "b2"]
    assert version_of(db, 1) == 2 and version_of(db, 3) == 1
    assert version_of(db, 2) is None


def test_write_rejected_for_one_key_is_isolated_and_fails_its_group_from_there(retry):
    # GIVEN BatchWriteItem rejects anything that touches key 2 (say, an invalid item)
    db = fake_db()
    db.reject_keys.add(codec.canonical_key(make_keys("hash_S", 2)))
    event = sqs_event(
        msg(change("MODIFY", 2, 5, seq="50"), "b5"),
        msg(change("INSERT", 1, 1, seq="10"), "a1"),
        msg(change("MODIFY", 2, 3, seq="30"), "b3"),  # resent older change, after the newer one
        msg(change("INSERT", 3, 1, seq="11"), "c1"),
    )

    # WHEN
    failures = run(event, db, retry)

    # THEN the calls were split to find key 2; only its group fails, from its first failed message
    assert failures == ["b5", "b3"]
    assert version_of(db, 1) == 1 and version_of(db, 3) == 1 and version_of(db, 2) is None
    assert len(write_requests(db)) > 1


def test_message_after_a_failure_in_its_group_is_not_applied(retry):
    # A group's later messages are not applied once an earlier one failed (order is kept).
    db = fake_db()
    group = codec.key_digest(make_keys("hash_S", 1))
    event = sqs_event(poison_message(group, message_id="x"), msg(change("INSERT", 1, 1, seq="10"), "a1"))

    assert run(event, db, retry) == ["x", "a1"]
    assert write_requests(db) == [] and db.calls_of("batch_get_item") == []


# -- key-only messages ------------------------------------------------------------------------------
def test_key_only_message_puts_the_source_item_read_consistently(retry):
    db = fake_db("pk", "sk")
    keys = make_keys("hash_B_range_S", 1)
    current = codec.to_client_item(big_item(keys, 1_000, version=8))
    db.seed(SOURCE, current)
    record = stream_record("MODIFY", keys, big_item(keys, 1_000, version=4), seq="40")

    assert run(sqs_event(msg(record, "m1", max_bytes=500)), db, retry) == []

    (get,) = db.calls_of("get_item")
    assert get == {"TableName": SOURCE, "Key": codec.to_client_item(keys), "ConsistentRead": True}
    assert db.get(TARGET, keys) == current
    assert db.get(WATERMARKS, {"k": {"S": codec.key_digest(keys)}})["seq"]["S"] == codec.padded_sequence("40")


def test_key_only_message_for_an_item_gone_from_the_source_deletes_it(retry):
    db = fake_db()
    keys = make_keys("hash_S", 1)
    db.seed(TARGET, small_item(keys))
    record = change("INSERT", 1, 1, seq="40", view_type="KEYS_ONLY")

    assert run(sqs_event(msg(record, "m1")), db, retry) == []

    (call,) = write_requests(db)
    assert call[TARGET] == [{"DeleteRequest": {"Key": keys}}]
    assert db.get(TARGET, keys) is None


def test_key_only_message_without_source_table_fails_its_group_only(retry):
    db = fake_db()
    settings = applier.ApplierSettings(TARGET, WATERMARKS)
    event = sqs_event(msg(change("INSERT", 1, 1, seq="40", view_type="KEYS_ONLY"), "ko"),
                      msg(change("INSERT", 2, 1, seq="41"), "full"))

    assert run(event, db, retry, settings) == ["ko"]
    assert version_of(db, 2) == 1


def test_unexpected_error_fails_the_batch_without_raising(retry, monkeypatch):
    db = fake_db()

    def broken(item):
        raise KeyError(CANARY_S)

    monkeypatch.setattr(codec, "to_client_item", broken)
    assert run(sqs_event(msg(change("INSERT", 1, 1, seq="1"), "a1")), db, retry) == ["a1"]


# -- the handler and the logs -------------------------------------------------------------------------
def test_handler_is_a_thin_wrapper_over_apply(monkeypatch):
    db = FakeDynamoDB({TARGET: ["Id"], SOURCE: ["Id"], WATERMARKS: ["k"]})
    monkeypatch.setattr(runtime, "client", lambda service: {"dynamodb": db}[service])
    monkeypatch.setenv("TARGET_TABLE", TARGET)
    monkeypatch.setenv("SOURCE_TABLE", SOURCE)
    monkeypatch.setenv("WATERMARK_TABLE", WATERMARKS)
    monkeypatch.setenv("REPLAY_FROM", "")

    assert applier.handler(load_event("sqsFifoEvent.json"), None) == {"batchItemFailures": []}
    assert db.get(TARGET, {"Id": {"N": "102"}}) is not None


def test_no_item_value_reaches_any_log_line(caplog, monkeypatch, sleeps):
    """Canary strings, numbers and binary in keys and every attribute type, through success and
    every failure path, at DEBUG level: none of them appears in a log line."""
    caplog.set_level(logging.DEBUG, logger="runbook_lib.cdc")
    retry = applier.Retry(attempts=2, sleep=sleeps)

    def canary_record(i, seq, **kw):
        keys = make_keys("hash_S_range_N", i, canary=True)
        return stream_record("MODIFY", keys, every_type_item(keys, version=i), seq=seq, **kw)

    # success, key-only re-read, stale drop, skip before REPLAY_FROM
    db = fake_db("pk", "sk")
    db.seed(SOURCE, codec.to_client_item(every_type_item(make_keys("hash_S_range_N", 2, canary=True))))
    db.seed(WATERMARKS, {"k": {"S": codec.key_digest(make_keys("hash_S_range_N", 3, canary=True))}, "seq": {"S": "9" * 40}})
    settings = applier.ApplierSettings(TARGET, WATERMARKS, SOURCE, replay_from=1714564800)
    event = sqs_event(
        msg(canary_record(1, "10"), "ok"),
        msg(canary_record(2, "11"), "key-only", max_bytes=300),
        msg(canary_record(3, "12"), "stale"),
        msg(canary_record(4, "13", created=1), "before-replay"),
    )
    assert run(event, db, retry, settings) == []

    # poison quoting a value, rejected write (AWS error message quoting a value), exhausted retries
    db = fake_db("pk", "sk")
    db.reject_keys.add(codec.canonical_key(make_keys("hash_S_range_N", 5, canary=True)))
    event = sqs_event(
        poison_message("not-a-digest-" + CANARY_S, body='{"v": 1, "keys": {"pk": {"S": "' + CANARY_S + '"}}}'),
        msg(canary_record(5, "20"), "rejected"),
        msg(canary_record(6, "21"), "fine"),
    )
    assert len(run(event, db, retry)) == 2
    db = fake_db("pk", "sk")
    db.script["batch_write_item"] = ["unprocessed_all"] * 5
    db.script["batch_get_item"] = [client_error("ThrottlingException", "BatchGetItem")]
    assert len(run(sqs_event(msg(canary_record(7, "30"), "exhausted")), db, retry)) == 1

    # an unexpected error whose message is a value
    monkeypatch.setattr(codec, "to_client_item", lambda item: (_ for _ in ()).throw(KeyError(CANARY_S)))
    assert len(run(sqs_event(msg(canary_record(8, "40"), "bug")), fake_db("pk", "sk"), retry)) == 1

    lines = assert_no_item_data(caplog)
    events = {line["event"] for line in lines}
    assert {"applied", "message_failed", "stale_dropped", "batch_failed"} <= events
    assert all("level" in line for line in lines)


def test_messages_sent_soon_after_their_change_need_no_watermark_read(retry):
    # GIVEN changes forwarded within seconds (the steady state): none can be a late re-send
    db = fake_db()
    v1 = change("INSERT", 1, 1, seq="100")
    v2 = change("MODIFY", 2, 1, seq="101")
    # WHEN they are applied
    assert run(sqs_event(msg(v1, "m1", sent_after=2), msg(v2, "m2", sent_after=30)), db, retry) == []
    # THEN no BatchGetItem was made, and the items and their watermarks were written
    assert db.calls_of("batch_get_item") == []
    assert version_of(db, 1) == 1 and version_of(db, 2) == 1
    assert watermark(db, 1) == codec.padded_sequence("100")


def test_only_late_messages_have_their_watermarks_read(retry):
    db = fake_db()
    fresh = change("INSERT", 1, 1, seq="100")
    late = change("INSERT", 2, 1, seq="101")
    assert run(sqs_event(msg(fresh, "m1", sent_after=5), msg(late, "m2")), db, retry) == []
    reads = db.calls_of("batch_get_item")
    assert len(reads) == 1
    (spec,) = reads[0].values()  # RequestItems of the one call: one table, one key (the late one)
    assert len(spec["Keys"]) == 1

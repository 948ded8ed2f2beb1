"""The queue -> restored table handler, with a fake DynamoDB client that records its calls."""

from __future__ import annotations

import logging

import pytest

from cdc_factories import (
    CANARY_S,
    DIGEST,
    SECRET_ARN,
    FakeDynamoDB,
    FakeSecretsManager,
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

TARGET, SOURCE = "orders-restored", "orders"
SETTINGS = applier.ApplierSettings(target_table=TARGET, source_table=SOURCE, digest=DIGEST)


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
    return FakeDynamoDB({TARGET: names, SOURCE: names})


def run(event, db, retry, settings=SETTINGS) -> list[str]:
    """Apply ``event``; the messageIds reported as failed."""
    result = applier.apply(event, db, settings, retry)
    assert set(result) == {"batchItemFailures"}
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


def change(event_name: str, i: int, version: int, *, seq: str, schema: str = "hash_S", created: float = 1714564800, **kw):
    keys = make_keys(schema, i)
    image = None if event_name == "REMOVE" else kw.pop("image", None) or small_item(keys, version)
    return stream_record(event_name, keys, image, seq=seq, created=created, **kw)


#: a message sent this long after its change can be a re-send past the deduplication interval
LATE = 300.0


def msg(record: dict, message_id: str, **kw) -> dict:
    """The message for ``record``, sent 0.1 s after the change unless ``sent_after`` says otherwise."""
    return message_for(record, message_id=message_id, **kw)


def version_of(db: FakeDynamoDB, i: int, schema: str = "hash_S", table: str = TARGET) -> int | None:
    item = db.get(table, make_keys(schema, i))
    return None if item is None else int(item["version"]["N"])


def write_requests(db: FakeDynamoDB) -> list[dict]:
    return db.calls_of("batch_write_item")


def source_reads(db: FakeDynamoDB) -> list[dict]:
    return db.calls_of("batch_get_item")


# -- the documented event -------------------------------------------------------------------------
def test_documented_sqs_fifo_event_is_applied_as_the_sources_current_items(retry):
    # GIVEN the sample (101 INSERT, 102 INSERT, 101 MODIFY, 101 REMOVE), sent years after its
    # changes: every message may be out of order, so each key is read from the source
    db = FakeDynamoDB({TARGET: ["Id"], SOURCE: ["Id"]})
    db.seed(SOURCE, {"Message": {"S": "Another item"}, "Id": {"N": "102"}})
    event = load_event("sqsFifoEvent.json")

    # WHEN
    failures = run(event, db, retry)

    # THEN one consistent BatchGetItem for both keys, one BatchWriteItem: 101 deleted, 102 put
    assert failures == []
    (read,) = source_reads(db)
    assert read[SOURCE]["ConsistentRead"] is True
    assert sorted(k["Id"]["N"] for k in read[SOURCE]["Keys"]) == ["101", "102"]
    (call,) = write_requests(db)
    assert call == {TARGET: [  # in batch order of each key's first message
        {"DeleteRequest": {"Key": {"Id": {"N": "101"}}}},
        {"PutRequest": {"Item": {"Message": {"S": "Another item"}, "Id": {"N": "102"}}}},
    ]}
    assert db.get(TARGET, {"Id": {"N": "101"}}) is None


def test_sample_event_bodies_match_their_group_and_md5():
    import hashlib

    for record in load_event("sqsFifoEvent.json")["Records"]:
        assert DIGEST(codec.decode(record["body"]).keys) == record["attributes"]["MessageGroupId"]
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


@pytest.mark.parametrize("schema", ["hash_B", "hash_S_range_N", "hash_N_range_B"])
def test_late_message_is_applied_as_the_source_item_for_every_key_schema(schema, retry):
    key_names = list(make_keys(schema))
    db = fake_db(*key_names)
    keys = make_keys(schema, 5, canary=True)
    current = codec.to_client_item(every_type_item(keys, version=9))
    db.seed(SOURCE, current)
    record = stream_record("MODIFY", keys, every_type_item(keys, version=2), seq="77")

    assert run(sqs_event(msg(record, "m1", sent_after=LATE)), db, retry) == []

    assert db.get(TARGET, keys) == current


# -- REPLAY_FROM --------------------------------------------------------------------------------------
def test_changes_before_replay_from_are_acknowledged_not_applied(retry):
    db = fake_db()
    settings = applier.ApplierSettings(TARGET, SOURCE, replay_from=1714564800, digest=DIGEST)
    before = change("INSERT", 1, 1, seq="10", created=1714564799)
    at = change("INSERT", 2, 1, seq="11", created=1714564800)
    after = change("MODIFY", 1, 2, seq="12", created=1714564900)

    failures = run(sqs_event(msg(before, "m1"), msg(at, "m2"), msg(after, "m3")), db, retry, settings)

    assert failures == []
    assert version_of(db, 1) == 2 and version_of(db, 2) == 1


def test_key_whose_changes_are_all_before_replay_from_is_not_touched(retry):
    db = fake_db()
    settings = applier.ApplierSettings.from_env(
        {"TARGET_TABLE": TARGET, "SOURCE_TABLE": SOURCE, "REPLAY_FROM": "2024-05-01T12:00:00Z"}, digest=DIGEST
    )
    old = change("INSERT", 1, 1, seq="10", created=1714564799)
    late_old = change("MODIFY", 2, 1, seq="11", created=1714564799)

    assert run(sqs_event(msg(old, "m1"), msg(late_old, "m2", sent_after=LATE)), db, retry, settings) == []

    assert db.items(TARGET) == [] and write_requests(db) == [] and source_reads(db) == []


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
        applier.ApplierSettings.from_env({"TARGET_TABLE": "t", "SOURCE_TABLE": "s", "REPLAY_FROM": "soon"}, digest=DIGEST)
    with pytest.raises(ValueError, match="SOURCE_TABLE"):
        applier.ApplierSettings.from_env({"TARGET_TABLE": "t"}, digest=DIGEST)
    with pytest.raises(ValueError, match="TARGET_TABLE"):
        applier.ApplierSettings.from_env({"SOURCE_TABLE": "s"}, digest=DIGEST)
    with pytest.raises(ValueError, match="must not be"):
        applier.ApplierSettings.from_env({"TARGET_TABLE": "t", "SOURCE_TABLE": "t"}, digest=DIGEST)


# -- (a) a re-send after the deduplication interval -------------------------------------------------------
def test_resend_after_the_dedup_interval_never_leaves_an_older_image(retry):
    # GIVEN v1 then v2 of an item applied; the source holds v2
    db = fake_db()
    v1 = change("INSERT", 1, 1, seq="100")
    v2 = change("MODIFY", 1, 2, seq="101")
    db.seed(SOURCE, small_item(make_keys("hash_S", 1), 2))
    assert run(sqs_event(msg(v1, "m1")), db, retry) == []
    assert run(sqs_event(msg(v2, "m2")), db, retry) == []

    # WHEN v1 comes back more than five minutes after its change (same dedup id, new message)
    failures = run(sqs_event(msg(v1, "m1-again", sent_after=LATE)), db, retry)

    # THEN it is applied as the source's current item, read consistently: v2 stays
    assert failures == []
    assert version_of(db, 1) == 2
    (read,) = source_reads(db)
    assert read[SOURCE] == {"Keys": [make_keys("hash_S", 1)], "ConsistentRead": True}


def test_old_insert_resent_after_a_delete_does_not_resurrect_the_item(retry):
    db = fake_db()
    insert = change("INSERT", 1, 1, seq="100")
    remove = change("REMOVE", 1, 0, seq="101")
    assert run(sqs_event(msg(insert, "m1"), msg(remove, "m2")), db, retry) == []
    db.seed(TARGET, small_item(make_keys("hash_S", 1), 5))  # even if something had put it back

    assert run(sqs_event(msg(insert, "m3", sent_after=LATE)), db, retry) == []

    assert version_of(db, 1) is None
    assert write_requests(db)[-1][TARGET] == [{"DeleteRequest": {"Key": make_keys("hash_S", 1)}}]


@pytest.mark.parametrize(("sent_after", "suspect"), [(239.0, False), (240.0, True), (3600.0, True)])
def test_a_message_sent_four_minutes_or_more_after_its_change_is_a_suspect(sent_after, suspect, retry):
    db = fake_db()
    db.seed(SOURCE, small_item(make_keys("hash_S", 1), 7))

    assert run(sqs_event(msg(change("MODIFY", 1, 3, seq="9"), "m1", sent_after=sent_after)), db, retry) == []

    assert version_of(db, 1) == (7 if suspect else 3)
    assert len(source_reads(db)) == (1 if suspect else 0)


def test_a_message_without_sent_timestamp_is_a_suspect(retry):
    db = fake_db()
    db.seed(SOURCE, small_item(make_keys("hash_S", 1), 7))
    message = msg(change("MODIFY", 1, 3, seq="9"), "m1")
    del message["attributes"]["SentTimestamp"]

    assert run(sqs_event(message), db, retry) == []

    assert version_of(db, 1) == 7


# -- (b) a poison message redriven from the DLQ ------------------------------------------------------------
def test_change_redriven_after_its_group_moved_on_does_not_regress_the_item(retry):
    # GIVEN v1 failed until it went to the DLQ; v2 and v3 were applied after it; the source holds v3
    db = fake_db()
    v1, v2, v3 = (change("MODIFY", 1, v, seq=str(100 + v)) for v in (1, 2, 3))
    db.seed(SOURCE, small_item(make_keys("hash_S", 1), 3))
    assert run(sqs_event(msg(v2, "m2"), msg(v3, "m3")), db, retry) == []

    # WHEN the DLQ is redriven an hour later: a new message (new id, SentTimestamp = the redrive,
    # receive count from 1), same group and body
    redriven = msg(v1, "redriven", sent_after=3600.0)

    # THEN it is applied as the source's current item: v3 stays
    assert run(sqs_event(redriven), db, retry) == []
    assert version_of(db, 1) == 3


@pytest.mark.parametrize(
    "attributes",
    [{"DeadLetterQueueSourceArn": "arn:aws:sqs:us-east-1:123456789012:pitr-cdc-buffer.fifo"},
     {"ApproximateReceiveCount": "11"}],
    ids=["dead-letter-source-arn", "received-before"],
)
def test_a_message_marked_as_moved_or_received_before_is_a_suspect_even_when_sent_soon(attributes, retry):
    db = fake_db()
    db.seed(SOURCE, small_item(make_keys("hash_S", 1), 3))
    message = msg(change("MODIFY", 1, 1, seq="101"), "m1", sent_after=1.0)
    message["attributes"].update(attributes)

    assert run(sqs_event(message), db, retry) == []

    assert version_of(db, 1) == 3 and len(source_reads(db)) == 1


# -- (c) clock skew ----------------------------------------------------------------------------------------
def test_message_sent_before_its_change_beyond_the_margin_is_a_suspect_and_logged(retry, caplog):
    caplog.set_level(logging.WARNING, logger="runbook_lib.cdc")
    db = fake_db()
    db.seed(SOURCE, small_item(make_keys("hash_S", 1), 3))

    # the clocks disagree by two minutes: SentTimestamp seems 120 s before the change
    assert run(sqs_event(msg(change("MODIFY", 1, 1, seq="101"), "m1", sent_after=-120.0)), db, retry) == []

    assert version_of(db, 1) == 3
    lines = assert_no_item_data(caplog)
    assert any(line["event"] == "clock_skew" for line in lines)
    (applied,) = [line for line in lines if line["event"] == "applied"] or [None]  # WARNING-level only if failures
    assert applied is None


def test_skew_within_the_margin_needs_no_read(retry):
    db = fake_db()
    assert run(sqs_event(msg(change("MODIFY", 1, 1, seq="101"), "m1", sent_after=-30.0)), db, retry) == []
    assert version_of(db, 1) == 1 and source_reads(db) == []


# -- (d) a partly failed batch, a crashed invocation --------------------------------------------------------
def test_messages_that_come_back_after_a_failed_attempt_are_re_read(retry):
    # GIVEN a batch whose write failed: the messages come back (receive count 2), in order
    db = fake_db()
    db.seed(SOURCE, small_item(make_keys("hash_S", 1), 2))
    event = sqs_event(msg(change("MODIFY", 1, 1, seq="1"), "a1", receive_count=2),
                      msg(change("MODIFY", 1, 2, seq="2"), "a2", receive_count=2))

    assert run(event, db, retry) == []

    assert version_of(db, 1) == 2 and len(source_reads(db)) == 1


def test_a_batch_that_died_after_some_writes_converges_when_it_comes_back_whole(sleeps):
    # GIVEN a batch over three keys whose write stopped half way (the invocation died: nothing
    # reported, so every message comes back after the visibility timeout, in order)
    db = fake_db()
    for i in (1, 2, 3):
        db.seed(SOURCE, small_item(make_keys("hash_S", i), 2))
    batch = [(i, v) for v in (1, 2) for i in (1, 2, 3)]
    db.script["batch_write_item"] = ["unprocessed", RuntimeError("the invocation died")]
    first = sqs_event(*(msg(change("MODIFY", i, v, seq=str(10 * v + i)), f"m{i}{v}") for i, v in batch))
    assert sorted(run(first, db, applier.Retry(attempts=2, sleep=sleeps))) == sorted(f"m{i}{v}" for i, v in batch)
    assert 0 < len(db.items(TARGET)) < 3  # some keys were written, not all

    # WHEN the same messages come back (receive count 2)
    again = sqs_event(*(msg(change("MODIFY", i, v, seq=str(10 * v + i)), f"m{i}{v}", receive_count=2) for i, v in batch))
    assert run(again, db, applier.Retry(sleep=sleeps)) == []

    # THEN every key holds its newest image
    assert [version_of(db, i) for i in (1, 2, 3)] == [2, 2, 2]


# -- reads and writes --------------------------------------------------------------------------------------
def test_messages_sent_soon_after_their_change_need_no_read(retry):
    # GIVEN changes forwarded within seconds (the steady state): none can be out of order
    db = fake_db()
    v1 = change("INSERT", 1, 1, seq="100")
    v2 = change("MODIFY", 2, 1, seq="101")
    # WHEN they are applied
    assert run(sqs_event(msg(v1, "m1", sent_after=2), msg(v2, "m2", sent_after=30)), db, retry) == []
    # THEN no read was made, one write per change, and nothing else is written
    assert source_reads(db) == []
    assert version_of(db, 1) == 1 and version_of(db, 2) == 1
    (call,) = write_requests(db)
    assert list(call) == [TARGET] and len(call[TARGET]) == 2


def test_only_suspects_are_read_and_in_one_call_per_100_keys(retry):
    db = fake_db()
    fresh = [msg(change("INSERT", i, 1, seq=str(1000 + i)), f"f{i}") for i in range(5)]
    late = [msg(change("INSERT", 100 + i, 1, seq=str(2000 + i)), f"l{i}", sent_after=LATE) for i in range(130)]
    for i in range(0, 130, 2):
        db.seed(SOURCE, small_item(make_keys("hash_S", 100 + i), 4))

    assert run(sqs_event(*fresh, *late), db, retry) == []

    reads = source_reads(db)
    assert [len(r[SOURCE]["Keys"]) for r in reads] == [100, 30]
    assert all(r[SOURCE]["ConsistentRead"] is True for r in reads)
    assert [version_of(db, i) for i in range(5)] == [1] * 5
    assert [version_of(db, 100 + i) for i in range(4)] == [4, None, 4, None]


def test_a_key_with_one_suspect_in_the_batch_is_read_once(retry):
    db = fake_db()
    db.seed(SOURCE, small_item(make_keys("hash_S", 1), 9))
    event = sqs_event(msg(change("MODIFY", 1, 5, seq="5"), "late", sent_after=LATE),
                      msg(change("MODIFY", 1, 8, seq="8"), "fresh"))

    assert run(event, db, retry) == []

    (read,) = source_reads(db)
    assert len(read[SOURCE]["Keys"]) == 1
    assert version_of(db, 1) == 9


def test_a_re_read_key_counts_its_other_changes_as_superseded_so_each_change_is_counted_once(retry, caplog):
    """The report's accounting: every change from R on is applied (one write per key) or superseded."""
    caplog.set_level(logging.INFO, logger="runbook_lib.cdc")
    db = fake_db()
    db.seed(SOURCE, small_item(make_keys("hash_S", 1), 9))
    event = sqs_event(msg(change("MODIFY", 1, 5, seq="5"), "late", sent_after=LATE),
                      msg(change("MODIFY", 1, 7, seq="7"), "fresh1"),
                      msg(change("MODIFY", 1, 8, seq="8"), "fresh2"),
                      msg(change("MODIFY", 2, 1, seq="9"), "other"))

    assert run(event, db, retry) == []

    (applied,) = [line for line in assert_no_item_data(caplog) if line["event"] == "applied"]
    assert applied["puts"] + applied["deletes"] == 2 and applied["reread"] == 1
    assert applied["superseded"] == 2 and applied["received"] == applied["puts"] + applied["superseded"]


def test_unprocessed_source_keys_are_retried(retry, sleeps):
    db = fake_db()
    db.seed(SOURCE, small_item(make_keys("hash_S", 1), 4))
    db.script["batch_get_item"] = ["unprocessed_all", "unprocessed_all"]

    assert run(sqs_event(msg(change("INSERT", 1, 1, seq="5"), "m1", sent_after=LATE)), db, retry) == []

    assert len(source_reads(db)) == 3 and len(sleeps) == 2
    assert version_of(db, 1) == 4


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
    assert len(call[TARGET]) == 2
    assert version_of(db, 1) == 3 and version_of(db, 2) == 1


def test_write_calls_hold_at_most_25_requests(retry):
    db = fake_db()
    event = sqs_event(*(msg(change("INSERT", i, 1, seq=str(1000 + i)), f"m{i}") for i in range(30)))

    assert run(event, db, retry) == []

    assert [len(c[TARGET]) for c in write_requests(db)] == [25, 5]
    assert len(db.items(TARGET)) == 30


# -- retries ------------------------------------------------------------------------------------------
def test_unprocessed_items_are_retried_with_backoff_until_done(retry, sleeps):
    db = fake_db()
    db.script["batch_write_item"] = ["unprocessed", "unprocessed", "unprocessed_all"]
    event = sqs_event(*(msg(change("INSERT", i, 1, seq=str(100 + i)), f"m{i}") for i in range(8)))

    assert run(event, db, retry) == []

    assert [sum(len(v) for v in c.values()) for c in write_requests(db)] == [8, 4, 2, 2]
    assert sleeps == [0.1, 0.2, 0.4]  # exponential (jitter pinned to its maximum here)
    assert len(db.items(TARGET)) == 8


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

    assert run(event, db, retry) == ["a1", "a2"]  # a failed key fails all its messages in the batch
    assert len(write_requests(db)) == 3 and len(sleeps) == 2


@pytest.mark.parametrize("code", sorted(applier.THROTTLING_CODES))
@pytest.mark.parametrize("operation", ["batch_write_item", "batch_get_item"])
def test_throttling_is_retried(code, operation, retry, sleeps):
    db = fake_db()
    db.seed(SOURCE, small_item(make_keys("hash_S", 1), 7))
    db.script[operation] = [client_error(code, operation), client_error(code, operation)]
    record = change("MODIFY", 1, 7, seq="9", view_type="KEYS_ONLY")  # key-only: exercises the read

    assert run(sqs_event(msg(record, "m1")), db, retry) == []

    assert len(db.calls_of(operation)) == 3 and len(sleeps) == 2
    assert version_of(db, 1) == 7


class Clock:
    """An invocation's clock: ``remaining`` seconds left, which sleeping and every call use up."""

    def __init__(self, remaining: float) -> None:
        self.left = remaining
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.left -= seconds

    def remaining(self) -> float:
        return self.left


def test_sustained_throttling_is_outlasted_while_the_invocation_has_time(retry):
    # GIVEN a target that throttles 40 writes in a row (more than any fixed retry count), and an
    # invocation with 15 minutes left
    db = fake_db()
    db.script["batch_write_item"] = [client_error("ProvisionedThroughputExceededException", "BatchWriteItem")] * 40
    clock = Clock(900.0)
    retry = applier.Retry(sleep=clock.sleep, remaining=clock.remaining)

    # WHEN
    failures = run(sqs_event(msg(change("INSERT", 1, 1, seq="1"), "a1")), db, retry)

    # THEN the change is applied, not failed towards the DLQ
    assert failures == [] and version_of(db, 1) == 1
    assert len(clock.sleeps) == 40


def test_throttling_fails_the_messages_only_when_the_invocation_runs_out_of_time():
    # GIVEN a target that throttles every write, and 30 s left in the invocation
    db = fake_db()
    db.script["batch_write_item"] = [client_error("ThrottlingException", "BatchWriteItem")] * 10_000
    clock = Clock(30.0)
    retry = applier.Retry(sleep=clock.sleep, remaining=clock.remaining, reserve=5.0)
    event = sqs_event(msg(change("INSERT", 1, 1, seq="1"), "a1"), msg(change("INSERT", 2, 1, seq="2"), "b1"))

    # WHEN
    failures = run(event, db, retry)

    # THEN both are reported failed (they come back after the visibility timeout), with the
    # reserve still left to report them
    assert failures == ["a1", "b1"]
    assert 5.0 < clock.left <= 5.0 + retry.cap
    assert sum(clock.sleeps) >= 30.0 - 5.0 - retry.cap


def test_retry_for_context_uses_the_invocations_remaining_time():
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 42_000

    retry = applier.Retry.for_context(Context())
    assert retry.remaining() == 42.0 and retry.reserve == 4.2  # a tenth of what is left, at most 5 s
    assert applier.Retry.for_context(None).remaining is None


def test_read_failure_fails_only_the_messages_that_needed_the_read(retry):
    db = fake_db()
    db.script["batch_get_item"] = [client_error("ResourceNotFoundException", "BatchGetItem")]
    event = sqs_event(msg(change("INSERT", 1, 1, seq="1"), "a1", sent_after=LATE), msg(change("INSERT", 2, 1, seq="2"), "b1"))

    assert run(event, db, retry) == ["a1"]
    assert version_of(db, 1) is None and version_of(db, 2) == 1


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
    b_group = DIGEST(make_keys("hash_S", 2))
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
        msg(change("MODIFY", 2, 6, seq="60"), "b6"),
        msg(change("INSERT", 3, 1, seq="11"), "c1"),
    )

    # WHEN
    failures = run(event, db, retry)

    # THEN the calls were split to find key 2; only its group fails, from its first message
    assert failures == ["b5", "b6"]
    assert version_of(db, 1) == 1 and version_of(db, 3) == 1 and version_of(db, 2) is None
    assert len(write_requests(db)) > 1


def test_message_after_a_failure_in_its_group_is_not_applied(retry):
    # A group's later messages are not applied once an earlier one failed (order is kept).
    db = fake_db()
    group = DIGEST(make_keys("hash_S", 1))
    event = sqs_event(poison_message(group, message_id="x"), msg(change("INSERT", 1, 1, seq="10"), "a1", sent_after=LATE))

    assert run(event, db, retry) == ["x", "a1"]
    assert write_requests(db) == [] and source_reads(db) == []


# -- key-only messages ------------------------------------------------------------------------------
def test_key_only_message_puts_the_source_item_read_consistently(retry):
    db = fake_db("pk", "sk")
    keys = make_keys("hash_B_range_S", 1)
    current = codec.to_client_item(big_item(keys, 1_000, version=8))
    db.seed(SOURCE, current)
    record = stream_record("MODIFY", keys, big_item(keys, 1_000, version=4), seq="40")

    assert run(sqs_event(msg(record, "m1", max_bytes=500)), db, retry) == []

    (read,) = source_reads(db)
    assert read == {SOURCE: {"Keys": [codec.to_client_item(keys)], "ConsistentRead": True}}
    assert db.get(TARGET, keys) == current


def test_key_only_message_for_an_item_gone_from_the_source_deletes_it(retry):
    db = fake_db()
    keys = make_keys("hash_S", 1)
    db.seed(TARGET, small_item(keys))
    record = change("INSERT", 1, 1, seq="40", view_type="KEYS_ONLY")

    assert run(sqs_event(msg(record, "m1")), db, retry) == []

    (call,) = write_requests(db)
    assert call[TARGET] == [{"DeleteRequest": {"Key": keys}}]
    assert db.get(TARGET, keys) is None


def test_unexpected_error_fails_the_batch_without_raising(retry, monkeypatch):
    db = fake_db()

    def broken(item):
        raise KeyError(CANARY_S)

    monkeypatch.setattr(codec, "to_client_item", broken)
    assert run(sqs_event(msg(change("INSERT", 1, 1, seq="1"), "a1")), db, retry) == ["a1"]


# -- the handler and the logs -------------------------------------------------------------------------
def test_handler_is_a_thin_wrapper_over_apply_with_the_invocations_time(monkeypatch):
    # GIVEN a target that throttles 20 writes in a row, and an invocation context with time left
    db = FakeDynamoDB({TARGET: ["Id"], SOURCE: ["Id"]})
    db.seed(SOURCE, {"Message": {"S": "Another item"}, "Id": {"N": "102"}})
    db.script["batch_write_item"] = [client_error("ThrottlingException", "BatchWriteItem")] * 20
    clients = []
    secrets = FakeSecretsManager()
    monkeypatch.setattr(runtime, "client", lambda service, **kw: clients.append((service, kw))
                        or {"dynamodb": db, "secretsmanager": secrets}[service])
    monkeypatch.setattr(applier.time, "sleep", lambda seconds: None)
    monkeypatch.setenv("TARGET_TABLE", TARGET)
    monkeypatch.setenv("SOURCE_TABLE", SOURCE)
    monkeypatch.setenv("REPLAY_FROM", "")
    monkeypatch.setenv("KEY_DIGEST_SECRET_ARN", SECRET_ARN)
    runtime.reset_key_digest()

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 60_000

    # WHEN / THEN the batch is applied: the handler retried past the 8 attempts of a bare Retry
    assert applier.handler(load_event("sqsFifoEvent.json"), Context()) == {"batchItemFailures": []}
    assert db.get(TARGET, {"Id": {"N": "102"}}) is not None
    # and its client leaves the backing off to it (botocore's own could outlast the invocation)
    assert ("dynamodb", {"self_retrying": True}) in clients
    assert secrets.calls == [SECRET_ARN]
    runtime.reset_key_digest()


def test_handler_fails_and_writes_nothing_when_the_secret_is_denied(monkeypatch, caplog):
    """No fallback to an unkeyed digest: the invocation fails (its messages come back after the
    visibility timeout, and reach the DLQ after maxReceiveCount), nothing is written."""
    db = FakeDynamoDB({TARGET: ["Id"], SOURCE: ["Id"]})
    secrets = FakeSecretsManager(error=client_error("AccessDeniedException", "GetSecretValue"))
    monkeypatch.setattr(runtime, "client", lambda service, **kw: {"dynamodb": db, "secretsmanager": secrets}[service])
    monkeypatch.setenv("TARGET_TABLE", TARGET)
    monkeypatch.setenv("SOURCE_TABLE", SOURCE)
    monkeypatch.setenv("KEY_DIGEST_SECRET_ARN", SECRET_ARN)
    runtime.reset_key_digest()

    with pytest.raises(runtime.KeySecretError, match="AccessDeniedException"):
        applier.handler(load_event("sqsFifoEvent.json"), None)

    assert db.calls == [] and secrets.calls == [SECRET_ARN]
    assert not any(CANARY_S in r.getMessage() for r in caplog.records)
    runtime.reset_key_digest()


def test_message_whose_group_is_not_its_keys_digest_is_reread_from_the_source(retry):
    """A message in a group that is not its key's keyed digest (sent by hand, or keyed with another
    secret) may be out of order with its key's other changes: it is applied as the source's
    current item, never as its own image."""
    db = fake_db()
    db.seed(SOURCE, small_item(make_keys("hash_S", 1), 5))
    record = change("MODIFY", 1, 2, seq="20")
    foreign = message_for(record, message_id="m1")
    foreign["attributes"]["MessageGroupId"] = codec.KeyDigest("another-stack-secret-" + "z" * 32)(make_keys("hash_S", 1))

    assert run(sqs_event(foreign), db, retry) == []

    assert version_of(db, 1) == 5 and len(source_reads(db)) == 1


def test_a_self_retrying_client_lets_botocore_retry_once():
    from runbook_lib.cdc import runtime as real_runtime

    def total_attempts(config) -> int:
        # botocore rewrites max_attempts (retries) as total_max_attempts (calls) once a client used it
        retries = config.retries
        return retries.get("total_max_attempts", retries.get("max_attempts", 0) + 1)

    config = real_runtime.SELF_RETRYING_CONFIG
    assert config.retries["mode"] == "standard" and total_attempts(config) == 2  # one call, one retry
    assert total_attempts(real_runtime.RETRY_CONFIG) > total_attempts(config)


def test_the_applier_client_leaves_request_validation_to_dynamodb():
    """The applier writes only codec-checked images and keys, or items DynamoDB returned: botocore's
    client-side walk over every attribute is skipped (DynamoDB validates the request itself)."""
    from runbook_lib.cdc import runtime as real_runtime

    assert real_runtime.SELF_RETRYING_CONFIG.parameter_validation is False
    assert real_runtime.RETRY_CONFIG.parameter_validation is not False  # the forwarder's client still validates


def test_no_item_value_reaches_any_log_line(caplog, monkeypatch, sleeps):
    """Canary strings, numbers and binary in keys and every attribute type, through success and
    every failure path, at DEBUG level: none of them appears in a log line."""
    caplog.set_level(logging.DEBUG, logger="runbook_lib.cdc")
    retry = applier.Retry(attempts=2, sleep=sleeps)

    def canary_record(i, seq, **kw):
        keys = make_keys("hash_S_range_N", i, canary=True)
        return stream_record("MODIFY", keys, every_type_item(keys, version=i), seq=seq, **kw)

    # success, key-only re-read, late re-read, clock skew, skip before REPLAY_FROM
    db = fake_db("pk", "sk")
    db.seed(SOURCE, codec.to_client_item(every_type_item(make_keys("hash_S_range_N", 2, canary=True))))
    settings = applier.ApplierSettings(TARGET, SOURCE, replay_from=1714564800, digest=DIGEST)
    event = sqs_event(
        msg(canary_record(1, "10"), "ok"),
        msg(canary_record(2, "11"), "key-only", max_bytes=300),
        msg(canary_record(3, "12"), "late", sent_after=LATE),
        msg(canary_record(9, "14"), "skewed", sent_after=-600),
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
    db.script["batch_get_item"] = [client_error("ThrottlingException", "BatchGetItem")] * 5
    assert len(run(sqs_event(msg(canary_record(7, "30"), "exhausted", sent_after=LATE)), db, retry)) == 1
    assert len(run(sqs_event(msg(canary_record(7, "31"), "exhausted2")), db, retry)) == 1

    # an unexpected error whose message is a value
    monkeypatch.setattr(codec, "to_client_item", lambda item: (_ for _ in ()).throw(KeyError(CANARY_S)))
    assert len(run(sqs_event(msg(canary_record(8, "40"), "bug")), fake_db("pk", "sk"), retry)) == 1

    lines = assert_no_item_data(caplog)
    events = {line["event"] for line in lines}
    assert {"applied", "message_failed", "suspect", "clock_skew", "batch_failed"} <= events
    assert all("level" in line for line in lines)


def test_a_target_in_another_region_is_written_there_and_the_source_re_read_in_the_functions_own(monkeypatch):
    """TARGET_REGION (the stack's TargetRegion) other than AWS_REGION: BatchWriteItem goes to a client
    of the target's region, BatchGetItem re-reads stay on the function's own (the source's region):
    a DynamoDB request names tables of its endpoint's region only."""
    # GIVEN the source in us-east-1 (the function's region), the target in eu-west-1
    source_side = FakeDynamoDB({SOURCE: ["Id"]})
    target_side = FakeDynamoDB({TARGET: ["Id"]})
    source_side.seed(SOURCE, {"Message": {"S": "Another item"}, "Id": {"N": "102"}})
    made = []
    secrets = FakeSecretsManager()

    def client(service, **kw):
        made.append((service, kw))
        if service == "secretsmanager":
            return secrets
        return target_side if kw.get("region") == "eu-west-1" else source_side

    monkeypatch.setattr(runtime, "client", client)
    for name, value in {"TARGET_TABLE": TARGET, "SOURCE_TABLE": SOURCE, "REPLAY_FROM": "", "AWS_REGION": "us-east-1",
                        "TARGET_REGION": "eu-west-1", "KEY_DIGEST_SECRET_ARN": SECRET_ARN}.items():
        monkeypatch.setenv(name, value)
    runtime.reset_key_digest()
    # WHEN the documented event (every message re-read: sent long after its change) is applied
    assert applier.handler(load_event("sqsFifoEvent.json"), None) == {"batchItemFailures": []}
    # THEN reads went to the source's region, writes to the target's, and nothing else crossed
    assert source_side.calls_of("batch_get_item") and not source_side.calls_of("batch_write_item")
    assert target_side.calls_of("batch_write_item") and not target_side.calls_of("batch_get_item")
    assert target_side.get(TARGET, {"Id": {"N": "102"}}) == {"Message": {"S": "Another item"}, "Id": {"N": "102"}}
    assert ("dynamodb", {"self_retrying": True, "region": "eu-west-1"}) in made
    # the same region named as TARGET_REGION is no crossing: one client, as before
    monkeypatch.setenv("TARGET_REGION", "us-east-1")
    assert applier.ApplierSettings.from_env(digest=DIGEST).target_region is None
    runtime.reset_key_digest()

"""The stream -> queue handler, with a fake SQS client that records its calls."""

from __future__ import annotations

import json
import logging

import pytest

from cdc_factories import (
    CANARY_S,
    DIGEST,
    QUEUE_URL,
    SECRET_ARN,
    FakeSecretsManager,
    FakeFifoQueue,
    FakeSqs,
    assert_no_item_data,
    big_item,
    client_error,
    every_type_item,
    load_event,
    make_keys,
    small_item,
    stream_event,
    stream_record,
)
from runbook_lib.cdc import codec, forwarder, runtime

SETTINGS = forwarder.ForwarderSettings(queue_url=QUEUE_URL, digest=DIGEST)
#: the forwarder as it was before it re-sent failed entries: stops at the first one
NO_RETRY = forwarder.ForwarderSettings(queue_url=QUEUE_URL, entry_retries=0, digest=DIGEST)


def bodies(sqs: FakeSqs) -> list[dict]:
    return [json.loads(e["MessageBody"]) for e in sqs.entries]


def test_documented_stream_event_is_forwarded_in_order_with_group_and_dedup_ids():
    event = load_event("dynamoStreamEvent.json")
    sqs = FakeSqs()

    result = forwarder.forward(event, sqs, SETTINGS)

    assert result == {"batchItemFailures": []}
    # three changes of one item: three calls, one message each (never two of a group in a call)
    assert [len(call["Entries"]) for call in sqs.calls] == [1, 1, 1]
    assert all(call["QueueUrl"] == QUEUE_URL for call in sqs.calls)
    entries = sqs.entries
    digest = DIGEST({"Id": {"N": "101"}})
    assert [e["MessageGroupId"] for e in entries] == [digest] * 3
    assert [e["MessageDeduplicationId"] for e in entries] == [r["eventID"] for r in event["Records"]]
    assert [(b["event"], b["seq"]) for b in bodies(sqs)] == [
        ("INSERT", "4421584500000000017450439091"),
        ("MODIFY", "4421584500000000017450439092"),
        ("REMOVE", "4421584500000000017450439093"),
    ]
    # The old image never travels: the MODIFY's old message text and the REMOVE's image are absent.
    assert "New item!" not in entries[1]["MessageBody"]
    assert "This item has changed" not in entries[2]["MessageBody"]
    assert all(set(b) <= {"v", "event", "keys", "new", "seq", "ts", "key_only"} for b in bodies(sqs))


def test_group_id_is_the_key_digest_for_every_key_schema():
    records = [stream_record("INSERT", make_keys(schema, 7)) for schema in
               ("hash_S", "hash_N", "hash_B", "hash_S_range_N", "hash_N_range_B", "hash_B_range_S")]
    sqs = FakeSqs()

    forwarder.forward(stream_event(*records), sqs, SETTINGS)

    assert [e["MessageGroupId"] for e in sqs.entries] == [DIGEST(r["dynamodb"]["Keys"]) for r in records]
    assert len(set(e["MessageGroupId"] for e in sqs.entries)) == len(records)


def test_oversize_record_travels_as_its_key_only():
    # GIVEN an item of 350 KB between two small ones, and a 256 KiB queue
    small_a, small_b = make_keys("hash_S", 1), make_keys("hash_S", 2)
    big_keys = make_keys("hash_S_range_N", 3)
    records = [
        stream_record("INSERT", small_a, every_type_item(small_a)),
        stream_record("MODIFY", big_keys, big_item(big_keys, 350_000)),
        stream_record("INSERT", small_b, every_type_item(small_b)),
    ]
    sqs = FakeSqs()

    # WHEN
    result = forwarder.forward(stream_event(*records), sqs, SETTINGS)

    # THEN the big one is key-only, the others carry their image, all in order
    assert result == {"batchItemFailures": []}
    sent = bodies(sqs)
    assert [b["key_only"] for b in sent] == [False, True, False]
    assert "new" not in sent[1] and sent[1]["keys"] == big_keys and sent[1]["event"] == "MODIFY"
    assert sent[0]["new"] == every_type_item(small_a)
    assert all(codec.message_size(e["MessageBody"]) <= SETTINGS.max_message_bytes for e in sqs.entries)


def test_max_message_bytes_decides_what_is_oversize():
    keys = make_keys()
    record = stream_record("INSERT", keys, big_item(keys, 5_000))
    full, small = FakeSqs(), FakeSqs()

    forwarder.forward(stream_event(record), full, forwarder.ForwarderSettings(QUEUE_URL, 10_000, digest=DIGEST))
    forwarder.forward(stream_event(record), small, forwarder.ForwarderSettings(QUEUE_URL, 4_000, digest=DIGEST))

    assert bodies(full)[0]["key_only"] is False
    assert bodies(small)[0]["key_only"] is True


@pytest.mark.parametrize("view_type", ["KEYS_ONLY", "OLD_IMAGE"])
def test_stream_without_new_image_sends_key_only_inserts_and_modifies(view_type):
    keys = make_keys()
    records = [
        stream_record("INSERT", keys, view_type=view_type),
        stream_record("MODIFY", keys, old_image=small_item(keys), view_type=view_type),
        stream_record("REMOVE", keys, old_image=small_item(keys), view_type=view_type),
    ]
    sqs = FakeSqs()

    forwarder.forward(stream_event(*records), sqs, SETTINGS)

    assert [(b["event"], b["key_only"], "new" in b) for b in bodies(sqs)] == [
        ("INSERT", True, False),
        ("MODIFY", True, False),
        ("REMOVE", False, False),
    ]


def test_batches_hold_at_most_10_entries_in_stream_order():
    records = [stream_record("INSERT", make_keys("hash_N", i)) for i in range(25)]
    sqs = FakeSqs()

    result = forwarder.forward(stream_event(*records), sqs, SETTINGS)

    assert result == {"batchItemFailures": []}
    assert [len(call["Entries"]) for call in sqs.calls] == [10, 10, 5]
    assert [b["seq"] for b in bodies(sqs)] == [r["dynamodb"]["SequenceNumber"] for r in records]
    assert all(len({e["Id"] for e in call["Entries"]}) == len(call["Entries"]) for call in sqs.calls)


def test_batches_hold_at_most_max_message_bytes_of_payload():
    # Items of ~100 KB: two fit in 256 KiB, three do not.
    records = [stream_record("INSERT", make_keys("hash_N", i), big_item(make_keys("hash_N", i), 100_000)) for i in range(5)]
    sqs = FakeSqs()

    forwarder.forward(stream_event(*records), sqs, SETTINGS)

    assert [len(call["Entries"]) for call in sqs.calls] == [2, 2, 1]
    for call in sqs.calls:
        assert sum(codec.message_size(e["MessageBody"]) for e in call["Entries"]) <= SETTINGS.max_message_bytes
    assert not any(b["key_only"] for b in bodies(sqs))


def test_partial_failure_stops_at_the_first_entry_that_still_fails_after_its_retries():
    # GIVEN 15 records of 15 items; in the first call entries 3 and 6 fail, and again on every re-send
    records = [stream_record("INSERT", make_keys("hash_N", i)) for i in range(15)]
    sqs = FakeSqs({"3", "6"}, {"3", "6"}, {"3", "6"}, {"3", "6"})
    pauses: list[float] = []

    # WHEN
    result = forwarder.forward(stream_event(*records), sqs, SETTINGS, sleep=pauses.append)

    # THEN only the failed entries were sent again, three times, then the first failed record is
    # reported and nothing after the failed call is sent
    assert result == {"batchItemFailures": [{"itemIdentifier": records[3]["dynamodb"]["SequenceNumber"]}]}
    assert [len(call["Entries"]) for call in sqs.calls] == [10, 2, 2, 2]
    assert all(call["Entries"][0]["MessageDeduplicationId"] == records[3]["eventID"] for call in sqs.calls[1:])
    assert len(pauses) == 3 and all(0 <= p <= forwarder.RETRY_CAP_SECONDS for p in pauses)


def test_entries_sqs_failed_on_its_side_are_sent_again_before_the_next_call():
    # GIVEN 25 records of 5 items (five changes each); SQS fails two entries of the first call once
    records = [stream_record("MODIFY", make_keys("hash_N", i % 5), seq=str(1000 + i)) for i in range(25)]
    sqs = FakeSqs({"1", "3"})

    # WHEN
    result = forwarder.forward(stream_event(*records), sqs, SETTINGS, sleep=lambda s: None)

    # THEN nothing is reported: the two were re-sent (alone) right after the first call, and every
    # item's changes reached the queue in stream order
    assert result == {"batchItemFailures": []}
    assert [len(call["Entries"]) for call in sqs.calls] == [5, 2, 5, 5, 5, 5]
    succeeded = [e for n, call in enumerate(sqs.calls) for e in call["Entries"] if not (n == 0 and e["Id"] in {"1", "3"})]
    per_group: dict[str, list[int]] = {}
    for entry in succeeded:
        per_group.setdefault(entry["MessageGroupId"], []).append(int(json.loads(entry["MessageBody"])["seq"]))
    assert all(seqs == sorted(seqs) and len(seqs) == 5 for seqs in per_group.values())


def test_an_entry_refused_as_the_senders_fault_is_not_sent_again():
    records = [stream_record("INSERT", make_keys("hash_N", i)) for i in range(4)]
    sqs = FakeSqs({"2"}, sender_fault=True)

    result = forwarder.forward(stream_event(*records), sqs, SETTINGS, sleep=lambda s: pytest.fail("no retry"))

    assert result == {"batchItemFailures": [{"itemIdentifier": records[2]["dynamodb"]["SequenceNumber"]}]}
    assert len(sqs.calls) == 1


def test_two_changes_of_one_item_never_travel_in_one_call():
    # GIVEN 20 records over 4 items, each item changed 5 times, interleaved
    records = [stream_record("MODIFY", make_keys("hash_N", i % 4), seq=str(1000 + i)) for i in range(20)]
    sqs = FakeSqs()

    # WHEN
    assert forwarder.forward(stream_event(*records), sqs, SETTINGS) == {"batchItemFailures": []}

    # THEN no call holds two messages of one group, and all go out in stream order
    for call in sqs.calls:
        groups = [e["MessageGroupId"] for e in call["Entries"]]
        assert len(groups) == len(set(groups))
    assert [b["seq"] for b in bodies(sqs)] == [str(1000 + i) for i in range(20)]
    assert [len(call["Entries"]) for call in sqs.calls] == [4] * 5


def _forward_until_done(records: list[dict], queue: FakeFifoQueue) -> None:
    """Forward ``records`` as Lambda does: retry from the reported record until none fails."""
    pending = list(records)
    for _ in range(len(records) + 1):
        result = forwarder.forward(stream_event(*pending), queue, NO_RETRY)
        if not result["batchItemFailures"]:
            return
        failed = result["batchItemFailures"][0]["itemIdentifier"]
        pending = pending[[r["dynamodb"]["SequenceNumber"] for r in pending].index(failed):]
    raise AssertionError("the forwarder never finished")


@pytest.mark.parametrize("failing", ["100", "102", "104"])
def test_partly_failed_send_never_queues_a_newer_change_before_an_older_one(failing):
    # GIVEN item A changed at 100, 102, 104 and item B at 101, 103, interleaved in one stream batch;
    # SQS fails one entry of A the first time, queueing the other entries of that call
    records = [stream_record("MODIFY", make_keys("hash_S", 1 if n % 2 == 0 else 2), seq=str(n)) for n in range(100, 105)]
    queue = FakeFifoQueue(fail_once={failing})

    # WHEN Lambda retries the stream batch from the record the forwarder reports
    _forward_until_done(records, queue)

    # THEN each item's group holds its changes once each, in stream order
    group_a, group_b = (DIGEST(make_keys("hash_S", i)) for i in (1, 2))
    assert queue.groups[group_a] == ["100", "102", "104"]
    assert queue.groups[group_b] == ["101", "103"]


def test_failure_in_a_later_call_reports_that_calls_record():
    records = [stream_record("INSERT", make_keys("hash_N", i)) for i in range(25)]
    sqs = FakeSqs(None, {"4"})

    result = forwarder.forward(stream_event(*records), sqs, NO_RETRY)

    assert result == {"batchItemFailures": [{"itemIdentifier": records[14]["dynamodb"]["SequenceNumber"]}]}
    assert len(sqs.calls) == 2


def test_a_call_that_raises_reports_its_first_record():
    records = [stream_record("INSERT", make_keys("hash_N", i)) for i in range(12)]
    sqs = FakeSqs(None, client_error("AWS.SimpleQueueService.NonExistentQueue", "SendMessageBatch"))

    result = forwarder.forward(stream_event(*records), sqs, SETTINGS)

    assert result == {"batchItemFailures": [{"itemIdentifier": records[10]["dynamodb"]["SequenceNumber"]}]}


def test_unreadable_record_is_reported_after_the_records_before_it_are_sent():
    records = [stream_record("INSERT", make_keys("hash_N", i)) for i in range(4)]
    records[2]["dynamodb"]["Keys"] = {"pk": {"BOOL": True}}

    sqs = FakeSqs()
    result = forwarder.forward(stream_event(*records), sqs, SETTINGS)

    assert result == {"batchItemFailures": [{"itemIdentifier": records[2]["dynamodb"]["SequenceNumber"]}]}
    assert [b["seq"] for b in bodies(sqs)] == [r["dynamodb"]["SequenceNumber"] for r in records[:2]]


def test_empty_event_sends_nothing():
    sqs = FakeSqs()
    assert forwarder.forward({"Records": []}, sqs, SETTINGS) == {"batchItemFailures": []}
    assert sqs.calls == []


def test_settings_from_env():
    assert forwarder.ForwarderSettings.from_env({"QUEUE_URL": "q"}, digest=DIGEST) == forwarder.ForwarderSettings(
        "q", 262_144, digest=DIGEST)
    assert forwarder.ForwarderSettings.from_env(
        {"QUEUE_URL": "q", "MAX_MESSAGE_BYTES": "1048576"}, digest=DIGEST).max_message_bytes == 1_048_576


@pytest.fixture
def handler_env(monkeypatch):
    """The forwarder's environment as the stack sets it, with fake SQS and Secrets Manager clients."""
    clients = {"sqs": FakeSqs(), "secretsmanager": FakeSecretsManager()}
    monkeypatch.setattr(runtime, "client", lambda service: clients[service])
    monkeypatch.setenv("QUEUE_URL", QUEUE_URL)
    monkeypatch.setenv("MAX_MESSAGE_BYTES", "262144")
    monkeypatch.setenv("KEY_DIGEST_SECRET_ARN", SECRET_ARN)
    runtime.reset_key_digest()
    yield clients
    runtime.reset_key_digest()


def test_handler_is_a_thin_wrapper_over_forward(handler_env):
    result = forwarder.handler(load_event("dynamoStreamEvent.json"), None)

    assert result == {"batchItemFailures": []}
    assert len(handler_env["sqs"].entries) == 3
    assert {e["MessageGroupId"] for e in handler_env["sqs"].entries} == {DIGEST({"Id": {"N": "101"}})}


def test_handler_reads_the_secret_once_per_cold_start(handler_env):
    forwarder.handler(load_event("dynamoStreamEvent.json"), None)
    forwarder.handler(load_event("dynamoStreamEvent.json"), None)

    assert handler_env["secretsmanager"].calls == [SECRET_ARN]


@pytest.mark.parametrize("code", ["AccessDeniedException", "ResourceNotFoundException", "DecryptionFailure"])
def test_handler_fails_and_sends_nothing_when_the_secret_cannot_be_read(handler_env, caplog, code):
    """No fallback to an unkeyed digest: a denied or missing secret fails the invocation (Lambda
    retries the stream batch, then bisects it to the on-failure destination), and nothing reaches
    the queue."""
    handler_env["secretsmanager"].error = client_error(code, "GetSecretValue")

    with pytest.raises(runtime.KeySecretError, match=code) as err:
        forwarder.handler(load_event("dynamoStreamEvent.json"), None)

    assert handler_env["sqs"].calls == []
    assert "secretsmanager:GetSecretValue" in str(err.value)
    assert any('"event":"key_secret_unavailable"' in r.getMessage() and code in r.getMessage() for r in caplog.records)
    # the next invocation tries again (a failed read is not cached)
    handler_env["secretsmanager"].error = None
    assert forwarder.handler(load_event("dynamoStreamEvent.json"), None) == {"batchItemFailures": []}


def test_handler_fails_without_the_secret_arn_in_its_environment(handler_env, monkeypatch):
    monkeypatch.delenv("KEY_DIGEST_SECRET_ARN")

    with pytest.raises(runtime.KeySecretError, match="KEY_DIGEST_SECRET_ARN"):
        forwarder.handler(load_event("dynamoStreamEvent.json"), None)

    assert handler_env["sqs"].calls == [] and handler_env["secretsmanager"].calls == []


def test_handler_refuses_a_secret_too_short_to_key_the_digest(handler_env):
    handler_env["secretsmanager"].secrets[SECRET_ARN] = "CANARY-short"

    with pytest.raises(runtime.KeySecretError) as err:
        forwarder.handler(load_event("dynamoStreamEvent.json"), None)

    assert handler_env["sqs"].calls == [] and "CANARY" not in str(err.value)


def test_no_item_value_reaches_any_log_line(caplog):
    """Canary values in keys and every attribute type, through success, key-only, failed entries,
    a failed call and an unreadable record, at DEBUG level: none appears in a log line."""
    caplog.set_level(logging.DEBUG, logger="runbook_lib.cdc")

    def records(n, start=0):
        out = []
        for i in range(start, start + n):
            keys = make_keys("hash_B_range_S" if i % 2 else "hash_S_range_N", i, canary=True)
            image = big_item(keys, 300_000) if i % 5 == 0 else every_type_item(keys)
            out.append(stream_record("MODIFY", keys, image, old_image=every_type_item(keys)))
        return out

    assert forwarder.forward(stream_event(*records(12)), FakeSqs(), SETTINGS) == {"batchItemFailures": []}
    assert forwarder.forward(stream_event(*records(3)), FakeSqs({"1"}), SETTINGS, sleep=lambda s: None) == {"batchItemFailures": []}
    assert forwarder.forward(stream_event(*records(3)), FakeSqs({"1"}), NO_RETRY)["batchItemFailures"]
    failing = FakeSqs(client_error("KMS.ThrottlingException", "SendMessageBatch"))
    assert forwarder.forward(stream_event(*records(3)), failing, SETTINGS)["batchItemFailures"]
    unreadable = records(2)
    unreadable[1]["dynamodb"]["Keys"]["pk"] = {"N": CANARY_S}
    assert forwarder.forward(stream_event(*unreadable), FakeSqs(), SETTINGS)["batchItemFailures"]

    lines = assert_no_item_data(caplog)
    assert {"forwarded", "record", "entries_retried", "entry_failed", "send_failed", "record_unreadable"} <= {l["event"] for l in lines}

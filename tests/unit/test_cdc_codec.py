"""The record codec: key digest, message body, sequence numbers."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import pickle
import re

import pytest

from cdc_factories import (
    CANARY_B,
    CANARY_B64,
    DIGEST,
    KEY_SCHEMAS,
    TEST_SECRET,
    b64,
    every_type_item,
    load_event,
    make_keys,
    stream_record,
)
from runbook_lib.cdc import codec


# -- key digest ---------------------------------------------------------------------------------
def test_key_digest_is_hmac_sha256_of_the_canonical_key_under_the_secret():
    """The digest is HMAC-SHA256 (RFC 2104) keyed with the stack's secret, not a bare hash of the
    key: the SQS MessageGroupId takes up to 128 alphanumeric and punctuation characters (SendMessage,
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html)."""
    keys = {"pk": {"S": "a"}}
    digest = DIGEST(keys)
    expected = hmac.new(TEST_SECRET.encode(), b'{"pk":{"S":"a"}}', hashlib.sha256).hexdigest()
    assert digest == expected == codec.key_digest(keys, TEST_SECRET)
    assert len(digest) == 64 <= 128 and re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest != hashlib.sha256(codec.canonical_key(keys).encode()).hexdigest()


def test_key_digest_differs_with_another_secret():
    other = codec.KeyDigest("another-secret-" + "x" * 40)
    for i in range(20):
        keys = make_keys("hash_S", i)
        assert other(keys) != DIGEST(keys)


def test_key_digest_refuses_a_short_or_missing_secret():
    for secret in ("", "short", b"x" * 31, None, 12345):
        with pytest.raises(codec.CodecError):
            codec.KeyDigest(secret)
    assert codec.KeyDigest(b"x" * 32)({"pk": {"S": "a"}})


def test_key_digest_never_shows_its_secret():
    assert TEST_SECRET not in repr(DIGEST) and TEST_SECRET not in str(DIGEST)
    with pytest.raises(TypeError):
        pickle.dumps(DIGEST)
    with pytest.raises(codec.CodecError) as err:
        codec.KeyDigest("CANARY-short")
    assert "CANARY" not in str(err.value)


def test_key_digest_matches_compares_a_digest_with_a_key():
    keys = make_keys("hash_N", 7)
    assert DIGEST.matches(keys, DIGEST(keys))
    assert not DIGEST.matches(keys, DIGEST(make_keys("hash_N", 8)))
    assert not DIGEST.matches(keys, hashlib.sha256(codec.canonical_key(keys).encode()).hexdigest())
    assert not DIGEST.matches(keys, None) and not DIGEST.matches(keys, "\u00e9")


def test_label_keeps_digests_and_keyed_hashes_anything_else():
    digest = DIGEST({"pk": {"S": "a"}})
    assert DIGEST.label(digest) == digest
    label = DIGEST.label("CANARY-raw-key-as-group")
    assert label.startswith("other:") and "CANARY" not in label
    assert label != codec.KeyDigest("y" * 40).label("CANARY-raw-key-as-group")


def test_key_digest_does_not_depend_on_attribute_order():
    a = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    b = {"sk": {"N": "1"}, "pk": {"S": "a"}}
    assert list(a) != list(b)
    assert codec.key_digest(a, DIGEST) == codec.key_digest(b, DIGEST)


@pytest.mark.parametrize("spelling", ["1", "1.0", "1.00", "1e0", "01", "0.1E1"])
def test_key_digest_compares_numbers_by_value(spelling):
    assert DIGEST({"pk": {"N": spelling}}) == DIGEST({"pk": {"N": "1"}})


def test_key_digest_keeps_38_digit_numbers_apart():
    a = "12345678901234567890123456789012345678"
    b = "12345678901234567890123456789012345679"
    assert DIGEST({"pk": {"N": a}}) != DIGEST({"pk": {"N": b}})


def test_key_digest_takes_binary_as_bytes_or_base64():
    assert DIGEST({"pk": {"B": CANARY_B}}) == DIGEST({"pk": {"B": CANARY_B64}})


def test_key_digest_tells_types_and_names_apart():
    digests = {
        DIGEST({"pk": {"S": "1"}}),
        DIGEST({"pk": {"N": "1"}}),
        DIGEST({"pk": {"B": b64(b"1")}}),
        DIGEST({"id": {"S": "1"}}),
        DIGEST({"pk": {"S": "1"}, "sk": {"S": "1"}}),
    }
    assert len(digests) == 5


@pytest.mark.parametrize("schema", sorted(KEY_SCHEMAS))
def test_key_digest_accepts_every_key_schema(schema):
    assert DIGEST(make_keys(schema, 1)) != DIGEST(make_keys(schema, 2))


@pytest.mark.parametrize(
    "keys",
    [{}, {"a": {"S": "x"}, "b": {"S": "y"}, "c": {"S": "z"}}, {"pk": {"BOOL": True}}, {"pk": {"S": 1}},
     {"pk": {"N": "abc"}}, {"pk": {"B": "***"}}, {"pk": {"S": "a", "N": "1"}}, None],
)
def test_key_digest_rejects_malformed_keys(keys):
    with pytest.raises(codec.CodecError):
        DIGEST(keys)


# -- sequence numbers ---------------------------------------------------------------------------
def test_padded_sequence_orders_numerically():
    assert codec.padded_sequence("9") < codec.padded_sequence("10")
    assert codec.padded_sequence("4421584500000000017450439091") < codec.padded_sequence("4421584500000000017450439092")
    assert len(codec.padded_sequence("1")) == codec.SEQUENCE_WIDTH == 40
    assert codec.padded_sequence("9" * 40) == "9" * 40
    assert codec.padded_sequence("007") == codec.padded_sequence("7")


@pytest.mark.parametrize("bad", ["", "12a", "-1", "1.5", "1" * 41, 12, None])
def test_padded_sequence_rejects_what_is_not_up_to_40_digits(bad):
    with pytest.raises(codec.CodecError):
        codec.padded_sequence(bad)


# -- times ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [1714564800, 1714564800.0, "1714564800", "2024-05-01T12:00:00Z", "2024-05-01T12:00:00+00:00",
     "2024-05-01T12:00:00", "2024-05-01T14:00:00+02:00", dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone.utc)],
)
def test_epoch_seconds_reads_numbers_iso_and_datetimes(value):
    assert codec.epoch_seconds(value) == 1714564800


@pytest.mark.parametrize("bad", ["yesterday", True, None, float("nan"), [1]])
def test_epoch_seconds_rejects_other_values(bad):
    with pytest.raises(codec.CodecError):
        codec.epoch_seconds(bad)


# -- the record and its body ----------------------------------------------------------------------
def test_from_stream_record_keeps_what_replay_needs_and_no_more():
    record = load_event("dynamoStreamEvent.json")["Records"][1]  # MODIFY with old and new images
    change = codec.from_stream_record(record)
    body = json.loads(codec.encode(change))
    assert body == {
        "v": 1,
        "event": "MODIFY",
        "keys": {"Id": {"N": "101"}},
        "new": {"Message": {"S": "This item has changed"}, "Id": {"N": "101"}},
        "seq": "4421584500000000017450439092",
        "ts": 1428537600,
        "key_only": False,
    }


def test_remove_carries_keys_only_and_is_not_a_reread():
    record = load_event("dynamoStreamEvent.json")["Records"][2]
    change = codec.from_stream_record(record)
    body = json.loads(codec.encode(change))
    assert body["event"] == "REMOVE" and "new" not in body and body["key_only"] is False
    assert change.as_key_only() == change


@pytest.mark.parametrize("view_type", ["KEYS_ONLY", "OLD_IMAGE"])
@pytest.mark.parametrize("event_name", ["INSERT", "MODIFY"])
def test_record_without_new_image_is_key_only(view_type, event_name):
    record = stream_record(event_name, make_keys(), old_image=every_type_item(make_keys()), view_type=view_type)
    change = codec.from_stream_record(record)
    assert change.key_only and change.new_image is None
    assert "new" not in json.loads(codec.encode(change))


@pytest.mark.parametrize("schema", sorted(KEY_SCHEMAS))
def test_encode_decode_round_trips_every_type(schema):
    keys = make_keys(schema, 3, canary=True)
    change = codec.from_stream_record(stream_record("INSERT", keys, every_type_item(keys), created=1714564800.5))
    decoded = codec.decode(codec.encode(change))
    assert decoded == change
    assert decoded.created == 1714564800.5
    assert DIGEST(decoded.keys) == DIGEST(keys)


def test_key_only_round_trip():
    change = codec.from_stream_record(stream_record("MODIFY", make_keys())).as_key_only()
    decoded = codec.decode(codec.encode(change))
    assert decoded.key_only and decoded.new_image is None and decoded.event_name == "MODIFY"


def test_encode_escapes_characters_sqs_refuses():
    keys = {"pk": {"S": "a\ufffeb\uffff"}}
    change = codec.from_stream_record(stream_record("INSERT", keys, {**keys, "t": {"S": "\x00\x1f"}}))
    body = codec.encode(change)
    assert not any(ch in body for ch in "\ufffe\uffff\x00\x1f")
    assert codec.decode(body) == change


def test_message_size_counts_utf8_bytes_and_attributes():
    assert codec.message_size("é") == 2
    assert codec.message_size("ab", {"v": {"DataType": "String", "StringValue": "1"}}) == 2 + 1 + 6 + 1


def test_to_client_item_turns_nested_binary_into_bytes():
    keys = make_keys("hash_B", 1)
    item = codec.to_client_item(every_type_item(keys))
    assert isinstance(item["pk"]["B"], bytes)
    assert item["b"] == {"B": CANARY_B}
    assert item["bs"]["BS"][0] == CANARY_B
    assert item["m"]["M"]["deep"]["M"]["b"] == {"B": CANARY_B}
    assert item["l"]["L"][2] == {"B": CANARY_B}
    assert item["s"] == every_type_item(keys)["s"]


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[]",
        json.dumps({"v": 2, "event": "INSERT", "keys": {"pk": {"S": "a"}}, "new": {"pk": {"S": "a"}}, "seq": "1", "ts": 1}),
        json.dumps({"v": 1, "event": "UPSERT", "keys": {"pk": {"S": "a"}}, "seq": "1", "ts": 1}),
        json.dumps({"v": 1, "event": "INSERT", "keys": {}, "new": {"pk": {"S": "a"}}, "seq": "1", "ts": 1}),
        json.dumps({"v": 1, "event": "INSERT", "keys": {"pk": {"S": "a"}}, "seq": "1", "ts": 1}),
        json.dumps({"v": 1, "event": "INSERT", "keys": {"pk": {"S": "a"}}, "new": {"x": {"N": "z"}}, "seq": "1", "ts": 1}),
        json.dumps({"v": 1, "event": "INSERT", "keys": {"pk": {"S": "a"}}, "new": {"x": {"M": {"y": {"Q": 1}}}}, "seq": "1", "ts": 1}),
        json.dumps({"v": 1, "event": "INSERT", "keys": {"pk": {"S": "a"}}, "new": {"x": {"SS": []}}, "seq": "1", "ts": 1}),
        json.dumps({"v": 1, "event": "INSERT", "keys": {"pk": {"S": "a"}}, "new": {"x": {"B": "%%"}}, "seq": "1", "ts": 1}),
        json.dumps({"v": 1, "event": "INSERT", "keys": {"pk": {"S": "a"}}, "new": {"x": {"NULL": False}}, "seq": "1", "ts": 1}),
        json.dumps({"v": 1, "event": "INSERT", "keys": {"pk": {"S": "a"}}, "new": {"x": {"S": "b"}}, "seq": "x", "ts": 1}),
        json.dumps({"v": 1, "event": "INSERT", "keys": {"pk": {"S": "a"}}, "new": {"x": {"S": "b"}}, "seq": "1", "ts": "1"}),
        json.dumps({"v": 1, "event": "REMOVE", "keys": {"pk": {"S": "a"}}, "new": {"x": {"S": "b"}}, "seq": "1", "ts": 1}),
        json.dumps({"v": 1, "event": "MODIFY", "keys": {"pk": {"S": "a"}}, "new": {"x": {"S": "b"}}, "seq": "1", "ts": 1, "key_only": True}),
        json.dumps({"v": 1, "event": "MODIFY", "keys": {"pk": {"S": "a"}}, "seq": "1", "ts": 1, "key_only": "yes"}),
        None,
    ],
)
def test_decode_rejects_malformed_bodies(body):
    with pytest.raises(codec.CodecError):
        codec.decode(body)


def test_errors_never_quote_a_value():
    secret = "CANARY-secret-number"
    for bad in ({"pk": {"N": secret}}, {"pk": {"B": secret + "%"}}, {"pk": {"S": 7}}):
        with pytest.raises(codec.CodecError) as err:
            DIGEST(bad)
        assert "CANARY" not in str(err.value)
    with pytest.raises(codec.CodecError) as err:
        codec.decode(json.dumps({"v": 1, "event": "INSERT", "keys": {"pk": {"S": secret}},
                                 "new": {"x": {"N": secret}}, "seq": "1", "ts": 1}))
    assert "CANARY" not in str(err.value)


# -- the deployed zip ---------------------------------------------------------------------------
def test_cdc_package_imports_only_stdlib_boto3_and_itself(tmp_path):
    """The Lambda zip holds runbook_lib/__init__.py and runbook_lib/cdc/** only."""
    import ast
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import runbook_lib

    package = Path(runbook_lib.__file__).parent
    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore", "__future__"}
    for source in (package / "cdc").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed or name.startswith("runbook_lib.cdc"), (source.name, name)

    # And the handlers import from a copy that holds nothing else of the package.
    (tmp_path / "runbook_lib").mkdir()
    shutil.copy(package / "__init__.py", tmp_path / "runbook_lib" / "__init__.py")
    shutil.copytree(package / "cdc", tmp_path / "runbook_lib" / "cdc", ignore=shutil.ignore_patterns("__pycache__"))
    probe = (
        "import runbook_lib.cdc.forwarder as f, runbook_lib.cdc.applier as a, sys;"
        "assert callable(f.handler) and callable(a.handler);"
        "assert not [m for m in sys.modules if m.startswith('runbook_lib.') and not m.startswith('runbook_lib.cdc')]"
    )
    subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, check=True, env={"PATH": "", "AWS_REGION": "us-east-1"})


def test_same_digest_compares_a_computed_digest_with_a_group_id():
    keys = make_keys("hash_S", 7)
    ours = DIGEST(keys)
    assert codec.same_digest(ours, ours) and codec.same_digest(ours, str(ours))
    assert not codec.same_digest(ours, DIGEST(make_keys("hash_N", 8)))
    assert not codec.same_digest(ours, ours.upper())
    assert not codec.same_digest(ours, None) and not codec.same_digest(ours, "\u00e9")

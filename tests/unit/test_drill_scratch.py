"""The drill's scratch table name, tags and encryption, durations, and the live-source classification."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from runbook_lib import times
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.aws.tables import TABLE_NAME_RE
from runbook_lib.drills import scratch
from runbook_lib.errors import InputError
from runbook_lib.reconcile.classify import classify
from runbook_lib.reconcile.reread import _Open
from runbook_lib.reconcile.result import EXPLAINED, IN_FLIGHT
from runbook_lib.reconcile.values import key_id

NOW = datetime(2026, 12, 1, 0, 15, 0, 400000, tzinfo=timezone.utc)


def test_scratch_name_is_source_drill_and_the_utc_stamp_to_the_second():
    name = scratch.scratch_name("orders", NOW)
    assert name.name == "orders-drill-20261201T001500Z" and not name.truncated and name.note is None
    assert scratch.parse_scratch_name(name.name) == ("orders", NOW.replace(microsecond=0))


def test_a_long_source_name_is_cut_so_the_scratch_name_keeps_to_255_characters_and_says_so():
    source = "a" * 255
    name = scratch.scratch_name(source, NOW)
    assert len(name.name) == 255 and TABLE_NAME_RE.fullmatch(name.name) and name.truncated
    assert name.name.startswith("a" * 232 + "-drill-") and "cut to 232" in name.note
    assert scratch.parse_scratch_name(name.name)[0] == "a" * 232


@pytest.mark.parametrize("name", ["orders", "orders-drill-", "orders-drill-20261201T0015Z", "orders-drill-20261201T001500Z-x",
                                  "x-drill-20261399T001500Z"])
def test_names_that_are_not_a_drill_s_are_not_parsed_as_one(name):
    assert scratch.parse_scratch_name(name) is None


def test_drill_tags_keep_to_dynamodb_s_tagging_restrictions():
    """"Tagging restrictions in DynamoDB" (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TaggingRestrictions.html):
    letters, numbers, white space and + - = . _ : /; keys up to 128, values up to 256; no aws: prefix."""
    tags = scratch.drill_tags("o" * 300, NOW)
    allowed = re.compile(r"[\w\s+\-=._:/]*")
    for tag in tags:
        assert allowed.fullmatch(tag["Key"]) and allowed.fullmatch(tag["Value"])
        assert len(tag["Key"]) <= 128 and len(tag["Value"]) <= 256 and not tag["Key"].startswith("aws:")
    values = {t["Key"]: t["Value"] for t in tags}
    assert values[scratch.TAG_EXPIRES] == "2026-12-01T00:15:00Z" and scratch.expires_at(values) == NOW.replace(microsecond=0)


def test_only_a_table_with_the_drill_name_and_the_drill_tag_is_a_drill_table():
    assert scratch.is_drill_table("orders-drill-20261201T001500Z", {scratch.TAG_DRILL: "true"})
    assert not scratch.is_drill_table("orders-drill-20261201T001500Z", {})
    assert not scratch.is_drill_table("orders-drill-20261201T001500Z", {scratch.TAG_DRILL: "false"})
    assert not scratch.is_drill_table("orders-copy", {scratch.TAG_DRILL: "true"})


@pytest.mark.parametrize("description, expected", [
    ({}, {"Enabled": False}),
    ({"SSEDescription": {"Status": "DISABLED"}}, {"Enabled": False}),
    ({"SSEDescription": {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": "arn:aws:kms:us-east-1:1:key/k"}},
     {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "arn:aws:kms:us-east-1:1:key/k"}),
])
def test_the_restore_is_encrypted_as_the_source_is(monkeypatch, description, expected):
    """SSESpecification (DynamoDB API Reference): Enabled false is the AWS owned key; KMS with a key id a
    customer managed key (here kms:DescribeKey is refused, so the key's ARN is sent)."""
    from botocore.exceptions import ClientError

    class Kms:
        def describe_key(self, **_):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeKey")

    monkeypatch.setattr(AwsTarget, "client", lambda self, service, **kw: Kms())
    notes: list[str] = []
    assert scratch.sse_override(AwsTarget("us-east-1"), description, notes) == expected


def test_the_aws_managed_key_is_sent_without_a_key_id(monkeypatch):
    monkeypatch.setattr(AwsTarget, "client", lambda self, service, **kw: type("K", (), {
        "describe_key": lambda self, **_: {"KeyMetadata": {"KeyManager": "AWS"}}})())
    desc = {"SSEDescription": {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": "arn:aws:kms:us-east-1:1:key/a"}}
    assert scratch.sse_override(AwsTarget("us-east-1"), desc, []) == {"Enabled": True, "SSEType": "KMS"}


@pytest.mark.parametrize("text, seconds", [("0", 0.0), ("90", 90.0), ("30s", 30.0), ("15m", 900.0), ("1h", 3600.0),
                                           ("7d", 604800.0), (2.5, 2.5)])
def test_durations_are_seconds_or_a_number_with_a_unit(text, seconds):
    assert times.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["-1", "soon", "1h ago", ""])
def test_a_bad_duration_is_refused(text):
    with pytest.raises(InputError):
        times.parse_duration(text)


def _classified(entry: _Open, live: bool):
    key = {"pk": {"S": "k1"}}
    t = datetime(2026, 12, 1, 0, 0, 0, tzinfo=timezone.utc)
    return classify({key_id(key): entry}, changes={key_id(key): datetime(2026, 12, 1, 0, 0, 5, tzinfo=timezone.utc)},
                    restore_time=t, replay_from=datetime(2026, 12, 1, 0, 1, tzinfo=timezone.utc), key_names=("pk",),
                    key_digest=None, redact_keys=False, show_values=False, live_source=live).differences[0].classification


def test_a_live_source_s_key_still_changing_on_the_source_only_is_explained_by_its_write_since_t():
    moving_source = _Open(b"s", b"t", moving=True, target_moving=False)
    assert _classified(moving_source, live=True) == EXPLAINED
    assert _classified(moving_source, live=False) == IN_FLIGHT  # the runbook's own reconcile: unchanged


def test_a_scratch_table_that_changes_is_never_explained():
    assert _classified(_Open(b"s", b"t", moving=True, target_moving=True), live=True) == IN_FLIGHT


def test_a_live_source_s_stream_is_read_again_when_a_difference_is_not_explained_yet(monkeypatch):
    """DynamoDB Streams records appear in near-real time, not at once: a write made just before the drill's
    re-read may be missing from a first read of the stream."""
    from runbook_lib.reconcile import pipeline
    from runbook_lib.reconcile.stream import LastChanges

    key = key_id({"pk": {"S": "k1"}})
    t = datetime(2026, 12, 1, 0, 0, 0, tzinfo=timezone.utc)
    reads = [LastChanges(), LastChanges({key: datetime(2026, 12, 1, 0, 0, 3, tzinfo=timezone.utc)})]
    monkeypatch.setattr(pipeline, "last_change_by_key", lambda *a, **k: reads.pop(0))
    monkeypatch.setattr(pipeline.time, "sleep", lambda s: None)
    options = pipeline._prepare("orders", "orders-drill-x", restore_time=t, replay_from=None, last_changes=None,
                                segments=1, rate_limit=None, reread_rounds=1, show_values=False, redact_keys=False,
                                key_digest=None, key_digest_secret_arn=None, sample_size=1, progress=None,
                                method="scan", exports=None, live_source=True)
    changes, _, _, options = pipeline._explaining_changes(AwsTarget("us-east-1", "http://127.0.0.1:1"), options,
                                                          {key: _Open(b"s", b"t")}, ("pk",))
    assert reads == [] and changes[key] == datetime(2026, 12, 1, 0, 0, 3, tzinfo=timezone.utc)
    assert options.replay_from > t

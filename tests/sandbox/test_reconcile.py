"""Reconciliation over HTTP against the sandbox, with hand-built table pairs."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta, timezone

import pytest

from runbook_lib.cdc import codec
from runbook_lib.cdc.codec import KeyDigest
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.errors import InputError, PreconditionError
from runbook_lib.reconcile import (
    CHANGED,
    EXPLAINED,
    EXTRA,
    FAIL,
    IN_FLIGHT,
    MISSING,
    PASS,
    UNEXPLAINED,
    RateLimit,
    count_items,
    key_id,
    last_change_by_key,
    load_key_digest,
    reconcile,
)
from runbook_lib.report import write_reports

REGION = "us-east-1"
SRC, TGT = "orders", "orders-restored"
CANARY = "CANARY-7f3a-secret-value"


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(REGION, endpoint)


@pytest.fixture
def ddb(aws):
    return aws("dynamodb")


def make_table(ddb, name, *, range_key=None, hash_type="S", range_type="S", stream=False):
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": hash_type}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
        attrs.append({"AttributeName": range_key, "AttributeType": range_type})
    kwargs = {}
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    ddb.create_table(
        TableName=name, KeySchema=schema, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST", **kwargs
    )


def put_all(ddb, table, items):
    items = list(items)
    for i in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": it}} for it in items[i : i + 25]]}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


def base_items(n=40):
    return [{"pk": {"S": f"order#{i:04d}"}, "total": {"N": str(i * 3)}, "state": {"S": "open"}} for i in range(n)]


def pair(ddb, source_items, target_items, **table_kwargs):
    make_table(ddb, SRC, **table_kwargs)
    make_table(ddb, TGT, **{k: v for k, v in table_kwargs.items() if k != "stream"})
    put_all(ddb, SRC, source_items)
    put_all(ddb, TGT, target_items)


# -- hand-built pairs ---------------------------------------------------------------------------


def test_identical_tables_pass_with_exact_counts(ddb, target):
    items = base_items()
    pair(ddb, items, items)
    result = reconcile(target, SRC, TGT)
    assert result.verdict == PASS
    assert (result.source_count, result.target_count) == (40, 40)
    assert result.differences == ()
    assert result.items_scanned == 80 and result.items_per_second > 0


def test_item_missing_in_target_is_reported(ddb, target):
    items = base_items()
    pair(ddb, items, items[:7] + items[8:])
    result = reconcile(target, SRC, TGT)
    assert result.verdict == FAIL
    (d,) = result.differences
    assert (d.kind, d.classification, d.key) == (MISSING, UNEXPLAINED, {"pk": {"S": "order#0007"}})
    assert d.attributes == ("pk", "state", "total")
    assert (result.source_count, result.target_count) == (40, 39)


def test_extra_item_in_target_is_reported(ddb, target):
    items = base_items()
    pair(ddb, items, items + [{"pk": {"S": "order#9999"}, "state": {"S": "open"}}])
    result = reconcile(target, SRC, TGT)
    (d,) = result.extra_in_target
    assert d.key == {"pk": {"S": "order#9999"}} and result.unexplained == 1


def test_changed_attribute_is_named(ddb, target):
    items = base_items()
    changed = [dict(it) for it in items]
    changed[3] = {**changed[3], "state": {"S": "shipped"}, "note": {"S": "added"}}
    pair(ddb, items, changed)
    result = reconcile(target, SRC, TGT)
    (d,) = result.changed
    assert d.kind == CHANGED
    assert d.attributes == ("note", "state")
    assert d.source_values is None and d.target_values is None


def test_number_1_equals_1_point_0(ddb, target):
    pair(ddb, [{"pk": {"S": "a"}, "n": {"N": "1"}, "f": {"N": "2.50"}}], [{"pk": {"S": "a"}, "n": {"N": "1.0"}, "f": {"N": "25E-1"}}])
    assert reconcile(target, SRC, TGT).verdict == PASS


def test_sets_in_another_order_are_equal(ddb, target):
    pair(
        ddb,
        [{"pk": {"S": "a"}, "ss": {"SS": ["x", "y", "z"]}, "ns": {"NS": ["1", "2", "3"]}}],
        [{"pk": {"S": "a"}, "ss": {"SS": ["z", "x", "y"]}, "ns": {"NS": ["3", "1.0", "2"]}}],
    )
    assert reconcile(target, SRC, TGT).verdict == PASS


def test_nested_maps_compare_by_key_and_name_the_top_attribute(ddb, target):
    source = {"pk": {"S": "a"}, "m": {"M": {"x": {"N": "1"}, "y": {"M": {"z": {"L": [{"S": "p"}, {"N": "2"}]}}}}}}
    same = {"pk": {"S": "a"}, "m": {"M": {"y": {"M": {"z": {"L": [{"S": "p"}, {"N": "2.0"}]}}}, "x": {"N": "1"}}}}
    other = {"pk": {"S": "b"}, "m": {"M": {"x": {"N": "1"}, "y": {"M": {"z": {"L": [{"S": "p"}]}}}}}}
    pair(ddb, [source, {**other, "m": source["m"]}], [same, other])
    result = reconcile(target, SRC, TGT)
    (d,) = result.differences
    assert d.key == {"pk": {"S": "b"}} and d.attributes == ("m",)


def test_binary_compares_by_bytes(ddb, target):
    pair(
        ddb,
        [{"pk": {"S": "a"}, "b": {"B": b"\x00\x01"}, "bs": {"BS": [b"\x02", b"\x03"]}}, {"pk": {"S": "c"}, "b": {"B": b"\x01"}}],
        [{"pk": {"S": "a"}, "b": {"B": b"\x00\x01"}, "bs": {"BS": [b"\x03", b"\x02"]}}, {"pk": {"S": "c"}, "b": {"B": b"\x02"}}],
    )
    result = reconcile(target, SRC, TGT)
    (d,) = result.differences
    assert d.key == {"pk": {"S": "c"}} and d.attributes == ("b",)


def test_binary_hash_key(ddb, target):
    pair(
        ddb,
        [{"pk": {"B": b"\x01\x02"}, "v": {"S": "x"}}, {"pk": {"B": b"\xff"}, "v": {"S": "y"}}],
        [{"pk": {"B": b"\x01\x02"}, "v": {"S": "x"}}],
        hash_type="B",
    )
    # moto 5.2.5 cannot segment a scan of a binary hash key (it calls .encode on bytes): one segment
    result = reconcile(target, SRC, TGT, segments=1)
    (d,) = result.differences
    assert d.kind == MISSING and d.key == {"pk": {"B": "/w=="}}


def test_hash_and_range_keys(ddb, target):
    items = [
        {"pk": {"S": f"c{c}"}, "sk": {"N": str(n)}, "v": {"S": "x"}} for c in range(5) for n in range(4)
    ]
    target_items = [it for it in items if not (it["pk"]["S"] == "c2" and it["sk"]["N"] == "3")]
    target_items.append({"pk": {"S": "c2"}, "sk": {"N": "7"}, "v": {"S": "x"}})
    pair(ddb, items, target_items, range_key="sk", range_type="N")
    result = reconcile(target, SRC, TGT, segments=3)
    assert {(d.kind, key_id(d.key)) for d in result.differences} == {
        (MISSING, '[["pk","S","c2"],["sk","N","3"]]'),
        (EXTRA, '[["pk","S","c2"],["sk","N","7"]]'),
    }


def test_counts_are_exact_with_several_segments(ddb, target):
    items = base_items(257)
    pair(ddb, items, items[:250])
    result = reconcile(target, SRC, TGT, segments=7)
    assert (result.source_count, result.target_count) == (257, 250)
    assert len(result.missing_in_target) == 7
    assert count_items(target, SRC, segments=5) == 257
    assert count_items(target, TGT, segments=1) == 250


# -- classification with T and R ------------------------------------------------------------


def _now():
    return datetime.now(timezone.utc)


def test_change_in_t_r_is_explained_and_after_r_is_not(ddb, target):
    # GIVEN a source with a stream and a target that is the source as of T
    items = base_items(10)
    pair(ddb, items, items, stream=True)
    time.sleep(1.1)
    t_point = _now()
    time.sleep(1.1)
    # WHEN one key changes in [T, R) and another after R, on the source only
    ddb.put_item(TableName=SRC, Item={**items[1], "state": {"S": "cancelled"}})
    time.sleep(1.1)
    r_point = _now()
    ddb.put_item(TableName=SRC, Item={**items[2], "state": {"S": "late"}})
    result = reconcile(target, SRC, TGT, restore_time=t_point, replay_from=r_point)
    # THEN the first is explained, the second is not
    by_key = {d.key["pk"]["S"]: d for d in result.differences}
    assert by_key["order#0001"].classification == EXPLAINED
    assert t_point - timedelta(seconds=1) <= by_key["order#0001"].last_change < r_point
    assert by_key["order#0002"].classification == UNEXPLAINED
    assert by_key["order#0002"].last_change >= r_point
    assert (result.explained, result.unexplained, result.verdict) == (1, 1, FAIL)
    assert result.coverage_warning is None


def test_only_explained_differences_pass(ddb, target):
    items = base_items(10)
    pair(ddb, items, items, stream=True)
    t_point = _now()
    time.sleep(1.1)
    ddb.delete_item(TableName=SRC, Key={"pk": items[4]["pk"]})  # deleted during the incident
    r_point = _now() + timedelta(seconds=1)
    result = reconcile(target, SRC, TGT, restore_time=t_point.isoformat(), replay_from=r_point.isoformat())
    (d,) = result.differences
    assert (d.kind, d.classification) == (EXTRA, EXPLAINED)
    assert result.verdict == PASS


def test_explicit_last_changes_need_no_stream(ddb, target):
    items = base_items(5)
    pair(ddb, items, items[1:])
    t_point, r_point = _now() - timedelta(hours=2), _now() - timedelta(hours=1)
    changes = {key_id(items[0], ("pk",)): t_point + timedelta(minutes=5)}
    result = reconcile(target, SRC, TGT, restore_time=t_point, replay_from=r_point, last_changes=changes)
    assert result.differences[0].classification == EXPLAINED
    assert result.verdict == PASS


def test_stream_not_covering_t_is_said(ddb, target):
    items = base_items(5)
    pair(ddb, items, items[1:], stream=True)
    t_point = _now() - timedelta(hours=1)  # before the stream existed
    result = reconcile(target, SRC, TGT, restore_time=t_point, replay_from=_now() + timedelta(seconds=5))
    assert result.coverage_warning and "after the restore point" in result.coverage_warning
    # the insert the stream saw is after T, so still explained; the warning is about what it cannot see
    assert result.explained == 1


def test_source_without_stream_warns_and_cannot_explain(ddb, target):
    items = base_items(5)
    pair(ddb, items, items[1:])
    result = reconcile(target, SRC, TGT, restore_time=_now() - timedelta(minutes=5), replay_from=_now())
    assert "no stream" in result.coverage_warning
    assert (result.unexplained, result.verdict) == (1, FAIL)


def test_last_change_by_key_reads_the_whole_stream(ddb, target):
    make_table(ddb, SRC, stream=True)
    put_all(ddb, SRC, base_items(30))
    ddb.put_item(TableName=SRC, Item={**base_items(1)[0], "state": {"S": "x"}})
    changes = last_change_by_key(target, SRC)
    assert len(changes) == 30 and changes.records == 31
    first, second = (key_id(it, ("pk",)) for it in base_items(2))
    assert changes.oldest <= changes[second] <= changes[first] == changes.newest
    only = last_change_by_key(target, SRC, keys=[second])
    assert list(only) == [second]


# -- a live source ---------------------------------------------------------------------------


def test_difference_that_settles_once_the_buffer_drains_is_dropped(ddb, target):
    # GIVEN a target one write behind the source (the buffer still holds it)
    items = base_items(10)
    pair(ddb, items, items[:9])
    calls = []

    def wait_drained():  # the "buffer" drains: the last write reaches the target
        calls.append(1)
        ddb.put_item(TableName=TGT, Item=items[9])

    # WHEN reconciling with a drained check
    result = reconcile(target, SRC, TGT, wait_drained=wait_drained)
    # THEN the difference seen by the scan settles on the consistent re-read
    assert result.verdict == PASS and result.differences == ()
    assert result.settled == 1 and calls == [1]


def test_item_still_changing_is_in_flight_and_fails(ddb, target):
    items = base_items(10)
    pair(ddb, items, items)
    ddb.put_item(TableName=SRC, Item={**items[0], "total": {"N": "-1"}})
    counter = iter(range(100, 200))

    def writers_still_running():
        ddb.put_item(TableName=SRC, Item={**items[0], "total": {"N": str(next(counter))}})

    result = reconcile(target, SRC, TGT, wait_drained=writers_still_running, reread_rounds=3)
    (d,) = result.differences
    assert d.classification == IN_FLIGHT and d.attributes == ("total",)
    assert (result.in_flight, result.unexplained, result.verdict) == (1, 0, FAIL)
    assert result.reread_rounds == 3


def test_stable_difference_stops_rereading_after_one_round(ddb, target):
    items = base_items(10)
    pair(ddb, items, items[:9])
    calls = []
    result = reconcile(target, SRC, TGT, wait_drained=lambda: calls.append(1), reread_rounds=5)
    assert result.reread_rounds == 1 and calls == [1] and result.unexplained == 1


# -- protecting the live table ---------------------------------------------------------------


def test_item_rate_limit_slows_the_scan(ddb, target):
    items = base_items(300)
    pair(ddb, items, items)
    limit = 300.0  # items per second, per table
    start = time.monotonic()
    result = reconcile(target, SRC, TGT, segments=2, rate_limit=RateLimit(items_per_second=limit))
    elapsed = time.monotonic() - start
    assert result.verdict == PASS
    # 300 items per table at 300/s: about a second, less the first pages' allowance
    assert elapsed >= 0.7 * 300 / limit


def test_capacity_rate_limit_uses_consumed_capacity(ddb, target):
    items = base_items(12)
    pair(ddb, items, items)
    start = time.monotonic()
    result = reconcile(target, SRC, TGT, segments=1, rate_limit=RateLimit(capacity_units_per_second=4))
    elapsed = time.monotonic() - start
    # the sandbox charges 1 unit per Scan call whatever its size; small pages keep within the budget
    units = result.consumed_capacity[SRC]
    assert units >= 4
    assert elapsed >= 0.7 * (units - 1) / 4


def test_progress_callback_sees_every_item(ddb, target):
    items = base_items(50)
    pair(ddb, items, items)
    seen = {}
    reconcile(target, SRC, TGT, progress=lambda side, n, total: seen.__setitem__(side, n))
    assert seen == {"source": 50, "target": 50}
    assert reconcile(target, SRC, TGT, progress="tqdm").verdict == PASS  # bars on stderr


# -- redaction -------------------------------------------------------------------------------


def test_values_never_in_logs_or_reports_unless_asked(ddb, target, caplog, tmp_path):
    caplog.set_level(logging.DEBUG, logger="runbook_lib")
    items = base_items(10)
    changed = [dict(it) for it in items]
    changed[2] = {**changed[2], "secret": {"S": CANARY}}
    pair(ddb, [{**items[0], "secret": {"S": CANARY}}] + items[1:], changed[:9])
    result = reconcile(target, SRC, TGT)
    paths = write_reports(tmp_path / "run", result, {})
    assert result.unexplained == 3
    assert CANARY not in caplog.text
    for path in (paths.summary, paths.differences, paths.html):
        assert CANARY not in path.read_text()
    assert CANARY not in repr(result)
    # asked for: the values of the differing attributes appear in the differences
    shown = reconcile(target, SRC, TGT, show_values=True)
    paths = write_reports(tmp_path / "shown", shown, {})
    d = next(d for d in shown.differences if d.key == {"pk": {"S": "order#0002"}})
    assert d.target_values == {"secret": {"S": CANARY}} and d.source_values == {}
    assert CANARY in paths.differences.read_text()
    assert CANARY not in caplog.text


# -- keys are data too: redacted as the handlers' keyed digest ----------------------------------
DIGEST = KeyDigest("reconcile-test-secret-" + "k" * 42)
KEY_CANARIES = ("CANARY-key-acct-1001", "CANARY-key-acct-1002", "CANARY-key-acct-1003", "7730001", "7730002")


def _canary_pair(ddb):
    """A hash+range pair whose keys are canaries: one missing, one extra, one changed, with S and
    N key attributes."""
    items = [{"pk": {"S": pk}, "sk": {"N": sk}, "note": {"S": "v1"}}
             for pk, sk in zip(KEY_CANARIES[:3], ("7730001", "7730002", "7730001"))]
    changed = dict(items[2], note={"S": "v2"})
    extra = {"pk": {"S": "CANARY-key-acct-1004"}, "sk": {"N": "7730002"}, "note": {"S": "v1"}}
    pair(ddb, items, [items[1], changed, extra], range_key="sk", range_type="N")
    return items, extra


def test_redacted_keys_appear_nowhere_and_rows_carry_the_handlers_digest(ddb, target, tmp_path, caplog):
    # GIVEN differing keys that are canaries
    caplog.set_level(logging.DEBUG, logger="runbook_lib")
    items, extra = _canary_pair(ddb)

    # WHEN reconciled with keys redacted (values asked for too)
    result = reconcile(target, SRC, TGT, redact_keys=True, key_digest=DIGEST, key_digest_secret_arn="arn:test:secret",
                       show_values=True)
    paths = write_reports(tmp_path / "run", result, {})

    # THEN each row's key is the keyed digest the forwarder would use as its MessageGroupId
    expected = {DIGEST({"pk": i["pk"], "sk": i["sk"]}) for i in (items[0], items[2], extra)}
    assert {d.key for d in result.differences} == expected == {d.key_hash for d in result.differences}
    stream_form = {"sk": {"N": "7730001.0"}, "pk": {"S": KEY_CANARIES[0]}}  # as a stream record may spell it
    assert codec.key_digest(stream_form, DIGEST) in expected
    # and no key value is in the CSV, the HTML, summary.json, the result or any log line
    for path in (paths.summary, paths.differences, paths.html):
        text = path.read_text()
        for canary in (*KEY_CANARIES, "CANARY-key-acct-1004", "CANARY"):
            assert canary not in text, (path.name, canary)
    for canary in (*KEY_CANARIES, "CANARY"):
        assert canary not in caplog.text and canary not in str(result.summary()) and canary not in repr(result)
    assert "CANARY" not in result.to_dataframe().to_csv()
    # and values shown leave the key attributes out; the secret's ARN (never its value) is named
    assert all(set(d.source_values or {}) <= {"note"} for d in result.differences)
    summary = json.loads(paths.summary.read_text())
    assert summary["keys_shown"] is False
    assert summary["key_digest"] == {"algorithm": "HMAC-SHA256", "secret_arn": "arn:test:secret"}


def test_redacted_digest_differs_with_another_secret(ddb, target):
    _canary_pair(ddb)
    one = reconcile(target, SRC, TGT, redact_keys=True, key_digest=DIGEST)
    other = reconcile(target, SRC, TGT, redact_keys=True, key_digest=KeyDigest("another-secret-" + "o" * 40))
    assert {d.key for d in one.differences}.isdisjoint({d.key for d in other.differences})
    assert len(one.differences) == len(other.differences) == 3


def test_unredacted_report_shows_the_key_and_its_digest_side_by_side(ddb, target):
    items, _ = _canary_pair(ddb)
    result = reconcile(target, SRC, TGT, key_digest=DIGEST)
    d = next(d for d in result.differences if d.key == {"pk": items[0]["pk"], "sk": items[0]["sk"]})
    assert d.key_hash == DIGEST(d.key)


def test_no_digest_without_a_secret_and_no_unkeyed_hash(ddb, target, caplog):
    """Without a key digest there is no hash of a key at all (a bare hash is reversible for small
    key spaces): the column is empty and no log line names a key."""
    caplog.set_level(logging.DEBUG, logger="runbook_lib")
    items, _ = _canary_pair(ddb)
    result = reconcile(target, SRC, TGT)
    assert {d.key_hash for d in result.differences} == {""}
    assert "key_digest" not in result.summary()
    assert "CANARY" not in caplog.text


def test_redact_keys_without_a_secret_is_refused_before_any_call(target, sandbox):
    """No table exists: had any call been made, the error would be about the table."""
    with pytest.raises(InputError, match="key digest secret") as err:
        reconcile(target, "no-such-source", "no-such-target", redact_keys=True)
    assert "KeyDigestSecretArn" in str(err.value)


def test_load_key_digest_reads_the_secret_and_names_the_remedy_when_it_cannot(aws, target):
    arn = aws("secretsmanager").create_secret(Name="orders-buffer-key-digest", SecretString="q" * 64)["ARN"]
    assert load_key_digest(target, arn)({"pk": {"S": "a"}}) == KeyDigest("q" * 64)({"pk": {"S": "a"}})
    aws("secretsmanager").delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    with pytest.raises(PreconditionError, match="secretsmanager:GetSecretValue") as err:
        load_key_digest(target, arn)
    assert err.value.code == "ResourceNotFoundException"
    short = aws("secretsmanager").create_secret(Name="short", SecretString="CANARY")["ARN"]
    with pytest.raises(PreconditionError) as err:
        load_key_digest(target, short)
    assert "CANARY" not in str(err.value)


# -- bad input -------------------------------------------------------------------------------


def test_unknown_table_is_an_input_error(ddb, target):
    make_table(ddb, SRC)
    with pytest.raises(InputError) as info:
        reconcile(target, SRC, "nope")
    assert info.value.table == "nope"


def test_different_key_schemas_are_an_input_error(ddb, target):
    make_table(ddb, SRC)
    make_table(ddb, TGT, range_key="sk")
    with pytest.raises(InputError, match="key schemas differ"):
        reconcile(target, SRC, TGT)


def test_bad_parameters_are_input_errors(ddb, target):
    with pytest.raises(InputError):
        reconcile(target, SRC, SRC)
    with pytest.raises(InputError):
        reconcile(target, SRC, TGT, segments=0)
    with pytest.raises(InputError):
        reconcile(target, SRC, TGT, reread_rounds=0)
    with pytest.raises(InputError):
        reconcile(target, SRC, TGT, restore_time="yesterday")

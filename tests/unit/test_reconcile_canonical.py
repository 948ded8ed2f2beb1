"""The canonical encoding behind reconciliation: pure functions, no AWS."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from runbook_lib.errors import InputError
from runbook_lib.reconcile import (
    CHANGED,
    EXPLAINED,
    FAIL,
    IN_FLIGHT,
    MISSING,
    PASS,
    UNEXPLAINED,
    Difference,
    LastChanges,
    RateLimit,
    Reconciliation,
    canonical_number,
    canonical_value,
    differing_attributes,
    item_digest,
    key_from_id,
    key_id,
    to_wire,
    verdict_for,
)
from runbook_lib.reconcile.scan import _Bucket, _Matcher, _Throttle
from runbook_lib.reconcile.stream import _normalise_last_changes

T = datetime(2026, 11, 28, 5, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "text",
    ["1", "1.0", "1E0", "1e0", "10E-1", "0.1E1", "1.000", "+1"],
)
def test_numbers_compare_by_value(text):
    assert canonical_number(text) == "1"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("100", "100"),
        ("1E2", "100"),
        ("1E+2", "100"),
        ("-0", "0"),
        ("0.000", "0"),
        ("007", "7"),
        ("-12.50", "-12.5"),
        ("1.5E-7", "0.00000015"),
        ("-3", "-3"),
        ("-03", "-3"),
        # 38 significant digits, DynamoDB's limit, are never rounded
        ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
        ("1.2345678901234567890123456789012345678E+5", "123456.78901234567890123456789012345678"),
    ],
)
def test_canonical_number_text(text, canonical):
    assert canonical_number(text) == canonical


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", ""])
def test_not_a_number_is_rejected_without_repeating_the_value(bad):
    with pytest.raises(ValueError) as info:
        canonical_number(bad)
    assert bad not in str(info.value) or bad == ""


def test_fast_and_exact_number_paths_agree():
    import random
    from decimal import Context, Decimal

    rng = random.Random(5)
    context = Context(prec=80)
    for _ in range(5000):
        text = rng.choice(["", "-"]) + rng.choice(["0", "00", "1", "10", "0" * rng.randint(0, 2) + str(rng.randint(0, 999))])
        if rng.random() < 0.6:
            text += "." + str(rng.randint(0, 999)).zfill(rng.randint(1, 4)) + rng.choice(["", "0"])
        exact = Decimal(text)
        expected = "0" if exact.is_zero() else format(exact.normalize(context), "f")
        assert canonical_number(text) == expected, text


def test_number_and_string_of_the_same_text_differ():
    assert item_digest({"a": {"N": "1"}}) != item_digest({"a": {"S": "1"}})


def test_string_and_binary_of_the_same_bytes_differ():
    assert item_digest({"a": {"S": "AQI="}}) != item_digest({"a": {"B": b"\x01\x02"}})


def test_number_1_equals_1_point_0():
    assert item_digest({"pk": {"S": "a"}, "n": {"N": "1"}}) == item_digest({"pk": {"S": "a"}, "n": {"N": "1.0"}})


def test_sets_compare_as_sets():
    assert item_digest({"s": {"SS": ["b", "a", "c"]}}) == item_digest({"s": {"SS": ["c", "b", "a"]}})
    assert item_digest({"s": {"NS": ["1", "2.0", "10"]}}) == item_digest({"s": {"NS": ["10", "2", "1.0"]}})
    assert item_digest({"s": {"BS": [b"\x02", b"\x01"]}}) == item_digest({"s": {"BS": [b"\x01", b"\x02"]}})
    assert item_digest({"s": {"SS": ["a", "b"]}}) != item_digest({"s": {"SS": ["a", "b", "c"]}})


def test_lists_compare_in_order():
    assert item_digest({"l": {"L": [{"S": "a"}, {"S": "b"}]}}) != item_digest({"l": {"L": [{"S": "b"}, {"S": "a"}]}})
    assert item_digest({"l": {"L": [{"N": "1"}]}}) == item_digest({"l": {"L": [{"N": "1.0"}]}})


def test_maps_compare_by_key_at_every_depth():
    a = {"m": {"M": {"x": {"N": "1"}, "y": {"M": {"p": {"SS": ["1", "2"]}, "q": {"L": [{"N": "5"}]}}}}}}
    b = {"m": {"M": {"y": {"M": {"q": {"L": [{"N": "5.00"}]}, "p": {"SS": ["2", "1"]}}}, "x": {"N": "1E0"}}}}
    c = {"m": {"M": {"x": {"N": "1"}, "y": {"M": {"p": {"SS": ["1", "2"]}, "q": {"L": [{"N": "6"}]}}}}}}
    assert item_digest(a) == item_digest(b)
    assert item_digest(a) != item_digest(c)


def test_binary_compares_by_bytes_whether_bytes_or_base64():
    assert item_digest({"b": {"B": b"\x00\xff"}}) == item_digest({"b": {"B": "AP8="}})
    assert item_digest({"b": {"B": b"\x00\xff"}}) != item_digest({"b": {"B": b"\x00\xfe"}})


def test_bool_null_and_attribute_order():
    a = {"x": {"BOOL": True}, "y": {"NULL": True}}
    b = {"y": {"NULL": True}, "x": {"BOOL": True}}
    assert item_digest(a) == item_digest(b)
    assert item_digest(a) != item_digest({"x": {"BOOL": False}, "y": {"NULL": True}})


def test_digest_is_compact():
    assert len(item_digest({"pk": {"S": "a" * 1000}})) == 16


def test_unknown_type_is_rejected():
    with pytest.raises(ValueError):
        canonical_value({"Q": "x"})


def test_differing_attributes_names_changed_added_and_removed():
    source = {"pk": {"S": "a"}, "n": {"N": "1"}, "tags": {"SS": ["x", "y"]}, "gone": {"S": "v"}}
    target = {"pk": {"S": "a"}, "n": {"N": "2"}, "tags": {"SS": ["y", "x"]}, "new": {"S": "v"}}
    assert differing_attributes(source, target) == ("gone", "n", "new")
    assert differing_attributes(source, None) == ("gone", "n", "pk", "tags")
    assert differing_attributes(source, dict(source)) == ()


def test_key_id_is_canonical_sorted_and_reversible():
    kid = key_id({"sk": {"N": "1.0"}, "pk": {"S": "user#1"}})
    assert kid == '[["pk","S","user#1"],["sk","N","1"]]'
    assert kid == key_id({"pk": {"S": "user#1"}, "sk": {"N": "1"}, "other": {"S": "x"}}, ("pk", "sk"))
    assert key_from_id(kid) == {"pk": {"S": "user#1"}, "sk": {"N": "1"}}
    assert key_from_id(key_id({"pk": {"B": b"\x01"}})) == {"pk": {"B": "AQ=="}}


def test_key_id_rejects_non_key_types():
    with pytest.raises(ValueError):
        key_id({"pk": {"SS": ["a"]}})


def test_no_unkeyed_key_hash_is_offered():
    """An unkeyed hash of a key is reversible for small key spaces: keys are hashed only with the
    stack's secret (runbook_lib.cdc.codec.KeyDigest)."""
    import runbook_lib.reconcile as module

    assert not hasattr(module, "key_hash") and "key_hash" not in module.__all__


def test_to_wire_makes_values_json_ready():
    assert to_wire({"B": b"\x01"}) == {"B": "AQ=="}
    assert to_wire({"BS": [b"\x01"]}) == {"BS": ["AQ=="]}
    assert to_wire({"M": {"a": {"L": [{"B": b"\x02"}]}}}) == {"M": {"a": {"L": [{"B": "Ag=="}]}}}


def test_matcher_pairs_keys_from_both_sides_and_forgets_matches():
    # GIVEN keys arriving from both sides in any order
    m = _Matcher()
    m.feed(0, [("a", b"1"), ("b", b"2"), ("c", b"3")])
    m.feed(1, [("b", b"2"), ("c", b"X"), ("d", b"4")])
    # THEN matched keys leave memory; only unmatched and changed remain
    assert m.only[0] == {"a": b"1"}
    assert m.only[1] == {"d": b"4"}
    assert m.changed == {"c": (b"3", b"X")}
    m.feed(0, [("d", b"4")])
    assert m.only[1] == {}


def test_rate_limit_must_be_positive():
    with pytest.raises(InputError):
        RateLimit(items_per_second=0)
    with pytest.raises(InputError):
        RateLimit(capacity_units_per_second=-1)


def test_token_bucket_waits_out_its_debt():
    bucket = _Bucket(100.0)
    bucket.wait()  # no debt yet
    bucket.charge(30)  # 0.3 s of budget
    import time

    start = time.monotonic()
    bucket.wait()
    assert 0.2 <= time.monotonic() - start < 1.0


def test_throttle_sizes_pages_from_observed_capacity():
    # GIVEN a budget of 100 units/s shared by 4 threads
    throttle = _Throttle(RateLimit(capacity_units_per_second=100), threads=4)
    first = throttle.page_limit()
    assert first == int(100 / 4 / 4 / 0.5)  # a cautious first guess: 0.5 unit per item
    # WHEN pages turn out to cost 1/32 unit per item (1 MB of 250 B items = 128 units)
    throttle.charge(4000, 125.0)
    # THEN pages grow to about a quarter second of one thread's budget
    assert throttle.page_limit() == int(100 / 4 / 4 / (125.0 / 4000))
    assert throttle.consumed_units == 125.0


def test_throttle_without_limit_does_not_size_pages():
    throttle = _Throttle(None, threads=4)
    throttle.wait()
    throttle.charge(10_000, 1000.0)
    assert throttle.page_limit() is None


def test_explicit_last_changes_accept_key_ids_or_key_pairs():
    kid = key_id({"pk": {"S": "a"}})
    assert _normalise_last_changes({kid: T}) == {kid: T}
    pairs = [({"pk": {"S": "a"}}, T), ({"pk": {"S": "a"}}, T + timedelta(seconds=5))]
    assert _normalise_last_changes(pairs) == {kid: T + timedelta(seconds=5)}
    assert _normalise_last_changes({kid: "2026-11-28T05:00:00Z"}) == {kid: T}


def test_coverage_warning_when_stream_may_not_hold_t():
    # GIVEN a stream enabled two days ago whose oldest record is newer than T
    changes = LastChanges()
    changes.stream_arn = "arn:stream"
    changes.read_at = T + timedelta(hours=1)
    changes.stream_created = T - timedelta(days=2)
    changes.oldest = T + timedelta(minutes=5)
    assert "24 h" in changes.coverage_warning(T)
    # times to the second, "UTC" said once, no offset repeated on each time (as in the report)
    warning = changes.coverage_warning(T.replace(microsecond=250000))
    assert "+00:00" not in warning and warning.count("UTC") == 1
    assert f"({T + timedelta(minutes=5):%Y-%m-%d %H:%M:%S}) is newer than the restore point {T:%Y-%m-%d %H:%M:%S} (UTC)" in warning
    # a young stream (nothing trimmed yet) that existed at T covers it
    changes.stream_created = T - timedelta(hours=2)
    assert changes.coverage_warning(T) is None
    # a stream enabled after T does not
    changes.stream_created = T + timedelta(minutes=1)
    assert "after the restore point" in changes.coverage_warning(T)
    assert "+00:00" not in changes.coverage_warning(T) and changes.coverage_warning(T).count("UTC") == 1
    # no stream at all
    assert "no stream" in LastChanges().coverage_warning(T)


def _result(differences, **kw):
    explained = sum(d.classification == EXPLAINED for d in differences)
    unexplained = sum(d.classification == UNEXPLAINED for d in differences)
    in_flight = sum(d.classification == IN_FLIGHT for d in differences)
    defaults = dict(
        source_table="s",
        target_table="t",
        source_count=10,
        target_count=9,
        items_scanned=19,
        scan_seconds=1.0,
        items_per_second=19.0,
        differences=tuple(differences),
        explained=explained,
        unexplained=unexplained,
        in_flight=in_flight,
        verdict=verdict_for(unexplained, in_flight),
    )
    defaults.update(kw)
    return Reconciliation(**defaults)


def test_reconciliation_is_frozen_and_answers_questions():
    d1 = Difference({"pk": {"S": "a"}}, MISSING, ("n", "pk"), EXPLAINED, T, key_hash="h1")
    d2 = Difference({"pk": {"S": "b"}}, CHANGED, ("n",), UNEXPLAINED, None, key_hash="h2")
    r = _result([d1, d2])
    with pytest.raises(AttributeError):
        r.verdict = PASS  # type: ignore[misc]
    assert r.verdict == FAIL and not r.passed
    assert r.missing_in_target == (d1,)
    assert r.changed == (d2,)
    assert r.by_class(EXPLAINED) == (d1,)
    assert r.sample(1) == (d2,)  # unexplained first
    s = r.summary()
    assert s["differences"] == {"missing": 1, "extra": 0, "changed": 1, "total": 2}
    assert s["sample"][1]["last_change"] == "2026-11-28T05:00:00Z"
    frame = r.to_dataframe()
    assert list(frame["kind"]) == ["missing", "changed"]
    assert frame.loc[0, "key"] == '{"pk":{"S":"a"}}'


def test_verdict_passes_only_with_nothing_unexplained_or_in_flight():
    assert verdict_for(0, 0) == PASS
    assert verdict_for(1, 0) == FAIL
    assert verdict_for(0, 1) == FAIL  # an item still changing has not been shown equal


TRICKY_NUMBERS = [
    ("1", "1"), ("1.0", "1"), ("1E0", "1"), ("+1", "1"), ("1E+2", "100"), ("100", "100"), ("-0", "0"),
    ("0.000", "0"), ("-0.0E5", "0"), ("007", "7"), ("-12.50", "-12.5"), ("1.5E-7", "0.00000015"),
    ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
    ("-1.2345678901234567890123456789012345678E+37", "-12345678901234567890123456789012345678"),
    ("9.9999999999999999999999999999999999999E+125", "99999999999999999999999999999999999999" + "0" * 88),
    ("1E-130", "0." + "0" * 129 + "1"),
]


@pytest.mark.parametrize(("text", "canonical"), TRICKY_NUMBERS)
def test_reconcile_and_the_handlers_canonicalise_numbers_by_one_rule(text, canonical):
    """One rule, one implementation: the item digests reconciliation compares and the key digest the
    handlers use as MessageGroupId read a number the same way (the codec's function)."""
    import json

    from runbook_lib.cdc import codec
    from runbook_lib.reconcile import values

    assert values.canonical_number is codec.canonical_number
    assert canonical_number(text) == canonical
    # the handlers' canonical key and reconciliation's key id hold the same number text
    assert json.loads(codec.canonical_key({"pk": {"N": text}})) == {"pk": {"N": canonical}}
    assert key_from_id(key_id({"pk": {"N": text}})) == {"pk": {"N": canonical}}
    # and so the same key spelt two ways is one key on both paths, and one item in the digests
    digest = codec.KeyDigest("k" * 32)
    assert digest({"pk": {"N": text}}) == digest({"pk": {"N": canonical}})
    assert item_digest({"n": {"N": text}}) == item_digest({"n": {"N": canonical}})

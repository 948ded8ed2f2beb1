"""Reconciliation from exports (method="export") against the scan (method="scan") on the sandbox.

The exports are written by :func:`upload_export` in AWS's layout ("DynamoDB table export output
format", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html) from a
scan of each table, with every item's attributes (and its sets' members) written in another order,
and uploaded with plain put_object; the code under test locates, downloads (MD5 checked), compares
them with the one query on DuckDB, and re-reads the candidates through the sandbox.
"""

from __future__ import annotations

import json
import random
import time
from datetime import datetime, timedelta, timezone

import pytest

from runbook_lib.aws.clients import AwsTarget
from runbook_lib.errors import InputError
from runbook_lib.reconcile import EXPLAINED, PASS, UNEXPLAINED, key_id, reconcile
from runbook_lib.reconcile.exports import ExportError, ExportLocation, ExportPair, build_export, compare_exports

REGION = "us-east-1"
ACCOUNT = "123456789012"
SRC, TGT = "orders", "orders-restored"
BUCKET = "pitr-runbook-123456789012-us-east-1"
BIG = "x" * 390_000  # an item near DynamoDB's 400 KB limit


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(REGION, endpoint)


@pytest.fixture
def ddb(aws):
    return aws("dynamodb")


@pytest.fixture
def s3(aws):
    client = aws("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def make_table(ddb, name, *, range_key=None, range_type="S", hash_type="S", stream=False):
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": hash_type}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
        attrs.append({"AttributeName": range_key, "AttributeType": range_type})
    kwargs = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}} if stream else {}
    ddb.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST", **kwargs)


def put_all(ddb, table, items):
    for item in items:
        ddb.put_item(TableName=table, Item=item)


def scan_all(ddb, table):
    items, kwargs = [], {"TableName": table}
    while True:
        resp = ddb.scan(**kwargs)
        items += resp["Items"]
        if "LastEvaluatedKey" not in resp:
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def _shuffled(item, rng):
    """The same item with its attributes, and its sets' members, in another order."""
    names = list(item)
    rng.shuffle(names)
    out = {}
    for name in names:
        ((kind, value),) = item[name].items()
        if kind in ("SS", "NS", "BS"):
            value = list(value)
            rng.shuffle(value)
        out[name] = {kind: value}
    return out


def upload_export(s3, table, items, *, export_id, prefix="exports", shuffle_seed=None, files=3):
    """Test helper: an export of ``items`` in AWS's layout, put into the sandbox's S3; its location."""
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}/export/{export_id}"
    if shuffle_seed is not None:
        rng = random.Random(shuffle_seed)
        items = [_shuffled(it, rng) for it in items]
        rng.shuffle(items)
    for key, body in build_export(items, export_arn=arn, bucket=BUCKET, prefix=prefix, files=files).items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return ExportLocation(arn, BUCKET, prefix, f"{prefix}/AWSDynamoDB/{export_id}/manifest-summary.json")


def export_both(ddb, s3):
    """Exports of both tables from a scan of each, the target's in another attribute order."""
    return ExportPair(
        upload_export(s3, SRC, scan_all(ddb, SRC), export_id="01700000000000-aaaaaaaa"),
        upload_export(s3, TGT, scan_all(ddb, TGT), export_id="01700000000001-bbbbbbbb", shuffle_seed=7),
        progress=False,
    )


def same_outcome(scan, export):
    """Verdict, counts and the difference list (with classes, attributes, last changes) agree."""
    assert export.verdict == scan.verdict
    assert (export.source_count, export.target_count) == (scan.source_count, scan.target_count)
    assert (export.explained, export.unexplained, export.in_flight, export.settled) == (
        scan.explained, scan.unexplained, scan.in_flight, scan.settled)
    assert export.reread_rounds == scan.reread_rounds

    def rows(result):
        return sorted((json.dumps(d.to_dict(), sort_keys=True) for d in result.differences))

    assert rows(export) == rows(scan)
    s, e = scan.summary(), export.summary()
    for field in ("verdict", "counts", "differences", "explained", "unexplained", "in_flight", "settled_on_reread",
                  "restore_time", "replay_from", "coverage_warning", "items_scanned"):
        assert e.get(field, "absent") == s.get(field, "absent"), field  # a field unknown to both is absent from both


def every_type(i):
    return {
        "s": {"S": f"v{i}"}, "n": {"N": str(i * 7)}, "b": {"B": bytes([i % 256, 1, 2])}, "t": {"BOOL": i % 2 == 0},
        "z": {"NULL": True}, "l": {"L": [{"S": "a"}, {"N": "1.5"}, {"M": {"q": {"BOOL": False}}}]},
        "m": {"M": {"x": {"N": "1"}, "y": {"SS": ["p", "q"]}, "w": {"L": []}}},
        "ss": {"SS": ["a", "b", "c"]}, "ns": {"NS": ["1", "2.5", "-3"]}, "bs": {"BS": [b"\x00", b"\x01", b"\xff"]},
    }


def test_export_method_matches_scan_on_a_hash_key_pair_with_every_type_and_a_400_kb_item(ddb, s3, target):
    # GIVEN a source of every attribute type with one item near 400 KB, and a target that misses
    # one item, has one extra, and differs in one attribute of two others (one of them the big one)
    source = [{"pk": {"S": f"k{i:03d}"}, **every_type(i)} for i in range(30)]
    source.append({"pk": {"S": "big"}, "blob": {"S": BIG}, **every_type(99)})
    tgt = [dict(it) for it in source if it["pk"]["S"] != "k004"]
    tgt.append({"pk": {"S": "k900"}, **every_type(900)})
    tgt[7] = {**tgt[7], "ns": {"NS": ["1", "2.5", "-4"]}}
    tgt[-2] = {**tgt[-2], "blob": {"S": BIG[:-1] + "y"}}
    make_table(ddb, SRC)
    make_table(ddb, TGT)
    put_all(ddb, SRC, source)
    put_all(ddb, TGT, tgt)
    # WHEN both methods reconcile the pair
    scan = reconcile(target, SRC, TGT)
    exported = reconcile(target, SRC, TGT, method="export", exports=export_both(ddb, s3))
    # THEN they agree on everything, and found what was put there
    same_outcome(scan, exported)
    assert {(d.kind, d.key["pk"]["S"], d.attributes) for d in exported.differences} == {
        ("missing", "k004", tuple(sorted(source[4]))), ("extra", "k900", tuple(sorted(tgt[-1]))),
        ("changed", "k008", ("ns",)), ("changed", "big", ("blob",))}
    assert exported.verdict == "FAIL" and (exported.source_count, exported.target_count) == (31, 31)


def test_equal_tables_exported_in_another_attribute_order_give_no_candidates(ddb, s3, target):
    # top-level attribute order and row order differ between the two exports; nested values do not
    items = [{"pk": {"S": f"k{i:03d}"}, "a": {"S": "x"}, "n": {"N": str(i)}, "t": {"BOOL": True}, "z": {"NULL": True},
              "m": {"M": {"x": {"N": "1"}}}} for i in range(50)]
    make_table(ddb, SRC)
    make_table(ddb, TGT)
    put_all(ddb, SRC, items)
    put_all(ddb, TGT, items)
    pair = export_both(ddb, s3)
    found = compare_exports(target, pair, ("pk",))
    assert found.query.candidates == () and found.counts == [50, 50]
    assert reconcile(target, SRC, TGT, method="export", exports=pair).verdict == PASS


def test_numbers_and_sets_written_differently_are_query_candidates_that_the_canonical_comparison_drops(ddb, s3, target):
    # GIVEN tables equal by value; the target export writes 1 as 1.0 and a set in another order
    items = [{"pk": {"S": "a"}, "n": {"N": "1"}, "ss": {"SS": ["x", "y"]}}, {"pk": {"S": "b"}, "n": {"N": "2"}}]
    make_table(ddb, SRC)
    make_table(ddb, TGT)
    put_all(ddb, SRC, items)
    put_all(ddb, TGT, items)
    src_loc = upload_export(s3, SRC, items, export_id="01700000000000-aaaaaaaa")
    written = [{"pk": {"S": "a"}, "n": {"N": "1.0"}, "ss": {"SS": ["y", "x"]}}, items[1]]
    tgt_loc = upload_export(s3, TGT, written, export_id="01700000000001-bbbbbbbb")
    pair = ExportPair(src_loc, tgt_loc, progress=False)
    # WHEN compared: the query makes key a a candidate, and the canonical comparison of the two
    # export images drops it before any re-read, as the scan would never have seen a difference
    found = compare_exports(target, pair, ("pk",))
    assert [(c.kind, c.key) for c in found.query.candidates] == [("changed", {"pk": {"S": "a"}})]
    assert found.open_ == {}
    result = reconcile(target, SRC, TGT, method="export", exports=pair)
    assert result.verdict == PASS and result.differences == () and result.settled == 0


def test_export_method_matches_scan_on_a_hash_range_pair_with_explained_keys(ddb, s3, target):
    # GIVEN a hash+range pair equal as of T; in [T, R) one key changes on the source, after R another
    items = [{"pk": {"S": f"c{c}"}, "sk": {"N": str(n)}, "v": {"S": "x"}, "ns": {"NS": ["1", "2"]}}
             for c in range(4) for n in range(5)]
    make_table(ddb, SRC, range_key="sk", range_type="N", stream=True)
    make_table(ddb, TGT, range_key="sk", range_type="N")
    put_all(ddb, SRC, items)
    put_all(ddb, TGT, [it for it in items if (it["pk"]["S"], it["sk"]["N"]) != ("c3", "4")])
    time.sleep(1.1)
    t_point = datetime.now(timezone.utc)
    time.sleep(1.1)
    ddb.put_item(TableName=SRC, Item={**items[1], "v": {"S": "cancelled"}})
    ddb.delete_item(TableName=SRC, Key={"pk": items[2]["pk"], "sk": items[2]["sk"]})
    time.sleep(1.1)
    r_point = datetime.now(timezone.utc)
    ddb.put_item(TableName=SRC, Item={**items[6], "v": {"S": "late"}})
    # WHEN both methods reconcile with T and R
    scan = reconcile(target, SRC, TGT, restore_time=t_point, replay_from=r_point)
    exported = reconcile(target, SRC, TGT, restore_time=t_point, replay_from=r_point, method="export",
                         exports=export_both(ddb, s3))
    # THEN identical outcomes: two explained, two unexplained (the late change and the missing c3/4)
    same_outcome(scan, exported)
    classes = {(d.key["pk"]["S"], d.key["sk"]["N"]): (d.kind, d.classification) for d in exported.differences}
    assert classes == {("c0", "1"): ("changed", EXPLAINED), ("c0", "2"): ("extra", EXPLAINED),
                       ("c1", "1"): ("changed", UNEXPLAINED), ("c3", "4"): ("missing", UNEXPLAINED)}


def test_binary_hash_keys_match_across_methods(ddb, s3, target):
    items = [{"pk": {"B": bytes([i, 255])}, "v": {"N": str(i)}} for i in range(12)]
    make_table(ddb, SRC, hash_type="B")
    make_table(ddb, TGT, hash_type="B")
    put_all(ddb, SRC, items)
    put_all(ddb, TGT, items[:10] + [{**items[11], "v": {"N": "0"}}])
    scan = reconcile(target, SRC, TGT, segments=1)  # moto cannot segment a binary hash key scan
    exported = reconcile(target, SRC, TGT, method="export", exports=export_both(ddb, s3))
    same_outcome(scan, exported)
    assert {d.kind for d in exported.differences} == {"missing", "changed"}


def test_a_data_file_that_does_not_match_its_md5_is_refused(ddb, s3, target):
    make_table(ddb, SRC)
    make_table(ddb, TGT)
    src_loc = upload_export(s3, SRC, [{"pk": {"S": "a"}}], export_id="01700000000000-aaaaaaaa", files=1)
    tgt_loc = upload_export(s3, TGT, [{"pk": {"S": "a"}}], export_id="01700000000001-bbbbbbbb", files=1)
    key = f"exports/AWSDynamoDB/01700000000001-bbbbbbbb/data/01700000000001-bbbbbbbb-0000.json.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"replaced")
    with pytest.raises(ExportError, match="md5Checksum.*export again"):
        reconcile(target, SRC, TGT, method="export", exports=ExportPair(src_loc, tgt_loc, progress=False))


def test_an_export_whose_files_hold_fewer_items_than_its_manifest_is_refused(ddb, s3, target):
    make_table(ddb, SRC)
    make_table(ddb, TGT)
    src_loc = upload_export(s3, SRC, [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}], export_id="01700000000000-aaaaaaaa")
    tgt_loc = upload_export(s3, TGT, [{"pk": {"S": "a"}}], export_id="01700000000001-bbbbbbbb")
    summary_key = tgt_loc.manifest_summary_key
    summary = json.loads(s3.get_object(Bucket=BUCKET, Key=summary_key)["Body"].read())
    files_key = summary["manifestFilesS3Key"]
    lines = s3.get_object(Bucket=BUCKET, Key=files_key)["Body"].read().decode().splitlines()
    entries = [json.loads(line) for line in lines]
    entries[0]["itemCount"] += 1
    summary["itemCount"] += 1
    s3.put_object(Bucket=BUCKET, Key=files_key, Body="\n".join(json.dumps(e) for e in entries).encode())
    s3.put_object(Bucket=BUCKET, Key=summary_key, Body=json.dumps(summary).encode())
    with pytest.raises(ExportError, match="holds 1 items .* manifest counts 2"):
        reconcile(target, SRC, TGT, method="export", exports=ExportPair(src_loc, tgt_loc, progress=False))


def test_export_method_needs_exports_and_scan_takes_none(ddb, target):
    make_table(ddb, SRC)
    make_table(ddb, TGT)
    with pytest.raises(InputError, match="exports=ExportPair"):
        reconcile(target, SRC, TGT, method="export")
    with pytest.raises(InputError, match="'scan' or 'export'"):
        reconcile(target, SRC, TGT, method="athena")


def test_download_keeps_files_already_there_with_their_checksum_and_fetches_the_rest(s3, target, tmp_path):
    from runbook_lib.reconcile.exports import download_export

    loc = upload_export(s3, SRC, [{"pk": {"S": f"k{i}"}} for i in range(9)], export_id="01700000000000-aaaaaaaa")
    first = download_export(target, loc, tmp_path, progress=False)
    assert first.item_count == 9 and len(first.files) == 3 and all(p.exists() for p in first.files)
    # GIVEN one local file lost and one data object gone from S3 (its local copy intact)
    first.files[0].unlink()
    s3.delete_object(Bucket=BUCKET, Key=first.data_files[1].key)
    # WHEN downloaded again: the lost file comes back, the intact one is not fetched
    again = download_export(target, loc, tmp_path, progress=False)
    assert again.files == first.files and all(p.exists() for p in again.files)

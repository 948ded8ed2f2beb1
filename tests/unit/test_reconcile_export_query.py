"""The export comparison query (Athena's SQL, run locally by DuckDB through sqlglot) and the export
layout ("DynamoDB table export output format", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json

import pytest

from runbook_lib.errors import InputError
from runbook_lib.reconcile.exports import ExportError, build_export, comparison_sql, location_of, run_duckdb, to_duckdb
from runbook_lib.reconcile.exports.query import candidate_images

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/export/01700000000000-abcdef12"


def write(path, items):
    with gzip.open(path, "wt") as fh:
        for item in items:
            fh.write(json.dumps({"Item": item}, separators=(",", ":")) + "\n")
    return path


def compare(tmp_path, source, target, keys=("pk",)):
    result, con = run_duckdb([write(tmp_path / "s.json.gz", source)], [write(tmp_path / "t.json.gz", target)],
                             keys, work_dir=tmp_path / "w")
    con.close()
    return result


def test_query_finds_missing_extra_and_changed_and_counts_every_row(tmp_path):
    source = [{"pk": {"S": "a"}, "v": {"N": "1"}}, {"pk": {"S": "b"}, "v": {"N": "1"}}, {"pk": {"S": "c"}}]
    target = [{"pk": {"S": "a"}, "v": {"N": "1"}}, {"pk": {"S": "b"}, "v": {"N": "2"}}, {"pk": {"S": "d"}}]
    result = compare(tmp_path, source, target)
    assert [(c.kind, c.key) for c in result.candidates] == [
        ("changed", {"pk": {"S": "b"}}), ("extra", {"pk": {"S": "d"}}), ("missing", {"pk": {"S": "c"}})]
    assert (result.source_rows, result.target_rows, result.engine) == (3, 3, "duckdb")


def test_top_level_attribute_order_makes_no_candidate(tmp_path):
    source = [{"pk": {"S": "a"}, "x": {"S": "1"}, "y": {"BOOL": True}, "z": {"NULL": True}}]
    target = [{"z": {"NULL": True}, "y": {"BOOL": True}, "pk": {"S": "a"}, "x": {"S": "1"}}]
    assert compare(tmp_path, source, target).candidates == ()


def test_names_that_would_run_together_without_their_length_are_still_a_difference(tmp_path):
    # without the length prefix both items would read 'a{"S":"1"}b{"S":"2"}'
    source = [{"pk": {"S": "k"}, "a": {"S": "1"}, "b": {"S": "2"}}]
    target = [{"pk": {"S": "k"}, 'a{"S":"1"}b': {"S": "2"}}]
    assert [c.kind for c in compare(tmp_path, source, target).candidates] == ["changed"]


def test_hash_and_range_keys_with_dots_and_spaces_in_their_names(tmp_path):
    keys = ("my key", "s.k")
    source = [{"my key": {"S": "a"}, "s.k": {"N": "1"}, "v": {"S": "x"}}, {"my key": {"S": "a"}, "s.k": {"N": "2"}}]
    target = [{"s.k": {"N": "1"}, "my key": {"S": "a"}, "v": {"S": "x"}}, {"my key": {"S": "a"}, "s.k": {"N": "3"}}]
    result = compare(tmp_path, source, target, keys)
    assert [(c.kind, c.key) for c in result.candidates] == [
        ("extra", {"my key": {"S": "a"}, "s.k": {"N": "3"}}), ("missing", {"my key": {"S": "a"}, "s.k": {"N": "2"}})]


def test_a_key_twice_in_one_export_is_counted_as_a_duplicate(tmp_path):
    source = [{"pk": {"S": "a"}, "v": {"N": "1"}}, {"pk": {"S": "a"}, "v": {"N": "2"}}]
    result = compare(tmp_path, source, [{"pk": {"S": "a"}, "v": {"N": "1"}}])
    assert result.duplicate_keys == 1 and result.source_rows == 2


def test_empty_exports_compare_to_nothing(tmp_path):
    result, con = run_duckdb([], [], ("pk",), work_dir=tmp_path)
    assert (result.candidates, result.source_rows, result.target_rows) == ((), 0, 0)


def test_candidate_images_are_the_export_lines_of_the_candidates_only(tmp_path):
    source = [{"pk": {"S": "a"}, "v": {"N": "1"}}, {"pk": {"S": "b"}, "v": {"N": "1"}}]
    target = [{"pk": {"S": "a"}, "v": {"N": "1"}}, {"pk": {"S": "b"}, "v": {"N": "5"}}]
    result, con = run_duckdb([write(tmp_path / "s.json.gz", source)], [write(tmp_path / "t.json.gz", target)],
                             ("pk",), work_dir=tmp_path / "w")
    src, tgt = candidate_images(con, result, ("pk",))
    assert [json.loads(x)["Item"] for x in src] == [source[1]]
    assert [json.loads(x)["Item"] for x in tgt] == [target[1]]


def test_the_sql_is_athena_s_text_and_duckdb_runs_its_transpilation():
    sql = comparison_sql(("pk", "sk"))
    # Trino's functions, as Athena runs them; DuckDB's in the transpilation
    for trino in ("json_extract(line, '$.Item[\"pk\"]')", "FULL OUTER JOIN", "to_hex(md5(to_utf8(", "transform(",
                  "array_sort(map_keys(item))", "CAST(json_extract(line, '$.Item') AS MAP(VARCHAR, JSON))"):
        assert trino in sql
    duck = to_duckdb(sql)
    assert "LIST_TRANSFORM" in duck and "LIST_SORT" in duck and "transform(" not in duck


@pytest.mark.parametrize("name", ['a"b', "a\\b", "a[0]", ""])
def test_key_names_the_query_cannot_quote_are_refused(name):
    with pytest.raises(InputError, match="method='scan'"):
        comparison_sql((name,))


def test_build_export_writes_aws_s_layout_with_md5_checksums():
    items = [{"pk": {"S": f"k{i}"}, "b": {"B": b"\x00\xff"}, "ss": {"SS": {"x"}}} for i in range(5)]
    files = build_export(items, export_arn=ARN, bucket="bkt", prefix="exp", files=2)
    base = "exp/AWSDynamoDB/01700000000000-abcdef12"
    summary = json.loads(files[f"{base}/manifest-summary.json"])
    assert summary["itemCount"] == 5 and summary["manifestFilesS3Key"] == f"{base}/manifest-files.json"
    entries = [json.loads(line) for line in files[f"{base}/manifest-files.json"].decode().splitlines()]
    assert sum(e["itemCount"] for e in entries) == 5
    for e in entries:
        data = files[e["dataFileS3Key"]]
        assert e["dataFileS3Key"].startswith(f"{base}/data/") and e["dataFileS3Key"].endswith(".json.gz")
        assert e["md5Checksum"] == base64.b64encode(hashlib.md5(data).digest()).decode()
        for line in gzip.decompress(data).decode().splitlines():
            item = json.loads(line)["Item"]
            assert item["b"] == {"B": "AP8="} and item["ss"] == {"SS": ["x"]}


def test_location_of_a_completed_export_puts_the_manifest_under_the_prefix_once():
    desc = {"ExportArn": ARN, "ExportStatus": "COMPLETED", "S3Bucket": "bkt", "S3Prefix": "exp",
            "ExportManifest": "AWSDynamoDB/01700000000000-abcdef12/manifest-summary.json", "ItemCount": 3}
    loc = location_of(desc)
    assert loc.manifest_summary_key == "exp/AWSDynamoDB/01700000000000-abcdef12/manifest-summary.json"
    assert location_of({**desc, "ExportManifest": loc.manifest_summary_key}).manifest_summary_key == loc.manifest_summary_key
    assert loc.data_prefix == "exp/AWSDynamoDB/01700000000000-abcdef12/data/"
    assert (loc.table, loc.export_id, loc.item_count) == ("orders", "01700000000000-abcdef12", 3)


@pytest.mark.parametrize("status, remedy", [("IN_PROGRESS", "wait for it"), ("FAILED", "start a new export")])
def test_an_export_not_completed_cannot_be_compared_and_the_error_says_what_to_do(status, remedy):
    with pytest.raises(ExportError, match=remedy):
        location_of({"ExportArn": ARN, "ExportStatus": status, "S3Bucket": "bkt", "FailureCode": "S3NoSuchBucket"})


def test_a_local_copy_of_an_export_opens_with_its_counts_and_a_damaged_file_is_refused(tmp_path):
    from runbook_lib.reconcile.exports import open_local_export

    files = build_export([{"pk": {"S": f"k{i}"}} for i in range(7)], export_arn=ARN, bucket="bkt", prefix="exp", files=3)
    base = "exp/AWSDynamoDB/01700000000000-abcdef12/"
    for key, body in files.items():  # as `aws s3 sync s3://bkt/<base> DIR` leaves it
        path = tmp_path / key[len(base):]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    local = open_local_export(tmp_path)
    assert local.item_count == local.manifest_item_count == 7 and len(local.files) == 3
    assert local.location.export_arn == ARN
    local.files[1].write_bytes(gzip.compress(b'{"Item":{"pk":{"S":"x"}}}\n'))
    with pytest.raises(ExportError, match="md5Checksum"):
        open_local_export(tmp_path)

"""The sandbox's exports to S3: the state as of ExportTime, AWS's layout and manifests, the status, the
errors, ClientToken, ListExports' pages, and incremental exports, all read back with plain boto3."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import random
import time
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from runbook_lib.sandbox import SETTINGS
from runbook_lib.sandbox.traffic import create_demo_table, make_item, make_key, seed_items

BUCKET = "exports-bucket"
SUMMARY_FIELDS_FULL = {
    "version", "exportArn", "startTime", "endTime", "tableArn", "tableId", "exportTime", "s3Bucket", "s3Prefix",
    "s3SseAlgorithm", "s3SseKmsKeyId", "manifestFilesS3Key", "billedSizeBytes", "itemCount", "outputFormat",
    "exportType",
}


@pytest.fixture
def ddb(aws):
    SETTINGS.export_seconds = 0.2
    return aws("dynamodb")


@pytest.fixture
def s3(aws):
    client = aws("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def _table(ddb, name: str = "orders", **kwargs) -> str:
    return create_demo_table(ddb, name, stream=None, **kwargs)["TableArn"]


def _pause() -> datetime:
    time.sleep(0.05)
    at = datetime.now(timezone.utc)
    time.sleep(0.05)
    return at


def _wait(ddb, arn: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = ddb.describe_export(ExportArn=arn)["ExportDescription"]
        if desc["ExportStatus"] != "IN_PROGRESS":
            return desc
        time.sleep(0.05)
    raise AssertionError(f"{arn} still IN_PROGRESS")


def _export(ddb, table_arn: str, **kwargs) -> dict:
    kwargs.setdefault("S3Bucket", BUCKET)
    arn = ddb.export_table_to_point_in_time(TableArn=table_arn, **kwargs)["ExportDescription"]["ExportArn"]
    desc = _wait(ddb, arn)
    assert desc["ExportStatus"] == "COMPLETED", desc
    return desc


def _body(s3, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def _read(s3, desc: dict) -> tuple[dict, list[dict], dict[str, list[dict]]]:
    """(summary, manifest-files lines, data file key -> its JSON lines), found from ExportManifest alone."""
    summary = json.loads(_body(s3, desc["ExportManifest"]))
    files = [json.loads(line) for line in _body(s3, summary["manifestFilesS3Key"]).decode().splitlines()]
    data = {}
    for entry in files:
        text = gzip.decompress(_body(s3, entry["dataFileS3Key"])).decode()
        data[entry["dataFileS3Key"]] = [json.loads(line) for line in text.splitlines()]
    return summary, files, data


def _canonical(value):
    """DynamoDB JSON with binary as bytes and sets sorted, so a Scan's item and an exported one compare."""
    if isinstance(value, dict):
        if len(value) == 1:
            (kind, inner), = value.items()
            if kind == "B":
                return {"B": inner if isinstance(inner, bytes) else base64.b64decode(inner)}
            if kind == "BS":
                return {"BS": sorted(v if isinstance(v, bytes) else base64.b64decode(v) for v in inner)}
            if kind in ("SS", "NS"):
                return {kind: sorted(inner)}
            if kind == "L":
                return {"L": [_canonical(v) for v in inner]}
        return {k: _canonical(v) for k, v in value.items()}
    return value


def _key(item: dict) -> str:
    return json.dumps({k: item[k] for k in ("pk", "sk") if k in item}, sort_keys=True)


def _scan(ddb, table: str) -> dict[str, dict]:
    out, kwargs = {}, {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        out.update({_key(item): _canonical(item) for item in page["Items"]})
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.mark.parametrize("range_key", [False, True], ids=["hash", "hash_range"])
def test_full_export_holds_the_items_as_of_export_time_not_the_current_ones(ddb, s3, range_key):
    """"Requesting a table export in DynamoDB": "With full exports, you can export a full snapshot of your
    table from any point in time within the point-in-time recovery (PITR) window"
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport_Requesting.html);
    ExportTime: "The table export will be a snapshot of the table's state at this point in time"
    (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportTableToPointInTime.html)."""
    # GIVEN a table with every attribute type, then changed after a moment T: updates, deletes, inserts
    SETTINGS.export_items_per_file = 50
    table_arn = _table(ddb, range_key=range_key)
    seed_items(ddb, "orders", 300, seed=1)
    at = _pause()
    before = _scan(ddb, "orders")
    schema = [("pk", "S")] + ([("sk", "N")] if range_key else [])
    rng = random.Random(2)
    for n in range(0, 300, 3):
        ddb.put_item(TableName="orders", Item=make_item(schema, n, rng, version=2))
    for n in range(1, 300, 7):
        ddb.delete_item(TableName="orders", Key=make_key(schema, n))
    for n in range(300, 320):
        ddb.put_item(TableName="orders", Item=make_item(schema, n, rng))
    assert _scan(ddb, "orders") != before and len(before) == 300

    # WHEN the table is exported as of T
    desc = _export(ddb, table_arn, ExportTime=at)

    # THEN the data files hold exactly the items as of T, old values included
    summary, files, data = _read(s3, desc)
    exported = [_canonical(line["Item"]) for lines in data.values() for line in lines]
    assert {_key(item): item for item in exported} == before
    assert len(exported) == desc["ItemCount"] == summary["itemCount"] == 300
    assert datetime.fromisoformat(summary["exportTime"].replace("Z", "+00:00")) == at.replace(
        microsecond=at.microsecond // 1000 * 1000)


def test_export_layout_and_manifests_are_as_documented(ddb, s3):
    """"DynamoDB table export output format"
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html):
    manifest-summary.json and manifest-files.json with their checksum files and ``_started`` in
    ``export-prefix/AWSDynamoDB/ExportId/``; data files in its ``data/``, gzip JSON lines of ``{"Item": ...}``;
    "at least 1 file per partition", "All of the items in each file are
    from that particular partition's hashed keyspace"; manifest-files.json in JSON lines of itemCount,
    md5Checksum, etag, dataFileS3Key. The checksum files are named ``.md5`` and hold the base64 MD5, as AWS
    writes them (moto's AWS-verified test_export_table lists manifest-files.md5 and manifest-summary.md5)."""
    # GIVEN a hash+range table of 200 items (partition keys with 3 items each) and 40 items a file
    SETTINGS.export_items_per_file = 40
    table_arn = _table(ddb, range_key=True)
    seed_items(ddb, "orders", 200, seed=3)

    # WHEN it is exported under a prefix
    desc = _export(ddb, table_arn, S3Prefix="runs/r1")

    # THEN every object is where the output format page puts it
    export_id = desc["ExportArn"].rsplit("/", 1)[1]
    folder = f"runs/r1/AWSDynamoDB/{export_id}"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    names = {folder + "/" + n for n in ("_started", "manifest-summary.json", "manifest-summary.md5",
                                          "manifest-files.json", "manifest-files.md5")}
    assert names <= keys and all(k.startswith(folder + "/data/") and k.endswith(".json.gz") for k in keys - names)
    assert _body(s3, folder + "/_started") == b""
    assert desc["ExportManifest"] == folder + "/manifest-summary.json"
    for name in ("manifest-summary", "manifest-files"):
        assert _body(s3, f"{folder}/{name}.md5").decode() == base64.b64encode(
            hashlib.md5(_body(s3, f"{folder}/{name}.json")).digest()).decode()
    summary, files, data = _read(s3, desc)
    assert set(summary) == SUMMARY_FIELDS_FULL
    assert (summary["version"], summary["exportArn"], summary["tableArn"], summary["s3Bucket"], summary["s3Prefix"],
            summary["outputFormat"], summary["exportType"], summary["manifestFilesS3Key"]) == (
        "2020-06-30", desc["ExportArn"], table_arn, BUCKET, "runs/r1", "DYNAMODB_JSON", "FULL_EXPORT",
        folder + "/manifest-files.json")
    assert summary["tableId"] == desc["TableId"] and summary["billedSizeBytes"] == desc["BilledSizeBytes"] > 0
    # several data files, each line one {"Item": ...}, each manifest line true to its object
    assert len(files) >= 5 and set(files[0]) == {"itemCount", "md5Checksum", "etag", "dataFileS3Key"}
    owner = {}
    for entry in files:
        body = _body(s3, entry["dataFileS3Key"])
        assert entry["itemCount"] == len(data[entry["dataFileS3Key"]])
        assert entry["md5Checksum"] == base64.b64encode(hashlib.md5(body).digest()).decode()
        head = s3.head_object(Bucket=BUCKET, Key=entry["dataFileS3Key"])
        assert head["ETag"].strip('"') == entry["etag"] and entry["etag"].endswith("-1")
        for line in data[entry["dataFileS3Key"]]:
            assert set(line) == {"Item"}
            owner.setdefault(line["Item"]["pk"]["S"], set()).add(entry["dataFileS3Key"])
    assert sum(e["itemCount"] for e in files) == desc["ItemCount"] == 200
    assert all(len(files_of_key) == 1 for files_of_key in owner.values())  # a partition key never spans files


def test_export_is_in_progress_for_a_while_then_completed_with_counts(ddb, s3):
    """ExportDescription (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportDescription.html):
    "Export can be in one of the following states: IN_PROGRESS, COMPLETED, or FAILED", with StartTime,
    EndTime, ExportManifest, ItemCount and BilledSizeBytes; "DynamoDB also creates an empty file named
    _started ... the export has begun"
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html)."""
    SETTINGS.export_seconds = 1.0
    table_arn = _table(ddb)
    seed_items(ddb, "orders", 25, seed=4)
    started = ddb.export_table_to_point_in_time(TableArn=table_arn, S3Bucket=BUCKET)["ExportDescription"]
    now = ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"]
    assert started["ExportStatus"] == now["ExportStatus"] == "IN_PROGRESS"
    assert not {"ItemCount", "EndTime", "ExportManifest"} & set(now)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert len(keys) == 1 and keys[0].endswith("/_started")
    done = _wait(ddb, started["ExportArn"])
    assert done["ExportStatus"] == "COMPLETED" and done["ItemCount"] == 25 and done["BilledSizeBytes"] > 0
    assert done["StartTime"] < done["EndTime"] and (done["EndTime"] - done["StartTime"]).total_seconds() >= 0.9
    assert done["ClientToken"] and "ExportType" not in done  # AWS names the type only when it was asked for


def test_export_of_an_empty_table_writes_one_empty_data_file(ddb, s3):
    """"For partitions that are empty, your export request will create an empty file"
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html); moto's
    AWS-verified test_export_empty_table: BilledSizeBytes 0, ItemCount 0, data files that unzip to nothing."""
    desc = _export(ddb, _table(ddb))
    summary, files, data = _read(s3, desc)
    assert (desc["ItemCount"], desc["BilledSizeBytes"], summary["itemCount"]) == (0, 0, 0)
    assert len(files) == 1 and files[0]["itemCount"] == 0
    assert gzip.decompress(_body(s3, files[0]["dataFileS3Key"])) == b""


def test_export_errors_are_aws_codes(ddb, s3):
    """ExportTableToPointInTime's errors
    (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportTableToPointInTime.html):
    PointInTimeRecoveryUnavailableException ("Point in time recovery is not enabled for table '...'",
    "Requesting a table export in DynamoDB"), InvalidExportTimeException ("The specified ExportTime is outside
    of the point in time recovery window"), TableNotFoundException ("Table not found: <arn>", moto's
    AWS-verified test_export_from_missing_table), ValidationException for values outside the model's enums."""
    no_pitr = _table(ddb, "nopitr", pitr=False)
    with pytest.raises(ClientError) as exc:
        ddb.export_table_to_point_in_time(TableArn=no_pitr, S3Bucket=BUCKET)
    assert exc.value.response["Error"]["Code"] == "PointInTimeRecoveryUnavailableException"
    assert exc.value.response["Error"]["Message"] == "Point in time recovery is not enabled for table 'nopitr'"
    before_pitr = datetime.now(timezone.utc)
    time.sleep(0.05)
    table_arn = _table(ddb)
    for at in (before_pitr, datetime.fromtimestamp(time.time() + 60, tz=timezone.utc)):
        with pytest.raises(ClientError) as exc:
            ddb.export_table_to_point_in_time(TableArn=table_arn, S3Bucket=BUCKET, ExportTime=at)
        assert exc.value.response["Error"]["Code"] == "InvalidExportTimeException"
    missing = table_arn.replace("/orders", "/nosuchtable")
    with pytest.raises(ClientError) as exc:
        ddb.export_table_to_point_in_time(TableArn=missing, S3Bucket=BUCKET)
    assert exc.value.response["Error"] == {"Code": "TableNotFoundException", "Message": f"Table not found: {missing}"}
    for bad in ({"ExportFormat": "QWERTY"}, {"ExportType": "QWERTY"}, {"S3Prefix": ""}, {"S3SseAlgorithm": "DES"},
                {"S3Bucket": "-bad-"}, {"TableArn": "QWERTY"}):
        with pytest.raises(ClientError) as exc:
            ddb.export_table_to_point_in_time(**{"TableArn": table_arn, "S3Bucket": BUCKET, **bad})
        assert exc.value.response["Error"]["Code"] == "ValidationException", bad
    assert ddb.list_exports()["ExportSummaries"] == []


def test_export_format_ion_is_refused_clearly(ddb, s3):
    """ExportFormat takes DYNAMODB_JSON or ION on AWS ("DynamoDB table export output format",
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html); the sandbox
    writes DynamoDB JSON only and says so (README's sandbox table), rather than write something else."""
    with pytest.raises(ClientError) as exc:
        ddb.export_table_to_point_in_time(TableArn=_table(ddb), S3Bucket=BUCKET, ExportFormat="ION")
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "ION is not supported by the pitr-runbook sandbox" in exc.value.response["Error"]["Message"]


def test_export_to_a_missing_bucket_fails_later_with_s3_no_such_bucket(ddb, s3):
    """A missing bucket is no error of the call: the export ends FAILED, FailureCode S3NoSuchBucket, "The
    specified bucket does not exist" (moto's AWS-verified test_export_to_missing_s3_bucket; ExportDescription,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportDescription.html)."""
    started = ddb.export_table_to_point_in_time(TableArn=_table(ddb), S3Bucket="no-such-bucket")["ExportDescription"]
    assert started["ExportStatus"] == "IN_PROGRESS"
    desc = _wait(ddb, started["ExportArn"])
    assert (desc["ExportStatus"], desc["FailureCode"]) == ("FAILED", "S3NoSuchBucket")
    assert "The specified bucket does not exist" in desc["FailureMessage"] and "ItemCount" not in desc
    assert ddb.list_exports()["ExportSummaries"][0]["ExportStatus"] == "FAILED"


def test_client_token_repeats_the_export_or_conflicts(ddb, s3):
    """ClientToken (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportTableToPointInTime.html):
    "multiple identical calls have the same effect as one single call"; "If you submit a request with the same
    client token but a change in other parameters within the 8-hour idempotency window, DynamoDB returns an
    ExportConflictException". A request refused by validation reserves nothing."""
    table_arn = _table(ddb)
    with pytest.raises(ClientError):
        ddb.export_table_to_point_in_time(TableArn=table_arn, S3Bucket=BUCKET, S3Prefix="", ClientToken="tok-1")
    first = ddb.export_table_to_point_in_time(TableArn=table_arn, S3Bucket=BUCKET, S3Prefix="a", ClientToken="tok-1")
    again = ddb.export_table_to_point_in_time(TableArn=table_arn, S3Bucket=BUCKET, S3Prefix="a", ClientToken="tok-1")
    assert first["ExportDescription"]["ExportArn"] == again["ExportDescription"]["ExportArn"]
    assert again["ExportDescription"]["ClientToken"] == "tok-1"
    changes = ({"S3Prefix": "b"}, {"S3Bucket": "other-bucket"}, {"S3SseAlgorithm": "KMS"}, {"ExportTime": time.time()})
    for other in changes:
        with pytest.raises(ClientError) as exc:
            ddb.export_table_to_point_in_time(**{"TableArn": table_arn, "S3Bucket": BUCKET, "S3Prefix": "a",
                                                 "ClientToken": "tok-1", **other})
        assert exc.value.response["Error"]["Code"] == "ExportConflictException"
        assert exc.value.response["Error"]["Message"].startswith("Duplicate request detected")
    other_table = _table(ddb, "other")
    with pytest.raises(ClientError) as exc:
        ddb.export_table_to_point_in_time(TableArn=other_table, S3Bucket=BUCKET, S3Prefix="a", ClientToken="tok-1")
    assert exc.value.response["Error"]["Code"] == "ExportConflictException"
    assert len(ddb.list_exports()["ExportSummaries"]) == 1


def test_describe_export_of_an_unknown_export(ddb):
    """DescribeExport (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeExport.html)
    lists ExportNotFoundException, "The specified export was not found"; an ARN that is no export ARN is a
    ValidationException "Invalid Export ARN" (ScyllaDB's AWS-run test_describe_export_nonexistent)."""
    table_arn = _table(ddb)
    with pytest.raises(ClientError) as exc:
        ddb.describe_export(ExportArn=f"{table_arn}/export/01700000000000-0123abcd")
    assert exc.value.response["Error"]["Code"] == "ExportNotFoundException"
    with pytest.raises(ClientError) as exc:
        ddb.describe_export(ExportArn=table_arn + "-not-an-export")
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "Invalid Export ARN" in exc.value.response["Error"]["Message"]


def test_list_exports_filters_by_table_and_pages_newest_first(ddb, s3):
    """ListExports (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ListExports.html): "in
    reverse alphanumeric order of ExportArn", TableArn filters, MaxResults 1 to 25 a page, NextToken for the
    next one; each summary names ExportArn, ExportStatus, ExportType."""
    a, b = _table(ddb, "table-a"), _table(ddb, "table-b")
    made = {a: [], b: []}
    for table_arn, count in ((a, 3), (b, 2)):
        for _ in range(count):
            made[table_arn].append(ddb.export_table_to_point_in_time(TableArn=table_arn, S3Bucket=BUCKET)[
                "ExportDescription"]["ExportArn"])
            time.sleep(0.002)
    pages, kwargs = [], {"TableArn": a, "MaxResults": 2}
    while True:
        page = ddb.list_exports(**kwargs)
        pages.append(page["ExportSummaries"])
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert [len(p) for p in pages] == [2, 1]
    assert [s["ExportArn"] for p in pages for s in p] == sorted(made[a], reverse=True)
    assert all(s["ExportType"] == "FULL_EXPORT" and s["ExportStatus"] in ("IN_PROGRESS", "COMPLETED")
               for p in pages for s in p)
    everything = [s["ExportArn"] for s in ddb.list_exports()["ExportSummaries"]]
    assert everything == sorted(made[a] + made[b], reverse=True)
    for bad in ({"MaxResults": 26}, {"NextToken": "0123456789abcdef" * 4}):
        with pytest.raises(ClientError) as exc:
            ddb.list_exports(**bad)
        assert exc.value.response["Error"]["Code"] == "ValidationException", bad


def _changes_in_a_window(ddb) -> tuple[str, datetime, datetime, dict]:
    """a, b, c, d exist; in the window a is updated twice, b deleted, e inserted, f inserted then deleted;
    after it c changes. Returns (table ARN, start, end, the last write time of a, b, e in micros, bracketed)."""
    table_arn = _table(ddb)
    for name in "abcd":
        ddb.put_item(TableName="orders", Item={"pk": {"S": name}, "v": {"N": "0"}, "bin": {"B": b"\x00\x01"}})
    start = _pause()
    ddb.put_item(TableName="orders", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    ddb.update_item(TableName="orders", Key={"pk": {"S": "a"}}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": "2"}})
    writes = {"a": time.time()}
    ddb.delete_item(TableName="orders", Key={"pk": {"S": "b"}})
    writes["b"] = time.time()
    ddb.put_item(TableName="orders", Item={"pk": {"S": "e"}, "v": {"N": "5"}})
    writes["e"] = time.time()
    ddb.put_item(TableName="orders", Item={"pk": {"S": "f"}, "v": {"N": "6"}})
    ddb.delete_item(TableName="orders", Key={"pk": {"S": "f"}})
    end = _pause()
    ddb.put_item(TableName="orders", Item={"pk": {"S": "c"}, "v": {"N": "9"}})
    return table_arn, start, end, writes


def _incremental(ddb, s3, table_arn, start, end, view) -> tuple[dict, dict, dict[str, dict]]:
    desc = _export(ddb, table_arn, ExportType="INCREMENTAL_EXPORT", IncrementalExportSpecification={
        "ExportFromTime": start, "ExportToTime": end, "ExportViewType": view})
    summary, files, data = _read(s3, desc)
    lines = {line["Keys"]["pk"]["S"]: line for part in data.values() for line in part}
    assert all(k.startswith("AWSDynamoDB/data/") for k in data)  # the shared data folder
    return desc, summary, lines


def test_incremental_export_new_and_old_images_as_documented(ddb, s3):
    """"DynamoDB table export output format"
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html),
    incremental export output: one line per changed item, compacted to its final state in [ExportFromTime,
    ExportToTime) ("The item will only appear once in the
    export even if it has multiple updates", "Requesting a table export in DynamoDB"), with Metadata
    (WriteTimestampMicros), Keys, OldImage (the item right before the start) and NewImage; an insert then
    delete inside the window gives nothing; the summary's version 2023-08-01, exportFromTime, exportToTime,
    outputView and exportType."""
    SETTINGS.incremental_export_min_seconds = 0.05
    table_arn, start, end, writes = _changes_in_a_window(ddb)
    desc, summary, lines = _incremental(ddb, s3, table_arn, start, end, "NEW_AND_OLD_IMAGES")
    assert set(lines) == {"a", "b", "e"} and desc["ItemCount"] == summary["itemCount"] == 3
    old = {"pk": {"S": "a"}, "v": {"N": "0"}, "bin": {"B": "AAE="}}
    assert {k: v for k, v in lines["a"].items() if k != "Metadata"} == {
        "Keys": {"pk": {"S": "a"}}, "OldImage": old, "NewImage": {"pk": {"S": "a"}, "v": {"N": "2"}}}
    assert set(lines["b"]) == {"Metadata", "Keys", "OldImage"} and lines["b"]["OldImage"]["v"] == {"N": "0"}
    assert set(lines["e"]) == {"Metadata", "Keys", "NewImage"} and lines["e"]["NewImage"]["v"] == {"N": "5"}
    for name, line in lines.items():
        micros = int(line["Metadata"]["WriteTimestampMicros"]["N"])
        assert start.timestamp() * 1e6 < micros <= writes[name] * 1e6
    assert (summary["version"], summary["outputView"], summary["exportType"]) == (
        "2023-08-01", "NEW_AND_OLD_IMAGES", "INCREMENTAL_EXPORT")
    assert "exportTime" not in summary and summary["exportFromTime"].startswith(start.strftime("%Y-%m-%dT%H:%M:%S"))
    assert desc["ExportType"] == "INCREMENTAL_EXPORT" and desc["IncrementalExportSpecification"]["ExportViewType"] == (
        "NEW_AND_OLD_IMAGES")


def test_incremental_export_new_image_view(ddb, s3):
    """NEW_IMAGE "exports only the new (latest) image" (IncrementalExportSpecification,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_IncrementalExportSpecification.html):
    inserts and updates carry NewImage, a delete its Keys alone
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html)."""
    SETTINGS.incremental_export_min_seconds = 0.05
    table_arn, start, end, _writes = _changes_in_a_window(ddb)
    _desc, summary, lines = _incremental(ddb, s3, table_arn, start, end, "NEW_IMAGE")
    assert {name: sorted(line) for name, line in lines.items()} == {
        "a": ["Keys", "Metadata", "NewImage"], "b": ["Keys", "Metadata"], "e": ["Keys", "Metadata", "NewImage"]}
    assert lines["a"]["NewImage"]["v"] == {"N": "2"} and summary["outputView"] == "NEW_IMAGE"


def test_incremental_export_window_rules(ddb, s3):
    """"The export period duration must be at least 15 minutes and be no longer than 24 hours", with a start
    "within the PITR window" ("Requesting a table export in DynamoDB",
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport_Requesting.html):
    InvalidExportTimeException ("Difference between export period ...", ScyllaDB's AWS-run
    test_export_incremental_export_time_too_close); ExportType INCREMENTAL_EXPORT needs the specification
    ("If INCREMENTAL_EXPORT is provided, the IncrementalExportSpecification must also be used")."""
    table_arn = _table(ddb)
    time.sleep(0.3)
    now = time.time()
    cases = [  # (specification, the code) with the default 15-minute minimum
        ({"ExportFromTime": now - 0.2, "ExportToTime": now}, "InvalidExportTimeException"),
        ({"ExportFromTime": now - 3600, "ExportToTime": now}, "InvalidExportTimeException"),  # before PITR began
        ({"ExportFromTime": now - 0.2, "ExportToTime": now + 3600}, "InvalidExportTimeException"),  # the future
    ]
    for spec, code in cases:
        with pytest.raises(ClientError) as exc:
            ddb.export_table_to_point_in_time(TableArn=table_arn, S3Bucket=BUCKET, ExportType="INCREMENTAL_EXPORT",
                                              IncrementalExportSpecification=spec)
        assert exc.value.response["Error"]["Code"] == code, spec
    assert exc.value.response["Error"]["Code"] == "InvalidExportTimeException"
    with pytest.raises(ClientError) as exc:
        ddb.export_table_to_point_in_time(TableArn=table_arn, S3Bucket=BUCKET, ExportType="INCREMENTAL_EXPORT",
                                          IncrementalExportSpecification={"ExportFromTime": now - 0.2,
                                                                          "ExportToTime": now})
    assert exc.value.response["Error"]["Message"].startswith("Difference between export period")
    for kwargs in ({"ExportType": "INCREMENTAL_EXPORT"},
                   {"IncrementalExportSpecification": {"ExportFromTime": now - 0.2}}):
        with pytest.raises(ClientError) as exc:
            ddb.export_table_to_point_in_time(TableArn=table_arn, S3Bucket=BUCKET, **kwargs)
        assert exc.value.response["Error"]["Code"] == "ValidationException", kwargs
    # the setting lowers the minimum: the same short window is then taken
    SETTINGS.incremental_export_min_seconds = 0.1
    desc = _export(ddb, table_arn, ExportType="INCREMENTAL_EXPORT",
                   IncrementalExportSpecification={"ExportFromTime": now - 0.2, "ExportToTime": now})
    assert desc["ItemCount"] == 0


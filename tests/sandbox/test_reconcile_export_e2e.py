"""Both methods, end to end on the sandbox's own exports (no file written by a test): a source and a
target restored from it (PITR off on the target, as a restore leaves it), reconciled by scan and by
export with T and R; summary.json's verdict, counts and classes and differences.csv are the same.

The export run is the operator's path: ``pitr-runbook reconcile --method export`` runs notebook 04
with ``method="export"`` (execute), which turns PITR on for the target, makes the runbook's bucket,
exports both tables at one moment (``ExportTableToPointInTime``, the sandbox writing AWS's layout),
waits for both, downloads them with their MD5 checked and compares them on DuckDB. AWS documents:
"ExportTableToPointInTime" (API Reference,
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportTableToPointInTime.html),
"DynamoDB table export output format"
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html),
"RestoreTableToPointInTime" (a restore carries no PITR setting: "Point-in-time recovery settings" are
among what must be set again on the restored table,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery.Tutorial.html).
The sandbox's ``export_seconds`` keeps each export short.
"""

from __future__ import annotations

import csv
import json
import time
from datetime import datetime, timezone

import pytest

from runbook_lib import cli, notebook, steps
from runbook_lib.sandbox import SETTINGS

from test_reconcile_export import BIG, every_type

pytestmark = pytest.mark.slow

#: what only the method changes: how, why, what it cost
METHOD_FIELDS = {"method", "method_reason", "export", "scan_seconds", "items_per_second", "segments",
                 "peak_unmatched_keys", "consumed_capacity_units"}


def _moment() -> datetime:
    time.sleep(1.1)
    at = datetime.now(timezone.utc)
    time.sleep(1.1)
    return at


def _create(ddb, name, *, range_key=None, range_type="N", hash_type="S"):
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": hash_type}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
        attrs.append({"AttributeName": range_key, "AttributeType": range_type})
    ddb.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST",
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})


def _restore(ddb, source, target, at):
    ddb.restore_table_to_point_in_time(SourceTableName=source, TargetTableName=target, RestoreDateTime=at)
    deadline = time.monotonic() + 60
    while ddb.describe_table(TableName=target)["Table"]["TableStatus"] != "ACTIVE":
        assert time.monotonic() < deadline, "restore did not finish"
        time.sleep(0.2)
    pitr = ddb.describe_continuous_backups(TableName=target)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"


def _outcome(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = sorted(json.dumps(row, sort_keys=True) for row in csv.DictReader((run_dir / "differences.csv").open()))
    return {k: v for k, v in summary.items() if k not in METHOD_FIELDS}, rows, summary


def _same(scan_dir, export_dir):
    scan, scan_rows, _ = _outcome(scan_dir)
    exported, export_rows, summary = _outcome(export_dir)
    assert exported == scan
    assert export_rows == scan_rows and export_rows
    return summary


def test_reconcile_command_by_export_gives_the_scan_s_summary_and_differences(aws, endpoint, tmp_path):
    SETTINGS.export_seconds = 0.3
    ddb = aws("dynamodb")
    # GIVEN a source of every attribute type with an item near 400 KB, changed in [T, R) and after R
    _create(ddb, "orders")
    for i in range(20):
        ddb.put_item(TableName="orders", Item={"pk": {"S": f"k{i:03d}"}, **every_type(i)})
    ddb.put_item(TableName="orders", Item={"pk": {"S": "big"}, "blob": {"S": BIG}, **every_type(99)})
    t = _moment()
    ddb.put_item(TableName="orders", Item={"pk": {"S": "k001"}, **every_type(501)})  # in [T, R): explained
    ddb.delete_item(TableName="orders", Key={"pk": {"S": "k002"}})                   # in [T, R): explained
    r = _moment()
    ddb.put_item(TableName="orders", Item={"pk": {"S": "k003"}, **every_type(503)})  # after R: unexplained
    # AND a target restored as of T (PITR off), then changed: one missing, one extra, the big one changed
    _restore(ddb, "orders", "orders-restored", t)
    ddb.delete_item(TableName="orders-restored", Key={"pk": {"S": "k004"}})
    ddb.put_item(TableName="orders-restored", Item={"pk": {"S": "k900"}, **every_type(900)})
    ddb.put_item(TableName="orders-restored", Item={"pk": {"S": "big"}, "blob": {"S": BIG[:-1] + "y"}, **every_type(99)})
    base = ["reconcile", "--source-table", "orders", "--target-table", "orders-restored", "--endpoint-url", endpoint,
            "--restore-time", t.isoformat(), "--replay-from", r.isoformat()]
    # WHEN reconciled by scan, then by export (the notebook, executed)
    assert cli.main([*base, "--method", "scan", "--run-dir", str(tmp_path / "scan")]) == 1
    assert cli.main([*base, "--method", "export", "--run-dir", str(tmp_path / "export")]) == 1
    # THEN the same verdict, counts, classes and differences
    summary = _same(tmp_path / "scan", tmp_path / "export")
    assert summary["verdict"] == "FAIL" and summary["counts"] == {"source": 20, "target": 21}
    assert (summary["explained"], summary["unexplained"]) == (2, 4)
    # AND the export run names the method, the engine, the two real exports and their one moment
    assert (summary["method"], summary["method_reason"], summary["export"]["engine"]) == ("export", "as asked", "duckdb")
    for table, field in (("orders", "source_export_arn"), ("orders-restored", "target_export_arn")):
        arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
        (listed,) = ddb.list_exports(TableArn=arn)["ExportSummaries"]
        assert listed["ExportArn"] == summary["export"][field] and listed["ExportStatus"] == "COMPLETED"
        desc = ddb.describe_export(ExportArn=listed["ExportArn"])["ExportDescription"]
        assert desc["ExportTime"].strftime("%Y-%m-%dT%H:%M:%SZ") == summary["export"]["export_time"]
        assert desc["S3Bucket"] == "pitr-runbook-123456789012-us-east-1"
    pitr = ddb.describe_continuous_backups(TableName="orders-restored")["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"  # turned on by the tool
    assert "method: export (as asked)" in (tmp_path / "export" / "04_reconcile.ipynb").read_text()
    assert "PITR exports of both tables as of" in (tmp_path / "export" / "report.html").read_text()
    assert json.loads((tmp_path / "scan" / "summary.json").read_text())["method"] == "scan"


def test_step_04_by_export_matches_the_scan_on_a_hash_range_pair(aws, endpoint, tmp_path):
    SETTINGS.export_seconds = 0.3
    ddb = aws("dynamodb")
    # GIVEN a hash+range source (binary values, sets, nested maps), a restore as of T, changes around it
    _create(ddb, "events", range_key="sk")
    for c in range(4):
        for n in range(6):
            ddb.put_item(TableName="events", Item={"pk": {"S": f"c{c}"}, "sk": {"N": str(n)}, **every_type(c * 10 + n)})
    t = _moment()
    ddb.put_item(TableName="events", Item={"pk": {"S": "c0"}, "sk": {"N": "1"}, **every_type(77)})
    ddb.put_item(TableName="events", Item={"pk": {"S": "c9"}, "sk": {"N": "0"}, **every_type(78)})  # new in [T, R)
    r = _moment()
    _restore(ddb, "events", "events-restored", t)
    ddb.update_item(TableName="events-restored", Key={"pk": {"S": "c2"}, "sk": {"N": "3"}},
                    UpdateExpression="SET ns = :v", ExpressionAttributeValues={":v": {"NS": ["7"]}})
    ddb.delete_item(TableName="events-restored", Key={"pk": {"S": "c3"}, "sk": {"N": "5"}})

    def run(method, run_dir):
        ctx = notebook.context(source_table="events", target_table="events-restored", endpoint_url=endpoint,
                               region="us-east-1", run_dir=str(run_dir), execute=True, restore_time=t.isoformat(),
                               replay_from=r.isoformat())
        return steps.reconcile.run(ctx, method=method)

    # WHEN step 04 runs by scan and by export
    scan, exported = run("scan", tmp_path / "scan"), run("export", tmp_path / "export")
    # THEN the same outcome
    summary = _same(tmp_path / "scan", tmp_path / "export")
    assert scan.verdict == exported.verdict == "FAIL"
    classes = {(d.key["pk"]["S"], d.key["sk"]["N"]): (d.kind, d.classification) for d in exported.reconciliation.differences}
    assert classes == {("c0", "1"): ("changed", "explained"), ("c9", "0"): ("missing", "explained"),
                       ("c2", "3"): ("changed", "unexplained"), ("c3", "5"): ("missing", "unexplained")}
    assert summary["export"]["engine"] == "duckdb" and summary["export"]["export_time"]

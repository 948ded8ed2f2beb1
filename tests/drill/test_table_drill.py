"""``pitr-runbook drill --source-table`` on an existing sandbox table under live writers, the user's
checks, a drill killed half-way, and ``drill --cleanup`` (issue 13). The command runs in its own
process against the test's sandbox over HTTP (``--endpoint-url``), as on AWS it runs against AWS."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from runbook_lib import drills, times
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.report.summary import key_text
from runbook_lib.sandbox import SETTINGS
from runbook_lib.sandbox.traffic import Traffic, create_demo_table, make_key, seed_items

SOURCE = "orders"
ITEMS = 300


def pitr_runbook(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runbook_lib.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


class RecordingClient:
    """The writers' client: every write with its key number, kind, version and when it was sent and answered."""

    def __init__(self, client):
        self.client = client
        self.ops: list[tuple[str, str, int | None, float, float]] = []
        self.lock = threading.Lock()

    def describe_table(self, **kw):
        return self.client.describe_table(**kw)

    def _op(self, kind: str, call, **kw):
        key = kw.get("Key") or {"pk": kw["Item"]["pk"]}
        version = kw.get("Item", {}).get("version") or (kw.get("ExpressionAttributeValues") or {}).get(":v")
        t0 = time.time()
        result = call(**kw)
        with self.lock:
            self.ops.append((key_text(key), kind, int(version["N"]) if version else None, t0, time.time()))
        return result

    def put_item(self, **kw):
        return self._op("put", self.client.put_item, **kw)

    def update_item(self, **kw):
        return self._op("update", self.client.update_item, **kw)

    def delete_item(self, **kw):
        return self._op("delete", self.client.delete_item, **kw)


def _source(aws) -> None:
    ddb = aws("dynamodb")
    create_demo_table(ddb, SOURCE)
    seed_items(ddb, SOURCE, ITEMS, seed=3)
    arn = ddb.describe_table(TableName=SOURCE)["Table"]["TableArn"]
    ddb.update_time_to_live(TableName=SOURCE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "payments"}])
    time.sleep(1.1)  # the restorable window passes the load


def _settings(aws) -> dict:
    """The source's settings, without what changes by itself (counts, the restorable window's end)."""
    ddb = aws("dynamodb")
    desc = ddb.describe_table(TableName=SOURCE)["Table"]
    for volatile in ("ItemCount", "TableSizeBytes"):
        desc.pop(volatile, None)
    pitr = ddb.describe_continuous_backups(TableName=SOURCE)["ContinuousBackupsDescription"]
    pitr["PointInTimeRecoveryDescription"].pop("LatestRestorableDateTime", None)
    return {"table": desc, "ttl": ddb.describe_time_to_live(TableName=SOURCE)["TimeToLiveDescription"], "pitr": pitr,
            "tags": ddb.list_tags_of_resource(ResourceArn=desc["TableArn"])["Tags"]}


def _scan(aws, table: str) -> dict[str, dict]:
    ddb, items, kwargs = aws("dynamodb"), {}, {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        items.update({key_text({"pk": i["pk"]}): i for i in page["Items"]})
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _drill_tables(aws) -> list[str]:
    return [n for n in aws("dynamodb").list_tables()["TableNames"] if "-drill-" in n]


def _ts(text: str) -> float:
    return times.parse_iso(text).timestamp()


def test_drill_on_a_live_table_passes_explains_the_writes_since_t_deletes_the_scratch_and_leaves_the_source_untouched(
        aws, endpoint, tmp_path):
    # GIVEN a table with TTL, tags, PITR and a stream, under live writers
    SETTINGS.restore_seconds = 3.0
    _source(aws)
    before = _settings(aws)
    seeded = _scan(aws, SOURCE)
    writers = RecordingClient(aws("dynamodb"))
    traffic = Traffic(writers, SOURCE, rate=25, key_space=ITEMS, seed=5).start()
    try:
        # WHEN the drill runs on it
        proc = pitr_runbook("drill", "--source-table", SOURCE, "--endpoint-url", endpoint, "--run-dir",
                            str(tmp_path / "run"), "--no-redact-keys", "--rto-target", "1h")
    finally:
        traffic.stop()
    # THEN it passes, with every difference explained by a write since T
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["kind"] == "drill" and summary["verdict"] == "PASS"
    assert summary["unexplained"] == 0 and summary["in_flight"] == 0 and summary["explained"] > 0
    assert summary["source_table"] == SOURCE and summary["target_table"].startswith(f"{SOURCE}-drill-")
    drill = summary["drill"]
    assert drill["scratch_table"] == summary["target_table"] and drill["scratch_deleted"] is True
    assert 0 < drill["source_items"] <= ITEMS and drill["encryption"] == "aws-owned"
    assert summary["rto_seconds"] >= 2.5 and {"check": "rto_target", "ok": True} .items() <= drill["checks"][1].items()
    rows = list(csv.DictReader((tmp_path / "run" / "differences.csv").open()))
    explained = {r["key"] for r in rows if r["classification"] == "explained"}
    assert len(explained) == summary["explained"] == len(rows)
    # ... exactly the keys written since T: the writers' own record, up to the two boundaries a client
    # cannot place to the second (writes in the second of T, and writes made while the drill read)
    t_floor, active = _ts(summary["restore_time"]), _ts(summary["timings"]["active"])
    ops = sorted(writers.ops, key=lambda op: op[3])
    written_since_t = {key for key, _, _, _, t1 in ops if t1 >= t_floor}
    present_at_t: dict[str, bool] = {key: True for key in seeded}
    near_t: set[str] = set()
    for key, kind, _, t0, t1 in ops:
        if t1 < t_floor - 1:
            present_at_t[key] = kind != "delete"
        elif t0 <= t_floor + 1:
            near_t.add(key)
    surely_after_t = {key for key, _, _, t0, t1 in ops if t0 > t_floor + 1 and t1 < active}
    certain = {k for k in surely_after_t - near_t if present_at_t.get(k)}
    assert len(certain) >= 10, "too few writes between T and ACTIVE to prove anything"
    assert certain <= explained, sorted(certain - explained)[:5]
    assert explained <= written_since_t, sorted(explained - written_since_t)[:5]
    # the scratch table is gone
    assert _drill_tables(aws) == []
    # the source: its settings as before, its items exactly what the writers made of them
    assert _settings(aws) == before
    after = _scan(aws, SOURCE)
    last: dict[str, tuple[str, int | None]] = {}
    for key, kind, version, _, _ in ops:
        last[key] = (kind, version)
    for key in set(seeded) | set(last):
        if key not in last:
            assert after.get(key) == seeded[key], key
        elif last[key][0] == "delete":
            assert key not in after, key
        else:
            assert int(after[key]["version"]["N"]) == last[key][1], key
    assert "canary-" not in (tmp_path / "run" / "report.html").read_text()


CHECKS = '''
import time

def check_reads_the_restored_table(ctx):
    assert ctx.source_table == "orders" and ctx.table_name.startswith("orders-drill-") and ctx.region == "us-east-1"
    assert ctx.restore_time.tzinfo is not None
    assert ctx.table.scan(Select="COUNT")["Count"] == 300

def check_that_fails(ctx):
    assert ctx.table.item_count < 0, "orders without a customer: 3"

def check_that_raises(ctx):
    {}["missing"]

def check_that_hangs(ctx):
    time.sleep(60)
'''


def test_checks_that_pass_fail_and_time_out_show_as_such_and_a_failing_check_exits_1(aws, endpoint, tmp_path):
    _source(aws)
    checks = tmp_path / "checks.py"
    checks.write_text(CHECKS)
    proc = pitr_runbook("drill", "--source-table", SOURCE, "--endpoint-url", endpoint, "--check", str(checks),
                        "--check-timeout", "3", "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["verdict"] == "PASS"  # the data reconciled; the checks fail the drill
    results = {c["name"]: c for c in summary["drill"]["user_checks"]}
    assert {n: c["status"] for n, c in results.items()} == {
        "check_reads_the_restored_table": "SUCCESSFUL", "check_that_fails": "FAILED",
        "check_that_raises": "FAILED", "check_that_hangs": "TIMED_OUT"}
    assert results["check_that_fails"]["message"] == "orders without a customer: 3"
    assert results["check_that_raises"]["message"] == "KeyError: 'missing'"
    assert 3 <= results["check_that_hangs"]["seconds"] < 10 and all(c["seconds"] >= 0 for c in results.values())
    page = (tmp_path / "run" / "report.html").read_text()
    assert "your check check_that_hangs" in page and "TIMED_OUT" in page and "orders without a customer: 3" in page
    assert "FAILED" in proc.stdout and "TIMED_OUT" in proc.stdout
    assert _drill_tables(aws) == []
    # the same drill with the passing check alone exits 0
    only_pass = tmp_path / "pass.py"
    only_pass.write_text(CHECKS.split("def check_that_fails")[0])
    proc = pitr_runbook("drill", "--source-table", SOURCE, "--endpoint-url", endpoint, "--check", str(only_pass),
                        "--run-dir", str(tmp_path / "run2"))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]


def test_a_check_file_without_checks_stops_the_drill_before_any_restore(aws, endpoint, tmp_path):
    _source(aws)
    empty = tmp_path / "none.py"
    empty.write_text("def helper(ctx):\n    pass\n")
    proc = pitr_runbook("drill", "--source-table", SOURCE, "--endpoint-url", endpoint, "--check", str(empty),
                        "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 2 and "no top-level function named check_" in proc.stderr
    assert _drill_tables(aws) == []


def test_a_drill_killed_after_its_restore_started_leaves_nothing_cleanup_does_not_remove(aws, endpoint, tmp_path):
    SETTINGS.restore_seconds = 4.0
    _source(aws)
    ddb = aws("dynamodb")
    proc = subprocess.Popen([sys.executable, "-m", "runbook_lib.cli", "drill", "--source-table", SOURCE,
                             "--endpoint-url", endpoint, "--run-dir", str(tmp_path / "run")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _drill_tables(aws):
            assert time.monotonic() < deadline and proc.poll() is None, "the drill never started its restore"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)  # nothing of the drill runs after this
        proc.wait(10)
    [scratch] = _drill_tables(aws)
    desc = ddb.describe_table(TableName=scratch)["Table"]
    assert desc["TableStatus"] == "CREATING"
    assert ddb.list_tags_of_resource(ResourceArn=desc["TableArn"])["Tags"] == []  # killed before it could tag
    # while it is still restoring, cleanup cannot delete it (DeleteTable refuses a CREATING table) and says so
    out = pitr_runbook("drill", "--cleanup", "--endpoint-url", endpoint)
    assert out.returncode == 0 and f"pending {scratch}" in out.stdout, out.stdout + out.stderr
    assert _drill_tables(aws) == [scratch]
    while ddb.describe_table(TableName=scratch)["Table"]["TableStatus"] != "ACTIVE":
        time.sleep(0.2)
    out = pitr_runbook("drill", "--cleanup", "--endpoint-url", endpoint)
    assert out.returncode == 0 and f"deleted {scratch} (an interrupted drill's" in out.stdout, out.stdout + out.stderr
    assert ddb.list_tables()["TableNames"] == [SOURCE]


def test_cleanup_deletes_only_due_tables_with_both_the_drill_name_and_the_drill_tag(aws, endpoint, tmp_path):
    _source(aws)
    ddb = aws("dynamodb")
    past, future = datetime(2026, 1, 1, tzinfo=timezone.utc), times.utcnow() + timedelta(days=1)
    stamp = times.utcnow().strftime("%Y%m%dT%H%M%SZ")

    def table(name: str, tags: list[dict] | None = None, restore_from: str | None = None) -> None:
        if restore_from:
            ddb.restore_table_to_point_in_time(SourceTableName=restore_from, TargetTableName=name,
                                               UseLatestRestorableTime=True)
            ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
            while ddb.describe_table(TableName=name)["Table"]["TableStatus"] != "ACTIVE":
                time.sleep(0.2)
        else:
            create_demo_table(ddb, name, pitr=False, stream=None)
        if tags:
            ddb.tag_resource(ResourceArn=ddb.describe_table(TableName=name)["Table"]["TableArn"], Tags=tags)

    due = [{"Key": "pitr-runbook:drill", "Value": "true"}, {"Key": "pitr-runbook:expires", "Value": times.iso_second(past)}]
    table(f"{SOURCE}-drill-20260101T000000Z", due)                              # deleted: name, tag, due
    table(f"{SOURCE}-drill-{stamp}", [due[0], {"Key": "pitr-runbook:expires", "Value": times.iso_second(future)}])  # kept
    table("orders-copy", due)                                                   # the tag without the name
    table(f"{SOURCE}-drill-20251231T235959Z")                                   # the name, made by CreateTable
    table(f"{SOURCE}-drill-20251231T235958Z", [{"Key": "pitr-runbook:drill", "Value": "false"}])
    table("invoices", None)
    table(f"invoices-drill-{stamp}", restore_from=SOURCE)                       # restored from another table
    out = pitr_runbook("drill", "--cleanup", "--endpoint-url", endpoint)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"deleted {SOURCE}-drill-20260101T000000Z (due)" in out.stdout
    assert sorted(ddb.list_tables()["TableNames"]) == sorted([
        SOURCE, f"{SOURCE}-drill-{stamp}", "orders-copy", f"{SOURCE}-drill-20251231T235959Z",
        f"{SOURCE}-drill-20251231T235958Z", "invoices", f"invoices-drill-{stamp}"])
    # --source-table limits cleanup to that table's drills: a day later the kept one is due, but not for invoices
    report = drills.cleanup(AwsTarget("us-east-1", endpoint), source_table="invoices", now=future + timedelta(hours=1))
    assert report.deleted == [] and f"{SOURCE}-drill-{stamp}" in ddb.list_tables()["TableNames"]
    report = drills.cleanup(AwsTarget("us-east-1", endpoint), source_table=SOURCE, now=future + timedelta(hours=1))
    assert report.deleted == [f"{SOURCE}-drill-{stamp}"]


def test_keep_for_keeps_the_scratch_table_tagged_until_it_is_due(aws, endpoint, tmp_path):
    _source(aws)
    proc = pitr_runbook("drill", "--source-table", SOURCE, "--endpoint-url", endpoint, "--keep-for", "2h",
                        "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    [scratch] = _drill_tables(aws)
    ddb = aws("dynamodb")
    tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(
        ResourceArn=ddb.describe_table(TableName=scratch)["Table"]["TableArn"])["Tags"]}
    assert tags["pitr-runbook:drill"] == "true" and tags["pitr-runbook:source"] == SOURCE
    expires = times.parse_iso(tags["pitr-runbook:expires"])
    assert timedelta(hours=1, minutes=59) < expires - times.utcnow() <= timedelta(hours=2)
    assert summary["drill"]["scratch_deleted"] is False and summary["drill"]["scratch_expires"] == tags["pitr-runbook:expires"]
    assert "deleted" not in pitr_runbook("drill", "--cleanup", "--endpoint-url", endpoint).stdout
    assert drills.cleanup(AwsTarget("us-east-1", endpoint), now=expires).deleted == [scratch]


def test_the_operator_policy_for_drill_tables_covers_the_drill_and_cleanup_and_deletes_nothing_else(aws, endpoint, tmp_path):
    """As an IAM user holding only infra/operator-policy.json rendered with --target-table 'orders-drill-*'
    (the sandbox evaluates IAM for its users' keys): the drill and cleanup run, every call they make is in
    tests/unit/golden/operator_calls.txt, and DeleteTable of a table without the drill name is refused."""
    import os

    from botocore.exceptions import ClientError

    from runbook_lib.aws import clients
    from runbook_lib.drill import create_operator
    from test_drill_as_operator import assert_recorded_calls_listed  # tests/drill is on sys.path

    _source(aws)
    create_demo_table(aws("dynamodb"), "invoices", pitr=False, stream=None)
    create_demo_table(aws("dynamodb"), "billing-drill-log", pitr=False, stream=None)  # "-drill-" but no stamp
    root = AwsTarget("us-east-1", endpoint)
    operator = create_operator(root, source_table=SOURCE, target_table=f"{SOURCE}-drill-*", cfn_role_arn="unused")
    env = {**os.environ, **operator.environment(), clients.RECORD_CALLS_ENV: str(tmp_path / "calls.txt")}
    checks = tmp_path / "checks.py"
    checks.write_text(CHECKS.split("def check_that_fails")[0])
    run = subprocess.run([sys.executable, "-m", "runbook_lib.cli", "drill", "--source-table", SOURCE, "--endpoint-url",
                          endpoint, "--check", str(checks), "--keep-for", "1h", "--run-dir", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    [scratch] = [n for n in _drill_tables(aws) if n != "billing-drill-log"]
    ddb = aws("dynamodb")
    ddb.tag_resource(ResourceArn=ddb.describe_table(TableName=scratch)["Table"]["TableArn"],
                     Tags=[{"Key": "pitr-runbook:expires", "Value": "2026-01-01T00:00:00Z"}])  # due now
    out = subprocess.run([sys.executable, "-m", "runbook_lib.cli", "drill", "--cleanup", "--endpoint-url", endpoint],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0 and f"deleted {scratch} (due)" in out.stdout, out.stdout + out.stderr
    assert_recorded_calls_listed(tmp_path / "calls.txt")
    recorded = (tmp_path / "calls.txt").read_text()
    assert "dynamodb DeleteTable" in recorded and "dynamodb TagResource" in recorded
    as_operator = boto3_client_as(endpoint, operator)
    with pytest.raises(ClientError) as refused:
        as_operator.delete_table(TableName="invoices")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    # DeleteDrillScratchTables names <source>-drill-<UTC stamp>: a table that only has "-drill-" in its name is kept
    with pytest.raises(ClientError) as refused:
        as_operator.delete_table(TableName="billing-drill-log")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert {"invoices", "billing-drill-log"} <= set(ddb.list_tables()["TableNames"])


def boto3_client_as(endpoint: str, operator):
    import boto3

    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=operator.access_key_id, aws_secret_access_key=operator.secret_access_key)


@pytest.mark.parametrize("case", ["missing", "pitr-off"])
def test_a_source_that_cannot_be_restored_stops_the_drill_with_exit_2_and_creates_nothing(aws, endpoint, case, tmp_path):
    if case == "pitr-off":
        create_demo_table(aws("dynamodb"), SOURCE, pitr=False)
    proc = pitr_runbook("drill", "--source-table", SOURCE, "--endpoint-url", endpoint, "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert ("does not exist" if case == "missing" else "PITR is off") in proc.stderr
    assert _drill_tables(aws) == []


def test_a_drill_stopped_with_sigterm_after_its_restore_deletes_its_scratch_table_and_exits_130(aws, endpoint, tmp_path):
    """A scheduler stops a task with SIGTERM (ECS: "StopTask" sends SIGTERM, then SIGKILL after the stop
    timeout): the drill stops as on Ctrl-C and removes what it made."""
    _source(aws)
    ddb = aws("dynamodb")
    checks = tmp_path / "checks.py"
    checks.write_text("import time\n\ndef check_that_hangs(ctx):\n    time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-m", "runbook_lib.cli", "drill", "--source-table", SOURCE, "--endpoint-url",
                             endpoint, "--check", str(checks), "--check-timeout", "100", "--run-dir", str(tmp_path / "run")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:  # until the scratch table is tagged: ACTIVE, and the drill has moved on to its checks
            assert time.monotonic() < deadline and proc.poll() is None, "the drill never tagged its table"
            tables = _drill_tables(aws)
            if tables and ddb.list_tags_of_resource(
                    ResourceArn=ddb.describe_table(TableName=tables[0])["Table"]["TableArn"])["Tags"]:
                break
            time.sleep(0.1)
        time.sleep(3.0)  # reconciling, then in the hanging check
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    assert "interrupted" in err and "deleted" in out
    assert _drill_tables(aws) == []

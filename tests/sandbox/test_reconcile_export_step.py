"""Step 04 with ``method``: the plan says which method and why; an export needs execute=True; the
exports it starts are the ones compared (the export itself is tested in test_reconcile_export_start)."""

from __future__ import annotations

import pytest

from runbook_lib import notebook, steps
from runbook_lib.reconcile.exports import ExportPair
from runbook_lib.reconcile.exports import start as export_start

from test_reconcile_export import BUCKET, scan_all, upload_export


def _ctx(endpoint, tmp_path, *, execute):
    return notebook.context(source_table="orders", target_table="orders-r", endpoint_url=endpoint, region="us-east-1",
                            run_dir=str(tmp_path), execute=execute)


@pytest.fixture
def tables(aws):
    ddb = aws("dynamodb")
    for name in ("orders", "orders-r"):
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        for i in range(5 if name == "orders" else 4):
            ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "v": {"N": str(i)}})
    return ddb


def test_auto_scans_a_small_pair_and_says_why_in_the_plan(tables, endpoint, tmp_path, capsys):
    result = steps.reconcile.run(_ctx(endpoint, tmp_path, execute=False), reread_rounds=1)
    assert "method: scan (about 9 items in both tables <= 5,000,000)" in capsys.readouterr().out
    assert result.verdict == "FAIL" and len(result.reconciliation.missing_in_target) == 1


def test_export_without_execute_is_a_dry_run_that_exports_nothing(tables, endpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(export_start, "exports_for", lambda *a, **k: pytest.fail("exported in a dry run"))
    result = steps.reconcile.run(_ctx(endpoint, tmp_path, execute=False), method="export")
    assert not result.executed and result.verdict is None
    assert "dry run: would export orders and orders-r" in result.outcome and "--method export" in result.outcome


def test_export_with_execute_compares_the_exports_it_started(tables, aws, endpoint, tmp_path, monkeypatch):
    # GIVEN exports of both tables in AWS's layout (the sandbox's own exports are another branch's work)
    s3 = aws("s3")
    s3.create_bucket(Bucket=BUCKET)
    pair = ExportPair(upload_export(s3, "orders", scan_all(tables, "orders"), export_id="01700000000000-aaaaaaaa"),
                      upload_export(s3, "orders-r", scan_all(tables, "orders-r"), export_id="01700000000001-bbbbbbbb"),
                      progress=False)
    asked = {}

    def exports_for(target, source_table, target_table, **kwargs):
        asked.update(kwargs, tables=(source_table, target_table))
        return pair

    monkeypatch.setattr(export_start, "exports_for", exports_for)
    # WHEN step 04 runs with method="export"
    result = steps.reconcile.run(_ctx(endpoint, tmp_path, execute=True), method="export", export_bucket="b")
    # THEN it asked for exports of both tables into that bucket, and the verdict is the exports'
    assert asked == {"tables": ("orders", "orders-r"), "bucket": "b", "athena_workgroup": None, "athena_output": None}
    assert result.verdict == "FAIL" and [d.key for d in result.reconciliation.differences] == [{"pk": {"S": "k4"}}]

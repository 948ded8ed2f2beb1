"""`pitr-runbook reconcile` on two existing tables: the same outputs and exit status as a run."""

from __future__ import annotations

import csv
import json

import pytest

from runbook_lib import cli
from runbook_lib.sandbox.traffic import create_demo_table, seed_items

pytestmark = pytest.mark.slow


def test_reconcile_two_tables_made_by_other_means(aws, endpoint, tmp_path, capsys):
    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders", pitr=False)
    create_demo_table(ddb, "orders-backup", pitr=False, stream=None)
    seed_items(ddb, "orders", 30, seed=1)
    seed_items(ddb, "orders-backup", 30, seed=1)

    # identical tables: PASS, exit 0
    same = tmp_path / "same"
    assert cli.main(["reconcile", "--source-table", "orders", "--target-table", "orders-backup",
                     "--endpoint-url", endpoint, "--run-dir", str(same)]) == 0
    summary = json.loads((same / "summary.json").read_text())
    assert summary["verdict"] == "PASS" and summary["counts"] == {"source": 30, "target": 30}
    assert (same / "report.html").exists() and (same / "04_reconcile.ipynb").exists()

    # one item changed, one missing: FAIL, exit 1, both listed by key with the attribute named
    ddb.update_item(TableName="orders-backup", Key={"pk": {"S": "k0000003"}}, UpdateExpression="SET version = :v",
                    ExpressionAttributeValues={":v": {"N": "99"}})
    ddb.delete_item(TableName="orders-backup", Key={"pk": {"S": "k0000004"}})
    differ = tmp_path / "differ"
    assert cli.main(["reconcile", "--source-table", "orders", "--target-table", "orders-backup",
                     "--endpoint-url", endpoint, "--run-dir", str(differ)]) == 1
    summary = json.loads((differ / "summary.json").read_text())
    assert summary["verdict"] == "FAIL" and summary["unexplained"] == 2
    rows = list(csv.DictReader((differ / "differences.csv").open()))
    text = json.dumps(rows)
    assert "k0000003" in text and "k0000004" in text and "version" in text
    assert "canary-" not in (differ / "report.html").read_text() + text
    assert "verdict: FAIL" in capsys.readouterr().out

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


def test_reconcile_redact_keys_through_the_notebook_shows_only_keyed_digests(aws, endpoint, tmp_path):
    """``--redact-keys --key-digest-secret-arn``: the notebook reads the secret and every key in
    differences.csv, report.html, summary.json and the executed notebook is its keyed digest."""
    from runbook_lib.cdc.codec import KeyDigest

    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders", pitr=False)
    create_demo_table(ddb, "orders-backup", pitr=False, stream=None)
    seed_items(ddb, "orders", 10, seed=1)
    seed_items(ddb, "orders-backup", 10, seed=1)
    ddb.delete_item(TableName="orders-backup", Key={"pk": {"S": "k0000004"}})
    arn = aws("secretsmanager").create_secret(Name="orders-key-digest", SecretString="r" * 64)["ARN"]

    run = tmp_path / "redacted"
    assert cli.main(["reconcile", "--source-table", "orders", "--target-table", "orders-backup",
                     "--endpoint-url", endpoint, "--run-dir", str(run), "--redact-keys",
                     "--key-digest-secret-arn", arn]) == 1

    (row,) = list(csv.DictReader((run / "differences.csv").open()))
    digest = KeyDigest("r" * 64)({"pk": {"S": "k0000004"}})
    assert row["key"] == row["key_hash"] == digest
    for name in ("differences.csv", "report.html", "summary.json", "04_reconcile.ipynb"):
        text = (run / name).read_text()
        assert "k0000004" not in text, name
        assert "r" * 64 not in text, name
    assert json.loads((run / "summary.json").read_text())["key_digest"]["secret_arn"] == arn


@pytest.mark.parametrize("missing", ["source", "target"])
def test_reconcile_on_a_table_that_does_not_exist_exits_2_naming_it_and_writes_nothing(aws, endpoint, tmp_path,
                                                                                      capsys, missing):
    """The command compares two existing tables: a missing one is an operator error, not a dry run."""
    ddb = aws("dynamodb")
    present = "orders-backup" if missing == "source" else "orders"
    create_demo_table(ddb, present, pitr=False, stream=None)
    source, target = ("no-such-source", present) if missing == "source" else (present, "no-such-target")
    run = tmp_path / "run"
    assert cli.main(["reconcile", "--source-table", source, "--target-table", target,
                     "--endpoint-url", endpoint, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    absent = source if missing == "source" else target
    assert len(err) == 1 and f"{missing} table {absent} does not exist" in err[0] and "--region" in err[0], err
    assert not run.exists()

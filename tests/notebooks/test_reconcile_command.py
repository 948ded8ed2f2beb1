"""`pitr-runbook reconcile` on two existing tables: the same outputs and exit status as a run."""

from __future__ import annotations

import csv
import json
import re

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


def test_reconcile_of_two_tables_reports_only_what_it_did_and_what_to_do_next(aws, endpoint, tmp_path):
    """A report of two tables compared has counts, differences, keys and the next steps; nothing of a
    restore, a buffer or a drill it did not have: no timeline, no drain, no dashes, no blank figure."""
    # GIVEN two tables made with plain boto3 that differ by one missing, one extra and one changed item
    ddb = aws("dynamodb")
    for table in ("orders", "orders-copy"):
        ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        for n in range(20):
            ddb.put_item(TableName=table, Item={"pk": {"S": f"order#{n}"}, "total": {"N": str(n)}})
    ddb.put_item(TableName="orders-copy", Item={"pk": {"S": "order#3"}, "total": {"N": "999"}})
    ddb.delete_item(TableName="orders-copy", Key={"pk": {"S": "order#4"}})
    ddb.put_item(TableName="orders-copy", Item={"pk": {"S": "order#extra"}, "total": {"N": "1"}})

    # WHEN they are reconciled
    run = tmp_path / "run"
    assert cli.main(["reconcile", "--source-table", "orders", "--target-table", "orders-copy",
                     "--endpoint-url", endpoint, "--run-dir", str(run)]) == 1

    # THEN the page has counts, what to do next and the keys, and no section of a run it was not
    page = (run / "report.html").read_text()
    sections = re.findall(r"<h2>([^<(]+?)\s*(?:\(|</h2>)", page)
    assert sections == ["What to do next", "Counts", "Differences by class", "Differing keys"], sections
    assert page.count("data:image/png") == 1  # the differences' figure only
    for absent in ("&ndash;", "no times recorded", "no buffer samples", "writes arrived", "RTO", "capture start"):
        assert absent not in page, absent
    assert "Give T and R if the target is a restore" in page and "--show-values --run-dir RESTRICTED_DIR" in page
    assert "order#extra" in page and "canary-" not in page
    # and summary.json holds what the run knows, nothing null or empty
    summary = json.loads((run / "summary.json").read_text())
    assert summary["schema_version"] == 2 and summary["kind"] == "reconcile"
    assert summary["differences"] == {"missing": 1, "extra": 1, "changed": 1, "total": 3}
    for absent in ("timings", "buffer", "rto_seconds", "capture_start", "drill", "faults", "restore_time", "mode"):
        assert absent not in summary, absent
    assert [step["rule"] for step in summary["next_steps"]] == ["no_window", "missing_or_extra", "changed"]
    assert None not in summary.values() and [] not in summary.values() and {} not in summary.values()
    # and the notebook's view of the step says the same, without empty columns
    notebook = (run / "04_reconcile.ipynb").read_text()
    assert "What to do next" in notebook and "NaT" not in notebook

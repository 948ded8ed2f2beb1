"""``pitr-runbook history`` from a runs directory and from the bucket ``publish`` fills (the sandbox
over HTTP): the drills per table, the figure, and the one line naming the tables that need a look.

AWS documents followed: "ListObjectsV2", Amazon S3 API Reference
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html: at most 1,000 keys a page,
``ContinuationToken`` for the next), as the history reads every page.
"""

from __future__ import annotations

import csv
import json
from datetime import timedelta

import pytest
from drill_summaries import drill_summary, write_run

from runbook_lib import cli, times
from runbook_lib.schedule.history import parse_interval
from runbook_lib.errors import InputError


NOW = times.utcnow().replace(microsecond=0)


def _runs(root):
    """Four tables: orders healthy; invoices' last drill failed; carts overdue; users' RTO grew past its target."""
    write_run(root, "o1", drill_summary("orders", when=NOW - timedelta(days=8), rto=300))
    write_run(root, "o2", drill_summary("orders", when=NOW - timedelta(days=1), rto=320))
    write_run(root, "i1", drill_summary("invoices", when=NOW - timedelta(days=8)))
    write_run(root, "i2", drill_summary("invoices", verdict="FAIL", unexplained=4, when=NOW - timedelta(days=1)))
    write_run(root, "c1", drill_summary("carts", when=NOW - timedelta(days=10), rto=100))
    write_run(root, "u1", drill_summary("users", when=NOW - timedelta(days=8), rto=500, target=600, items=1000))
    write_run(root, "u2", drill_summary("users", when=NOW - timedelta(days=1), rto=900, target=600, items=2000))
    # not a drill: a reconcile run in the same directory is left out
    other = drill_summary("elsewhere")
    other["kind"] = "reconcile"
    write_run(root, "r1", other)


def _attention(stdout: str) -> str:
    (line,) = [line for line in stdout.splitlines() if line.startswith("attention:")]
    return line


def test_history_of_a_runs_dir_names_failed_overdue_and_over_target_tables(tmp_path, capsys):
    _runs(tmp_path / "runs")
    assert cli.main(["history", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    line = _attention(out)
    assert "orders" not in line and "elsewhere" not in out
    assert "invoices: last drill FAIL" in line
    assert "carts: overdue: last drill 10 d ago, expected every 7 d" in line
    assert "users: RTO 15 min 00 s grew past its target 10 min 00 s" in line
    rows = list(csv.DictReader((tmp_path / "out" / "history.csv").open()))
    assert [(r["table"], r["verdict"]) for r in rows] == [
        ("carts", "PASS"), ("invoices", "PASS"), ("invoices", "FAIL"), ("orders", "PASS"), ("orders", "PASS"),
        ("users", "PASS"), ("users", "PASS")]
    assert [r["rto_seconds"] for r in rows if r["table"] == "users"] == ["500.0", "900.0"]
    assert rows[2]["unexplained"] == "4" and rows[2]["checks"] == "1/2 ok; failed: verdict"
    assert (tmp_path / "out" / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_history_says_none_need_a_look_when_all_are_fine(tmp_path, capsys):
    write_run(tmp_path, "o1", drill_summary("orders", when=NOW - timedelta(days=2)))
    assert cli.main(["history", "--runs-dir", str(tmp_path), "--expect-every", "3d"]) == 0
    assert _attention(capsys.readouterr().out).startswith("attention: none (1 table(s)")
    assert (tmp_path / "history.png").exists()  # the runs dir is the default --out
    assert cli.main(["history", "--runs-dir", str(tmp_path), "--expect-every", "1d"]) == 0
    assert "orders: overdue" in _attention(capsys.readouterr().out)


def test_a_passing_drill_with_a_failed_user_check_counts_as_failed(tmp_path, capsys):
    write_run(tmp_path, "o1", drill_summary("orders", checks_ok=False, when=NOW - timedelta(hours=2)))
    assert cli.main(["history", "--runs-dir", str(tmp_path)]) == 0
    assert "orders: last drill FAIL (1/2 ok; failed: check_orders_have_totals)" in _attention(capsys.readouterr().out)


def test_history_reads_the_drill_history_jsonl_for_run_dirs_elsewhere(tmp_path, capsys):
    """drill.append_history records each drill's run directory: one outside --runs-dir is found through it."""
    run = write_run(tmp_path / "elsewhere", "d1", drill_summary("orders", when=NOW - timedelta(hours=1)))
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "history.jsonl").write_text(json.dumps({"run_dir": str(run), "verdict": "PASS"}) + "\n")
    assert cli.main(["history", "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "orders" in out and "attention: none" in out


def test_history_of_a_bucket_reads_what_publish_uploaded(aws, endpoint, tmp_path, capsys):
    aws("s3").create_bucket(Bucket="drill-runs")
    _runs(tmp_path / "runs")
    for run in sorted((tmp_path / "runs").iterdir()):
        assert cli.main(["publish", "--endpoint-url", endpoint, "--run-dir", str(run), "--bucket", "s3://drill-runs/ev"]) == 0
    capsys.readouterr()
    assert cli.main(["history", "--endpoint-url", endpoint, "--bucket", "s3://drill-runs/ev", "--out", str(tmp_path / "h")]) == 0
    out = capsys.readouterr().out
    line = _attention(out)
    assert "invoices: last drill FAIL" in line and "carts: overdue" in line and "users: RTO" in line
    rows = list(csv.DictReader((tmp_path / "h" / "history.csv").open()))
    assert len(rows) == 7 and all(r["run"].startswith(f"s3://drill-runs/ev/{r['table']}/") for r in rows)


@pytest.mark.parametrize("source", ["missing-dir", "empty-dir", "empty-bucket", "missing-bucket"])
def test_history_without_drills_is_an_operator_error(aws, endpoint, tmp_path, capsys, source):
    aws("s3").create_bucket(Bucket="drill-runs")
    (tmp_path / "empty").mkdir()
    args = {"missing-dir": ["--runs-dir", str(tmp_path / "nothing")], "empty-dir": ["--runs-dir", str(tmp_path / "empty")],
            "empty-bucket": ["--bucket", "s3://drill-runs/ev"], "missing-bucket": ["--bucket", "s3://no-such-bucket"]}[source]
    assert cli.main(["history", "--endpoint-url", endpoint, *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("no drills" in err or "does not exist" in err)


@pytest.mark.parametrize("text", ["0d", "soon", "3 days ago", ""])
def test_expect_every_takes_a_positive_duration(text):
    with pytest.raises(InputError):
        parse_interval(text)
    assert parse_interval("36h") == timedelta(hours=36)

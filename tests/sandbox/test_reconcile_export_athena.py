"""The Athena path against the sandbox. The sandbox (moto) does not execute SQL: these tests check
the statements sent (the external tables over the exports' data folders, and the comparison as the
very text DuckDB's local run transpiles), the calls (StartQueryExecution in the workgroup with the
output location, GetQueryExecution until SUCCEEDED, GetQueryResults pages without the header row),
and that answers in Athena's shape give the same reconciliation as the scan. The answers are queued
on moto's Athena results API; the comparison's rows are those DuckDB computes on the same exports.

AWS documents followed: "StartQueryExecution", "GetQueryExecution", "GetQueryResults" (Amazon Athena
API Reference) and "CREATE TABLE" (Amazon Athena User Guide).
"""

from __future__ import annotations

import requests
import pytest

from runbook_lib.aws.clients import AwsTarget
from runbook_lib.reconcile import reconcile
from runbook_lib.reconcile.exports import AthenaOptions, ExportError, ExportPair, comparison_sql, run_duckdb
from runbook_lib.reconcile.exports.athena import database_for
from runbook_lib.reconcile.exports.layout import download_export
from runbook_lib.reconcile.exports.query import to_duckdb

from test_reconcile_export import BUCKET, every_type, make_table, put_all, same_outcome, scan_all, upload_export

REGION = "us-east-1"
SRC, TGT = "orders", "orders-restored"
OUTPUT = f"s3://{BUCKET}/athena-results/"


@pytest.fixture
def target(endpoint) -> AwsTarget:
    return AwsTarget(REGION, endpoint)


def queue_results(endpoint, results):
    resp = requests.post(f"{endpoint}/moto-api/static/athena/query-results", json={"results": results}, timeout=10)
    assert resp.status_code == 201


def athena_rows(rows, columns):
    """Rows as Athena answers them: strings, a NULL as a cell without VarCharValue, the header first."""
    def cell(v):
        return {} if v is None else {"VarCharValue": str(v)}
    return {"rows": [{"Data": [{"VarCharValue": c} for c in columns]}, *({"Data": [cell(v) for v in r]} for r in rows)],
            "column_info": [{"Name": c, "Label": c, "Type": "varchar"} for c in columns]}


def test_athena_path_sends_the_duckdb_query_text_and_reads_its_answer_into_the_same_reconciliation(aws, endpoint, target, tmp_path):
    # GIVEN a pair with a missing, an extra and a changed item, exported in AWS's layout
    ddb, s3 = aws("dynamodb"), aws("s3")
    s3.create_bucket(Bucket=BUCKET)
    source = [{"pk": {"S": f"k{i}"}, **every_type(i)} for i in range(8)]
    tgt = source[1:] + [{"pk": {"S": "k99"}, "v": {"S": "x"}}]
    tgt[2] = {**tgt[2], "s": {"S": "changed"}}
    make_table(ddb, SRC)
    make_table(ddb, TGT)
    put_all(ddb, SRC, source)
    put_all(ddb, TGT, tgt)
    locs = (upload_export(s3, SRC, scan_all(ddb, SRC), export_id="01700000000000-aaaaaaaa"),
            upload_export(s3, TGT, scan_all(ddb, TGT), export_id="01700000000001-bbbbbbbb", shuffle_seed=3))
    # AND Athena's answers: nothing for the five set-up statements, then the rows DuckDB computes
    local = [download_export(target, loc, tmp_path, progress=False) for loc in locs]
    _, con = run_duckdb(local[0].files, local[1].files, ("pk",), work_dir=tmp_path / "w")
    rows = con.execute(to_duckdb(comparison_sql(("pk",)))).fetchall()
    con.close()
    queue_results(endpoint, [{"rows": []}] * 5 + [athena_rows(rows, ["kind", "k0", "source_rows", "target_rows"])])
    # WHEN reconciled on Athena
    athena = AthenaOptions("primary", OUTPUT)
    result = reconcile(target, SRC, TGT, method="export", exports=ExportPair(*locs, athena=athena, progress=False))
    # THEN the outcome is the scan's
    same_outcome(reconcile(target, SRC, TGT), result)
    assert {(d.kind, d.key["pk"]["S"]) for d in result.differences} == {("missing", "k0"), ("extra", "k99"), ("changed", "k3")}
    # AND the statements sent: database, tables over the data folders, the query as DuckDB's source text, clean-up
    client = aws("athena")
    ids = client.list_query_executions(WorkGroup="primary")["QueryExecutionIds"]
    sent = [client.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    sent.sort(key=lambda e: e["Status"]["SubmissionDateTime"])
    texts = [e["Query"] for e in sent]
    db = database_for(locs)
    assert texts[0] == f"CREATE DATABASE IF NOT EXISTS `{db}`"
    assert (f"LOCATION 's3://{BUCKET}/exports/AWSDynamoDB/01700000000000-aaaaaaaa/data/'" in texts[3]
            and f"`{db}`.`source_export` (`line` string)" in texts[3])
    assert f"LOCATION 's3://{BUCKET}/exports/AWSDynamoDB/01700000000001-bbbbbbbb/data/'" in texts[4]
    assert texts[5] == comparison_sql(("pk",))
    assert sent[5]["QueryExecutionContext"]["Database"] == db
    assert all(e["ResultConfiguration"]["OutputLocation"].startswith(OUTPUT) for e in sent)
    assert texts[-1] == f"DROP DATABASE IF EXISTS `{db}`" and len(texts) == 9


def test_an_athena_answer_that_does_not_count_the_manifests_items_is_refused(aws, endpoint, target):
    ddb, s3 = aws("dynamodb"), aws("s3")
    s3.create_bucket(Bucket=BUCKET)
    make_table(ddb, SRC)
    make_table(ddb, TGT)
    items = [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}]
    put_all(ddb, SRC, items)
    put_all(ddb, TGT, items)
    locs = (upload_export(s3, SRC, items, export_id="01700000000000-aaaaaaaa"),
            upload_export(s3, TGT, items, export_id="01700000000001-bbbbbbbb"))
    # Athena's answer counts one item less on the target side than its manifest
    queue_results(endpoint, [{"rows": []}] * 5 + [athena_rows([("equal", None, 2, 1)], ["kind", "k0", "source_rows", "target_rows"])])
    pair = ExportPair(*locs, athena=AthenaOptions("primary", OUTPUT), progress=False)
    with pytest.raises(ExportError, match="target export .* holds 1 items .* manifest counts 2"):
        reconcile(target, SRC, TGT, method="export", exports=pair)

"""The comparison on Athena, for exports one machine should not download.

Athena gets the two exports as external tables of one column, ``line`` (TEXTFILE: Athena reads the
gzip data files by their ``.gz`` suffix, and a line of DynamoDB JSON never holds the default field
delimiter ``\\001``, which JSON writes as ``\\u0001``), named ``source_export`` and
``target_export`` in a Glue database of their own (``pitr_reconcile_<digest of the two ExportArns>``),
so that the query Athena runs is the very text :func:`~.query.comparison_sql` returns, the text
DuckDB's local run transpiles. The statements run in the operator's workgroup with results under
``--athena-output``: StartQueryExecution, then GetQueryExecution until SUCCEEDED (a FAILED or
CANCELLED query is an :class:`~.layout.ExportError` with Athena's reason), then GetQueryResults page
by page (the first row of the first page is the header). The tables and the database are dropped
afterwards (they are metadata only; the data stays in the exports).

References: "CREATE TABLE" and "Compression support in Athena" (Amazon Athena User Guide), "Query
results and recent queries" (result pages, header row), "StartQueryExecution",
"GetQueryExecution", "GetQueryResults" (Amazon Athena API Reference). The sandbox does not execute
SQL: the tests check the statements sent and how their answers are read, not Athena's answers.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from ...aws.clients import AwsTarget
from ...aws.codes import error_code, error_message
from ...aws.waiting import interval, poll
from ...errors import PreconditionError
from .layout import ExportError, ExportLocation
from .query import SOURCE_RELATION, TARGET_RELATION, QueryResult, comparison_sql, parse_rows

log = logging.getLogger(__name__)

#: a comparison of billions of items runs for minutes; Athena's own DML timeout is 30 minutes by default
QUERY_TIMEOUT = 3600.0


def database_for(locations: Sequence[ExportLocation]) -> str:
    """A Glue database name (lower case, digits, underscores) of its own for this pair of exports."""
    digest = hashlib.sha256("|".join(loc.export_arn for loc in locations).encode()).hexdigest()[:16]
    return f"pitr_reconcile_{digest}"


def table_ddl(database: str, relation: str, location: ExportLocation) -> str:
    """The external table over one export's data files (Hive DDL, as Athena takes it)."""
    return (f"CREATE EXTERNAL TABLE `{database}`.`{relation}` (`line` string)\n"
            f"STORED AS TEXTFILE\n"
            f"LOCATION 's3://{location.bucket}/{location.data_prefix}'")


def statements(database: str, locations: Sequence[ExportLocation], key_names: Sequence[str]) -> dict[str, list[str]]:
    """What :func:`run_athena` sends, in order: set-up, the comparison, clean-up."""
    drops = [f"DROP TABLE IF EXISTS `{database}`.`{r}`" for r in (SOURCE_RELATION, TARGET_RELATION)]
    return {
        "setup": [f"CREATE DATABASE IF NOT EXISTS `{database}`", *drops,
                  table_ddl(database, SOURCE_RELATION, locations[0]), table_ddl(database, TARGET_RELATION, locations[1])],
        "compare": [comparison_sql(key_names)],
        "cleanup": [*drops, f"DROP DATABASE IF EXISTS `{database}`"],
    }


def _start(athena, sql: str, options: Any, database: str | None) -> str:
    kwargs: dict[str, Any] = {"QueryString": sql, "WorkGroup": options.workgroup,
                              "ResultConfiguration": {"OutputLocation": options.output}}
    if database:
        kwargs["QueryExecutionContext"] = {"Database": database}
    try:
        return athena.start_query_execution(**kwargs)["QueryExecutionId"]
    except ClientError as exc:
        raise PreconditionError(
            f"Athena refused the query ({error_code(exc)}: {error_message(exc)}): check --athena-workgroup "
            f"{options.workgroup} exists and is ENABLED, and that --athena-output {options.output} is writable",
            code=error_code(exc)) from exc


def _wait(target: AwsTarget, athena, query_id: str, what: str, timeout: float) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        state = execution["Status"]["State"]
        if state in ("FAILED", "CANCELLED"):
            status = execution["Status"]
            reason = status.get("StateChangeReason") or (status.get("AthenaError") or {}).get("ErrorMessage") or ""
            raise ExportError(f"Athena query {query_id} ({what}) {state}: {reason}; fix the cause (permissions on "
                              "the exports' bucket and the output location, the workgroup's limits) and run again")
        return execution if state == "SUCCEEDED" else None

    return poll(check, timeout=timeout, interval=interval(target, 2.0), backoff=1.5, max_interval=interval(target, 20.0),
                progress=f"Athena: {what}", on_timeout=lambda: ExportError(
                    f"Athena query {query_id} ({what}) did not finish within {timeout:.0f} s: follow it in the Athena "
                    "console (or GetQueryExecution), or raise the timeout"))


def _rows(athena, query_id: str) -> list[list[str | None]]:
    """Every row of a SELECT's results, without the header row Athena puts first."""
    rows: list[list[str | None]] = []
    kwargs: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": 1000}
    first = True
    while True:
        page = athena.get_query_results(**kwargs)
        result_set = page["ResultSet"]
        values = [[d.get("VarCharValue") for d in row.get("Data", [])] for row in result_set.get("Rows", [])]
        if first and values:
            labels = [c.get("Label", c.get("Name")) for c in result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])]
            if not labels or values[0] == labels:
                values = values[1:]
        first = False
        rows += values
        if not page.get("NextToken"):
            return rows
        kwargs["NextToken"] = page["NextToken"]


def run_athena(
    target: AwsTarget,
    locations: Sequence[ExportLocation],
    key_names: Sequence[str],
    options: Any,
    *,
    progress: bool = True,
    timeout: float = QUERY_TIMEOUT,
) -> QueryResult:
    """The comparison on Athena over the two exports in place (nothing is downloaded)."""
    athena = target.client("athena")
    database = database_for(locations)
    sent = statements(database, locations, key_names)
    try:
        for sql in sent["setup"]:
            _wait(target, athena, _start(athena, sql, options, None), sql.split("`")[0].strip().lower(), 600.0)
        clock = time.monotonic()
        query_id = _start(athena, sent["compare"][0], options, database)
        execution = _wait(target, athena, query_id, "the comparison", timeout)
        rows = _rows(athena, query_id)
        scanned = (execution.get("Statistics") or {}).get("DataScannedInBytes")
        log.info("Athena compared the exports in %.1f s, %s bytes scanned", time.monotonic() - clock, scanned)
        return parse_rows(rows, key_names, seconds=time.monotonic() - clock, engine="athena")
    finally:
        for sql in sent["cleanup"]:
            try:
                _wait(target, athena, _start(athena, sql, options, None), "clean-up", 600.0)
            except Exception as exc:  # the comparison's outcome matters more than a metadata leftover
                log.warning("Athena clean-up %r failed: %s; drop it by hand", sql, exc)

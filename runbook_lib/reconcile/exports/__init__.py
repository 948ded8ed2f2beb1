"""Reconciliation from PITR exports to S3, on a query engine: DuckDB embedded, or Athena.

For tables one machine should not scan through the API (hours of reads, read capacity spent on a
production table during an incident): both tables are exported at the same moment
(``ExportTableToPointInTime``, no read capacity used), and one SQL query over the two exports finds
the candidate differences by key. The candidates then enter the same pipeline as a scan's
differences (:mod:`runbook_lib.reconcile.pipeline`): consistent re-reads, canonical comparison
(:mod:`runbook_lib.reconcile.values`), classification, verdict; so both methods give the same
verdict, counts and differences on the same tables.

Modules
-------
:mod:`.layout` AWS's export layout: DescribeExport -> the files (:func:`locate_export`), the
manifests, the download with MD5 checks (:func:`download_export`), and :func:`build_export`, which
writes an export in that layout from items (tests, benchmarks); :mod:`.query` the one comparison
query in Athena's SQL and its DuckDB run through sqlglot; :mod:`.compare` the query's candidates as
open differences (:func:`compare_exports`); :mod:`.athena` the same query on Athena;
:mod:`.start` the operator's path: export both tables at one moment into the runbook's bucket and
wait for both.
"""

from __future__ import annotations

from .compare import AthenaOptions, ExportComparison, ExportPair, compare_exports
from .layout import (
    DataFile,
    ExportError,
    ExportLocation,
    LocalExport,
    build_export,
    describe_export,
    download_export,
    export_id_of,
    fetch_export,
    locate_export,
    location_of,
    open_local_export,
    read_manifests,
)
from .query import Candidate, QueryResult, comparison_sql, run_duckdb, to_duckdb

__all__ = [
    "AthenaOptions", "Candidate", "DataFile", "ExportComparison", "ExportError", "ExportLocation", "ExportPair",
    "LocalExport", "QueryResult", "build_export", "compare_exports", "comparison_sql", "describe_export",
    "download_export", "export_id_of", "fetch_export", "locate_export", "location_of", "open_local_export", "read_manifests", "run_duckdb", "to_duckdb",
]

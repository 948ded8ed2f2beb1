"""The one comparison query, written in Athena's SQL (Trino), and its local run on DuckDB.

The query reads two relations of one column ``line`` (a data file's line, ``{"Item": {...}}``):
``source_export`` and ``target_export``. On Athena they are external tables over the exports'
``data/`` folders (:mod:`.athena`); locally they are DuckDB views over the downloaded files
(``read_ndjson_objects``). The text below is what Athena runs; DuckDB runs sqlglot's transpilation
of that same text (``sqlglot.transpile(sql, read="trino", write="duckdb")``), so the tests check
the logic Athena runs. (DuckDB's httpfs extension, which would read S3 directly, cannot be
downloaded on a machine without network access beyond package registries, and is not needed:
the exports are downloaded first, MD5-checked, and read from the local copies.)

How items are compared
----------------------
DynamoDB documents no attribute order for an export's items (nor for sets), so equality must not
depend on it. Each item's attributes are taken as a map, its names sorted, and each attribute
written as ``<length of name>:<name><value as JSON>`` (the length makes the concatenation
unambiguous); the item's image is the MD5 of that text. Two items with the same attributes in
another top-level order therefore give the same image. Inside a value the JSON text is compared as
written: a nested map written in another order, a set in another order, or a number written
``1`` on one side and ``1.0`` on the other (DynamoDB trims leading and trailing zeroes of numbers,
"Supported data types and naming rules in Amazon DynamoDB", so only other writers do that) makes
the key a candidate; candidates are few and go
through the scan path's canonical comparison (:mod:`runbook_lib.reconcile.values`), which decides.

The result is one row per candidate (``missing``: in the source export only; ``extra``: in the
target only; ``changed``: in both, images differ; ``duplicate``: a key on more than one line of
one export, which a full export never writes) and one ``equal`` row that counts the rest; every
row carries how many source and target lines it stands for, so the counts come from the same
single pass over the data (checked against the manifests' itemCount).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import InputError

SOURCE_RELATION = "source_export"
TARGET_RELATION = "target_export"
KINDS = ("missing", "extra", "changed")
DUPLICATE = "duplicate"
EQUAL = "equal"


def _path(name: str) -> str:
    """A JSONPath to the key attribute ``name`` of the line's item (bracket notation: any name)."""
    if any(c in name for c in '"\\[]\'') or not name:
        raise InputError(f"key attribute name {name!r}: the export comparison takes key names without quotes, "
                         "backslashes or brackets; use method='scan' for this table")
    return f'$.Item["{name}"]'


def _items(relation: str, key_names: Sequence[str]) -> str:
    """One row per key: its image, and how many lines hold it (an export holds each item once)."""
    names = ", ".join(f"k{i}" for i in range(len(key_names)))
    return f"""SELECT {names}, COUNT(*) AS n, MIN(image) AS image
  FROM ({_lines(relation, key_names)}) AS keyed
  GROUP BY {names}"""


def _lines(relation: str, key_names: Sequence[str]) -> str:
    keys = ",\n         ".join(
        f"json_format(json_extract(line, '{_path(name)}')) AS k{i}" for i, name in enumerate(key_names)
    )
    return f"""SELECT {keys},
         to_hex(md5(to_utf8(array_join(transform(array_sort(map_keys(item)),
           a -> CAST(length(a) AS VARCHAR) || ':' || a || json_format(item[a])), '')))) AS image
  FROM (SELECT line, CAST(json_extract(line, '$.Item') AS MAP(VARCHAR, JSON)) AS item FROM {relation}) AS lines"""


def comparison_sql(
    key_names: Sequence[str], source: str = SOURCE_RELATION, target: str = TARGET_RELATION
) -> str:
    """The comparison, in Athena's dialect (Trino). Columns: kind, k0..kN (each key attribute's
    DynamoDB JSON, e.g. ``{"S":"a"}``, in the order of ``key_names``), source_rows, target_rows."""
    if not key_names:
        raise InputError("the comparison needs the table's key attribute names")
    n = len(key_names)
    on = " AND ".join(f"s.k{i} = t.k{i}" for i in range(n))
    joined_keys = ", ".join(f"s.k{i} AS s_k{i}, t.k{i} AS t_k{i}" for i in range(n))
    coalesced = ", ".join(f"COALESCE(s_k{i}, t_k{i}) AS k{i}" for i in range(n))
    shown = ", ".join(f"CASE WHEN kind = '{EQUAL}' THEN NULL ELSE k{i} END AS k{i}" for i in range(n))
    group = ", ".join(str(i + 1) for i in range(n + 1))
    return f"""WITH source_items AS (
  {_items(source, key_names)}
), target_items AS (
  {_items(target, key_names)}
), joined AS (
  SELECT {joined_keys}, s.image AS s_image, t.image AS t_image, COALESCE(s.n, 0) AS s_n, COALESCE(t.n, 0) AS t_n
  FROM source_items AS s FULL OUTER JOIN target_items AS t ON {on}
), classified AS (
  SELECT CASE WHEN s_n > 1 OR t_n > 1 THEN '{DUPLICATE}' WHEN t_n = 0 THEN 'missing' WHEN s_n = 0 THEN 'extra'
              WHEN s_image <> t_image THEN 'changed' ELSE '{EQUAL}' END AS kind,
         {coalesced}, s_n, t_n
  FROM joined
)
SELECT kind, {shown}, SUM(s_n) AS source_rows, SUM(t_n) AS target_rows
FROM classified
GROUP BY {group}
ORDER BY {group}"""


def to_duckdb(sql: str) -> str:
    """``sql`` (Trino) as DuckDB runs it, by sqlglot's transpiler."""
    import sqlglot

    (out,) = sqlglot.transpile(sql, read="trino", write="duckdb")
    return out


@dataclass(frozen=True)
class Candidate:
    """One key the query found: its kind and its key (DynamoDB JSON, binary as base64 text)."""

    kind: str
    key: dict[str, dict[str, Any]]
    #: each key attribute's JSON text as the query wrote it (what the images query joins on)
    key_text: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueryResult:
    """What the comparison query returned: the candidates and the rows read on each side."""

    candidates: tuple[Candidate, ...]
    source_rows: int
    target_rows: int
    seconds: float
    engine: str
    #: a key seen more than once on one side (an export should hold each item once)
    duplicate_keys: int = 0


def parse_rows(rows: Iterable[Sequence[Any]], key_names: Sequence[str], *, seconds: float, engine: str) -> QueryResult:
    """Rows (kind, k0..kN, source_rows, target_rows) -> :class:`QueryResult`."""
    n = len(key_names)
    candidates = []
    source_rows = target_rows = duplicates = 0
    for row in rows:
        kind = row[0]
        s_rows, t_rows = int(row[n + 1] or 0), int(row[n + 2] or 0)
        source_rows += s_rows
        target_rows += t_rows
        if kind == EQUAL:
            continue
        if kind == DUPLICATE:
            duplicates += 1
            kind = "changed" if s_rows and t_rows else "missing" if s_rows else "extra"
        elif kind not in KINDS:
            raise ValueError(f"the comparison returned kind {kind!r}")
        key = {name: json.loads(row[1 + i]) for i, name in enumerate(key_names)}
        candidates.append(Candidate(kind, key, tuple(row[1 : n + 1])))
    return QueryResult(tuple(candidates), source_rows, target_rows, seconds, engine, duplicates)


# -- DuckDB, embedded ------------------------------------------------------------------------------------


def _files_sql(files: Sequence[Path | str]) -> str:
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


def _relation_sql(files: Sequence[Path | str]) -> str:
    if not files:
        return "SELECT CAST(NULL AS JSON) AS line WHERE false"
    return f"SELECT json AS line FROM read_ndjson_objects({_files_sql(files)}, compression = 'gzip')"


def duckdb_connection(work_dir: str | Path, *, memory_limit: str = "512MB", threads: int | None = None):
    """An in-memory DuckDB that spills to ``work_dir`` beyond ``memory_limit``."""
    import duckdb

    Path(work_dir).mkdir(parents=True, exist_ok=True)
    return duckdb.connect(config={
        "memory_limit": memory_limit, "temp_directory": str(Path(work_dir) / "duckdb.tmp"),
        "threads": threads or max(1, os.cpu_count() or 1), "preserve_insertion_order": False,
    })  # fmt: skip


def run_duckdb(
    source_files: Sequence[Path | str],
    target_files: Sequence[Path | str],
    key_names: Sequence[str],
    *,
    work_dir: str | Path,
    memory_limit: str = "512MB",
    threads: int | None = None,
) -> tuple[QueryResult, Any]:
    """The comparison on local copies of the two exports' data files; returns the result and the
    open connection (its views serve :func:`candidate_images`)."""
    con = duckdb_connection(work_dir, memory_limit=memory_limit, threads=threads)
    con.execute(f"CREATE VIEW {SOURCE_RELATION} AS {_relation_sql(source_files)}")
    con.execute(f"CREATE VIEW {TARGET_RELATION} AS {_relation_sql(target_files)}")
    clock = time.monotonic()
    rows = con.execute(to_duckdb(comparison_sql(key_names))).fetchall()
    return parse_rows(rows, key_names, seconds=time.monotonic() - clock, engine="duckdb"), con


def images_sql(key_names: Sequence[str], relation: str, candidates: str = "candidate_keys") -> str:
    """The lines of ``relation`` whose key is in ``candidates`` (columns k0..kN), in Trino's dialect."""
    keys = ", ".join(f"json_format(json_extract(line, '{_path(name)}')) AS k{i}" for i, name in enumerate(key_names))
    on = " AND ".join(f"l.k{i} = c.k{i}" for i in range(len(key_names)))
    return (f"SELECT json_format(l.line) AS line FROM (SELECT line, {keys} FROM {relation}) AS l "
            f"JOIN {candidates} AS c ON {on}")


def candidate_images(con, result: QueryResult, key_names: Sequence[str]) -> tuple[list[str], list[str]]:
    """The export lines (JSON text) of the candidates, source side and target side: one more pass
    over the local files, only when there are candidates."""
    if not result.candidates:
        return [], []
    columns = ", ".join(f"k{i} VARCHAR" for i in range(len(key_names)))
    con.execute(f"CREATE OR REPLACE TEMP TABLE candidate_keys ({columns})")
    marks = ", ".join("?" for _ in key_names)
    con.executemany(
        f"INSERT INTO candidate_keys VALUES ({marks})",
        [list(c.key_text) for c in result.candidates],
    )
    out = []
    for relation in (SOURCE_RELATION, TARGET_RELATION):
        out.append([row[0] for row in con.execute(to_duckdb(images_sql(key_names, relation))).fetchall()])
    return out[0], out[1]

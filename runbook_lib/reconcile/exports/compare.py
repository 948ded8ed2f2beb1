"""Two exports compared: the query's candidates become the pipeline's open differences.

:func:`compare_exports` takes an :class:`ExportPair` (each side an ExportArn, an
:class:`ExportLocation` or a downloaded :class:`LocalExport`), runs the comparison query on DuckDB
(default) or Athena, checks the rows read against the manifests' itemCount, and returns the
candidates keyed by :func:`runbook_lib.reconcile.values.key_id`, each with the digest of its export
image (:func:`item_digest`, the scan path's), so the re-read stage treats them exactly as it treats
what a scan found.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...aws.clients import AwsTarget
from ...errors import InputError
from ...times import to_utc
from ..reread import _batch_read, _Open
from ..values import item_digest, key_id
from .layout import ExportError, ExportLocation, LocalExport, download_export, locate_export, read_manifests
from .query import QueryResult, candidate_images, run_duckdb

log = logging.getLogger(__name__)

#: at most this many candidates get their export image read back (one more local pass); beyond it,
#: and on Athena, a first consistent read of the candidates stands for their images (read_unknown)
MAX_IMAGES = 100_000
#: the digest of an image not read from the export: never equal to a real one
UNKNOWN = b"unknown"


@dataclass(frozen=True)
class AthenaOptions:
    """Run the comparison on Athena: the workgroup, the query results location, the Glue database
    the external tables go to."""

    workgroup: str
    output: str  # s3://bucket/prefix/
    database: str = "default"

    def __post_init__(self) -> None:
        if not self.output.startswith("s3://"):
            raise InputError(f"athena output {self.output!r} must be an s3:// location (--athena-output s3://BUCKET/PREFIX/)")
        if not self.workgroup:
            raise InputError("an Athena workgroup is needed (--athena-workgroup)")


@dataclass(frozen=True)
class ExportPair:
    """The source's export and the target's, taken at the same moment.

    ``source``/``target``: an ExportArn (located with DescribeExport), an :class:`ExportLocation`, or a
    :class:`LocalExport` already downloaded. ``work_dir``: where the data files go (default: a
    temporary folder removed afterwards). ``athena``: compare on Athena instead of DuckDB.
    """

    source: str | ExportLocation | LocalExport
    target: str | ExportLocation | LocalExport
    work_dir: str | Path | None = None
    athena: AthenaOptions | None = None
    memory_limit: str = "512MB"
    progress: bool = True


@dataclass
class ExportComparison:
    """What the comparison left open, as the pipeline's compare stage gives it."""

    open_: dict[str, _Open]
    counts: list[int]
    seconds: float
    query: QueryResult
    #: what the report names: engine, source_export_arn, target_export_arn, export_time
    facts: dict[str, Any] = field(default_factory=dict)


def _location(target: AwsTarget, side: str | ExportLocation | LocalExport) -> ExportLocation:
    if isinstance(side, LocalExport):
        return side.location
    if isinstance(side, ExportLocation):
        return side
    if isinstance(side, str):
        return locate_export(target, side)
    raise InputError("each export must be an ExportArn, an ExportLocation or a LocalExport")


def compare_exports(target: AwsTarget, pair: ExportPair, key_names: tuple[str, ...]) -> ExportComparison:
    """Run the comparison; every candidate becomes an open difference (see the module's docstring)."""
    clock = time.monotonic()
    locations = (_location(target, pair.source), _location(target, pair.target))
    if pair.athena is not None:
        from .athena import run_athena

        expected = tuple(int(read_manifests(target, loc)[0].get("itemCount", 0)) for loc in locations)
        result = run_athena(target, locations, key_names, pair.athena, progress=pair.progress)
        images: tuple[list[str], list[str]] | None = None
    else:
        with tempfile.TemporaryDirectory(prefix="pitr-exports-") as scratch:
            work = Path(pair.work_dir) if pair.work_dir is not None else Path(scratch)
            local = tuple(
                side if isinstance(side, LocalExport) else download_export(target, loc, work, progress=pair.progress)
                for side, loc in zip((pair.source, pair.target), locations)
            )
            expected = (local[0].item_count, local[1].item_count)
            result, con = run_duckdb(local[0].files, local[1].files, key_names, work_dir=work,
                                     memory_limit=pair.memory_limit)
            try:
                images = candidate_images(con, result, key_names) if len(result.candidates) <= MAX_IMAGES else None
            finally:
                con.close()
    _check_counts(result, expected, locations)
    open_ = _open_differences(result, key_names, images)
    seconds = time.monotonic() - clock
    log.info("exports compared on %s in %.1f s (query %.1f s): %d + %d items, %d candidates",
             result.engine, seconds, result.seconds, result.source_rows, result.target_rows, len(open_))
    return ExportComparison(open_, [result.source_rows, result.target_rows], seconds, result,
                            export_facts(result.engine, locations))


def export_facts(engine: str, locations: tuple[ExportLocation, ExportLocation]) -> dict[str, Any]:
    """The engine, both ExportArns and the moment they hold (DescribeExport's ExportTime, or the
    manifest's exportTime of a local copy), for the report and summary.json."""
    times = [to_utc(loc.export_time, "ExportTime") if loc.export_time is not None else None for loc in locations]
    facts: dict[str, Any] = {"engine": engine, "source_export_arn": locations[0].export_arn,
                             "target_export_arn": locations[1].export_arn}
    if times[0] == times[1]:
        facts["export_time"] = times[0]
    else:  # exports given by the caller, of two moments (export_both never makes such a pair): say both
        facts["source_export_time"], facts["target_export_time"] = times
    return facts


def _check_counts(result: QueryResult, expected: tuple[int, int], locations: tuple[ExportLocation, ExportLocation]) -> None:
    for side, rows, count, loc in zip(("source", "target"), (result.source_rows, result.target_rows), expected, locations):
        if rows != count:
            raise ExportError(
                f"the {side} export {loc.export_arn} holds {rows} items in its data files but its manifest "
                f"counts {count}: the export is incomplete or its files changed; export again"
            )
    if result.duplicate_keys:
        raise ExportError(
            f"{result.duplicate_keys} keys appear more than once in one export: a full export holds each item "
            "once; check that both ARNs name FULL_EXPORTs of the tables, or use method='scan'"
        )


def _open_differences(
    result: QueryResult, key_names: tuple[str, ...], images: tuple[list[str], list[str]] | None
) -> dict[str, _Open]:
    """Candidates by key id; a key the query saw as missing and extra (a key number written two ways)
    is one changed key. Digests are the export images' (UNKNOWN where not read back); a candidate whose
two images are equal by the canonical comparison is dropped here."""
    digests: tuple[dict[str, bytes], dict[str, bytes]] = ({}, {})
    if images is not None:
        for side, lines in enumerate(images):
            for line in lines:
                item = json.loads(line)["Item"]
                digests[side][key_id(item, key_names)] = item_digest(item)
    open_: dict[str, _Open] = {}
    for c in result.candidates:
        kid = key_id(c.key, key_names)
        in_source, in_target = c.kind != "extra", c.kind != "missing"
        entry = open_.setdefault(kid, _Open(None, None))
        if in_source:
            entry.source_digest = digests[0].get(kid, UNKNOWN)
        if in_target:
            entry.target_digest = digests[1].get(kid, UNKNOWN)
    # the canonical comparison decides: images equal by value (1 and 1.0, sets in another order,
    # nested maps in another order) are no difference, as the scan would not have seen one
    for kid in [k for k, e in open_.items() if e.source_digest == e.target_digest and e.source_digest != UNKNOWN]:
        del open_[kid]
    return open_


def read_unknown(open_: dict[str, _Open], client, tables: tuple[str, str], key_names: tuple[str, ...], throttles) -> int:
    """Candidates whose export images were not read back (Athena; more than MAX_IMAGES) take a first
    consistent read of both sides as their images, as a scan's items are its first read: the re-read
    rounds then count "still changing" from there, and a candidate equal by value on both sides (1
    and 1.0, sets in another order) is dropped here as the scan would never have seen it. Returns
    how many were read."""
    kids = [k for k, e in open_.items() if UNKNOWN in (e.source_digest, e.target_digest)]
    for i in range(0, len(kids), 50):  # 2 x 50 keys = one BatchGetItem
        batch = kids[i : i + 50]
        found = _batch_read(client, tables, key_names, batch, throttles)
        for kid in batch:
            src, tgt = found[0].get(kid), found[1].get(kid)
            sd = item_digest(src) if src is not None else None
            td = item_digest(tgt) if tgt is not None else None
            if sd == td:
                del open_[kid]
            else:
                open_[kid].source_digest, open_[kid].target_digest = sd, td
    return len(kids)


def describe(pair: ExportPair) -> dict[str, Any]:
    """The pair in words, for a plan."""
    def name(side: Any) -> str:
        if isinstance(side, LocalExport):
            return str(side.location.export_arn)
        if isinstance(side, ExportLocation):
            return side.export_arn
        return str(side)

    return {"source": name(pair.source), "target": name(pair.target),
            "engine": f"athena ({pair.athena.workgroup})" if pair.athena else "duckdb"}

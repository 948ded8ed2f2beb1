"""``reconcile()``: a pipeline of named stages (prepare, open, scan, compare, re-read, explain,
classify, result), each a short function, as papermill's ``execute_notebook`` is."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ..aws.clients import AwsTarget
from ..aws.waiting import interval
from ..cdc.codec import KeyDigest
from ..errors import InputError
from ..times import iso_second, to_utc, utcnow
from .classify import Classified, classify
from .reread import _Open, _reread
from .result import Reconciliation, verdict_for
from .scan import _SOURCE, _TARGET, RateLimit, _as_rate_limit, _Matcher, _Progress, _scan_both, _Throttle
from .stream import LastChanges, _normalise_last_changes, last_change_by_key
from .tables import _check_segments, _describe, _fmt_schema, _key_schema, _threads, reading_client

log = logging.getLogger(__name__)

#: live_source: seconds before the source's stream is read a second time for differences it did not explain
STREAM_SETTLE_SECONDS = 5.0


@dataclass(frozen=True)
class _Options:
    """The caller's arguments, checked before any call to AWS."""

    source_table: str
    target_table: str
    restore_time: datetime | None
    replay_from: datetime | None
    last_changes: Any
    segments: int
    rate_limit: RateLimit | None
    reread_rounds: int
    show_values: bool
    redact_keys: bool
    key_digest: KeyDigest | None
    key_digest_secret_arn: str | None
    sample_size: int
    progress: Any
    method: str = "scan"
    exports: Any = None  # exports.ExportPair, with method="export"
    incremental: Any = None  # exports.incremental.IncrementalExports: explain beyond the stream
    live_source: bool = False
    #: live_source with a buffer writing the target: when the buffer had applied every older change
    applied_until: Any = None  # Callable[[], datetime]
    #: what ``applied_until`` answered (after the re-reads)
    explain_from: datetime | None = None

    @property
    def tables(self) -> tuple[str, str]:
        return (self.source_table, self.target_table)

    @property
    def window(self) -> bool:
        """Whether there is a window [T, R) whose changes explain differences."""
        t, r = self.restore_time, self.replay_from
        return t is not None and r is not None and r > t


@dataclass(frozen=True)
class _Tables:
    """Both tables, described, with one client sized for every reading thread."""

    client: Any
    descriptions: tuple[dict[str, Any], dict[str, Any]]
    key_names: tuple[str, ...]


@dataclass
class _Compared:
    """What the scan left open: every difference before the re-reads, and what the scan cost."""

    open_: dict[str, _Open]
    counts: list[int]
    seconds: float
    peak_unmatched: int
    throttles: tuple[_Throttle, _Throttle]
    #: with exports: engine, both ExportArns, ExportTime (for the report)
    export: dict[str, Any] | None = None


def reconcile(
    target: AwsTarget,
    source_table: str,
    target_table: str,
    *,
    restore_time: datetime | str | None = None,
    replay_from: datetime | str | None = None,
    last_changes: Mapping[str, datetime] | Iterable[tuple[Any, datetime]] | None = None,
    segments: int = 4,
    rate_limit: RateLimit | float | None = None,
    reread_rounds: int = 3,
    wait_drained: Callable[[], None] | None = None,
    show_values: bool = False,
    redact_keys: bool = False,
    key_digest: KeyDigest | None = None,
    key_digest_secret_arn: str | None = None,
    sample_size: int = 20,
    progress: Any = None,
    method: str = "scan",
    exports: Any = None,
    incremental: Any = None,
    live_source: bool = False,
    destination: AwsTarget | None = None,
    applied_until: Callable[[], datetime] | None = None,
) -> Reconciliation:
    """Compare ``source_table`` with ``target_table`` item by item; see :mod:`runbook_lib.reconcile`.

    ``restore_time`` (T) and ``replay_from`` (R): datetimes or ISO-8601 strings; keys last changed
    in ``[floor(T), R)`` are explained. ``last_changes``: ``{key id: time}`` (see :func:`key_id`)
    or pairs ``(DynamoDB JSON key, time)``; without it the source's stream is read when needed.
    ``rate_limit``: a :class:`RateLimit` or items per second, for each table.
    ``progress``: None, True / ``"tqdm"`` for bars, or ``callable(side, scanned, estimated_total)``.
    ``redact_keys``: show every key as its keyed digest (``key_digest``, required then: checked
    before any call); ``key_digest_secret_arn`` names the secret that keyed it, for the report.
    ``method="export"`` compares ``exports`` (an :class:`~.exports.ExportPair`) instead of scanning.
    ``incremental`` (an :class:`~.exports.incremental.IncrementalExports`): when the source's stream
    does not cover [T, R) (T older than its 24 hours, or no stream), the open keys' last changes come
    from incremental exports of the source instead (they change AWS: exports, perhaps a bucket).
    ``live_source``: the source stays live and nobody writes the target (a drill's scratch table
    restored to T): R is left out and becomes the moment the source's stream is read (every change
    since T up to then explains a difference), and a difference still moving on the source side only
    is explained by its change since T, not in flight.
    ``applied_until`` (with ``live_source``, when a buffer replays the source into the target): called
    after the re-reads, the moment before which the buffer had applied every change of the source;
    a difference is then explained only when its key changed at or after it (see :mod:`.classify`).
    ``destination``: the target table's side when it is in another region (a cross-region
    restore); the source's stream is read in ``target``'s region, the target table in its own.
    """
    options = _prepare(
        source_table, target_table, restore_time=restore_time, replay_from=replay_from,
        last_changes=last_changes, segments=segments, rate_limit=rate_limit, reread_rounds=reread_rounds,
        show_values=show_values, redact_keys=redact_keys, key_digest=key_digest,
        key_digest_secret_arn=key_digest_secret_arn, sample_size=sample_size, progress=progress,
        method=method, exports=exports, incremental=incremental, live_source=live_source,
        applied_until=applied_until,
    )
    started_at, clock = utcnow(), time.monotonic()
    tables = _open_tables(target, options, destination)
    compared = _compare(tables, options) if options.method == "scan" else _compare_exports(target, tables, options)
    settled, rounds_used = _reread(
        tables.client, options.tables, tables.key_names, compared.open_, options.reread_rounds, wait_drained,
        compared.throttles, _threads(options.segments), options.show_values,
    )
    changes, coverage_warning, explained_from, options = _explaining_changes(
        target, options, compared.open_, tables.key_names)
    classified = classify(
        compared.open_, changes=changes, restore_time=options.restore_time, replay_from=options.replay_from,
        key_names=tables.key_names, key_digest=options.key_digest, redact_keys=options.redact_keys,
        show_values=options.show_values, live_source=options.live_source, explain_from=options.explain_from,
    )
    result = _result(options, compared, classified, coverage_warning=coverage_warning, explained_from=explained_from,
                     settled=settled,
                     rounds_used=rounds_used, started_at=started_at, seconds=time.monotonic() - clock)
    log.info(
        "reconcile %s -> %s: %s (%d unexplained, %d in flight, %d explained, %d settled on re-read)",
        source_table, target_table, result.verdict, result.unexplained, result.in_flight, result.explained, settled,
    )
    return result


def _prepare(source_table: str, target_table: str, **kw: Any) -> _Options:
    """Check every argument before any call (redacting without a secret is refused here)."""
    if kw["redact_keys"] and kw["key_digest"] is None:
        raise InputError(
            "redact_keys needs the key digest secret: pass key_digest (reconcile.load_key_digest of the "
            "buffer stack's KeyDigestSecretArn output, or of --key-digest-secret-arn), or do not redact keys"
        )
    if kw["key_digest"] is not None and not isinstance(kw["key_digest"], KeyDigest):
        raise InputError("key_digest must be a runbook_lib.cdc.codec.KeyDigest")
    _check_segments(kw["segments"])
    rounds = kw["reread_rounds"]
    if not isinstance(rounds, int) or rounds < 1:
        raise InputError("reread_rounds must be at least 1: differences are always re-read with a consistent read")
    if source_table == target_table:
        raise InputError("source and target are the same table", table=source_table)
    if kw["method"] not in ("scan", "export"):
        raise InputError(f"method must be 'scan' or 'export', not {kw['method']!r}")
    if (kw["method"] == "export") != (kw["exports"] is not None):
        raise InputError("method='export' takes exports=ExportPair(source, target) (and only it does)")
    if kw["live_source"] and (kw["restore_time"] is None or kw["replay_from"] is not None):
        raise InputError("live_source needs restore_time (T) and no replay_from: R is when the source's stream is read")
    if kw.get("applied_until") is not None and not kw["live_source"]:
        raise InputError("applied_until (a buffer writing the target) goes with live_source only")
    if kw["sample_size"] < 0:
        raise InputError("sample_size must be zero or more")
    restore_time = to_utc(kw.pop("restore_time"), "restore_time")
    replay_from = to_utc(kw.pop("replay_from"), "replay_from")
    rate_limit = _as_rate_limit(kw.pop("rate_limit"))
    if kw["key_digest"] is None:
        kw["key_digest_secret_arn"] = None
    return _Options(source_table, target_table, restore_time, replay_from, rate_limit=rate_limit, **kw)


def _open_tables(target: AwsTarget, options: _Options, destination: AwsTarget | None = None) -> _Tables:
    """Describe both tables (ACTIVE, same primary key) with a client for all the scan's threads."""
    client = reading_client(target, 2 * options.segments, destination=destination, target_table=options.target_table)
    descs = (_describe(client, options.source_table), _describe(client, options.target_table))
    schemas = (_key_schema(descs[0]), _key_schema(descs[1]))
    if schemas[0] != schemas[1]:
        raise InputError(
            f"key schemas differ: {options.source_table} has {_fmt_schema(schemas[0])}, "
            f"{options.target_table} has {_fmt_schema(schemas[1])}; reconcile tables with the same primary key",
            table=options.target_table,
        )
    return _Tables(client, descs, tuple(sorted(name for _, name, _ in schemas[0])))


def _compare(tables: _Tables, options: _Options) -> _Compared:
    """Scan both tables at once; every key seen on one side only, or with other digests, is open."""
    per_table = _threads(2 * options.segments) // 2 or 1
    throttles = (_Throttle(options.rate_limit, per_table), _Throttle(options.rate_limit, per_table))
    estimates = tuple(desc.get("ItemCount") for desc in tables.descriptions)
    bar = _Progress(options.progress, estimates, options.tables)  # type: ignore[arg-type]
    log.info("reconcile %s -> %s: scanning both with %d segments each", *options.tables, options.segments)
    clock = time.monotonic()
    try:
        matcher, counts = _scan_both(tables.client, options.tables, tables.key_names, options.segments, throttles, bar)
    finally:
        bar.close()
    seconds = time.monotonic() - clock
    log.info(
        "scanned %d + %d items in %.1f s; %d missing, %d extra, %d changed before re-read (peak %d unmatched keys)",
        counts[0], counts[1], seconds, len(matcher.only[_SOURCE]), len(matcher.only[_TARGET]),
        len(matcher.changed), matcher.peak_pending,
    )
    return _Compared(_open_differences(matcher), counts, seconds, matcher.peak_pending, throttles)


def _compare_exports(target: AwsTarget, tables: _Tables, options: _Options) -> _Compared:
    """The compare stage from two exports (:mod:`.exports`): no table is scanned."""
    from .exports.compare import compare_exports, read_unknown

    found = compare_exports(target, options.exports, tables.key_names)
    throttles = (_Throttle(options.rate_limit, 1), _Throttle(options.rate_limit, 1))  # the re-reads' budget
    read_unknown(found.open_, tables.client, options.tables, tables.key_names, throttles)
    return _Compared(found.open_, found.counts, found.seconds, 0, throttles, found.facts)


def _open_differences(matcher: _Matcher) -> dict[str, _Open]:
    open_: dict[str, _Open] = {}
    for kid, digest in matcher.only[_SOURCE].items():
        open_[kid] = _Open(digest, None)
    for kid, digest in matcher.only[_TARGET].items():
        open_[kid] = _Open(None, digest)
    for kid, (source_digest, target_digest) in matcher.changed.items():
        open_[kid] = _Open(source_digest, target_digest)
    return open_


def _explaining_changes(
    target: AwsTarget, options: _Options, open_: Mapping[str, _Open], key_names: tuple[str, ...]
) -> tuple[LastChanges | None, str | None, dict[str, Any] | None, _Options]:
    """Each open key's last change (given, or read from the source's stream only when there are
    differences and R > T; beyond the stream, from incremental exports when allowed), why those times
    may not cover T, where they came from, and the options (with ``live_source`` R becomes the second
    after the stream was read)."""
    coverage_warning = None
    changes: LastChanges | None = None
    explained_from: dict[str, Any] | None = None
    if options.live_source:
        if open_:
            if options.applied_until is not None:  # after the re-reads: what the buffer had applied by then
                options = replace(options, explain_from=to_utc(options.applied_until(), "applied_until"))
            changes = last_change_by_key(target, options.source_table, keys=open_.keys())
            low = max(options.restore_time, options.explain_from or options.restore_time).replace(microsecond=0)  # type: ignore[type-var]
            if any(changes.get(k) is None or changes[k] < low for k in open_):
                # a write made just before its re-read may not be readable from the stream yet ("near-real
                # time", Change data capture for DynamoDB Streams): read it once more before calling it unexplained
                time.sleep(interval(target, STREAM_SETTLE_SECONDS))
                changes = last_change_by_key(target, options.source_table, keys=open_.keys())
            coverage_warning = changes.coverage_warning(options.restore_time)
            explained_from = {"source": "stream"} if changes.stream_arn else None
            if explained_from is not None and options.explain_from is not None:
                explained_from["buffer_applied_until"] = iso_second(options.explain_from.replace(microsecond=0))
        window_end = utcnow().replace(microsecond=0) + timedelta(seconds=1)
        options = replace(options, replay_from=window_end)
    elif options.last_changes is not None:
        changes = _normalise_last_changes(options.last_changes)
        explained_from = {"source": "given"}
        if options.window and changes.stream_arn is not None:
            coverage_warning = changes.coverage_warning(options.restore_time)
    elif options.window and open_:
        changes = last_change_by_key(target, options.source_table, keys=open_.keys())
        coverage_warning = changes.coverage_warning(options.restore_time)
        explained_from = {"source": "stream"} if changes.stream_arn else None
        if coverage_warning and options.incremental is not None:
            changes, coverage_warning, explained_from = _from_incremental_exports(
                target, options, open_, key_names, changes, coverage_warning)
        elif coverage_warning:
            coverage_warning += ("; with execute (pitr-runbook reconcile --method export) incremental exports of the "
                                 "source over [T, R) explain them")
    if coverage_warning:
        log.warning("coverage: %s", coverage_warning)
    return changes, coverage_warning, explained_from, options


def _from_incremental_exports(
    target: AwsTarget, options: _Options, open_: Mapping[str, _Open], key_names: tuple[str, ...],
    stream: LastChanges, coverage_warning: str,
) -> tuple[LastChanges, str | None, dict[str, Any] | None]:
    """The stream does not cover [T, R): the open keys' last changes from incremental exports of the
    source from T on, merged with the stream's (the newest time wins)."""
    from ..errors import PreconditionError
    from .exports import incremental

    assert options.restore_time is not None and options.replay_from is not None
    log.info("coverage: %s; reading the source's changes from incremental exports instead", coverage_warning)
    try:
        exported = incremental.exported_changes(
            target, options.source_table, options.restore_time, options.replay_from, keys=open_.keys(),
            key_names=key_names, options=options.incremental)
    except PreconditionError as exc:
        return stream, f"{coverage_warning}; incremental exports could not stand in: {exc}", (
            {"source": "stream"} if stream.stream_arn else None)
    return (incremental.merged(stream, exported), None,
            incremental.describe(exported, stream_used=stream.stream_arn is not None))


def _result(
    options: _Options,
    compared: _Compared,
    classified: Classified,
    *,
    coverage_warning: str | None,
    explained_from: dict[str, Any] | None = None,
    settled: int,
    rounds_used: int,
    started_at: datetime,
    seconds: float,
) -> Reconciliation:
    counts, scan_seconds = compared.counts, compared.seconds
    scanned = counts[0] + counts[1]
    return Reconciliation(
        source_table=options.source_table,
        target_table=options.target_table,
        source_count=counts[0],
        target_count=counts[1],
        items_scanned=scanned,
        scan_seconds=scan_seconds,
        items_per_second=scanned / scan_seconds if scan_seconds > 0 else 0.0,
        differences=classified.differences,
        explained=classified.explained,
        unexplained=classified.unexplained,
        in_flight=classified.in_flight,
        verdict=verdict_for(classified.unexplained, classified.in_flight),
        restore_time=options.restore_time,
        replay_from=options.replay_from,
        coverage_warning=coverage_warning,
        settled=settled,
        reread_rounds=rounds_used,
        segments=options.segments,
        consumed_capacity={
            options.source_table: compared.throttles[0].consumed_units,
            options.target_table: compared.throttles[1].consumed_units,
        },
        started_at=started_at,
        seconds=seconds,
        show_values=options.show_values,
        show_keys=not options.redact_keys,
        sample_size=options.sample_size,
        peak_unmatched_keys=compared.peak_unmatched,
        keys_digested=options.key_digest is not None,
        key_digest_secret_arn=options.key_digest_secret_arn,
        method=options.method,
        export=compared.export,
        explained_from=explained_from,
    )

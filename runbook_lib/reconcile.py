"""Prove the restored table is right: counts, an item-by-item comparison, every difference classified.

Size: over 600 lines on purpose until the restructure issue (#11), which splits the code base by concern in one pass; here scanning, classification and re-reads become a `reconcile` package. Splitting it alone now would move code the other open issues are about to change.

Compute once, then ask (datacompy's shape): :func:`reconcile` scans both tables and returns a frozen
:class:`Reconciliation`; the notebook, ``summary.json``, the CSV and the HTML report all render from
it (see :mod:`runbook_lib.report`).

How it works
------------
1. **Scan.** Both tables are scanned at the same time by parallel segmented ``Scan`` calls
   (``TotalSegments=segments``, one thread per segment and table, eventually consistent reads,
   ``ReturnConsumedCapacity="TOTAL"``). Each item is reduced at once to a compact key id and a
   16-byte BLAKE2b digest of its canonical encoding (:func:`item_digest`); the item itself is
   dropped. Items are matched as they arrive: a key seen on both sides leaves memory as soon as
   the second side is seen, so memory holds only the keys not yet matched (at worst one side's
   keys, about 150 bytes each). The counts are exact: every item of each table is counted once by
   that same full parallel scan (``ItemCount`` is never used; it is refreshed about every six
   hours). :func:`count_items` counts a table alone with ``Select="COUNT"``.
2. **Re-read.** The source may be live, so each difference is read again with a consistent read on
   both sides (``BatchGetItem`` with ``ConsistentRead=True``, the batched ``GetItem``), for at most
   ``reread_rounds`` rounds, calling ``wait_drained()`` before each round (the caller's "buffer
   drained" check). A difference that reads equal is dropped (``settled`` counts them). The rounds
   stop early once no differing item changed between two reads. An item that still changed, on
   either side, between the last two reads is **in flight**. The last read also names the
   attributes that differ (:func:`differing_attributes`), and gives the values when asked for.
3. **Classify.** With restore point T and replay start R, a difference whose key last changed in
   ``[floor(T), R)`` is **explained** (written in the window the restore reverts on purpose).
   Stream times are rounded down to the second, hence ``floor(T)``. Last-change times come from
   ``last_changes`` (an explicit mapping, e.g. from an incremental export) or else from the
   source's stream (:func:`last_change_by_key`), read only when there are differences and R > T.
   When the stream may not hold every change since T, ``coverage_warning`` says so.
4. **Verdict.** ``PASS`` iff there is no unexplained difference **and** no difference in flight:
   an item still changing has not been shown equal, and an auditor must not read PASS over it.
   ``in_flight`` is counted apart from ``unexplained`` so the operator knows to drain and re-run.

Values never appear in a log line. Reports show keys and attribute names only, unless
``show_values=True``. Keys are data too: with ``redact_keys=True`` every key is shown as its keyed
digest (:class:`runbook_lib.cdc.codec.KeyDigest`, HMAC-SHA256 under the buffer stack's secret), the
same digest the CDC handlers use as the message group id and log, so a row of a redacted report can
be matched to a log line or a DLQ message; values shown with ``show_values`` then leave out the key
attributes. Given a ``key_digest`` without redacting, reports show the key and its digest side by
side (column ``key_hash``). There is no unkeyed hash of a key anywhere: without a ``key_digest``
the ``key_hash`` column is empty and log lines name no key.
"""

from __future__ import annotations

import base64
import json
import logging
import marshal
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Context, Decimal, InvalidOperation
from hashlib import blake2b
from json.encoder import encode_basestring_ascii as _json_str
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from .cdc.codec import KeyDigest
from .aws.clients import AwsTarget
from .aws.codes import error_code, is_not_found
from .aws.streams import stream_shards
from .errors import InputError, PreconditionError
from .times import iso, to_utc, utcnow

__all__ = [
    "CHANGED", "CLASSES", "EXPLAINED", "EXTRA", "FAIL", "IN_FLIGHT", "KINDS", "MISSING", "PASS", "UNEXPLAINED",
    "Difference", "LastChanges", "RateLimit", "Reconciliation",
    "canonical_item", "canonical_number", "canonical_value", "count_items", "differing_attributes",
    "check_redaction", "item_digest", "key_digest_for", "key_digest_secret_arn", "key_from_id", "key_id",
    "last_change_by_key", "load_key_digest", "reconcile", "to_wire",
    "verdict_for",
]

log = logging.getLogger(__name__)

MISSING = "missing"  # in the source, not in the target
EXTRA = "extra"  # in the target, not in the source
CHANGED = "changed"  # in both, some attribute differs
KINDS = (MISSING, EXTRA, CHANGED)

EXPLAINED = "explained"
UNEXPLAINED = "unexplained"
IN_FLIGHT = "in_flight"
CLASSES = (EXPLAINED, UNEXPLAINED, IN_FLIGHT)

PASS = "PASS"
FAIL = "FAIL"

#: a DynamoDB stream keeps its records for 24 hours
STREAM_RETENTION = timedelta(hours=24)

_SOURCE, _TARGET = 0, 1
_SIDES = ("source", "target")

# --------------------------------------------------------------------------------------------
# Canonical encoding: pure functions, no AWS.
# --------------------------------------------------------------------------------------------

#: DynamoDB numbers have up to 38 significant digits; normalising must never round them.
_NUMBER_CONTEXT = Context(prec=80)
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode
_DIGEST_SIZE = 16
#: marshal format 2 has no back-references, so equal values always give equal bytes (format 3 and
#: later mark shared objects, which makes the bytes depend on reference counts).
_MARSHAL_VERSION = 2


#: one row per difference: the DataFrame's columns and differences.csv's
DIFFERENCE_COLUMNS = (
    "key",
    "key_hash",
    "kind",
    "classification",
    "attributes",
    "last_change",
    "source_values",
    "target_values",
)

def canonical_number(text: str) -> str:
    """The canonical text of a DynamoDB number: ``"1"``, ``"1.0"`` and ``"1E0"`` all give ``"1"``.

    Plain decimal notation, no exponent, no trailing fractional zeros, ``"0"`` for every zero.
    """
    # Fast path: plain notation without an exponent, leading or trailing zeros is already canonical.
    if text.isascii():
        body = text[1:] if text[:1] == "-" else text
        if body.isdigit():
            if body[0] != "0":
                return text
            if body == "0":
                return "0"
        else:
            whole, dot, fraction = body.partition(".")
            if (
                dot
                and fraction.isdigit()
                and fraction[-1] != "0"
                and whole.isdigit()
                and (whole[0] != "0" or whole == "0")
            ):
                return text
    try:
        number = Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError("not a DynamoDB number") from None  # the value itself is not repeated
    if not number.is_finite():
        raise ValueError("not a DynamoDB number")
    if number.is_zero():
        return "0"
    return format(number.normalize(_NUMBER_CONTEXT), "f")


def _binary(value: bytes | bytearray | str) -> bytes:
    """Binary by its bytes (boto3 gives bytes; the wire format, and key ids, give base64 text)."""
    if isinstance(value, str):
        return base64.b64decode(value, validate=True)
    return bytes(value)


def _canonical_binary(value: bytes | bytearray | str) -> str:
    return base64.b64encode(_binary(value)).decode("ascii")


def canonical_value(av: Mapping[str, Any]) -> tuple:
    """One attribute value (``{"N": "1.0"}``) in canonical form: a nested tuple, type tag first.

    Numbers by value (:func:`canonical_number`), sets as sorted sets, maps sorted by key, lists in
    order, binary by bytes; the tag is kept, so ``{"S": "1"}``, ``{"N": "1"}`` and ``{"B": ...}``
    differ. Equal values give equal tuples; the tuples only ever feed a digest.
    """
    for kind, value in av.items():
        break
    else:
        raise ValueError("empty attribute value")
    if kind == "S":
        return ("S", value)
    if kind == "N":
        return ("N", canonical_number(value))
    if kind == "BOOL":
        return ("BOOL", bool(value))
    if kind == "NULL":
        return ("NULL", True)
    if kind == "M":
        return ("M", tuple(sorted([(name, canonical_value(inner)) for name, inner in value.items()])))
    if kind == "L":
        return ("L", tuple([canonical_value(inner) for inner in value]))
    if kind == "SS":
        return ("SS", tuple(sorted(set(value))))
    if kind == "NS":
        return ("NS", tuple(sorted({canonical_number(v) for v in value})))
    if kind == "B":
        return ("B", _binary(value))
    if kind == "BS":
        return ("BS", tuple(sorted({_binary(v) for v in value})))
    raise ValueError(f"unknown attribute type {kind!r}")


def canonical_item(item: Mapping[str, Mapping[str, Any]]) -> tuple:
    """An item (DynamoDB JSON, as the low-level client returns it) in canonical form."""
    out = []
    for name, av in item.items():
        for kind, value in av.items():
            break
        # the common scalar types inline: this runs once per scanned item
        if kind == "S":
            out.append((name, ("S", value)))
        elif kind == "N":
            out.append((name, ("N", canonical_number(value))))
        else:
            out.append((name, canonical_value(av)))
    out.sort()
    return tuple(out)


def item_digest(item: Mapping[str, Mapping[str, Any]]) -> bytes:
    """16-byte BLAKE2b digest of the item's canonical encoding: equal items, equal digests.

    Digests are compared within one process only (never stored), so the encoding is marshal's.
    """
    return blake2b(marshal.dumps(canonical_item(item), _MARSHAL_VERSION), digest_size=_DIGEST_SIZE).digest()


def attribute_digests(item: Mapping[str, Mapping[str, Any]] | None) -> dict[str, bytes]:
    """Per-attribute digests, computed only for the few items that differ."""
    if not item:
        return {}
    return {
        name: blake2b(marshal.dumps(canonical_value(av), _MARSHAL_VERSION), digest_size=_DIGEST_SIZE).digest()
        for name, av in item.items()
    }


def differing_attributes(
    source: Mapping[str, Mapping[str, Any]] | None, target: Mapping[str, Mapping[str, Any]] | None
) -> tuple[str, ...]:
    """Names of the attributes whose values differ (or exist on one side only), sorted."""
    a, b = attribute_digests(source), attribute_digests(target)
    return tuple(sorted(name for name in a.keys() | b.keys() if a.get(name) != b.get(name)))


def key_id(key: Mapping[str, Mapping[str, Any]], names: Iterable[str] | None = None) -> str:
    """A compact, canonical, reversible text for a primary key (or the key part of an item).

    ``{"pk": {"S": "a"}, "sk": {"N": "1.0"}}`` gives ``[["pk","S","a"],["sk","N","1"]]`` (JSON,
    ASCII, key attributes sorted by name, numbers canonical, binary as base64). ``names`` picks
    the key attributes out of a whole item. This is the key of every mapping this module takes or
    returns (``last_changes``).
    """
    parts = []
    for name in sorted(names) if names is not None else sorted(key):
        for kind, value in key[name].items():
            break
        if kind == "N":
            value = canonical_number(value)
        elif kind == "B":
            value = _canonical_binary(value)
        elif kind != "S":
            raise ValueError(f"key attribute {name!r} has type {kind!r}; keys are S, N or B")
        parts.append(f'[{_json_str(name)},"{kind}",{_json_str(value)}]')
    return "[" + ",".join(parts) + "]"


def key_from_id(kid: str) -> dict[str, dict[str, str]]:
    """The DynamoDB JSON key (wire form: binary as base64 text) back from :func:`key_id`."""
    return {name: {kind: value} for name, kind, value in json.loads(kid)}


def _key_for_request(kid: str) -> dict[str, dict[str, Any]]:
    key: dict[str, dict[str, Any]] = {}
    for name, kind, value in json.loads(kid):
        key[name] = {kind: base64.b64decode(value) if kind == "B" else value}
    return key


def to_wire(av: Mapping[str, Any]) -> dict[str, Any]:
    """An attribute value as JSON-ready DynamoDB JSON (binary as base64 text, sets as lists)."""
    for kind, value in av.items():
        break
    if kind == "B":
        return {"B": _canonical_binary(value)}
    if kind == "BS":
        return {"BS": [_canonical_binary(v) for v in value]}
    if kind in ("SS", "NS"):
        return {kind: list(value)}
    if kind == "M":
        return {"M": {k: to_wire(v) for k, v in value.items()}}
    if kind == "L":
        return {"L": [to_wire(v) for v in value]}
    return {kind: value}


# --------------------------------------------------------------------------------------------
# Rate limiting and progress
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """Read budget for each table: items and/or read capacity units per second (average).

    The budget is shared by every thread reading that table (a token bucket that may go into debt
    by one page: the next request waits until the debt is paid). Scan pages are sized to about a
    fraction of a second of budget; capacity comes from ``ReturnConsumedCapacity="TOTAL"``.
    """

    items_per_second: float | None = None
    capacity_units_per_second: float | None = None

    def __post_init__(self) -> None:
        for name in ("items_per_second", "capacity_units_per_second"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise InputError(f"rate limit {name} must be a positive number, not {value!r}")


class _Bucket:
    """Token bucket in debt mode: charge after the fact, wait before the next call while in debt."""

    def __init__(self, rate: float) -> None:
        self.rate = float(rate)
        self.tokens = 0.0
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def _refill(self, now: float) -> None:
        # At most one second of unused budget is saved up.
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now

    def wait(self) -> None:
        while True:
            with self.lock:
                self._refill(time.monotonic())
                if self.tokens >= 0:
                    return
                delay = -self.tokens / self.rate
            time.sleep(min(delay, 1.0))

    def charge(self, amount: float) -> None:
        with self.lock:
            self._refill(time.monotonic())
            self.tokens -= amount


class _Throttle:
    """The read budget of one table, shared by its threads."""

    def __init__(self, limit: RateLimit | None, threads: int) -> None:
        self.items = _Bucket(limit.items_per_second) if limit and limit.items_per_second else None
        self.units = (
            _Bucket(limit.capacity_units_per_second) if limit and limit.capacity_units_per_second else None
        )
        self.threads = max(1, threads)
        self._lock = threading.Lock()
        self._seen_items = 0
        self._seen_units = 0.0
        self.consumed_units = 0.0

    def wait(self) -> None:
        if self.items:
            self.items.wait()
        if self.units:
            self.units.wait()

    def charge(self, items: int, units: float) -> None:
        with self._lock:
            self._seen_items += items
            self._seen_units += units
            self.consumed_units += units
        if self.items:
            self.items.charge(items)
        if self.units:
            self.units.charge(units)

    def page_limit(self) -> int | None:
        """Items per Scan page so that one page is about a quarter second of one thread's budget."""
        limits = []
        if self.items:
            limits.append(self.items.rate / self.threads / 4)
        if self.units:
            with self._lock:
                per_item = self._seen_units / self._seen_items if self._seen_items else 0.5
            limits.append(self.units.rate / self.threads / 4 / max(per_item, 1e-3))
        if not limits:
            return None
        return max(1, min(10_000, int(min(limits))))


class _Progress:
    """Per-table progress: a callback ``progress(side, scanned, estimated_total)`` or tqdm bars."""

    def __init__(self, progress: Any, estimates: tuple[int | None, int | None], names: tuple[str, str]) -> None:
        self.callback: Callable[[str, int, int | None], None] | None = None
        self.bars = None
        self.estimates = estimates
        self.counts = [0, 0]
        self.lock = threading.Lock()
        if progress is True or progress == "tqdm":
            from tqdm.auto import tqdm

            self.bars = [
                tqdm(total=estimates[i], desc=f"{_SIDES[i]} {names[i]}", unit="item", position=i, leave=True)
                for i in (0, 1)
            ]
        elif callable(progress):
            self.callback = progress
        elif progress not in (None, False):
            raise InputError("progress must be None, True, 'tqdm' or a callable(side, scanned, estimated_total)")

    def add(self, side: int, n: int) -> None:
        with self.lock:
            self.counts[side] += n
            count = self.counts[side]
            if self.bars is not None:
                self.bars[side].update(n)
            if self.callback is not None:
                self.callback(_SIDES[side], count, self.estimates[side])

    def close(self) -> None:
        if self.bars is not None:
            for bar in self.bars:
                bar.close()


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One key that differs after the re-reads.

    ``key`` is the DynamoDB JSON key (wire form), or its keyed digest when keys are redacted;
    ``key_hash`` is the keyed digest whenever the reconciliation had a ``key_digest`` (what the
    handlers log and use as message group id), else empty. ``source_values`` and ``target_values``
    hold the differing attributes (DynamoDB JSON) only with ``show_values=True`` (never the key
    attributes when keys are redacted).
    """

    key: dict[str, Any] | str
    kind: str
    attributes: tuple[str, ...]
    classification: str
    last_change: datetime | None
    key_hash: str = ""
    source_values: dict[str, Any] | None = None
    target_values: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "key": self.key,
            "key_hash": self.key_hash,
            "kind": self.kind,
            "attributes": list(self.attributes),
            "classification": self.classification,
            "last_change": iso(self.last_change) if self.last_change else None,
            "source_values": self.source_values,
            "target_values": self.target_values,
        }


@dataclass(frozen=True)
class Reconciliation:
    """Everything one reconciliation found; computed once by :func:`reconcile`, then asked."""

    source_table: str
    target_table: str
    source_count: int
    target_count: int
    items_scanned: int
    scan_seconds: float
    items_per_second: float
    differences: tuple[Difference, ...]
    explained: int
    unexplained: int
    in_flight: int
    verdict: str
    restore_time: datetime | None = None
    replay_from: datetime | None = None
    coverage_warning: str | None = None
    settled: int = 0
    reread_rounds: int = 0
    segments: int = 1
    consumed_capacity: dict[str, float] = field(default_factory=dict)
    started_at: datetime | None = None
    seconds: float = 0.0
    show_values: bool = False
    show_keys: bool = True
    sample_size: int = 20
    #: ``key_hash`` holds keyed digests (a ``key_digest`` was given)
    keys_digested: bool = False
    #: the ARN of the secret that keyed ``key_hash`` (never its value), when known
    key_digest_secret_arn: str | None = None
    #: most keys held at once while matching (memory is about 170 bytes for each)
    peak_unmatched_keys: int = 0

    # -- asking -------------------------------------------------------------------------------
    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    @property
    def missing_in_target(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.kind == MISSING)

    @property
    def extra_in_target(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.kind == EXTRA)

    @property
    def changed(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.kind == CHANGED)

    def by_class(self, classification: str) -> tuple[Difference, ...]:
        if classification not in CLASSES:
            raise InputError(f"classification must be one of {', '.join(CLASSES)}")
        return tuple(d for d in self.differences if d.classification == classification)

    def counts_by_kind(self) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 0)
        for d in self.differences:
            counts[d.kind] += 1
        return counts

    def counts_by_class_and_kind(self) -> dict[str, dict[str, int]]:
        table = {c: dict.fromkeys(KINDS, 0) for c in CLASSES}
        for d in self.differences:
            table[d.classification][d.kind] += 1
        return table

    def sample(self, n: int | None = None) -> tuple[Difference, ...]:
        """The first ``n`` differences (``sample_size`` by default), unexplained and in flight first."""
        order = {UNEXPLAINED: 0, IN_FLIGHT: 1, EXPLAINED: 2}
        ranked = sorted(self.differences, key=lambda d: order[d.classification])
        return tuple(ranked[: self.sample_size if n is None else n])

    def to_dataframe(self):
        """The differences as a pandas DataFrame, one row per key (values only if asked for)."""
        import pandas as pd

        columns = list(DIFFERENCE_COLUMNS)
        rows = [
            {
                "key": d.key if isinstance(d.key, str) else _dumps(d.key),
                "key_hash": d.key_hash,
                "kind": d.kind,
                "classification": d.classification,
                "attributes": ";".join(d.attributes),
                "last_change": d.last_change,
                "source_values": _dumps(d.source_values) if d.source_values is not None else None,
                "target_values": _dumps(d.target_values) if d.target_values is not None else None,
            }
            for d in self.differences
        ]
        frame = pd.DataFrame(rows, columns=columns)
        frame["last_change"] = pd.to_datetime(frame["last_change"], utc=True)
        return frame

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: verdict, counts, classes, T and R, throughput, a sample."""
        kinds = self.counts_by_kind()
        return {
            "verdict": self.verdict,
            "source_table": self.source_table,
            "target_table": self.target_table,
            "counts": {"source": self.source_count, "target": self.target_count},
            "differences": {**kinds, "total": len(self.differences)},
            "explained": self.explained,
            "unexplained": self.unexplained,
            "in_flight": self.in_flight,
            "settled_on_reread": self.settled,
            "restore_time": iso(self.restore_time) if self.restore_time else None,
            "replay_from": iso(self.replay_from) if self.replay_from else None,
            "coverage_warning": self.coverage_warning,
            "items_scanned": self.items_scanned,
            "scan_seconds": round(self.scan_seconds, 3),
            "items_per_second": round(self.items_per_second, 1),
            "segments": self.segments,
            "peak_unmatched_keys": self.peak_unmatched_keys,
            "reread_rounds": self.reread_rounds,
            "consumed_capacity_units": {k: round(v, 1) for k, v in self.consumed_capacity.items()},
            "values_shown": self.show_values,
            "keys_shown": self.show_keys,
            "key_digest": (
                {"algorithm": "HMAC-SHA256", "secret_arn": self.key_digest_secret_arn}
                if self.keys_digested
                else None
            ),
            "sample": [d.to_dict() for d in self.sample()],
        }

    def _repr_html_(self) -> str:  # a notebook shows the verdict line and the counts
        import html

        colour = "#1a7f37" if self.passed else "#cf222e"
        s = self.summary()
        return (
            f'<p><b style="color:{colour}">{html.escape(self.verdict)}</b> '
            f"{html.escape(self.source_table)} &rarr; {html.escape(self.target_table)}: "
            f"{s['counts']['source']} / {s['counts']['target']} items; "
            f"{self.unexplained} unexplained, {self.in_flight} in flight, {self.explained} explained</p>"
        )


# --------------------------------------------------------------------------------------------
# AWS: tables, counts, scans
# --------------------------------------------------------------------------------------------


#: at most this many reading threads per call; more segments than threads queue up
MAX_THREADS = 64


def _threads(wanted: int) -> int:
    return max(1, min(MAX_THREADS, wanted))


def _client(target: AwsTarget, service: str, threads: int):
    return target.client(service, config=Config(max_pool_connections=max(10, _threads(threads) + 2)))


def _describe(client, table: str) -> dict[str, Any]:
    try:
        desc = client.describe_table(TableName=table)["Table"]
    except ClientError as exc:
        code = error_code(exc)
        if code == "ResourceNotFoundException":
            raise InputError(
                f"table {table} not found: check the table name and the region/endpoint", table=table, code=code
            ) from None
        raise
    if desc.get("TableStatus") not in ("ACTIVE", "UPDATING"):
        raise PreconditionError(
            f"table {table} is {desc.get('TableStatus')}, not ACTIVE: wait for it (a restore takes a while)",
            table=table,
        )
    return desc


def _key_schema(desc: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    types = {a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])}
    return tuple((k["KeyType"], k["AttributeName"], types.get(k["AttributeName"], "?")) for k in desc["KeySchema"])


def _check_segments(segments: int) -> None:
    if not isinstance(segments, int) or not 1 <= segments <= 1_000_000:
        raise InputError(f"segments must be an integer from 1 to 1,000,000, not {segments!r}")


def _as_rate_limit(rate_limit: RateLimit | float | int | None) -> RateLimit | None:
    if rate_limit is None or isinstance(rate_limit, RateLimit):
        return rate_limit
    if isinstance(rate_limit, (int, float)) and not isinstance(rate_limit, bool):
        return RateLimit(items_per_second=float(rate_limit))
    raise InputError("rate_limit must be a RateLimit or a number of items per second")


def count_items(
    target: AwsTarget,
    table: str,
    *,
    segments: int = 4,
    rate_limit: RateLimit | float | None = None,
) -> int:
    """Exact item count by parallel ``Scan(Select="COUNT")`` (never ``ItemCount``)."""
    _check_segments(segments)
    client = _client(target, "dynamodb", segments)
    _describe(client, table)
    throttle = _Throttle(_as_rate_limit(rate_limit), _threads(segments))

    def segment(seg: int) -> int:
        total = 0
        kwargs: dict[str, Any] = {"TableName": table, "Select": "COUNT", "ReturnConsumedCapacity": "TOTAL"}
        kwargs.update(_segment_args(seg, segments))
        while True:
            throttle.wait()
            limit = throttle.page_limit()
            if limit:
                kwargs["Limit"] = limit
            resp = client.scan(**kwargs)
            total += resp["Count"]
            throttle.charge(resp.get("ScannedCount", resp["Count"]), _units(resp.get("ConsumedCapacity")))
            if "LastEvaluatedKey" not in resp:
                return total
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    with ThreadPoolExecutor(max_workers=_threads(segments), thread_name_prefix="count") as pool:
        return sum(pool.map(segment, range(segments)))


def _segment_args(seg: int, segments: int) -> dict[str, int]:
    """``Segment``/``TotalSegments``, left out for a single segment (a plain scan reads the same)."""
    return {"Segment": seg, "TotalSegments": segments} if segments > 1 else {}


def _units(consumed: Any) -> float:
    if not consumed:
        return 0.0
    if isinstance(consumed, list):
        return float(sum(c.get("CapacityUnits", 0.0) for c in consumed))
    return float(consumed.get("CapacityUnits", 0.0))


class _Matcher:
    """Keys seen on one side only so far; a key seen on both sides leaves at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.only: tuple[dict[str, bytes], dict[str, bytes]] = ({}, {})
        self.changed: dict[str, tuple[bytes, bytes]] = {}  # key id -> (source, target) digests
        self.peak_pending = 0

    def feed(self, side: int, pairs: list[tuple[str, bytes]]) -> None:
        mine, other = self.only[side], self.only[1 - side]
        changed = self.changed
        with self.lock:
            for kid, digest in pairs:
                seen = other.pop(kid, None)
                if seen is None:
                    mine[kid] = digest
                elif seen != digest:
                    changed[kid] = (digest, seen) if side == _SOURCE else (seen, digest)
            pending = len(mine) + len(other)
            if pending > self.peak_pending:
                self.peak_pending = pending


def _scan_both(
    client,
    tables: tuple[str, str],
    key_names: tuple[str, ...],
    segments: int,
    throttles: tuple[_Throttle, _Throttle],
    progress: _Progress,
) -> tuple[_Matcher, list[int]]:
    matcher = _Matcher()
    counts = [0, 0]
    counts_lock = threading.Lock()
    stop = threading.Event()

    def key_of(item: Mapping[str, Any]) -> str:
        return key_id(item, key_names)

    def worker(side: int, seg: int) -> None:
        throttle = throttles[side]
        kwargs: dict[str, Any] = {"TableName": tables[side], "ReturnConsumedCapacity": "TOTAL"}
        kwargs.update(_segment_args(seg, segments))
        seen = 0
        try:
            while not stop.is_set():
                throttle.wait()
                limit = throttle.page_limit()
                if limit:
                    kwargs["Limit"] = limit
                resp = client.scan(**kwargs)
                items = resp["Items"]
                throttle.charge(resp.get("ScannedCount", len(items)), _units(resp.get("ConsumedCapacity")))
                matcher.feed(side, [(key_of(item), item_digest(item)) for item in items])
                seen += len(items)
                progress.add(side, len(items))
                last = resp.get("LastEvaluatedKey")
                if not last:
                    break
                kwargs["ExclusiveStartKey"] = last
        except BaseException:
            stop.set()
            raise
        with counts_lock:
            counts[side] += seen

    # segment i of both tables side by side: their keys mostly match as they arrive
    with ThreadPoolExecutor(max_workers=_threads(2 * segments), thread_name_prefix="reconcile-scan") as pool:
        futures = [pool.submit(worker, side, seg) for seg in range(segments) for side in (_SOURCE, _TARGET)]
        for future in futures:
            future.result()
    return matcher, counts


def _batch_read(
    client,
    tables: tuple[str, str],
    key_names: tuple[str, ...],
    kids: list[str],
    throttles: tuple[_Throttle, _Throttle],
) -> tuple[dict[str, dict], dict[str, dict]]:
    """Consistent reads of ``kids`` on both tables (BatchGetItem, the batched GetItem)."""
    found: tuple[dict[str, dict], dict[str, dict]] = ({}, {})
    request = {
        tables[_SOURCE]: {"Keys": [_key_for_request(k) for k in kids], "ConsistentRead": True},
        tables[_TARGET]: {"Keys": [_key_for_request(k) for k in kids], "ConsistentRead": True},
    }
    delay = 0.05
    while request:
        for side in (_SOURCE, _TARGET):
            throttles[side].wait()
        resp = client.batch_get_item(RequestItems=request, ReturnConsumedCapacity="TOTAL")
        for side in (_SOURCE, _TARGET):
            items = resp.get("Responses", {}).get(tables[side], [])
            units = sum(
                c.get("CapacityUnits", 0.0)
                for c in resp.get("ConsumedCapacity", []) or []
                if c.get("TableName") == tables[side]
            )
            throttles[side].charge(len(items), units)
            for item in items:
                found[side][key_id(item, key_names)] = item
        request = resp.get("UnprocessedKeys") or {}
        if request:
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    return found


# --------------------------------------------------------------------------------------------
# Last changes: the stream
# --------------------------------------------------------------------------------------------


class LastChanges(dict):
    """``{key id: time of the key's last change}``, with what the source knew about its coverage.

    ``oldest`` / ``newest``: the first and last record times read; ``stream_created``: when the
    stream was enabled; ``stream_disabled``: it no longer records; ``records``: how many records
    were read. An explicit mapping passed to
    :func:`reconcile` may be a plain dict (coverage then is the caller's word).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream_arn: str | None = None
        self.stream_created: datetime | None = None
        self.oldest: datetime | None = None
        self.newest: datetime | None = None
        self.records = 0
        self.read_at: datetime | None = None
        self.stream_disabled = False

    def coverage_warning(self, restore_time: datetime | None) -> str | None:
        """Why these times may miss a change made at or after ``restore_time``, or None."""
        if restore_time is None:
            return None
        if self.stream_arn is None:
            return "the source table has no stream: differences in [T, R) cannot be explained; pass last_changes"
        if self.stream_created and self.stream_created > restore_time:
            return (
                f"the source's stream was enabled at {iso(self.stream_created)}, after the restore point "
                f"{iso(restore_time)}: changes in between are unknown and cannot explain a difference"
            )
        if self.stream_disabled:
            return (
                "the source's stream is disabled: changes made since it was disabled are unknown "
                "and cannot explain a difference"
            )
        read_at = self.read_at or utcnow()
        may_be_trimmed = self.stream_created is None or self.stream_created < read_at - STREAM_RETENTION
        if may_be_trimmed and (self.oldest is None or self.oldest > restore_time):
            oldest = iso(self.oldest) if self.oldest else "none"
            return (
                f"the stream's oldest record ({oldest}) is newer than the restore point {iso(restore_time)} "
                "and records older than 24 h are trimmed: changes before it are unknown; "
                "use an incremental export (last_changes) to explain them"
            )
        return None


_as_utc = to_utc


def last_change_by_key(
    target: AwsTarget,
    source_table: str,
    *,
    keys: Iterable[str] | None = None,
    max_empty_reads: int = 3,
) -> LastChanges:
    """Read the source's stream from ``TRIM_HORIZON`` and give each key's last change time.

    Every shard, open and closed (``DescribeStream`` paginated with ``ExclusiveStartShardId``), is
    read until caught up: a closed shard until it has no next iterator, an open shard until a
    ``GetRecords`` call returns no records (after ``max_empty_reads`` empty calls in a row, so a
    quiet moment on AWS does not end the read early; it never loops forever). ``keys`` (key ids)
    keeps only those keys. Times are ``ApproximateCreationDateTime``, rounded down to the second.
    """
    ddb = target.client("dynamodb")
    streams = target.client("dynamodbstreams")
    desc = _describe(ddb, source_table)
    wanted = set(keys) if keys is not None else None
    result = LastChanges()
    result.read_at = utcnow()
    arn = desc.get("LatestStreamArn")  # a disabled stream stays readable for 24 hours
    if not arn:
        log.info("source %s has no stream", source_table)
        return result
    result.stream_arn = arn
    key_names = tuple(sorted(k["AttributeName"] for k in desc["KeySchema"]))

    listed = stream_shards(streams, arn)
    created = listed.description.get("CreationRequestDateTime")
    if created is not None:
        result.stream_created = _as_utc(created, "stream creation time")
    result.stream_disabled = listed.description.get("StreamStatus") in ("DISABLING", "DISABLED")
    shards = listed.shards

    for shard in shards:
        closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
        try:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        except ClientError as exc:
            if is_not_found(exc):
                continue  # the shard was trimmed away meanwhile
            raise
        empty = 0
        while iterator:
            resp = streams.get_records(ShardIterator=iterator, Limit=1000)
            records = resp.get("Records", [])
            for record in records:
                ddb_part = record.get("dynamodb", {})
                when = ddb_part.get("ApproximateCreationDateTime")
                if when is None:
                    continue
                when = _as_utc(when, "record time")
                result.records += 1
                if result.oldest is None or when < result.oldest:
                    result.oldest = when
                if result.newest is None or when > result.newest:
                    result.newest = when
                kid = key_id(ddb_part["Keys"], key_names)
                if wanted is not None and kid not in wanted:
                    continue
                previous = result.get(kid)
                if previous is None or when > previous:
                    result[kid] = when
            iterator = resp.get("NextShardIterator")
            if records:
                empty = 0
                continue
            empty += 1
            if not closed and empty >= max_empty_reads:
                break  # an open shard, caught up
            if closed and empty >= 1000:
                log.warning("closed shard of %s still returned no end after 1000 empty reads", source_table)
                break
    log.info("read %d stream records of %s across %d shards", result.records, source_table, len(shards))
    return result


def _normalise_last_changes(last_changes: Any) -> LastChanges:
    if isinstance(last_changes, LastChanges):
        return last_changes
    out = LastChanges()
    if isinstance(last_changes, Mapping):
        for k, when in last_changes.items():
            out[k if isinstance(k, str) else key_id(k)] = _as_utc(when, "last change")
        return out
    for k, when in last_changes:
        kid = k if isinstance(k, str) else key_id(k)
        when = _as_utc(when, "last change")
        if kid not in out or when > out[kid]:
            out[kid] = when
    return out


# --------------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Open:
    """A difference being re-read."""

    source_digest: bytes | None
    target_digest: bytes | None
    moving: bool = False
    attributes: tuple[str, ...] = ()
    source_values: dict[str, Any] | None = None
    target_values: dict[str, Any] | None = None


def _reread(
    client,
    tables: tuple[str, str],
    key_names: tuple[str, ...],
    open_: dict[str, _Open],
    rounds: int,
    wait_drained: Callable[[], None] | None,
    throttles: tuple[_Throttle, _Throttle],
    workers: int,
    show_values: bool,
) -> tuple[int, int]:
    """Re-read every open difference; return (settled, rounds used). ``open_`` is updated in place."""
    settled = 0
    used = 0
    for round_no in range(1, rounds + 1):
        if not open_:
            break
        if wait_drained is not None:
            wait_drained()
        used = round_no
        kids = list(open_)
        batches = [kids[i : i + 50] for i in range(0, len(kids), 50)]  # 2 x 50 keys = one BatchGetItem

        def one(batch: list[str]) -> list[tuple[str, dict | None, dict | None]]:
            src, tgt = _batch_read(client, tables, key_names, batch, throttles)
            return [(k, src.get(k), tgt.get(k)) for k in batch]

        any_moving = False
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(batches))), thread_name_prefix="reread") as pool:
            for results in pool.map(one, batches):
                for kid, src, tgt in results:
                    entry = open_[kid]
                    sd = item_digest(src) if src is not None else None
                    td = item_digest(tgt) if tgt is not None else None
                    if sd == td:
                        del open_[kid]
                        settled += 1
                        continue
                    entry.moving = sd != entry.source_digest or td != entry.target_digest
                    any_moving = any_moving or entry.moving
                    entry.source_digest, entry.target_digest = sd, td
                    entry.attributes = differing_attributes(src, tgt)
                    if show_values:
                        entry.source_values = {a: to_wire(src[a]) for a in entry.attributes if src and a in src}
                        entry.target_values = {a: to_wire(tgt[a]) for a in entry.attributes if tgt and a in tgt}
        log.info("re-read round %d: %d differences remain, %s still changing", round_no, len(open_),
                 "some" if any_moving else "none")
        if not any_moving:
            break
    return settled, used


def verdict_for(unexplained: int, in_flight: int) -> str:
    """PASS iff nothing is unexplained and nothing is still in flight."""
    return PASS if unexplained == 0 and in_flight == 0 else FAIL


def _floor_second(dt: datetime) -> datetime:
    return dt.replace(microsecond=0)


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
) -> Reconciliation:
    """Compare ``source_table`` with ``target_table`` item by item; see the module docstring.

    ``restore_time`` (T) and ``replay_from`` (R): datetimes or ISO-8601 strings; keys last changed
    in ``[floor(T), R)`` are explained. ``last_changes``: ``{key id: time}`` (see :func:`key_id`)
    or pairs ``(DynamoDB JSON key, time)``; without it the source's stream is read when needed.
    ``rate_limit``: a :class:`RateLimit` or items per second, for each table.
    ``progress``: None, True / ``"tqdm"`` for bars, or ``callable(side, scanned, estimated_total)``.
    ``redact_keys``: show every key as its keyed digest (``key_digest``, required then: checked
    before any call); ``key_digest_secret_arn`` names the secret that keyed it, for the report.
    """
    if redact_keys and key_digest is None:
        raise InputError(
            "redact_keys needs the key digest secret: pass key_digest (reconcile.load_key_digest of the "
            "buffer stack's KeyDigestSecretArn output, or of --key-digest-secret-arn), or do not redact keys"
        )
    if key_digest is not None and not isinstance(key_digest, KeyDigest):
        raise InputError("key_digest must be a runbook_lib.cdc.codec.KeyDigest")
    show_keys = not redact_keys
    _check_segments(segments)
    if not isinstance(reread_rounds, int) or reread_rounds < 1:
        raise InputError("reread_rounds must be at least 1: differences are always re-read with a consistent read")
    if source_table == target_table:
        raise InputError("source and target are the same table", table=source_table)
    if sample_size < 0:
        raise InputError("sample_size must be zero or more")
    t_point = _as_utc(restore_time, "restore_time")
    r_point = _as_utc(replay_from, "replay_from")
    limit = _as_rate_limit(rate_limit)
    started_at = utcnow()
    clock = time.monotonic()
    tables = (source_table, target_table)

    client = _client(target, "dynamodb", 2 * segments)
    descs = (_describe(client, source_table), _describe(client, target_table))
    schemas = (_key_schema(descs[0]), _key_schema(descs[1]))
    if schemas[0] != schemas[1]:
        raise InputError(
            f"key schemas differ: {source_table} has {_fmt_schema(schemas[0])}, "
            f"{target_table} has {_fmt_schema(schemas[1])}; reconcile tables with the same primary key",
            table=target_table,
        )
    key_names = tuple(sorted(name for _, name, _ in schemas[0]))

    # 1. scan both tables
    per_table = _threads(2 * segments) // 2 or 1
    throttles = (_Throttle(limit, per_table), _Throttle(limit, per_table))
    bar = _Progress(progress, (descs[0].get("ItemCount"), descs[1].get("ItemCount")), tables)
    log.info("reconcile %s -> %s: scanning both with %d segments each", source_table, target_table, segments)
    scan_clock = time.monotonic()
    try:
        matcher, counts = _scan_both(client, tables, key_names, segments, throttles, bar)
    finally:
        bar.close()
    scan_seconds = time.monotonic() - scan_clock
    scanned = counts[0] + counts[1]
    log.info(
        "scanned %d + %d items in %.1f s; %d missing, %d extra, %d changed before re-read (peak %d unmatched keys)",
        counts[0], counts[1], scan_seconds, len(matcher.only[_SOURCE]), len(matcher.only[_TARGET]),
        len(matcher.changed), matcher.peak_pending,
    )

    # 2. re-read the differences with consistent reads
    peak_unmatched = matcher.peak_pending
    open_: dict[str, _Open] = {}
    for kid, digest in matcher.only[_SOURCE].items():
        open_[kid] = _Open(digest, None)
    for kid, digest in matcher.only[_TARGET].items():
        open_[kid] = _Open(None, digest)
    for kid, (source_digest, target_digest) in matcher.changed.items():
        open_[kid] = _Open(source_digest, target_digest)
    del matcher
    settled, rounds_used = _reread(
        client, tables, key_names, open_, reread_rounds, wait_drained, throttles, _threads(segments), show_values
    )

    # 3. classify
    coverage_warning = None
    changes: LastChanges | None = None
    window = t_point is not None and r_point is not None and r_point > t_point
    if last_changes is not None:
        changes = _normalise_last_changes(last_changes)
        if window and changes.stream_arn is not None:
            coverage_warning = changes.coverage_warning(t_point)
    elif window and open_:
        changes = last_change_by_key(target, source_table, keys=open_.keys())
        coverage_warning = changes.coverage_warning(t_point)
    if coverage_warning:
        log.warning("coverage: %s", coverage_warning)

    differences = []
    order_by: dict[int, str] = {}
    explained = unexplained = in_flight = 0
    low = _floor_second(t_point) if t_point else None
    for kid, entry in open_.items():
        last = changes.get(kid) if changes is not None else None
        if entry.moving:
            cls = IN_FLIGHT
            in_flight += 1
        elif window and last is not None and low <= last < r_point:  # type: ignore[operator]
            cls = EXPLAINED
            explained += 1
        else:
            cls = UNEXPLAINED
            unexplained += 1
        if entry.source_digest is None:
            kind = EXTRA
        elif entry.target_digest is None:
            kind = MISSING
        else:
            kind = CHANGED
        key = key_from_id(kid)
        hashed = key_digest(key) if key_digest is not None else ""
        source_values, target_values = (entry.source_values, entry.target_values) if show_values else (None, None)
        if redact_keys and show_values:
            source_values = _without(source_values, key_names)
            target_values = _without(target_values, key_names)
        differences.append(
            Difference(
                key=key if show_keys else hashed,
                kind=kind,
                attributes=entry.attributes,
                classification=cls,
                last_change=last,
                key_hash=hashed,
                source_values=source_values,
                target_values=target_values,
            )
        )
        order_by[id(differences[-1])] = hashed or kid
        if hashed:
            log.debug("difference %s: %s, %s", hashed, kind, cls)
    rank = {UNEXPLAINED: 0, IN_FLIGHT: 1, EXPLAINED: 2}
    # redacted: ordered by digest, so that row order says nothing of how the keys sort
    differences.sort(key=lambda d: (rank[d.classification], KINDS.index(d.kind), order_by[id(d)]))

    verdict = verdict_for(unexplained, in_flight)
    result = Reconciliation(
        source_table=source_table,
        target_table=target_table,
        source_count=counts[0],
        target_count=counts[1],
        items_scanned=scanned,
        scan_seconds=scan_seconds,
        items_per_second=scanned / scan_seconds if scan_seconds > 0 else 0.0,
        differences=tuple(differences),
        explained=explained,
        unexplained=unexplained,
        in_flight=in_flight,
        verdict=verdict,
        restore_time=t_point,
        replay_from=r_point,
        coverage_warning=coverage_warning,
        settled=settled,
        reread_rounds=rounds_used,
        segments=segments,
        consumed_capacity={source_table: throttles[0].consumed_units, target_table: throttles[1].consumed_units},
        started_at=started_at,
        seconds=time.monotonic() - clock,
        show_values=show_values,
        show_keys=show_keys,
        sample_size=sample_size,
        peak_unmatched_keys=peak_unmatched,
        keys_digested=key_digest is not None,
        key_digest_secret_arn=key_digest_secret_arn if key_digest is not None else None,
    )
    log.info(
        "reconcile %s -> %s: %s (%d unexplained, %d in flight, %d explained, %d settled on re-read)",
        source_table, target_table, verdict, unexplained, in_flight, explained, settled,
    )
    return result


def _without(values: dict[str, Any] | None, names: Iterable[str]) -> dict[str, Any] | None:
    if values is None:
        return None
    return {name: value for name, value in values.items() if name not in set(names)}


def key_digest_secret_arn(state: Mapping[str, Any] | None, given: str | None = None) -> str | None:
    """The ARN of the secret that keys the key digest: ``given`` (``--key-digest-secret-arn``), else
    the buffer stack's ``KeyDigestSecretArn`` output recorded in ``state.json``; None if neither."""
    if given:
        return str(given).strip() or None
    outputs = ((state or {}).get("stack") or {}).get("outputs") or {}
    return outputs.get("KeyDigestSecretArn") or None


def check_redaction(state: Mapping[str, Any] | None, redact_keys: bool, given_arn: str | None = None) -> str | None:
    """Before any work: the secret ARN to key redacted keys with, or ``InputError`` naming the
    remedy when keys are to be redacted and there is none (no buffer stack in this run and no
    ``--key-digest-secret-arn``). Redacting with a throwaway key instead would hide the keys but
    match nothing: no log line, no DLQ message, no later report."""
    arn = key_digest_secret_arn(state, given_arn)
    if redact_keys and arn is None:
        raise InputError(
            "--redact-keys needs the key digest secret and this run has no buffer stack: pass "
            "--key-digest-secret-arn (the KeyDigestSecretArn output of the buffer stack whose logs the report is "
            "to match, or any Secrets Manager secret of 32 bytes or more), or --no-redact-keys",
            step="04_reconcile",
        )
    return arn


def key_digest_for(
    target: AwsTarget, state: Mapping[str, Any] | None, redact_keys: bool, given_arn: str | None = None
) -> tuple[KeyDigest | None, str | None]:
    """The key digest and its secret's ARN for a reconciliation (see :func:`check_redaction`).

    Redacting: the secret must be readable (``PreconditionError`` otherwise). Not redacting: the
    digest is only a convenience (the ``key_hash`` column next to each key), so a secret that cannot
    be read is logged and skipped.
    """
    arn = check_redaction(state, redact_keys, given_arn)
    if arn is None:
        return None, None
    try:
        return load_key_digest(target, arn), arn
    except PreconditionError as exc:
        if redact_keys:
            raise
        log.warning("keys shown without their digest: %s", exc)
        return None, None


def load_key_digest(target: AwsTarget, secret_arn: str) -> KeyDigest:
    """The key digest keyed with the secret ``secret_arn`` (the buffer stack's ``KeyDigestSecretArn``
    output, or any Secrets Manager secret of 32 bytes or more given with ``--key-digest-secret-arn``).

    Needs ``secretsmanager:GetSecretValue`` on that secret. The value stays in memory: it is never
    logged, written to ``state.json`` or a report, nor kept on the result.
    """
    if not isinstance(secret_arn, str) or not secret_arn.strip():
        raise InputError("the key digest secret ARN is empty: give the buffer stack's KeyDigestSecretArn output")
    try:
        answer = _client(target, "secretsmanager", 1).get_secret_value(SecretId=secret_arn.strip())
    except ClientError as exc:
        code = error_code(exc) or "ClientError"
        raise PreconditionError(
            f"cannot read the key digest secret {secret_arn} ({code}): the caller needs "
            "secretsmanager:GetSecretValue on it and the secret must exist (it is deleted with the buffer stack); "
            "or run without redacting keys",
            code=code,
        ) from None
    value = answer.get("SecretString")
    if value is None:
        value = answer.get("SecretBinary")
    try:
        return KeyDigest(value if value is not None else "")
    except ValueError as exc:
        raise PreconditionError(f"the secret {secret_arn} cannot key the key digest: {exc}") from None


def _fmt_schema(schema: tuple[tuple[str, str, str], ...]) -> str:
    return ", ".join(f"{kind} {name} ({typ})" for kind, name, typ in schema)

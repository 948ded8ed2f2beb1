"""Parallel segmented scans of both tables, under a read budget, matching keys as they arrive.

Both tables are scanned at the same time (``TotalSegments=segments``, one thread per segment and
table, eventually consistent reads, ``ReturnConsumedCapacity="TOTAL"``). Each item is reduced at
once to its key id and item digest (:mod:`.values`) and dropped; a key seen on both sides leaves
memory as soon as the second side is seen (:class:`_Matcher`), so memory holds only the keys not yet
matched. The counts are exact: every item is counted once by that same scan (``ItemCount`` is never
used; it is refreshed about every six hours). :func:`count_items` counts a table alone with
``Select="COUNT"``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..aws.clients import AwsTarget
from ..errors import InputError
from .tables import _check_segments, _client, _describe, _threads
from .values import item_digest, key_id

_SOURCE, _TARGET = 0, 1
_SIDES = ("source", "target")


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

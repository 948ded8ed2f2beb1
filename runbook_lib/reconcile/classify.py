"""Every difference left after the re-reads, classified: explained, unexplained or in flight.

With restore point T and replay start R, a difference whose key last changed in ``[floor(T), R)`` is
**explained** (written in the window the restore reverts on purpose; stream times are rounded down
to the second, hence ``floor(T)``). An item that still changed between the last two consistent
reads is **in flight**. Anything else is **unexplained**.

With ``live_source`` (a drill: the source stays live, the restored table is a scratch copy nobody
writes), a difference still moving on the source side only, whose key changed in the window, is
explained too: the source's own writes since T account for it, and they will not stop for the drill.

With ``live_source`` and a buffer replaying the source into the restored table (``explain_from``, a
drill ``--with-buffer``), the buffer has applied every change older than ``explain_from`` (the moment
it was seen caught up, less its lag): a difference is explained only when its key changed at or
after that moment (a write the buffer has not applied yet, whichever side is moving); any other
difference is unexplained, as the buffer should have applied it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..cdc.codec import KeyDigest
from .reread import _Open
from .result import CHANGED, EXPLAINED, EXTRA, IN_FLIGHT, KINDS, MISSING, UNEXPLAINED, Difference
from .values import key_from_id

log = logging.getLogger(__name__)

#: the order of the differences: what fails the verdict first
_RANK = {UNEXPLAINED: 0, IN_FLIGHT: 1, EXPLAINED: 2}


@dataclass(frozen=True)
class Classified:
    """The differences, in report order, and how many fell in each class."""

    differences: tuple[Difference, ...]
    explained: int
    unexplained: int
    in_flight: int


def classify(
    open_: Mapping[str, _Open],
    *,
    changes: Mapping[str, datetime] | None,
    restore_time: datetime | None,
    replay_from: datetime | None,
    key_names: tuple[str, ...],
    key_digest: KeyDigest | None,
    redact_keys: bool,
    show_values: bool,
    live_source: bool = False,
    explain_from: datetime | None = None,
) -> Classified:
    """One :class:`Difference` per key still open, ordered unexplained, in flight, explained, then
    by kind, then by key (by digest when keys are redacted, so that row order says nothing of how
    the keys sort)."""
    window = restore_time is not None and replay_from is not None and replay_from > restore_time
    start = max(restore_time, explain_from) if restore_time and explain_from else restore_time
    low = _floor_second(start) if start else None
    differences: list[Difference] = []
    order_by: dict[int, str] = {}
    counts = {EXPLAINED: 0, UNEXPLAINED: 0, IN_FLIGHT: 0}
    for kid, entry in open_.items():
        last = changes.get(kid) if changes is not None else None
        in_window = window and last is not None and low <= last < replay_from  # type: ignore[operator]
        if explain_from is not None and live_source:  # the buffer writes the target: either side may move
            cls = EXPLAINED if in_window else (IN_FLIGHT if entry.moving else UNEXPLAINED)
        elif entry.moving and not (live_source and in_window and not entry.target_moving):
            cls = IN_FLIGHT
        elif in_window:
            cls = EXPLAINED
        else:
            cls = UNEXPLAINED
        counts[cls] += 1
        kind = _kind(entry)
        key = key_from_id(kid)
        hashed = key_digest(key) if key_digest is not None else ""
        source_values, target_values = (entry.source_values, entry.target_values) if show_values else (None, None)
        if redact_keys and show_values:
            source_values = _without(source_values, key_names)
            target_values = _without(target_values, key_names)
        differences.append(
            Difference(
                key=hashed if redact_keys else key,
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
    differences.sort(key=lambda d: (_RANK[d.classification], KINDS.index(d.kind), order_by[id(d)]))
    return Classified(tuple(differences), counts[EXPLAINED], counts[UNEXPLAINED], counts[IN_FLIGHT])


def _kind(entry: _Open) -> str:
    if entry.source_digest is None:
        return EXTRA
    if entry.target_digest is None:
        return MISSING
    return CHANGED


def _floor_second(dt: datetime) -> datetime:
    return dt.replace(microsecond=0)


def _without(values: dict[str, Any] | None, names: Iterable[str]) -> dict[str, Any] | None:
    if values is None:
        return None
    return {name: value for name, value in values.items() if name not in set(names)}

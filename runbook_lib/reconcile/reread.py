"""Consistent re-reads of every difference after the buffer drained, until nothing moves."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .scan import _SOURCE, _TARGET, _Throttle
from .values import _key_for_request, differing_attributes, item_digest, key_id, to_wire

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Open:
    """A difference being re-read."""

    source_digest: bytes | None
    target_digest: bytes | None
    moving: bool = False
    #: the target's side changed between the last two reads (``moving`` is either side)
    target_moving: bool = False
    attributes: tuple[str, ...] = ()
    source_values: dict[str, Any] | None = None
    target_values: dict[str, Any] | None = None


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
                    entry.target_moving = td != entry.target_digest
                    entry.moving = sd != entry.source_digest or entry.target_moving
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

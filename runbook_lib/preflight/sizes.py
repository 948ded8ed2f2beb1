"""Item sizes: the largest items of a bounded sample against the buffer queue's maximum message size."""

from __future__ import annotations

import base64
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from ..aws.clients import AwsTarget
from ..cdc.codec import MAX_MESSAGE_BYTES as DEFAULT_MAX_MESSAGE_BYTES  # the buffer queue's, deployed by default
from .result import PASS, WARN, CheckRow

#: What a buffered change carries besides the item image (event id, name, keys, sequence
#: number, times, table), in bytes: a generous allowance.
MESSAGE_OVERHEAD_BYTES = 1024


def check_item_sizes(
    target: AwsTarget,
    table: str,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    sample_items: int = 1000,
    message_overhead_bytes: int = MESSAGE_OVERHEAD_BYTES,
) -> CheckRow:
    """The largest items of a bounded sample against the buffer queue's maximum message size.

    Each item's size is estimated both by DynamoDB's rules (:func:`item_size`) and as the JSON
    the buffer sends (:func:`json_size`, binaries in base64); the larger must fit in
    ``max_message_bytes`` minus the envelope. Larger items are not lost: they travel as their
    key and the applier re-reads them (WARN). Only sizes are reported.
    """
    ddb = target.client("dynamodb")
    budget = max_message_bytes - message_overhead_bytes
    sizes: list[tuple[int, int]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    more = False
    while len(sizes) < sample_items:
        kwargs["Limit"] = min(sample_items - len(sizes), 1000)
        page = ddb.scan(**kwargs)
        for item in page.get("Items") or []:
            sizes.append((item_size(item), json_size(item)))
        more = bool(page.get("LastEvaluatedKey"))
        if not more:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    if not sizes:
        return CheckRow("item_sizes", PASS, f"{table} is empty: no item to size")
    largest_ddb = max(s[0] for s in sizes)
    largest_json = max(s[1] for s in sizes)
    over = sum(1 for s in sizes if max(s) > budget)
    scope = f"sample of {len(sizes)} item(s){' (not the whole table)' if more else ' (the whole table)'}"
    finding = (
        f"{scope}: largest {_kb(largest_ddb)} by DynamoDB's size rules, {_kb(largest_json)} as a JSON message; "
        f"budget {_kb(budget)} (max message {_kb(max_message_bytes)} minus {_kb(message_overhead_bytes)} envelope)"
    )
    if not over:
        return CheckRow("item_sizes", PASS, finding)
    return CheckRow(
        "item_sizes",
        WARN,
        f"{finding}; {over} sampled item(s) over budget: such changes travel as their key only and the "
        "applier re-reads the item from the source at apply time (still convergent, slower)",
        "acceptable; to carry full images raise the buffer queue's MaximumMessageSize (up to 1 MiB)",
    )


def _kb(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KB"


def item_size(item: dict) -> int:
    """An item's size by DynamoDB's rules: attribute name bytes plus value bytes, recursively."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _number_size(text: str) -> int:
    try:
        digits = Decimal(text).normalize().as_tuple().digits
    except InvalidOperation:
        digits = tuple(c for c in text if c.isdigit())
    significant = len(digits) if any(digits) else 1
    return (significant + 1) // 2 + 1


def _binary_len(value: Any) -> int:
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    try:
        return len(base64.b64decode(value, validate=True))
    except Exception:  # noqa: BLE001 - a non-base64 string: count its bytes
        return len(str(value).encode())


def _value_size(value: dict) -> int:
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return _number_size(v)
    if kind == "B":
        return _binary_len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(_number_size(n) for n in v)
    if kind == "BS":
        return sum(_binary_len(b) for b in v)
    if kind == "L":
        return 3 + sum(1 + _value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(e) for k, e in v.items())
    return len(json.dumps(v, default=str).encode())


def json_size(item: dict) -> int:
    """The item's size as DynamoDB JSON (what a stream record's image is), binaries in base64."""

    def default(o: Any) -> Any:
        if isinstance(o, (bytes, bytearray)):
            return base64.b64encode(o).decode()
        if isinstance(o, set):
            return list(o)
        return str(o)

    return len(json.dumps(item, default=default, separators=(",", ":")).encode())

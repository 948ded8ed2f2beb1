"""Request and item counters of a running sandbox, for benchmarks that report cost per change.

AWS bills DynamoDB by request units per item and SQS by request; to state what a replayed change
costs, ``benchmarks/replay_bench.py`` reads these counters before and after a replay:

- ``requests``: ``"dynamodb.BatchWriteItem": n`` — one per API call, every DynamoDB and SQS
  operation (whatever its outcome);
- ``items``: ``"dynamodb.BatchWriteItem:<table>": n`` — item requests per table inside the
  DynamoDB item calls (``PutItem``, ``UpdateItem``, ``DeleteItem``, ``GetItem``: one each;
  ``BatchWriteItem``, ``BatchGetItem``, ``TransactWriteItems``, ``TransactGetItems``: one per
  entry), and ``"sqs.SendMessageBatch:entries": n`` etc. for SQS batch calls.

``GET /_sandbox/stats`` answers ``{"requests": {...}, "items": {...}}``; ``POST /_sandbox/stats``
sets every counter back to zero, and so does ``POST /moto-api/reset``. Counting changes nothing in
how a call is answered.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

_lock = threading.Lock()
_requests: Counter = Counter()
_items: Counter = Counter()
_installed = False

_SINGLE_ITEM = {"PutItem", "UpdateItem", "DeleteItem", "GetItem"}
_SQS_BATCHES = {"SendMessageBatch", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"}


def _dynamodb_items(action: str, params: dict[str, Any]) -> Counter:
    counts: Counter = Counter()
    if action in _SINGLE_ITEM:
        counts[f"dynamodb.{action}:{params.get('TableName')}"] += 1
    elif action == "BatchWriteItem":
        for table, requests in (params.get("RequestItems") or {}).items():
            counts[f"dynamodb.{action}:{table}"] += len(requests or [])
    elif action == "BatchGetItem":
        for table, spec in (params.get("RequestItems") or {}).items():
            counts[f"dynamodb.{action}:{table}"] += len((spec or {}).get("Keys") or [])
    elif action in ("TransactWriteItems", "TransactGetItems"):
        for entry in params.get("TransactItems") or []:
            for body in (entry or {}).values():
                counts[f"dynamodb.{action}:{(body or {}).get('TableName')}"] += 1
    return counts


def _count(service: str, handler: Any) -> None:
    try:
        action = handler._get_action()
    except Exception:  # noqa: BLE001 - counting must never fail a call
        return
    params = getattr(handler, "params", None) or {}
    items: Counter = Counter()
    if service == "dynamodb":
        items = _dynamodb_items(action, params)
    elif action in _SQS_BATCHES:
        items[f"sqs.{action}:entries"] += len(params.get("Entries") or [])
    with _lock:
        _requests[f"{service}.{action}"] += 1
        _items.update(items)


def _wrap(service: str, original):
    def call_action(self):
        _count(service, self)
        return original(self)

    return call_action


def snapshot() -> dict[str, dict[str, int]]:
    with _lock:
        return {"requests": dict(_requests), "items": dict(_items)}


def clear() -> None:
    with _lock:
        _requests.clear()
        _items.clear()


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    DynamoHandler.call_action = _wrap("dynamodb", DynamoHandler.call_action)
    SQSResponse.call_action = _wrap("sqs", SQSResponse.call_action)
    _installed = True

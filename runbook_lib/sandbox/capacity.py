"""Provisioned capacity, enforced per second, and the ``throttle-target`` fault.

moto never throttles: a table provisioned with 1 WCU takes any number of writes a second. On AWS a
request beyond the table's provisioned throughput is refused with
``ProvisionedThroughputExceededException`` (HTTP 400), and a replay into a restored table that kept
its capacity but lost its auto scaling (a restore does not carry auto scaling) runs into exactly
that. This extension makes the sandbox do the same:

- **Which tables.** Tables whose billing mode is ``PROVISIONED`` (moto's default when
  ``BillingMode`` is not given) with capacity units above zero. On-demand (``PAY_PER_REQUEST``)
  tables are never throttled here. ``UpdateTable`` changes apply at the next request.
- **Capacity units**, as the Developer Guide's "DynamoDB read and write operations" counts them
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):
  a write costs 1 WCU per 1 KB of item (rounded up; ``PutItem`` and ``UpdateItem`` the larger of
  the item before and after, ``DeleteItem`` the deleted item, at least 1); a read 1 RCU per 4 KB
  (rounded up, at least 1) when strongly consistent, half of that when eventually consistent;
  transactional reads and writes cost twice as much. ``BatchWriteItem``/``BatchGetItem`` count
  each item on its own. ``Query``/``Scan`` count the total size of the items they return, rounded
  up to 4 KB.
- **Per second, with burst.** Each table has a read and a write balance that fills at the
  provisioned rate and keeps at most 300 seconds of unused capacity, as the Developer Guide's
  "Burst capacity" says (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/burst-adaptive-capacity.html).
  A request is admitted when the balance covers its cost (a cost larger than the whole 300 s
  balance needs a full balance) and the cost is taken from it.
- **What a throttled request answers.** ``PutItem``, ``UpdateItem``, ``DeleteItem``, ``GetItem``,
  ``Query``, ``Scan``: ``ProvisionedThroughputExceededException`` (HTTP 400, AWS's message, with
  ``ThrottlingReasons`` such as ``TableWriteProvisionedThroughputExceeded`` and the table ARN).
  ``BatchWriteItem``/``BatchGetItem``: the requests that do not fit come back in
  ``UnprocessedItems``/``UnprocessedKeys`` while the rest is done; only when none fits is the
  whole call ``ProvisionedThroughputExceededException``, as the API reference of
  ``BatchWriteItem`` says ("If none of the items can be processed due to insufficient provisioned
  throughput on all of the tables in the request, then BatchWriteItem returns a
  ProvisionedThroughputExceededException"). ``TransactWriteItems``/``TransactGetItems``:
  ``TransactionCanceledException`` whose cancellation reasons say ``ProvisionedThroughputExceeded``
  for the throttled actions and ``None`` for the others (nothing is written).

Fault ``throttle-target`` (``faults.py``): writes to the restore's target (every table made by
``RestoreTableToPointInTime``, or the table named by the ``table`` parameter) are limited to
``rate`` write units a second, without burst, for ``seconds`` counted from the first write the
fault sees, as on an under-provisioned table, whatever the table's billing mode. It records
``throttled requests`` and ``throttled batch items``. The default (30 s at 5 units) is shorter
than the applier's timeout (60 s), which backs off through it; a throttle that outlasts an
invocation's time makes the applier report its messages failed, and they come back only after
the queue's visibility timeout (360 s by default), longer than the drill's drain timeout (300 s).

Where it differs from AWS: one balance per table (AWS splits capacity across partitions, and a
hot key is throttled sooner); a new table starts with a full burst balance (300 seconds of its
capacity) and keeps saving what it does not use (AWS does not say how much burst a new table has;
moto's own AWS-verified tests write and read more than one second of 1-5 units to new tables
without being throttled, so starting empty would be stricter than AWS); global secondary indexes have no capacity of their own here
(moto keeps theirs, the sandbox does not charge them); ``UpdateItem`` is admitted on the size
of the item before the update and charged the difference after it; ``Query``/``Scan`` are charged
for what they return, not for every item they read before a filter, and are admitted while the
balance is positive; ``ConditionCheck`` in a transaction costs what a transactional write of the
item would; ``ReturnConsumedCapacity`` answers remain moto's; PartiQL is not counted; AWS may
also spend burst capacity on background work without notice, the sandbox never does.
"""

from __future__ import annotations

import json
import math
import threading
import time
import weakref
from datetime import timezone
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.exceptions import TransactionCanceledException
from moto.dynamodb.models.dynamo_type import DynamoType, bytesize
from moto.dynamodb.responses import DynamoHandler

from . import faults

_installed = False
_lock = threading.Lock()

#: the Developer Guide: "DynamoDB currently retains up to five minutes (300 seconds) of unused
#: read and write capacity"
BURST_SECONDS = 300.0
WRITE_BLOCK = 1024
READ_BLOCK = 4096
MESSAGE = (
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API."
)

THROTTLE_TARGET = "throttle-target"
faults.register(
    THROTTLE_TARGET,
    "writes to the restored table (every RestoreTableToPointInTime target, or `table`) are limited to "
    "`rate` write units a second, no burst, for `seconds` from the first write, as on an under-provisioned table",
    seconds=30.0,
    rate=5.0,
    table="",
)


class ProvisionedThroughputExceeded(JsonRESTError):
    """``ProvisionedThroughputExceededException`` (HTTP 400) with AWS's message and reasons."""

    def __init__(self, reason: str, resource: str) -> None:
        super().__init__("com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", MESSAGE)
        self.description = json.dumps(
            {
                "__type": self.error_type,
                "message": MESSAGE,
                "ThrottlingReasons": [{"reason": reason, "resource": resource}],
            }
        )


# -- the balance -----------------------------------------------------------------------------------


class _Balance:
    """Capacity units a table may still spend: fills at ``rate`` a second, keeps ``burst`` seconds."""

    __slots__ = ("units", "stamp")

    def __init__(self, rate: float, now: float) -> None:
        self.units = rate * BURST_SECONDS  # a new table starts with a full burst balance
        self.stamp = now

    def take(self, cost: float, rate: float, burst: float, now: float, *, positive_only: bool = False) -> bool:
        cap = rate * burst
        self.units = min(cap, self.units + (now - self.stamp) * rate)
        self.stamp = now
        enough = self.units > 0 if positive_only else self.units >= min(cost, cap) - 1e-9
        if enough:
            self.units -= cost
        return enough

    def charge(self, cost: float) -> None:
        self.units -= cost


def _rates(table: Any) -> tuple[float, float] | None:
    """(read, write) units a second, or None for a table that is not throttled (on-demand)."""
    if getattr(table, "billing_mode", None) == "PAY_PER_REQUEST":
        return None
    tp = getattr(table, "throughput", None) or {}
    read, write = float(tp.get("ReadCapacityUnits") or 0), float(tp.get("WriteCapacityUnits") or 0)
    if read <= 0 and write <= 0:
        return None
    return read, write


def _created(table: Any) -> float:
    """When the table was created (its unused capacity counts from then), epoch seconds."""
    created = getattr(table, "created_at", None)
    try:
        return created.replace(tzinfo=timezone.utc).timestamp()
    except AttributeError:
        return time.time()


class _Limit:
    """What one request may spend on one table, in one direction (read or write)."""

    __slots__ = ("table", "write", "rate", "burst", "balance", "fault")

    def __init__(self, table: Any, write: bool, rate: float, burst: float, balance: _Balance, fault: bool) -> None:
        self.table, self.write, self.rate, self.burst, self.balance, self.fault = table, write, rate, burst, balance, fault

    def take(self, cost: float, *, positive_only: bool = False) -> bool:
        if cost <= 0 and not positive_only:
            return True  # nothing to spend (a request DynamoDB refuses before it consumes capacity)
        with _lock:
            return self.balance.take(cost, self.rate, self.burst, time.time(), positive_only=positive_only)

    def charge(self, cost: float) -> None:
        with _lock:
            self.balance.charge(cost)

    def error(self) -> ProvisionedThroughputExceeded:
        reason = "TableWriteProvisionedThroughputExceeded" if self.write else "TableReadProvisionedThroughputExceeded"
        return ProvisionedThroughputExceeded(reason, self.table.table_arn)


#: the tables the throttle-target fault is throttling; each keeps ``_fault_window`` = (when the
#: fault started on it, its balance). Forgotten as soon as a write sees the fault off; a reset
#: makes new table objects, so no window outlives the tables it was for.
_fault_started: "weakref.WeakSet[Any]" = weakref.WeakSet()


def _fault_limit(table: Any, now: float) -> _Limit | None:
    params = faults.active(THROTTLE_TARGET)
    if params is None:
        if _fault_started:
            with _lock:
                for t in list(_fault_started):
                    t.__dict__.pop("_fault_window", None)
                _fault_started.clear()
        return None
    named = params.get("table") or ""
    if named:
        if table.name != named and table.table_arn != named:
            return None
    else:
        from .pitr import SandboxRestoredTable

        if not isinstance(table, SandboxRestoredTable):
            return None
    with _lock:
        window = table.__dict__.get("_fault_window")
        if window is None:
            window = (now, _Balance(float(params["rate"]), now))
            table.__dict__["_fault_window"] = window
            _fault_started.add(table)
    started, balance = window
    if now - started > float(params["seconds"]):
        return None
    return _Limit(table, True, float(params["rate"]), 1.0, balance, True)


def _limit(table: Any, write: bool) -> _Limit | None:
    """The limit that applies to ``table`` now, or None (not throttled: the fast path)."""
    if table is None:
        return None
    if write and (_fault_started or faults.active(THROTTLE_TARGET) is not None):
        fault = _fault_limit(table, time.time())
        if fault is not None:
            return fault
    rates = _rates(table)
    if rates is None:
        return None
    rate = rates[1] if write else rates[0]
    if rate <= 0:
        return None
    attr = "_write_balance" if write else "_read_balance"
    balance = table.__dict__.get(attr)
    if balance is None:
        with _lock:
            balance = table.__dict__.setdefault(attr, _Balance(rate, _created(table)))
    return _Limit(table, write, rate, BURST_SECONDS, balance, False)


# -- item sizes and costs --------------------------------------------------------------------------


def _size_of_json(attrs: dict[str, Any] | None) -> int:
    if not attrs:
        return 0
    return sum(bytesize(name) + DynamoType(value).size() for name, value in attrs.items())


def _stored(table: Any, key: dict[str, Any] | None) -> Any | None:
    if not key:
        return None
    try:
        hash_value = key.get(table.hash_key_attr)
        if hash_value is None:
            return None
        found = table.items.get(DynamoType(hash_value))
        if table.range_key_attr is None:
            return found
        range_value = key.get(table.range_key_attr)
        if found is None or range_value is None:
            return None
        return found.get(DynamoType(range_value))
    except Exception:  # noqa: BLE001 - a malformed key: moto answers its own validation error
        return None


def _stored_size(table: Any, key: dict[str, Any] | None) -> int:
    item = _stored(table, key)
    return item.size() if item is not None else 0


def write_units(size: int) -> int:
    """1 WCU per 1 KB, rounded up, at least 1."""
    return max(1, math.ceil(size / WRITE_BLOCK))


def read_units(size: int, consistent: bool) -> float:
    """1 RCU per 4 KB, rounded up, at least 1; half for an eventually consistent read."""
    units = max(1, math.ceil(size / READ_BLOCK))
    return float(units) if consistent else units / 2


#: DynamoDB's item size limit: a larger item is refused (ValidationException) before any capacity
#: is consumed, so it is never throttled here; moto's own check answers it
MAX_ITEM_BYTES = 400 * 1024


def _put_cost(table: Any, item: dict[str, Any]) -> int:
    size = _size_of_json(item)
    if size > MAX_ITEM_BYTES:
        return 0
    return write_units(max(size, _stored_size(table, item)))


# -- the handlers ----------------------------------------------------------------------------------


def _table(handler: DynamoHandler, name: str | None) -> Any | None:
    if not name:
        return None
    tables = handler.dynamodb_backend.tables
    table = tables.get(name)
    if table is None and name.startswith("arn:"):
        table = next((t for t in list(tables.values()) if t.table_arn == name), None)
    return table


def _wrap_put(original):
    def put_item(self):
        limit = _limit(_table(self, self.body.get("TableName")), True)
        if limit is not None:
            cost = _put_cost(limit.table, self.body.get("Item") or {})
            if not limit.take(cost):
                _note(limit, "throttled requests")
                raise limit.error()
        return original(self)

    return put_item


def _wrap_delete(original):
    def delete_item(self):
        limit = _limit(_table(self, self.body.get("TableName")), True)
        if limit is not None:
            cost = write_units(_stored_size(limit.table, self.body.get("Key")))
            if not limit.take(cost):
                _note(limit, "throttled requests")
                raise limit.error()
        return original(self)

    return delete_item


def _wrap_update(original):
    def update_item(self):
        limit = _limit(_table(self, self.body.get("TableName")), True)
        if limit is None:
            return original(self)
        key = self.body.get("Key")
        estimate = write_units(_stored_size(limit.table, key))
        if not limit.take(estimate):
            _note(limit, "throttled requests")
            raise limit.error()
        result = original(self)
        after = write_units(_stored_size(limit.table, key))
        if after > estimate:
            limit.charge(after - estimate)
        return result

    return update_item


def _wrap_get(original):
    def get_item(self):
        limit = _limit(_table(self, self.body.get("TableName")), False)
        if limit is not None:
            cost = read_units(_stored_size(limit.table, self.body.get("Key")), bool(self.body.get("ConsistentRead")))
            if not limit.take(cost):
                raise limit.error()
        return original(self)

    return get_item


def _wrap_read_many(original):
    """Query and Scan: admitted while the read balance is positive, charged what they return."""

    def read_many(self):
        limit = _limit(_table(self, self.body.get("TableName")), False)
        if limit is None:
            return original(self)
        if not limit.take(0.0, positive_only=True):
            raise limit.error()
        result = original(self)
        items = (getattr(result, "result", None) or {}).get("Items") or []
        size = sum(_stored_size(limit.table, item) or _size_of_json(item) for item in items)
        units = max(1, math.ceil(size / READ_BLOCK))
        limit.charge(units if self.body.get("ConsistentRead") else units / 2)
        return result

    return read_many


def _note(limit: _Limit, what: str, count: int = 1) -> None:
    if limit.fault:
        faults.note(THROTTLE_TARGET, what, count)


def _wrap_batch_write(original):
    def batch_write_item(self):
        request_items = self.body.get("RequestItems") or {}
        limits = {name: _limit(_table(self, name), True) for name in request_items}
        if not any(limits.values()):
            return original(self)
        kept: dict[str, list] = {}
        unprocessed: dict[str, list] = {}
        for name, requests in request_items.items():
            limit = limits[name]
            for request in requests:
                if limit is not None:
                    if "PutRequest" in request:
                        cost = _put_cost(limit.table, request["PutRequest"].get("Item") or {})
                    else:
                        cost = write_units(_stored_size(limit.table, (request.get("DeleteRequest") or {}).get("Key")))
                    if not limit.take(cost):
                        unprocessed.setdefault(name, []).append(request)
                        _note(limit, "throttled batch items")
                        continue
                kept.setdefault(name, []).append(request)
        if not kept:
            first = next(limit for limit in limits.values() if limit is not None)
            _note(first, "throttled requests")
            raise first.error()
        self.body["RequestItems"] = kept
        result = original(self)
        if unprocessed:
            result.result["UnprocessedItems"] = unprocessed
        return result

    return batch_write_item


def _wrap_batch_get(original):
    def batch_get_item(self):
        request_items = self.body.get("RequestItems") or {}
        limits = {name: _limit(_table(self, name), False) for name in request_items}
        if not any(limits.values()):
            return original(self)
        kept: dict[str, dict] = {}
        unprocessed: dict[str, dict] = {}
        for name, spec in request_items.items():
            limit = limits[name]
            consistent = bool(spec.get("ConsistentRead"))
            for key in spec.get("Keys") or []:
                if limit is not None and not limit.take(read_units(_stored_size(limit.table, key), consistent)):
                    target = unprocessed
                else:
                    target = kept
                entry = target.setdefault(name, {k: v for k, v in spec.items() if k != "Keys"} | {"Keys": []})
                entry["Keys"].append(key)
        if not kept:
            raise next(limit for limit in limits.values() if limit is not None).error()
        self.body["RequestItems"] = kept
        result = original(self)
        if unprocessed:
            merged = result.result.setdefault("UnprocessedKeys", {})
            for name, entry in unprocessed.items():
                if name in merged:
                    merged[name]["Keys"].extend(entry["Keys"])
                else:
                    merged[name] = entry
        return result

    return batch_get_item


def _transact_costs(self, write: bool) -> list[tuple[_Limit | None, float]]:
    costs = []
    for entry in self.body.get("TransactItems") or []:
        kind, op = next(iter(entry.items())) if entry else (None, {})
        op = op if isinstance(op, dict) else {}
        limit = _limit(_table(self, op.get("TableName")), write)
        if limit is None:
            costs.append((None, 0.0))
            continue
        if not write:
            size = _stored_size(limit.table, op.get("Key"))
            costs.append((limit, 2 * read_units(size, True)))
        elif kind == "Put":
            costs.append((limit, 2 * _put_cost(limit.table, op.get("Item") or {})))
        else:
            costs.append((limit, 2 * write_units(_stored_size(limit.table, op.get("Key")))))
    return costs


def _wrap_transact(original, write: bool):
    def transact(self):
        costs = _transact_costs(self, write)
        if not any(limit for limit, _ in costs):
            return original(self)
        granted: list[tuple[_Limit, float]] = []
        reasons = []
        for limit, cost in costs:
            if limit is None or limit.take(cost):
                if limit is not None:
                    granted.append((limit, cost))
                reasons.append((None, None, None))
            else:
                reasons.append(("ProvisionedThroughputExceeded", MESSAGE, None))
        if any(code for code, _, _ in reasons):
            for limit, cost in granted:  # nothing was done: give the units back
                limit.charge(-cost)
            for limit, _ in costs:
                if limit is not None:
                    _note(limit, "throttled requests")
                    break
            raise TransactionCanceledException(reasons)
        return original(self)

    return transact


def install() -> None:
    global _installed
    if _installed:
        return
    DynamoHandler.put_item = _wrap_put(DynamoHandler.put_item)
    DynamoHandler.delete_item = _wrap_delete(DynamoHandler.delete_item)
    DynamoHandler.update_item = _wrap_update(DynamoHandler.update_item)
    DynamoHandler.get_item = _wrap_get(DynamoHandler.get_item)
    DynamoHandler.query = _wrap_read_many(DynamoHandler.query)
    DynamoHandler.scan = _wrap_read_many(DynamoHandler.scan)
    DynamoHandler.batch_write_item = _wrap_batch_write(DynamoHandler.batch_write_item)
    DynamoHandler.batch_get_item = _wrap_batch_get(DynamoHandler.batch_get_item)
    DynamoHandler.transact_write_items = _wrap_transact(DynamoHandler.transact_write_items, True)
    DynamoHandler.transact_get_items = _wrap_transact(DynamoHandler.transact_get_items, False)
    _installed = True


__all__ = ["install", "read_units", "write_units", "ProvisionedThroughputExceeded", "THROTTLE_TARGET", "BURST_SECONDS"]

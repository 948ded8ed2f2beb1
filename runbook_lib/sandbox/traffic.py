"""Live traffic for drills and tests: puts, updates and deletes at a set rate over a key space.

Items carry every attribute type (S N B SS NS BS M L BOOL NULL); a chosen fraction is large (up to
DynamoDB's 400 KB item limit). String values start with ``CANARY_PREFIX`` so tests can prove that no
item value reaches a log line or a report. The generator works on any table (it reads the key
schema) and through any endpoint, real AWS included; it is meant for the sandbox.

At cutover the writers behave as an application behind a switch: told to stop (:meth:`Traffic.pause`,
or :meth:`Traffic.pause_when` a condition holds), they stop writing; reading their table's name from
an SSM parameter as an application would (:class:`CachedParameter`: ``GetParameter``, kept for a
cache time), they resume on the table it names once it names another: a table name, or a table's ARN
when the switch points to another region (the writers then write with that region's client, as
an application would take the region from the ARN). ``TrafficStats`` counts the writes per table and
when the first landed on each.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

log = logging.getLogger(__name__)

CANARY_PREFIX = "canary-"
MAX_ITEM_BYTES = 400 * 1024


@dataclass
class TrafficStats:
    puts: int = 0
    updates: int = 0
    deletes: int = 0
    errors: int = 0
    started_at: float = 0.0
    last_write_at: float = 0.0
    error_codes: dict[str, int] = field(default_factory=dict)
    #: writes per table, and when (epoch seconds) the first and the last landed on each
    by_table: dict[str, int] = field(default_factory=dict)
    first_write_at: dict[str, float] = field(default_factory=dict)
    last_write_by_table: dict[str, float] = field(default_factory=dict)
    paused_at: float | None = None
    resumed_at: float | None = None

    @property
    def writes(self) -> int:
        return self.puts + self.updates + self.deletes


def key_schema(client, table: str) -> list[tuple[str, str]]:
    """[(name, type)] of the table's key, hash first."""
    desc = client.describe_table(TableName=table)["Table"]
    types = {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]}
    ordered = sorted(desc["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
    return [(k["AttributeName"], types[k["AttributeName"]]) for k in ordered]


def _key_value(kind: str, n: int) -> dict[str, Any]:
    if kind == "S":
        return {"S": f"k{n:07d}"}
    if kind == "N":
        return {"N": str(n)}
    return {"B": n.to_bytes(4, "big")}


def make_key(schema: list[tuple[str, str]], n: int, ranges: int = 3) -> dict[str, Any]:
    """Key number ``n`` of the key space: hash-only tables use ``n``; hash+range split it."""
    if len(schema) == 1:
        return {schema[0][0]: _key_value(schema[0][1], n)}
    return {
        schema[0][0]: _key_value(schema[0][1], n // ranges),
        schema[1][0]: _key_value(schema[1][1], n % ranges),
    }


def make_item(schema: list[tuple[str, str]], n: int, rng: random.Random, *, size: int = 0, version: int = 0) -> dict[str, Any]:
    """An item with every attribute type; ``size`` pads it to about that many bytes."""
    item = dict(make_key(schema, n))
    tag = f"{CANARY_PREFIX}{rng.getrandbits(40):010x}"
    item.update(
        {
            "s": {"S": tag},
            "n": {"N": str(Decimal(rng.randint(-10**6, 10**6)) / 100)},
            "b": {"B": rng.randbytes(8)},
            "ss": {"SS": sorted({f"{tag}-a", f"{tag}-b"})},
            "ns": {"NS": [str(rng.randint(0, 50)), str(rng.randint(51, 100))]},
            "bs": {"BS": [b"\x01" + rng.randbytes(3), b"\x02" + rng.randbytes(3)]},
            "m": {"M": {"inner": {"S": tag}, "deep": {"M": {"x": {"N": str(version)}}}}},
            "l": {"L": [{"S": tag}, {"N": str(n)}, {"BOOL": True}, {"NULL": True}]},
            "flag": {"BOOL": rng.random() < 0.5},
            "nothing": {"NULL": True},
            "version": {"N": str(version)},
        }
    )
    if size:
        pad = max(0, min(size, MAX_ITEM_BYTES - 2048) - 600)
        item["pad"] = {"S": CANARY_PREFIX + "x" * pad}
    return item


def _table_of(value: str) -> tuple[str | None, str]:
    """The region (None: the reader's own) and table name of a switch's value: a name or a table ARN
    (``arn:PARTITION:dynamodb:REGION:ACCOUNT:table/NAME``), as an application reads it."""
    if value.startswith("arn:") and ":table/" in value:
        return value.split(":")[3], value.split(":table/", 1)[1].split("/")[0]
    return None, value


class CachedParameter:
    """How an application reads the name of its table from an SSM parameter: ``GetParameter``, the
    answer kept for ``ttl`` seconds (a switch reaches the application within that time; Parameter
    Store's throughput quota is shared by the account, so a cache is not optional at scale).

    >>> table = CachedParameter(boto3.client("ssm"), "/orders/table-name", ttl=30).get()
    """

    def __init__(self, ssm, name: str, *, ttl: float = 30.0) -> None:
        self.ssm, self.name, self.ttl = ssm, name, float(ttl)
        self._value: str | None = None
        self._read_at = float("-inf")
        self.reads = 0

    def get(self) -> str:
        now = time.monotonic()
        if self._value is None or now - self._read_at >= self.ttl:
            self._value = self.ssm.get_parameter(Name=self.name)["Parameter"]["Value"]
            self._read_at, self.reads = now, self.reads + 1
        return self._value


class Traffic:
    """Writes to ``table`` at ``rate`` operations per second in a background thread.

    >>> with Traffic(client, "orders", rate=50) as traffic:
    ...     time.sleep(5)
    >>> traffic.stats.writes
    """

    def __init__(
        self,
        client,
        table: str,
        *,
        rate: float = 50.0,
        key_space: int = 500,
        mix: tuple[float, float, float] = (0.5, 0.35, 0.15),
        large_fraction: float = 0.0,
        large_size: int = 350_000,
        seed: int | None = None,
        parameter: CachedParameter | None = None,
        regional_clients: dict[str, Any] | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if key_space < 1:
            raise ValueError("key_space must be at least 1")
        if not 0 <= large_fraction <= 1:
            raise ValueError("large_fraction must be between 0 and 1")
        if large_size > MAX_ITEM_BYTES:
            raise ValueError(f"large_size must be at most {MAX_ITEM_BYTES} bytes (DynamoDB's item limit)")
        self.client = client
        self.table = table
        self.rate = float(rate)
        self.key_space = key_space
        self.mix = mix
        self.large_fraction = large_fraction
        self.large_size = large_size
        self.rng = random.Random(seed)
        self.schema = key_schema(client, table)
        self.stats = TrafficStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._versions: dict[int, int] = {}
        #: where the writers read their table from while paused (None: they stay paused until resume())
        self.parameter = parameter
        #: DynamoDB clients of other regions, for a switch to a table's ARN there
        self.regional_clients = dict(regional_clients or {})
        self._followed: str | None = None
        self._paused = threading.Event()
        self._pause_when: Any = None

    # -- one operation ---------------------------------------------------------------------------
    def step(self) -> str:
        n = self.rng.randrange(self.key_space)
        roll = self.rng.random()
        put, update, _ = self.mix
        version = self._versions.get(n, 0) + 1
        self._versions[n] = version
        try:
            if roll < put:
                size = self.large_size if self.rng.random() < self.large_fraction else 0
                self.client.put_item(TableName=self.table, Item=make_item(self.schema, n, self.rng, size=size, version=version))
                self.stats.puts += 1
                kind = "put"
            elif roll < put + update:
                self.client.update_item(
                    TableName=self.table,
                    Key=make_key(self.schema, n),
                    UpdateExpression="SET #s = :s, #v = :v ADD #c :one",
                    ExpressionAttributeNames={"#s": "s", "#v": "version", "#c": "counter"},
                    ExpressionAttributeValues={
                        ":s": {"S": f"{CANARY_PREFIX}{self.rng.getrandbits(40):010x}"},
                        ":v": {"N": str(version)},
                        ":one": {"N": "1"},
                    },
                )
                self.stats.updates += 1
                kind = "update"
            else:
                self.client.delete_item(TableName=self.table, Key=make_key(self.schema, n))
                self.stats.deletes += 1
                kind = "delete"
            now = self.stats.last_write_at = time.time()
            self.stats.by_table[self.table] = self.stats.by_table.get(self.table, 0) + 1
            self.stats.first_write_at.setdefault(self.table, now)
            self.stats.last_write_by_table[self.table] = now
            return kind
        except Exception as exc:  # noqa: BLE001 - traffic keeps going; the count tells
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            self.stats.errors += 1
            self.stats.error_codes[code] = self.stats.error_codes.get(code, 0) + 1
            log.warning("traffic write failed: %s", code)
            return "error"

    # -- stop when told, resume where the switch points ---------------------------------------------
    def pause(self) -> None:
        """Stop writing (the thread stays): as an application stops its writers at cutover."""
        if not self._paused.is_set():
            self.stats.paused_at = time.time()
            self._paused.set()

    def resume(self, table: str | None = None) -> None:
        """Write again, to ``table`` if given (same key schema)."""
        if table:
            self.table = table
        self.stats.resumed_at = time.time()
        self._paused.clear()

    def pause_when(self, condition, *, delay: float = 0.0) -> None:
        """Pause ``delay`` seconds after ``condition()`` first holds (looked at about five times a
        second): the moment an operator takes to stop an application's writers once told."""
        self._pause_when = (condition, 0.0, delay, None)

    def _check_pause(self) -> None:
        if self._pause_when is None:
            return
        condition, looked, delay, told = self._pause_when
        now = time.monotonic()
        if told is None and now - looked >= 0.2:
            told = now if condition() else None
            self._pause_when = (condition, now, delay, told)
        if told is not None and now - told >= delay:
            self._pause_when = None
            self.pause()

    def _follow_switch(self) -> None:
        """While paused: read the parameter (cached) and resume on the table it names once it changes."""
        if self.parameter is None:
            return
        try:
            name = self.parameter.get()
        except Exception as exc:  # noqa: BLE001 - an application retries its configuration read
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            self.stats.error_codes[code] = self.stats.error_codes.get(code, 0) + 1
            return
        if not name or name in (self.table, self._followed):
            return
        region, table = _table_of(name)
        if region is not None and region != self.client.meta.region_name:
            if region not in self.regional_clients:
                self.stats.error_codes["NoClientForRegion"] = self.stats.error_codes.get("NoClientForRegion", 0) + 1
                return
            self.client = self.regional_clients[region]
        self._followed = name
        self.resume(table)

    # -- life cycle ------------------------------------------------------------------------------
    def _run(self, deadline: float | None, count: int | None) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        done = 0
        while not self._stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            if count is not None and done >= count:
                break
            self._check_pause()
            if self._paused.is_set():
                self._follow_switch()
                self._stop.wait(0.1)
                next_at = time.monotonic()
                continue
            self.step()
            done += 1
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_at = time.monotonic()

    def run(self, *, seconds: float | None = None, count: int | None = None) -> TrafficStats:
        """Run in the foreground for ``seconds`` or ``count`` operations (or until stopped)."""
        self.stats.started_at = time.time()
        deadline = time.monotonic() + seconds if seconds is not None else None
        self._run(deadline, count)
        return self.stats

    def start(self) -> "Traffic":
        self.stats.started_at = time.time()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(None, None), name=f"traffic-{self.table}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> TrafficStats:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        return self.stats

    def __enter__(self) -> "Traffic":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def seed_items(client, table: str, count: int, *, seed: int = 0, large_every: int = 0, large_size: int = 350_000) -> int:
    """Load ``count`` items (keys 0..count-1) with ``BatchWriteItem``, retrying unprocessed ones."""
    rng = random.Random(seed)
    schema = key_schema(client, table)
    batch: list[dict] = []
    written = 0

    def flush() -> None:
        nonlocal batch, written
        pending = {table: batch}
        delay = 0.05
        while pending:
            resp = client.batch_write_item(RequestItems=pending)
            pending = resp.get("UnprocessedItems") or {}
            if pending:
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        written += len(batch)
        batch = []

    for n in range(count):
        size = large_size if large_every and n % large_every == 0 else 0
        batch.append({"PutRequest": {"Item": make_item(schema, n, rng, size=size)}})
        if len(batch) == 25 or (size and len(batch) >= 1):
            flush()
    if batch:
        flush()
    return written


def create_demo_table(
    client,
    table: str,
    *,
    range_key: bool = False,
    key_type: str = "S",
    pitr: bool = True,
    stream: str | None = "NEW_AND_OLD_IMAGES",
) -> dict:
    """A PAY_PER_REQUEST table with PITR and a stream, as the runbook expects a source to be."""
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": key_type}]
    if range_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "N"})
    kwargs: dict[str, Any] = dict(TableName=table, KeySchema=keys, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST")
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    desc = client.create_table(**kwargs)["TableDescription"]
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    if pitr:
        client.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    return client.describe_table(TableName=table)["Table"] if stream else desc


def enable_stream(client, table: str, view: str = "NEW_AND_OLD_IMAGES") -> str:
    """Turn the table's stream on (``UpdateTable``), e.g. after a bulk load that the buffer need not
    replay; the stream's ARN."""
    desc = client.update_table(TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return desc["TableDescription"].get("LatestStreamArn") or client.describe_table(TableName=table)["Table"]["LatestStreamArn"]

"""SQS FIFO -> the restored table: the replay half of the buffer.

Handler ``runbook_lib.cdc.applier.handler``, on an SQS FIFO event source mapping (batch size at
most 10) with ``FunctionResponseTypes: [ReportBatchItemFailures]``.

Environment:
    ``TARGET_TABLE``     the restored table the changes are applied to
    ``SOURCE_TABLE``     the live table that key-only and possibly out-of-order messages are
                         re-read from (``BatchGetItem`` with ``ConsistentRead``: item present ->
                         put it, absent -> delete)
    ``REPLAY_FROM``      ISO-8601 UTC or epoch seconds; changes made before it are acknowledged
                         and not applied (rollback mode). Empty: apply everything.
    ``TARGET_REGION``    the restored table's region, when it is not the function's own
                         (``AWS_REGION``, the source's): writes go there, re-reads of the source
                         stay in the function's region (:class:`CrossRegionTables`). Empty: the same
    ``KEY_DIGEST_SECRET_ARN``  the stack's key digest secret, read once per cold start
                         (:func:`runbook_lib.cdc.runtime.key_digest`; no secret, no write)
    ``LOG_LEVEL``        DEBUG, INFO (default), WARNING, ERROR

What replay guarantees
----------------------
Once the buffer has drained, every key holds the source's newest image (catch-up), or what the R
rule says (rollback: keys whose last change is before ``REPLAY_FROM`` are left alone, the others
hold the newest image). Before the drain a key may briefly hold an older image than the target
already had (a late message applied as its own image, then corrected by a later one); that
transient state is accepted, and it is why there is no per-key watermark: it would double the
writes and guard a state nobody reads before cutover.

How: a message is applied either as **its own image** or, when it **may be out of order** (or its
image did not fit in the queue), as **the source's current item**, read with a consistent read
after the message was received: present -> put it, absent -> delete. A re-read is never older than
the message's change (the change was made before the message was sent, and the read comes after
it was received), and never older than any change whose message came earlier in its group.

Per batch: messages before ``REPLAY_FROM`` are dropped; then per key, if any of its messages in the
batch is a suspect or key-only, the key is re-read (one ``BatchGetItem`` of up to 100 keys, with
``UnprocessedKeys`` retried); otherwise the message with the highest stream sequence number wins.
One ``BatchWriteItem`` request per key (at most 25 keys per call), so no call holds two requests
for one key.

Why the final state is right: for a key, let *m* be the last of its messages in FIFO group order.
The last write to the key comes from the batch holding *m*. If that batch re-read the key, the read
came after *m* was received, so after every change of the key whose message precedes *m*, i.e.
after the newest change (see below) -> newest image. If it did not, every message of the key in the
batch is a **first send**, and first sends reach their group in stream order (the forwarder's
guarantee, :mod:`runbook_lib.cdc.forwarder`), so the highest sequence number is the key's newest
change. What remains is to make sure that every message that is *not* a first send in stream order
is a suspect. Path by path:

(a) **A re-send after SQS's deduplication interval.** A retried stream batch re-sends records that
    were queued already, with the same deduplication id (the record's ``eventID``); SQS drops such
    a second send for five minutes after the first, which came after the change was made. So a
    second send that gets through has ``SentTimestamp`` at least 300 s after the change:
    ``SentTimestamp - ApproximateCreationDateTime >= RESEND_HORIZON_SECONDS`` (240 s) makes a
    message a suspect. A message without ``SentTimestamp`` is a suspect too.
(b) **A poison message redriven from the DLQ** (``StartMessageMoveTask``, e.g. by
    ``buffer.redrive_dlq``) after its group moved on. SQS documents that a redriven message is a
    new message with a new message id and a new enqueue time, so its ``SentTimestamp`` is the time
    of the redrive, and it reached the DLQ only after ``maxReceiveCount`` receives, each ending
    with the visibility timeout (Lambda leaves failed messages to time out). The runbook refuses
    stacks where ``MaxReceiveCount x QueueVisibilityTimeout`` is under 300 s (``buffer.plan``), so
    a redriven message is at least five minutes older than its ``SentTimestamp``: rule (a) catches
    it. Belt and braces, with no reliance on either: a message that carries
    ``DeadLetterQueueSourceArn``, or whose ``ApproximateReceiveCount`` is above 1 (SQS counts
    receives "across all queues"), is a suspect as well; a re-read costs one read, never
    correctness. (Someone receiving from the buffer queue by hand with a short visibility timeout
    could push a message into the DLQ faster; the runbook never does.)
(e) **A message in a group that is not its key's digest** (sent by hand, or by a forwarder keyed
    with another secret): SQS ordered it within a group that other changes of its key may not be
    in. Its ``MessageGroupId`` is compared with the keyed digest of its key (in constant time);
    when they differ it is a suspect (``foreign_group``).
(c) **Clock skew** between DynamoDB's ``ApproximateCreationDateTime`` (rounded down to the second,
    which only makes a message look older) and SQS's ``SentTimestamp``: rule (a) keeps 60 s of the
    300 s as margin, so skew below a minute cannot hide a re-send. A message that seems to have
    been sent more than ``MAX_CLOCK_SKEW_SECONDS`` before its change shows the clocks disagree by
    more than that margin: it is a suspect, and ``clock_skew`` is counted and logged.
(d) **A partly failed batch, or a crashed or timed-out invocation.** A failed message and every
    later message of its group in the batch are reported in ``batchItemFailures`` (a crash fails
    them all); other groups are deleted. The reported messages stay in flight until the visibility
    timeout, and SQS FIFO delivers no message of a group while one of its messages is in flight,
    so nothing of the group overtakes them; they come back in their original order. Writes made
    before the crash were whole images of changes that precede the failure in group order, and are
    simply written again or overtaken: nothing older than the group's order is ever written last.
    (Their ``ApproximateReceiveCount`` is then 2 or more, so they are re-read: harmless.)

Failures: FIFO partial batch
----------------------------
As Powertools' ``SqsFifoPartialProcessor(skip_group_on_error=True)``: a message that fails, and
every later message of the same message group in the batch, are reported in
``batchItemFailures`` by ``messageId``; other groups are applied. A message that cannot be
decoded (poison) fails every time, so SQS's redrive policy moves it to the DLQ after
``maxReceiveCount`` receives; the monitor shows the DLQ depth and ``buffer.redrive_dlq`` moves the
messages back once the cause is gone. A call rejected as invalid is split in halves to find the
key at fault, so one bad item does not hold other groups.

Throttling slows replay down, it does not dead-letter changes: throttling errors,
``UnprocessedItems`` and ``UnprocessedKeys`` are retried with exponential backoff and full jitter
for as long as the invocation has time left (``context.get_remaining_time_in_millis()``, keeping
``Retry.reserve`` seconds to report), and only then are the messages reported as failed: they come
back after the visibility timeout, their group held back meanwhile. A change therefore reaches the
DLQ only after ``MaxReceiveCount`` invocations each spent their whole timeout throttled.

Nothing here logs an attribute value or a raw key value: keys appear as their keyed digest (the
message group id), other group ids keyed-hashed (:meth:`~runbook_lib.cdc.codec.KeyDigest.label`).
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from . import codec, runtime

#: BatchWriteItem takes 25 requests, one per key
KEYS_PER_WRITE = 25
#: BatchGetItem takes 100 keys
KEYS_PER_READ = 100
THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)

#: a re-send gets past SQS's deduplication only 5 minutes (300 s) after the first send, which
#: came after the change: a minute of the five is kept as margin for clock skew
RESEND_HORIZON_SECONDS = 240.0
#: the margin itself (300 - 240 s): a message that seems sent this long before its change shows
#: that the clocks disagree beyond it
MAX_CLOCK_SKEW_SECONDS = 60.0

logger = runtime.get_logger(__name__)

_INFINITY = float("inf")


class ApplyError(RuntimeError):
    """A DynamoDB call did not complete within the retry budget. Never quotes a value."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def parse_replay_from(text: str | None) -> float | None:
    """``REPLAY_FROM`` as epoch seconds: ISO-8601 (naive = UTC) or epoch seconds; empty = None."""
    if text is None or not str(text).strip():
        return None
    try:
        return codec.epoch_seconds(str(text))
    except codec.CodecError:
        raise ValueError("REPLAY_FROM must be ISO-8601 UTC or epoch seconds") from None


@dataclass(frozen=True)
class ApplierSettings:
    target_table: str
    source_table: str
    replay_from: float | None = None
    #: the stack's keyed digest: how keys are grouped, matched and logged
    digest: codec.KeyDigest = field(kw_only=True, repr=False)
    #: the target table's region when it is not the function's own (None: the same)
    target_region: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if not self.target_table or not self.source_table:
            raise ValueError("TARGET_TABLE and SOURCE_TABLE must be set")
        if self.target_table == self.source_table:
            raise ValueError("TARGET_TABLE must not be SOURCE_TABLE")

    @classmethod
    def from_env(cls, env: dict | None = None, *, digest: codec.KeyDigest) -> "ApplierSettings":
        env = os.environ if env is None else env
        return cls(
            target_table=env.get("TARGET_TABLE", ""),
            source_table=env.get("SOURCE_TABLE", ""),
            replay_from=parse_replay_from(env.get("REPLAY_FROM")),
            digest=digest,
            target_region=_other_region(env.get("TARGET_REGION"), env.get("AWS_REGION")),
        )


def _other_region(target: str | None, own: str | None) -> str | None:
    target = (target or "").strip()
    return target if target and target != (own or "").strip() else None


class CrossRegionTables:
    """The applier's DynamoDB calls when the restored table is in another region than the source:
    ``BatchWriteItem`` (the target) on a client of the target's region, ``BatchGetItem`` (re-reads
    of the source) on the function's own, the source's. DynamoDB tables are regional and a request
    names a table in the endpoint's region only, so one client cannot serve both."""

    def __init__(self, source_client: Any, target_client: Any) -> None:
        self._source, self._target = source_client, target_client

    def batch_write_item(self, **kwargs: Any) -> dict:
        return self._target.batch_write_item(**kwargs)

    def batch_get_item(self, **kwargs: Any) -> dict:
        return self._source.batch_get_item(**kwargs)


@dataclass
class Retry:
    """Exponential backoff with full jitter.

    With ``remaining`` (seconds left in the invocation) retries go on while a pause still leaves
    ``reserve`` seconds; without it, ``attempts`` bounds them (tests, scripts).
    """

    attempts: int = 8
    base: float = 0.05
    cap: float = 2.0
    sleep: Callable[[float], None] = field(default=lambda seconds: time.sleep(seconds))
    random: Callable[[], float] = random.random
    remaining: Callable[[], float] | None = None
    reserve: float = 5.0

    @classmethod
    def for_context(cls, context: Any) -> "Retry":
        """Backoff bounded by the Lambda invocation's remaining time, when the context has it."""
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        if not callable(remaining_ms):
            return cls()
        # keep 5 s to report (a tenth of the invocation's time for short timeouts)
        reserve = min(5.0, max(0.5, remaining_ms() / 1000.0 / 10))
        return cls(remaining=lambda: remaining_ms() / 1000.0, reserve=reserve)

    def delay(self, attempt: int) -> float:
        return self.random() * min(self.cap, self.base * (2 ** attempt))

    def again(self, attempt: int) -> float | None:
        """The pause before retry ``attempt`` (1, 2, ...), or None when the budget is spent."""
        pause = self.delay(attempt)
        if self.remaining is None:
            return pause if attempt < self.attempts else None
        return pause if self.remaining() - pause > self.reserve else None

    def pause(self, attempt: int) -> None:
        self.sleep(self.delay(attempt))


@dataclass
class _Message:
    position: int
    message_id: str
    group: str
    change: codec.ChangeRecord | None
    digest: str = ""
    sequence: str = ""
    sent: float | None = None  # SentTimestamp, epoch seconds
    receive_count: int = 1
    from_dlq: bool = False  # carries DeadLetterQueueSourceArn
    foreign_group: bool = False  # MessageGroupId is not the keyed digest of its key


@dataclass
class _Op:
    messages: list[_Message]
    request: dict


@dataclass
class _Counts:
    received: int = 0
    poison: int = 0
    skipped_before_replay: int = 0
    superseded: int = 0
    suspects: int = 0
    late: int = 0
    redelivered: int = 0
    from_dlq: int = 0
    foreign_group: int = 0
    clock_skew: int = 0
    reread: int = 0
    reread_absent: int = 0
    read_calls: int = 0
    puts: int = 0
    deletes: int = 0
    write_calls: int = 0
    failed: int = 0
    retries: int = 0
    throttled: int = 0


def _sent_seconds(record: dict) -> float | None:
    try:
        return float((record.get("attributes") or {})["SentTimestamp"]) / 1000.0
    except (KeyError, TypeError, ValueError):
        return None


def _receive_count(record: dict) -> int:
    try:
        return int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
    except (TypeError, ValueError):
        return 1


def suspicion(message: "_Message") -> str | None:
    """Why ``message`` may be out of order in its group (see the module's docstring), or None.

    ``"late"``: sent ``RESEND_HORIZON_SECONDS`` or more after its change (a re-send after the
    deduplication interval, or a DLQ redrive), or no ``SentTimestamp``; ``"clock_skew"``: sent
    more than ``MAX_CLOCK_SKEW_SECONDS`` before its change; ``"from_dlq"``: carries
    ``DeadLetterQueueSourceArn``; ``"redelivered"``: received before; ``"foreign_group"``: its
    group is not its key's digest.
    """
    if message.sent is None or message.change is None:
        return "late"
    age = message.sent - message.change.created
    if age >= RESEND_HORIZON_SECONDS:
        return "late"
    if age < -MAX_CLOCK_SKEW_SECONDS:
        return "clock_skew"
    if message.foreign_group:
        return "foreign_group"
    if message.from_dlq:
        return "from_dlq"
    if message.receive_count > 1:
        return "redelivered"
    return None


def _where(exc: BaseException) -> str:
    """Function and line an exception came from: enough to debug, no value in it."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_name}:{tb.tb_lineno}" if tb is not None else ""


@dataclass
class _Run:
    dynamodb: Any
    settings: ApplierSettings
    retry: Retry
    counts: _Counts = field(default_factory=_Counts)
    failed_at: dict = field(default_factory=dict)

    # -- skip-group bookkeeping ---------------------------------------------------------------
    def fail(self, message: _Message, reason: str, **fields: Any) -> None:
        if message.position < self.failed_at.get(message.group, _INFINITY):
            self.failed_at[message.group] = message.position
        runtime.log(logger, logging.ERROR, "message_failed", message_id=message.message_id,
                    group=self.settings.digest.label(message.group), reason=reason, **fields)

    def alive(self, message: _Message) -> bool:
        return message.position < self.failed_at.get(message.group, _INFINITY)

    # -- DynamoDB calls -----------------------------------------------------------------------
    def _backoff(self, attempt: int) -> bool:
        """Pause before retry ``attempt``; False when the budget (time or attempts) is spent."""
        pause = self.retry.again(attempt)
        if pause is None:
            return False
        self.counts.retries += 1
        self.retry.sleep(pause)
        return True

    def _call(self, operation: Callable, **kwargs: Any) -> dict:
        attempt = 0
        while True:
            try:
                return operation(**kwargs)
            except ClientError as exc:
                if runtime.error_code(exc) not in THROTTLING_CODES:
                    raise
                self.counts.throttled += 1
                attempt += 1
                if not self._backoff(attempt):
                    raise

    def read_source(self, keys: list[dict]) -> dict[str, dict]:
        """The source's current items for ``keys`` (client-shaped), by key digest; consistent reads."""
        table = self.settings.source_table
        found: dict[str, dict] = {}
        for start in range(0, len(keys), KEYS_PER_READ):
            request: dict = {table: {"Keys": keys[start:start + KEYS_PER_READ], "ConsistentRead": True}}
            attempt = 0
            while request:
                self.counts.read_calls += 1
                response = self._call(self.dynamodb.batch_get_item, RequestItems=request)
                for item in (response.get("Responses") or {}).get(table, []):
                    found[self._digest_of(item, keys)] = item
                request = response.get("UnprocessedKeys") or {}
                if request:
                    attempt += 1
                    if not self._backoff(attempt):
                        raise ApplyError("BatchGetItem left keys unprocessed after every retry", "UnprocessedKeys")
        return found

    def _digest_of(self, item: dict, keys: list[dict]) -> str:
        names = list(keys[0]) if keys else list(item)
        return self.settings.digest({name: item[name] for name in names if name in item})

    def write(self, ops: list[_Op]) -> None:
        """One ``BatchWriteItem`` of one request per key, retried to the end."""
        request: dict = {self.settings.target_table: [op.request for op in ops]}
        attempt = 0
        while request:
            self.counts.write_calls += 1
            response = self._call(self.dynamodb.batch_write_item, RequestItems=request)
            request = response.get("UnprocessedItems") or {}
            if request:
                attempt += 1
                if not self._backoff(attempt):
                    raise ApplyError("BatchWriteItem left items unprocessed after every retry", "UnprocessedItems")

    def _fail_ops(self, ops: list[_Op], reason: str, error: str) -> None:
        for op in ops:
            for message in op.messages:
                self.fail(message, reason, error=error)

    def write_or_bisect(self, ops: list[_Op]) -> None:
        try:
            self.write(ops)
        except ClientError as exc:
            if len(ops) > 1 and runtime.error_code(exc) not in THROTTLING_CODES:
                # Rejected as a whole (ValidationException...): find the key at fault.
                middle = len(ops) // 2
                self.write_or_bisect(ops[:middle])
                self.write_or_bisect(ops[middle:])
                return
            self._fail_ops(ops, "write_failed", runtime.error_code(exc))
        except (ApplyError, BotoCoreError) as exc:
            self._fail_ops(ops, "write_failed", getattr(exc, "code", None) or runtime.error_code(exc))
        else:
            for op in ops:
                if "DeleteRequest" in op.request:
                    self.counts.deletes += 1
                else:
                    self.counts.puts += 1

    # -- the batch ----------------------------------------------------------------------------
    def decode(self, records: list) -> list[_Message]:
        messages = []
        for position, record in enumerate(records):
            record = record if isinstance(record, dict) else {}
            message_id = str(record.get("messageId"))
            attributes = record.get("attributes") or {}
            group = attributes.get("MessageGroupId")
            try:
                change = codec.decode(record.get("body"))
            except codec.CodecError as exc:
                message = _Message(position, message_id, group or message_id, None)
                messages.append(message)
                self.counts.poison += 1
                self.fail(message, "poison", error=type(exc).__name__, detail=str(exc),
                          receive_count=attributes.get("ApproximateReceiveCount"))
                continue
            digest = self.settings.digest(change.keys)
            messages.append(_Message(
                position, message_id, group or digest, change, digest, change.padded_sequence,
                _sent_seconds(record), _receive_count(record), bool(attributes.get("DeadLetterQueueSourceArn")),
                foreign_group=not codec.same_digest(digest, group),  # the key's digest, computed once
            ))
        return messages

    def plan(self, messages: list[_Message]) -> list[tuple[str, list[_Message]]]:
        """Per key, in batch order: ``("image", [newest, others...])`` or ``("reread", [its
        messages])``. A key whose write fails fails all its messages in the batch."""
        replay_from = self.settings.replay_from
        by_key: dict[str, list[_Message]] = {}
        for message in messages:
            if message.change is None or not self.alive(message):
                continue
            if replay_from is not None and message.change.created < replay_from:
                self.counts.skipped_before_replay += 1
                continue
            by_key.setdefault(message.digest, []).append(message)
        plans = []
        for digest, group in by_key.items():
            reread = False
            for message in group:
                reason = suspicion(message)
                if reason is not None:
                    self.counts.suspects += 1
                    setattr(self.counts, reason, getattr(self.counts, reason) + 1)
                    if reason == "clock_skew":
                        runtime.log(logger, logging.WARNING, "clock_skew", message_id=message.message_id,
                                    group=digest, seconds=round(message.change.created - message.sent, 3))
                    else:
                        runtime.log(logger, logging.DEBUG, "suspect", message_id=message.message_id,
                                    group=digest, reason=reason)
                    reread = True
                elif message.change.key_only:
                    reread = True
            # one write per key: the key's other changes in the batch are superseded, by its newest
            # image or by the source's current item (re-read); so each change from R on is counted once,
            # applied or superseded, and the report's accounting adds up
            self.counts.superseded += len(group) - 1
            if reread:
                plans.append(("reread", group))
            else:
                newest = max(group, key=lambda m: m.sequence)
                plans.append(("image", [newest] + [m for m in group if m is not newest]))
        return plans

    def ops_for(self, plans: list[tuple[str, list[_Message]]]) -> list[_Op]:
        rereads = [group for kind, group in plans if kind == "reread"]
        current: dict[str, dict] = {}
        if rereads:
            keys = [codec.to_client_item(group[0].change.keys) for group in rereads]
            self.counts.reread += len(keys)
            try:
                current = self.read_source(keys)
            except (ClientError, BotoCoreError, ApplyError) as exc:
                error = getattr(exc, "code", None) or runtime.error_code(exc)
                for group in rereads:
                    for message in group:
                        self.fail(message, "reread_failed", error=error)
        ops = []
        for kind, group in plans:
            if not all(self.alive(m) for m in group):
                continue
            change = group[0].change
            if kind == "reread":
                item = current.get(group[0].digest)
                if item is None:
                    self.counts.reread_absent += 1
                    ops.append(_Op(group, {"DeleteRequest": {"Key": codec.to_client_item(change.keys)}}))
                else:
                    ops.append(_Op(group, {"PutRequest": {"Item": item}}))
            elif change.is_delete:
                ops.append(_Op(group, {"DeleteRequest": {"Key": codec.to_client_item(change.keys)}}))
            else:
                ops.append(_Op(group, {"PutRequest": {"Item": codec.to_client_item(change.new_image)}}))
        return ops

    def apply(self, event: dict) -> dict:
        records = event.get("Records") or []
        self.counts.received = len(records)
        messages = self.decode(records)
        ops = self.ops_for(self.plan(messages))
        for start in range(0, len(ops), KEYS_PER_WRITE):
            self.write_or_bisect(ops[start:start + KEYS_PER_WRITE])
        failures = [m for m in messages if m.position >= self.failed_at.get(m.group, _INFINITY)]
        self.counts.failed = len(failures)
        runtime.log(logger, logging.WARNING if failures else logging.INFO, "applied", **vars(self.counts),
                    failed_groups=len(self.failed_at))
        return {"batchItemFailures": [{"itemIdentifier": m.message_id} for m in failures]}


def apply(event: dict, dynamodb: Any, settings: ApplierSettings, retry: Retry | None = None) -> dict:
    """Apply the SQS FIFO messages of ``event`` to the target table; the partial-batch response.

    Any unexpected error fails the messages still in play (by their groups) rather than escaping,
    so that nothing the Lambda runtime prints about it can carry item data.
    """
    run = _Run(dynamodb, settings, retry or Retry())
    try:
        return run.apply(event)
    except Exception as exc:  # noqa: BLE001 - logged by type and place, never by message
        runtime.log(logger, logging.ERROR, "batch_failed", error=type(exc).__name__, where=_where(exc))
        records = event.get("Records") or []
        return {"batchItemFailures": [{"itemIdentifier": str(r.get("messageId"))} for r in records if isinstance(r, dict)]}


def handler(event: dict, context: Any) -> dict:
    # the secret first: without it nothing is written (the invocation fails, the messages come back)
    digest = runtime.key_digest()
    settings = ApplierSettings.from_env(digest=digest)
    dynamodb = runtime.client("dynamodb", self_retrying=True)
    if settings.target_region:
        dynamodb = CrossRegionTables(dynamodb, runtime.client("dynamodb", self_retrying=True, region=settings.target_region))
    return apply(event, dynamodb, settings, Retry.for_context(context))

"""SQS FIFO -> the restored table: the replay half of the buffer.

Handler ``runbook_lib.cdc.applier.handler``, on an SQS FIFO event source mapping (batch size at
most 10) with ``FunctionResponseTypes: [ReportBatchItemFailures]``.

Environment:
    ``TARGET_TABLE``     the restored table the changes are applied to
    ``SOURCE_TABLE``     the live table key-only messages are re-read from (``GetItem`` with
                         ``ConsistentRead``: item present -> put it, absent -> delete)
    ``WATERMARK_TABLE``  hash key ``k`` (S): the key digest; attribute ``seq`` (S): the
                         zero-padded sequence number last applied for that key
    ``REPLAY_FROM``      ISO-8601 UTC or epoch seconds; changes made before it are acknowledged
                         and not applied (rollback mode). Empty: apply everything.
    ``LOG_LEVEL``        DEBUG, INFO (default), WARNING, ERROR

Ordering: the watermark guard
-----------------------------
SQS FIFO keeps one item's messages in order (one message group per key) and drops duplicate
deduplication ids for 5 minutes, but a record the forwarder sends again after that window (a
retried stream batch), or a message that outlives a failed write, can still arrive after a newer
change of the same item. Such a late re-send is always sent at least five minutes after its
change was made (the first send came no earlier, and SQS drops a second send within five
minutes), so only messages sent four or more minutes after their change (a minute of margin for
clock skew) are suspects: per batch, one ``BatchGetItem`` (``ConsistentRead``) reads the
watermarks of the suspects' keys (none at all in steady state, when the forwarder keeps up); a change whose sequence number is strictly lower than its key's
watermark is dropped (acknowledged, not applied); an equal one is applied again, which is
idempotent and repairs a crash between the item write and the watermark write. Of several
changes to one key in the batch only the newest is written. Each item write (``PutRequest`` with
the full new image, or ``DeleteRequest`` with the ``Key``) travels in the same ``BatchWriteItem``
call as its key's watermark update (at most 12 keys, 24 requests, per call), so no call holds two
requests for one key. A delete leaves its watermark behind as a tombstone, so an older insert
cannot bring the item back. Stream sequence numbers grow with time for a given item, which is
what makes "higher sequence number" mean "newer image".

The guard assumes one writer per key at a time, which SQS FIFO gives (a message group is not
delivered again while one of its messages is in flight) as long as the visibility timeout exceeds
the function timeout.

A key-only message (image too big for the queue) is applied as the source's current item, read
with a consistent read: possibly newer than the change itself, never older, so replay still
converges; the watermark records the message's own sequence number.

Failures: FIFO partial batch
----------------------------
As Powertools' ``SqsFifoPartialProcessor(skip_group_on_error=True)``: a message that fails, and
every later message of the same message group in the batch, are reported in
``batchItemFailures`` by ``messageId``; other groups are applied. A message that cannot be
decoded (poison) fails every time, so SQS's redrive policy moves it to the DLQ after
``maxReceiveCount`` receives. ``UnprocessedItems``/``UnprocessedKeys`` and throttling errors are
retried with exponential backoff and full jitter, a bounded number of times; a call rejected as
invalid is split in halves to find the key at fault, so one bad item does not hold other groups.

Nothing here logs an attribute value or a raw key value: keys appear as their digest.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from . import codec, runtime

#: BatchWriteItem takes 25 requests; each key takes two (item + watermark)
KEYS_PER_WRITE = 12
#: BatchGetItem takes 100 keys
KEYS_PER_READ = 100
THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)

logger = runtime.get_logger(__name__)

_DIGEST = re.compile(r"[0-9a-f]{64}")
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
    watermark_table: str
    source_table: str | None = None
    replay_from: float | None = None

    def __post_init__(self) -> None:
        if not self.target_table or not self.watermark_table:
            raise ValueError("TARGET_TABLE and WATERMARK_TABLE must be set")
        if self.watermark_table in (self.target_table, self.source_table):
            raise ValueError("WATERMARK_TABLE must be a table of its own")

    @classmethod
    def from_env(cls, env: dict | None = None) -> "ApplierSettings":
        env = os.environ if env is None else env
        return cls(
            target_table=env.get("TARGET_TABLE", ""),
            watermark_table=env.get("WATERMARK_TABLE", ""),
            source_table=env.get("SOURCE_TABLE") or None,
            replay_from=parse_replay_from(env.get("REPLAY_FROM")),
        )


@dataclass
class Retry:
    """Bounded exponential backoff with full jitter."""

    attempts: int = 8
    base: float = 0.05
    cap: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random

    def pause(self, attempt: int) -> None:
        self.sleep(self.random() * min(self.cap, self.base * (2 ** attempt)))


@dataclass
class _Message:
    position: int
    message_id: str
    group: str
    change: codec.ChangeRecord | None
    digest: str = ""
    sequence: str = ""
    sent: float | None = None  # SentTimestamp, epoch seconds


@dataclass
class _Op:
    message: _Message
    request: dict


@dataclass
class _Counts:
    received: int = 0
    poison: int = 0
    skipped_before_replay: int = 0
    stale: int = 0
    superseded: int = 0
    reread: int = 0
    reread_absent: int = 0
    puts: int = 0
    deletes: int = 0
    write_calls: int = 0
    failed: int = 0
    retries: int = 0
    watermark_reads: int = 0


#: a late re-send is sent at least 5 minutes (SQS's deduplication interval) after the change was
#: made; a minute is kept as margin for clock skew between DynamoDB and SQS
RESEND_HORIZON_SECONDS = 240.0


def _sent_seconds(record: dict) -> float | None:
    try:
        return float((record.get("attributes") or {})["SentTimestamp"]) / 1000.0
    except (KeyError, TypeError, ValueError):
        return None


def _may_be_late_resend(message: "_Message") -> bool:
    """Whether ``message`` may be a re-send that arrives after a newer change of its key.

    The forwarder sends one item's changes in stream order and stops at its first failure, so a
    change's first message always precedes the messages of that item's later changes in their
    FIFO group. Only a second send can come after them, and SQS drops a second send of the same
    deduplication id (the record's ``eventID``) within five minutes of the first, which was sent
    no earlier than the change was made. So a message sent less than ``RESEND_HORIZON_SECONDS``
    after its change cannot be stale; without a ``SentTimestamp`` it is treated as suspect.
    """
    if message.sent is None or message.change is None:
        return True
    return message.sent - message.change.created >= RESEND_HORIZON_SECONDS


def safe_group(group: str) -> str:
    """A message group id fit for a log line: our digests as they are, anything else hashed."""
    if _DIGEST.fullmatch(group or ""):
        return group
    return "sha256:" + hashlib.sha256(str(group).encode("utf-8")).hexdigest()[:16]


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
                    group=safe_group(message.group), reason=reason, **fields)

    def alive(self, message: _Message) -> bool:
        return message.position < self.failed_at.get(message.group, _INFINITY)

    # -- DynamoDB calls -----------------------------------------------------------------------
    def _call(self, operation: Callable, **kwargs: Any) -> dict:
        attempt = 0
        while True:
            try:
                return operation(**kwargs)
            except ClientError as exc:
                if runtime.error_code(exc) not in THROTTLING_CODES or attempt + 1 >= self.retry.attempts:
                    raise
            attempt += 1
            self.counts.retries += 1
            self.retry.pause(attempt)

    def read_watermarks(self, digests: list[str]) -> dict[str, str]:
        table = self.settings.watermark_table
        marks: dict[str, str] = {}
        for start in range(0, len(digests), KEYS_PER_READ):
            keys = [{"k": {"S": digest}} for digest in digests[start:start + KEYS_PER_READ]]
            request: dict = {table: {"Keys": keys, "ConsistentRead": True}}
            attempt = 0
            while request:
                response = self._call(self.dynamodb.batch_get_item, RequestItems=request)
                for item in (response.get("Responses") or {}).get(table, []):
                    seq = (item.get("seq") or {}).get("S")
                    digest = (item.get("k") or {}).get("S")
                    if isinstance(seq, str) and len(seq) == codec.SEQUENCE_WIDTH and seq.isdigit():
                        marks[digest] = seq
                    else:
                        runtime.log(logger, logging.WARNING, "watermark_malformed", group=safe_group(digest))
                request = response.get("UnprocessedKeys") or {}
                if request:
                    attempt += 1
                    if attempt >= self.retry.attempts:
                        raise ApplyError("BatchGetItem left keys unprocessed after every retry", "UnprocessedKeys")
                    self.counts.retries += 1
                    self.retry.pause(attempt)
        return marks

    def read_source(self, keys: dict) -> dict | None:
        if not self.settings.source_table:
            raise ApplyError("a key-only message needs SOURCE_TABLE to re-read the item", "NoSourceTable")
        response = self._call(
            self.dynamodb.get_item,
            TableName=self.settings.source_table,
            Key=codec.to_client_item(keys),
            ConsistentRead=True,
        )
        return response.get("Item")

    def write(self, ops: list[_Op]) -> None:
        """One ``BatchWriteItem``: the item requests and their watermarks, retried to the end."""
        request: dict = {self.settings.target_table: [], self.settings.watermark_table: []}
        for op in ops:
            request[self.settings.target_table].append(op.request)
            request[self.settings.watermark_table].append(
                {"PutRequest": {"Item": {"k": {"S": op.message.digest}, "seq": {"S": op.message.sequence}}}}
            )
        attempt = 0
        while request:
            self.counts.write_calls += 1
            response = self._call(self.dynamodb.batch_write_item, RequestItems=request)
            request = response.get("UnprocessedItems") or {}
            if request:
                attempt += 1
                if attempt >= self.retry.attempts:
                    raise ApplyError("BatchWriteItem left items unprocessed after every retry", "UnprocessedItems")
                self.counts.retries += 1
                self.retry.pause(attempt)

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
            for op in ops:
                self.fail(op.message, "write_failed", error=runtime.error_code(exc))
        except (ApplyError, BotoCoreError) as exc:
            for op in ops:
                self.fail(op.message, "write_failed", error=getattr(exc, "code", None) or runtime.error_code(exc))
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
            group = (record.get("attributes") or {}).get("MessageGroupId")
            try:
                change = codec.decode(record.get("body"))
            except codec.CodecError as exc:
                message = _Message(position, message_id, group or message_id, None)
                messages.append(message)
                self.counts.poison += 1
                receive_count = (record.get("attributes") or {}).get("ApproximateReceiveCount")
                self.fail(message, "poison", error=type(exc).__name__, detail=str(exc), receive_count=receive_count)
                continue
            digest = change.digest
            sent = _sent_seconds(record)
            messages.append(_Message(position, message_id, group or digest, change, digest, change.padded_sequence, sent))
        return messages

    def plan(self, messages: list[_Message]) -> list[_Message]:
        """The newest fresh change of each key, in batch order."""
        replay_from = self.settings.replay_from
        candidates = []
        for message in messages:
            if message.change is None or not self.alive(message):
                continue
            if replay_from is not None and message.change.created < replay_from:
                self.counts.skipped_before_replay += 1
                continue
            candidates.append(message)
        if not candidates:
            return []
        # only a message that may be a late re-send can be stale: the others need no read
        suspects = sorted({m.digest for m in candidates if _may_be_late_resend(m)})
        self.counts.watermark_reads += len(suspects)
        try:
            marks = self.read_watermarks(suspects) if suspects else {}
        except (ClientError, BotoCoreError, ApplyError) as exc:
            for message in candidates:
                self.fail(message, "watermark_read_failed", error=getattr(exc, "code", None) or runtime.error_code(exc))
            return []
        newest: dict[str, _Message] = {}
        for message in candidates:
            mark = marks.get(message.digest)
            if mark is not None and message.sequence < mark:
                self.counts.stale += 1
                runtime.log(logger, logging.DEBUG, "stale_dropped", message_id=message.message_id,
                            group=safe_group(message.digest), sequence=message.change.sequence_number)
                continue
            current = newest.get(message.digest)
            if current is None or message.sequence >= current.sequence:
                newest[message.digest] = message
            if current is not None:
                self.counts.superseded += 1
        return sorted(newest.values(), key=lambda m: m.position)

    def request_for(self, message: _Message) -> dict:
        change = message.change
        if change.key_only:
            self.counts.reread += 1
            item = self.read_source(change.keys)
            if item is None:
                self.counts.reread_absent += 1
                return {"DeleteRequest": {"Key": codec.to_client_item(change.keys)}}
            return {"PutRequest": {"Item": item}}
        if change.is_delete:
            return {"DeleteRequest": {"Key": codec.to_client_item(change.keys)}}
        return {"PutRequest": {"Item": codec.to_client_item(change.new_image)}}

    def apply(self, event: dict) -> dict:
        records = event.get("Records") or []
        self.counts.received = len(records)
        messages = self.decode(records)
        pending = list(self.plan(messages))
        while pending:
            chunk: list[_Op] = []
            while pending and len(chunk) < KEYS_PER_WRITE:
                message = pending.pop(0)
                if not self.alive(message):
                    continue
                try:
                    chunk.append(_Op(message, self.request_for(message)))
                except (ClientError, BotoCoreError, ApplyError) as exc:
                    self.fail(message, "reread_failed", error=getattr(exc, "code", None) or runtime.error_code(exc))
            if chunk:
                self.write_or_bisect(chunk)
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
    return apply(event, runtime.client("dynamodb"), ApplierSettings.from_env())

"""DynamoDB stream -> SQS FIFO: the capture half of the buffer.

Handler ``runbook_lib.cdc.forwarder.handler``, on a DynamoDB stream event source mapping with
``FunctionResponseTypes: [ReportBatchItemFailures]``.

Environment:
    ``QUEUE_URL``          the FIFO queue
    ``MAX_MESSAGE_BYTES``  the queue's MaximumMessageSize (default ``codec.MAX_MESSAGE_BYTES``)
    ``KEY_DIGEST_SECRET_ARN``  the stack's key digest secret, read once per cold start
                           (:func:`runbook_lib.cdc.runtime.key_digest`; no secret, no send)
    ``LOG_LEVEL``          DEBUG, INFO (default), WARNING, ERROR

For each stream record, in stream order, one message:

- ``MessageGroupId`` = the keyed digest (:class:`~runbook_lib.cdc.codec.KeyDigest`) of the
  item's primary key, so that SQS keeps the changes of one item in order and different items flow
  in parallel, and the queue, the DLQ and the logs show no key value;
- ``MessageDeduplicationId`` = the record's ``eventID``, so that a retried batch does not
  enqueue a record twice within SQS's 5-minute deduplication window (after it, the applier
  recognises the late second send and applies the source's current item instead);
- the body is :func:`~runbook_lib.cdc.codec.encode` of the change. A record whose message would
  exceed ``MAX_MESSAGE_BYTES``, or an INSERT/MODIFY whose stream carries no new image
  (KEYS_ONLY, OLD_IMAGE), travels as its key only: the applier reads the current item from the
  source with a consistent read.

Messages go out with ``SendMessageBatch`` (at most 10 entries and ``MAX_MESSAGE_BYTES`` of
payload per call), in stream order, and **never two messages of one message group in one call**.
Entries that fail on SQS's side (``SenderFault: false``: ``InternalFailure``,
``ServiceUnavailable``, throttling) are sent again at once, only they, with a short jittered backoff,
up to ``entry_retries`` times, before the next call (the SendMessageBatch reference: each entry's
result is reported on its own, so a call can partly fail). Each of them is the only message of its
group in the call, so its group's later records, which are all in later calls, cannot overtake it. An entry that still fails, an
entry refused as the sender's fault, or the first record that cannot be encoded, stops the
forwarder: it reports that record's ``SequenceNumber`` in ``batchItemFailures``; Lambda retries from
there, and the deduplication id drops what was sent already.

Why each item's messages are first sent in stream order
-------------------------------------------------------
SQS answers ``SendMessageBatch`` entry by entry: some entries of a call can be queued while others
fail. If two changes of one item travelled in one call, the newer could be queued while the older
failed; the retry would then queue the older one *behind* the newer one in their FIFO group, and
nothing would mark it as late (it is sent within seconds of its change). So a call is closed as
soon as the next record's group is already in it (as well as at 10 entries or the byte limit).
Then, for one group, its records' calls are strictly increasing in stream order, calls go out one
after the other, and the forwarder makes no further call after a call with a failed entry. So when
record *i+1* of an item is queued, record *i* was queued by an earlier call that had no failure:
the first send of every change of an item reaches its group in stream order. The only messages
that can follow a newer change of their item are second sends (a retried stream batch resends
records that were queued already; SQS drops them within its five-minute deduplication interval,
so one that gets through is sent five minutes or more after its change) and DLQ redrives; the
applier recognises both (see :mod:`runbook_lib.cdc.applier`).
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

MAX_BATCH_ENTRIES = 10
#: sends of an entry that SQS failed on its side, after the first, before the forwarder stops
DEFAULT_ENTRY_RETRIES = 3
RETRY_BASE_SECONDS = 0.05
RETRY_CAP_SECONDS = 1.0

logger = runtime.get_logger(__name__)


@dataclass(frozen=True)
class ForwarderSettings:
    queue_url: str
    max_message_bytes: int = codec.MAX_MESSAGE_BYTES
    entry_retries: int = DEFAULT_ENTRY_RETRIES
    #: the stack's keyed digest: message group ids and logged keys
    digest: codec.KeyDigest = field(kw_only=True, repr=False)

    @classmethod
    def from_env(cls, env: dict | None = None, *, digest: codec.KeyDigest) -> "ForwarderSettings":
        env = os.environ if env is None else env
        raw = (env.get("MAX_MESSAGE_BYTES") or "").strip()
        return cls(queue_url=env["QUEUE_URL"], max_message_bytes=int(raw) if raw else codec.MAX_MESSAGE_BYTES,
                   digest=digest)


@dataclass(frozen=True)
class _Entry:
    sequence_number: str
    entry: dict
    size: int


def build_entry(record: dict, max_message_bytes: int, digest: codec.KeyDigest) -> tuple[dict, int, str]:
    """The ``SendMessageBatch`` entry for one stream record (without its ``Id``), its size, and
    why it is key-only (``""``, ``"oversize"`` or ``"no_image"``)."""
    change = codec.from_stream_record(record)
    reason = "no_image" if change.key_only else ""
    body = codec.encode(change)
    size = codec.message_size(body)
    if size > max_message_bytes and not change.key_only:
        change = change.as_key_only()
        reason = "oversize" if change.key_only else ""
        body = codec.encode(change)
        size = codec.message_size(body)
    event_id = record.get("eventID") or change.sequence_number
    entry = {
        "MessageBody": body,
        "MessageGroupId": digest(change.keys),
        "MessageDeduplicationId": str(event_id),
    }
    return entry, size, reason


def _batches(entries: list[_Entry], max_message_bytes: int) -> list[list[_Entry]]:
    """Consecutive runs of at most 10 entries and at most ``max_message_bytes`` of payload, with
    no two entries of one message group in a run (see the module's docstring for why)."""
    batches: list[list[_Entry]] = []
    current: list[_Entry] = []
    groups: set[str] = set()
    total = 0
    for item in entries:
        group = item.entry["MessageGroupId"]
        if current and (
            len(current) == MAX_BATCH_ENTRIES or total + item.size > max_message_bytes or group in groups
        ):
            batches.append(current)
            current, groups, total = [], set(), 0
        current.append(item)
        groups.add(group)
        total += item.size
    if current:
        batches.append(current)
    return batches


def _failure(sequence_number: str) -> dict:
    return {"batchItemFailures": [{"itemIdentifier": sequence_number}]}


def _send(sqs: Any, settings: ForwarderSettings, batch: list[_Entry], sleep: Callable[[float], None],
          counts: dict[str, int]) -> tuple[int | None, dict | None]:
    """Send one call's entries; re-send those SQS failed on its side. Returns the position in
    ``batch`` of the first entry that could not be sent (None: all sent) and its failure entry."""
    pending = list(range(len(batch)))
    attempt = 0
    while True:
        request = [dict(batch[position].entry, Id=str(position)) for position in pending]
        response = sqs.send_message_batch(QueueUrl=settings.queue_url, Entries=request)
        failed = {int(f["Id"]): f for f in response.get("Failed") or [] if str(f.get("Id", "")).isdigit()}
        if not failed:
            return None, None
        first = min(failed)
        if any(f.get("SenderFault") for f in failed.values()) or attempt >= settings.entry_retries:
            return first, failed[first]
        attempt += 1
        counts["entries_retried"] += len(failed)
        runtime.log(logger, logging.WARNING, "entries_retried", attempt=attempt, entries=len(failed),
                    codes=sorted({str(f.get("Code")) for f in failed.values()}))
        sleep(random.random() * min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** attempt))
        pending = sorted(failed)


def forward(event: dict, sqs: Any, settings: ForwarderSettings, sleep: Callable[[float], None] = time.sleep) -> dict:
    """Send the stream records of ``event`` to the queue; the Lambda partial-batch response."""
    records = event.get("Records") or []
    entries: list[_Entry] = []
    stop_at: str | None = None
    key_only = {"oversize": 0, "no_image": 0}
    for position, record in enumerate(records):
        sequence_number = ((record.get("dynamodb") or {}).get("SequenceNumber")) if isinstance(record, dict) else None
        try:
            entry, size, reason = build_entry(record, settings.max_message_bytes, settings.digest)
        except codec.CodecError as exc:
            runtime.log(logger, logging.ERROR, "record_unreadable", position=position,
                        sequence_number=sequence_number if isinstance(sequence_number, str) else None,
                        error=type(exc).__name__, reason=str(exc))
            if not isinstance(sequence_number, str):
                # Nothing to report it by: fail the whole invocation (the mapping bisects it
                # and sends it to its on-failure destination when retries run out).
                raise
            stop_at = sequence_number
            break
        if reason:
            key_only[reason] += 1
        runtime.log(logger, logging.DEBUG, "record", sequence_number=sequence_number,
                    group=entry["MessageGroupId"], size=size, key_only=reason or None)
        entries.append(_Entry(sequence_number, entry, size))

    sent = 0
    counts = {"entries_retried": 0}
    batches = _batches(entries, settings.max_message_bytes)
    for batch in batches:
        try:
            position, failure = _send(sqs, settings, batch, sleep, counts)
        except (ClientError, BotoCoreError) as exc:
            runtime.log(logger, logging.ERROR, "send_failed", error=runtime.error_code(exc),
                        sent=sent, entries=len(batch), first_failed=batch[0].sequence_number)
            return _failure(batch[0].sequence_number)
        if position is not None:
            item = batch[position]
            runtime.log(logger, logging.ERROR, "entry_failed", code=failure.get("Code"),
                        sender_fault=failure.get("SenderFault"), sent=sent + position,
                        first_failed=item.sequence_number, group=item.entry["MessageGroupId"],
                        entries_retried=counts["entries_retried"])
            return _failure(item.sequence_number)
        sent += len(batch)

    runtime.log(logger, logging.INFO, "forwarded", records=len(records), sent=sent,
                key_only_oversize=key_only["oversize"], key_only_no_image=key_only["no_image"],
                calls=len(batches), entries_retried=counts["entries_retried"])
    if stop_at is not None:
        return _failure(stop_at)
    return {"batchItemFailures": []}


def handler(event: dict, context: Any) -> dict:
    # the secret first: without it nothing is sent (the invocation fails, Lambda retries the batch)
    digest = runtime.key_digest()
    return forward(event, runtime.client("sqs"), ForwarderSettings.from_env(digest=digest))

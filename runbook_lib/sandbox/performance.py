"""Speed-ups of moto, and one SQS fix that brings it closer to AWS.

Size: over 600 lines on purpose until the restructure issue (#11), which splits the code base by concern in one pass; here the SQS receive/clock/partial-send rules move to an SQS module, the pure speed-ups stay. Splitting it alone now would move code the other open issues are about to change.

- DynamoDB: moto recomputes an item's size (a recursive walk over every attribute) twice for each
  item a ``Scan`` or ``Query`` pages over; with items that carry nested maps and sets that is most
  of a scan's time. The size is kept on the item and forgotten whenever ``UpdateItem`` changes the
  item in place (``PutItem`` always stores a new item object).
- SQS: for every message sent to a FIFO queue moto builds the queue's whole attribute map (three
  passes over every message) and scans every message for its deduplication id; for every message
  received it builds the attribute map again for the retention period. A FIFO queue with a few
  thousand messages then takes about a second per ``SendMessageBatch``. The sandbox reads the two
  settings directly and keeps deduplication ids in an index; while moto's ``_validate_message``
  and ``send_message`` run (they read only ``ContentBasedDeduplication``) the attribute map is
  built without its message counts, so that a send no longer walks the queue; and
  ``GetQueueAttributes`` builds the map once per call instead of once plus twice per name.
- ``Scan`` pages: moto sorts every item of the table for every page it returns; the sorted list
  is kept until an item is put, deleted or updated.
- Segmented ``Scan``: moto hashes every item's hash key for every page of every segment, and
  fails (an error answer) on a binary hash key, whose value it tries to encode as text. The
  sandbox hashes the key's bytes, once per item.
- Request routing: moto's server finds the backend of every request by trying the URL patterns
  of every service (under one lock); the answer for a host never changes, so it is kept.
- SQS receipt handles: moto draws 185 random letters one by one for every message received;
  the sandbox takes 185 letters from one random draw (still opaque and unique).
- Action lookup: moto lists every method of the handler class (``inspect.getmembers``) for
  every request to find the action's method; a class's methods do not change once the sandbox
  has installed its extensions, so the list is kept per class.
- SQS thread safety: moto deletes a message by rebuilding the queue's message list, so two
  deletes at once (the runtime applies several message groups at a time, and the server is
  threaded) could each drop the other's work and bring a deleted message back. Deletes, receives
  and visibility changes on a queue hold the queue's lock.
- SQS receives: moto lists every visible message of the queue (a clock read for each) and
  deep-copies the set of busy message groups before each ``ReceiveMessage``, and deep-copies
  each message it returns; a FIFO queue holding a few thousand messages then costs
  milliseconds per receive, and the replay slows down the fuller the buffer is. The sandbox walks
  the queue once, lazily, stops as soon as the answer is known, and copies only what it hands
  out. A message over ``maxReceiveCount`` moves to the dead-letter queue (moto's rule). A message of
  a FIFO group held back with nothing chosen (during a replay, the in-flight messages at the
  queue's head) is walked past without any bookkeeping; ``delete_messages`` deletes a received batch
  in one walk under one hold of the lock (the Lambda poller's delete).
- SQS receive bookkeeping: moto stamps each received message (first receive time, visibility
  deadline) through ``unix_time_millis``, which builds two ``datetime`` objects per call, twice per
  message; the sandbox reads the clock once per message (same values, same real clock).
- SQS FIFO receive, as AWS documents it ("FIFO queue delivery logic in Amazon SQS",
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html):
  a message group is busy exactly while one of its messages is **in flight** (received, not
  deleted, its visibility timeout not yet over); a group's messages are handed out in order from
  its oldest undeleted message on; one receive returns as many messages of one group as it can,
  then fills up with other groups (groups taken in the order of their oldest deliverable message).
  moto kept a set of "pending" messages that it cleared only one message at a time while walking
  the queue: after a visibility timeout the messages that came back were skipped while their
  still-"pending" siblings marked the group busy, so a group of b0..b11 with b0..b9 received and
  b0..b2 deleted came back as b9, b10, b11 before b3. The sandbox drops every message that is
  visible again from that set before deciding which groups are busy (``busy_groups``), and
  keeps a per-group message count so that the group-first walk still stops early.
- An SQS clock for the sandbox (``sqs_now_ms``, ``advance_sqs_clock``): ``SentTimestamp`` and the
  five-minute deduplication window read it. It is the real clock until the ``late-resend`` fault
  (``lambda_runtime``) moves it forward; a reset puts it back. Visibility timeouts, delays and
  ``ApproximateFirstReceiveTimestamp`` keep the real clock, so after a move a message's first
  receive can be stamped before it was sent (AWS has one clock).
- Fault ``partial-send``: entries of a FIFO ``SendMessageBatch`` fail as SQS reports them
  (HTTP 200, ``Failed`` entries with ``Id``, ``SenderFault: false``, ``Code`` ``InternalFailure``
  or ``ServiceUnavailable``, ``Message``; "BatchResultErrorEntry" and "Common Errors" in the
  Amazon SQS API Reference). A failed entry is not stored and its deduplication id is not
  remembered, so sending it again is accepted; the other entries of the call are queued.
- SQS deduplication, as AWS documents it: a deduplication id is remembered for five minutes after
  its message was sent, **even once the message is deleted** (moto forgot it with the message).
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections import Counter
from functools import lru_cache

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item
from moto.sqs import models as _sqs_models

from . import faults

_installed = False

faults.register(
    "partial-send",
    "entries of SendMessageBatch on FIFO queues fail (HTTP 200, Failed: InternalFailure/ServiceUnavailable, "
    "SenderFault false); the rest of the call is queued",
    rate=0.05,
    seed=-1,
)

#: the codes SQS answers for a server-side failure (Amazon SQS API Reference, "Common Errors")
PARTIAL_SEND_CODES = (
    ("InternalFailure", "The request processing has failed because of an unknown error, exception or failure."),
    ("ServiceUnavailable", "The request has failed due to a temporary failure of the server."),
)


# -- the sandbox's clock for SQS -----------------------------------------------------------------
_clock_lock = threading.Lock()
_clock = {"offset_ms": 0.0}


def sqs_now_ms() -> float:
    """The sandbox's SQS clock in epoch milliseconds: real time plus the offset the sandbox was moved by."""
    return time.time() * 1000 + _clock["offset_ms"]


def advance_sqs_clock(seconds: float) -> float:
    """Move the SQS clock forward by ``seconds`` (never back); the new offset in seconds."""
    with _clock_lock:
        _clock["offset_ms"] += max(float(seconds), 0.0) * 1000
        return _clock["offset_ms"] / 1000


def sqs_clock_offset() -> float:
    """Seconds the SQS clock is ahead of the real clock."""
    return _clock["offset_ms"] / 1000


def reset() -> None:
    """``POST /moto-api/reset``: the SQS clock back to real time, the partial-send draws start again."""
    with _clock_lock:
        _clock["offset_ms"] = 0.0
    _partial_rng["seed"] = None


def _mark_sent(self, delay_seconds=None) -> None:
    """moto's ``Message.mark_sent`` on the sandbox's SQS clock."""
    self.sent_timestamp = int(sqs_now_ms())
    if delay_seconds:
        self.delay(delay_seconds=delay_seconds)


def _mark_received(self, visibility_timeout=None) -> None:
    """moto's ``Message.mark_received`` with one clock read: first receive time, receive count,
    visibility deadline (the real clock, in epoch milliseconds, as moto keeps them), new receipt handle."""
    visibility_timeout = int(visibility_timeout) if visibility_timeout else 0
    now_ms = time.time() * 1000
    if not self.approximate_first_receive_timestamp:
        self.approximate_first_receive_timestamp = int(now_ms)
    self.approximate_receive_count += 1
    if visibility_timeout:
        self.visible_at = now_ms + visibility_timeout * 1000
    self._old_receipt_handles.append(self.receipt_handle)
    self.receipt_handle = _sqs_models.generate_receipt_handle()


def _change_visibility(self, visibility_timeout: int) -> None:
    """moto's ``Message.change_visibility`` on the same clock, read once."""
    self.visible_at = time.time() * 1000 + int(visibility_timeout) * 1000


def _memo_size(original):
    def size(self) -> int:
        cached = self.__dict__.get("_memo_size")
        if cached is None:
            cached = original(self)
            self.__dict__["_memo_size"] = cached
        return cached

    return size


def _sorted_items(original):
    def all_items(self):
        cached = self.__dict__.get("_sorted_cache")
        if cached is not None and cached[0] is self.items:
            return list(cached[1])
        items = original(self)
        self.__dict__["_sorted_cache"] = (self.items, items)
        return list(items)

    return all_items


def _forget_order(original):
    def change(self, *args, **kwargs):
        self.__dict__.pop("_sorted_cache", None)
        try:
            return original(self, *args, **kwargs)
        finally:
            self.__dict__.pop("_sorted_cache", None)

    return change


def _forget_size_on_update(original):
    def update_item(self, table_name, key, *args, **kwargs):
        table = self.get_table(table_name)
        try:
            hash_value, range_value = self.get_keys_value(table, key)
            current = table.get_item(hash_value, range_value)
        except Exception:  # noqa: BLE001 - let moto raise its own validation error below
            current = None
        if current is not None:
            current.__dict__.pop("_memo_size", None)
        try:
            item = original(self, table_name, key, *args, **kwargs)
        finally:
            table.__dict__.pop("_sorted_cache", None)  # an update may insert a new item
        if item is not None:
            item.__dict__.pop("_memo_size", None)
        return item

    return update_item


def _fast_add_message(original):
    from collections import deque

    from moto.sqs.models import DEDUPLICATION_TIME_IN_SECONDS

    window_ms = DEDUPLICATION_TIME_IN_SECONDS * 1000

    def add_message(self, message) -> None:
        if self.fifo_queue:
            content_based = str(getattr(self, "content_based_deduplication", "false")).lower() == "true"
            if content_based or message.deduplication_id:
                index = self.__dict__.setdefault("_dedup_index", {})
                order = self.__dict__.setdefault("_dedup_order", deque())
                now = message.sent_timestamp
                while order and now - order[0][0] >= window_ms:
                    sent, dedup_id = order.popleft()
                    if index.get(dedup_id) == sent:
                        del index[dedup_id]
                first = index.get(message.deduplication_id)
                if first is not None and now - first < window_ms:
                    return  # accepted, not delivered: a duplicate within five minutes
                index[message.deduplication_id] = now
                order.append((now, message.deduplication_id))
        with self._messages_lock:
            self._messages.append(message)
            counts = _group_counts(self)
            if message.group_id is not None:
                counts[message.group_id] += 1
            self._messages_lock.notify_all()
        # moto would invoke Lambda mappings from here; the sandbox's runtime polls them instead

    return add_message


@lru_cache(maxsize=None)
def _snake(name: str) -> str:
    from moto.core.utils import camelcase_to_underscores

    return camelcase_to_underscores(name)


_COUNTED = {
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
}


#: per thread: ``counted`` False while a moto method that reads only a queue's settings runs (no
#: message counts wanted); ``memo`` the attribute map of each queue already built in this call
_attributes_scope = threading.local()


def _settings_only(method):
    """Run moto's ``method`` with ``Queue.attributes`` built without its three message counts
    (a walk over every message): the send path reads only ``ContentBasedDeduplication`` from it,
    once or twice per message, which made filling a FIFO queue of n messages O(n^2)."""

    @functools.wraps(method)
    def settings_only(*args, **kwargs):
        outer = getattr(_attributes_scope, "counted", True)
        _attributes_scope.counted = False
        try:
            return method(*args, **kwargs)
        finally:
            _attributes_scope.counted = outer

    return settings_only


def _attributes_once(method):
    """Run moto's ``method`` with each queue's attribute map built once: ``get_queue_attributes``
    builds it again twice for every name asked for (one walk over every message each time)."""

    @functools.wraps(method)
    def attributes_once(*args, **kwargs):
        outer = getattr(_attributes_scope, "memo", None)
        _attributes_scope.memo = {}
        try:
            return method(*args, **kwargs)
        finally:
            _attributes_scope.memo = outer

    return attributes_once


def _queue_attributes(self) -> dict:
    """moto's ``Queue.attributes``, with the three message counts taken in one pass and one clock
    read (none in :func:`_settings_only`, once per queue in :func:`_attributes_once`)."""
    memo = getattr(_attributes_scope, "memo", None)
    if memo is not None:
        built = memo.get(id(self))
        if built is not None and built[0] is self:
            return built[1]
    result = _build_queue_attributes(self, getattr(_attributes_scope, "counted", True))
    if memo is not None:
        memo[id(self)] = (self, result)
    return result


def _build_queue_attributes(self, counted: bool) -> dict:
    import json
    import time

    counts: dict = {}
    if counted:
        now_ms = time.time() * 1000
        visible = delayed = not_visible = 0
        for message in list(self._messages):
            is_delayed = now_ms < message.delayed_until
            is_visible = now_ms > message.visible_at
            delayed += is_delayed
            not_visible += not is_visible
            visible += is_visible and not is_delayed
        counts = {
            "ApproximateNumberOfMessages": visible,
            "ApproximateNumberOfMessagesDelayed": delayed,
            "ApproximateNumberOfMessagesNotVisible": not_visible,
        }
    names = list(self.BASE_ATTRIBUTES)
    if self.fifo_queue:
        names += self.FIFO_ATTRIBUTES
    if self.kms_master_key_id:
        names += self.KMS_ATTRIBUTES
    result: dict = {}
    for name in names:
        if name in _COUNTED:
            if counted:
                result[name] = counts[name]
        else:
            result[name] = getattr(self, _snake(name))
    if self.policy:
        result["Policy"] = self.policy
    if self.redrive_policy:
        result["RedrivePolicy"] = json.dumps(self.redrive_policy)
    for key in result:
        if isinstance(result[key], bool):
            result[key] = str(result[key]).lower()
    return result


def _visible(self) -> bool:
    import time

    return time.time() * 1000 > self.visible_at


def _delayed(self) -> bool:
    import time

    return time.time() * 1000 < self.delayed_until


def _retention_check(self, queue_name: str, message) -> bool:
    from moto.core.utils import unix_time

    queue = self.get_queue(queue_name)
    return int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time()


def _delete_message(self, receipt_handle: str) -> None:
    """moto's ``Queue.delete_message`` in one pass, removing the message in place, under the lock."""
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    with self._messages_lock:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: AWS accepts a second delete
        messages = self._messages
        index = next((i for i, m in enumerate(messages) if m.receipt_handle == receipt_handle), None)
        if index is None:  # an older receipt handle of a message received again since
            index = next((i for i, m in enumerate(messages) if m.had_receipt_handle(receipt_handle)), None)
        if index is None:
            raise ReceiptHandleIsInvalid()
        message = messages.pop(index)
        _uncount(self, message)
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)


def delete_messages(queue, receipt_handles: list[str]) -> None:
    """Delete a received batch from ``queue``, as ``Queue.delete_message`` does for each handle, in
    one walk of the queue under one hold of its lock (the Lambda poller deletes a whole batch at
    once; the batch's messages sit among the in-flight ones at the queue's head). A handle of a
    message deleted already is accepted; an older handle of a message received again since, or an
    unknown one, is left to ``Queue.delete_message`` (which raises ``ReceiptHandleIsInvalid``)."""
    with queue._messages_lock:
        wanted = {h for h in receipt_handles if h not in queue.deleted_messages}
        found: list = []
        if wanted:
            for index, message in enumerate(queue._messages):
                if message.receipt_handle in wanted:
                    found.append(index)
                    if len(found) == len(wanted):
                        break
        for index in reversed(found):
            message = queue._messages.pop(index)
            _uncount(queue, message)
            queue.pending_messages.discard(message)
            queue.deleted_messages.update(message.all_receipt_handles)
        errors = []
        for handle in wanted if len(found) < len(wanted) else ():
            if handle not in queue.deleted_messages:
                try:
                    queue.delete_message(handle)
                except Exception as exc:  # noqa: BLE001 - the others are still deleted
                    errors.append(exc)
        if errors:
            raise errors[0]


def _queue_locked(original):
    def method(self, queue_name, *args, **kwargs):
        queue = self.get_queue(queue_name)
        with queue._messages_lock:
            return original(self, queue_name, *args, **kwargs)

    return method


def _group_counts(queue) -> Counter:
    """Messages per group in ``queue._messages`` (call with the queue's lock held).

    Kept up to date by the sandbox's add, delete and dead-letter move; rebuilt when moto replaced
    the list (``PurgeQueue``). Only the FIFO receive reads it, to know when it has walked past the
    last message of a group: a count that is too high makes the walk longer, never the answer wrong.
    """
    tracked = queue.__dict__.get("_group_counts")
    if tracked is None or tracked[0] is not queue._messages:
        counts = Counter(m.group_id for m in queue._messages if m.group_id is not None)
        queue.__dict__["_group_counts"] = (queue._messages, counts)
        return counts
    return tracked[1]


def _uncount(queue, message) -> None:
    if message.group_id is None:
        return
    counts = _group_counts(queue)
    if counts[message.group_id] > 1:
        counts[message.group_id] -= 1
    else:
        counts.pop(message.group_id, None)


def in_flight(message, now_ms: float) -> bool:
    """Received and its visibility timeout not over (a deleted message has left the queue)."""
    return message.approximate_receive_count > 0 and now_ms <= message.visible_at


def busy_groups(queue, now_ms: float | None = None) -> set:
    """The message groups of a FIFO queue with a message in flight (none for a standard queue).

    moto's set of pending messages is brought up to date first: a message whose visibility
    timeout is over is no longer in flight, whichever order the queue is walked in. Call with the
    queue's lock held.
    """
    if not queue.fifo_queue:
        return set()
    if now_ms is None:
        now_ms = time.time() * 1000
    pending = queue._pending_messages
    busy = set()
    for message in list(pending):
        if message.approximate_receive_count > 0 and now_ms <= message.visible_at:  # in_flight(), inlined
            if message.group_id is not None:
                busy.add(message.group_id)
        else:
            pending.discard(message)
    return busy


def deliverable(message, now_ms: float, busy: set) -> bool:
    """Visible, not delayed, and not behind an in-flight message of its group."""
    if now_ms <= message.visible_at or now_ms < message.delayed_until:
        return False
    return not (message.group_id and message.group_id in busy)


def _select_fifo(queue, count: int, now_ms: float, usable) -> tuple[list, list]:
    """(messages to hand out, messages to dead-letter) for a FIFO receive of ``count``.

    Groups in the order of their oldest deliverable message; all of one group (in order) before
    the next. A group with a message in flight is skipped; a group whose next message is not
    deliverable (delayed) stops there. ``usable(message)`` is False for a message to skip (expired)
    and "dlq" for one to move to the dead-letter queue.
    """
    blocked = busy_groups(queue, now_ms)
    counts = _group_counts(queue)
    seen: dict = {}  # messages walked, per group that is not held back or has messages in ``buckets``
    buckets: dict = {}
    order: list = []
    to_dlq: list = []
    head = 0  # index in ``order`` of the first group not walked to its end
    done = 0  # messages of the groups before ``head``
    for message in queue._messages:
        group = message.group_id
        if group in blocked:
            if group not in buckets:
                # held back (in flight, or behind a message not deliverable yet) with nothing
                # chosen: it changes neither the answer nor when the walk may stop (a replayed
                # queue's in-flight messages sit at its head, walked past on every receive)
                continue
            seen[group] += 1
        else:
            seen[group] = seen.get(group, 0) + 1
            if not deliverable(message, now_ms, ()):
                blocked.add(group)
            else:
                verdict = usable(message)
                if verdict == "dlq":
                    to_dlq.append(message)
                elif verdict:
                    bucket = buckets.get(group)
                    if bucket is None:
                        bucket = buckets[group] = []
                        order.append(group)
                    bucket.append(message)
        while head < len(order) and seen[order[head]] >= counts.get(order[head], 0):
            done += len(buckets[order[head]])
            head += 1
        if done >= count or (head < len(order) and done + len(buckets[order[head]]) >= count):
            break
    chosen: list = []
    for group in order:
        for message in buckets[group]:
            if len(chosen) >= count:
                return chosen, to_dlq
            chosen.append(message)
    return chosen, to_dlq


def _select_standard(queue, count: int, now_ms: float, usable) -> tuple[list, list]:
    chosen: list = []
    to_dlq: list = []
    for message in queue._messages:
        if not deliverable(message, now_ms, ()):
            continue
        verdict = usable(message)
        if verdict == "dlq":
            to_dlq.append(message)
        elif verdict:
            chosen.append(message)
            if len(chosen) >= count:
                break
    return chosen, to_dlq


def _shallow_copy(message):
    """``copy.copy(message)`` without its generic reduce/reconstruct protocol: a new instance made
    through the class (moto's ``BaseModel.__new__`` tracks it, as ``copy.copy`` did) holding the
    same attribute values."""
    cls = message.__class__
    handed = cls.__new__(cls)
    handed.__dict__.update(message.__dict__)
    return handed


def _receive_message(
    self,
    queue_name: str,
    count: int,
    wait_seconds_timeout: int,
    visibility_timeout: int,
    message_attribute_names: list[str] | None = None,
) -> list:
    """moto's ``SQSBackend.receive_message`` in one lazy pass, with AWS's FIFO rules (module docstring)."""
    from moto.sqs.models import _filter_message_attributes

    queue = self.get_queue(queue_name)
    names = message_attribute_names or []
    polling_end = time.time() + wait_seconds_timeout
    redrive = queue.redrive_policy if queue.dead_letter_queue is not None else None
    retention_ms = int(queue.message_retention_period) * 1000

    def usable(message):
        if redrive and message.approximate_receive_count >= redrive["maxReceiveCount"]:
            return "dlq"
        return message.sent_timestamp + retention_ms > now_ms  # expired messages are never delivered

    while True:
        with queue._messages_lock:
            now_ms = time.time() * 1000
            select = _select_fifo if queue.fifo_queue else _select_standard
            chosen, to_dlq = select(queue, count, now_ms, usable)
            result: list = []
            for message in chosen:
                queue._pending_messages.add(message)
                message.mark_received(visibility_timeout=visibility_timeout)
                handed = _shallow_copy(message)
                _filter_message_attributes(handed, names)  # replaces the copy's attribute dict only
                result.append(handed)
            for message in to_dlq:
                queue._messages.remove(message)
                _uncount(queue, message)
                # as in moto, the source queue still marks the message pending while the DLQ adds it
                # (a hook on the DLQ's add_message can tell which queue it came from)
                queue._pending_messages.add(message)
                try:
                    queue.dead_letter_queue.add_message(message)
                finally:
                    queue._pending_messages.discard(message)
            if result or not wait_seconds_timeout or time.time() > polling_end:
                return result
            queue._messages_lock.wait(timeout=1)


# -- fault: partial-send ---------------------------------------------------------------------------
_partial_rng: dict = {"seed": None, "rng": random.Random()}


def partial_send_plan(n: int, rate: float, seed: int) -> list[bool]:
    """Which of ``n`` entries fail: each with probability ``rate``. With ``seed`` >= 0 the choices
    come from ``random.Random(seed)``, drawn one per entry across calls since the fault was
    switched on (reproducible); with -1 they are not reproducible."""
    if _partial_rng["seed"] != seed:
        _partial_rng["seed"] = seed
        _partial_rng["rng"] = random.Random(seed) if seed >= 0 else random.Random()
    rng = _partial_rng["rng"]
    return [rng.random() < rate for _ in range(n)]


def _partial_send(original):
    def send_message_batch(self, queue_name, entries):
        fault = faults.active("partial-send")
        queue = self.get_queue(queue_name)
        if fault is None:
            _partial_rng["seed"] = None  # the next time it is switched on, its sequence starts again
        if fault is None or not queue.fifo_queue:
            return original(self, queue_name, entries)
        with queue._messages_lock:  # nobody receives an entry that is about to fail
            before = {id(m) for m in queue._messages}
            messages, failed = original(self, queue_name, entries)
            plan = partial_send_plan(len(messages), float(fault["rate"]), int(fault["seed"]))
            kept, failures = [], []
            index = queue.__dict__.get("_dedup_index", {})
            for message, fail in zip(messages, plan):
                if not fail:
                    kept.append(message)
                    continue
                if id(message) not in before and message in queue._messages:
                    queue._messages.remove(message)  # never stored
                    _uncount(queue, message)
                    if index.get(message.deduplication_id) == message.sent_timestamp:
                        del index[message.deduplication_id]  # nor its deduplication id remembered
                code, text = PARTIAL_SEND_CODES[len(failures) % len(PARTIAL_SEND_CODES)]
                failures.append({"Id": message.user_id, "SenderFault": False, "Code": code, "Message": text})
        if failures:
            faults.note("partial-send", "entries_failed", len(failures))
            faults.note("partial-send", "calls_with_failures")
        return kept, list(failed) + failures

    return send_message_batch


def _is_within_segment(self, segments) -> bool:
    if segments == (None, None):
        return True
    segment, total_segments = segments
    item_hash = self.__dict__.get("_segment_hash")
    if item_hash is None:
        import hashlib

        value = self.hash_key.value
        raw = value if isinstance(value, (bytes, bytearray)) else str(value).encode("utf8")
        item_hash = hashlib.md5(raw, usedforsecurity=False).digest()[0]  # as moto: first byte of md5
        self.__dict__["_segment_hash"] = item_hash
    return segment == item_hash % total_segments


def _receipt_handle() -> str:
    import os

    # 185 characters, as moto's: lower-case letters and digits (hex of random bytes)
    return os.urandom(93).hex()[:185]


def _memo_backend_for_host(original):
    cache: dict = {}

    def get_backend_for_host(self, host):
        try:
            return cache[host]
        except KeyError:
            backend = original(self, host)
            cache[host] = backend
            return backend
        except TypeError:  # unhashable: never the case for a host string
            return original(self, host)

    return get_backend_for_host


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    DomainDispatcherApplication.get_backend_for_host = _memo_backend_for_host(DomainDispatcherApplication.get_backend_for_host)
    from moto.sqs.models import Message, Queue, SQSBackend

    import moto.sqs.models as sqs_models

    sqs_models.generate_receipt_handle = _receipt_handle
    import moto.core.responses as core_responses

    core_responses.method_names_from_class = lru_cache(maxsize=None)(core_responses.method_names_from_class)
    Queue.delete_message = _delete_message
    SQSBackend.change_message_visibility = _queue_locked(SQSBackend.change_message_visibility)
    SQSBackend.receive_message = _receive_message
    SQSBackend.send_message_batch = _partial_send(SQSBackend.send_message_batch)
    SQSBackend._validate_message = _settings_only(SQSBackend._validate_message)
    SQSBackend.send_message = _settings_only(SQSBackend.send_message)
    SQSBackend.get_queue_attributes = _attributes_once(SQSBackend.get_queue_attributes)
    Message.mark_sent = _mark_sent
    Message.mark_received = _mark_received
    Message.change_visibility = _change_visibility

    Queue.attributes = property(_queue_attributes)
    Message.visible = property(_visible)
    Message.delayed = property(_delayed)
    Queue.add_message = _fast_add_message(Queue.add_message)
    SQSBackend.is_message_valid_based_on_retention_period = _retention_check
    Item.size = _memo_size(Item.size)
    Item.is_within_segment = _is_within_segment
    from moto.dynamodb.models.table import Table

    Table.all_items = _sorted_items(Table.all_items)
    Table.put_item = _forget_order(Table.put_item)
    Table.delete_item = _forget_order(Table.delete_item)
    DynamoDBBackend.update_item = _forget_size_on_update(DynamoDBBackend.update_item)
    _installed = True

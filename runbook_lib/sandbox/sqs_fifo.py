"""SQS FIFO delivery as AWS documents it: receive order across visibility timeouts, and the
five-minute deduplication window.

**Receive order** ("FIFO queue delivery logic in Amazon SQS",
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html):
a message group is busy exactly while one of its messages is **in flight** (received, not deleted,
its visibility timeout not yet over); a group's messages are handed out in order from its oldest
undeleted message on; one receive returns as many messages of one group as it can, then fills up
with other groups (groups taken in the order of their oldest deliverable message). moto kept a set
of "pending" messages that it cleared only one message at a time while walking the queue: after a
visibility timeout the messages that came back were skipped while their still-"pending" siblings
marked the group busy, so a group of b0..b11 with b0..b9 received and b0..b2 deleted came back as
b9, b10, b11 before b3. The sandbox drops every message that is visible again from that set before
deciding which groups are busy (:func:`busy_groups`), and keeps a per-group message count so that
the group-first walk can stop early.

The receive (standard queues too) is also moto's made cheap: moto listed every visible message of
the queue (a clock read for each), deep-copied the set of busy groups before each
``ReceiveMessage`` and deep-copied each message it returned, so a FIFO queue holding a few thousand
messages cost milliseconds per receive and a replay slowed down the fuller the buffer was. The
sandbox walks the queue once, lazily, stops as soon as the answer is known, walks past the
messages of a group held back with nothing chosen (during a replay, the in-flight messages at the
queue's head) without any bookkeeping, and copies only what it hands out. A message over
``maxReceiveCount`` moves to the dead-letter queue (moto's rule); an expired one is never handed out.

**Deduplication** ("Using the Amazon SQS message deduplication ID",
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/using-messagededuplicationid-property.html):
a deduplication id is remembered for five minutes after its message was sent, **even once the
message is deleted** (moto compared it only with the messages still in the queue, and scanned every
one of them for each message sent). The sandbox keeps the ids of the last five minutes in an index,
on the sandbox's SQS clock (``sqs_clock.py``).
"""

from __future__ import annotations

import time
from collections import Counter

_installed = False


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


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.sqs.models import Queue, SQSBackend

    Queue.add_message = _fast_add_message(Queue.add_message)
    SQSBackend.receive_message = _receive_message
    _installed = True

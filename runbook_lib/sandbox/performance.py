"""Speed-ups of moto, and one SQS fix that brings it closer to AWS.

- DynamoDB: moto recomputes an item's size (a recursive walk over every attribute) twice for each
  item a ``Scan`` or ``Query`` pages over; with items that carry nested maps and sets that is most
  of a scan's time. The size is kept on the item and forgotten whenever ``UpdateItem`` changes the
  item in place (``PutItem`` always stores a new item object).
- SQS: for every message sent to a FIFO queue moto builds the queue's whole attribute map (three
  passes over every message) and scans every message for its deduplication id; for every message
  received it builds the attribute map again for the retention period. A FIFO queue with a few
  thousand messages then takes about a second per ``SendMessageBatch``. The sandbox reads the two
  settings directly and keeps deduplication ids in an index.
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
  the queue once, lazily, stops at ``count`` messages, and copies only what it hands out. The
  rules are moto's own: the oldest visible messages first, a FIFO group with a message in flight
  is skipped, a message over ``maxReceiveCount`` moves to the dead-letter queue.
- SQS deduplication, as AWS documents it: a deduplication id is remembered for five minutes after
  its message was sent, **even once the message is deleted** (moto forgot it with the message).
"""

from __future__ import annotations

from functools import lru_cache

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item

_installed = False


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


def _queue_attributes(self) -> dict:
    """moto's ``Queue.attributes``, with the three message counts taken in one pass and one clock read."""
    import json
    import time

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
        result[name] = counts[name] if name in _COUNTED else getattr(self, _snake(name))
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
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)


def _queue_locked(original):
    def method(self, queue_name, *args, **kwargs):
        queue = self.get_queue(queue_name)
        with queue._messages_lock:
            return original(self, queue_name, *args, **kwargs)

    return method


def busy_groups(queue) -> set:
    """The message groups of a FIFO queue with a message in flight (none for a standard queue)."""
    if not queue.fifo_queue:
        return set()
    return {m.group_id for m in queue._pending_messages if m.group_id is not None}


def deliverable(message, now_ms: float, busy: set) -> bool:
    """Visible, not delayed, and not behind an in-flight message of its group."""
    if now_ms <= message.visible_at or now_ms < message.delayed_until:
        return False
    return not (message.group_id and message.group_id in busy)


def _receive_message(
    self,
    queue_name: str,
    count: int,
    wait_seconds_timeout: int,
    visibility_timeout: int,
    message_attribute_names: list[str] | None = None,
) -> list:
    """moto's ``SQSBackend.receive_message`` in one lazy pass (see the module's docstring)."""
    import copy
    import time

    from moto.sqs.models import _filter_message_attributes

    queue = self.get_queue(queue_name)
    names = message_attribute_names or []
    polling_end = time.time() + wait_seconds_timeout
    redrive = queue.redrive_policy if queue.dead_letter_queue is not None else None
    result: list = []
    while True:
        with queue._messages_lock:
            now_ms = time.time() * 1000
            pending = queue._pending_messages
            busy = busy_groups(queue)
            to_dlq: list = []
            for message in queue._messages:
                if not deliverable(message, now_ms, set()):
                    continue  # in flight or delayed
                if message in pending:  # visible again: its consumer timed out
                    pending.discard(message)
                    busy = busy_groups(queue)
                if not deliverable(message, now_ms, busy):
                    continue  # a message of this group is in flight
                if redrive and message.approximate_receive_count >= redrive["maxReceiveCount"]:
                    to_dlq.append(message)
                    continue
                pending.add(message)
                message.mark_received(visibility_timeout=visibility_timeout)
                handed = copy.copy(message)
                _filter_message_attributes(handed, names)  # replaces the copy's attribute dict only
                if not self.is_message_valid_based_on_retention_period(queue_name, message):
                    break
                result.append(handed)
                if len(result) >= count:
                    break
            for message in to_dlq:
                queue._messages.remove(message)
                queue.dead_letter_queue.add_message(message)
            if result or not wait_seconds_timeout or time.time() > polling_end:
                return result
            queue._messages_lock.wait(timeout=1)


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

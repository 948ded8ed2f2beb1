"""Speed-ups of moto's SQS: the per-message and per-queue work moto repeats on every call, done once.

Pure speed-ups: the answers are moto's, so nothing here differs from AWS or from moto's behaviour.
The SQS fixes that change answers are elsewhere: FIFO receive order and the deduplication window
in ``sqs_fifo.py``, deletes under the queue's lock in ``sqs_thread_safety.py``, the sandbox's
clock in ``sqs_clock.py``, the ``partial-send`` fault in ``sqs_partial_send.py``.

- Queue attributes: for every message sent to a FIFO queue moto builds the queue's whole attribute
  map (three passes over every message, for the message counts) although it reads only
  ``ContentBasedDeduplication`` from it; for every message received it builds the map again for
  the retention period. A FIFO queue with a few thousand messages then takes about a second per
  ``SendMessageBatch``. While moto's ``_validate_message`` and ``send_message`` run the map is
  built without its message counts, so that a send no longer walks the queue; the retention check
  reads the setting directly; ``GetQueueAttributes`` builds the map once per call instead of once
  plus twice per name; the three counts are taken in one pass with one clock read.
- Receipt handles: moto draws 185 random letters one by one for every message received; the
  sandbox takes 185 characters from one random draw (still opaque and unique).
- Receive bookkeeping: moto stamps each received message (first receive time, visibility
  deadline) through ``unix_time_millis``, which builds two ``datetime`` objects per call, twice per
  message; the sandbox reads the clock once per message (same values, same real clock), as it does
  for a visibility change and for ``Message.visible`` / ``Message.delayed``.
"""

from __future__ import annotations

import functools
import threading
import time
from functools import lru_cache

from moto.sqs import models as _sqs_models

_installed = False
_lock = threading.Lock()


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
    once or twice per message, which made filling a FIFO queue of n messages O(n^2). The map
    (settings only: they do not change while one send runs) is also built once per queue in that
    call, not twice per message (``SendMessageBatch`` of ten: one build instead of twenty)."""

    @functools.wraps(method)
    def settings_only(*args, **kwargs):
        outer = getattr(_attributes_scope, "counted", True)
        outer_memo = getattr(_attributes_scope, "memo", None)
        _attributes_scope.counted = False
        if outer_memo is None:
            _attributes_scope.memo = {}
        try:
            return method(*args, **kwargs)
        finally:
            _attributes_scope.counted = outer
            _attributes_scope.memo = outer_memo

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
    counted = getattr(_attributes_scope, "counted", True)
    if memo is not None:
        built = memo.get((id(self), counted))
        if built is not None and built[0] is self:
            return dict(built[1])
    result = _build_queue_attributes(self, counted)
    if memo is not None:
        memo[(id(self), counted)] = (self, dict(result))
    return result


def _build_queue_attributes(self, counted: bool) -> dict:
    import json

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
    return time.time() * 1000 > self.visible_at


def _delayed(self) -> bool:
    return time.time() * 1000 < self.delayed_until


def _retention_check(self, queue_name: str, message) -> bool:
    from moto.core.utils import unix_time

    queue = self.get_queue(queue_name)
    return int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time()


def _receipt_handle() -> str:
    import os

    # 185 characters, as moto's: lower-case letters and digits (hex of random bytes)
    return os.urandom(93).hex()[:185]


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.sqs.models import Message, Queue, SQSBackend

        _sqs_models.generate_receipt_handle = _receipt_handle
        SQSBackend._validate_message = _settings_only(SQSBackend._validate_message)
        SQSBackend.send_message = _settings_only(SQSBackend.send_message)
        SQSBackend.send_message_batch = _settings_only(SQSBackend.send_message_batch)
        SQSBackend.get_queue_attributes = _attributes_once(SQSBackend.get_queue_attributes)
        Message.mark_received = _mark_received
        Message.change_visibility = _change_visibility
        Queue.attributes = property(_queue_attributes)
        Message.visible = property(_visible)
        Message.delayed = property(_delayed)
        SQSBackend.is_message_valid_based_on_retention_period = _retention_check
        _installed = True

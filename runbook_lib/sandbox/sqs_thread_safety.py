"""SQS deletes and visibility changes that are safe when requests arrive at once.

moto deletes a message by rebuilding the queue's list of messages, without a lock: two deletes at
once (the Lambda runtime applies several message groups at a time, and the server is threaded)
could each drop the other's work and bring a deleted message back. Here deletes, receives
(``sqs_fifo.py``) and visibility changes on a queue hold the queue's lock, and a delete removes
its message in place, in one pass. :func:`delete_messages` deletes a received batch in one walk
under one hold of the lock (the Lambda poller's delete).

A second delete with the receipt handle of a deleted message succeeds. An older handle of a
message received again since still deletes it (moto's rule), which AWS allows: "if you don't
provide the most recently received receipt handle for the message, the request will still
succeed, but the message might not be deleted" ("DeleteMessage", Amazon SQS API Reference,
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteMessage.html).
An unknown handle answers ``ReceiptHandleIsInvalid``.
"""

from __future__ import annotations

from .sqs_fifo import _uncount

_installed = False


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


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.sqs.models import Queue, SQSBackend

    Queue.delete_message = _delete_message
    SQSBackend.change_message_visibility = _queue_locked(SQSBackend.change_message_visibility)
    _installed = True

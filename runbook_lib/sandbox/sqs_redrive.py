"""SQS dead-letter queue redrive, as SQS documents it, and the ``poison-redrive`` fault.

moto 5.2.5 has no ``StartMessageMoveTask``, ``ListMessageMoveTasks`` or ``CancelMessageMoveTask``
(any call answers an error), and when it moves a message to a dead-letter queue it moves the very
same message object: same deduplication id (so a FIFO DLQ can drop a second, independent message
that shares one), same enqueue time, and nothing that says where it came from. This module
installs:

- **Moves to a dead-letter queue** (moto's receive moves a message whose receive count reached
  ``maxReceiveCount``; this module hooks ``Queue.add_message``, where such a message arrives with a
  receive count above zero, which a sent message never has): into a FIFO DLQ the message's
  deduplication id becomes its message id, and its enqueue time (``SentTimestamp``) restarts, as
  the SQS Developer Guide says ("Learn how to configure a dead-letter queue redrive in Amazon
  SQS"; "Setting-up dead-letter queue retention in Amazon SQS": "For FIFO queues, the enqueue
  timestamp resets when the message is moved to a dead-letter queue"). Its
  ``ApproximateReceiveCount`` is kept ("received across all queues") and its source queue is
  remembered; ``ReceiveMessage`` on the DLQ returns it as ``DeadLetterQueueSourceArn`` when asked
  for (``All`` or by name).
- **StartMessageMoveTask** (``SourceArn``, optional ``DestinationArn`` and
  ``MaxNumberOfMessagesPerSecond`` up to 500): the source must exist
  (``ResourceNotFoundException``) and be the dead-letter queue of some queue, the destination (or
  each message's original source queue) must exist and be of the same type, FIFO or standard, and
  only one task may run per source queue (``UnsupportedOperation`` for the last three). A
  background thread moves the messages the DLQ holds when the task starts
  (``ApproximateNumberOfMessagesToMove``), oldest first, at the given rate (default: as fast as it
  can, as AWS "optimizes the rate"). Each moved message is **a new message**: new message id, new
  ``SentTimestamp`` (the move), ``ApproximateReceiveCount`` 0, no first-receive time; the same
  body, message attributes, ``AWSTraceHeader``, ``MessageGroupId`` and deduplication id (the id
  the DLQ gave it, i.e. the original message id), and a new FIFO sequence number ("All redriven
  messages are considered new messages and are assigned a new messageID and enqueueTime"). A
  message in flight in the DLQ waits until it is visible again. The answer is ``TaskHandle``.
- **ListMessageMoveTasks** (``SourceArn``, ``MaxResults`` 1 by default, at most 10): the most recent
  tasks first, with ``Status`` (RUNNING, COMPLETED, CANCELLING, CANCELLED, FAILED),
  ``ApproximateNumberOfMessagesMoved``/``ToMove``, ``StartedTimestamp`` (epoch ms),
  ``DestinationArn``/``MaxNumberOfMessagesPerSecond`` only when they were given, ``TaskHandle``
  only while RUNNING, ``FailureReason`` only when FAILED.
- **CancelMessageMoveTask** (``TaskHandle``): a RUNNING task stops (CANCELLING, then CANCELLED)
  and answers ``ApproximateNumberOfMessagesMoved``; an unknown handle is
  ``ResourceNotFoundException``, a task that is not RUNNING ``UnsupportedOperation``. Moved
  messages stay moved.

Where it still differs from AWS: AWS does not document whether a redriven message keeps
``DeadLetterQueueSourceArn`` or its receive count; here it keeps neither (the applier relies on
neither). Error messages are worded by us; the error codes are the ones botocore's model lists for
these operations, but which one AWS picks for a second running task or a queue that is not a DLQ
is not documented. Tasks are in memory, lost on reset; a task's thread polls every 50 ms.

The ``poison-redrive`` fault
----------------------------
Makes a change fail until it reaches the dead-letter queue, as a poison item would: while it is on,
``BatchWriteItem`` answers ``ValidationException`` for any call that writes one chosen key to a
table restored by ``RestoreTableToPointInTime`` (parameter ``table``: one table by name instead;
``key``: the key as canonical JSON, default the first key such a call writes once the fault is
on). The applier bisects the call, fails only that key's message group, and SQS moves the message
to the DLQ after ``maxReceiveCount`` receives. Once a message carrying that key has reached a DLQ
the cause is gone (writes of the key succeed again), so the runbook's redrive step
(``buffer.redrive_dlq``) can move it back and the key converges. Events: ``key_chosen``,
``writes_failed``, ``dead_lettered``, ``tasks_started``, ``messages_moved``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid as uuid_mod
from typing import Any

from moto.core.exceptions import ServiceException

from . import faults

FAULT = "poison-redrive"
faults.register(
    FAULT,
    "BatchWriteItem of one key into a restored table answers ValidationException until a message "
    "of that key reaches the DLQ (then the cause is gone: redrive it with buffer.redrive_dlq)",
    table="",
    key="",
)

#: the fastest rate AWS takes (MaxNumberOfMessagesPerSecond), used when none is given
MAX_RATE = 500
_POLL = 0.05

_installed = False
_lock = threading.Lock()
#: source (DLQ) ARN -> tasks, most recent last
_tasks: dict[str, list["MoveTask"]] = {}
#: the fault's state while it is on: the chosen key, and whether the cause is gone
_fault_state: dict[str, Any] = {}


class MoveTaskError(ServiceException):
    """An error of the message move task operations, with a code botocore's model lists."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


# ============================================================================= moves to a DLQ
def _source_of(dlq: Any, message: Any) -> Any | None:
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[dlq.account_id][dlq.region]
    sources = [q for q in list(backend.queues.values()) if q.dead_letter_queue is dlq]
    if len(sources) > 1:  # the one the message was received from is still marking it pending
        pending = [q for q in sources if message in getattr(q, "_pending_messages", ())]
        sources = pending or sources
    return sources[0] if sources else None


def _wrap_add_message(original):
    def add_message(self, message) -> None:
        if message.approximate_receive_count > 0 and not getattr(message, "_sandbox_redriven", False):
            # only moto's move to a dead-letter queue adds a message that was received before
            source = _source_of(self, message)
            message._sandbox_dlq_source_arn = source.queue_arn if source is not None else None
            if self.fifo_queue:
                from .sqs_clock import sqs_now_ms

                message.deduplication_id = message.id
                message.sent_timestamp = int(sqs_now_ms())
            _dead_lettered(message)
        message._sandbox_redriven = False
        return original(self, message)

    return add_message


def _wrap_receive_response(original):
    """``DeadLetterQueueSourceArn`` on messages received from a dead-letter queue, when asked for."""

    def receive_message(self):
        result = original(self)
        names = set(self._get_param("MessageSystemAttributeNames") or []) | set(self._get_param("AttributeNames") or [])
        if not names & {"All", "DeadLetterQueueSourceArn"}:
            return result
        try:
            queue = self.sqs_backend.get_queue(self._get_queue_name())
        except Exception:  # noqa: BLE001 - moto answered already
            return result
        by_id = {m.id: m for m in list(queue._messages)}
        for msg in (result.result or {}).get("Messages", []):
            arn = getattr(by_id.get(msg.get("MessageId")), "_sandbox_dlq_source_arn", None)
            if arn:
                msg.setdefault("Attributes", {})["DeadLetterQueueSourceArn"] = arn
        return result

    return receive_message


# ============================================================================ move tasks
class MoveTask:
    def __init__(self, account: str, region: str, source: Any, destination_arn: str | None, rate: int | None) -> None:
        self.task_id = str(uuid_mod.uuid4())
        self.account, self.region = account, region
        self.source = source
        self.source_arn = source.queue_arn
        self.destination_arn = destination_arn
        self.rate = rate
        self.status = "RUNNING"
        self.moved = 0
        self.to_move = len(list(source._messages))
        self.started_ms = int(time.time() * 1000)
        self.failure_reason: str | None = None
        self.cancel = threading.Event()
        self.handle = base64.b64encode(
            json.dumps({"taskId": self.task_id, "sourceArn": self.source_arn}).encode()
        ).decode("ascii")

    def entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Status": self.status,
            "SourceArn": self.source_arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started_ms,
        }
        if self.status == "RUNNING":
            out["TaskHandle"] = self.handle
        if self.destination_arn:
            out["DestinationArn"] = self.destination_arn
        if self.rate is not None:
            out["MaxNumberOfMessagesPerSecond"] = self.rate
        if self.status == "FAILED":
            out["FailureReason"] = self.failure_reason
        return out

    # -- the mover ------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001 - the task fails, as on AWS, and says why
            with _lock:
                self.status = "FAILED"
                self.failure_reason = f"{type(exc).__name__}: {exc}"

    def _backend(self) -> Any:
        from moto.sqs.models import sqs_backends

        return sqs_backends[self.account][self.region]

    def _live(self) -> bool:
        return self._backend().queues.get(self.source.name) is self.source

    def _destination(self, message: Any) -> Any:
        arn = self.destination_arn or getattr(message, "_sandbox_dlq_source_arn", None)
        if not arn:
            raise RuntimeError("the message's original source queue is unknown")
        queue = _queue_by_arn(self._backend(), arn)
        if queue is None:
            raise RuntimeError(f"the destination queue {arn} does not exist")
        return queue

    def _run(self) -> None:
        interval = 1.0 / self.rate if self.rate else 0.0
        while self.moved < self.to_move:
            if self.cancel.is_set():
                with _lock:
                    self.status = "CANCELLED"
                return
            if not self._live():
                return  # the sandbox was reset: moto's objects are gone
            message = self._next_visible()
            if message is None:
                time.sleep(_POLL)  # in flight in the DLQ: it comes back after its visibility timeout
                continue
            self._move(message)
            if faults.active(FAULT) is not None:
                faults.note(FAULT, "messages_moved")
            if interval:
                time.sleep(interval)
        with _lock:
            if self.status == "RUNNING":
                self.status = "COMPLETED"

    def _next_visible(self) -> Any | None:
        now = time.time() * 1000
        with self.source._messages_lock:
            for message in self.source._messages:
                if now > message.visible_at and now >= message.delayed_until:
                    return message
        return None

    def _move(self, message: Any) -> None:
        from moto.sqs.models import Message

        destination = self._destination(message)
        if destination.fifo_queue != self.source.fifo_queue:
            raise RuntimeError("the destination queue is not of the same type as the source")
        moved = Message(str(uuid_mod.uuid4()), message.body, dict(message.system_attributes or {}))
        moved.message_attributes = dict(message.message_attributes or {})
        moved.group_id = message.group_id
        moved.deduplication_id = message.deduplication_id
        if destination.fifo_queue:
            moved.sequence_number = str(int(time.time() * 1_000_000) * 1000 + self.moved % 1000).zfill(20)
        moved.mark_sent()
        moved._sandbox_redriven = True
        with self.source._messages_lock:
            if message not in self.source._messages:
                return  # deleted meanwhile
            self.source._messages.remove(message)
            self.source._pending_messages.discard(message)
        destination.add_message(moved)
        with _lock:
            self.moved += 1


def _queue_by_arn(backend: Any, arn: str) -> Any | None:
    return next((q for q in list(backend.queues.values()) if q.queue_arn == arn), None)


def _tasks_of(arn: str) -> list[MoveTask]:
    with _lock:
        return list(_tasks.get(arn, []))


def start_message_move_task(self):
    from moto.core.responses import ActionResult

    backend = self.sqs_backend
    source_arn = self._get_param("SourceArn")
    destination_arn = self._get_param("DestinationArn") or None
    rate = self._get_param("MaxNumberOfMessagesPerSecond")
    source = _queue_by_arn(backend, source_arn or "")
    if source is None:
        raise MoveTaskError("ResourceNotFoundException", f"The resource that you specified for the SourceArn parameter doesn't exist: {source_arn}")
    if not any(q.dead_letter_queue is source for q in list(backend.queues.values())):
        raise MoveTaskError("UnsupportedOperation", f"Source queue must be configured as a Dead Letter Queue: {source_arn}")
    if rate is not None and not 1 <= int(rate) <= MAX_RATE:
        raise MoveTaskError("UnsupportedOperation", f"MaxNumberOfMessagesPerSecond must be between 1 and {MAX_RATE}")
    if destination_arn:
        destination = _queue_by_arn(backend, destination_arn)
        if destination is None:
            raise MoveTaskError("ResourceNotFoundException", f"The resource that you specified for the DestinationArn parameter doesn't exist: {destination_arn}")
        if destination.fifo_queue != source.fifo_queue:
            raise MoveTaskError("UnsupportedOperation", "The source and destination queues must be of the same type")
    if any(t.status in ("RUNNING", "CANCELLING") for t in _tasks_of(source.queue_arn)):
        raise MoveTaskError("UnsupportedOperation", f"There is already a task running. Only one active task is allowed for a source queue arn at a given time: {source_arn}")
    task = MoveTask(self.current_account, self.region, source, destination_arn, int(rate) if rate is not None else None)
    with _lock:
        _tasks.setdefault(source.queue_arn, []).append(task)
    if faults.active(FAULT) is not None:
        faults.note(FAULT, "tasks_started")
    threading.Thread(target=task.run, name=f"sqs-move-{task.task_id[:8]}", daemon=True).start()
    return ActionResult({"TaskHandle": task.handle})


def list_message_move_tasks(self):
    from moto.core.responses import ActionResult

    source_arn = self._get_param("SourceArn")
    if _queue_by_arn(self.sqs_backend, source_arn or "") is None:
        raise MoveTaskError("ResourceNotFoundException", f"The resource that you specified for the SourceArn parameter doesn't exist: {source_arn}")
    limit = self._get_param("MaxResults")
    limit = 1 if limit is None else max(1, min(int(limit), 10))
    with _lock:
        entries = [t.entry() for t in reversed(_tasks.get(source_arn, []))][:limit]
    return ActionResult({"Results": entries})


def cancel_message_move_task(self):
    from moto.core.responses import ActionResult

    handle = self._get_param("TaskHandle") or ""
    try:
        decoded = json.loads(base64.b64decode(handle, validate=True))
        task_id, source_arn = decoded["taskId"], decoded["sourceArn"]
    except (ValueError, KeyError, TypeError):
        raise MoveTaskError("ResourceNotFoundException", "Task does not exist") from None
    task = next((t for t in _tasks_of(source_arn) if t.task_id == task_id), None)
    if task is None:
        raise MoveTaskError("ResourceNotFoundException", "Task does not exist")
    with _lock:
        if task.status != "RUNNING":
            raise MoveTaskError("UnsupportedOperation", f"Task is in status {task.status}: only a RUNNING task can be cancelled")
        task.status = "CANCELLING"
        task.cancel.set()
        moved = task.moved
    return ActionResult({"ApproximateNumberOfMessagesMoved": moved})


def _forget_tasks() -> None:
    with _lock:
        for tasks in _tasks.values():
            for task in tasks:
                task.cancel.set()
        _tasks.clear()
        _fault_state.clear()


# ============================================================================ the fault
def _canonical(keys: dict) -> str:
    from runbook_lib.cdc import codec

    try:
        return codec.canonical_key(keys)
    except codec.CodecError:
        return json.dumps(keys, sort_keys=True, default=str)


def _fault_params() -> dict | None:
    params = faults.active(FAULT)
    if params is None:
        _fault_state.clear()  # off (or reset): the next time it is on, it starts afresh
    return params


def _dead_lettered(message: Any) -> None:
    if _fault_params() is None or "key" not in _fault_state:
        return
    try:
        keys = json.loads(message.body).get("keys")
    except (ValueError, AttributeError):
        return
    if isinstance(keys, dict) and _canonical(keys) == _fault_state["key"]:
        _fault_state["healed"] = True
        faults.note(FAULT, "dead_lettered")


def _is_restored(backend: Any, name: str) -> bool:
    from .pitr import SandboxRestoredTable

    return isinstance(backend.tables.get(name), SandboxRestoredTable)


def _key_of(table: Any, item: dict) -> dict:
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return {name: item[name] for name in names if name in item}


def _wrap_batch_write(original):
    def batch_write_item(self):
        params = _fault_params()
        if params is not None and not _fault_state.get("healed"):
            from moto.dynamodb.exceptions import MockValidationException

            backend = self.dynamodb_backend
            for table_name, requests in (self.body.get("RequestItems") or {}).items():
                wanted = params.get("table") or ""
                if (wanted and table_name != wanted) or (not wanted and not _is_restored(backend, table_name)):
                    continue
                table = backend.tables.get(table_name)
                for request in requests:
                    body = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key") or {}
                    key = _canonical(_key_of(table, body))
                    with _lock:
                        if "key" not in _fault_state:
                            _fault_state["key"] = params.get("key") or key
                            faults.note(FAULT, "key_chosen")
                    if key == _fault_state["key"]:
                        faults.note(FAULT, "writes_failed")
                        raise MockValidationException(
                            "One or more parameter values were invalid: the sandbox's poison-redrive fault rejects this item"
                        )
        return original(self)

    return batch_write_item


# ============================================================================ install
def _wrap_reset(original):
    def reset(self, *args, **kwargs):
        _forget_tasks()
        return original(self, *args, **kwargs)

    return reset


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.dynamodb.responses import DynamoHandler
        from moto.moto_api._internal.models import MotoAPIBackend as ApiBackend
        from moto.sqs.models import Queue
        from moto.sqs.responses import SQSResponse

        Queue.add_message = _wrap_add_message(Queue.add_message)
        SQSResponse.receive_message = _wrap_receive_response(SQSResponse.receive_message)
        SQSResponse.start_message_move_task = start_message_move_task
        SQSResponse.list_message_move_tasks = list_message_move_tasks
        SQSResponse.cancel_message_move_task = cancel_message_move_task
        DynamoHandler.batch_write_item = _wrap_batch_write(DynamoHandler.batch_write_item)
        ApiBackend.reset = _wrap_reset(ApiBackend.reset)
        _installed = True


__all__ = ["install", "MoveTask", "MoveTaskError", "FAULT"]

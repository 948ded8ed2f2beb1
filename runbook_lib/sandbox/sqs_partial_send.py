"""Fault ``partial-send``: entries of a FIFO ``SendMessageBatch`` fail as SQS reports them.

SQS answers a batch with HTTP 200 and, for each entry it could not take, a ``Failed`` entry with
``Id``, ``SenderFault: false``, ``Code`` ``InternalFailure`` or ``ServiceUnavailable`` and a
``Message`` ("BatchResultErrorEntry" and "Common Errors" in the Amazon SQS API Reference,
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_BatchResultErrorEntry.html). With
the fault on, each entry of a FIFO batch fails with probability ``rate``: a failed entry is not
stored and its deduplication id is not remembered, so sending it again is accepted; the other
entries of the call are queued. A forwarder that put two changes of one item in one call would
then queue the newer one before the older (``tests/sandbox/test_sqs_faults.py``).

Where it differs from AWS: AWS fails entries on its own schedule; here the draws follow ``rate``
and, with ``seed`` >= 0, are reproducible. Standard queues are never affected.
"""

from __future__ import annotations

import random
import threading

from . import faults
from .sqs_fifo import _uncount

_installed = False
_lock = threading.Lock()

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


def reset() -> None:
    """``POST /moto-api/reset``: the partial-send draws start again."""
    _partial_rng["seed"] = None


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.sqs.models import SQSBackend

        SQSBackend.send_message_batch = _partial_send(SQSBackend.send_message_batch)
        _installed = True

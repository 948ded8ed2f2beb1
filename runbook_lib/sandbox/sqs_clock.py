"""An SQS clock the sandbox can move forward, so that a drill reaches SQS's five-minute window.

``SentTimestamp`` and the five-minute deduplication window (``sqs_fifo.py``) read the sandbox's
SQS clock (:func:`sqs_now_ms`). It is the real clock until something moves it forward with
:func:`advance_sqs_clock` (the ``late-resend`` fault of ``lambda_runtime``, tests of the DLQ
redrive); ``POST /moto-api/reset`` puts it back (:func:`reset`, called by ``server.py``). The
window it lets a test pass: the five-minute deduplication interval ("Using the Amazon SQS message
deduplication ID",
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/using-messagededuplicationid-property.html).

Where it differs from AWS, which has one clock: visibility timeouts, delays and
``ApproximateFirstReceiveTimestamp`` keep the real clock, so after a move a message's first
receive can be stamped before it was sent.
"""

from __future__ import annotations

import threading
import time

_installed = False
_lock = threading.Lock()

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
    """``POST /moto-api/reset``: the SQS clock back to real time."""
    with _clock_lock:
        _clock["offset_ms"] = 0.0


def _mark_sent(self, delay_seconds=None) -> None:
    """moto's ``Message.mark_sent`` on the sandbox's SQS clock."""
    self.sent_timestamp = int(sqs_now_ms())
    if delay_seconds:
        self.delay(delay_seconds=delay_seconds)


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.sqs.models import Message

        Message.mark_sent = _mark_sent
        _installed = True

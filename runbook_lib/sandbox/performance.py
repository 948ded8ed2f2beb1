"""Where the former ``performance`` module's code went (issue 11): nothing is defined here.

Speed-ups and SQS fixes were one module; they are now one module per service and concern, each
installed from ``faults.EXTENSIONS`` in the place ``performance`` had:

- ``speed_routing``: request routing and action lookup kept per host and per class;
- ``speed_dynamodb``: item sizes and the sorted item list kept between ``Scan``/``Query`` pages;
- ``dynamodb_segments``: segmented ``Scan`` on a binary hash key;
- ``sqs_clock``: the sandbox's SQS clock (``sqs_now_ms``, ``advance_sqs_clock``);
- ``speed_sqs``: queue attributes, receipt handles, receive bookkeeping;
- ``sqs_fifo``: FIFO receive order after a visibility timeout, the five-minute deduplication window;
- ``sqs_thread_safety``: deletes and visibility changes under the queue's lock (``delete_messages``);
- ``sqs_partial_send``: the ``partial-send`` fault.

The names below are re-exported for the modules that still import them from here
(``lambda_runtime``); new code imports them from their module.
"""

from __future__ import annotations

from .sqs_clock import advance_sqs_clock, sqs_clock_offset, sqs_now_ms
from .sqs_fifo import busy_groups, deliverable, in_flight
from .sqs_thread_safety import delete_messages

__all__ = [
    "advance_sqs_clock",
    "busy_groups",
    "delete_messages",
    "deliverable",
    "in_flight",
    "sqs_clock_offset",
    "sqs_now_ms",
]

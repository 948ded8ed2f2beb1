"""moto's per-record objects are not kept after they are gone (a memory fix, no behaviour change).

moto keeps every instance of every ``BaseModel`` subclass ever created in a class-level list
(``instances_tracked``, for the ``/moto-api/data.json`` dashboard) until the next reset. For the
objects a sandbox makes per change or per request that list is a leak: every item copy a ``Scan``
or ``Query`` page makes (moto deep-copies each item it returns), every item version, stream record,
SQS message, log event and metric datum stays in memory for the whole run. A 200,000-item drill's
process grew by about 900 MB while 04_reconcile scanned its two tables. The classes below are no
longer tracked; everything else is (S3 reads its own keys' list, and tables, queues, functions still
show on the dashboard).

Where it differs from moto: ``/moto-api/data.json`` lists no DynamoDB items, stream records or
shard iterators, SQS messages, CloudWatch Logs events or metric data. AWS has no such endpoint.
"""

from __future__ import annotations

import threading

_installed = False
_lock = threading.Lock()

#: (module, class name): one instance per item, item copy, change, message, log line or datum
UNTRACKED = (
    ("moto.dynamodb.models.dynamo_type", "Item"),
    ("moto.dynamodb.models.table", "StreamRecord"),
    ("moto.dynamodbstreams.models", "ShardIterator"),
    ("moto.sqs.models", "Message"),
    ("moto.logs.models", "LogEvent"),
    ("moto.cloudwatch.models", "MetricDatumBase"),
)


def _untracked_new(cls, *args, **kwargs):
    return object.__new__(cls)


def untrack(cls) -> None:
    """Instances of ``cls`` (and its subclasses) are no longer added to moto's ``instances_tracked``."""
    cls.__new__ = _untracked_new
    cls.instances_tracked = []


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        import importlib

        for module, name in UNTRACKED:
            untrack(getattr(importlib.import_module(module), name))
        _installed = True

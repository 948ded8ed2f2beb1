"""DynamoDB's batch and transaction answers carry ``ConsumedCapacity`` and ``ItemCollectionMetrics``
only when the request asks for them.

AWS: ``ReturnConsumedCapacity`` "NONE - No ConsumedCapacity details are included in the response"
(the default), and ``ItemCollectionMetrics`` "is returned only if the ReturnItemCollectionMetrics
parameter was specified" ("BatchWriteItem", Amazon DynamoDB API Reference,
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html; the same
for "BatchGetItem", "TransactWriteItems" and "TransactGetItems"). moto answers ``BatchWriteItem``,
``BatchGetItem`` and ``TransactWriteItems`` with both fields always (a made-up one capacity unit per
table), so code that reads ``ConsumedCapacity`` without asking for it works on moto and finds
nothing on AWS. The sandbox leaves them out unless asked (``INDEXES`` or ``TOTAL``; ``SIZE``); when
asked, the values remain moto's (see ``capacity.py``: they are not what AWS would charge).
"""

from __future__ import annotations

import threading

_installed = False
_lock = threading.Lock()

#: the handler methods whose answers moto fills regardless of the request
_OPERATIONS = ("batch_write_item", "batch_get_item", "transact_write_items", "transact_get_items")


def _asked(body: dict, parameter: str, values: tuple[str, ...]) -> bool:
    return str(body.get(parameter) or "NONE") in values


def _only_what_was_asked(original):
    def operation(self):
        result = original(self)
        answer = getattr(result, "result", None)
        if isinstance(answer, dict):
            body = self.body if isinstance(self.body, dict) else {}
            if not _asked(body, "ReturnConsumedCapacity", ("INDEXES", "TOTAL")):
                answer.pop("ConsumedCapacity", None)
            if not _asked(body, "ReturnItemCollectionMetrics", ("SIZE",)):
                answer.pop("ItemCollectionMetrics", None)
        return result

    operation.__name__ = original.__name__
    return operation


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.dynamodb.responses import DynamoHandler

        for name in _OPERATIONS:
            setattr(DynamoHandler, name, _only_what_was_asked(getattr(DynamoHandler, name)))
        _installed = True

"""``TransactWriteItems`` all or nothing in the stream too, and idempotent with ``ClientRequestToken``.

AWS ("TransactWriteItems", Amazon DynamoDB API Reference,
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html): "The
actions are completed atomically so that either all of them succeed, or all of them fail", and
"Providing a ClientRequestToken makes the call to TransactWriteItems idempotent, meaning that
multiple identical calls have the same effect as one single call. ... A client request token is
valid for 10 minutes after the first request that uses it is completed. ... If you submit a request
with the same client token but a change in other parameters within the 10-minute idempotency
window, DynamoDB returns an IdempotentParameterMismatch exception." ``ExecuteTransaction`` says the
same of its ``ClientRequestToken`` ("ExecuteTransaction", same reference).

moto 5.2.5 applies the actions one by one and, when one fails, puts back a deep copy of each table
it touched, taken before the transaction. Three things went wrong with that, and are fixed here:

- **The stream kept the cancelled writes.** Each applied action appended its stream record before
  the cancellation: a consumer (the buffer's forwarder) saw ``MODIFY``/``INSERT``/``REMOVE`` records
  of a transaction that never happened. Here a transaction's stream records are held back and
  appended when it succeeds; a cancelled one leaves none.
- **The stream went dead after a cancellation.** The table put back was the deep copy, with a copy
  of its stream shard: every shard iterator already handed out (and the sandbox's Lambda poller)
  kept reading the old shard, which no longer received any record. Here the table object stays
  the same; only its items are put back as they were.
- **``ClientRequestToken`` was ignored.** A retried transaction was applied twice (an ``ADD`` counted
  twice), and the same token with other parameters was accepted. Here a token is remembered for
  ``SETTINGS.client_token_seconds`` (600, AWS's 10 minutes) after the transaction that used it
  succeeded: the same request again answers as the first did and writes nothing; another request
  with that token answers ``IdempotentParameterMismatchException`` (HTTP 400).

Where it still differs from AWS: a token is remembered only once its transaction succeeded (a
cancelled transaction's token can be used again at once; AWS documents nothing for that case); the
comparison is of the whole request (``ReturnConsumedCapacity`` included) and the repeated answer is
the first one, with its consumed capacity; no ``TransactionInProgressException`` (requests are
serialised); tokens are forgotten on reset.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from typing import Any

from moto.core.exceptions import JsonRESTError

_installed = False
_install_lock = threading.Lock()
#: ``pending``: the stream records of the transaction this thread runs, or None outside one
_local = threading.local()


class IdempotentParameterMismatchException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
            "The ClientRequestToken was used with a different request within the idempotency window",
        )


# -- stream records held back while a transaction runs --------------------------------------------


def _deferred_add(original):
    def add(self, old, new):
        pending = getattr(_local, "pending", None)
        if pending is not None:
            pending.append((self, old, new))
            return None
        return original(self, old, new)

    return add


def _touched(transact_items: list) -> list[str]:
    names = []
    for entry in transact_items or []:
        for op in entry.values() if isinstance(entry, dict) else ():
            if isinstance(op, dict) and isinstance(op.get("TableName"), str):
                names.append(op["TableName"])
    return names


def _atomic(original, flush):
    """moto's ``transact_write_items`` with the stream records held until it succeeds, and the
    tables it touched kept (their items put back) when it fails."""
    from . import pitr

    def transact_write_items(self, transact_items, *args, **kwargs):
        with pitr._lock:  # every write is serialised on it: nothing else runs mid-transaction
            tables = {name: self.tables[name] for name in _touched(transact_items) if name in self.tables}
            outer = getattr(_local, "pending", None)
            _local.pending = []
            try:
                result = original(self, transact_items, *args, **kwargs)
            except BaseException:
                _local.pending = outer
                for name, table in tables.items():
                    restored = self.tables.get(name)
                    if restored is not None and restored is not table:
                        table.items = restored.items  # moto's copy of the items as they were
                        table.__dict__.pop("_sorted_cache", None)
                        self.tables[name] = table
                raise
            pending, _local.pending = _local.pending, outer
            for shard, old, new in pending:
                if outer is not None:
                    outer.append((shard, old, new))
                else:
                    flush(shard, old, new)
            return result

    return transact_write_items


# -- ClientRequestToken ------------------------------------------------------------------------------


def _tokens(backend: Any) -> dict:
    # on the backend: a reset (new backends) forgets them, and each account and region has its own
    tokens = backend.__dict__.get("_sandbox_client_tokens")
    if tokens is None:
        tokens = backend.__dict__["_sandbox_client_tokens"] = {}
    return tokens


def _idempotent(original, items_field: str):
    from moto.dynamodb.responses import DynamoResult

    from . import pitr
    from .settings import SETTINGS

    def action(self):
        body = self.body if isinstance(self.body, dict) else {}
        token = body.get("ClientRequestToken")
        if not token:
            return original(self)
        request = json.dumps({k: v for k, v in body.items() if k != "ClientRequestToken"}, sort_keys=True)
        with pitr._lock:
            tokens = _tokens(self.dynamodb_backend)
            now = time.time()
            for old in [t for t, (_, _, at) in tokens.items() if now - at > SETTINGS.client_token_seconds]:
                del tokens[old]
            seen = tokens.get((items_field, token))
            if seen is not None:
                if seen[0] != request:
                    raise IdempotentParameterMismatchException()
                return DynamoResult(copy.deepcopy(seen[1]))
            result = original(self)
            answer = getattr(result, "result", None)
            tokens[(items_field, token)] = (request, copy.deepcopy(answer if isinstance(answer, dict) else {}), time.time())
            return result

    action.__name__ = original.__name__
    return action


def install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.table import StreamShard
        from moto.dynamodb.responses import DynamoHandler

        flush = StreamShard.add  # whatever appends records now (lambda_moto's, installed before)
        StreamShard.add = _deferred_add(flush)
        DynamoDBBackend.transact_write_items = _atomic(DynamoDBBackend.transact_write_items, flush)
        DynamoHandler.transact_write_items = _idempotent(DynamoHandler.transact_write_items, "TransactItems")
        DynamoHandler.execute_transaction = _idempotent(DynamoHandler.execute_transaction, "TransactStatements")
        _installed = True

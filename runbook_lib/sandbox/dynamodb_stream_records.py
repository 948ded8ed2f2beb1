"""No stream record for a write that changes nothing.

AWS: "If you perform a PutItem or UpdateItem operation that does not change any data in an item,
DynamoDB Streams does not write a stream record for that operation" ("Change data capture for
DynamoDB Streams", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html; "DynamoDB captures
information about every modification to data items"). moto 5.2.5 appends a ``MODIFY`` record for
every ``PutItem``/``UpdateItem`` of an existing item, whether it changed or not (and so for the
batch, transaction and PartiQL writes that go through them): a consumer saw records, with equal
old and new images, that AWS never writes. Here such a write appends none.

Where it still differs from AWS: the PITR journal (``pitr``) still keeps a version for such a
write (equal to the one before: a restore holds the same item either way); items are compared as
moto compares them (numbers by value, sets as sets).
"""

from __future__ import annotations

import threading

_installed = False
_install_lock = threading.Lock()


def _changes_only(original):
    def add(self, old, new):
        if old is not None and new is not None and old == new:
            return None  # nothing changed: no record
        return original(self, old, new)

    return add


def install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.dynamodb.models.table import StreamShard

        StreamShard.add = _changes_only(StreamShard.add)
        _installed = True

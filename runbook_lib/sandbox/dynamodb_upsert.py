"""``UpdateItem`` on a key with no item: one stream record, one journal version, nothing left if it fails.

AWS: "Edits an existing item's attributes, or adds a new item to the table if it does not already
exist" ("UpdateItem", Amazon DynamoDB API Reference,
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html): one write, so
one stream record, ``INSERT`` with the new item's image ("Change data capture for DynamoDB
Streams", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html: "INSERT - a new item
was added to the table"). A request that fails changes nothing.

moto 5.2.5 first puts an item holding only the key, then applies the update expression to it. On a
table with a stream that wrote two ``INSERT`` records for one ``UpdateItem`` (the first with a
keys-only ``NewImage``): a consumer (the buffer's forwarder) replayed an item that never existed;
the PITR journal (``pitr``) also kept the keys-only version, so a restore to the moment between the
two held it. When the update then failed (``ItemSizeTooLarge`` while applying it), the keys-only
item stayed in the table. Here the keys-only item is put without a stream record or journal
version, and taken out again if the update fails; the update's own record (``INSERT``, full image)
and version are the only ones.

Where it still differs from AWS: nothing known for this path.
"""

from __future__ import annotations

import threading

_installed = False
_install_lock = threading.Lock()
#: ``table``: the table whose next ``put_item`` is moto's keys-only placeholder of a new item
_local = threading.local()


def _silent_put(original):
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    def put_item(self, item_attrs, *args, **kwargs):
        if getattr(_local, "table", None) is not self:
            return original(self, item_attrs, *args, **kwargs)
        _local.table = None  # only moto's placeholder put; nothing it calls afterwards
        self._validate_item_types(item_attrs)  # moto's own checks of the key (types, sizes), as its put does
        self._validate_key_sizes(item_attrs)
        hash_value = DynamoType(item_attrs[self.hash_key_attr])
        range_value = DynamoType(item_attrs[self.range_key_attr]) if self.range_key_attr is not None else None
        item = Item(hash_value, range_value, item_attrs)
        if range_value is not None:
            self.items[hash_value][range_value] = item
        else:
            self.items[hash_value] = item
        self.__dict__.pop("_sorted_cache", None)  # speed_dynamodb's sorted items
        return item

    return put_item


def _remove(table, hash_value, range_value) -> None:
    if range_value is not None:
        bucket = table.items.get(hash_value)
        if bucket is not None:
            bucket.pop(range_value, None)
    else:
        table.items.pop(hash_value, None)
    table.__dict__.pop("_sorted_cache", None)


def _one_write(original):
    from . import pitr

    def update_item(self, table_name, key, *args, **kwargs):
        with pitr._lock:  # every write is serialised on it
            try:
                table = self.get_table(table_name)
                hash_value, range_value = self.get_keys_value(table, key)
                new = table.get_item(hash_value, range_value) is None
            except Exception:  # noqa: BLE001 - a bad table or key: moto's own call answers AWS's error
                return original(self, table_name, key, *args, **kwargs)
            if not new:
                return original(self, table_name, key, *args, **kwargs)
            _local.table = table
            try:
                return original(self, table_name, key, *args, **kwargs)
            except BaseException:
                if _local.table is None:  # the placeholder was put: take it out again
                    _remove(table, hash_value, range_value)
                raise
            finally:
                _local.table = None

    return update_item


def install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.table import Table

        Table.put_item = _silent_put(Table.put_item)
        DynamoDBBackend.update_item = _one_write(DynamoDBBackend.update_item)
        _installed = True

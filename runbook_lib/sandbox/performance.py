"""Speed-ups of moto that change no behaviour.

moto recomputes an item's size (a recursive walk over every attribute) twice for each item a
``Scan`` or ``Query`` pages over; with items that carry nested maps and sets that is most of a
scan's time. The size is kept on the item and forgotten whenever ``UpdateItem`` changes the item
in place (``PutItem`` always stores a new item object).
"""

from __future__ import annotations

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item

_installed = False


def _memo_size(original):
    def size(self) -> int:
        cached = self.__dict__.get("_memo_size")
        if cached is None:
            cached = original(self)
            self.__dict__["_memo_size"] = cached
        return cached

    return size


def _forget_size_on_update(original):
    def update_item(self, table_name, key, *args, **kwargs):
        table = self.get_table(table_name)
        try:
            hash_value, range_value = self.get_keys_value(table, key)
            current = table.get_item(hash_value, range_value)
        except Exception:  # noqa: BLE001 - let moto raise its own validation error below
            current = None
        if current is not None:
            current.__dict__.pop("_memo_size", None)
        item = original(self, table_name, key, *args, **kwargs)
        if item is not None:
            item.__dict__.pop("_memo_size", None)
        return item

    return update_item


def install() -> None:
    global _installed
    if _installed:
        return
    Item.size = _memo_size(Item.size)
    DynamoDBBackend.update_item = _forget_size_on_update(DynamoDBBackend.update_item)
    _installed = True

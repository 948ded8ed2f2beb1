"""Speed-ups of moto's DynamoDB: work moto repeats for every page of a ``Scan`` or ``Query``, done once.

Pure speed-ups: no answer changes, so nothing here differs from AWS or from moto's behaviour.

- Item sizes: moto recomputes an item's size (a recursive walk over every attribute) twice for
  each item a ``Scan`` or ``Query`` pages over; with items that carry nested maps and sets that is
  most of a scan's time. The size is kept on the item and forgotten whenever ``UpdateItem``
  changes the item in place (``PutItem`` always stores a new item object).
- ``Scan`` pages: moto sorts every item of the table for every page it returns; the sorted list
  is kept until an item is put, deleted or updated.
- New items: moto's ``Item`` checks the 400 KB limit again at every attribute it adds, summing the
  sizes of all the attributes added so far (quadratic in the attributes; a third of the server's
  time in a ``BatchWriteItem`` of the drill's items). The sandbox adds the sizes as it goes and
  raises the same ``ItemSizeTooLarge`` at the same attribute.
- Items in answers: moto 5.2 writes every answer through a serializer driven by botocore's model,
  which walks each attribute value of each item shape by shape (``Scan`` of the drill's items,
  twelve attributes with nested maps, lists and sets: about 1.2 ms of server CPU per item, 83% of
  the server's time while a drill reconciles). The members that hold items (``Items``, ``Item``,
  ``Responses``: lists and maps of ``AttributeValue`` only, whose JSON is the value itself with
  binary as base64) are written with ``json.dumps`` instead; the rest of the answer still goes
  through moto's serializer. ``tests/sandbox/test_speed_dynamodb.py`` checks that the answers are
  the same byte for byte once parsed.

The segmented ``Scan`` (which moto also slows down, and fails on a binary hash key) is
``dynamodb_segments.py``.
"""

from __future__ import annotations

import base64
import json
import threading

_installed = False
_lock = threading.Lock()


def _memo_size(original):
    def size(self) -> int:
        cached = self.__dict__.get("_memo_size")
        if cached is None:
            cached = original(self)
            self.__dict__["_memo_size"] = cached
        return cached

    return size


def _sorted_items(original):
    def all_items(self):
        cached = self.__dict__.get("_sorted_cache")
        if cached is not None and cached[0] is self.items:
            return list(cached[1])
        items = original(self)
        self.__dict__["_sorted_cache"] = (self.items, items)
        return list(items)

    return all_items


def _forget_order(original):
    def change(self, *args, **kwargs):
        self.__dict__.pop("_sorted_cache", None)
        try:
            return original(self, *args, **kwargs)
        finally:
            self.__dict__.pop("_sorted_cache", None)

    return change


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
        try:
            item = original(self, table_name, key, *args, **kwargs)
        finally:
            table.__dict__.pop("_sorted_cache", None)  # an update may insert a new item
        if item is not None:
            item.__dict__.pop("_memo_size", None)
        return item

    return update_item


#: answer members that hold only items (AttributeValue maps): Scan/Query/ExecuteStatement ``Items``,
#: GetItem ``Item``, BatchGetItem/TransactGetItems ``Responses``
ITEM_MEMBERS = ("Items", "Item", "Responses")
#: False: every answer through moto's serializer (the tests compare both ways)
fast_items = True


def _binary(value):
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} in an item answer")


def items_json(value) -> str:
    """An items member as DynamoDB's JSON protocol writes it: binary values base64, the rest as is."""
    return json.dumps(value, default=_binary, separators=(",", ":"))


def _fast_items(original):
    def execute_result(self, context):
        body = self.result
        if not fast_items or not isinstance(body, dict) or not any(name in body for name in ITEM_MEMBERS):
            return original(self, context)
        rest = {k: v for k, v in body.items() if k not in ITEM_MEMBERS}
        self._result = rest
        try:
            status, headers, text = original(self, context)
        finally:
            self._result = body
        if status >= 300:
            return status, headers, text
        answer = json.loads(text) if text else {}
        parts = [f"{json.dumps(name)}:{items_json(body[name])}" for name in ITEM_MEMBERS if name in body]
        parts += [f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))}" for k, v in answer.items()]
        return status, headers, "{" + ",".join(parts) + "}"

    return execute_result


#: moto's limit (``LimitedSizeDict``): "between 409 and 410KB" measured, 405000 chosen
_ITEM_LIMIT = 405000


def _item_init(self, hash_key, range_key, attrs) -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    self.hash_key = hash_key
    self.range_key = range_key
    checked = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.__init__(checked)
    total = 0
    for key, value in attrs.items():
        typed = DynamoType(value)
        total += bytesize(str(key)) + typed.size()
        if total > _ITEM_LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(checked, key, typed)
    self.attrs = checked


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.dynamo_type import Item
        from moto.dynamodb.models.table import Table

        from moto.dynamodb.responses import DynamoResult

        DynamoResult.execute_result = _fast_items(DynamoResult.execute_result)
        Item.__init__ = _item_init
        Item.size = _memo_size(Item.size)
        Table.all_items = _sorted_items(Table.all_items)
        Table.put_item = _forget_order(Table.put_item)
        Table.delete_item = _forget_order(Table.delete_item)
        DynamoDBBackend.update_item = _forget_size_on_update(DynamoDBBackend.update_item)
        _installed = True

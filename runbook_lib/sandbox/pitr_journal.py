"""The PITR journal of one table (part of ``pitr``): every item version since PITR was enabled,
kept compact so that the sandbox's memory grows with the changes it must remember, not with copies
of whole tables.

A version is ``(time, key, image)``: ``key`` is ``(hash, range)`` (the item's own key values, shared
with the item, never changed: ``UpdateItem`` cannot change a key), ``image`` the item's attributes
encoded with ``marshal`` as plain ``(type, value)`` pairs (``zlib``-compressed from
:data:`COMPRESS_FROM` bytes), or None for a delete. A moto ``Item`` costs about 2.8 KB of Python
objects for an item of about 500 bytes; its image here costs about its own size. The items that
exist when PITR is enabled are the journal's first versions, at time ``-inf`` (before any restore
time in the window and before any export window), instead of a separate copy of the table.

A restore (``state_at``) walks the versions up to T and keeps the last one of each key. A key not
changed since T holds the source's current item, and the restored table shares that very object
(copy-on-write: ``UpdateItem``, the only call that changes an item in place, first gives its table
a copy of a shared item, :func:`unshare`); only the keys changed since T are decoded, their
attribute names and type tags shared (interned) across the table's items. So a restore right after
a large load costs the restored table's dictionary, not a second copy of moto's objects (about
4 KB per item of the drill's).

Readers that want moto ``Item`` objects (the exports, ``dynamodb_export_files``) iterate the
journal: ``for ts, key, item in journal`` decodes each version as it goes (a fresh ``Item`` that
nothing else holds). ``list(journal)`` works, decoding everything; ``journal.snapshot()`` is the
cheap frozen copy (the encoded versions, shared).
"""

from __future__ import annotations

import marshal
import math
import sys
import threading
import zlib
from collections import defaultdict
from typing import Any, Iterator

from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

#: images of at least this many bytes are compressed (the drill's large items: 350 KB of padding)
COMPRESS_FROM = 2048
#: the time of the versions that existed when PITR was enabled: before every restore time
BASE_TIME = -math.inf

_RAW, _ZLIB = b"r", b"z"
#: attribute names and type tags, one copy each: every decoded item of a table repeats the same ones
_intern = sys.intern


def _plain(value: DynamoType) -> tuple[str, Any]:
    kind, inner = value.type, value.value
    if kind == "L":
        return kind, [_plain(v) if isinstance(v, DynamoType) else v for v in inner]
    if kind == "M":
        return kind, {k: _plain(v) if isinstance(v, DynamoType) else v for k, v in inner.items()}
    if kind in ("SS", "NS", "BS"):
        return kind, list(inner)
    return kind, inner


def _typed(plain: tuple[str, Any]) -> DynamoType:
    kind, inner = plain
    out = DynamoType.__new__(DynamoType)
    out.type = _intern(kind)
    if kind == "L":
        out.value = [_typed(v) for v in inner]
    elif kind == "M":
        out.value = {_intern(k): _typed(v) for k, v in inner.items()}
    else:
        out.value = inner
    return out


def encode(item: Item) -> bytes:
    """The item's attributes as bytes; nothing shared with the item."""
    data = marshal.dumps({name: _plain(value) for name, value in item.attrs.items()}, 4)
    if len(data) >= COMPRESS_FROM:
        return _ZLIB + zlib.compress(data, 1)
    return _RAW + data


def decode(image: bytes, hash_attr: str, range_attr: str | None) -> Item:
    """A fresh moto ``Item`` from :func:`encode`'s bytes (no size check: it passed one when written)."""
    data = zlib.decompress(image[1:]) if image[:1] == _ZLIB else image[1:]
    plain = marshal.loads(data)
    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.__init__(attrs, {_intern(name): _typed(value) for name, value in plain.items()})
    item = Item.__new__(Item)
    item.hash_key = _typed(plain[hash_attr])
    item.range_key = _typed(plain[range_attr]) if range_attr else None
    item.attrs = attrs
    return item


class Journal:
    """The versions of one table's items, oldest first (appends come in time order)."""

    def __init__(self, hash_attr: str, range_attr: str | None, versions: list | None = None) -> None:
        self.hash_attr, self.range_attr = hash_attr, range_attr
        self._versions: list[tuple[float, tuple[Any, Any], bytes | None]] = versions if versions is not None else []
        self._lock = threading.Lock()

    @classmethod
    def of(cls, table: Any) -> "Journal":
        """A journal that starts with the table's current items, at :data:`BASE_TIME`."""
        journal = cls(table.hash_key_attr, table.range_key_attr)
        for item in list(_items(table)):
            journal.add(BASE_TIME, (item.hash_key, item.range_key), item)
        return journal

    def add(self, ts: float, key: tuple[Any, Any], item: Item | None) -> None:
        image = encode(item) if item is not None else None
        with self._lock:
            self._versions.append((ts, key, image))

    def __len__(self) -> int:
        return len(self._versions)

    def __deepcopy__(self, memo: dict) -> "Journal":
        # moto's TransactWriteItems deep-copies each table it touches (its rollback state): the journal
        # is the table's history, not part of its state, and the copy shares it (a lock cannot be copied)
        return self

    def truncate(self, length: int) -> None:
        """Forget the versions after the first ``length`` (a cancelled transaction's partial writes)."""
        with self._lock:
            del self._versions[length:]

    def encoded_bytes(self) -> int:
        """The bytes of the encoded images (what the journal holds besides keys and times)."""
        return sum(len(v[2]) for v in list(self._versions) if v[2] is not None)

    def versions(self) -> list[tuple[float, tuple[Any, Any], bytes | None]]:
        """The encoded versions as they are now (a list of their own; the images are shared)."""
        with self._lock:
            return list(self._versions)

    def snapshot(self) -> "Journal":
        """A frozen copy: later versions are not in it."""
        return Journal(self.hash_attr, self.range_attr, self.versions())

    def __iter__(self) -> Iterator[tuple[float, tuple[Any, Any], Item | None]]:
        for ts, key, image in self.versions():
            yield ts, key, (decode(image, self.hash_attr, self.range_attr) if image is not None else None)

    def images_at(self, at: float) -> dict[tuple[Any, Any], bytes]:
        """Each key's encoded image as of ``at`` (versions at ``at`` included); deleted keys left out."""
        last: dict[tuple[Any, Any], bytes | None] = {}
        for ts, key, image in self.versions():
            if ts <= at:  # not break: two writers' versions may be appended a microsecond out of order
                last[key] = image
        return {key: image for key, image in last.items() if image is not None}

    def state_at(self, at: float, current: dict | None = None) -> dict:
        """moto's ``Table.items`` structure as of ``at``: ``{hash: Item}``, or ``{hash: {range: Item}}``.

        ``current`` (the source's ``items``, read while no write can change it: ``pitr`` holds its
        lock): a key with no version after ``at`` holds its current item, which is then shared
        with the source instead of decoded (marked :data:`SHARED`; whoever changes a shared item
        in place copies it first, :func:`unshare`). Only keys changed after ``at`` are decoded.
        """
        # as moto's Table keeps them: a ranged table's items in a defaultdict, which its put_item relies on
        items: dict = defaultdict(dict) if self.range_attr is not None else {}
        last: dict[tuple[Any, Any], bytes | None] = {}
        later: set[tuple[Any, Any]] = set()
        for ts, key, image in self.versions():
            if ts <= at:  # not break: two writers' versions may be appended a microsecond out of order
                last[key] = image
            else:
                later.add(key)
        for key, image in last.items():
            if image is None:
                continue
            hkey, rkey = key
            item = None
            if current is not None and key not in later:
                item = current.get(hkey)
                if self.range_attr is not None and item is not None:
                    item = item.get(rkey)
            if item is not None:
                item.__dict__[SHARED] = True
            else:
                item = decode(image, self.hash_attr, self.range_attr)
            if self.range_attr is not None:
                items.setdefault(hkey, {})[rkey] = item
            else:
                items[hkey] = item
        return items


#: set on an item that two tables hold (a restored table and its source); see :func:`unshare`
SHARED = "_pitr_shared"


def unshare(items: dict, key: tuple[Any, Any], range_attr: str | None, hash_attr: str) -> None:
    """Before an item is changed in place (``UpdateItem``): if the table's item at ``key`` is shared
    with another table, give this table a copy of its own. Items are replaced, never changed in
    place, by ``PutItem``, so only updates need this."""
    hkey, rkey = key
    holder = items.get(hkey) if range_attr is not None else items
    if holder is None:
        return
    item = holder.get(rkey if range_attr is not None else hkey)
    if item is not None and item.__dict__.get(SHARED):
        holder[rkey if range_attr is not None else hkey] = decode(encode(item), hash_attr, range_attr)


def _items(table: Any) -> Iterator[Item]:
    if table.range_key_attr is not None:
        for bucket in table.items.values():
            yield from bucket.values()
    else:
        yield from table.items.values()

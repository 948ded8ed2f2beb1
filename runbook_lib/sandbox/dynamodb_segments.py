"""Segmented ``Scan`` on any hash key type, each item hashed once.

moto decides an item's segment from the first byte of the MD5 of its hash key's value encoded as
text: for a binary hash key (bytes) that fails, and the whole ``Scan`` answers an error. AWS scans
a table of any key type in segments (``Segment`` / ``TotalSegments``, "Scan", Amazon DynamoDB API
Reference, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Scan.html). The
sandbox hashes the key's bytes (a binary key as it is, any other as UTF-8 text, as moto does), and
keeps the result on the item: moto hashed every item's key again for every page of every segment.

Where it still differs from AWS: items fall into segments by moto's rule (first byte of MD5
modulo ``TotalSegments``), not AWS's, which is not documented.
"""

from __future__ import annotations

import threading

_installed = False
_lock = threading.Lock()


def _is_within_segment(self, segments) -> bool:
    if segments == (None, None):
        return True
    segment, total_segments = segments
    item_hash = self.__dict__.get("_segment_hash")
    if item_hash is None:
        import hashlib

        value = self.hash_key.value
        raw = value if isinstance(value, (bytes, bytearray)) else str(value).encode("utf8")
        item_hash = hashlib.md5(raw, usedforsecurity=False).digest()[0]  # as moto: first byte of md5
        self.__dict__["_segment_hash"] = item_hash
    return segment == item_hash % total_segments


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.dynamodb.models.dynamo_type import Item

        Item.is_within_segment = _is_within_segment
        _installed = True

"""Canonical values and item digests: pure functions, no AWS.

Two items are equal when their canonical forms are: numbers by value (the codec's one rule,
:func:`runbook_lib.cdc.codec.canonical_number`), sets as sets, maps by key at every depth, lists in
order, binary by bytes, the type tag kept (``{"S": "1"}`` is not ``{"N": "1"}``). A scanned item is
reduced at once to a 16-byte BLAKE2b digest of that form (:func:`item_digest`): digests only ever
compare items within one process, they never name a key. Keys are named by :func:`key_id` inside
this package and, wherever an operator sees them, by the handlers' keyed digest
(:class:`runbook_lib.cdc.codec.KeyDigest`) or the codec's canonical key text.
"""

from __future__ import annotations

import base64
import json
import marshal
from collections.abc import Iterable, Mapping
from hashlib import blake2b
from json.encoder import encode_basestring_ascii as _json_str
from typing import Any

from ..cdc.codec import canonical_number

_DIGEST_SIZE = 16
#: marshal format 2 has no back-references, so equal values always give equal bytes (format 3 and
#: later mark shared objects, which makes the bytes depend on reference counts).
_MARSHAL_VERSION = 2


def _binary(value: bytes | bytearray | str) -> bytes:
    """Binary by its bytes (boto3 gives bytes; the wire format, and key ids, give base64 text)."""
    if isinstance(value, str):
        return base64.b64decode(value, validate=True)
    return bytes(value)


def _canonical_binary(value: bytes | bytearray | str) -> str:
    return base64.b64encode(_binary(value)).decode("ascii")


def canonical_value(av: Mapping[str, Any]) -> tuple:
    """One attribute value (``{"N": "1.0"}``) in canonical form: a nested tuple, type tag first.

    Numbers by value (:func:`canonical_number`), sets as sorted sets, maps sorted by key, lists in
    order, binary by bytes; the tag is kept, so ``{"S": "1"}``, ``{"N": "1"}`` and ``{"B": ...}``
    differ. Equal values give equal tuples; the tuples only ever feed a digest.
    """
    for kind, value in av.items():
        break
    else:
        raise ValueError("empty attribute value")
    if kind == "S":
        return ("S", value)
    if kind == "N":
        return ("N", canonical_number(value))
    if kind == "BOOL":
        return ("BOOL", bool(value))
    if kind == "NULL":
        return ("NULL", True)
    if kind == "M":
        return ("M", tuple(sorted([(name, canonical_value(inner)) for name, inner in value.items()])))
    if kind == "L":
        return ("L", tuple([canonical_value(inner) for inner in value]))
    if kind == "SS":
        return ("SS", tuple(sorted(set(value))))
    if kind == "NS":
        return ("NS", tuple(sorted({canonical_number(v) for v in value})))
    if kind == "B":
        return ("B", _binary(value))
    if kind == "BS":
        return ("BS", tuple(sorted({_binary(v) for v in value})))
    raise ValueError(f"unknown attribute type {kind!r}")


def canonical_item(item: Mapping[str, Mapping[str, Any]]) -> tuple:
    """An item (DynamoDB JSON, as the low-level client returns it) in canonical form."""
    out = []
    for name, av in item.items():
        for kind, value in av.items():
            break
        # the common scalar types inline: this runs once per scanned item
        if kind == "S":
            out.append((name, ("S", value)))
        elif kind == "N":
            out.append((name, ("N", canonical_number(value))))
        else:
            out.append((name, canonical_value(av)))
    out.sort()
    return tuple(out)


def item_digest(item: Mapping[str, Mapping[str, Any]]) -> bytes:
    """16-byte BLAKE2b digest of the item's canonical encoding: equal items, equal digests.

    Digests are compared within one process only (never stored), so the encoding is marshal's.
    """
    return blake2b(marshal.dumps(canonical_item(item), _MARSHAL_VERSION), digest_size=_DIGEST_SIZE).digest()


def attribute_digests(item: Mapping[str, Mapping[str, Any]] | None) -> dict[str, bytes]:
    """Per-attribute digests, computed only for the few items that differ."""
    if not item:
        return {}
    return {
        name: blake2b(marshal.dumps(canonical_value(av), _MARSHAL_VERSION), digest_size=_DIGEST_SIZE).digest()
        for name, av in item.items()
    }


def differing_attributes(
    source: Mapping[str, Mapping[str, Any]] | None, target: Mapping[str, Mapping[str, Any]] | None
) -> tuple[str, ...]:
    """Names of the attributes whose values differ (or exist on one side only), sorted."""
    a, b = attribute_digests(source), attribute_digests(target)
    return tuple(sorted(name for name in a.keys() | b.keys() if a.get(name) != b.get(name)))


def key_id(key: Mapping[str, Mapping[str, Any]], names: Iterable[str] | None = None) -> str:
    """A compact, canonical, reversible text for a primary key (or the key part of an item).

    ``{"pk": {"S": "a"}, "sk": {"N": "1.0"}}`` gives ``[["pk","S","a"],["sk","N","1"]]`` (JSON,
    ASCII, key attributes sorted by name, numbers canonical, binary as base64). ``names`` picks
    the key attributes out of a whole item. This is the key of every mapping this module takes or
    returns (``last_changes``).
    """
    parts = []
    for name in sorted(names) if names is not None else sorted(key):
        for kind, value in key[name].items():
            break
        if kind == "N":
            value = canonical_number(value)
        elif kind == "B":
            value = _canonical_binary(value)
        elif kind != "S":
            raise ValueError(f"key attribute {name!r} has type {kind!r}; keys are S, N or B")
        parts.append(f'[{_json_str(name)},"{kind}",{_json_str(value)}]')
    return "[" + ",".join(parts) + "]"


def key_from_id(kid: str) -> dict[str, dict[str, str]]:
    """The DynamoDB JSON key (wire form: binary as base64 text) back from :func:`key_id`."""
    return {name: {kind: value} for name, kind, value in json.loads(kid)}


def _key_for_request(kid: str) -> dict[str, dict[str, Any]]:
    key: dict[str, dict[str, Any]] = {}
    for name, kind, value in json.loads(kid):
        key[name] = {kind: base64.b64decode(value) if kind == "B" else value}
    return key


def to_wire(av: Mapping[str, Any]) -> dict[str, Any]:
    """An attribute value as JSON-ready DynamoDB JSON (binary as base64 text, sets as lists)."""
    for kind, value in av.items():
        break
    if kind == "B":
        return {"B": _canonical_binary(value)}
    if kind == "BS":
        return {"BS": [_canonical_binary(v) for v in value]}
    if kind in ("SS", "NS"):
        return {kind: list(value)}
    if kind == "M":
        return {"M": {k: to_wire(v) for k, v in value.items()}}
    if kind == "L":
        return {"L": [to_wire(v) for v in value]}
    return {kind: value}

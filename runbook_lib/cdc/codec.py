"""The record codec both handlers share: key digest, message body, sequence numbers.

A DynamoDB stream record becomes one SQS FIFO message whose body holds what replay needs and no
more (the old image never travels)::

    {"v": 1,                          format version
     "event": "MODIFY",               INSERT | MODIFY | REMOVE
     "keys": {"pk": {"S": "..."}},    the primary key, DynamoDB JSON as in the stream record
     "new": {...},                    the new image; absent for REMOVE and for key-only messages
     "seq": "4975...",                the stream record's SequenceNumber (decimal string)
     "ts": 1714564800,                ApproximateCreationDateTime, epoch seconds
     "key_only": false}               true: the image was left out (too big for the queue, or the
                                      stream carries no new image); the applier reads the
                                      current item from the source with a consistent read

Binary values (``B``, ``BS``) travel base64-encoded, as in the Lambda stream event;
:func:`to_client_item` turns them back into bytes for a boto3 client.

The message group id is the **keyed digest** of the keys (:class:`KeyDigest`): lowercase hex
HMAC-SHA256, keyed with the buffer stack's secret, of a canonical encoding of the primary key in
DynamoDB JSON (attribute names sorted, numbers normalised, binary re-encoded), so it does not depend
on dict order or on how a number is spelt. It is 64 characters of ``[0-9a-f]`` (SQS allows 128
alphanumeric and punctuation characters in a ``MessageGroupId``). The same digest is what the
handlers log, what a message keeps in the DLQ, and what a reconciliation report shows for a key when
keys are redacted: one function for all of them, so a report row can be matched to a log line.

Why keyed: a bare SHA-256 of a key is reversible wherever the key space is small (account numbers,
customer ids, dates): anyone holding the logs can hash every candidate key and compare. Without the
secret (at least 32 bytes; the stack generates 64 random characters) that is not possible. Nothing
here falls back to an unkeyed hash.

Nothing here puts an attribute value in an exception message: errors say what is wrong, never with
what value.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import decimal
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, replace
from typing import Any

FORMAT_VERSION = 1
#: stream sequence numbers are decimal strings of up to 40 digits
SEQUENCE_WIDTH = 40
EVENT_NAMES = frozenset({"INSERT", "MODIFY", "REMOVE"})
KEY_TYPES = frozenset({"S", "N", "B"})
ATTRIBUTE_TYPES = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "BOOL", "NULL"})
#: DynamoDB allows 32 levels of nesting; a little headroom, and a bound on recursion
MAX_DEPTH = 40
#: The buffer queue's ``MaximumMessageSize`` unless a stack is deployed with another: the one place
#: this value is written. ``infra/buffer.yaml``'s ``MaximumMessageSize`` defaults to it (a unit test
#: keeps the two equal), preflight sizes items against it, the forwarder falls back to it without
#: ``MAX_MESSAGE_BYTES``. 256 KiB keeps a batch of 10 well inside Lambda's 6 MB payload; a queue
#: takes up to 1 MiB.
MAX_MESSAGE_BYTES = 262_144

_DIGITS = re.compile(r"[0-9]+")
# Characters SQS refuses in a message body (outside #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD
# #x10000-#x10FFFF) that json.dumps(ensure_ascii=False) would leave raw: surrogates, U+FFFE/F.
_SQS_UNSAFE = re.compile("[\ud800-\udfff\ufffe\uffff]")
_NUMBER_CONTEXT = decimal.Context(prec=100)


class CodecError(ValueError):
    """A record or message is malformed. The message never quotes an attribute value."""


# -- keys -------------------------------------------------------------------------------------
def canonical_number(text: Any) -> str:
    """The canonical text of a DynamoDB number: ``"1"``, ``"1.0"``, ``"1E0"`` and ``"+1"`` all give ``"1"``.

    Plain decimal notation, no exponent, no leading zeros, no trailing fractional zeros, ``"0"``
    for every zero (``"-0"``, ``"0.000"``); 38 significant digits (DynamoDB's limit) are never
    rounded. The one rule for numbers: key digests (:func:`canonical_key`) and the reconciliation's
    item digests (``runbook_lib.reconcile.values``) both use it. Raises :class:`CodecError` without
    repeating the value.
    """
    if not isinstance(text, str):
        raise CodecError("a number value is not a string")
    # Fast path (reconciliation calls this once per number of every scanned item): plain notation
    # without an exponent, leading or trailing zeros is already canonical.
    if text.isascii():
        body = text[1:] if text[:1] == "-" else text
        if body.isdigit():
            if body[0] != "0":
                return text
            if body == "0":
                return "0"
        else:
            whole, dot, fraction = body.partition(".")
            if (
                dot
                and fraction.isdigit()
                and fraction[-1] != "0"
                and whole.isdigit()
                and (whole[0] != "0" or whole == "0")
            ):
                return text
    try:
        number = decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise CodecError("a number value is not a decimal number") from None
    if not number.is_finite():
        raise CodecError("a number value is not finite")
    if number.is_zero():
        return "0"
    return format(number.normalize(_NUMBER_CONTEXT), "f")


def _binary(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise CodecError("a binary value is not valid base64") from None
    raise CodecError("a binary value is neither bytes nor a base64 string")


def canonical_key(keys: Any) -> str:
    """The canonical encoding of a primary key in DynamoDB JSON.

    Attribute names sorted; ``N`` normalised (``"1.0"`` and ``"1"`` are one key, as in
    DynamoDB); ``B`` accepted as bytes or base64 and re-encoded as standard base64.
    """
    if not isinstance(keys, dict) or not 1 <= len(keys) <= 2:
        raise CodecError("a primary key must have one or two attributes")
    canonical: dict[str, dict[str, str]] = {}
    for name, value in keys.items():
        if not isinstance(name, str) or not isinstance(value, dict) or len(value) != 1:
            raise CodecError("a key attribute must be a single-typed DynamoDB JSON value")
        ((type_, raw),) = value.items()
        if type_ == "S":
            if not isinstance(raw, str):
                raise CodecError("a string key value is not a string")
            text = raw
        elif type_ == "N":
            text = canonical_number(raw)
        elif type_ == "B":
            text = base64.b64encode(_binary(raw)).decode("ascii")
        else:
            raise CodecError("a key attribute must be of type S, N or B")
        canonical[name] = {type_: text}
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


#: the shortest HMAC key accepted: 32 bytes, the size of SHA-256's output (RFC 2104 section 3
#: advises keys no shorter than the hash output)
MIN_SECRET_BYTES = 32
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


class KeyDigest:
    """The keyed digest of primary keys: ``KeyDigest(secret)(keys)`` is the lowercase hex
    HMAC-SHA256 of :func:`canonical_key` under ``secret`` (64 characters).

    One instance per secret; it never shows the secret (not in ``repr``, not in an error).
    """

    __slots__ = ("_secret",)

    def __init__(self, secret: str | bytes) -> None:
        if isinstance(secret, str):
            raw = secret.encode("utf-8")
        elif isinstance(secret, (bytes, bytearray, memoryview)):
            raw = bytes(secret)
        else:
            raise CodecError("a key digest secret must be a string or bytes")
        if len(raw) < MIN_SECRET_BYTES:
            raise CodecError(f"a key digest secret must be at least {MIN_SECRET_BYTES} bytes long")
        self._secret = raw

    def __call__(self, keys: Any) -> str:
        return hmac.new(self._secret, canonical_key(keys).encode("ascii"), hashlib.sha256).hexdigest()

    def matches(self, keys: Any, digest: Any) -> bool:
        """Whether ``digest`` is the digest of ``keys`` (compared in constant time)."""
        return same_digest(self(keys), digest)

    def label(self, text: Any) -> str:
        """``text`` fit for a log line: a digest of ours as it is, anything else (a message group
        id someone else chose, which may be a raw key) keyed-hashed and marked ``other:``."""
        text = "" if text is None else str(text)
        if _HEX_DIGEST.fullmatch(text):
            return text
        mac = hmac.new(self._secret, b"other\x00" + text.encode("utf-8", "replace"), hashlib.sha256)
        return "other:" + mac.hexdigest()[:16]

    def __repr__(self) -> str:
        return "KeyDigest(<secret not shown>)"

    def __reduce__(self):  # never pickled into a notebook, a cache or a worker's queue
        raise TypeError("a KeyDigest holds a secret and is not picklable")


def same_digest(ours: str, given: Any) -> bool:
    """Whether ``given`` (a message group id, say) is ``ours``, a digest already computed with
    :class:`KeyDigest` (compared in constant time): a caller that holds the key's digest anyway
    checks a group without computing it again (:meth:`KeyDigest.matches` does both)."""
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(ours.encode("ascii"), given.encode("utf-8", "replace"))


def key_digest(keys: Any, secret: str | bytes | KeyDigest) -> str:
    """The keyed digest of ``keys`` (see :class:`KeyDigest`): the message group id, the handlers'
    log field and a redacted report's key."""
    digest = secret if isinstance(secret, KeyDigest) else KeyDigest(secret)
    return digest(keys)


# -- sequence numbers and times -----------------------------------------------------------------
def padded_sequence(sequence_number: Any) -> str:
    """The sequence number zero-padded to 40 digits, so that string order is numeric order."""
    if not isinstance(sequence_number, str) or not _DIGITS.fullmatch(sequence_number):
        raise CodecError("a sequence number must be a string of decimal digits")
    digits = sequence_number.lstrip("0") or "0"
    if len(digits) > SEQUENCE_WIDTH:
        raise CodecError(f"a sequence number has more than {SEQUENCE_WIDTH} digits")
    return digits.zfill(SEQUENCE_WIDTH)


def epoch_seconds(value: Any) -> float:
    """Epoch seconds from a number, a numeric string, an ISO-8601 string or a datetime.

    A naive ISO-8601 time or datetime is taken as UTC.
    """
    if isinstance(value, bool):
        raise CodecError("a time must be a number, an ISO-8601 string or a datetime")
    if isinstance(value, (int, float, decimal.Decimal)):
        seconds = float(value)
    elif isinstance(value, _dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
        seconds = moment.timestamp()
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                moment = _dt.datetime.fromisoformat(text)
            except ValueError:
                raise CodecError("a time is neither epoch seconds nor ISO-8601") from None
            return epoch_seconds(moment)
    else:
        raise CodecError("a time must be a number, an ISO-8601 string or a datetime")
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise CodecError("a time must be finite")
    return seconds


# -- attribute values ---------------------------------------------------------------------------
def check_value(value: Any, depth: int = 0) -> None:
    """Raise :class:`CodecError` unless ``value`` is a well-formed DynamoDB JSON value."""
    if depth > MAX_DEPTH:
        raise CodecError("an attribute value is nested too deeply")
    if not isinstance(value, dict) or len(value) != 1:
        raise CodecError("an attribute value must be a single-typed DynamoDB JSON value")
    ((type_, raw),) = value.items()
    if type_ == "S":
        ok = isinstance(raw, str)
    elif type_ == "N":
        canonical_number(raw)
        ok = True
    elif type_ == "B":
        _binary(raw)
        ok = True
    elif type_ in ("SS", "NS", "BS"):
        ok = isinstance(raw, list) and len(raw) > 0
        if ok:
            for member in raw:
                check_value({type_[0]: member}, depth + 1)
    elif type_ == "M":
        ok = isinstance(raw, dict) and all(isinstance(name, str) for name in raw)
        if ok:
            for member in raw.values():
                check_value(member, depth + 1)
    elif type_ == "L":
        ok = isinstance(raw, list)
        if ok:
            for member in raw:
                check_value(member, depth + 1)
    elif type_ == "BOOL":
        ok = isinstance(raw, bool)
    elif type_ == "NULL":
        ok = raw is True
    else:
        raise CodecError("an attribute value has an unknown type")
    if not ok:
        raise CodecError(f"an attribute value of type {type_} is malformed")


def check_item(item: Any) -> None:
    if not isinstance(item, dict) or not item:
        raise CodecError("an item image must be a non-empty map of attributes")
    for name, value in item.items():
        if not isinstance(name, str):
            raise CodecError("an attribute name is not a string")
        check_value(value)


def _client_value(value: dict) -> dict:
    ((type_, raw),) = value.items()
    if type_ == "B":
        return {"B": _binary(raw)}
    if type_ == "BS":
        return {"BS": [_binary(member) for member in raw]}
    if type_ == "M":
        return {"M": {name: _client_value(member) for name, member in raw.items()}}
    if type_ == "L":
        return {"L": [_client_value(member) for member in raw]}
    return value


def to_client_item(item: dict) -> dict:
    """A DynamoDB JSON item or key as a boto3 low-level client takes it (binary as bytes)."""
    return {name: _client_value(value) for name, value in item.items()}


# -- the record -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChangeRecord:
    """One change to one item, as it travels from the stream to the applier."""

    event_name: str
    keys: dict
    sequence_number: str
    created: float
    new_image: dict | None = None
    key_only: bool = False

    @property
    def padded_sequence(self) -> str:
        return padded_sequence(self.sequence_number)

    @property
    def is_delete(self) -> bool:
        return self.event_name == "REMOVE"

    def as_key_only(self) -> "ChangeRecord":
        """The same change without its image: the applier will re-read the item."""
        if self.is_delete:
            return self
        return replace(self, new_image=None, key_only=True)

    def to_body(self) -> dict:
        created: float | int = int(self.created) if float(self.created).is_integer() else self.created
        body: dict[str, Any] = {"v": FORMAT_VERSION, "event": self.event_name, "keys": self.keys}
        if self.new_image is not None and not self.key_only and not self.is_delete:
            body["new"] = self.new_image
        body["seq"] = self.sequence_number
        body["ts"] = created
        body["key_only"] = self.key_only
        return body


def from_stream_record(record: Any) -> ChangeRecord:
    """The change a Lambda DynamoDB stream record describes.

    INSERT/MODIFY records without a new image (streams with view type KEYS_ONLY or OLD_IMAGE)
    become key-only changes; a REMOVE carries its keys only, which is all a delete needs.
    """
    if not isinstance(record, dict) or not isinstance(record.get("dynamodb"), dict):
        raise CodecError("a stream record must have a 'dynamodb' map")
    event_name = record.get("eventName")
    if event_name not in EVENT_NAMES:
        raise CodecError("a stream record's eventName must be INSERT, MODIFY or REMOVE")
    data = record["dynamodb"]
    keys = data.get("Keys")
    canonical_key(keys)
    sequence_number = data.get("SequenceNumber")
    padded_sequence(sequence_number)
    if "ApproximateCreationDateTime" not in data:
        raise CodecError("a stream record has no ApproximateCreationDateTime")
    created = epoch_seconds(data["ApproximateCreationDateTime"])
    new_image = None if event_name == "REMOVE" else data.get("NewImage")
    key_only = event_name != "REMOVE" and new_image is None
    return ChangeRecord(
        event_name=event_name,
        keys=keys,
        sequence_number=sequence_number,
        created=created,
        new_image=new_image,
        key_only=key_only,
    )


def encode(change: ChangeRecord) -> str:
    """The message body: compact JSON, safe for SQS's allowed character set."""
    text = json.dumps(change.to_body(), separators=(",", ":"), ensure_ascii=False)
    if _SQS_UNSAFE.search(text):
        text = _SQS_UNSAFE.sub(lambda m: "\\u%04x" % ord(m.group()), text)
    return text


def decode(body: Any) -> ChangeRecord:
    """The change a message body describes; :class:`CodecError` if it is malformed (poison)."""
    if not isinstance(body, str):
        raise CodecError("a message body must be a string")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise CodecError("a message body is not JSON") from None
    if not isinstance(data, dict):
        raise CodecError("a message body must be a JSON object")
    if data.get("v") != FORMAT_VERSION:
        raise CodecError(f"a message body must have format version {FORMAT_VERSION}")
    event_name = data.get("event")
    if event_name not in EVENT_NAMES:
        raise CodecError("a message's event must be INSERT, MODIFY or REMOVE")
    keys = data.get("keys")
    canonical_key(keys)
    sequence_number = data.get("seq")
    padded_sequence(sequence_number)
    created = data.get("ts")
    if isinstance(created, bool) or not isinstance(created, (int, float)):
        raise CodecError("a message's ts must be epoch seconds")
    created = epoch_seconds(created)
    key_only = data.get("key_only", False)
    if not isinstance(key_only, bool):
        raise CodecError("a message's key_only must be a boolean")
    new_image = data.get("new")
    if event_name == "REMOVE":
        if new_image is not None:
            raise CodecError("a REMOVE message carries no image")
    elif key_only:
        if new_image is not None:
            raise CodecError("a key-only message carries no image")
    else:
        check_item(new_image)
    return ChangeRecord(
        event_name=event_name,
        keys=keys,
        sequence_number=sequence_number,
        created=created,
        new_image=new_image,
        key_only=key_only and event_name != "REMOVE",
    )


def message_size(body: str, message_attributes: dict | None = None) -> int:
    """Bytes SQS counts against MaximumMessageSize: the UTF-8 body plus any message attributes
    (name, data type and value of each)."""
    size = len(body.encode("utf-8"))
    for name, attribute in (message_attributes or {}).items():
        size += len(name.encode("utf-8")) + len(attribute.get("DataType", "").encode("utf-8"))
        if "StringValue" in attribute:
            size += len(attribute["StringValue"].encode("utf-8"))
        if "BinaryValue" in attribute:
            size += len(attribute["BinaryValue"])
    return size

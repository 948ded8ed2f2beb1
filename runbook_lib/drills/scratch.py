"""The drill's scratch table: its name, its tags, its encryption, and how it is recognised.

**Name.** ``<source>-drill-<UTC stamp>``, the stamp to the second (``20261201T001500Z``). DynamoDB
table names are 3 to 255 characters of ``a-z A-Z 0-9 _ - .`` ("Supported data types and naming
rules in Amazon DynamoDB", Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html);
the suffix takes 23 of them, so a source name over 232 characters is cut to 232 (the report says
so). Source names follow the same rules, so the rest is always a valid name.

**Tags.** The restore API has no ``Tags`` parameter ("RestoreTableToPointInTime", DynamoDB API
Reference: the request takes no tags, and a restore does not carry the source's), and a table cannot
be tagged while it is CREATING, so the drill tags the table with ``TagResource`` once it is ACTIVE:
``pitr-runbook:drill=true``, ``pitr-runbook:source=<source>``, ``pitr-runbook:expires=<ISO time>``.
Keys and values keep to "Tagging restrictions in DynamoDB" (Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TaggingRestrictions.html): letters,
numbers, white space and ``+ - = . _ : /``, keys up to 128 characters, values up to 256, no ``aws:``
prefix. The expiry is ISO-8601 UTC to the second with ``Z``: only those characters.

**Encryption.** "Along with data, the following are also included on the new restored table ...
Encryption settings" (RestoreTableToPointInTime); the drill does not rely on the default and sends
``SSESpecificationOverride`` built from the source's ``SSEDescription`` (:func:`sse_override`), so
the scratch copy of the data is never encrypted more weakly than the source, and the request says
which key it used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import times
from ..aws.clients import AwsTarget
from ..aws.tables import TABLE_NAME_RE, validate_table_name

#: the tags that mark a drill's table
TAG_DRILL = "pitr-runbook:drill"
TAG_SOURCE = "pitr-runbook:source"
TAG_EXPIRES = "pitr-runbook:expires"
#: set by ``drill --cleanup`` on the table of a drill that was killed before it could tag it
TAG_INTERRUPTED = "pitr-runbook:interrupted"
DRILL_INFIX = "-drill-"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_TABLE_NAME = 255
#: the longest source part of a scratch name: 255 - len("-drill-") - len("20261201T001500Z")
MAX_SOURCE_PART = MAX_TABLE_NAME - len(DRILL_INFIX) - len("20261201T001500Z")
#: ``<source part>-drill-<stamp>``, the whole name
SCRATCH_NAME_RE = re.compile(r"(?P<source>[A-Za-z0-9_.\-]{1,%d})-drill-(?P<stamp>\d{8}T\d{6}Z)" % MAX_SOURCE_PART)
MAX_TAG_VALUE = 256


@dataclass(frozen=True)
class ScratchName:
    name: str
    source: str
    stamp: datetime
    #: the source's name was cut to fit DynamoDB's 255 characters
    truncated: bool

    @property
    def note(self) -> str | None:
        if not self.truncated:
            return None
        return (f"the source's name ({len(self.source)} characters) was cut to {MAX_SOURCE_PART} in the scratch table's "
                f"name, to keep within DynamoDB's 255 characters")


def scratch_name(source: str, now: datetime | None = None) -> ScratchName:
    """``<source>-drill-<UTC stamp>``, the source part cut to fit 255 characters."""
    validate_table_name(source, param="source_table")
    stamp = (now or times.utcnow()).replace(microsecond=0)
    part = source[:MAX_SOURCE_PART]
    name = f"{part}{DRILL_INFIX}{stamp.strftime(STAMP_FORMAT)}"
    assert TABLE_NAME_RE.fullmatch(name), name
    return ScratchName(name, source, stamp, truncated=len(part) < len(source))


def parse_scratch_name(name: str) -> tuple[str, datetime] | None:
    """(source part, stamp) of a scratch table's name; None for any other name."""
    match = SCRATCH_NAME_RE.fullmatch(name)
    if not match:
        return None
    try:
        stamp = datetime.strptime(match["stamp"], STAMP_FORMAT).replace(tzinfo=times.utcnow().tzinfo)
    except ValueError:
        return None
    return match["source"], stamp


def drill_tags(source: str, expires: datetime) -> list[dict[str, str]]:
    """The drill's tags (``TagResource``'s shape); the source's name is cut to a tag value's 256."""
    return [
        {"Key": TAG_DRILL, "Value": "true"},
        {"Key": TAG_SOURCE, "Value": source[:MAX_TAG_VALUE]},
        {"Key": TAG_EXPIRES, "Value": times.iso_second(expires)},
    ]


def expires_at(tags: dict[str, str]) -> datetime | None:
    """The ``expires`` tag as a time; None when absent or unreadable."""
    text = tags.get(TAG_EXPIRES)
    if not text:
        return None
    try:
        return times.parse_iso(text)
    except ValueError:
        return None


def is_drill_table(name: str, tags: dict[str, str]) -> bool:
    """A drill's table: the drill's name AND the drill's tag. Nothing else is ever deleted."""
    return parse_scratch_name(name) is not None and tags.get(TAG_DRILL) == "true"


def sse_override(target: AwsTarget, description: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """``SSESpecificationOverride`` for a restore encrypted as the source is.

    - no ``SSEDescription``, or not ENABLED/UPDATING: the AWS owned key, ``{"Enabled": False}``;
    - the AWS managed key ``aws/dynamodb``: ``{"Enabled": True, "SSEType": "KMS"}`` (no key id: "you
      should only provide this parameter if the key is different from the default DynamoDB key",
      SSESpecification.KMSMasterKeyId);
    - a customer managed key: the same with ``KMSMasterKeyId`` = its ARN.

    Which KMS key it is, ``kms:DescribeKey`` says (``KeyManager``); refused, the key's ARN is sent,
    right for a customer key (``runbook_lib.adopt.read.sse_of``, with a note).
    """
    from ..adopt.read import AWS_MANAGED, AWS_OWNED, sse_of

    kind, key_arn = sse_of(target, description, notes)
    if kind == AWS_OWNED:
        return {"Enabled": False}
    if kind == AWS_MANAGED:
        return {"Enabled": True, "SSEType": "KMS"}
    return {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn}


def due(expires: datetime | None, now: datetime) -> bool:
    return expires is not None and expires <= now

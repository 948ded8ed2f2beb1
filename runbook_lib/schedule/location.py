"""Where published drills live in S3: ``s3://bucket/prefix/<table>/<UTC stamp>/<file>``.

The key names the table first, so that one table's drills list together (and a lifecycle rule or
a bucket policy can name a table's prefix), then the drill's UTC stamp (``20261201T030000Z``),
which sorts as time does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ..errors import InputError

#: S3 bucket naming rules ("General purpose bucket naming rules", Amazon S3 User Guide): 3-63
#: characters, lowercase letters, digits, dots and hyphens, beginning and ending with a letter or digit
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str = ""  # without leading or trailing "/"

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p and p.strip("/"))

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"

    def run_key(self, table: str, when: datetime) -> str:
        """The key prefix of one drill's run directory."""
        return self.key(table, when.strftime(STAMP_FORMAT))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse_s3_uri(text: str) -> S3Location:
    """``s3://bucket`` or ``s3://bucket/prefix``; ``InputError`` naming the form otherwise."""
    if not isinstance(text, str) or not text.startswith("s3://"):
        raise InputError(f"--bucket must be s3://BUCKET or s3://BUCKET/PREFIX, not {text!r}")
    bucket, _, prefix = text[len("s3://"):].partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise InputError(f"--bucket {text!r}: {bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, "
                         "dots and hyphens)")
    return S3Location(bucket, prefix.strip("/"))

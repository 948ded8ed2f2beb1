"""Every S3 bucket encrypts with SSE-S3 unless told otherwise, as S3 has done since January 2023.

AWS: "By default, all buckets have a default encryption configuration that uses server-side
encryption with Amazon S3 managed keys (SSE-S3)" ("GetBucketEncryption", Amazon S3 API Reference,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketEncryption.html); "Starting January 5,
2023, all new object uploads to Amazon S3 are automatically encrypted" ("Using server-side
encryption with Amazon S3 managed keys (SSE-S3)", Amazon S3 User Guide,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingServerSideEncryption.html); and
``DeleteBucketEncryption`` "resets the default encryption for the bucket as server-side encryption
with Amazon S3 managed keys (SSE-S3)" (its API reference page). moto answers a bucket without a
configuration with ``ServerSideEncryptionConfigurationNotFoundError`` and stores objects without
``ServerSideEncryption``, the pre-2023 behaviour, so code that reads a bucket's encryption took a
path on the sandbox that AWS never takes.

The sandbox answers ``GetBucketEncryption`` with the SSE-S3 rule (``AES256``, ``BucketKeyEnabled``
false) for a bucket without a configuration, and an object put without SSE headers into such a
bucket is stored as ``AES256`` (its ``PutObject``/``HeadObject``/``GetObject`` answers say so).
Not modelled: directory buckets, and the ``BlockedEncryptionTypes`` field of newer answers.
"""

from __future__ import annotations

import threading
from typing import Any

_installed = False
_lock = threading.Lock()

#: the rule S3 applies to a bucket that has no default encryption configuration of its own
SSE_S3_RULE: dict[str, Any] = {
    "Rule": {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}
}


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.s3.models import S3Backend

        original_get = S3Backend.get_bucket_encryption
        original_put = S3Backend.put_object

        def get_bucket_encryption(self, bucket_name: str):
            return original_get(self, bucket_name) or SSE_S3_RULE

        def put_object(self, bucket_name: str, key_name: str, value: bytes, *args, **kwargs):
            if not kwargs.get("encryption") and not self.get_bucket(bucket_name).encryption:
                kwargs["encryption"] = "AES256"
            return original_put(self, bucket_name, key_name, value, *args, **kwargs)

        S3Backend.get_bucket_encryption = get_bucket_encryption
        S3Backend.put_object = put_object
        _installed = True

"""The handler package: the Lambda zip (reproducible bytes), its ``CodeSha256``, where it goes in
S3 (the artifact bucket and key), and the upload.

The artifact bucket gets no TLS-only policy on the sandbox (it serves plain HTTP there).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ..aws.clients import AwsTarget
from ..aws.codes import error_code
from ..errors import BufferError
from .feedback import Progress, aws_failure, say
from .names import ARTIFACT_PREFIX

#: The zip's fixed timestamp (the earliest a zip can hold) and file mode: reproducible bytes.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o100644

#: ``runbook_lib/``: the package whose ``__init__.py`` and ``cdc/`` go into the zip.
LIBRARY_DIR = Path(__file__).resolve().parent.parent


def _zip_sources() -> list[tuple[str, Path]]:
    root = LIBRARY_DIR.parent
    files = [LIBRARY_DIR / "__init__.py"]
    cdc = LIBRARY_DIR / "cdc"
    if cdc.is_dir():
        files += [p for p in cdc.rglob("*.py") if "__pycache__" not in p.parts and p.is_file()]
    return sorted((p.relative_to(root).as_posix(), p) for p in files)


def build_zip() -> bytes:
    """The Lambda package: ``runbook_lib/__init__.py`` and ``runbook_lib/cdc/**/*.py``.

    Reproducible: sorted entries, fixed timestamps and permissions, fixed compression, so the
    same sources give the same bytes (and the same CodeSha256) every time.
    """
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arcname, path in _zip_sources():
            info = zipfile.ZipInfo(arcname, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever builds it
            info.external_attr = ZIP_FILE_MODE << 16
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    return out.getvalue()


def code_sha256(zip_bytes: bytes) -> str:
    """Base64 SHA-256, as Lambda reports ``CodeSha256``."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode("ascii")


def code_key(stack_name: str, zip_bytes: bytes) -> str:
    """The zip's S3 key: one per stack and content, so a changed zip never overwrites a deployed one."""
    return f"{ARTIFACT_PREFIX}/{stack_name}/cdc-{hashlib.sha256(zip_bytes).hexdigest()[:24]}.zip"


def ensure_bucket(target: AwsTarget, bucket: str, account: str, *, create: bool, progress: Progress | None) -> None:
    """The artifact bucket exists and belongs to ``account``; with ``create``, make it if missing
    (private, encrypted, TLS only)."""
    s3 = target.client("s3")
    try:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=account)
        return
    except ClientError as exc:
        code = error_code(exc)
        if code not in ("404", "NoSuchBucket"):  # HEAD has no body: botocore reports the status
            raise aws_failure(
                exc, f"HeadBucket {bucket}", "the artifact bucket must exist and belong to this account"
            ) from exc
        if not create:
            raise BufferError(
                f"artifact bucket {bucket} does not exist: create it, or leave artifact_bucket unset",
                code=code,
                step="buffer",
            ) from None
    say(progress, f"creating the private, encrypted artifact bucket {bucket}")
    try:
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if target.region_name != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": target.region_name}
        s3.create_bucket(**kwargs)
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
            },
        )
        if not target.is_sandbox:
            # TLS only. Not on the sandbox: it serves plain HTTP on loopback, and moto enforces
            # bucket policies, so this statement would deny our own uploads there.
            arn = f"arn:{target.partition}:s3:::{bucket}"
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "TlsOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [arn, f"{arn}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            }
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    except ClientError as exc:
        raise aws_failure(exc, f"creating artifact bucket {bucket}", "pass artifact_bucket= an existing private bucket") from exc


def upload(target: AwsTarget, zip_bytes: bytes, *, bucket: str, key: str, account: str, progress: Progress | None) -> None:
    """Put the zip at ``s3://bucket/key`` (encrypted, only into ``account``'s bucket)."""
    say(progress, f"uploading the handlers ({len(zip_bytes)} bytes) to s3://{bucket}/{key}")
    try:
        target.client("s3").put_object(
            Bucket=bucket,
            Key=key,
            Body=zip_bytes,
            ServerSideEncryption="AES256",
            ExpectedBucketOwner=account,
        )
    except ClientError as exc:
        raise aws_failure(exc, f"uploading the handlers to {bucket}", "check write access to the bucket") from exc

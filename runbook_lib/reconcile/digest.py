"""The key digest a reconciliation names keys with: the buffer stack's secret, looked up and loaded."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from ..aws.clients import AwsTarget
from ..aws.codes import error_code
from ..cdc.codec import KeyDigest
from ..errors import InputError, PreconditionError
from .tables import _client

log = logging.getLogger(__name__)


def key_digest_secret_arn(state: Mapping[str, Any] | None, given: str | None = None) -> str | None:
    """The ARN of the secret that keys the key digest: ``given`` (``--key-digest-secret-arn``), else
    the buffer stack's ``KeyDigestSecretArn`` output recorded in the run state; None if neither."""
    if given:
        return str(given).strip() or None
    outputs = ((state or {}).get("stack") or {}).get("outputs") or {}
    return outputs.get("KeyDigestSecretArn") or None


def check_redaction(state: Mapping[str, Any] | None, redact_keys: bool, given_arn: str | None = None) -> str | None:
    """Before any work: the secret ARN to key redacted keys with, or ``InputError`` naming the
    remedy when keys are to be redacted and there is none (no buffer stack in this run and no
    ``--key-digest-secret-arn``). Redacting with a throwaway key instead would hide the keys but
    match nothing: no log line, no DLQ message, no later report."""
    arn = key_digest_secret_arn(state, given_arn)
    if redact_keys and arn is None:
        raise InputError(
            "--redact-keys needs the key digest secret and this run has no buffer stack: pass "
            "--key-digest-secret-arn (the KeyDigestSecretArn output of the buffer stack whose logs the report is "
            "to match, or any Secrets Manager secret of 32 bytes or more), or --no-redact-keys",
            step="04_reconcile",
        )
    return arn


def key_digest_for(
    target: AwsTarget, state: Mapping[str, Any] | None, redact_keys: bool, given_arn: str | None = None
) -> tuple[KeyDigest | None, str | None]:
    """The key digest and its secret's ARN for a reconciliation (see :func:`check_redaction`).

    Redacting: the secret must be readable (``PreconditionError`` otherwise). Not redacting: the
    digest is only a convenience (the ``key_hash`` column next to each key), so a secret that cannot
    be read is logged and skipped.
    """
    arn = check_redaction(state, redact_keys, given_arn)
    if arn is None:
        return None, None
    try:
        return load_key_digest(target, arn), arn
    except PreconditionError as exc:
        if redact_keys:
            raise
        log.warning("keys shown without their digest: %s", exc)
        return None, None


def load_key_digest(target: AwsTarget, secret_arn: str) -> KeyDigest:
    """The key digest keyed with the secret ``secret_arn`` (the buffer stack's ``KeyDigestSecretArn``
    output, or any Secrets Manager secret of 32 bytes or more given with ``--key-digest-secret-arn``).

    Needs ``secretsmanager:GetSecretValue`` on that secret. The value stays in memory: it is never
    logged, written to the run state or a report, nor kept on the result.
    """
    if not isinstance(secret_arn, str) or not secret_arn.strip():
        raise InputError("the key digest secret ARN is empty: give the buffer stack's KeyDigestSecretArn output")
    try:
        answer = _client(target, "secretsmanager", 1).get_secret_value(SecretId=secret_arn.strip())
    except ClientError as exc:
        code = error_code(exc) or "ClientError"
        raise PreconditionError(
            f"cannot read the key digest secret {secret_arn} ({code}): the caller needs "
            "secretsmanager:GetSecretValue on it and the secret must exist (it is deleted with the buffer stack); "
            "or run without redacting keys",
            code=code,
        ) from None
    value = answer.get("SecretString")
    if value is None:
        value = answer.get("SecretBinary")
    try:
        return KeyDigest(value if value is not None else "")
    except ValueError as exc:
        raise PreconditionError(f"the secret {secret_arn} cannot key the key digest: {exc}") from None

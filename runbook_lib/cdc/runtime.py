"""What both handlers share at run time: lazily created clients, the key digest, JSON log lines.

Clients are created on first use and kept for the life of the Lambda execution environment.
boto3 honours ``AWS_ENDPOINT_URL`` (the sandbox sets it) and ``AWS_REGION`` (Lambda sets it);
retries are adaptive.

The key digest (:func:`key_digest`) is keyed with the buffer stack's secret: the function's
environment holds only its ARN (``KEY_DIGEST_SECRET_ARN``), and the value is read with
``secretsmanager:GetSecretValue`` once per execution environment (a cold start), kept in memory
only, never logged. A missing variable, a denied or failed read, or an unusable value fails the
invocation (:class:`KeySecretError`): there is no fallback to an unkeyed digest.

Log lines are one JSON object each, with counts, sequence numbers, message ids and key digests
only: callers never pass an attribute value or a raw key value, and errors are logged by type and
AWS error code, never by message (an AWS error message may quote a value).
"""

from __future__ import annotations

import json
import logging
import os
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from . import codec

RETRY_CONFIG = Config(retries={"max_attempts": 10, "mode": "adaptive"}, connect_timeout=10, read_timeout=60)
#: the applier backs off from throttling itself, for as long as its invocation has time
#: (``applier.Retry.for_context``): botocore retries once, so that its own backoff (up to 20 s a try
#: over 10 tries) cannot outlast the invocation and turn a throttle into a timed-out batch.
#: Its requests are not re-validated by botocore (``parameter_validation=False``): the applier
#: writes only images and keys the codec has checked (``codec.check_item``, ``codec.canonical_key``)
#: or items DynamoDB itself returned, and DynamoDB validates every request anyway (a bad item is
#: a ``ValidationException``, which the applier bisects to the key at fault); botocore's walk over
#: every attribute of every item was a quarter of the applier's request CPU
SELF_RETRYING_CONFIG = Config(
    retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60, parameter_validation=False
)
LOGGER_NAME = "runbook_lib.cdc"
#: the environment variable holding the ARN of the stack's key digest secret (never its value)
SECRET_ARN_ENV = "KEY_DIGEST_SECRET_ARN"


class KeySecretError(RuntimeError):
    """The key digest secret could not be had: the invocation fails (no unkeyed fallback)."""


@lru_cache(maxsize=None)
def client(service: str, *, self_retrying: bool = False, region: str | None = None):
    """The module-wide client for ``service``, created on first use; ``self_retrying`` for a caller
    that retries throttling itself (botocore then retries once); ``region``: another region than
    the function's own (the applier's writes to a target in another region)."""
    config = SELF_RETRYING_CONFIG if self_retrying else RETRY_CONFIG
    if region:
        return boto3.client(service, region_name=region, config=config)
    return boto3.client(service, config=config)


def reset_clients() -> None:
    """Forget the cached clients (tests that change ``AWS_ENDPOINT_URL``)."""
    client.cache_clear()


@lru_cache(maxsize=1)
def key_digest() -> codec.KeyDigest:
    """The stack's key digest, its secret read once per execution environment (see the module's
    docstring). Raises :class:`KeySecretError`; a failed read is not cached, so the next
    invocation tries again."""
    arn = (os.environ.get(SECRET_ARN_ENV) or "").strip()
    logger = logging.getLogger(LOGGER_NAME)
    if not arn:
        log(logger, logging.ERROR, "key_secret_unavailable", error="NotConfigured", variable=SECRET_ARN_ENV)
        raise KeySecretError(f"{SECRET_ARN_ENV} is not set: deploy the function from infra/buffer.yaml, which sets it")
    try:
        response = client("secretsmanager").get_secret_value(SecretId=arn)
    except (ClientError, BotoCoreError) as exc:
        code = error_code(exc)
        log(logger, logging.ERROR, "key_secret_unavailable", error=code, secret_arn=arn)
        raise KeySecretError(
            f"GetSecretValue of {arn} failed ({code}): the function's role needs secretsmanager:GetSecretValue "
            "on that secret, and the secret must exist"
        ) from None
    secret = response.get("SecretString")
    if secret is None:
        secret = response.get("SecretBinary")
    try:
        return codec.KeyDigest(secret if secret is not None else "")
    except codec.CodecError as exc:
        log(logger, logging.ERROR, "key_secret_unavailable", error="UnusableSecret", secret_arn=arn)
        raise KeySecretError(f"the secret {arn} is not a usable key digest secret: {exc}") from None


def reset_key_digest() -> None:
    """Forget the secret (tests that change ``KEY_DIGEST_SECRET_ARN``)."""
    key_digest.cache_clear()


def get_logger(name: str) -> logging.Logger:
    """The logger for a handler module; ``LOG_LEVEL`` sets the level of the whole cdc tree."""
    level = logging.getLevelName(os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO")
    logging.getLogger(LOGGER_NAME).setLevel(level if isinstance(level, int) else logging.INFO)
    return logging.getLogger(name)


def log(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Write one JSON line. Fields are counts, ids and digests: never item data."""
    if logger.isEnabledFor(level):
        line = {"level": logging.getLevelName(level), "logger": logger.name, "event": event, **fields}
        logger.log(level, json.dumps(line, sort_keys=True, separators=(",", ":"), default=str))


def error_code(exc: BaseException) -> str:
    """The AWS error code of ``exc``, or its type name: safe to log, unlike its message."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__

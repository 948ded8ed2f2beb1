"""AWS error codes: the one place a :class:`botocore.exceptions.ClientError` is read."""

from __future__ import annotations

from typing import Any

#: AWS's error codes for a call IAM refused: ``AccessDeniedException`` (JSON protocols: DynamoDB,
#: Lambda, Step Functions, ...), ``AccessDenied`` (query/XML protocols: IAM, STS, SQS, CloudFormation,
#: S3, ...), ``UnauthorizedOperation`` (EC2).
ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})


def error_code(exc: BaseException) -> str:
    """AWS's error code of ``exc``; ``""`` for an exception that carries none.

    A response without a body (``HeadBucket``, ``HeadObject``) has no code: botocore reports its
    HTTP status as the code (``"404"``), and so does this. An error with neither reads
    ``HTTP 502``.
    """
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    code = str((response.get("Error") or {}).get("Code") or "")
    if not code and response.get("ResponseMetadata", {}).get("HTTPStatusCode"):
        return f"HTTP {response['ResponseMetadata']['HTTPStatusCode']}"
    return code


def error_message(exc: BaseException) -> str:
    """AWS's message of ``exc``, or ``str(exc)``."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        message = (response.get("Error") or {}).get("Message")
        if message:
            return str(message)
    return str(exc)


def is_access_denied(exc: BaseException) -> bool:
    return error_code(exc) in ACCESS_DENIED_CODES


def is_not_found(exc: BaseException) -> bool:
    """``ResourceNotFoundException`` (DynamoDB, Lambda, Streams, Step Functions, Logs, Secrets Manager)."""
    return error_code(exc) == "ResourceNotFoundException"

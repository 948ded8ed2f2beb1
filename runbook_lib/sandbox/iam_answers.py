"""How the sandbox refuses a request IAM does not allow, in each protocol's own shape: the error
code, HTTP status, headers and message AWS uses ("User: ARN is not authorized to perform: ACTION on
resource: ARN because no identity-based policy allows the ACTION action"; IAM User Guide,
"Troubleshoot access denied error messages",
https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html).

Part of IAM in the sandbox: ``iam_auth.py`` says what is enforced and where it differs from AWS.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .iam_policy import EXPLICIT_DENY
from .iam_principals import Principal
from .iam_resources import _QUERY, _REST_JSON


class _Refused(Exception):
    """Carries a finished (status, headers, body) answer."""

    def __init__(self, status: int, headers: dict[str, str], body: str) -> None:
        super().__init__(body)
        self.status, self.headers, self.body = status, headers, body


def _deny_message(principal: Principal, action: str, resource: str, decision: str) -> str:
    why = (
        "with an explicit deny in an identity-based policy"
        if decision == EXPLICIT_DENY
        else f"because no identity-based policy allows the {action} action"
    )
    return f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} {why}"


def _answer(service: str, handler: Any, code_json: str, code_query: str, status_json: int, status_query: int, message: str) -> _Refused:
    request_id = str(uuid.uuid4())
    if service in _QUERY:
        body = (
            f'<ErrorResponse xmlns="{_XMLNS.get(service, "")}"><Error><Type>Sender</Type>'
            f"<Code>{code_query}</Code><Message>{_xml(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return _Refused(status_query, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body)
    if service == "s3":
        body = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code_query}</Code><Message>{_xml(message)}</Message><RequestId>{request_id}</RequestId></Error>"
        return _Refused(status_query, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, body)
    headers = {"x-amzn-RequestId": request_id}
    if service in _REST_JSON:
        headers.update({"Content-Type": "application/json", "x-amzn-ErrorType": code_json})
        return _Refused(status_query, headers, json.dumps({"Type": "User", "Message": message}))
    content_type = handler.headers.get("Content-Type", "") or ""
    if "cbor" in content_type:
        headers.update({"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
        if service in _QUERY_COMPATIBLE:
            # CloudWatch's model is awsQueryCompatible: the query code travels in this header, and
            # botocore reports it (AccessDenied) instead of the body's __type
            headers["x-amzn-query-error"] = f"{code_query};Sender"
        return _Refused(status_json, headers, _cbor_map({"__type": code_json, "message": message}))  # type: ignore[arg-type]
    headers["Content-Type"] = content_type or "application/x-amz-json-1.0"
    if service in _QUERY_COMPATIBLE:
        # SQS and CloudWatch speak JSON but are query-compatible: the legacy code travels in this header
        headers["x-amzn-query-error"] = f"{code_query};Sender"
    body = json.dumps({"__type": f"com.amazon.coral.service#{code_json}", "Message": message, "message": message})
    return _Refused(status_json, headers, body)


#: services whose JSON/CBOR models are ``awsQueryCompatible`` (botocore's metadata): refusals carry
#: the query protocol's code in ``x-amzn-query-error``
_QUERY_COMPATIBLE = frozenset({"sqs", "monitoring"})  # "monitoring": CloudWatch's endpoint prefix

#: the query services' XML namespaces (their API references' response examples)
_XMLNS = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/",
}


def _cbor_map(values: dict[str, str]) -> bytes:
    """A CBOR map of text strings (RFC 8949), for CloudWatch's rpc-v2-cbor protocol."""

    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes([major << 5 | n])
        if n < 256:
            return bytes([major << 5 | 24, n])
        return bytes([major << 5 | 25]) + n.to_bytes(2, "big")

    out = bytearray(head(5, len(values)))
    for k, v in values.items():
        for text in (k, v):
            data = text.encode("utf-8")
            out += head(3, len(data)) + data
    return bytes(out)


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def access_denied(service: str, handler: Any, principal: Principal, action: str, resource: str, decision: str) -> _Refused:
    if service == "sqs":
        # SQS names the action in lower case: "is not authorized to perform: sqs:sendmessage on
        # resource: ... because no identity-based policy allows the sqs:sendmessage action"
        action = action.lower()
    message = _deny_message(principal, action, resource, decision)
    return _answer(service, handler, "AccessDeniedException", "AccessDenied", 400, 403, message)


def _auth_failed(service: str, handler: Any, kind: str) -> _Refused:
    if kind == "expired":
        return _answer(service, handler, "ExpiredTokenException", "ExpiredToken", 400, 403,
                       "The security token included in the request is expired")
    code_query = "InvalidAccessKeyId" if service == "s3" else "InvalidClientTokenId"
    message = ("The AWS Access Key Id you provided does not exist in our records." if service == "s3"
               else "The security token included in the request is invalid.")
    return _answer(service, handler, "UnrecognizedClientException", code_query, 400, 403, message)

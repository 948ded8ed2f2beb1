"""Only the sandbox's user can drive it (issue 10, "A sandbox that only its user can drive").

A web page in the user's browser reaches 127.0.0.1 too. Two ways it could drive the sandbox are
closed: DNS rebinding (OWASP, "DNS rebinding"; the browser then sends the attacker's name as
``Host``) and cross-site requests (the browser adds ``Origin`` to every cross-origin POST and
``fetch``, RFC 6454 section 7 and the Fetch standard; no AWS SDK sends it). And answers carry no
``Access-Control-Allow-Origin``, so a page cannot read them (moto adds ``*`` to every answer unless
``MOTO_DISABLE_GLOBAL_CORS`` is set).
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from runbook_lib.sandbox.server import refusal

LIST_TABLES = json.dumps({}).encode()


def _post(endpoint: str, headers: dict[str, str], path: str = "/") -> http.client.HTTPResponse:
    parts = urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.putrequest("POST", path, skip_host=True)
    base = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261130/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=0",
        "Content-Length": str(len(LIST_TABLES)),
    }
    for name, value in {**base, **headers}.items():
        conn.putheader(name, value)
    conn.endheaders(LIST_TABLES)
    return conn.getresponse()


def test_a_request_for_another_host_name_is_refused_before_it_reaches_moto(endpoint, aws):
    # GIVEN a table, and a page on evil.example whose name now resolves to 127.0.0.1
    aws("dynamodb").create_table(
        TableName="kept", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    port = urlsplit(endpoint).port
    # WHEN it posts to the sandbox (the browser sends its own name as Host)
    answer = _post(endpoint, {"Host": f"evil.example:{port}"})
    # THEN it is refused, and nothing of the sandbox's data is in the answer
    body = answer.read().decode()
    assert answer.status == 403
    assert "loopback" in body and "kept" not in body
    # AND a reset sent the same way resets nothing
    assert _post(endpoint, {"Host": f"evil.example:{port}"}, path="/moto-api/reset").status == 403
    assert aws("dynamodb").list_tables()["TableNames"] == ["kept"]


def test_a_cross_site_request_from_a_web_page_is_refused(endpoint):
    port = urlsplit(endpoint).port
    answer = _post(endpoint, {"Host": f"127.0.0.1:{port}", "Origin": "https://evil.example"})
    assert answer.status == 403 and "cross-site" in answer.read().decode()
    answer = _post(endpoint, {"Host": f"127.0.0.1:{port}", "Sec-Fetch-Site": "cross-site"})
    assert answer.status == 403


def test_answers_carry_no_cors_headers_even_to_a_local_page(endpoint):
    # GIVEN a page served from this machine (a local Jupyter, say): it may call the sandbox,
    port = urlsplit(endpoint).port
    answer = _post(endpoint, {"Host": f"localhost:{port}", "Origin": "http://localhost:8888"})
    answer.read()
    # THEN moto's global "Access-Control-Allow-Origin: *" is gone, so no other origin reads answers
    assert answer.status == 200
    assert answer.getheader("Access-Control-Allow-Origin") is None


def test_plain_sdk_requests_keep_working(aws):
    assert aws("dynamodb").list_tables()["TableNames"] == []


@pytest.mark.parametrize("host, refused", [
    ("127.0.0.1:5000", False), ("localhost:5000", False), ("[::1]:5000", False),
    ("bucket.localhost:5000", False), ("127.0.0.2", False), ("LOCALHOST", False),
    ("evil.example:5000", True), ("localhost.evil.example", True), ("127.0.0.1.evil.example", True),
    ("10.0.0.1:5000", True), ("", True),
])
def test_only_loopback_host_names_pass(host, refused):
    environ = {"HTTP_HOST": host} if host else {}
    assert (refusal(environ) is not None) is refused

"""The sandbox keeps an HTTP/1.1 connection open between requests, as AWS endpoints do.

HTTP/1.1 connections are persistent unless either side sends ``Connection: close`` (RFC 9112,
"HTTP/1.1", section 9.3 "Persistence", https://www.rfc-editor.org/rfc/rfc9112#section-9.3), and
the AWS SDKs reuse them ("Reuse connections with keep-alive in Node.js", AWS SDK for JavaScript
Developer Guide, https://docs.aws.amazon.com/sdk-for-javascript/v3/developer-guide/node-reusing-connections.html;
botocore pools its connections through urllib3). werkzeug's development server, which moto runs,
closes every connection after one answer; the sandbox keeps it, and drains what the app left unread
of a request body so that the next request on the connection is read whole.
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

LIST_TABLES = json.dumps({}).encode()
HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261130/us-east-1/dynamodb/aws4_request, "
                     "SignedHeaders=host, Signature=0",
}


def _connection(endpoint: str) -> http.client.HTTPConnection:
    parts = urlsplit(endpoint)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)


def _send(conn: http.client.HTTPConnection, body: bytes, **extra: str) -> http.client.HTTPResponse:
    conn.request("POST", "/", body=body, headers={**HEADERS, **extra})
    response = conn.getresponse()
    response.data = response.read()
    return response


def test_the_sandbox_answers_several_requests_over_one_connection(endpoint):
    conn = _connection(endpoint)
    try:
        first = _send(conn, LIST_TABLES)
        sock = conn.sock
        second = _send(conn, LIST_TABLES)
        assert first.status == second.status == 200
        assert (first.getheader("Connection") or "").lower() != "close"
        assert conn.sock is sock and sock is not None  # the same connection, not a new one
    finally:
        conn.close()


def test_a_request_body_the_sandbox_did_not_read_does_not_spill_into_the_next_request(endpoint):
    # refused before the app reads it (a cross-site Origin): its body must not be parsed as the
    # connection's next request line
    conn = _connection(endpoint)
    try:
        refused = _send(conn, b'{"junk": "' + b"x" * 5000 + b'"}', Origin="http://evil.example")
        assert refused.status == 403
        sock = conn.sock
        answered = _send(conn, LIST_TABLES)
        assert answered.status == 200 and "TableNames" in json.loads(answered.data)
        assert conn.sock is sock and sock is not None  # still the same connection
    finally:
        conn.close()


def test_a_client_that_asks_to_close_gets_its_connection_closed(endpoint):
    conn = _connection(endpoint)
    try:
        response = _send(conn, LIST_TABLES, Connection="close")
        assert response.status == 200
        assert (response.getheader("Connection") or "").lower() == "close"
    finally:
        conn.close()



def test_the_connections_kept_open_are_closed_when_the_sandbox_stops(sandbox):
    from runbook_lib.sandbox import server

    conn = _connection(sandbox.endpoint_url)
    try:
        assert _send(conn, LIST_TABLES).status == 200
        server._close_connections(sandbox._server)  # what Sandbox.stop() does after shutting down
        conn.sock.settimeout(10)
        assert conn.sock.recv(1) == b""  # the server's end is shut: end of stream, not a hang
    finally:
        conn.close()

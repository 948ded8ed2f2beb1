"""`pitr-runbook sandbox` runs until stopped, on loopback, and plain boto3 reaches it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import boto3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sandbox_command_serves_boto3_and_stops_on_sigterm():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook_lib.cli", "sandbox", "--port", str(port), "--restore-seconds", "2", "--restorable-lag", "7"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline()
        assert f"endpoint_url=http://127.0.0.1:{port}" in line
        ddb = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id="a", aws_secret_access_key="b")
        assert ddb.list_tables()["TableNames"] == []
        settings = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox/settings").read())
        assert settings["restore_seconds"] == 2.0 and settings["restorable_lag"] == 7.0
        # it listens on loopback only
        with socket.socket() as s:
            s.settimeout(1)
            assert s.connect_ex((socket.gethostbyname(socket.gethostname()), port)) != 0 or socket.gethostbyname(socket.gethostname()).startswith("127.")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0

"""Faults are switched on a running sandbox over HTTP, all or nothing, and a reset clears them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from runbook_lib.sandbox import faults


@pytest.fixture
def demo_fault():
    faults.register("demo-fault", "for this test only", rate=0.5, seconds=10)
    yield "demo-fault"
    faults._registry.pop("demo-fault", None)


def _call(endpoint: str, body=None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(endpoint + "/_sandbox/faults", data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_fault_is_enabled_with_typed_parameters_and_listed(endpoint, demo_fault):
    status, body = _call(endpoint, {"enable": {demo_fault: {"rate": "0.25"}}})
    assert status == 200
    assert body["active"][demo_fault] == {"rate": 0.25, "seconds": 10}
    assert body["available"][demo_fault]["description"] == "for this test only"
    assert faults.active(demo_fault) == {"rate": 0.25, "seconds": 10}
    faults.note(demo_fault, "entries_failed", 3)
    assert _call(endpoint)[1]["events"][demo_fault] == {"entries_failed": 3}


def test_unknown_fault_or_parameter_is_refused_and_changes_nothing(endpoint, demo_fault):
    status, body = _call(endpoint, {"enable": {demo_fault: {}, "no-such-fault": {}}})
    assert status == 400 and "no-such-fault" in body["message"]
    status, body = _call(endpoint, {"enable": {demo_fault: {"speed": 2}}})
    assert status == 400 and "speed" in body["message"]
    assert faults.active(demo_fault) is None
    assert _call(endpoint)[1]["active"] == {}


def test_disable_and_reset_clear_faults(endpoint, sandbox, demo_fault):
    _call(endpoint, {"enable": [demo_fault]})
    assert faults.active(demo_fault) == {"rate": 0.5, "seconds": 10}
    _call(endpoint, {"disable": [demo_fault]})
    assert faults.active(demo_fault) is None
    _call(endpoint, {"enable": [demo_fault]})
    sandbox.reset()
    assert faults.active(demo_fault) is None
    assert _call(endpoint)[1]["events"] == {}

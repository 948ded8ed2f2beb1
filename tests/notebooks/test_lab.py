"""``pitr-runbook lab --sandbox``: JupyterLab on 127.0.0.1 with a token, the sandbox with a demo
table under live traffic, and the notebooks, as they stand, run by the server's own kernel against it.

The notebook is run as JupyterLab runs it: a session through the server's REST API, then each code
cell as an ``execute_request`` over the kernel's websocket channels (the Jupyter messaging protocol).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from runbook_lib.runner import STEPS, notebooks_dir

pytestmark = pytest.mark.slow

#: a log record as a handler formats it: never in a cell's output
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )?(DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ", re.M)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def lab(tmp_path):
    """``pitr-runbook lab --sandbox`` in its own process group; SIGTERM at the end, then SIGKILL."""
    port, run_dir = _free_port(), tmp_path / "lab"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook_lib.cli", "lab", "--sandbox", "--port", str(port), "--run-dir", str(run_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    said: list[str] = []
    info: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 90
        while "sandbox" not in info:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"pitr-runbook lab said no URL within 90 s: {''.join(said)}")
            said.append(line)
            if m := re.match(r"JupyterLab: (http://127\.0\.0\.1:(\d+))/lab\?token=(\S+)", line):
                info.update(base=m.group(1), port=m.group(2), token=m.group(3))
            if m := re.search(r"sandbox: (http://127\.0\.0\.1:(\d+)) ", line):
                info.update(sandbox=m.group(1), sandbox_port=m.group(2))
        yield {**info, "run_dir": str(run_dir), "proc": proc}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    # JupyterLab (its own process group, stopped by the lab) and the sandbox are gone with it
    if info:
        assert not _listening(int(info["port"])) and not _listening(int(info["sandbox_port"]))


def _api(base: str, token: str, path: str, method: str = "GET", body: dict | None = None):
    import urllib.request

    request = urllib.request.Request(f"{base}{path}", method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, json.loads(answer.read() or b"null")


async def _run_cells(base: str, token: str, kernel_id: str, cells: list[str], timeout: float = 90.0) -> list[list[dict]]:
    """Each cell's iopub outputs, executed in order by the server's kernel over its websocket."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    session = uuid.uuid4().hex
    url = base.replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels?session_id={session}"
    ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {token}"}))
    results = []
    deadline = time.monotonic() + timeout
    try:
        for code in cells:
            msg_id = uuid.uuid4().hex
            await ws.write_message(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": session,
                           "date": "", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True},
            }))  # fmt: skip
            outputs, idle, replied = [], False, None
            while not (idle and replied):
                raw = await asyncio.wait_for(ws.read_message(), timeout=max(1.0, deadline - time.monotonic()))
                assert raw is not None, "the kernel's websocket closed"
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if msg["channel"] == "shell" and kind == "execute_reply":
                    replied = msg["content"]
                elif kind in ("stream", "display_data", "execute_result", "error"):
                    outputs.append({"output_type": kind, **msg["content"]})
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
            assert replied["status"] == "ok", (code, replied, outputs)
            results.append(outputs)
    finally:
        ws.close()
    return results


def test_lab_with_sandbox_serves_the_notebooks_with_a_token_and_its_kernel_runs_preflight_against_the_sandbox(lab):
    base, token = lab["base"], lab["token"]
    # GIVEN the lab, on 127.0.0.1 only, that answers nobody without its token
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/api/contents", timeout=10)
    assert refused.value.code == 403
    # THEN its REST API lists the six notebooks of the notebooks folder
    status, root = _api(base, token, "/api/contents")
    assert status == 200
    assert sorted(c["name"] for c in root["content"] if c["type"] == "notebook") == [f"{s}.ipynb" for s in STEPS]
    # WHEN 00_preflight, as committed, runs in a session of the server's own kernel
    status, session = _api(base, token, "/api/sessions", "POST",
                           {"path": "00_preflight.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}})
    assert status == 201
    notebook = json.loads((notebooks_dir() / "00_preflight.ipynb").read_text())
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    outputs = asyncio.run(_run_cells(base, token, session["kernel"]["id"], cells))
    # THEN it ran against the sandbox (AWS_ENDPOINT_URL; endpoint_url left None) on the demo table
    # "orders" the notebook names by default, in the run directory the lab prepared
    flat = [o for cell in outputs for o in cell]
    record = flat[0]["data"]["text/plain"]
    assert record.startswith("00_preflight run by arn:aws:"), record
    assert f"on {lab['sandbox']}: DRY RUN" in record and "  source_table = 'orders'" in record
    assert f"  run_dir = '{lab['run_dir']}'" in record
    result = next(o for o in flat if o["output_type"] == "execute_result")
    assert re.search(r"\d+ checks: \d+ PASS, \d+ WARN, 0 FAIL", result["data"]["text/plain"]), result["data"]["text/plain"]
    assert "preflight passed" in "".join(o.get("text", "") for o in outputs[-1])
    state = json.loads((Path(lab["run_dir"]) / "state.json").read_text())
    assert state["preflight"] and state["params"]["endpoint_url"] == lab["sandbox"]
    # and no cell shows a log line: those are in the run directory's run.log
    for o in flat:
        for text in [o.get("text", "")] + [v for k, v in o.get("data", {}).items() if k.startswith("text/")]:
            assert not _LOG_LINE.search(text), text[:500]
    assert "kernel.00_preflight runbook_lib" in (Path(lab["run_dir"]) / "run.log").read_text()

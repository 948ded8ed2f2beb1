"""One Lambda execution environment of the sandbox, seen from the server: a worker process
(``lambda_worker.py``), its environment, pipes, logs and credentials (part of ``lambda_runtime``;
``lambda_worker_pool`` keeps them warm).

Running the code: the function's zip (moto keeps it as ``LambdaFunction.code_bytes``, also when it
was given as ``S3Bucket``/``S3Key``: moto reads the object at create/update time) is extracted once
per code digest into a temporary directory. Each function version (code digest + handler +
environment + timeout + memory) has a pool of persistent worker processes (``lambda_worker.py``,
started with ``sys.executable -S -P -u``): a worker imports the handler (``a.b.c.handler``, any
depth) once, then serves one invocation at a time over JSON lines on its own pipes; what the
handler prints goes to stderr, never to the protocol. A worker's environment is built from scratch:
the function's ``Environment.Variables``, then Lambda's reserved variables (``AWS_REGION``,
``AWS_DEFAULT_REGION``, ``AWS_LAMBDA_FUNCTION_NAME``/``_MEMORY_SIZE``/``_VERSION``/``_TIMEOUT``,
``AWS_LAMBDA_LOG_GROUP_NAME``/``_STREAM_NAME``, ``_HANDLER``, ``LAMBDA_TASK_ROOT``,
``AWS_EXECUTION_ENV``, and the execution role's temporary credentials ``AWS_ACCESS_KEY_ID``/
``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN`` with ``AWS_CREDENTIAL_EXPIRATION``: a session of the
role named after the function, from ``iam_auth.function_credentials``, renewed with an invocation
20 minutes before it expires; the sandbox's unrestricted ``testing`` credentials when the role is
not one of the sandbox's), ``AWS_ENDPOINT_URL`` = the sandbox (so
boto3 in the function reaches the sandbox without being told), ``TZ=:UTC``, and ``PYTHONPATH`` =
the code directory, then a directory holding only what the Lambda Python runtime provides (boto3,
botocore, s3transfer, jmespath, dateutil, urllib3, six, linked from this interpreter's
site-packages). ``context`` has ``function_name``, ``function_version``, ``invoked_function_arn``,
``memory_limit_in_mb`` (a string, as in the Lambda Python runtime), ``aws_request_id``,
``log_group_name``, ``log_stream_name``, ``get_remaining_time_in_millis()``. ``Timeout`` is
enforced: the worker is killed (with its process group) and the invocation is a function error
(``Sandbox.Timedout``). A change of code or configuration gives the next invocation a new worker;
the old version's idle workers are stopped. Each worker's output goes to CloudWatch Logs through
moto's logs backend: the function's ``LoggingConfig.LogGroup``, by default ``/aws/lambda/<name>``,
created at the first invocation if it does not exist ("Configuring CloudWatch log groups", AWS
Lambda Developer Guide, https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-loggroups.html);
one stream per worker (``YYYY/MM/DD/[$LATEST]<hex>``, or ``YYYY/MM/DD/<name>[$LATEST]<hex>`` in a
custom group, as that page names them), with ``INIT_START``, ``START RequestId: ... Version: ...``, the
function's lines (a logging record with several lines is one event, as on Lambda), ``END`` and
``REPORT`` lines, and ``Task timed out after N.NN seconds``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid as uuid_mod
from collections import deque
from datetime import datetime, timezone
from typing import Any

from .lambda_events import iso, json_default
from .lambda_moto import FunctionSpec

log = logging.getLogger(__name__)

WORKER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lambda_worker.py")

#: what the Lambda Python runtime provides besides the standard library
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")

_INIT_TIMEOUT = 10.0  # seconds Lambda allows for a function's init phase


class _WorkerGone(Exception):
    pass


class Worker:
    """One worker process (one Lambda execution environment) and its pipes.

    No thread reads the pipes: the thread that waits for a reply (``start``, ``invoke``) polls
    stdout and stderr itself, so an invocation costs no hand-off between threads. What a worker
    writes between invocations waits in the pipe and is read, and stamped, at the next one.
    """

    def __init__(self, spec: FunctionSpec, code_dir: str, lib_dir: str, endpoint_url: str) -> None:
        self.spec = spec
        now = datetime.now(timezone.utc)
        custom = spec.log_group and spec.log_group != f"/aws/lambda/{spec.name}"
        self.log_stream = f"{now:%Y/%m/%d}/{spec.name if custom else ''}[{spec.version}]{uuid_mod.uuid4().hex}"
        self._token = uuid_mod.uuid4().hex
        self._mark_prefix = b"\0" + self._token.encode() + b" "
        self._lines: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._last_ts = 0
        self.dead = False
        self._reading = False  # an invocation is reading the pipes (then it closes them, not kill())
        self.init_ms: float | None = None
        self.init_lines: list[tuple[int, str]] = []  # of a worker started ahead, not shipped yet
        env = _worker_env(spec, code_dir, lib_dir, endpoint_url, self.log_stream)
        self._credentials_key = env.get("AWS_ACCESS_KEY_ID")
        self._credentials_checked = time.monotonic()
        args = [sys.executable, "-S", "-u"]
        if sys.version_info >= (3, 11):
            args.append("-P")
        args.append(WORKER_PATH)
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=code_dir,
            start_new_session=(os.name == "posix"),
        )
        # the pipes are read by the thread that waits for an answer, no reader threads
        self._out_fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        self._err_fd = self.proc.stderr.fileno()  # type: ignore[union-attr]
        self._out_buf = b""
        self._err_buf = b""
        self._out_eof = False
        self._err_eof = False
        self._replies: deque = deque()
        self._seen_marks: set[str] = set()
        self._poller = select.poll()
        self._poller.register(self._out_fd, select.POLLIN)
        self._poller.register(self._err_fd, select.POLLIN)

    # -- pipes ------------------------------------------------------------------------------
    def _pump(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for output, then read what is there (replies and log
        lines are parsed into ``_replies``, ``_lines`` and ``_seen_marks``)."""
        if self._out_eof and self._err_eof:
            return
        try:
            ready = self._poller.poll(max(timeout, 0.0) * 1000)
        except (OSError, ValueError):
            ready = [(self._out_fd, select.POLLHUP), (self._err_fd, select.POLLHUP)]
        for fd, _ in ready:
            if (fd == self._out_fd and self._out_eof) or (fd == self._err_fd and self._err_eof):
                continue
            try:
                data = os.read(fd, 1 << 16)
            except OSError:
                data = b""
            if fd == self._out_fd:
                self._take_replies(data)
            else:
                self._take_logs(data)

    def _take_replies(self, data: bytes) -> None:
        if not data:
            self._out_eof = True
            self._forget(self._out_fd)
            return
        *lines, self._out_buf = (self._out_buf + data).split(b"\n")
        for raw in lines:
            try:
                self._replies.append(json.loads(raw))
            except ValueError:
                self._replies.append({"type": "garbage"})

    def _take_logs(self, data: bytes) -> None:
        if not data:
            self._err_eof = True
            self._forget(self._err_fd)
            return
        *lines, self._err_buf = (self._err_buf + data).split(b"\n")
        for raw in lines:
            at = raw.find(self._mark_prefix)
            if at >= 0:
                if at > 0:  # the handler printed without a final newline
                    self._add_line(raw[:at].decode("utf-8", "replace").replace("\r", "\n"))
                self._seen_marks.add(raw[at + len(self._mark_prefix):].decode("utf-8", "replace"))
                continue
            self._add_line(raw.decode("utf-8", "replace").replace("\r", "\n"))

    def _forget(self, fd: int) -> None:
        try:
            self._poller.unregister(fd)
        except (KeyError, ValueError, OSError):
            pass

    def _reply(self, deadline: float, request_id: str | None = None) -> dict[str, Any] | None:
        """The next reply (with ``request_id``, when given), None once stdout is closed; raises
        ``queue.Empty`` at ``deadline`` (``time.time()``)."""
        while True:
            while self._replies:
                reply = self._replies.popleft()
                if request_id is None or reply.get("id") == request_id:
                    return reply
            if self._out_eof:
                return None
            remaining = deadline - time.time()
            if remaining <= 0:
                raise queue.Empty
            self._pump(remaining)

    def _wait_mark(self, tag: str, timeout: float) -> None:
        """Read the log lines up to the worker's mark ``tag`` (all of that phase's lines)."""
        deadline = time.time() + timeout
        while tag not in self._seen_marks and not self._err_eof:
            remaining = deadline - time.time()
            if remaining <= 0:
                return
            self._pump(remaining)
        self._seen_marks.discard(tag)

    def _drain_logs(self, timeout: float) -> None:
        """A worker that died: its last log lines, until stderr closes."""
        deadline = time.time() + timeout
        while not self._err_eof and time.time() < deadline:
            self._pump(deadline - time.time())

    def _hold(self) -> None:
        with self._lock:
            self._reading = True

    def _release(self) -> None:
        with self._lock:
            self._reading = False
            closing = self.dead
        if closing:
            self._close_outputs()

    def _close_outputs(self) -> None:
        _close(self.proc.stdout)
        _close(self.proc.stderr)

    def _add_line(self, text: str, ts: int | None = None) -> None:
        with self._lock:
            stamp = max(int(time.time() * 1000) if ts is None else ts, self._last_ts)
            self._last_ts = stamp
            self._lines.append((stamp, text))

    def take_lines(self) -> list[tuple[int, str]]:
        with self._lock:
            lines, self._lines = self._lines, []
        return lines

    def _send(self, obj: dict[str, Any]) -> None:
        data = (json.dumps(obj, default=json_default) + "\n").encode()
        try:
            self.proc.stdin.write(data)  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except (OSError, ValueError) as exc:
            raise _WorkerGone(str(exc)) from exc

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> dict[str, Any] | None:
        """Import the handler. None when ready, else Lambda's error document."""
        started = time.monotonic()
        self._hold()
        try:
            try:
                self._send({"type": "init", "mark": self._token})
                reply = self._reply(time.time() + _INIT_TIMEOUT)
            except (_WorkerGone, queue.Empty):
                reply = None
            self._wait_mark("init", 1.0)
        finally:
            self._release()
        self.init_ms = (time.monotonic() - started) * 1000
        if reply is not None and reply.get("type") == "ready":
            return None
        self.dead = True
        if reply is not None and reply.get("type") == "init_error":
            return reply["error"]
        return {"errorMessage": "Runtime exited during init", "errorType": "Runtime.ExitError"}

    def invoke(
        self, request_id: str, event: Any, invoked_arn: str, crash_after_writes: int | None = None
    ) -> tuple[bool, Any, bool]:
        """(ok, payload or error, timed_out). ``crash_after_writes``: the ``applier-crash`` fault."""
        self._hold()
        try:
            return self._invoke(request_id, event, invoked_arn, crash_after_writes)
        finally:
            self._release()

    def _invoke(
        self, request_id: str, event: Any, invoked_arn: str, crash_after_writes: int | None
    ) -> tuple[bool, Any, bool]:
        deadline = time.time() + self.spec.timeout
        try:
            self._send(self._message(request_id, event, invoked_arn, deadline, crash_after_writes))
            reply = self._reply(deadline + 0.02, request_id)
        except queue.Empty:
            self.kill()
            return False, None, True
        except _WorkerGone:
            reply = None
        if reply is None:
            return self._exited(request_id)
        self._wait_mark(request_id, 2.0)
        return _outcome(reply)

    def _message(
        self, request_id: str, event: Any, invoked_arn: str, deadline: float, crash_after_writes: int | None
    ) -> dict[str, Any]:
        message = {
            "type": "invoke",
            "id": request_id,
            "event": event,
            "deadline_ms": int(deadline * 1000),
            "invoked_function_arn": invoked_arn,
        }
        if crash_after_writes is not None:
            message["crash_after_writes"] = crash_after_writes
        fresh = self._fresh_credentials()
        if fresh is not None:
            message["credentials"] = fresh
        return message

    def _exited(self, request_id: str) -> tuple[bool, Any, bool]:
        """The outcome of an invocation whose worker closed its stdout: Runtime.ExitError."""
        self.dead = True
        self._drain_logs(2.0)
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = self.proc.poll()
        if code is not None and code < 0:
            try:
                how = f"signal: {signal.Signals(-code).name[3:].lower()}"
            except ValueError:
                how = f"signal: {-code}"
            how = "signal: killed" if code == -signal.SIGKILL else how
        else:
            how = f"exit status {code}"
        return (
            False,
            {
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {how}",
                "errorType": "Runtime.ExitError",
            },
            False,
        )

    # -- one invocation among several, driven by a dispatcher (the SQS poller) ----------------
    def begin(self, request_id: str, event: Any, invoked_arn: str, crash_after_writes: int | None = None) -> None:
        """Send an invocation without waiting for it: the caller polls ``fds()`` and calls
        ``progress()`` until it returns the outcome, then ``end()``."""
        self._hold()
        self._request = request_id
        self._deadline = time.time() + self.spec.timeout
        self._answer: dict[str, Any] | None = None
        self._mark_by = 0.0
        try:
            self._send(self._message(request_id, event, invoked_arn, self._deadline, crash_after_writes))
            self._send_failed = False
        except _WorkerGone:
            self._send_failed = True

    def fds(self) -> list[int]:
        return [fd for fd, eof in ((self._out_fd, self._out_eof), (self._err_fd, self._err_eof)) if not eof]

    def wake_by(self) -> float:
        """When ``progress()`` must be called even if nothing is written (``time.time()``)."""
        return self._mark_by if self._answer is not None else self._deadline + 0.02

    def progress(self) -> tuple[bool, Any, bool] | None:
        """Read what the worker wrote (without waiting); the outcome (as ``invoke``) once known."""
        self._pump(0)
        request_id = self._request
        if self._answer is None:
            while self._replies:
                reply = self._replies.popleft()
                if reply.get("id") == request_id:
                    self._answer = reply
                    self._mark_by = time.time() + 2.0
                    break
        if self._answer is not None:
            if request_id in self._seen_marks or self._err_eof or time.time() >= self._mark_by:
                self._seen_marks.discard(request_id)
                return _outcome(self._answer)
            return None
        if self._out_eof or self._send_failed:
            return self._exited(request_id)
        if time.time() >= self._deadline + 0.02:
            self.kill()
            return False, None, True
        return None

    def end(self) -> None:
        self._release()

    def _fresh_credentials(self) -> dict[str, str] | None:
        """The execution role's renewed credentials when they changed (looked at most once a minute:
        ``iam_auth`` renews them 20 minutes before they expire), else None."""
        if not self.spec.role or time.monotonic() - self._credentials_checked < CREDENTIALS_CHECK_SECONDS:
            return None
        self._credentials_checked = time.monotonic()
        creds = execution_credentials(self.spec)
        if creds is None or creds["AccessKeyId"] == self._credentials_key:
            return None
        self._credentials_key = creds["AccessKeyId"]
        return _credential_env(creds)

    def max_memory_mb(self) -> int:
        now = time.monotonic()
        if now - getattr(self, "_memory_read_at", -10.0) < 1.0:  # the peak, read at most once a second
            return getattr(self, "_memory_mb", 0)
        self._memory_read_at = now
        self._memory_mb = self._read_max_memory_mb()
        return self._memory_mb

    def _read_max_memory_mb(self) -> int:
        try:
            with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return math.ceil(int(line.split()[1]) / 1024)
        except OSError:
            pass
        return 0

    def alive(self) -> bool:
        return not self.dead and self.proc.poll() is None

    def kill(self) -> None:
        self.dead = True
        if self.proc.poll() is None:
            try:
                if os.name == "posix":
                    os.killpg(self.proc.pid, signal.SIGKILL)
                else:
                    self.proc.kill()
            except (ProcessLookupError, PermissionError):
                pass
            except OSError:
                self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("lambda worker %s did not exit after SIGKILL", self.proc.pid)
        _close(self.proc.stdin)
        with self._lock:
            reading = self._reading
        if not reading:  # else the invocation reading them closes them when it is done
            self._close_outputs()


def _outcome(reply: dict[str, Any]) -> tuple[bool, Any, bool]:
    if reply.get("ok"):
        return True, reply.get("payload"), False
    return False, reply.get("error"), False


def _close(pipe: Any) -> None:
    try:
        pipe.close()
    except Exception:  # noqa: BLE001 - already closed
        pass


def _worker_env(spec: FunctionSpec, code_dir: str, lib_dir: str, endpoint_url: str, log_stream: str) -> dict[str, str]:
    env: dict[str, str] = {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
    }
    if os.name == "nt":  # pragma: no cover - the sandbox targets POSIX, keep Windows startable
        env["SYSTEMROOT"] = os.environ.get("SYSTEMROOT", "")
    env.update(dict(spec.env))
    env.update(
        {
            "_HANDLER": spec.handler,
            "LAMBDA_TASK_ROOT": code_dir,
            "LAMBDA_RUNTIME_DIR": lib_dir,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(spec.timeout)),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group or f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            **_credential_env(execution_credentials(spec)),
            "AWS_ENDPOINT_URL": endpoint_url,
            "PYTHONPATH": os.pathsep.join([code_dir, lib_dir]),
        }
    )
    return env


#: how often a warm worker asks whether its execution role's credentials were renewed
CREDENTIALS_CHECK_SECONDS = 60.0


def execution_credentials(spec: FunctionSpec) -> dict[str, Any] | None:
    """The execution role's temporary credentials (``iam_auth``), or None when the role is not one
    of the sandbox's (moto accepts any role ARN): then the worker gets the sandbox's default
    credentials, which are unrestricted."""
    if not spec.role:
        return None
    from . import iam_auth

    return iam_auth.function_credentials(spec.role, spec.arn)


def _credential_env(creds: dict[str, Any] | None) -> dict[str, str]:
    if creds is None:
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        # with an expiry, botocore's environment provider re-reads these variables before it
        # (the worker updates them when the runtime sends fresh ones with an invocation)
        "AWS_CREDENTIAL_EXPIRATION": iso(creds["Expiration"], millis=False),
    }


def build_runtime_lib(target: str) -> None:
    """Link what the Lambda Python runtime provides (boto3 and its dependencies) into ``target``."""
    os.makedirs(target, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None and not spec.submodule_search_locations:
            continue
        if spec.submodule_search_locations:
            source = list(spec.submodule_search_locations)[0]
            link = os.path.join(target, name)
        else:
            source = spec.origin  # type: ignore[assignment]
            link = os.path.join(target, os.path.basename(source))
        if os.path.lexists(link):
            continue
        try:
            os.symlink(source, link)
        except OSError:
            if os.path.isdir(source):
                shutil.copytree(source, link)
            else:
                shutil.copy2(source, link)

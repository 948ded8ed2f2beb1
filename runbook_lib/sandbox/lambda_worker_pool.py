"""The sandbox's Lambda execution environments: worker processes, their pipes, logs and credentials,
and the pool that keeps them warm (part of ``lambda_runtime``).

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
import io
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
import zipfile
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .lambda_events import iso, json_default
from .lambda_moto import logging_config

log = logging.getLogger(__name__)

WORKER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lambda_worker.py")

#: what the Lambda Python runtime provides besides the standard library
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")

_INIT_TIMEOUT = 10.0  # seconds Lambda allows for a function's init phase


class Stale(Exception):
    """The work belongs to a mapping that was disabled or deleted, or to a generation reset since."""


@dataclass(frozen=True)
class FunctionSpec:
    """What an invocation needs of a moto ``LambdaFunction``, taken at one moment."""

    account: str
    region: str
    name: str
    version: str
    handler: str
    runtime: str
    timeout: float
    memory: int
    env: tuple[tuple[str, str], ...]
    code_digest: str
    code_bytes: bytes = field(compare=False, repr=False, hash=False)
    log_group: str = ""
    role: str = ""  # the execution role: its credentials are the worker's (iam_auth.function_credentials)

    @classmethod
    def of(cls, fn: Any) -> FunctionSpec:
        code = getattr(fn, "code_bytes", b"") or b""
        digest = getattr(fn, "code_digest", None)
        if not digest:
            import hashlib

            digest = hashlib.sha256(code).hexdigest()
        env = tuple(sorted((str(k), str(v)) for k, v in (fn.environment_vars or {}).items()))
        return cls(
            account=fn.account_id,
            region=fn.region,
            name=fn.function_name,
            version=str(fn.version),
            handler=fn.handler or "",
            runtime=fn.run_time or "python3.11",
            timeout=float(fn.timeout or 3),
            memory=int(fn.memory_size or 128),
            env=env,
            code_digest=digest,
            code_bytes=code,
            log_group=logging_config(fn)["LogGroup"],
            role=str(getattr(fn, "role", "") or ""),
        )

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.account, self.region, self.name, self.version)

    @property
    def arn(self) -> str:
        from moto.utilities.utils import get_partition

        return f"arn:{get_partition(self.region)}:lambda:{self.region}:{self.account}:function:{self.name}"


def matches(spec: FunctionSpec, pattern: str) -> bool:
    """A fault's ``function`` parameter: a substring of the function's name or handler ("" = any)."""
    return not pattern or pattern in spec.name or pattern in spec.handler


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
        timeout = self.spec.timeout
        deadline = time.time() + timeout
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
        try:
            self._send(message)
            reply = self._reply(deadline + 0.02, request_id)
        except queue.Empty:
            self.kill()
            return False, None, True
        except _WorkerGone:
            reply = None
        if reply is None:
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
        self._wait_mark(request_id, 2.0)
        if reply.get("ok"):
            return True, reply.get("payload"), False
        return False, reply.get("error"), False

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


class WorkerPool:
    """The workers of ``LambdaRuntime`` (a mixin: it shares the runtime's ``_cond``, generation and
    ``_tmp``): one pool of idle workers per function version, the code extracted once per digest."""

    def _init_pool(self) -> None:
        self._code_lock = threading.Lock()
        self._workers: set[Worker] = set()
        self._idle: dict[tuple, list[Worker]] = {}
        self._current: dict[tuple, tuple] = {}

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for tests and diagnostics)."""
        with self._cond:
            return [w.proc.pid for w in self._workers if w.proc.poll() is None]

    @property
    def _lib_dir(self) -> str:
        assert self._tmp is not None
        return os.path.join(self._tmp, "runtime")

    def _kill_workers(self) -> None:
        with self._cond:
            workers = list(self._workers)
            self._workers.clear()
            self._idle.clear()
            self._current.clear()
        for worker in workers:
            worker.kill()

    def _code_dir(self, spec: FunctionSpec) -> str:
        assert self._tmp is not None
        target = os.path.join(self._tmp, "code", spec.code_digest)
        if os.path.isdir(target):
            return target
        with self._code_lock:
            if os.path.isdir(target):
                return target
            staging = f"{target}.{uuid_mod.uuid4().hex}"
            with zipfile.ZipFile(io.BytesIO(spec.code_bytes)) as archive:
                archive.extractall(staging)
            os.replace(staging, target)
        return target

    def _checkout(self, spec: FunctionSpec, gen: int) -> Worker | None:
        key = (spec, spec.identity)
        with self._cond:
            self._check(gen)
            current = self._current.get(spec.identity)
            if current is not None and current != spec:
                for old in self._idle.pop((current, spec.identity), []):
                    self._workers.discard(old)
                    threading.Thread(target=old.kill, daemon=True).start()
            self._current[spec.identity] = spec
            idle = self._idle.get(key) or []
            while idle:
                worker = idle.pop()
                if worker.alive():
                    return worker
                self._workers.discard(worker)
        return None

    def _checkin(self, worker: Worker, gen: int) -> None:
        spec = worker.spec
        with self._cond:
            keep = (
                worker.alive()
                and gen == self._generation
                and not self._stopping.is_set()
                and self._current.get(spec.identity) == spec
                and worker in self._workers
            )
            if keep:
                self._idle.setdefault((spec, spec.identity), []).append(worker)
                return
            self._workers.discard(worker)
        worker.kill()

    def _spawn(self, spec: FunctionSpec, gen: int) -> tuple[Worker, dict[str, Any] | None, list[tuple[int, str]]]:
        """Start a worker and import the handler: (worker, init error or None, init log lines)."""
        code_dir = self._code_dir(spec)
        worker = Worker(spec, code_dir, self._lib_dir, self.endpoint_url)
        with self._cond:
            registered = gen == self._generation and not self._stopping.is_set()
            if registered:
                self._workers.add(worker)
        if not registered:
            worker.kill()
            raise Stale()
        lines = [(int(time.time() * 1000), f"INIT_START Runtime Version: {spec.runtime}.sandbox")]
        init_error = worker.start()
        lines.extend(worker.take_lines())
        return worker, init_error, lines

    def _discard(self, worker: Worker) -> None:
        with self._cond:
            self._workers.discard(worker)
        worker.kill()

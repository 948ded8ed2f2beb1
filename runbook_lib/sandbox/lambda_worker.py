"""One Lambda execution environment for the sandbox: imports a handler once, then serves invocations.

Started by ``lambda_worker_process`` as ``python -S -P -u lambda_worker.py`` with the function's environment
(``_HANDLER``, ``AWS_*``, the function's own variables) and ``PYTHONPATH`` = the extracted code
directory, then the runtime-provided libraries. This file imports only the standard library, so it
adds nothing to what the handler can import.

Protocol, JSON lines over the process's original stdin/stdout (saved on other descriptors at start):

- parent -> worker, first line: ``{"type": "init", "mark": <token>}``; the worker imports the
  handler and answers ``{"type": "ready"}`` or ``{"type": "init_error", "error": {...}}`` (then
  exits);
- parent -> worker: ``{"type": "invoke", "id": <request id>, "event": ..., "deadline_ms": <epoch
  ms>, "invoked_function_arn": ...}``; answer ``{"type": "result", "id": ..., "ok": true,
  "payload": ...}`` or ``{"type": "result", "id": ..., "ok": false, "error": {"errorMessage",
  "errorType", "requestId", "stackTrace"}}``. With ``"crash_after_writes": N`` (the sandbox's
  ``applier-crash`` fault) the worker kills itself (SIGKILL) right after the handler's N-th
  DynamoDB write call through botocore returned, or before answering if it made fewer: no answer.
  With ``"credentials": {"AWS_ACCESS_KEY_ID": ..., ...}`` the worker first puts the execution
  role's renewed credentials in its environment.

Descriptor 0 is then /dev/null and descriptor 1 is descriptor 2, so whatever the handler prints (or
a C extension writes) lands on stderr, which the parent ships to CloudWatch Logs and never parses as
protocol. After each phase the worker writes ``\\0<mark> <id>`` on stderr so that the parent knows
it has every log line of that phase. Like the Lambda Python runtime, the root logger gets a handler
that writes ``[LEVEL]\\t<time>\\t<request id>\\t<message>`` with newlines turned into ``\\r`` (one
log event per record), and the root level stays WARNING unless the handler changes it.
"""

from __future__ import annotations

import decimal
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback

_HERE = os.path.dirname(os.path.abspath(__file__))
# ``python lambda_worker.py`` puts this directory first on sys.path (unless -P): the handler must
# not be able to import the sandbox's own modules (``settings``, ``events``...) by accident.
while sys.path and os.path.abspath(sys.path[0] or os.getcwd()) == _HERE:
    del sys.path[0]

_state = {"request_id": ""}


class _LambdaLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            msg = self.format(record)
            line = f"[{record.levelname}]\t{stamp}.{int(record.msecs):03d}Z\t{_state['request_id']}\t{msg}"
            _write_log(line)
        except Exception:  # noqa: BLE001 - logging must never break the handler
            self.handleError(record)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _state["request_id"]
        return True


def _write_log(text: str) -> None:
    """One log event: newlines become \\r, as the Lambda runtime does, and the parent undoes."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    data = (text.rstrip("\n").replace("\r\n", "\r").replace("\n", "\r") + "\n").encode("utf-8", "replace")
    os.write(2, data)


class LambdaContext:
    """The ``context`` argument, with the attributes of the Lambda Python runtime's context."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        # A string, as in the Lambda Python runtime (awslambdaric reads it from the environment).
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(int(self._deadline_ms - time.time() * 1000), 0)

    def log(self, msg: str) -> None:
        _write_log(str(msg))


def _error(exc: BaseException, error_type: str | None = None, message: str | None = None) -> dict:
    frames = traceback.extract_tb(exc.__traceback__)
    return {
        "errorMessage": str(exc) if message is None else message,
        "errorType": error_type or type(exc).__name__,
        "requestId": _state["request_id"],
        "stackTrace": [line for line in traceback.format_list(frames)],
    }


def _log_error(err: dict) -> None:
    trace = "".join(err.get("stackTrace") or [])
    text = f"[ERROR] {err['errorType']}: {err['errorMessage']}"
    if trace:
        text += "\nTraceback (most recent call last):\n" + trace
    _write_log(text)


def _decimal_default(o):
    if isinstance(o, decimal.Decimal):
        return int(o) if o == o.to_integral_value() else float(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _load_handler(spec: str):
    module_part, _, func_name = spec.rpartition(".")
    if not module_part or not func_name:
        raise _InitError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': not enough values to unpack")
    module_name = module_part.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", exc) from exc
    except Exception as exc:  # noqa: BLE001 - an error at import time is an init error
        raise _InitError(type(exc).__name__, str(exc), exc) from exc
    func = getattr(module, func_name, None)
    if func is None:
        raise _InitError("Runtime.HandlerNotFound", f"Handler '{func_name}' missing on module '{module_name}'")
    return func


class _InitError(Exception):
    def __init__(self, error_type: str, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.cause = cause


#: DynamoDB operations that write items (the ``applier-crash`` fault counts these)
_WRITES = frozenset({"BatchWriteItem", "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"})
#: writes left before this invocation dies (None: not armed)
_crash: dict = {"left": None}


def _die() -> None:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    os.kill(os.getpid(), signal.SIGKILL)


def _arm_crash(writes: int) -> None:
    """Count the handler's DynamoDB writes (botocore is the handler's, imported by it) and die after ``writes``."""
    _crash["left"] = writes
    client = sys.modules.get("botocore.client")
    if client is None or getattr(client.BaseClient, "_sandbox_write_hook", False):
        return
    original = client.BaseClient._make_api_call

    def _make_api_call(self, operation_name, api_params):
        result = original(self, operation_name, api_params)
        if _crash["left"] is not None and operation_name in _WRITES:
            if self.meta.service_model.service_name == "dynamodb":
                _crash["left"] -= 1
                if _crash["left"] <= 0:
                    _die()
        return result

    client.BaseClient._make_api_call = _make_api_call
    client.BaseClient._sandbox_write_hook = True


def _watch_parent() -> None:
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def main() -> int:
    proto_in = os.fdopen(os.dup(0), "r", encoding="utf-8", newline="\n")
    proto_out = os.fdopen(os.dup(1), "w", encoding="utf-8", newline="\n")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    threading.Thread(target=_watch_parent, name="watch-parent", daemon=True).start()

    root = logging.getLogger()
    handler = _LambdaLogHandler()
    handler.addFilter(_RequestIdFilter())
    root.addHandler(handler)

    def reply(obj: dict) -> None:
        proto_out.write(json.dumps(obj) + "\n")
        proto_out.flush()

    def mark(tag: str) -> None:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
        os.write(2, f"\0{token} {tag}\n".encode())

    first = proto_in.readline()
    if not first:
        return 0
    token = json.loads(first)["mark"]
    try:
        func = _load_handler(os.environ.get("_HANDLER", ""))
    except _InitError as exc:
        err = _error(exc.cause or exc, exc.error_type, exc.message)
        _log_error(err)
        mark("init")
        reply({"type": "init_error", "error": err})
        return 1
    mark("init")
    reply({"type": "ready"})

    while True:
        line = proto_in.readline()
        if not line:
            return 0
        req = json.loads(line)
        if req.get("type") != "invoke":
            continue
        request_id = req["id"]
        _state["request_id"] = request_id
        if req.get("credentials"):
            # the execution role's renewed credentials: botocore's environment provider reads them
            # again when the ones it holds near AWS_CREDENTIAL_EXPIRATION
            os.environ.update(req["credentials"])
        context = LambdaContext(request_id, int(req["deadline_ms"]), req.get("invoked_function_arn", ""))
        _crash["left"] = None
        if req.get("crash_after_writes"):
            _arm_crash(int(req["crash_after_writes"]))
        try:
            payload = func(req.get("event"), context)
            try:
                body = json.dumps(
                    {"type": "result", "id": request_id, "ok": True, "payload": payload}, default=_decimal_default
                )
            except (TypeError, ValueError) as exc:
                err = _error(exc, "Runtime.MarshalError", f"Unable to marshal response: {exc}")
                _log_error(err)
                body = json.dumps({"type": "result", "id": request_id, "ok": False, "error": err})
        except Exception as exc:  # noqa: BLE001 - the handler's error is the invocation's result
            err = _error(exc)
            _log_error(err)
            body = json.dumps({"type": "result", "id": request_id, "ok": False, "error": err})
        if _crash["left"] is not None:
            _die()  # fewer writes than planned: it dies before it returns
        mark(request_id)
        _state["request_id"] = ""
        proto_out.write(body + "\n")
        proto_out.flush()


if __name__ == "__main__":
    sys.exit(main())

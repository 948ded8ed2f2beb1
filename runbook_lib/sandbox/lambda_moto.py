"""What the sandbox's Lambda runtime takes over in moto, and how it reads moto's state (part of
``lambda_runtime``).

moto runs Lambda code only in Docker, which the sandbox does not have; and moto's own stream hook
(``StreamShard.add``) invokes every mapping of a table on every write, without looking at
``Enabled``, and empties the shard when that returns. ``install()`` (idempotent, process-wide, like
moto's backends) patches moto:

- ``StreamShard.add`` only appends the ``StreamRecord`` (sequence number ``len(items) + start``, as
  moto numbers them; since the shard is never emptied, numbers are never reused). The stored record
  carries the table's region in ``awsRegion`` and ``eventVersion`` "1.1", as on AWS.
- SQS queues no longer invoke mappings when a message is sent (``Queue.add_message`` would receive,
  invoke and make the messages visible again, bumping their receive count): a queue's
  ``lambda_event_source_mappings`` is an always-empty dict.
- ``create_event_source_mapping`` remembers the shard length when a stream mapping is created
  (``StartingPosition: LATEST`` starts there).
- ``LambdaFunction.invoke`` (the ``Invoke`` API, and moto's internal SNS / CloudWatch Logs
  subscription deliveries) runs the code through the active runtime: ``RequestResponse``
  synchronously (``X-Amz-Function-Error: Unhandled`` and the error document on failure, the last
  4 KB of the log with ``LogType: Tail``), ``Event`` in the background (202), ``DryRun`` not at all.
- ``MotoAPIBackend.reset`` (``POST /moto-api/reset``, from any process) first pauses the runtime,
  kills its workers and forgets its positions, so that no poller touches objects moto is wiping.

The lookups below read moto's backends afresh every time: a reset replaces every backend object.
"""

from __future__ import annotations

import atexit
import base64
import logging
import shutil
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Iterator

log = logging.getLogger(__name__)

_installed = False
_install_lock = threading.Lock()
_shard_lock = threading.Lock()
#: mapping UUID -> number of records in the shard when the mapping was created (for LATEST)
latest_at_creation: dict[str, int] = {}
_active: Any = None  # the LambdaRuntime that runs the code (one per process)
_runtimes: weakref.WeakSet = weakref.WeakSet()
_originals: dict[str, Any] = {}


def activate(runtime: Any) -> None:
    """Make ``runtime`` the one the patched paths (``Invoke``, reset) reach."""
    global _active
    _runtimes.add(runtime)
    _active = runtime


def deactivate(runtime: Any) -> None:
    global _active
    if _active is runtime:
        _active = None


def active() -> Any:
    """The active ``LambdaRuntime``, or None."""
    return _active


def install() -> None:
    """Take over moto's Lambda paths (see the module docstring). Idempotent; process-wide."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.awslambda.models import LambdaBackend, LambdaFunction
        from moto.dynamodb.models.table import StreamShard
        from moto.moto_api._internal.models import MotoAPIBackend
        from moto.sqs.models import Queue

        StreamShard.add = _shard_add
        # moto's Queue.add_message invokes every enabled mapping of the queue on every send;
        # mappings are polled here instead, so the queue never sees one.
        Queue.lambda_event_source_mappings = property(lambda self: {}, lambda self, value: None)
        _originals["create_esm"] = LambdaBackend.create_event_source_mapping
        LambdaBackend.create_event_source_mapping = _create_event_source_mapping
        _originals["invoke"] = LambdaFunction.invoke
        LambdaFunction.invoke = _function_invoke
        LambdaFunction.__init__ = _keeps_logging_config(LambdaFunction.__init__)
        LambdaFunction.get_configuration = _answers_logging_config(LambdaFunction.get_configuration)
        LambdaFunction.update_configuration = _updates_logging_config(LambdaFunction.update_configuration)
        _originals["api_reset"] = MotoAPIBackend.reset
        MotoAPIBackend.reset = _api_reset
        atexit.register(_kill_all_workers)
        _installed = True


def logging_config(fn: Any) -> dict[str, str]:
    """The function's ``LoggingConfig`` as Lambda answers it: ``LogFormat`` Text and ``LogGroup``
    ``/aws/lambda/<name>`` unless given."""
    given = dict(getattr(fn, "_sandbox_logging_config", None) or {})
    given.setdefault("LogFormat", "Text")
    if not given.get("LogGroup"):
        given["LogGroup"] = f"/aws/lambda/{fn.function_name}"
    return given


def _keeps_logging_config(original):
    def __init__(self, account_id, spec, *args, **kwargs):
        original(self, account_id, spec, *args, **kwargs)
        self._sandbox_logging_config = dict(spec.get("LoggingConfig") or {})

    return __init__


def _answers_logging_config(original):
    def get_configuration(self, *args, **kwargs):
        config = original(self, *args, **kwargs)
        if getattr(self, "_sandbox_logging_config", None):  # only when given: no invented default
            config["LoggingConfig"] = logging_config(self)
        return config

    return get_configuration


def _updates_logging_config(original):
    def update_configuration(self, config_updates):
        if "LoggingConfig" in config_updates:
            merged = dict(getattr(self, "_sandbox_logging_config", None) or {})
            merged.update(config_updates["LoggingConfig"] or {})
            self._sandbox_logging_config = merged
        return original(self, {k: v for k, v in config_updates.items() if k != "LoggingConfig"})

    return update_configuration


def _shard_add(self: Any, old: Any, new: Any) -> None:
    """Append the stream record; never invoke mappings, never empty the shard."""
    from moto.dynamodb.models.table import StreamRecord

    view_type = self.table.stream_specification["StreamViewType"]
    if old is None:
        event_name = "INSERT"
    elif new is None:
        event_name = "REMOVE"
    else:
        event_name = "MODIFY"
    with _shard_lock:
        seq = len(self.items) + self.starting_sequence_number
        record = StreamRecord(self.table, view_type, event_name, old, new, seq)
        record.record["awsRegion"] = self.table.region_name
        record.record["eventVersion"] = "1.1"
        # moto keeps binary key values as base64 text (the images hold bytes), so GetRecords
        # encoded them twice; hold bytes like the images do
        for value in record.record["dynamodb"].get("Keys", {}).values():
            if "B" in value and isinstance(value["B"], str):
                value["B"] = base64.b64decode(value["B"])
        self.items.append(record)


def _create_event_source_mapping(self: Any, spec: dict[str, Any]) -> Any:
    esm = _originals["create_esm"](self, spec)
    try:
        if service_of(esm.event_source_arn) == "dynamodb":
            source = stream_source(esm.account_id, esm.event_source_arn)
            if source is not None:
                latest_at_creation[esm.uuid] = len(source[1].items)
    except Exception:  # noqa: BLE001 - never fail the API call for our bookkeeping
        log.exception("could not note the stream position of mapping %s", getattr(esm, "uuid", "?"))
    return esm


def _function_invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
    runtime = _active
    if runtime is None:
        return _originals["invoke"](self, body, request_headers, response_headers)
    return runtime._invoke_api(self, body, request_headers, response_headers)


def _api_reset(self: Any) -> None:
    runtime = _active
    if runtime is None:
        return _originals["api_reset"](self)
    runtime._pause()
    try:
        return _originals["api_reset"](self)
    finally:
        runtime._resume()


def _kill_all_workers() -> None:
    """At interpreter exit: no orphan workers, no extracted code left behind."""
    for runtime in list(_runtimes):
        try:
            runtime._kill_workers()
            if runtime._tmp is not None:
                shutil.rmtree(runtime._tmp, ignore_errors=True)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass



def _default_account() -> str:
    from moto.core import DEFAULT_ACCOUNT_ID

    return DEFAULT_ACCOUNT_ID


def lambda_backend_dict() -> Any:
    from moto.core.config import default_user_config

    if default_user_config.get("lambda", {}).get("use_docker", True) is False:
        from moto.awslambda_simple.models import lambda_simple_backends

        return lambda_simple_backends
    from moto.awslambda.models import lambda_backends

    return lambda_backends


def all_mappings() -> Iterator[Any]:
    backends = lambda_backend_dict()
    account = _default_account()
    for _ in range(3):
        try:
            regional = list(backends[account].values())
            break
        except RuntimeError:  # a region was added while listing
            continue
    else:
        return
    for backend in regional:
        yield from list(backend._event_source_mappings.values())


def backend_of(backends: Any, account: str, region: str) -> Any:
    """``backends[account][region]`` without moto's process-wide lock when the account exists:
    moto's ``BackendDict.__getitem__`` takes a global lock and compares itself with every backend
    dict there is, on every lookup (the runtime looks up a few per invocation)."""
    try:
        regional = dict.__getitem__(backends, account)
    except KeyError:
        regional = backends[account]
    return regional[region]


def mapping_of(account: str, region: str, uuid: str) -> Any | None:
    try:
        return backend_of(lambda_backend_dict(), account, region).get_event_source_mapping(uuid)
    except Exception:  # noqa: BLE001
        return None


def service_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 else ""


def arn_region(arn: str) -> str:
    return arn.split(":")[3]


def stream_source(account: str, stream_arn: str) -> tuple[Any, Any] | None:
    """(table, shard) for a stream ARN, if that stream is still the table's current stream."""
    from moto.dynamodb.models import dynamodb_backends

    parts = stream_arn.split(":", 5)
    if len(parts) < 6 or "/stream/" not in parts[5]:
        return None
    table_name = parts[5].split("/")[1]
    table = backend_of(dynamodb_backends, account, parts[3]).tables.get(table_name)
    if table is None or table.stream_shard is None or not table.latest_stream_label:
        return None
    if f"{table.table_arn}/stream/{table.latest_stream_label}" != stream_arn:
        return None
    return table, table.stream_shard


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

"""Faults the sandbox can inject on purpose, so that a drill proves the pipeline against them.

AWS does these things on its own schedule (an entry of ``SendMessageBatch`` fails, a stream batch
is retried after SQS's deduplication window, an invocation dies mid-batch, a table throttles, a
CloudTrail event is never delivered); the sandbox does them when asked. Each sandbox extension
that can inject a fault registers it here with :func:`register` (name, what it does, its
parameters and their defaults) and, where it acts, asks :func:`active` for its parameters and
records what it did with :func:`note`.

A running sandbox exposes the registry over HTTP (``server.py``):

- ``GET /_sandbox/faults``: ``{"available": {name: {description, params}}, "active": {name:
  params}, "events": {name: {what: count}}}``;
- ``POST /_sandbox/faults`` with ``{"enable": {name: {param: value}}}``, ``{"disable": [name]}``
  or ``{"clear": true}`` (any combination, applied in that order); answers as ``GET``. An unknown
  name or parameter answers HTTP 400 and changes nothing.

``POST /moto-api/reset`` clears active faults and their events, like every other sandbox state.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


class FaultError(ValueError):
    """An unknown fault or parameter: nothing was changed."""


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    #: parameter name -> default value (its type is the type the value is coerced to)
    params: dict[str, Any] = field(default_factory=dict)


_lock = threading.Lock()
_registry: dict[str, Fault] = {}
_active: dict[str, dict[str, Any]] = {}
_events: dict[str, Counter] = {}


def register(name: str, description: str, **params: Any) -> Fault:
    """Declare a fault (idempotent: the same name registers once, the last description wins)."""
    fault = Fault(name, description, dict(params))
    with _lock:
        _registry[name] = fault
    return fault


#: the sandbox extension modules; each one that can inject a fault registers it on import.
#: Installed in this order, each wrapping what the ones before it wrapped: ``capacity`` first, so
#: that validation errors and a CREATING table are answered before any capacity is spent. The
#: speed-ups and SQS fixes after it patch moto methods no other extension wraps before them.
EXTENSIONS = (
    "capacity",
    "dynamodb_returns",
    "speed_routing",
    "speed_models",
    "speed_dynamodb",
    "dynamodb_segments",
    "sqs_clock",
    "speed_sqs",
    "sqs_fifo",
    "sqs_thread_safety",
    "sqs_partial_send",
    "pitr",
    "dynamodb_exports",
    "validation",
    "events",
    "cloudtrail_org",
    "lambda_runtime",
    "sqs_redrive",
    "stats",
    "table_settings",
    "cfn_dynamodb",
    "app_autoscaling",
    "stepfunctions",
    "secrets",
    "cfn_schedule",
    "s3_default_encryption",
    "ssm_parameters",
    "iam_auth",
    "iam_simulate",
    "dynamodb_transactions",
    "dynamodb_upsert",
    "dynamodb_partiql",
    "dynamodb_stream_records",
    "dynamodb_projections",
    "dynamodb_answers",
    "dynamodb_stream_history",
)


def _load_extensions() -> None:
    import importlib

    from .extra import require_sandbox_extra

    require_sandbox_extra()  # without moto: one line naming the remedy, not an ImportError
    for module in EXTENSIONS:
        importlib.import_module(f"{__package__}.{module}")


def available() -> dict[str, Fault]:
    _load_extensions()
    with _lock:
        return dict(sorted(_registry.items()))


def _coerce(fault: Fault, given: dict[str, Any] | None) -> dict[str, Any]:
    values = dict(fault.params)
    for key, value in (given or {}).items():
        if key not in fault.params:
            known = ", ".join(sorted(fault.params)) or "none"
            raise FaultError(f"fault {fault.name!r} has no parameter {key!r} (parameters: {known})")
        default = fault.params[key]
        try:
            values[key] = type(default)(value) if default is not None and not isinstance(default, bool) else (
                value if not isinstance(default, bool) else _as_bool(value)
            )
        except (TypeError, ValueError):
            raise FaultError(f"fault {fault.name!r}: {key} must be {type(default).__name__}") from None
    return values


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def configure(body: dict[str, Any]) -> None:
    """Apply ``{"enable": {...}, "disable": [...], "clear": bool}``; all or nothing."""
    if not isinstance(body, dict):
        raise FaultError("the body must be a JSON object")
    unknown = set(body) - {"enable", "disable", "clear"}
    if unknown:
        raise FaultError(f"unknown field(s) {sorted(unknown)}: use enable, disable, clear")
    registry = available()
    enable = body.get("enable") or {}
    if isinstance(enable, list):
        enable = {name: {} for name in enable}
    disable = body.get("disable") or []
    planned: dict[str, dict[str, Any]] = {}
    for name, given in enable.items():
        if name not in registry:
            raise FaultError(f"unknown fault {name!r} (faults: {', '.join(registry) or 'none'})")
        planned[name] = _coerce(registry[name], given)
    for name in disable:
        if name not in registry:
            raise FaultError(f"unknown fault {name!r} (faults: {', '.join(registry) or 'none'})")
    with _lock:
        if body.get("clear"):
            _active.clear()
            _events.clear()
        for name in disable:
            _active.pop(name, None)
        for name, values in planned.items():
            _active[name] = values
            _events.setdefault(name, Counter())


def enable(name: str, **params: Any) -> None:
    configure({"enable": {name: params}})


def disable(name: str) -> None:
    configure({"disable": [name]})


def clear() -> None:
    with _lock:
        _active.clear()
        _events.clear()


def active(name: str) -> dict[str, Any] | None:
    """The parameters of fault ``name`` if it is on, else None. Cheap: called on hot paths."""
    values = _active.get(name)
    return dict(values) if values is not None else None


def note(name: str, what: str, count: int = 1) -> None:
    """Record that fault ``name`` did ``what`` (``count`` times): read back in the drill's summary."""
    with _lock:
        _events.setdefault(name, Counter())[what] += count


def snapshot() -> dict[str, Any]:
    registry = available()
    with _lock:
        return {
            "available": {n: {"description": f.description, "params": f.params} for n, f in registry.items()},
            "active": {n: dict(v) for n, v in _active.items()},
            "events": {n: dict(c) for n, c in _events.items()},
        }

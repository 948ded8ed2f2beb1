"""Replay: the applier's queue mapping turned on and off, and the replay start R (the applier's
``REPLAY_FROM``). Each change waits for the function's own update to settle first (the sample's
race: a mapping change while the function's configuration is updated fails), and then for the
mapping or the function to reach the state asked for."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ..aws.clients import AwsTarget
from ..aws.codes import error_code
from ..aws.waiting import Deadline, interval, poll
from ..errors import BufferError
from ..times import iso, to_utc
from .feedback import Progress, aws_failure, say, timed_out
from .stacks import BufferStack

_MAPPING_SETTLED = {"Enabled", "Disabled"}
#: A mapping change refused for one of these is retried until the deadline.
_MAPPING_BUSY = ("ResourceInUseException", "ResourceConflictException", "TooManyRequestsException")
#: A function update refused for one of these (someone changed it between our read and our write) is read again.
_FUNCTION_CHANGED = ("PreconditionFailedException", "ResourceConflictException")


def function_settled(target: AwsTarget, function_name: str, *, timeout: float, progress: Progress | None) -> dict:
    """Wait while the function is being created or updated (the sample's race); its configuration."""
    lam = target.client("lambda")
    announced = False

    def check() -> dict | None:
        nonlocal announced
        try:
            config = lam.get_function_configuration(FunctionName=function_name)
        except ClientError as exc:
            raise aws_failure(exc, f"GetFunctionConfiguration {function_name}", "is the buffer deployed?") from exc
        if config.get("State") == "Pending" or config.get("LastUpdateStatus") == "InProgress":
            if not announced:
                say(progress, f"waiting for the update of {function_name} to finish")
                announced = True
            return None
        return config

    return poll(
        check,
        timeout=timeout,
        interval=interval(target, 2.0),
        on_timeout=timed_out(timeout, f"the update of function {function_name}", "check the function in the Lambda console, then retry"),
    )


def set_replay_start(
    target: AwsTarget,
    stack: BufferStack,
    replay_from: datetime | str | None,
    *,
    timeout: float = 300.0,
    progress: Progress | None = None,
) -> str:
    """Set the applier's ``REPLAY_FROM`` (None = replay everything); keep its other variables.

    Waits until the update is ``Successful``. Returns the value set. The stack's ``ReplayFrom``
    parameter keeps its deployed value: a later :func:`deploy` that changes that parameter
    overrides this.
    """
    when = to_utc(replay_from, "replay_from")
    value = iso(when) if when else ""
    fn = stack.applier_function_name
    lam = target.client("lambda")
    deadline = Deadline(timeout)
    while True:
        config = function_settled(target, fn, timeout=deadline.remaining(1.0), progress=progress)
        env = dict((config.get("Environment") or {}).get("Variables") or {})
        if env.get("REPLAY_FROM", "") == value and config.get("LastUpdateStatus", "Successful") == "Successful":
            return value
        env["REPLAY_FROM"] = value
        say(progress, f"setting REPLAY_FROM={value or '(all)'} on {fn}")
        try:
            kwargs: dict[str, Any] = {"FunctionName": fn, "Environment": {"Variables": env}}
            if config.get("RevisionId"):
                kwargs["RevisionId"] = config["RevisionId"]
            lam.update_function_configuration(**kwargs)
            break
        except ClientError as exc:
            if error_code(exc) in _FUNCTION_CHANGED and not deadline.passed():
                time.sleep(interval(target, 1.0))
                continue
            raise aws_failure(exc, f"UpdateFunctionConfiguration {fn}", "retry set_replay_start") from exc
    config = function_settled(target, fn, timeout=deadline.remaining(1.0), progress=progress)
    if config.get("LastUpdateStatus", "Successful") != "Successful":
        raise BufferError(
            f"the update of {fn} ended {config.get('LastUpdateStatus')}: "
            f"{config.get('LastUpdateStatusReason', 'no reason given')}; retry set_replay_start",
            code=config.get("LastUpdateStatusReasonCode"),
            step="buffer",
        )
    got = ((config.get("Environment") or {}).get("Variables") or {}).get("REPLAY_FROM", "")
    if got != value:
        raise BufferError(f"{fn} has REPLAY_FROM={got!r} after the update, not {value!r}: retry", step="buffer")
    return value


def mapping(target: AwsTarget, uuid: str) -> dict[str, Any]:
    """``GetEventSourceMapping``; a failure is a :class:`BufferError` asking whether the buffer is deployed."""
    try:
        return target.client("lambda").get_event_source_mapping(UUID=uuid)
    except ClientError as exc:
        raise aws_failure(exc, f"GetEventSourceMapping {uuid}", "is the buffer deployed?") from exc


def mapping_state_or_none(target: AwsTarget, stack: BufferStack) -> str | None:
    """The queue mapping's state; None when the stack names none or it cannot be read."""
    uuid = stack.outputs.get("QueueMappingUuid")
    if not uuid:
        return None
    try:
        return target.client("lambda").get_event_source_mapping(UUID=uuid).get("State")
    except ClientError:
        return None


def _set_mapping(
    target: AwsTarget, stack: BufferStack, *, enabled: bool, timeout: float, progress: Progress | None
) -> str:
    uuid = stack.queue_mapping_uuid
    want = "Enabled" if enabled else "Disabled"
    lam = target.client("lambda")
    deadline = Deadline(timeout)
    remedy = "check the mapping in the Lambda console, then retry"

    # The sample's race: a mapping change while the function's configuration is being updated
    # fails (ResourceConflictException). Wait for any update first.
    function_settled(target, stack.applier_function_name, timeout=deadline.remaining(1.0), progress=progress)

    def settled() -> str | None:
        state = mapping(target, uuid).get("State", "")
        return state if state in _MAPPING_SETTLED else None

    wait = deadline.remaining(1.0)
    state = poll(
        settled, timeout=wait, interval=interval(target, 2.0), on_timeout=timed_out(wait, f"mapping {uuid} to settle", remedy)
    )
    if state == want:
        return state
    say(progress, f"{'enabling' if enabled else 'disabling'} replay (queue mapping {uuid})")
    while True:
        try:
            lam.update_event_source_mapping(UUID=uuid, Enabled=enabled)
            break
        except ClientError as exc:
            if error_code(exc) in _MAPPING_BUSY and not deadline.passed():
                time.sleep(interval(target, 2.0))
                continue
            raise aws_failure(exc, f"UpdateEventSourceMapping {uuid}", "retry") from exc

    def reached() -> str | None:
        m = mapping(target, uuid)
        state = m.get("State", "")
        if state == want:
            return state
        if state in _MAPPING_SETTLED:
            raise BufferError(
                f"queue mapping {uuid} went back to {state} ({m.get('StateTransitionReason', '')}): "
                "something else changed it; check the mapping and retry",
                step="buffer",
            )
        return None

    wait = deadline.remaining(1.0)
    state = poll(
        reached, timeout=wait, interval=interval(target, 2.0), on_timeout=timed_out(wait, f"mapping {uuid} to be {want}", remedy)
    )
    say(progress, f"replay {'on' if enabled else 'off'}: queue mapping {state}")
    return state


def enable_replay(
    target: AwsTarget, stack: BufferStack, *, timeout: float = 300.0, progress: Progress | None = None
) -> str:
    """Turn replay on (the queue mapping); waits for ``Enabled``. Returns the mapping state."""
    return _set_mapping(target, stack, enabled=True, timeout=timeout, progress=progress)


def disable_replay(
    target: AwsTarget, stack: BufferStack, *, timeout: float = 300.0, progress: Progress | None = None
) -> str:
    """Turn replay off; waits for ``Disabled``. Messages stay in the queue."""
    return _set_mapping(target, stack, enabled=False, timeout=timeout, progress=progress)

"""Step Functions executions as AWS bounds them: the history limit, history pages, execution names
(pure functions: ``stepfunctions.py`` applies them to moto).

**History.** A standard execution fails when its history would exceed 25,000 events: event
25,000 is ``ExecutionFailed`` with error ``States.Runtime`` and cause "The execution reached the
maximum number of history events (25000)." unless it is ``ExecutionSucceeded`` (developer guide,
"Avoid reaching the history quota", https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html;
the error and cause as AWS reports them, loads/ardere#86). ``States.ALL`` cannot catch a Runtime
error ("Handling errors in Step Functions workflows",
https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html), so no retrier
or catcher runs. ``GetExecutionHistory`` pages: ``maxResults`` 0 or absent means 100, at most
1,000; ``nextToken`` continues, ``reverseOrder`` reverses (API reference, GetExecutionHistory,
https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html); a
token handed out for another execution or order is ``InvalidToken``; ``maxResults`` over 1,000 is
``ValidationException`` (the service's constraint error; botocore's model does not list it for
this operation, and which code AWS answers there is not documented).

**Execution names** on the interpreter path: a start without a name gets a UUID (moto's
interpreter used ``None``); a name is 1 to 80 characters (longer: ``ValidationException``) without
white space, ``< > { } [ ] ? * " # % \\ ^ | ~ ` $ & , ; : /``, control characters
(U+0000-001F, U+007F-009F, U+FFFE-FFFF) or surrogates (``InvalidName``) (API reference,
StartExecution, ``name``).

Where it still differs from AWS: the history limit is applied to events of the execution's own
frame (Map and Parallel iterations count, but their failure is reported by moto's Map/Parallel
handling); the ``nextToken`` never expires (AWS: 24 hours); ``includeExecutionData`` is ignored.
"""

from __future__ import annotations

import base64
import json

HISTORY_LIMIT = 25_000
HISTORY_LIMIT_ERROR = "States.Runtime"
HISTORY_LIMIT_CAUSE = f"The execution reached the maximum number of history events ({HISTORY_LIMIT})."
_TERMINAL_EVENTS = frozenset(["ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"])

HISTORY_PAGE_DEFAULT = 100
HISTORY_PAGE_MAX = 1000


class HistoryTokenError(ValueError):
    """A ``nextToken`` this execution and these arguments did not hand out."""


def _token(execution_arn: str, reverse: bool, last_id: int) -> str:
    raw = json.dumps({"a": execution_arn, "r": reverse, "i": last_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _read_token(token: str, execution_arn: str, reverse: bool) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["a"] != execution_arn or bool(data["r"]) != reverse:
            raise HistoryTokenError(token)
        return int(data["i"])
    except HistoryTokenError:
        raise
    except Exception:  # noqa: BLE001 - any malformed token is AWS's InvalidToken
        raise HistoryTokenError(token) from None


def history_page(
    events: list[dict], *, execution_arn: str, max_results: int | None, reverse: bool, next_token: str | None
) -> tuple[list[dict], str | None]:
    """One page of an execution's events, and the token for the next page (None at the end).

    Tokens carry the id of the last event handed out, so pages stay exact while a running
    execution adds events. ``max_results`` must already be within 0..1000.
    """
    size = max_results or HISTORY_PAGE_DEFAULT
    ordered = sorted(events, key=lambda e: e["id"], reverse=reverse)
    if next_token:
        last = _read_token(next_token, execution_arn, reverse)
        ordered = [e for e in ordered if (e["id"] < last if reverse else e["id"] > last)]
    page = ordered[:size]
    more = len(ordered) > size
    return page, (_token(execution_arn, reverse, page[-1]["id"]) if more and page else None)


# ========================================================================== rules: names
_NAME_FORBIDDEN = set(" \t\n\r\x0b\x0c<>{}[]?*\"#%\\^|~`$&,;:/")


def execution_name_problem(name: str) -> str | None:
    """Why StartExecution refuses ``name``: ``"length"``, ``"characters"``, or None when it is valid."""
    if len(name) < 1 or len(name) > 80:
        return "length"
    for ch in name:
        code = ord(ch)
        if (
            ch in _NAME_FORBIDDEN
            or ch.isspace()
            or code <= 0x1F
            or 0x7F <= code <= 0x9F
            or 0xD800 <= code <= 0xDFFF
            or code in (0xFFFE, 0xFFFF)
        ):
            return "characters"
    return None

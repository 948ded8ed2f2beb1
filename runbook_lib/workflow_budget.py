"""How many history events a Step Functions workflow can write: computed from its definition.

A standard execution holds at most 25,000 history events; the event that would be number 25,000,
unless it is ``ExecutionSucceeded``, fails the execution with ``States.Runtime`` (Step Functions
developer guide, "Avoid reaching the history quota",
https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html). The enable-replay
workflow polls ``DescribeTable`` in a loop, so its parameters decide whether a long restore fits.

:func:`worst_case_events` walks a rendered definition (the subset of the Amazon States Language
the workflow uses: Pass with ``Parameters`` and ``States.MathAdd``, Choice rules, Wait with
``Seconds``/``SecondsPath``, Task, Succeed, Fail) for a scenario that says what each Task puts at
its ``ResultPath``, and counts the events AWS writes, taking every Task's retriers at their most
(``MaxAttempts``, 3 when absent): ``ExecutionStarted``; Pass, Choice and Wait: entered and exited;
Task: entered, then scheduled, started and failed per retry, scheduled, started and succeeded,
then exited; Succeed: entered, exited, ``ExecutionSucceeded``; Fail: entered, ``ExecutionFailed``
(developer guide, "Viewing execution details", event types: API reference, HistoryEvent).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

HISTORY_LIMIT = 25_000

#: what a Task hands on at its ResultPath, given how many times it has run before (0, 1, ...)
Scenario = Mapping[str, Callable[[int], Any]]


class UnsupportedDefinition(ValueError):
    """The definition uses something this walker does not evaluate."""


@dataclass(frozen=True)
class Walk:
    events: int  #: history events, retries at their most
    events_without_retries: int  #: the same path when no call fails
    end_state: str
    runs: dict[str, int]  #: state name -> how many times it was entered
    waited_seconds: int


def _path_get(data: Any, path: str) -> Any:
    if path == "$":
        return data
    if not path.startswith("$."):
        raise UnsupportedDefinition(f"path {path!r}")
    node = data
    for part in path[2:].split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def _path_set(data: Any, path: str | None, value: Any) -> Any:
    if path is None:
        return data
    if path == "$":
        return value
    out = dict(data) if isinstance(data, dict) else {}
    node = out
    parts = path[2:].split(".")
    for part in parts[:-1]:
        node[part] = dict(node.get(part) or {})
        node = node[part]
    node[parts[-1]] = value
    return out


_MATH_ADD = re.compile(r"States\.MathAdd\(\s*([^,]+?)\s*,\s*([^)]+?)\s*\)")


def _argument(data: Any, text: str) -> Any:
    return _path_get(data, text) if text.startswith("$") else json.loads(text)


def _payload(template: Any, data: Any) -> Any:
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                match = _MATH_ADD.fullmatch(value)
                if match:
                    out[key[:-2]] = _argument(data, match.group(1)) + _argument(data, match.group(2))
                elif value.startswith("$"):
                    out[key[:-2]] = _path_get(data, value)
                else:
                    raise UnsupportedDefinition(f"intrinsic {value!r}")
            else:
                out[key] = _payload(value, data)
        return out
    if isinstance(template, list):
        return [_payload(v, data) for v in template]
    return template


_COMPARE = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}


def _rule(rule: Mapping[str, Any], data: Any) -> bool:
    if "And" in rule:
        return all(_rule(r, data) for r in rule["And"])
    if "Or" in rule:
        return any(_rule(r, data) for r in rule["Or"])
    if "Not" in rule:
        return not _rule(rule["Not"], data)
    try:
        value = _path_get(data, rule["Variable"])
    except KeyError:
        return False
    for key, expected in rule.items():
        match = re.fullmatch(r"(String|Numeric|Boolean|Timestamp)(Equals|LessThan|GreaterThan|LessThanEquals|GreaterThanEquals)(Path)?", key)
        if match:
            other = _path_get(data, expected) if match.group(3) else expected
            return _COMPARE[match.group(2)](value, other)
    raise UnsupportedDefinition(f"choice rule {sorted(rule)}")


def _retries(task: Mapping[str, Any]) -> int:
    return sum(int(r.get("MaxAttempts", 3)) for r in task.get("Retry", []))


def walk(definition: Mapping[str, Any], scenario: Scenario, *, stop_after: int = HISTORY_LIMIT * 2) -> Walk:
    """Follow ``definition`` from ``StartAt`` with ``scenario``'s task results, counting events.

    Stops (and reports the count so far) once ``stop_after`` events are passed, so that
    parameters far over the limit cost little to refuse.
    """
    states = definition["States"]
    name = definition["StartAt"]
    data: Any = {}
    events = plain = 1  # ExecutionStarted
    runs: dict[str, int] = {}
    waited = 0
    while events <= stop_after:
        state = states[name]
        runs[name] = runs.get(name, 0) + 1
        kind = state["Type"]
        if kind == "Succeed":
            return Walk(events + 3, plain + 3, name, runs, waited)
        if kind == "Fail":
            return Walk(events + 2, plain + 2, name, runs, waited)
        if kind == "Pass":
            events += 2
            plain += 2
            result = _payload(state["Parameters"], data) if "Parameters" in state else state.get("Result", data)
            data = _path_set(data, state.get("ResultPath", "$"), result)
        elif kind == "Wait":
            events += 2
            plain += 2
            waited += int(_path_get(data, state["SecondsPath"]) if "SecondsPath" in state else state["Seconds"])
        elif kind == "Task":
            events += 2 + 3 * (1 + _retries(state))
            plain += 5
            if name not in scenario:
                raise UnsupportedDefinition(f"no scenario for task {name!r}")
            data = _path_set(data, state.get("ResultPath", "$"), scenario[name](runs[name] - 1))
        elif kind == "Choice":
            events += 2
            plain += 2
            name = next((r["Next"] for r in state["Choices"] if _rule(r, data)), state.get("Default"))
            if name is None:
                raise UnsupportedDefinition("a Choice without a matching rule or Default (States.NoChoiceMatched)")
            continue
        else:
            raise UnsupportedDefinition(f"state type {kind}")
        if state.get("End"):
            return Walk(events + 1, plain + 1, name, runs, waited)
        name = state["Next"]
    return Walk(events, plain, name, runs, waited)


def enable_replay_worst_case(definition: Mapping[str, Any], *, stop_after: int = HISTORY_LIMIT * 2) -> Walk:
    """The most events the enable-replay workflow can write: the table stays CREATING to the last
    poll the budget allows, then either times out or turns ACTIVE and replay is enabled (every call
    retried at its most); the larger of the two."""
    creating = walk(definition, {"DescribeTarget": lambda n: {"status": "CREATING"}, "EnableReplay": lambda n: {}}, stop_after=stop_after)
    polls = creating.runs.get("DescribeTarget", 0)
    if creating.events > stop_after:
        return creating
    active_last = walk(
        definition,
        {
            "DescribeTarget": lambda n: {"status": "ACTIVE" if n >= polls - 1 else "CREATING"},
            "EnableReplay": lambda n: {"uuid": "u", "state": "Enabling"},
        },
        stop_after=stop_after,
    )
    return max(creating, active_last, key=lambda w: w.events)


__all__ = ["HISTORY_LIMIT", "UnsupportedDefinition", "Walk", "enable_replay_worst_case", "walk"]

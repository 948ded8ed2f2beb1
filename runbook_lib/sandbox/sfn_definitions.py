"""Step Functions' check of a state machine definition's aws-sdk tasks (pure functions:
``stepfunctions.py`` runs them at ``CreateStateMachine`` / ``UpdateStateMachine``).

AWS refuses a definition whose aws-sdk task names a field the service's API does not have under
the SDK naming rule (``sfn_sdk_naming.py``): ``InvalidDefinition`` "Invalid State Machine
Definition: 'SCHEMA_VALIDATION_FAILED: The field "UUID" is not supported by Step Functions at
/States/EnableReplay/Parameters'" (seen on AWS at deployment, aws/aws-cdk#29968; the developer
guide, "Passing parameters to a service API", quotes the same sentence). Every aws-sdk task's
``Parameters`` (and ``Arguments``) are checked against the operation's input shape in botocore's
model, in Parallel branches and Map processors too: nested structures and lists, ``Key.$`` as
``Key``; map keys are data, not fields.

Where it still differs from AWS: services or actions the sandbox's botocore does not know are not
checked; a misnamed field inside a ``Parameters`` value that is itself a path (``X.$``) or an
intrinsic is only seen at run time (as on AWS).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .sfn_sdk_naming import _member_names, operation_model

def unknown_fields(parameters: Any, shape, service: str = "") -> list[str]:
    """Fields of an aws-sdk task's ``Parameters`` that the input ``shape`` does not have under SDK naming.

    Keys ending ``.$`` name the field without the suffix; their value is a path, not checked.
    Structures are checked recursively, so are the elements of lists and the values of maps (map
    keys are data). A value of another type than the shape expects is left to the call.
    """
    found: list[str] = []
    _check(parameters, shape, service, found)
    return found


def _check(value: Any, shape, service: str, found: list[str]) -> None:
    if shape is None or getattr(shape, "is_document_type", False):
        return  # a document holds any JSON
    if shape.type_name == "structure" and isinstance(value, dict):
        names = _member_names(shape, service)
        for key, item in value.items():
            dynamic = key.endswith(".$")
            field = key[:-2] if dynamic else key
            if field not in names:
                found.append(field)
            elif not dynamic:
                _check(item, shape.members[names[field]], service, found)
    elif shape.type_name == "list" and isinstance(value, list):
        for item in value:
            _check(item, shape.member, service, found)
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            if not key.endswith(".$"):
                _check(item, shape.value, service, found)


def _aws_sdk_target(resource: Any) -> tuple[str, str] | None:
    if not isinstance(resource, str):
        return None
    match = re.fullmatch(r"arn:[^:]+:states:[^:]*:[^:]*:aws-sdk:([^:]+):([^.:]+)(?:\.[A-Za-z0-9:]+)?", resource)
    return (match.group(1), match.group(2)) if match else None


def _states_of(node: dict, location: str):
    """Yield (location, state) for every state, in Parallel branches and Map processors too."""
    states = node.get("States")
    if not isinstance(states, dict):
        return
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        here = f"{location}/States/{name}"
        yield here, state
        for i, branch in enumerate(state.get("Branches") or []):
            if isinstance(branch, dict):
                yield from _states_of(branch, f"{here}/Branches[{i}]")
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                yield from _states_of(state[key], f"{here}/{key}")


def definition_errors(definition: str) -> list[str]:
    """AWS's ``SCHEMA_VALIDATION_FAILED`` diagnostics for aws-sdk task fields, in definition order."""
    try:
        document = json.loads(definition)
    except (TypeError, ValueError):
        return []  # not JSON: moto's own parser reports it
    if not isinstance(document, dict):
        return []
    errors = []
    for location, state in _states_of(document, ""):
        if state.get("Type") != "Task":
            continue
        target = _aws_sdk_target(state.get("Resource"))
        if target is None:
            continue
        op = operation_model(*target)
        if op is None:
            continue
        for field in ("Parameters", "Arguments"):
            if field in state:
                for name in unknown_fields(state[field], op.input_shape, op.service_model.service_name):
                    errors.append(
                        f'SCHEMA_VALIDATION_FAILED: The field "{name}" is not supported by Step Functions at {location}/{field}'
                    )
    return errors


def invalid_definition_message(errors: list[str]) -> str:
    return "Invalid State Machine Definition: '" + ", ".join(errors) + "'"

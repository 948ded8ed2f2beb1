"""Step Functions as AWS runs it: moto's interpreter patched with the rules of the ``sfn_*`` modules.

moto's interpreter (``moto/stepfunctions/parser``, ported from LocalStack) differs from AWS where
the runbook's event automation depends on it. The rules are pure functions, each in the module of
its concern (the "models" half): ``sfn_sdk_naming.py`` (the AWS SDK's naming of an aws-sdk task's
fields, results and errors), ``sfn_definitions.py`` (the definition check), ``sfn_executions.py``
(the history limit, history pages, execution names). This module patches moto with them (the
"responses" half):

- ``CreateStateMachine`` / ``UpdateStateMachine`` (API and CloudFormation, either backend) refuse
  a definition whose aws-sdk task names a field the API does not have under the SDK's naming, as
  AWS does: ``InvalidDefinition`` "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED:
  The field "UUID" is not supported by Step Functions at /States/EnableReplay/Parameters'";
- the interpreter translates an aws-sdk task's parameters to botocore's names for the call and
  hands the state machine the result under SDK names (``Uuid``, not ``UUID``), so ``$.UUID``
  finds nothing, as on AWS; an error is named ``Lambda.ResourceConflictException`` (moto:
  ``lambda.``...);
- an execution fails at 25,000 history events with ``States.Runtime``, which no retrier or
  catcher handles;
- ``GetExecutionHistory`` pages (``maxResults``, ``nextToken``, ``reverseOrder``);
- ``StartExecution`` without a name gets a UUID, and a name AWS refuses is refused.

Still different from AWS: services or actions the sandbox's botocore does not know, and SDK
customizations other than DynamoDB's ``NUL``, are not checked or renamed; a misnamed field
inside a ``Parameters`` value that is itself a path (``X.$``) or an intrinsic is only seen at run
time (as on AWS); the history limit is applied to events of the execution's own frame (Map and
Parallel iterations count, but their failure is reported by moto's Map/Parallel handling); the
``nextToken`` never expires (AWS: 24 hours); ``includeExecutionData`` is ignored; result
timestamps are handed on as moto hands them.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from .sfn_definitions import definition_errors, invalid_definition_message, unknown_fields
from .sfn_executions import (
    HISTORY_LIMIT,
    HISTORY_LIMIT_CAUSE,
    HISTORY_LIMIT_ERROR,
    HISTORY_PAGE_DEFAULT,
    HISTORY_PAGE_MAX,
    _TERMINAL_EVENTS,
    HistoryTokenError,
    execution_name_problem,
    history_page,
)
from .sfn_sdk_naming import (
    operation_model,
    pascal_case,
    sdk_error_name,
    sdk_exception_name,
    sdk_member_name,
    sdk_service_name,
    split_on_word_boundaries,
    to_botocore,
    to_sdk,
)

_installed = False
_lock = threading.Lock()


def _invalid_definition(message: str):
    from moto.core.exceptions import AWSError

    class InvalidDefinition(AWSError):
        TYPE = "InvalidDefinition"
        STATUS = 400

    return InvalidDefinition(message)


def _check_definition(definition: str | None) -> None:
    if definition is None:
        return
    errors = definition_errors(definition)
    if errors:
        raise _invalid_definition(invalid_definition_message(errors))


def _patch_definition_checks() -> None:
    from moto.stepfunctions import models as sfn_models
    from moto.stepfunctions.parser import models as parser_models

    for cls in (sfn_models.StepFunctionBackend, parser_models.StepFunctionsParserBackend):
        create = cls.__dict__["create_state_machine"]
        update = cls.__dict__["update_state_machine"]

        def create_state_machine(self, name, definition, *args, _create=create, **kwargs):
            _check_definition(definition)
            return _create(self, name, definition, *args, **kwargs)

        def update_state_machine(self, arn, definition=None, *args, _update=update, **kwargs):
            _check_definition(definition)
            return _update(self, arn, definition, *args, **kwargs)

        cls.create_state_machine = create_state_machine
        cls.update_state_machine = update_state_machine


def _patch_aws_sdk_task() -> None:
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    cls = aws_sdk.StateTaskServiceAwsSdk
    original_eval = cls._eval_service_task

    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        op = operation_model(self.resource.api_name, self.resource.api_action)
        if op is None:
            return original_eval(self, env, resource_runtime_part, normalised_parameters, state_credentials)
        service = op.service_model.service_name
        call_parameters = to_botocore(normalised_parameters, op.input_shape, service)
        original_eval(self, env, resource_runtime_part, call_parameters, state_credentials)
        env.stack.append(to_sdk(env.stack.pop(), op.output_shape, service))

    def _from_error(self, env, ex):
        if isinstance(ex, ClientError):
            error = sdk_error_name(self.resource.api_name, ex.response.get("Error", {}).get("Code", "") or "Unknown")
            service = error.split(".", 1)[0]
            meta = ex.response.get("ResponseMetadata", {})
            details = [f"Service: {service}", f"Status Code: {meta.get('HTTPStatusCode')}", f"Request ID: {meta.get('RequestId')}"]
            cause = f"{ex.response.get('Error', {}).get('Message', '')} ({', '.join(details)})"
            return self._get_task_failure_event(env=env, error=error, cause=cause)
        return original_from_error(self, env, ex)

    original_from_error = cls._from_error
    cls._eval_service_task = _eval_service_task
    cls._from_error = _from_error


class _HistoryLimitReached(Exception):
    """Raised by the event manager at event 25,000; the program turns it into ExecutionFailed."""


def _patch_history_limit() -> None:
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name import failure_event as fe
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    class _LimitEvent:
        state_name = None
        source_event_id = 0
        error_name = StatesErrorName(typ=StatesErrorNameType.StatesRuntime)
        event_type = "TaskFailed"  # not terminal: adding it again re-raises, so no Catch runs
        event_details = {"executionFailedEventDetails": {"error": HISTORY_LIMIT_ERROR, "cause": HISTORY_LIMIT_CAUSE}}

    class HistoryLimitFailure(fe.FailureEventException):
        def __init__(self) -> None:  # noqa: D107 - no env at the event manager
            self.failure_event = _LimitEvent()

        def get_execution_failed_event_details(self):
            return ExecutionFailedEventDetails(error=HISTORY_LIMIT_ERROR, cause=HISTORY_LIMIT_CAUSE)

    original_add = EventManager.add_event

    def add_event(self, context, event_type, event_details=None, timestamp=None, update_source_event_id=True):
        number = self._event_id_gen._next_id  # the id this event would get
        kind = getattr(event_type, "value", event_type)
        if number >= HISTORY_LIMIT and kind not in _TERMINAL_EVENTS:
            raise HistoryLimitFailure()
        if number > HISTORY_LIMIT:
            return number  # nothing is recorded after event 25,000
        return original_add(self, context, event_type, event_details, timestamp, update_source_event_id)

    EventManager.add_event = add_event


def _patch_history_paging() -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions import responses as sfn_responses
    from moto.stepfunctions.exceptions import InvalidToken, ValidationException

    def get_execution_history(self):
        execution_arn = self._get_param("executionArn")
        max_results = self._get_param("maxResults")
        if max_results is not None and not (0 <= int(max_results) <= HISTORY_PAGE_MAX):
            raise ValidationException(
                f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to satisfy constraint: "
                f"Member must have value {'less than or equal to 1000' if int(max_results) > 0 else 'greater than or equal to 0'}"
            )
        reverse = bool(self._get_param("reverseOrder", False))
        history = self.stepfunction_backend.get_execution_history(execution_arn)
        try:
            events, token = history_page(
                list(history.get("events", [])),
                execution_arn=execution_arn,
                max_results=int(max_results) if max_results is not None else None,
                reverse=reverse,
                next_token=self._get_param("nextToken"),
            )
        except HistoryTokenError:
            raise InvalidToken("the nextToken was not handed out for this execution and these arguments") from None
        body: dict[str, Any] = {"events": events}
        if token:
            body["nextToken"] = token
        return ActionResult(body)

    sfn_responses.StepFunctionResponse.get_execution_history = get_execution_history


def _patch_execution_names() -> None:
    from moto.stepfunctions.exceptions import InvalidName, NameTooLongException
    from moto.stepfunctions.parser import models as parser_models

    cls = parser_models.StepFunctionsParserBackend
    original = cls.__dict__["start_execution"]

    def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
        if name is None:
            name = str(uuid.uuid4())
        problem = execution_name_problem(name)
        if problem == "length":
            raise NameTooLongException(name)
        if problem:
            raise InvalidName(f"Invalid Name: '{name}'")
        return original(self, state_machine_arn, name, execution_input, trace_header)

    cls.start_execution = start_execution


def install() -> None:
    """Patch moto's Step Functions (idempotent; process-wide, like moto's backends)."""
    global _installed
    with _lock:
        if _installed:
            return
        _patch_definition_checks()
        _patch_aws_sdk_task()
        _patch_history_limit()
        _patch_history_paging()
        _patch_execution_names()
        _installed = True


__all__ = [
    "HISTORY_LIMIT",
    "HISTORY_LIMIT_CAUSE",
    "HISTORY_LIMIT_ERROR",
    "HISTORY_PAGE_DEFAULT",
    "HISTORY_PAGE_MAX",
    "definition_errors",
    "execution_name_problem",
    "history_page",
    "install",
    "invalid_definition_message",
    "operation_model",
    "pascal_case",
    "sdk_error_name",
    "sdk_exception_name",
    "sdk_member_name",
    "sdk_service_name",
    "split_on_word_boundaries",
    "to_botocore",
    "to_sdk",
    "unknown_fields",
]

"""Step Functions as AWS runs it: SDK naming, definition checks, history limit and paging, names.

Size: over 600 lines on purpose until the restructure issue (#11), which splits the code base by concern in one pass; here state (naming rule, definition checks) and protocol (history paging, names) go to separate modules. Splitting it alone now would move code the other open issues are about to change.

moto's interpreter (``moto/stepfunctions/parser``, ported from LocalStack) differs from AWS where
the runbook's event automation depends on it. Rules (pure functions, the "models" half) come first
in this module; the patches of moto that apply them (the "responses" half) come last.

**SDK naming.** An ``arn:aws:states:::aws-sdk:<service>:<action>`` task names its parameters and
its result as the AWS SDK for Java v2 names the members of the service's model (Step Functions
developer guide, "Learning to use AWS service SDK integrations in Step Functions",
https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html, "API naming
conventions": PascalCase, ``EqualsValue`` for ``Equals``). The rule, from the Java SDK's code
generator (aws/aws-sdk-java-v2, ``codegen/.../naming/DefaultNamingStrategy.java``
``getFluentGetterMethodName`` / ``rewriteInvalidMemberName``, ``codegen/.../internal/Utils.java``
``unCapitalize``): lower-case the leading run of capitals except the last one when a lower-case
letter follows it (``UUID`` -> ``uuid``, ``DBClusterIdentifier`` -> ``dbClusterIdentifier``,
``BOOL`` -> ``bool``); a Java keyword or a reserved method name gets ``Value`` appended
(``equals`` -> ``equalsValue``, ``default`` -> ``defaultValue``); Step Functions shows the result
capitalised (``Uuid``, ``DbClusterIdentifier``, ``Bool``, ``EqualsValue``). Per-service renames
in the SDK's ``customization.config`` apply first; the one this sandbox knows is DynamoDB's
``AttributeValue.NULL`` emitted as ``NUL`` (so ``Nul``). Error names are ``<Service>.<Exception>``
(same page: ``AcmPca.ResourceNotFoundException``, ``S3.BucketAlreadyExistsException``), the
service as the SDK names its client (``pascalCase(serviceId)`` without a leading ``Amazon``/``Aws``
or trailing ``Service``: ``DynamoDb``, ``Lambda``, ``Sfn``) and the exception as the SDK names its
class (``getExceptionName``: ``Exception`` appended when missing, ``Fault`` replaced).

What the sandbox does with it:

- ``CreateStateMachine`` / ``UpdateStateMachine`` (API and CloudFormation, either backend) check
  every aws-sdk task's ``Parameters`` (nested structures and lists too, ``Key.$`` as ``Key``; map
  keys are data, not fields) against the operation's input shape in botocore's model under that
  rule, and refuse the definition as AWS does: ``InvalidDefinition`` "Invalid State Machine
  Definition: 'SCHEMA_VALIDATION_FAILED: The field "UUID" is not supported by Step Functions at
  /States/EnableReplay/Parameters'" (seen on AWS at deployment, aws/aws-cdk#29968; the developer
  guide, "Passing parameters to a service API", quotes the same sentence);
- the interpreter translates those parameters to botocore's names for the call and hands the
  state machine the result under SDK names (``Uuid``, not ``UUID``), so ``$.UUID`` finds nothing,
  as on AWS; an error is named ``Lambda.ResourceConflictException`` (moto: ``lambda.``...).

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

Still different from AWS: services or actions the sandbox's botocore does not know, and SDK
customizations other than DynamoDB's ``NUL``, are not checked or renamed; a misnamed field
inside a ``Parameters`` value that is itself a path (``X.$``) or an intrinsic is only seen at run
time (as on AWS); the history limit is applied to events of the execution's own frame (Map and
Parallel iterations count, but their failure is reported by moto's Map/Parallel handling); the
``nextToken`` never expires (AWS: 24 hours); ``includeExecutionData`` is ignored; result
timestamps are handed on as moto hands them.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import uuid
from functools import lru_cache
from typing import Any

log = logging.getLogger(__name__)

# ============================================================================ rules: naming
_JAVA_KEYWORDS = frozenset(
    """abstract assert boolean break byte case catch char class const continue default do double else
    enum extends false final finally float for goto if implements import instanceof int interface long
    native new null package private protected public return short static strictfp super switch
    synchronized this throw throws transient true try void volatile while""".split()
)
_RESERVED_POJO_METHODS = frozenset(
    ["equals", "finalize", "getClass", "hashCode", "notify", "notifyAll", "toString", "wait", "builder", "sdkFields", "toBuilder"]
)
_RESERVED_STRUCTURE_METHODS = _RESERVED_POJO_METHODS | {"overrideConfiguration", "sdkHttpResponse"}
_RESERVED_EXCEPTION_METHODS = _RESERVED_POJO_METHODS | {
    "awsErrorDetails", "cause", "fillInStackTrace", "getCause", "getLocalizedMessage", "getMessage",
    "getStackTrace", "getSuppressed", "isClockSkewException", "isThrottlingException", "printStackTrace",
    "requestId", "retryable", "serializableBuilderClass", "statusCode",
}  # fmt: skip

#: the SDK's customization.config renames (``emitPropertyName``) for the services known here:
#: (botocore service name, shape name, member name) -> the name the SDK generates from
_EMIT_PROPERTY_NAMES = {("dynamodb", "AttributeValue", "NULL"): "NUL"}


def _uncapitalize(name: str) -> str:
    """The Java SDK's ``Utils.unCapitalize``: ``UUID`` -> ``uuid``, ``DBCluster`` -> ``dbCluster``."""
    if not name.strip():
        raise ValueError("a member name cannot be empty")
    out = []
    i = 0
    while True:
        out.append(name[i].lower())
        i += 1
        if not (i < len(name) and name[i].isupper()):
            break
        if i < len(name) - 1 and name[i + 1].islower():
            break
    return "".join(out) + name[i:]


def _capitalize(name: str) -> str:
    return name[:1].upper() + name[1:]


def _is_java_keyword(word: str) -> bool:
    return word in _JAVA_KEYWORDS or word.lower() in _JAVA_KEYWORDS


def sdk_member_name(member: str, *, exception: bool = False) -> str:
    """The name a Step Functions aws-sdk task uses for the service model's member ``member``.

    >>> [sdk_member_name(n) for n in ("UUID", "DBClusterIdentifier", "BOOL", "TableName", "Equals")]
    ['Uuid', 'DbClusterIdentifier', 'Bool', 'TableName', 'EqualsValue']
    """
    getter = _uncapitalize(member)
    reserved = _RESERVED_EXCEPTION_METHODS if exception else _RESERVED_STRUCTURE_METHODS
    if _is_java_keyword(getter) or getter in reserved:
        getter = _uncapitalize(getter + "Value")
    return _capitalize(getter)


def split_on_word_boundaries(text: str) -> list[str]:
    """The Java SDK's ``CodegenNamingUtils.splitOnWordBoundaries``."""
    result = re.sub(r"[^A-Za-z0-9]+", " ", text)
    result = re.sub(r"([^a-z]{2,})v([0-9]+)", r"\1 v\2 ", result)
    result = re.sub(r"([^A-Z]{2,})V([0-9]+)", r"\1 V\2 ", result)
    result = " ".join(re.split(r"(?<=[a-z])(?=[A-Z](?:[a-zA-Z]|[0-9]))", result))
    result = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", result)
    result = re.sub(r"([0-9])([a-zA-Z])", r"\1 \2", result)
    return re.sub(r" +", " ", result).strip().split(" ")


def pascal_case(text: str) -> str:
    """The Java SDK's ``CodegenNamingUtils.pascalCase``: ``DynamoDB`` -> ``DynamoDb``."""
    return "".join(_capitalize(w.lower()) for w in split_on_word_boundaries(text) if w)


def sdk_service_name(service_id: str) -> str:
    """The SDK's client name for a botocore ``serviceId``: ``DynamoDB`` -> ``DynamoDb``, ``ACM PCA`` -> ``AcmPca``."""
    name = pascal_case(service_id)
    for prefix in ("Amazon", "Aws"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if name.endswith("Service"):
        name = name[: -len("Service")]
    return name


def sdk_exception_name(error_shape: str) -> str:
    """The SDK's exception class for an error shape: ``BucketAlreadyExists`` -> ``BucketAlreadyExistsException``."""
    if error_shape.endswith("Fault"):
        return pascal_case(error_shape[: -len("Fault")]) + "Exception"
    if error_shape.endswith("Exception"):
        return pascal_case(error_shape)
    return pascal_case(error_shape) + "Exception"


# ======================================================================= rules: the models
#: Step Functions' service names in aws-sdk ARNs that are not botocore's
_SERVICE_OVERRIDES = {"sfn": "stepfunctions", "states": "stepfunctions"}


@lru_cache(maxsize=None)
def _botocore_service(sfn_service: str):
    """botocore's model of the service an aws-sdk ARN names, or None when this botocore has none."""
    from botocore.exceptions import UnknownServiceError

    session = _session()
    name = _SERVICE_OVERRIDES.get(sfn_service, sfn_service)
    candidates = [name] + [s for s in session.get_available_services() if s.replace("-", "") == name.lower()]
    for candidate in candidates:
        try:
            return session.get_service_model(candidate)
        except UnknownServiceError:
            continue
    return None


@lru_cache(maxsize=1)
def _session():
    import botocore.session

    return botocore.session.get_session()


@lru_cache(maxsize=None)
def operation_model(sfn_service: str, action: str):
    """botocore's operation for ``aws-sdk:<sfn_service>:<action>``, or None when unknown here."""
    service = _botocore_service(sfn_service)
    if service is None:
        return None
    name = action[:1].upper() + action[1:]
    if name not in service.operation_names:
        return None
    return service.operation_model(name)


def _member_names(shape, service: str) -> dict[str, str]:
    """SDK name -> botocore member name, for a structure shape of ``service`` (botocore's name)."""
    exception = bool(shape.metadata.get("exception"))
    return {
        sdk_member_name(_EMIT_PROPERTY_NAMES.get((service, shape.name, member), member), exception=exception): member
        for member in shape.members
    }


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


# ======================================================================= rules: run time
def to_botocore(value: Any, shape, service: str = "") -> Any:
    """Task parameters under SDK names -> the same under botocore's member names (unknown keys kept)."""
    if shape is None or getattr(shape, "is_document_type", False):
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        names = _member_names(shape, service)
        return {
            names.get(k, k): to_botocore(v, shape.members[names[k]] if k in names else None, service)
            for k, v in value.items()
        }
    if shape.type_name == "list" and isinstance(value, list):
        return [to_botocore(v, shape.member, service) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: to_botocore(v, shape.value, service) for k, v in value.items()}
    return value  # scalars as given, as moto's aws-sdk task passed them


def to_sdk(value: Any, shape, service: str = "") -> Any:
    """A botocore response -> the result a Step Functions aws-sdk task hands on (SDK names)."""
    if shape is None or getattr(shape, "is_document_type", False):
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        exception = bool(shape.metadata.get("exception"))
        out = {}
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                out[key] = item
                continue
            emitted = _EMIT_PROPERTY_NAMES.get((service, shape.name, key), key)
            out[sdk_member_name(emitted, exception=exception)] = to_sdk(item, member, service)
        return out
    if shape.type_name == "list" and isinstance(value, list):
        return [to_sdk(v, shape.member, service) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: to_sdk(v, shape.value, service) for k, v in value.items()}
    return value


def sdk_error_name(sfn_service: str, error_code: str) -> str:
    """``<Service>.<Exception>`` for an error of an aws-sdk task: ``Lambda.ResourceConflictException``."""
    service = _botocore_service(sfn_service)
    if service is None:
        return f"{pascal_case(sfn_service)}.{sdk_exception_name(error_code)}"
    shape_name = error_code
    for shape in service.error_shapes:
        if shape.error_code == error_code or shape.name == error_code:
            shape_name = shape.name
            break
    return f"{sdk_service_name(service.metadata['serviceId'])}.{sdk_exception_name(shape_name)}"


# ======================================================================== rules: history
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


# ================================================================ protocol: moto patches
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

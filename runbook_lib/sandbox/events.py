"""CloudTrail -> EventBridge -> Step Functions, as the event-driven automation needs it.

moto emits no "AWS API Call via CloudTrail" events and delivers no EventBridge target of Step
Functions. This extension:

- after a successful ``RestoreTableToPointInTime`` (see ``pitr``), puts on the region's default
  event bus the event CloudTrail would deliver (``source: aws.dynamodb``, ``detail-type: AWS API
  Call via CloudTrail``, ``detail`` with ``eventSource``, ``eventName``, ``awsRegion``,
  ``requestParameters`` and ``responseElements`` in CloudTrail's camelCase), but only when a trail
  that covers the region is logging and records management write events (no trail, no event, as
  on AWS). A failed call raises before this point, so no event carries an ``errorCode``; AWS does
  deliver failed calls with ``errorCode`` set, which is why our rule filters on its absence;
- delivers events to rule targets that are Step Functions state machines by starting an
  execution with the event as input (or the target's ``Input`` / ``InputPath``), and skips rules
  that are ``DISABLED`` (moto's ``PutEvents`` would send to them).

State machines that CloudFormation creates land, in moto, in the plain Step Functions backend,
while the API (with ``execute_state_machine`` on, as the sandbox runs it) uses the interpreter's
backend; the sandbox points CloudFormation at the interpreter's backend so a deployed workflow can
be started and described like one created through the API.

A Step Functions target that cannot be started (the state machine is gone, the input is refused)
goes to the target's ``DeadLetterConfig`` queue as EventBridge sends it ("Event retry policy and
using dead-letter queues", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html):
the event as the body, and the attributes ``RULE_ARN``, ``TARGET_ARN``, ``ERROR_CODE`` (one of the
codes that page lists: ``NO_RESOURCE`` for a missing state machine, ``INVALID_PARAMETER``,
``THROTTLING``, ``UNKNOWN``; ``NO_PERMISSIONS`` when the target's ``RoleArn`` may not
``states:StartExecution`` the state machine and ``FAILED_TO_ASSUME_ROLE`` when its trust policy does
not let ``events.amazonaws.com`` assume it, both checked by ``iam_auth.check_rule_target`` for a
role of the sandbox's), ``ERROR_MESSAGE`` and ``RETRY_ATTEMPTS``; only if the queue's policy
lets ``events.amazonaws.com`` call ``sqs:SendMessage`` for this rule (``aws:SourceArn``), as on
AWS; a standard queue only. ``PutTargets`` keeps ``DeadLetterConfig`` and ``RetryPolicy`` (moto
stores the target as given, and ``ListTargetsByRule`` returns it) and, as AWS does, refuses a
``RetryPolicy`` outside ``MaximumRetryAttempts`` 0..185 / ``MaximumEventAgeInSeconds`` 60..86,400
and a ``PutRule`` ``Description`` longer than 512 characters (``ValidationException``; botocore's
model gives these bounds). CloudFormation's ``AWS::SQS::QueuePolicy``, which moto does not know
(it skips the resource with a warning), sets and removes the queues' ``Policy``.

Fault ``event-lost``: CloudTrail delivers events to EventBridge on a best-effort basis ("Events from
AWS services", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-delivery-level.html:
"in some rare cases an event might not be delivered"); while it is on, a restore's event is not
put on the bus at all (noted as ``restore events dropped``).

Differences from AWS that remain: delivery is synchronous and exactly once (AWS: seconds later,
at least once); a failed delivery is not retried (AWS retries errors it deems transient under the
target's ``RetryPolicy`` before the DLQ; ``RETRY_ATTEMPTS`` is always 0 and
``EXHAUSTED_RETRY_CONDITION`` never set); the queue policy check reads only Allow statements for
the service principal, ``sqs:SendMessage`` and an ``aws:SourceArn`` condition (ArnEquals, ArnLike,
StringEquals, StringLike); ``userIdentity`` is a fixed sandbox identity; Lambda targets are not
delivered.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import uuid
from datetime import datetime, timezone
from typing import Any

from moto.core.utils import iso_8601_datetime_without_milliseconds, utcfromtimestamp
from moto.events import models as events_models
from moto.utilities.arns import parse_arn
from moto.utilities.utils import get_partition

from ..aws.cloudtrail import logs_management_writes
from . import faults

log = logging.getLogger(__name__)

_installed = False

EVENT_LOST = "event-lost"
faults.register(
    EVENT_LOST,
    "the CloudTrail event of a RestoreTableToPointInTime never reaches EventBridge (best-effort delivery)",
)

#: RetryPolicy bounds (botocore's events model, RetryPolicy shapes; the PutTargets reference)
_RETRY_ATTEMPTS = (0, 185)
_EVENT_AGE = (60, 86400)
#: PutRule Description (botocore's events model, RuleDescription: max 512)
_MAX_RULE_DESCRIPTION = 512


def _logs_management_writes(trail: Any) -> bool:
    # moto keeps a trail's selectors as PutEventSelectors took them: the shape GetEventSelectors answers
    return logs_management_writes(
        {"EventSelectors": trail.event_selectors, "AdvancedEventSelectors": trail.advanced_event_selectors}
    )


def logging_trail_for(account_id: str, region: str) -> Any | None:
    """A trail that would record a DynamoDB management write call in ``region``, or None."""
    from moto.cloudtrail.models import cloudtrail_backends

    from .cloudtrail_org import organization_trails

    for backend_region, backend in cloudtrail_backends[account_id].items():
        for trail in list(backend.trails.values()):
            covers = trail.is_multi_region or trail.region_name == region
            if covers and trail.status.is_logging and _logs_management_writes(trail):
                return trail
    # an organization trail of the management account logs this member account's events too
    for trail in organization_trails(account_id, region):
        if trail.status.is_logging and _logs_management_writes(trail):
            return trail
    return None


def _camel(value: Any) -> Any:
    """CloudTrail writes request and response elements with lower camelCase keys."""
    if isinstance(value, dict):
        return {(k[:1].lower() + k[1:]): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if isinstance(value, datetime):
        return value.strftime("%b %-d, %Y, %-I:%M:%S %p")
    return value


def _cloudtrail_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%b %-d, %Y, %-I:%M:%S %p")


def restore_event_detail(account_id: str, region: str, request: dict, table_description: dict) -> dict:
    request_parameters = {}
    for key, value in request.items():
        if key == "RestoreDateTime":
            epoch = value.timestamp() if isinstance(value, datetime) else float(value)
            request_parameters["restoreDateTime"] = _cloudtrail_time(epoch)
        else:
            request_parameters[key[:1].lower() + key[1:]] = _camel(value)
    description = json.loads(json.dumps(table_description, default=str))
    summary = description.get("RestoreSummary")
    if summary and isinstance(summary.get("RestoreDateTime"), (int, float)):
        summary["RestoreDateTime"] = _cloudtrail_time(summary["RestoreDateTime"])
    if isinstance(description.get("CreationDateTime"), (int, float)):
        description["CreationDateTime"] = _cloudtrail_time(description["CreationDateTime"])
    now = datetime.now(timezone.utc)
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDASANDBOX",
            "arn": f"arn:{get_partition(region)}:iam::{account_id}:user/sandbox",
            "accountId": account_id,
            "accessKeyId": "testing",
            "userName": "sandbox",
        },
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "dynamodb.amazonaws.com",
        "eventName": "RestoreTableToPointInTime",
        "awsRegion": region,
        "sourceIPAddress": "127.0.0.1",
        "userAgent": "pitr-runbook-sandbox",
        "requestParameters": request_parameters,
        "responseElements": {"tableDescription": _camel(description)},
        "requestID": uuid.uuid4().hex.upper(),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "resources": [{"accountId": account_id, "type": "AWS::DynamoDB::Table", "ARN": description.get("TableArn")}],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "eventCategory": "Management",
    }


def emit_restore_event(*, account_id: str, region: str, request: dict, table_description: dict) -> bool:
    """Put the CloudTrail event of a successful restore on the default bus; False when no trail logs it."""
    if logging_trail_for(account_id, region) is None:
        log.info("no logging trail in %s: no CloudTrail event for the restore", region)
        return False
    if faults.active(EVENT_LOST) is not None:
        faults.note(EVENT_LOST, "restore events dropped")
        log.info("fault %s: the restore's CloudTrail event is not delivered", EVENT_LOST)
        return False
    detail = restore_event_detail(account_id, region, request, table_description)
    backend = events_models.events_backends[account_id][region]
    backend.put_events(
        [
            {
                "Source": "aws.dynamodb",
                "DetailType": "AWS API Call via CloudTrail",
                "Detail": json.dumps(detail),
                "EventBusName": "default",
            }
        ]
    )
    return True


def _start_state_machine(rule: Any, target: dict, event: dict) -> None:
    from moto.stepfunctions.responses import get_backend

    arn = parse_arn(target["Arn"])
    payload = {k: v for k, v in event.items() if k != "ingestion-time"}
    if "time" in payload and isinstance(payload["time"], (int, float)):
        payload["time"] = iso_8601_datetime_without_milliseconds(utcfromtimestamp(float(payload["time"])))
    if target.get("Input") is not None:
        execution_input = target["Input"]
    elif target.get("InputPath"):
        node: Any = payload
        for part in target["InputPath"].lstrip("$").strip(".").split("."):
            if part:
                node = node.get(part) if isinstance(node, dict) else None
        execution_input = json.dumps(node)
    else:
        execution_input = json.dumps(payload)
    # as the target's role: its trust policy and states:StartExecution (iam_auth)
    from . import iam_auth

    iam_auth.check_rule_target(rule.arn, target)
    # the interpreter's backend when execute_state_machine is on, as the API itself uses
    backend = get_backend(arn.account, arn.region)
    execution = backend.start_execution(target["Arn"], name=str(uuid.uuid4()), execution_input=execution_input)
    log.info("rule %s started %s", rule.name, execution.execution_arn)


def _wrap_send_to_targets(original):
    def send_to_targets(self, original_event, transform_input=True):
        if getattr(self, "state", "ENABLED") != "ENABLED":
            return
        if not self.event_pattern.matches_event(original_event):
            return
        sfn = [t for t in self.targets if parse_arn(t["Arn"]).service == "states"]
        others = [t for t in self.targets if t not in sfn]
        if others:
            saved = self.targets
            self.targets = others
            try:
                original(self, original_event, transform_input)
            finally:
                self.targets = saved
        for target in sfn:
            try:
                _start_state_machine(self, target, original_event)
            except Exception as exc:  # noqa: BLE001 - a failed delivery must not fail PutEvents
                log.warning("rule %s could not start %s: %s", self.name, target.get("Arn"), exc)
                try:
                    _dead_letter(self, target, original_event, exc)
                except Exception:  # noqa: BLE001 - InvocationsFailedToBeSentToDLQ on AWS
                    log.exception("rule %s could not dead-letter the event", self.name)

    return send_to_targets


# -- the target's dead-letter queue ------------------------------------------------------------------
#: moto / interpreter error codes of StartExecution -> the DLQ ERROR_CODE EventBridge would give
_DLQ_ERROR_CODES = {
    "StateMachineDoesNotExist": "NO_RESOURCE",
    "StateMachineDeleting": "NO_RESOURCE",
    "ResourceNotFound": "NO_RESOURCE",
    "InvalidArn": "INVALID_PARAMETER",
    "InvalidExecutionInput": "INVALID_PARAMETER",
    "InvalidName": "INVALID_PARAMETER",
    "ExecutionLimitExceeded": "THROTTLING",
    "ThrottlingException": "THROTTLING",
    # iam_auth.check_rule_target: the target's role may not start the state machine, or EventBridge
    # may not assume it (STS's AccessDenied)
    "AccessDeniedException": "NO_PERMISSIONS",
    "AccessDenied": "FAILED_TO_ASSUME_ROLE",
}


def _error_code(exc: Exception) -> str:
    for attr in ("error_type", "code", "TYPE"):
        value = getattr(exc, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(exc).__name__


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _condition_allows(condition: dict | None, source_arn: str) -> bool:
    if not condition:
        return True
    for operator, clauses in condition.items():
        for key, expected in clauses.items():
            if key.lower() == "aws:sourcearn":
                values = [str(v) for v in _as_list(expected)]
                if operator in ("ArnEquals", "StringEquals") and source_arn not in values:
                    return False
                if operator in ("ArnLike", "StringLike") and not any(fnmatch.fnmatchcase(source_arn, v) for v in values):
                    return False
            elif key.lower() == "aws:sourceaccount":
                if parse_arn(source_arn).account not in [str(v) for v in _as_list(expected)]:
                    return False
    return True


def queue_policy_allows_events(policy: dict | None, queue_arn: str, rule_arn: str) -> bool:
    """Whether a queue policy lets EventBridge send a dead letter on behalf of ``rule_arn``."""
    for statement in (policy or {}).get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        services = _as_list(principal.get("Service", [])) if isinstance(principal, dict) else _as_list(principal)
        if "events.amazonaws.com" not in services and "*" not in services:
            continue
        actions = [a.lower() for a in _as_list(statement.get("Action", []))]
        if not {"sqs:sendmessage", "sqs:*", "*"} & set(actions):
            continue
        resources = _as_list(statement.get("Resource", "*"))
        if not any(fnmatch.fnmatchcase(queue_arn, r) for r in resources):
            continue
        if _condition_allows(statement.get("Condition"), rule_arn):
            return True
    return False


def _dead_letter(rule: Any, target: dict, event: dict, exc: Exception) -> bool:
    """Send a failed delivery to the target's DLQ as EventBridge does; False if it could not."""
    from moto.sqs.models import sqs_backends

    dlq_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
    if not dlq_arn:
        return False  # AWS drops the event
    try:
        arn = parse_arn(dlq_arn)
        queue = sqs_backends[arn.account][arn.region].get_queue(arn.resource_id)
    except Exception:  # noqa: BLE001 - no such queue: InvocationsFailedToBeSentToDLQ on AWS
        log.warning("rule %s: dead-letter queue %s does not exist; the event is dropped", rule.name, dlq_arn)
        return False
    if queue.fifo_queue:
        log.warning("rule %s: %s is a FIFO queue, which EventBridge cannot use as a DLQ", rule.name, dlq_arn)
        return False
    if not queue_policy_allows_events(queue._policy_json, queue.queue_arn, rule.arn):
        log.warning("rule %s: the policy of %s does not let EventBridge send to it; the event is dropped", rule.name, dlq_arn)
        return False
    code = _error_code(exc)
    message = getattr(exc, "message", None) or str(exc) or code
    body = {k: v for k, v in event.items() if k != "ingestion-time"}
    if "time" in body and isinstance(body["time"], (int, float)):
        body["time"] = iso_8601_datetime_without_milliseconds(utcfromtimestamp(float(body["time"])))
    attributes = {
        "RULE_ARN": rule.arn,
        "TARGET_ARN": target["Arn"],
        "ERROR_CODE": _DLQ_ERROR_CODES.get(code, "UNKNOWN"),
        "ERROR_MESSAGE": f"{code}: {message}"[:1024],
        "RETRY_ATTEMPTS": "0",
    }
    sqs_backends[arn.account][arn.region].send_message(
        queue_name=queue.name,
        message_body=json.dumps(body),
        message_attributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )
    log.info("rule %s: the event went to the dead-letter queue %s (%s)", rule.name, queue.name, attributes["ERROR_CODE"])
    return True


# -- PutRule / PutTargets: what AWS refuses ----------------------------------------------------------
def _check_description(description: str | None) -> None:
    from moto.events.exceptions import ValidationException

    if description is not None and len(description) > _MAX_RULE_DESCRIPTION:
        raise ValidationException(
            f"1 validation error detected: Value at 'description' failed to satisfy constraint: "
            f"Member must have length less than or equal to {_MAX_RULE_DESCRIPTION}"
        )


def _check_targets(targets: list[dict[str, Any]]) -> None:
    from moto.events.exceptions import ValidationException

    for i, target in enumerate(targets or [], start=1):
        policy = target.get("RetryPolicy") or {}
        for key, (low, high) in (("MaximumRetryAttempts", _RETRY_ATTEMPTS), ("MaximumEventAgeInSeconds", _EVENT_AGE)):
            if key in policy:
                try:
                    value = int(policy[key])
                except (TypeError, ValueError):
                    value = None
                if value is None or not low <= value <= high:
                    raise ValidationException(
                        f"1 validation error detected: Value '{policy[key]}' at 'targets.{i}.member.retryPolicy."
                        f"{key[:1].lower() + key[1:]}' failed to satisfy constraint: Member must have value "
                        f"{'greater than or equal to ' + str(low) if value is not None and value < low else 'less than or equal to ' + str(high)}"
                    )
                policy[key] = value
        dlq = target.get("DeadLetterConfig")
        if dlq is not None and not (1 <= len(str(dlq.get("Arn") or "")) <= 1600):
            raise ValidationException(
                f"1 validation error detected: Value at 'targets.{i}.member.deadLetterConfig.arn' failed to "
                "satisfy constraint: Member must have length between 1 and 1600"
            )


def _wrap_put_rule(original):
    def put_rule(self, name, description=None, *args, **kwargs):
        _check_description(description)
        return original(self, name, description, *args, **kwargs)

    return put_rule


def _wrap_put_targets(original):
    def put_targets(self, name, event_bus_arn, targets):
        _check_targets(targets)
        return original(self, name, event_bus_arn, targets)

    return put_targets


# -- CloudFormation: AWS::SQS::QueuePolicy ------------------------------------------------------------
def _install_queue_policy_model() -> None:
    """moto's CloudFormation skips ``AWS::SQS::QueuePolicy``; this sets and removes the ``Policy``."""
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.sqs.models import sqs_backends

    def queue_name(ref: str) -> str:
        return ref.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]

    class SandboxQueuePolicy(CloudFormationModel):
        def __init__(self, account_id: str, region: str, queues: list[str], document: Any) -> None:
            self.account_id = account_id
            self.region = region
            self.queues = [queue_name(q) for q in queues]
            self.document = document if isinstance(document, str) else json.dumps(document)
            self.id = f"{uuid.uuid4().hex[:12]}"
            backend = sqs_backends[account_id][region]
            for name in self.queues:
                backend.get_queue(name).policy = self.document

        @property
        def physical_resource_id(self) -> str:
            return self.id

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SQS::QueuePolicy"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Id"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.id

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[override]
            props = cloudformation_json["Properties"]
            return cls(account_id, region_name, list(props["Queues"]), props["PolicyDocument"])

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):  # type: ignore[override]
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):  # type: ignore[override]
            return None

        def delete(self, account_id: str, region_name: str) -> None:
            backend = sqs_backends[account_id][region_name]
            for name in self.queues:
                queue = backend.queues.get(name)
                if queue is not None:
                    queue.policy = None

    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


class _InterpreterBackends:
    """``stepfunctions_backends[account][region]`` as the API resolves it.

    The interpreter's backend while ``execute_state_machine`` is on, moto's plain backend (the
    one this object replaced) while it is off, as moto's ``responses.get_backend`` chooses. It
    must not call ``get_backend``: that reads this very object when the option is off.
    """

    def __init__(self, plain) -> None:
        self._plain = plain

    class _Account:
        def __init__(self, plain, account_id: str) -> None:
            self._plain = plain
            self.account_id = account_id

        def __getitem__(self, region: str):
            from moto.core.config import default_user_config

            if default_user_config.get("stepfunctions", {}).get("execute_state_machine", False):
                from moto.stepfunctions.parser.models import stepfunctions_parser_backends

                return stepfunctions_parser_backends[self.account_id][region]
            return self._plain[self.account_id][region]

    def __getitem__(self, account_id: str):
        return self._Account(self._plain, account_id)

    def __getattr__(self, name: str):
        return getattr(self._plain, name)


def _put_event_selectors(self, event_selectors, advanced_event_selectors) -> None:
    """A trail holds basic or advanced event selectors, never both: putting one kind replaces the
    other ("PutEventSelectors", AWS CloudTrail API Reference: "You can use either
    AdvancedEventSelectors or EventSelectors, but not both. If you apply AdvancedEventSelectors to a
    trail, any existing EventSelectors are overwritten."). moto kept the advanced selectors when
    basic ones were put, so a trail could log the restore's event here and not on AWS."""
    if event_selectors:
        self.event_selectors = event_selectors
        self.advanced_event_selectors = []
    elif advanced_event_selectors:
        self.event_selectors = []
        self.advanced_event_selectors = advanced_event_selectors


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.cloudtrail import models as cloudtrail_models
    from moto.stepfunctions import models as sfn_models

    cloudtrail_models.Trail.put_event_selectors = _put_event_selectors

    # read at call time by StateMachine's CloudFormation create/update/delete
    if not isinstance(sfn_models.stepfunctions_backends, _InterpreterBackends):
        sfn_models.stepfunctions_backends = _InterpreterBackends(sfn_models.stepfunctions_backends)
    events_models.Rule.send_to_targets = _wrap_send_to_targets(events_models.Rule.send_to_targets)
    events_models.EventsBackend.put_rule = _wrap_put_rule(events_models.EventsBackend.put_rule)
    events_models.EventsBackend.put_targets = _wrap_put_targets(events_models.EventsBackend.put_targets)
    _install_queue_policy_model()
    _installed = True

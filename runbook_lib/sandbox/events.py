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

Differences from AWS that remain: delivery is synchronous and exactly once (AWS: seconds later,
at least once); ``userIdentity`` is a fixed sandbox identity; Lambda targets are not delivered.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timezone
from typing import Any

from moto.core.utils import iso_8601_datetime_without_milliseconds, utcfromtimestamp
from moto.events import models as events_models
from moto.utilities.arns import parse_arn

log = logging.getLogger(__name__)

_installed = False


def _logs_management_writes(trail: Any) -> bool:
    if trail.advanced_event_selectors:
        for selector in trail.advanced_event_selectors:
            fields = {f.get("Field"): f for f in selector.get("FieldSelectors", [])}
            category = fields.get("eventCategory", {})
            if "Management" not in category.get("Equals", []):
                continue
            read_only = fields.get("readOnly", {})
            if "true" in [str(v).lower() for v in read_only.get("Equals", [])]:
                continue
            return True
        return False
    if not trail.event_selectors:
        return True  # CloudTrail's default: all management events, read and write
    return any(
        s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") in ("All", "WriteOnly")
        for s in trail.event_selectors
    )


def logging_trail_for(account_id: str, region: str) -> Any | None:
    """A trail that would record a DynamoDB management write call in ``region``, or None."""
    from moto.cloudtrail.models import cloudtrail_backends

    for backend_region, backend in cloudtrail_backends[account_id].items():
        for trail in list(backend.trails.values()):
            covers = trail.is_multi_region or trail.region_name == region
            if covers and trail.status.is_logging and _logs_management_writes(trail):
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
            "arn": f"arn:aws:iam::{account_id}:user/sandbox",
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
            except Exception:  # noqa: BLE001 - a failed delivery must not fail PutEvents
                log.exception("rule %s could not start %s", self.name, target.get("Arn"))

    return send_to_targets


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


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.stepfunctions import models as sfn_models

    # read at call time by StateMachine's CloudFormation create/update/delete
    if not isinstance(sfn_models.stepfunctions_backends, _InterpreterBackends):
        sfn_models.stepfunctions_backends = _InterpreterBackends(sfn_models.stepfunctions_backends)
    events_models.Rule.send_to_targets = _wrap_send_to_targets(events_models.Rule.send_to_targets)
    _installed = True

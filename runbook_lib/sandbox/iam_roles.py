"""Services acting as a role in the sandbox: Lambda's own checks of an execution role when a
function or an event source mapping is created, Step Functions tasks signed with the state
machine's role, and EventBridge starting a rule's target as the target's role.

Part of IAM in the sandbox: ``iam_auth.py`` says what is enforced and where it differs from AWS.
"""

from __future__ import annotations

import uuid
from typing import Any

from .iam_answers import _deny_message
from .iam_policy import ALLOWED
from .iam_principals import (
    _function_sessions,
    _lock,
    _session_alive,
    evaluate,
    principal_from_arn,
    role_can_be_assumed_by,
    service_session,
)



# ------------------------------------------------------------------ Lambda's own checks of a role
#: what Lambda's poller does with an event source as the function's execution role ("Lambda
#: execution role permissions" for each source: "Using Lambda with Amazon SQS", "Using Lambda with
#: DynamoDB": the execution role needs these on the source)
SQS_POLLER_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
STREAM_POLLER_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams")


def mapping_permission_problem(role_arn: str, source_arn: str, destination_arn: str | None = None) -> str | None:
    """Why the execution role cannot serve this event source mapping (Lambda's message), or None.
    A role that is not one of the sandbox's is not checked."""
    if role_can_be_assumed_by(role_arn, "lambda.amazonaws.com") is None:
        return None
    context = {"aws:SourceArn": source_arn}
    if ":sqs:" in source_arn:
        for action in SQS_POLLER_ACTIONS:
            if evaluate(role_arn, action, source_arn, context) != ALLOWED:
                return f"The provided execution role does not have permissions to call {action.split(':', 1)[1]} on SQS"
    elif ":dynamodb:" in source_arn:
        for action in STREAM_POLLER_ACTIONS:
            if evaluate(role_arn, action, source_arn, context) != ALLOWED:
                return (
                    f"Cannot access stream {source_arn}. Please ensure the role can perform the GetRecords, "
                    "GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM."
                )
    if destination_arn and ":sqs:" in destination_arn:
        if evaluate(role_arn, "sqs:SendMessage", destination_arn, context) != ALLOWED:
            return "The provided execution role does not have permissions to call SendMessage on SQS"
    return None


def _wrap_create_function(original):
    def create_function(self, spec: dict[str, Any]):
        from moto.awslambda.exceptions import InvalidParameterValueException

        if spec.get("Role") and role_can_be_assumed_by(str(spec["Role"]), "lambda.amazonaws.com") is False:
            raise InvalidParameterValueException("The role defined for the function cannot be assumed by Lambda.")
        return original(self, spec)

    return create_function


def _wrap_create_mapping(original):
    def create_event_source_mapping(self, spec: dict[str, Any]):
        from moto.awslambda.exceptions import InvalidParameterValueException

        source = str(spec.get("EventSourceArn") or "")
        try:
            fn = self.get_function(spec.get("FunctionName"))
        except Exception:  # noqa: BLE001 - moto answers for a missing function itself
            fn = None
        if fn is not None and source:
            destination = ((spec.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            problem = mapping_permission_problem(str(fn.role), source, destination)
            if problem:
                raise InvalidParameterValueException(problem)
        return original(self, spec)

    return create_event_source_mapping


# ----------------------------------------------------- Step Functions and EventBridge as their roles
STATES = "states.amazonaws.com"
EVENTS = "events.amazonaws.com"


def state_machine_credentials(role_arn: str | None) -> dict[str, Any] | None:
    """The state machine's role credentials for its tasks' AWS calls ("Step Functions execution
    role", https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html),
    or None for a role that is not one of the sandbox's (the task then calls unrestricted)."""
    if not role_arn:
        return None
    key = (role_arn, STATES)
    with _lock:
        cached = _function_sessions.get(key)
        if cached is not None and _session_alive(cached):
            return cached
        creds = service_session(role_arn, STATES, "StepFunctions")
        if creds is None:
            _function_sessions.pop(key, None)
        else:
            _function_sessions[key] = creds
        return creds


class TargetRefused(Exception):
    """A rule could not start its target as the target's role: ``code`` is what the call answered."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_rule_target(rule_arn: str, target: dict[str, Any], action: str = "states:StartExecution") -> None:
    """EventBridge invokes a Step Functions target as the target's ``RoleArn`` ("Amazon EventBridge
    targets": "EventBridge needs an IAM role to start the state machine"; "Using identity-based
    policies for EventBridge"): the role's trust policy must let ``events.amazonaws.com`` assume
    it (``aws:SourceArn`` = the rule) and its policies allow ``states:StartExecution`` on the state
    machine. Raises :class:`TargetRefused`; a target without a role, or with a role that is not one
    of the sandbox's, is not checked."""
    role_arn = target.get("RoleArn")
    if not role_arn:
        return
    parts = str(role_arn).split(":")
    if role_can_be_assumed_by(str(role_arn), EVENTS) is None:
        return
    creds = service_session(str(role_arn), EVENTS, f"events-{uuid.uuid4().hex[:16]}", source_arn=rule_arn,
                            source_account=rule_arn.split(":")[4] if rule_arn.count(":") >= 5 else parts[4])
    if creds is None:
        raise TargetRefused("AccessDenied", f"EventBridge could not assume the role {role_arn}: its trust policy does "
                            f"not allow {EVENTS} for {rule_arn}")
    decision = evaluate(creds["Arn"], action, str(target.get("Arn")))
    if decision != ALLOWED:
        principal = principal_from_arn(creds["Arn"])
        raise TargetRefused("AccessDeniedException", _deny_message(principal, action, str(target.get("Arn")), decision))


def _patch_state_machine_clients() -> None:
    """moto's interpreter builds every task's boto client in ``boto_client_for(region, service,
    state_credentials)``, signed with the fixed key ``ak``; sign it with the role's credentials."""
    import sys

    import boto3
    from moto.stepfunctions.parser.asl.utils import boto_client as module

    original = module.boto_client_for

    def boto_client_for(region: str, service: str, state_credentials: Any = None):
        client = original(region=region, service=service, state_credentials=state_credentials)
        creds = state_machine_credentials(getattr(state_credentials, "role_arn", None))
        if creds is None:
            return client
        return boto3.client(
            service_name=service,
            region_name=region,
            endpoint_url=client.meta.endpoint_url,
            config=client.meta.config,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )

    module.boto_client_for = boto_client_for
    for name, mod in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and getattr(mod, "boto_client_for", None) is original:
            mod.boto_client_for = boto_client_for

"""IAM enforced in the sandbox for the principals created in it: IAM users and assumed roles.

AWS authorizes every request (IAM User Guide, "Policy evaluation logic",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): an
explicit ``Deny`` in any applicable policy wins, else an ``Allow`` is needed, else the request is
implicitly denied. moto 5.2.5 can evaluate identity policies too (``moto/iam/access_control.py``,
switched on by ``INITIAL_NO_AUTH_ACTION_COUNT``), but it matches every action against ``Resource:
"*"`` (only S3 passes a bucket ARN), ignores most conditions and ``NotResource``, and once on it
applies to every caller. This extension instead:

- **who is checked**: a request signed with an access key the sandbox issued, i.e. an IAM user's
  key (``iam:CreateAccessKey``, by API or CloudFormation) or the temporary credentials of an
  assumed role (``sts:AssumeRole`` of a role that exists in the sandbox, and the credentials the
  sandbox itself hands to Lambda functions, state machines and rule targets). Every other key (the
  sandbox's default ``testing``, moto's own test keys) stays unrestricted, like an account's root
  user, so plain use and moto's own test suite keep working; so do the credentials of a role
  assumed while that role did not exist (moto lets any ARN be assumed). A key the sandbox issued
  that is deleted or made inactive answers ``InvalidClientTokenId`` / ``UnrecognizedClientException``
  (HTTP 403/400), an expired session ``ExpiredToken`` / ``ExpiredTokenException``, a session token
  that does not belong to the key ``InvalidClientTokenId``.
- **what is evaluated**: the principal's identity-based policies: a user's inline and managed
  policies and those of its groups; a role's inline and managed policies (the default version of a
  managed policy). ``Effect``, ``Action``/``NotAction``, ``Resource``/``NotResource`` with ``*``
  and ``?`` wildcards (actions case-insensitive, ARNs case-sensitive), and ``Condition`` with the
  String*, Arn*, Bool, Null, Numeric* operators, their ``...IfExists`` forms and the
  ``ForAnyValue:``/``ForAllValues:`` qualifiers ("IAM JSON policy elements: Condition operators":
  a key absent from the request makes a positive operator false and a negated one true).
  Context keys: ``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:PrincipalType``,
  ``aws:username``, ``aws:userid`` (users), ``aws:SecureTransport`` (false: the sandbox speaks
  HTTP), ``aws:RequestedRegion``, ``aws:CurrentTime``, ``aws:EpochTime``, and per action
  ``iam:PassedToService`` (``iam:PassRole``), ``lambda:FunctionArn`` (event source mappings: the
  function given, or for a call naming a mapping by UUID the function it invokes),
  ``cloudformation:RoleArn`` (the request's ``RoleARN``), ``cloudwatch:namespace`` (``PutMetricData``),
  ``aws:SourceArn``/``aws:SourceAccount`` (a service assuming a role).
- **against which resource**: the real ARN of what the call touches, per action, for the
  services this runbook uses (table, index, stream, backup, export; queue; function and event
  source mapping; state machine and execution; rule and event bus; stack; log group and log
  stream; bucket and object; role, user, policy; trail; secret; CloudWatch alarms (``alarm:<name>``,
  ``DescribeAlarms`` on ``alarm:*``); metrics and the list calls on ``*``), following each service's "Actions, resources, and condition keys" page of the Service
  Authorization Reference. Batch calls are checked per table; ``TransactWriteItems`` per item as
  the item action; SQS's ``*Batch`` calls as their single action (``sqs:SendMessage``...);
  ``RestoreTableToPointInTime`` needs the action on the source table and read/write actions on
  the target ("Using IAM with DynamoDB backup and restore"). An action not in these tables is
  checked against ``*``.
- **passing a role**: ``iam:PassRole`` on the role, with ``iam:PassedToService``, when a call
  gives a role to a service (Lambda ``CreateFunction``/``UpdateFunctionConfiguration``, Step
  Functions ``CreateStateMachine``/``UpdateStateMachine``, Events ``PutTargets``, CloudFormation
  ``CreateStack``/``UpdateStack``/``DeleteStack`` with ``RoleARN``).
- **assuming a role**: a sandbox principal's ``sts:AssumeRole`` needs the role's trust policy to
  name it (its ARN, its account, ``*``) and, unless the trust policy names that very principal,
  an identity policy allowing ``sts:AssumeRole`` on the role. A service (``lambda.amazonaws.com``,
  ``states.amazonaws.com``, ``events.amazonaws.com``) gets credentials through
  :func:`service_session` only when the trust policy names it, conditions included.
- **the answer**: as AWS words it ("Troubleshoot access denied error messages",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html): ``User:
  <principal ARN> is not authorized to perform: <action> on resource: <ARN> because no
  identity-based policy allows the <action> action`` (or ``with an explicit deny in an
  identity-based policy``), the principal being the user's ARN or
  ``arn:aws:sts::<account>:assumed-role/<role>/<session>``. Code and status per protocol:
  JSON services ``AccessDeniedException`` (HTTP 400; SQS adds the query code ``AccessDenied`` in
  ``x-amzn-query-error``), Lambda ``AccessDeniedException`` (403), query services (IAM, STS,
  CloudFormation) and S3 ``AccessDenied`` (403).

:func:`evaluate` is the one evaluation function (``iam:SimulatePrincipalPolicy`` and the
runbook's preflight can build on it).

Where the sandbox still differs from AWS:

- resource-based policies (queue, bucket, function, secret, table policies), permissions
  boundaries, session policies, SCPs/RCPs, and cross-account access are not evaluated: only
  identity policies decide, and an allow in a resource policy does not help a sandbox principal;
- the request signature is not verified (moto does not either unless its own auth is on): knowing
  a sandbox-issued access key id is enough to act as it; a session token must still match;
- CloudWatch Logs: an action on a log group is allowed by a statement naming ``log-group:NAME`` or
  ``log-group:NAME:*`` (both forms are in AWS's examples; which one AWS matches per action is not
  modelled);
- policy variables (``${aws:username}``) are not substituted, Date and IpAddress operators and tag
  keys (``aws:ResourceTag``, ``aws:RequestTag``, ``aws:PrincipalTag``) are not evaluated (a
  condition using them does not match);
- what a service does on the caller's behalf is not checked against the caller: CloudFormation
  creates a stack's resources in-process, without checking the caller's (or its ``RoleARN``'s)
  permission for each resource; only the calls that arrive over HTTP are checked;
- when moto's own IAM check is switched on (``/moto-api/reset-auth``, its tests), moto's check
  applies instead of this one;
- the sandbox's default credentials are unrestricted (AWS's root user is too, but the root user
  should never run a runbook): the runbook's drill runs as an IAM user to exercise the policies;
  a root-like caller's ``sts:AssumeRole`` is not checked against the trust policy;
- a role whose trust policy has no statement (AWS refuses it at ``CreateRole`` with
  ``MalformedPolicyDocument``; moto and tests written before this extension create them with
  ``{}``) stays outside IAM: its sessions, functions and state machines are unrestricted;
- Lambda: ``CreateFunction`` refuses a role Lambda may not assume and ``CreateEventSourceMapping``
  a role without the poller's actions on the source (wording as Lambda answers it); the poller's
  own reads and deletes, and the shipping of logs, run in-process and are not checked again at
  each poll (AWS would stop the mapping with ``LastProcessingResult`` ``PROBLEM: ...``);
- Step Functions: a task's client is signed with the state machine role's session named
  ``StepFunctions`` (AWS's session names differ), the trust check has ``aws:SourceAccount`` but no
  ``aws:SourceArn``; EventBridge's session for a target is named ``events-<random>``.

Split by concern: the policy language is in ``iam_policy.py``, what each call needs in
``iam_resources.py``, principals and sessions in ``iam_principals.py``, refusals in each
protocol's shape in ``iam_answers.py``, services acting as their roles in ``iam_roles.py``; this
module is the request hook and its installation.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any


from .iam_policy import (  # noqa: F401 - re-exported: iam_auth is the one entry point
    ALLOWED,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    Statement,
    decide,
    parse_policy,
    trust_allows,
)
from .iam_policy import _document  # noqa: F401
from .iam_resources import _QUERY, _REST_JSON, _S3_ACTIONS, _S3_SUBRESOURCES, Check, checks_for  # noqa: F401
from .iam_answers import _auth_failed, _Refused, access_denied  # noqa: F401
from .iam_principals import (  # noqa: F401 - re-exported: iam_auth is the one entry point
    Principal,
    _AuthError,
    _base_context,
    _iam_backend,
    _issued,
    _principal_of_key,
    _register_session,
    _register_user_key,
    evaluate,
    function_credentials,
    identity_policies,
    principal_from_arn,
    role_allows,
    role_can_be_assumed_by,
    service_session,
)
from .iam_roles import (  # noqa: F401 - re-exported
    TargetRefused,
    _patch_state_machine_clients,
    _wrap_create_function,
    _wrap_create_mapping,
    check_rule_target,
    mapping_permission_problem,
    state_machine_credentials,
)

_installed = False
_installed = False
_install_lock = threading.Lock()


# --------------------------------------------------------------------------------- the request
def _flat(querystring: dict[str, Any]) -> dict[str, Any]:
    return {k: (v[0] if isinstance(v, list) and v else v) for k, v in (querystring or {}).items()}


def _params(handler: Any, service: str) -> dict[str, Any]:
    if service in _QUERY:
        return _flat(handler.querystring)
    body: Any = {}
    raw = handler.body
    if isinstance(raw, dict):
        body = raw
    elif raw:
        try:
            body = json.loads(raw if isinstance(raw, str) else raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, AttributeError):
            body = {}
    if not isinstance(body, dict):
        body = {}
    if service in _REST_JSON:
        params = _flat(handler.querystring)
        params.update(body)
        params.update(getattr(handler, "uri_match", None) or {})
        return params
    if not body:
        return _flat(handler.querystring)
    return body


def _credential(headers: Any) -> tuple[str | None, str | None, str | None]:
    """(access key id, signing service, region) from the SigV4 Authorization header."""
    auth = headers.get("Authorization")
    if not auth:
        return None, None, None
    start = auth.find("Credential=")
    if start < 0:
        return None, None, None
    end = auth.find(",", start)
    scope = auth[start + 11 : end if end > 0 else None].split("/")
    if len(scope) < 4:
        return scope[0], None, None
    return scope[0], scope[3], scope[2]


def _moto_auth_on() -> bool:
    from moto import settings

    return settings.INITIAL_NO_AUTH_ACTION_COUNT != float("inf")


def authorize(handler: Any, service: str, principal: Principal, op: str, region: str, s3_resource: str | None = None) -> None:
    """Raise ``_Refused`` unless every (action, resource) the call needs is allowed."""
    if service == "sts" and op == "GetCallerIdentity":
        return  # "no permissions are required to perform this operation" (STS API reference)
    if service == "s3":
        checks: list[Check] = [(f"s3:{_S3_ACTIONS.get(op, op)}", s3_resource or "*", {})]
    else:
        params = _params(handler, service)
        checks = checks_for(service, op, params, partition=principal.partition, region=region, account=principal.account)
    policies = identity_policies(principal)
    base = _base_context(principal, region)
    for action, resource, extra in checks:
        ctx = dict(base, **extra) if extra else base
        decision = decide(policies, action, resource, ctx)
        if decision == IMPLICIT_DENY and action.startswith("logs:") and ":log-group:" in resource and ":log-stream:" not in resource:
            # policies name a log group as ``log-group:NAME`` (the Service Authorization Reference's
            # ARN) or ``log-group:NAME:*`` (CloudWatch Logs' own examples): either form allows it
            decision = decide(policies, action, resource + ":*", ctx)
        if action == "sts:AssumeRole" and decision != EXPLICIT_DENY:
            decision = _assume_role_decision(principal, resource, decision)
        if decision != ALLOWED:
            raise access_denied(service, handler, principal, action, resource, decision)


def _assume_role_decision(principal: Principal, role_arn: str, identity: str) -> str:
    """Same-account AssumeRole: the trust policy must name the caller; an identity allow is also
    needed unless the trust policy names the caller's own ARN ("Policy evaluation logic":
    "Determining whether a request is allowed or denied within an account")."""
    try:
        parts = role_arn.split(":")
        role = _iam_backend(parts[4], parts[1]).get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 - no such role: moto answers as it does
        return identity
    allowed, named = trust_allows(role, caller=principal, context=_base_context(principal, None))
    if not allowed:
        return IMPLICIT_DENY
    return ALLOWED if (identity == ALLOWED or named) else IMPLICIT_DENY


def _principal_or_refusal(handler: Any, service: str, key_id: str) -> Principal | None:
    token = handler.headers.get("X-Amz-Security-Token")
    try:
        return _principal_of_key(key_id, token)
    except _AuthError as exc:
        raise _auth_failed(service, handler, exc.kind) from None


# ------------------------------------------------------------------------------------ the hooks
def _signing_service(handler: Any, service: str | None) -> str:
    if service:
        return service
    return {"awslambda": "lambda", "stepfunctions": "states", "cloudwatch": "monitoring"}.get(handler.service_name, handler.service_name or "")


def _check_normal(handler: Any) -> None:
    key_id, service, region = _credential(handler.headers)
    if key_id is None or key_id not in _issued or _moto_auth_on():
        return
    service = _signing_service(handler, service)
    principal = _principal_or_refusal(handler, service, key_id)
    if principal is None:
        return
    op = handler._get_action()
    if isinstance(op, list):
        op = op[0]
    authorize(handler, service, principal, str(op or ""), region or handler.region)


def _check_s3(handler: Any, bucket_name: str | None, key_name: str | None) -> None:
    key_id, service, region = _credential(handler.headers)
    if key_id is None or key_id not in _issued or _moto_auth_on():
        return
    principal = _principal_or_refusal(handler, "s3", key_id)
    if principal is None:
        return
    target = f"{bucket_name or '*'}/{key_name}" if key_name else (bucket_name or "*")
    op = str(handler.data.get("Action") or "")
    if not key_name:  # bucket subresources moto's ACTION_MAP does not know (it answers its DEFAULT)
        for (method, subresource), action in _S3_SUBRESOURCES.items():
            if handler.method == method and subresource in (handler.querystring or {}):
                op = action
                break
    authorize(handler, "s3", principal, op, region or handler.region, f"arn:{principal.partition}:s3:::{target}")


def _wrap_normal(original):
    from werkzeug.exceptions import HTTPException

    class _Answer(HTTPException):
        def __init__(self, refused: _Refused) -> None:
            super().__init__(description=refused.body)
            self.code = refused.status

    def _authenticate_and_authorize_normal_action(self, resource: str = "*") -> None:
        try:
            _check_normal(self)
        except _Refused as refused:
            self.response_headers.update(refused.headers)
            raise _Answer(refused) from None
        return original(self, resource)

    return _authenticate_and_authorize_normal_action


def _s3_errors():
    from moto.s3.exceptions import S3ClientError

    class S3AccessDenied(S3ClientError):
        code = "AccessDenied"

    class S3InvalidAccessKeyId(S3ClientError):
        code = "InvalidAccessKeyId"

    return S3AccessDenied, S3InvalidAccessKeyId


def _wrap_s3(original):
    denied, invalid = _s3_errors()

    def _authenticate_and_authorize_s3_action(self, bucket_name: str | None = None, key_name: str | None = None) -> None:
        try:
            _check_s3(self, bucket_name, key_name)
        except _Refused as refused:
            found = re.search(r"<Message>(.*?)</Message>", refused.body, re.S)
            message = found.group(1) if found else ""
            if "<Code>AccessDenied</Code>" in refused.body:
                raise denied(message) from None
            raise invalid(message) from None
        return original(self, bucket_name=bucket_name, key_name=key_name)

    return _authenticate_and_authorize_s3_action


def _wrap_assume_role(original):
    def assume_role(self, *args: Any, **kwargs: Any):
        assumed = original(self, *args, **kwargs)
        _register_session(assumed)
        return assumed

    return assume_role


def _wrap_create_from_cfn(original):
    """``AWS::IAM::AccessKey`` creates its key through the user model, not the backend method."""

    def create_access_key(self, prefix: str, status: str = "Active"):
        key = original(self, prefix=prefix, status=status)
        from moto.utilities.utils import get_partition

        _register_user_key(self.account_id, get_partition(self.region_name), key)
        return key

    return create_access_key


def install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.iam.models import User
        from moto.sts.models import STSBackend

        ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = _wrap_normal(
            ActionAuthenticatorMixin._authenticate_and_authorize_normal_action
        )
        ActionAuthenticatorMixin._authenticate_and_authorize_s3_action = _wrap_s3(
            ActionAuthenticatorMixin._authenticate_and_authorize_s3_action
        )
        User.create_access_key = _wrap_create_from_cfn(User.create_access_key)
        STSBackend.assume_role = _wrap_assume_role(STSBackend.assume_role)
        from moto.awslambda.models import LambdaBackend

        LambdaBackend.create_function = _wrap_create_function(LambdaBackend.create_function)
        LambdaBackend.create_event_source_mapping = _wrap_create_mapping(LambdaBackend.create_event_source_mapping)
        # the interpreter's modules that use boto_client_for are imported by now (stepfunctions.py
        # installs before this module); import the task modules here to be sure
        import moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils  # noqa: F401
        import moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk  # noqa: F401
        import moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported  # noqa: F401

        _patch_state_machine_clients()
        _installed = True


__all__ = [
    "ALLOWED",
    "EXPLICIT_DENY",
    "IMPLICIT_DENY",
    "Principal",
    "evaluate",
    "role_allows",
    "service_session",
    "function_credentials",
    "role_can_be_assumed_by",
    "mapping_permission_problem",
    "state_machine_credentials",
    "check_rule_target",
    "TargetRefused",
    "trust_allows",
    "parse_policy",
    "identity_policies",
    "checks_for",
    "install",
]

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
  ``cloudformation:RoleArn`` (the request's ``RoleARN``),
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

The policy language is in ``iam_policy.py``, what each call needs in ``iam_resources.py``.
Size: over 600 lines on purpose until the restructure issue (#11), which splits the code base by
concern in one pass; here principals and sessions, the request hook and its answers, and the
Lambda/Step Functions/EventBridge glue become separate modules.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

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

_installed = False
_lock = threading.Lock()

#: access key id -> what the sandbox issued it to: ("user", account, partition, user name) or
#: ("session", AssumedRole). Read on every request (a dict lookup), written when a key is issued.
_issued: dict[str, tuple] = {}


# ---------------------------------------------------------------------------------- principals
@dataclass(frozen=True)
class Principal:
    """Who signed the request: an IAM user or an assumed-role session."""

    arn: str  # arn:aws:iam::A:user/NAME or arn:aws:sts::A:assumed-role/ROLE/SESSION
    kind: str  # "user" | "session"
    account: str
    partition: str
    name: str  # the user's or the role's name
    role_arn: str = ""
    user_id: str = ""
    expiration: datetime.datetime | None = field(default=None, compare=False)

    @property
    def type(self) -> str:
        return "User" if self.kind == "user" else "AssumedRole"


class _AuthError(Exception):
    """Authentication failed: the code family ("invalid" or "expired")."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _iam_backend(account: str, partition: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account][partition]


def _register_user_key(account: str, partition: str, key: Any) -> None:
    if getattr(key, "user_name", None):
        _issued[key.access_key_id] = ("user", account, partition, key.user_name)


def _register_session(assumed: Any) -> None:
    """Only a session of an enforced role is restricted (moto lets any ARN be assumed)."""
    try:
        role = _iam_backend(assumed.account_id, assumed.partition).get_role_by_arn(assumed.role_arn)
    except Exception:  # noqa: BLE001 - no such role in the sandbox: unrestricted, as before
        return
    if _enforced(role):
        _issued[assumed.access_key_id] = ("session", assumed)


def _enforced(role: Any) -> bool:
    """A role is enforced when its trust policy has a statement: AWS refuses to create one without
    (``MalformedPolicyDocument``), moto does not, and tests that never meant to exercise IAM create
    roles with ``{}``; such a role stays outside IAM, as every role was before this extension."""
    try:
        return bool(parse_policy(_document(role.assume_role_policy_document)))
    except (ValueError, TypeError, AttributeError):
        return False


def _session_principal(assumed: Any, session_token: str | None) -> Principal:
    if session_token != assumed.session_token:
        raise _AuthError("invalid")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    expiration = assumed.expiration
    if expiration.tzinfo is not None:
        expiration = expiration.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    if expiration <= now:
        raise _AuthError("expired")
    return Principal(
        arn=assumed.arn,
        kind="session",
        account=assumed.account_id,
        partition=assumed.partition,
        name=assumed.role_arn.rsplit("/", 1)[-1],
        role_arn=assumed.role_arn,
        user_id=assumed.session_name,
        expiration=expiration,
    )


def _user_principal(user: Any, account: str, partition: str) -> Principal:
    return Principal(arn=user.arn, kind="user", account=account, partition=partition, name=user.name, user_id=user.id)


def _principal_of_key(key_id: str, session_token: str | None) -> Principal | None:
    """None for a key the sandbox did not issue (unrestricted), else the principal or ``_AuthError``."""
    entry = _issued.get(key_id)
    if entry is None:
        return None
    if entry[0] == "user":
        _, account, partition, user_name = entry
        user = _iam_backend(account, partition).users.get(user_name)
        key = None
        if user is not None:
            key = next((k for k in user.access_keys if k.access_key_id == key_id), None)
        if key is None or key.status != "Active" or session_token:
            raise _AuthError("invalid")
        return _user_principal(user, account, partition)
    return _session_principal(entry[1], session_token)


def principal_from_arn(arn: str) -> Principal:
    """A principal named by ARN: ``...:user/NAME``, ``...:role/NAME`` or ``...:assumed-role/ROLE/SESSION``.
    ``ValueError`` when it names no user or role of the sandbox."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ValueError(f"not an IAM principal ARN: {arn!r}")
    partition, service, account, resource = parts[1], parts[2], parts[4], parts[5]
    try:
        backend = _iam_backend(account, partition)
        if service == "iam" and resource.startswith("user/"):
            user = backend.users.get(resource.rsplit("/", 1)[-1])
            if user is not None and user.arn == arn:
                return _user_principal(user, account, partition)
        elif service == "iam" and resource.startswith("role/"):
            role = backend.get_role_by_arn(arn)
            return Principal(arn=arn, kind="session", account=account, partition=partition, name=role.name, role_arn=role.arn)
        elif service == "sts" and resource.startswith("assumed-role/"):
            role = backend.get_role(resource.split("/")[1])
            return Principal(arn=arn, kind="session", account=account, partition=partition, name=role.name, role_arn=role.arn)
    except Exception as exc:  # noqa: BLE001 - moto's NotFoundException, an unknown partition
        raise ValueError(f"no such IAM user or role in the sandbox: {arn!r}") from exc
    raise ValueError(f"no such IAM user or role in the sandbox: {arn!r}")


def identity_policies(principal: Principal) -> list[tuple[Statement, ...]]:
    """The parsed identity-based policies that apply to ``principal``."""
    backend = _iam_backend(principal.account, principal.partition)
    docs: list[Any] = []
    if principal.kind == "user":
        user = backend.users.get(principal.name)
        if user is None:
            return []
        docs += list(user.policies.values()) + list(user.managed_policies.values())
        for group in list(backend.groups.values()):
            if user in group.users:
                docs += list(group.policies.values()) + list(group.managed_policies.values())
    else:
        try:
            role = backend.get_role(principal.name)
        except Exception:  # noqa: BLE001 - the role is gone: nothing applies
            return []
        docs += list(role.policies.values()) + list(role.managed_policies.values())
    parsed = []
    for doc in docs:
        try:
            parsed.append(parse_policy(_document(doc)))
        except (ValueError, AttributeError, TypeError):
            log.warning("iam_auth: a policy of %s is not valid JSON: ignored", principal.arn)
    return parsed


@functools.lru_cache(maxsize=4)
def _time_keys(second: int) -> tuple[str, str]:
    """``aws:CurrentTime`` and ``aws:EpochTime`` of an epoch second: formatted once per second,
    not once per request."""
    return (datetime.datetime.fromtimestamp(second, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), str(second))


def _base_context(principal: Principal, region: str | None) -> dict[str, Any]:
    current_time, epoch_time = _time_keys(int(time.time()))
    ctx: dict[str, Any] = {
        "aws:PrincipalArn": principal.role_arn if principal.kind == "session" else principal.arn,
        "aws:PrincipalAccount": principal.account,
        "aws:PrincipalType": principal.type,
        "aws:SecureTransport": "false",
        "aws:CurrentTime": current_time,
        "aws:EpochTime": epoch_time,
    }
    if principal.kind == "user":
        ctx["aws:username"] = principal.name
        ctx["aws:userid"] = principal.user_id
    if region:
        ctx["aws:RequestedRegion"] = region
    return ctx


def evaluate(principal_arn: str, action: str, resource_arn: str, context: dict[str, Any] | None = None) -> str:
    """Whether ``principal_arn`` may perform ``action`` on ``resource_arn``: ``"allowed"``,
    ``"explicitDeny"`` or ``"implicitDeny"``, from its identity-based policies (see the module
    docstring for what is and is not evaluated).

    ``principal_arn``: an IAM user (``arn:aws:iam::A:user/NAME``), a role (``arn:aws:iam::A:role/NAME``,
    evaluated as a session of it) or an assumed-role session (``arn:aws:sts::A:assumed-role/R/S``).
    ``action``: ``service:Action`` (``dynamodb:DescribeTable``). ``context``: extra condition keys
    (``{"iam:PassedToService": "lambda.amazonaws.com"}``), added to the principal's own keys.
    Raises ``ValueError`` for an ARN that names no user or role of the sandbox.
    """
    principal = principal_from_arn(principal_arn)
    region = resource_arn.split(":")[3] if resource_arn.count(":") >= 4 else None
    ctx = _base_context(principal, region)
    ctx.update(context or {})
    return decide(identity_policies(principal), action, resource_arn, ctx)


def service_session(role_arn: str, service: str, session_name: str, *, source_arn: str | None = None,
                    source_account: str | None = None, duration: int = 3600) -> dict[str, Any] | None:
    """Temporary credentials of ``role_arn`` for an AWS service (``lambda.amazonaws.com``...), as
    the service gets them: only when the role exists and its trust policy lets ``service`` assume
    it (``aws:SourceArn``/``aws:SourceAccount`` in the context). None otherwise.

    The answer: ``{"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration" (epoch s), "Arn"}``.
    """
    parts = role_arn.split(":")
    if len(parts) < 6:
        return None
    partition, account = parts[1], parts[4]
    try:
        role = _iam_backend(account, partition).get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 - no such role
        return None
    if not _enforced(role):
        return None
    ctx = {"aws:SourceAccount": source_account or account}
    if source_arn:
        ctx["aws:SourceArn"] = source_arn
    allowed, _ = trust_allows(role, service=service, context=ctx)
    if not allowed:
        return None
    from moto.sts.models import sts_backends

    region = "us-east-1"
    assumed = sts_backends[account][partition].assume_role(
        region_name=region,
        role_session_name=session_name[:64],
        role_arn=role_arn,
        policy=None,
        duration=duration,
        external_id=None,
    )
    expiration = assumed.expiration
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=datetime.timezone.utc)
    return {
        "AccessKeyId": assumed.access_key_id,
        "SecretAccessKey": assumed.secret_access_key,
        "SessionToken": assumed.session_token,
        "Expiration": expiration.timestamp(),
        "Arn": assumed.arn,
    }


#: (role ARN, function ARN) -> credentials handed to that function's workers, reused while fresh
_function_sessions: dict[tuple[str, str], dict[str, Any]] = {}
#: a function's credentials are renewed when less than this is left (botocore refreshes credentials
#: with an expiry 15 minutes ahead, reading the environment again: be earlier than that)
REFRESH_AHEAD = 20 * 60


def _session_alive(creds: dict[str, Any]) -> bool:
    entry = _issued.get(creds["AccessKeyId"])
    if entry is None or entry[0] != "session":
        return False
    assumed = entry[1]
    from moto.sts.models import sts_backends

    try:
        live = sts_backends[assumed.account_id][assumed.partition].assumed_roles
    except KeyError:
        return False
    return any(a is assumed for a in live) and creds["Expiration"] - time.time() > REFRESH_AHEAD


def function_credentials(role_arn: str, function_arn: str) -> dict[str, Any] | None:
    """The execution role's credentials for a Lambda function, as Lambda passes them to the
    function's environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``;
    "Defined runtime environment variables", AWS Lambda Developer Guide,
    https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime):
    a session named after the function, ``arn:aws:sts::A:assumed-role/ROLE/FUNCTION``. None when the
    role does not exist in the sandbox or its trust policy does not let ``lambda.amazonaws.com``
    assume it. Reused until less than :data:`REFRESH_AHEAD` seconds are left."""
    key = (role_arn, function_arn)
    with _lock:
        cached = _function_sessions.get(key)
        if cached is not None and _session_alive(cached):
            return cached
        name = function_arn.split(":function:", 1)[-1].split(":", 1)[0]
        parts = function_arn.split(":")
        creds = service_session(role_arn, "lambda.amazonaws.com", name, source_arn=function_arn,
                                source_account=parts[4] if len(parts) > 4 else None)
        if creds is None:
            _function_sessions.pop(key, None)
        else:
            _function_sessions[key] = creds
        return creds


def role_can_be_assumed_by(role_arn: str, service: str) -> bool | None:
    """None when the role is not in the sandbox (moto accepts any ARN), else whether its trust
    policy lets ``service`` assume it (without source conditions)."""
    parts = role_arn.split(":")
    if len(parts) < 6:
        return None
    try:
        role = _iam_backend(parts[4], parts[1]).get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 - no such role
        return None
    if not _enforced(role):
        return None
    allowed, _ = trust_allows(role, service=service, context={"aws:SourceAccount": parts[4]})
    return allowed


def role_allows(role_arn: str, action: str, resource_arn: str, context: dict[str, Any] | None = None) -> str:
    """:func:`evaluate` for a role given by ARN (what a service acting as the role may do)."""
    return evaluate(role_arn, action, resource_arn, context)


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


class _Refused(Exception):
    """Carries a finished (status, headers, body) answer."""

    def __init__(self, status: int, headers: dict[str, str], body: str) -> None:
        super().__init__(body)
        self.status, self.headers, self.body = status, headers, body


def _deny_message(principal: Principal, action: str, resource: str, decision: str) -> str:
    why = (
        "with an explicit deny in an identity-based policy"
        if decision == EXPLICIT_DENY
        else f"because no identity-based policy allows the {action} action"
    )
    return f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} {why}"


def _answer(service: str, handler: Any, code_json: str, code_query: str, status_json: int, status_query: int, message: str) -> _Refused:
    request_id = str(uuid.uuid4())
    if service in _QUERY:
        body = (
            f'<ErrorResponse xmlns="{_XMLNS.get(service, "")}"><Error><Type>Sender</Type>'
            f"<Code>{code_query}</Code><Message>{_xml(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return _Refused(status_query, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body)
    if service == "s3":
        body = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code_query}</Code><Message>{_xml(message)}</Message><RequestId>{request_id}</RequestId></Error>"
        return _Refused(status_query, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, body)
    headers = {"x-amzn-RequestId": request_id}
    if service in _REST_JSON:
        headers.update({"Content-Type": "application/json", "x-amzn-ErrorType": code_json})
        return _Refused(status_query, headers, json.dumps({"Type": "User", "Message": message}))
    content_type = handler.headers.get("Content-Type", "") or ""
    if "cbor" in content_type:
        headers.update({"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
        if service in _QUERY_COMPATIBLE:
            # CloudWatch's model is awsQueryCompatible: the query code travels in this header, and
            # botocore reports it (AccessDenied) instead of the body's __type
            headers["x-amzn-query-error"] = f"{code_query};Sender"
        return _Refused(status_json, headers, _cbor_map({"__type": code_json, "message": message}))  # type: ignore[arg-type]
    headers["Content-Type"] = content_type or "application/x-amz-json-1.0"
    if service in _QUERY_COMPATIBLE:
        # SQS and CloudWatch speak JSON but are query-compatible: the legacy code travels in this header
        headers["x-amzn-query-error"] = f"{code_query};Sender"
    body = json.dumps({"__type": f"com.amazon.coral.service#{code_json}", "Message": message, "message": message})
    return _Refused(status_json, headers, body)


#: services whose JSON/CBOR models are ``awsQueryCompatible`` (botocore's metadata): refusals carry
#: the query protocol's code in ``x-amzn-query-error``
_QUERY_COMPATIBLE = frozenset({"sqs", "monitoring"})  # "monitoring": CloudWatch's endpoint prefix

#: the query services' XML namespaces (their API references' response examples)
_XMLNS = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/",
}


def _cbor_map(values: dict[str, str]) -> bytes:
    """A CBOR map of text strings (RFC 8949), for CloudWatch's rpc-v2-cbor protocol."""

    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes([major << 5 | n])
        if n < 256:
            return bytes([major << 5 | 24, n])
        return bytes([major << 5 | 25]) + n.to_bytes(2, "big")

    out = bytearray(head(5, len(values)))
    for k, v in values.items():
        for text in (k, v):
            data = text.encode("utf-8")
            out += head(3, len(data)) + data
    return bytes(out)


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def access_denied(service: str, handler: Any, principal: Principal, action: str, resource: str, decision: str) -> _Refused:
    if service == "sqs":
        # SQS names the action in lower case: "is not authorized to perform: sqs:sendmessage on
        # resource: ... because no identity-based policy allows the sqs:sendmessage action"
        action = action.lower()
    message = _deny_message(principal, action, resource, decision)
    return _answer(service, handler, "AccessDeniedException", "AccessDenied", 400, 403, message)


def _auth_failed(service: str, handler: Any, kind: str) -> _Refused:
    if kind == "expired":
        return _answer(service, handler, "ExpiredTokenException", "ExpiredToken", 400, 403,
                       "The security token included in the request is expired")
    code_query = "InvalidAccessKeyId" if service == "s3" else "InvalidClientTokenId"
    message = ("The AWS Access Key Id you provided does not exist in our records." if service == "s3"
               else "The security token included in the request is invalid.")
    return _answer(service, handler, "UnrecognizedClientException", code_query, 400, 403, message)


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


def install() -> None:
    global _installed
    with _lock:
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

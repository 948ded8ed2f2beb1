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
- policy variables (``${aws:username}``) are not substituted, Date and IpAddress operators and tag
  keys (``aws:ResourceTag``, ``aws:RequestTag``, ``aws:PrincipalTag``) are not evaluated (a
  condition using them does not match);
- what a service does on the caller's behalf is not checked against the caller: CloudFormation
  creates a stack's resources in-process, without checking the caller's (or its ``RoleARN``'s)
  permission for each resource; only the calls that arrive over HTTP are checked;
- when moto's own IAM check is switched on (``/moto-api/reset-auth``, its tests), moto's check
  applies instead of this one;
- the sandbox's default credentials are unrestricted (AWS's root user is too, but the root user
  should never run a runbook): the runbook's drill runs as an IAM user to exercise the policies.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable
from urllib.parse import unquote, urlparse

log = logging.getLogger(__name__)

ALLOWED = "allowed"
EXPLICIT_DENY = "explicitDeny"
IMPLICIT_DENY = "implicitDeny"

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
    """Only a session of a role that exists is restricted (moto lets any ARN be assumed)."""
    try:
        _iam_backend(assumed.account_id, assumed.partition).get_role_by_arn(assumed.role_arn)
    except Exception:  # noqa: BLE001 - no such role in the sandbox: unrestricted, as before
        return
    _issued[assumed.access_key_id] = ("session", assumed)


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


def _user_principal(user: Any, account: str, partition: str, session_token: str | None) -> Principal:
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
        return _user_principal(user, account, partition, session_token)
    return _session_principal(entry[1], session_token)


def principal_from_arn(arn: str) -> Principal:
    """A principal named by ARN: ``...:user/NAME``, ``...:role/NAME`` or ``...:assumed-role/ROLE/SESSION``."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ValueError(f"not an IAM principal ARN: {arn!r}")
    partition, service, account, resource = parts[1], parts[2], parts[4], parts[5]
    backend = _iam_backend(account, partition)
    if service == "iam" and resource.startswith("user/"):
        name = resource.rsplit("/", 1)[-1]
        user = backend.users.get(name)
        if user is None:
            raise ValueError(f"no such user: {arn}")
        return _user_principal(user, account, partition, None)
    if service == "iam" and resource.startswith("role/"):
        role = backend.get_role_by_arn(arn)
        return Principal(arn=arn, kind="session", account=account, partition=partition, name=role.name, role_arn=role.arn)
    if service == "sts" and resource.startswith("assumed-role/"):
        role_name = resource.split("/")[1]
        role = backend.get_role(role_name)
        return Principal(arn=arn, kind="session", account=account, partition=partition, name=role_name, role_arn=role.arn)
    raise ValueError(f"not an IAM user or role ARN: {arn!r}")


# ------------------------------------------------------------------------------------ policies
@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[re.Pattern, ...] | None
    not_actions: tuple[re.Pattern, ...] | None
    resources: tuple[re.Pattern, ...] | None
    not_resources: tuple[re.Pattern, ...] | None
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...]
    principals: dict[str, tuple[str, ...]] | None = None  # trust policies only
    not_principal: bool = False


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern:
    """``*`` any run of characters, ``?`` exactly one (IAM JSON policy elements: Action, Resource)."""
    out = []
    for ch in pattern:
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return re.compile("".join(out) + r"\Z", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _patterns(values: Any, ignore_case: bool) -> tuple[re.Pattern, ...] | None:
    if values is None:
        return None
    return tuple(_wildcard(str(v), ignore_case) for v in _as_list(values))


@lru_cache(maxsize=1024)
def parse_policy(document: str) -> tuple[Statement, ...]:
    """A policy document (JSON text, possibly URL-encoded) as statements; cached by its text."""
    text = document
    if text.lstrip().startswith("%7B") or text.lstrip().startswith("%7b"):
        text = unquote(text)
    doc = json.loads(text)
    statements = []
    for raw in _as_list(doc.get("Statement")):
        conditions = []
        for operator, keys in (raw.get("Condition") or {}).items():
            for key, values in (keys or {}).items():
                conditions.append((operator, key, tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(values))))
        principals = None
        not_principal = False
        spec = raw.get("Principal")
        if spec is None and raw.get("NotPrincipal") is not None:
            spec, not_principal = raw.get("NotPrincipal"), True
        if spec is not None:
            principals = {"*": ("*",)} if spec == "*" else {k: tuple(str(v) for v in _as_list(v)) for k, v in spec.items()}
        statements.append(
            Statement(
                effect=str(raw.get("Effect", "")),
                actions=_patterns(raw.get("Action"), True),
                not_actions=_patterns(raw.get("NotAction"), True),
                resources=_patterns(raw.get("Resource"), False),
                not_resources=_patterns(raw.get("NotResource"), False),
                conditions=tuple(conditions),
                principals=principals,
                not_principal=not_principal,
            )
        )
    return tuple(statements)


def _document(policy: Any) -> str:
    if isinstance(policy, str):
        return policy
    if isinstance(policy, dict):
        return json.dumps(policy)
    # a moto ManagedPolicy: its default version
    for version in getattr(policy, "versions", []) or []:
        if getattr(version, "is_default", False):
            return version.document if isinstance(version.document, str) else json.dumps(version.document)
    return getattr(policy, "document", "") or "{}"


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


# ---------------------------------------------------------------------------------- conditions
def _values(context: dict[str, Any], key: str) -> list[str] | None:
    value = context.get(key)
    if value is None:
        lowered = key.lower()
        for k, v in context.items():
            if k.lower() == lowered:
                value = v
                break
    if value is None:
        return None
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(value)]


def _one(op: str, policy_value: str, value: str) -> bool:
    if op in ("StringEquals", "ArnEquals"):
        return value == policy_value if op == "StringEquals" else _wildcard(policy_value, False).match(value) is not None
    if op == "StringEqualsIgnoreCase":
        return value.lower() == policy_value.lower()
    if op in ("StringLike", "ArnLike"):
        return _wildcard(policy_value, False).match(value) is not None
    if op == "Bool":
        return value.lower() == policy_value.lower()
    if op.startswith("Numeric"):
        try:
            a, b = float(value), float(policy_value)
        except ValueError:
            return False
        return {"NumericEquals": a == b, "NumericLessThan": a < b, "NumericLessThanEquals": a <= b,
                "NumericGreaterThan": a > b, "NumericGreaterThanEquals": a >= b}.get(op, False)
    raise KeyError(op)


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}


def _condition_holds(operator: str, key: str, policy_values: tuple[str, ...], context: dict[str, Any]) -> bool:
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    if if_exists:
        operator = operator[: -len("IfExists")]
    values = _values(context, key)
    if operator == "Null":
        want_absent = policy_values and policy_values[0].lower() == "true"
        return (values is None) == bool(want_absent)
    if values is None:
        if if_exists:
            return True
        if qualifier == "ForAllValues":
            return True
        return operator in _NEGATED
    negated = operator in _NEGATED
    base = _NEGATED.get(operator, operator)
    try:
        def matches(value: str) -> bool:
            return any(_one(base, pv, value) for pv in policy_values)

        if qualifier == "ForAllValues":
            result = all(matches(v) for v in values)
            return not result if negated else result
        if qualifier == "ForAnyValue":
            result = any(matches(v) for v in values)
            return not result if negated else result
        hit = any(matches(v) for v in values)
        return not hit if negated else hit
    except KeyError:
        return False  # an operator the sandbox does not evaluate (Date*, IpAddress, Binary): no match


def _statement_applies(st: Statement, action: str, resource: str, context: dict[str, Any]) -> bool:
    if st.actions is not None and not any(p.match(action) for p in st.actions):
        return False
    if st.not_actions is not None and any(p.match(action) for p in st.not_actions):
        return False
    if st.actions is None and st.not_actions is None:
        return False
    if st.resources is not None and not any(p.match(resource) for p in st.resources):
        return False
    if st.not_resources is not None and any(p.match(resource) for p in st.not_resources):
        return False
    return all(_condition_holds(op, key, values, context) for op, key, values in st.conditions)


def decide(policies: Iterable[tuple[Statement, ...]], action: str, resource: str, context: dict[str, Any]) -> str:
    """Explicit deny over allow over implicit deny, across every statement of every policy."""
    allowed = False
    for statements in policies:
        for st in statements:
            if st.principals is not None:
                continue  # a statement with a Principal belongs to a resource or trust policy
            if _statement_applies(st, action, resource, context):
                if st.effect == "Deny":
                    return EXPLICIT_DENY
                if st.effect == "Allow":
                    allowed = True
    return ALLOWED if allowed else IMPLICIT_DENY


def _base_context(principal: Principal, region: str | None) -> dict[str, Any]:
    now = time.time()
    ctx: dict[str, Any] = {
        "aws:PrincipalArn": principal.role_arn if principal.kind == "session" else principal.arn,
        "aws:PrincipalAccount": principal.account,
        "aws:PrincipalType": principal.type,
        "aws:SecureTransport": "false",
        "aws:CurrentTime": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now)),
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


# -------------------------------------------------------------------------------- trust policies
def _principal_named(st: Statement, caller: Principal | None, service: str | None) -> tuple[bool, bool]:
    """(matches, names the caller's very ARN) for one trust statement's Principal."""
    assert st.principals is not None
    if "*" in st.principals and "*" in st.principals["*"]:
        return True, False
    if service is not None:
        return service in st.principals.get("Service", ()), False
    if caller is None:
        return False, False
    own = {caller.arn}
    if caller.kind == "session":
        own.add(caller.role_arn)
    for value in st.principals.get("AWS", ()):
        if value == "*":
            return True, False
        if value in own:
            return True, True
        if value in (caller.account, f"arn:{caller.partition}:iam::{caller.account}:root"):
            return True, False
    return False, False


def trust_allows(role: Any, *, caller: Principal | None = None, service: str | None = None, context: dict[str, Any] | None = None) -> tuple[bool, bool]:
    """(allowed, names the caller itself) under ``role``'s trust policy for ``sts:AssumeRole``."""
    try:
        statements = parse_policy(_document(role.assume_role_policy_document))
    except (ValueError, TypeError, AttributeError):
        return False, False
    ctx = dict(context or {})
    allowed = named = False
    for st in statements:
        if st.principals is None:
            continue
        hit, own = _principal_named(st, caller, service)
        if st.not_principal:
            hit, own = not hit, False
        if not hit:
            continue
        if not _statement_applies(
            Statement(st.effect, st.actions, st.not_actions, None, None, st.conditions), "sts:AssumeRole", role.arn, ctx
        ):
            continue
        if st.effect == "Deny":
            return False, False
        if st.effect == "Allow":
            allowed = True
            named = named or own
    return allowed, named


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


def role_allows(role_arn: str, action: str, resource_arn: str, context: dict[str, Any] | None = None) -> str:
    """:func:`evaluate` for a role given by ARN (what a service acting as the role may do)."""
    return evaluate(role_arn, action, resource_arn, context)


# ------------------------------------------------------------------------- resources per action
@dataclass
class _Req:
    partition: str
    region: str
    account: str
    params: dict[str, Any]

    def arn(self, service: str, rest: str, region: str | None = None, account: str | None = None) -> str:
        r = self.region if region is None else region
        a = self.account if account is None else account
        return f"arn:{self.partition}:{service}:{r}:{a}:{rest}"


Check = tuple[str, str, dict[str, Any]]  # (action, resource ARN, extra context)


def _table_arn(req: _Req, name: str) -> str:
    return name if name.startswith("arn:") else req.arn("dynamodb", f"table/{name}")


_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
_RESTORE_TARGET = ("PutItem", "UpdateItem", "DeleteItem", "GetItem", "Query", "Scan", "BatchWriteItem")


def _dynamodb(op: str, req: _Req) -> list[Check]:
    p = req.params
    if op in ("BatchWriteItem", "BatchGetItem"):
        return [(f"dynamodb:{op}", _table_arn(req, t), {}) for t in (p.get("RequestItems") or {})]
    if op in ("TransactWriteItems", "TransactGetItems"):
        checks = []
        for entry in p.get("TransactItems") or []:
            for kind, body in (entry or {}).items():
                checks.append((f"dynamodb:{_TRANSACT.get(kind, kind)}", _table_arn(req, (body or {}).get("TableName", "")), {}))
        return checks
    if op == "RestoreTableToPointInTime":
        source = p.get("SourceTableArn") or _table_arn(req, p.get("SourceTableName", ""))
        target = _table_arn(req, p.get("TargetTableName", ""))
        return [(f"dynamodb:{op}", source, {})] + [(f"dynamodb:{a}", target, {}) for a in _RESTORE_TARGET]
    if op in ("Query", "Scan") and p.get("IndexName"):
        return [(f"dynamodb:{op}", _table_arn(req, p["TableName"]) + f"/index/{p['IndexName']}", {})]
    if op == "ListStreams":
        table = p.get("TableName")
        return [(f"dynamodb:{op}", _table_arn(req, table) + "/stream/*" if table else "*", {})]
    if op == "GetRecords":
        return [(f"dynamodb:{op}", str(p.get("ShardIterator", "")).split("|", 1)[0], {})]
    for key in ("StreamArn", "TableArn", "ResourceArn", "BackupArn", "ExportArn"):
        if p.get(key):
            return [(f"dynamodb:{op}", str(p[key]), {})]
    if p.get("TableName"):
        return [(f"dynamodb:{op}", _table_arn(req, p["TableName"]), {})]
    return [(f"dynamodb:{op}", "*", {})]


_SQS_BATCH = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
              "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}


def _queue_arn(req: _Req, url: str) -> str:
    path = urlparse(url).path.strip("/").split("/")
    if len(path) >= 2:
        return req.arn("sqs", path[-1], account=path[-2])
    return req.arn("sqs", path[-1] if path else "")


def _sqs(op: str, req: _Req) -> list[Check]:
    p = req.params
    action = f"sqs:{_SQS_BATCH.get(op, op)}"
    if p.get("QueueUrl"):
        return [(action, _queue_arn(req, str(p["QueueUrl"])), {})]
    if op in ("CreateQueue", "GetQueueUrl") and p.get("QueueName"):
        return [(action, req.arn("sqs", str(p["QueueName"]), account=str(p.get("QueueOwnerAWSAccountId") or req.account)), {})]
    if op in ("StartMessageMoveTask", "ListMessageMoveTasks") and p.get("SourceArn"):
        return [(action, str(p["SourceArn"]), {})]
    return [(action, "*", {})]


_LAMBDA_ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction",
                   "ListVersionsByFunction": "ListVersionsByFunction", "GetFunctionConfiguration": "GetFunctionConfiguration"}


def _function_arn(req: _Req, name: str, qualifier: str | None = None) -> str:
    name = unquote(name)
    if name.startswith("arn:"):
        arn = name
    elif ":function:" in name:  # ACCOUNT:function:NAME
        account, _, rest = name.partition(":function:")
        arn = req.arn("lambda", f"function:{rest}", account=account)
    else:
        arn = req.arn("lambda", f"function:{name}")
    if qualifier and arn.count(":") == 6:
        arn += f":{qualifier}"
    return arn


def _lambda(op: str, req: _Req) -> list[Check]:
    p = req.params
    action = f"lambda:{_LAMBDA_ACTIONS.get(op, op)}"
    checks: list[Check] = []
    if p.get("UUID"):
        # "the resource is the event source mapping, so Lambda provides a condition that lets you restrict
        # permission based on the function that the event source mapping invokes" (lambda:FunctionArn;
        # "Resources and conditions for Lambda actions", Lambda Developer Guide,
        # https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html)
        checks.append((action, req.arn("lambda", f"event-source-mapping:{p['UUID']}"), _mapping_function(req, str(p["UUID"]))))
    elif op in ("CreateEventSourceMapping", "ListEventSourceMappings"):
        ctx = {"lambda:FunctionArn": _function_arn(req, p["FunctionName"])} if p.get("FunctionName") else {}
        checks.append((action, "*", ctx))
    elif p.get("FunctionName"):
        checks.append((action, _function_arn(req, str(p["FunctionName"]), p.get("Qualifier")), {}))
    else:
        checks.append((action, "*", {}))
    if op in ("CreateFunction", "UpdateFunctionConfiguration") and p.get("Role"):
        checks.append(_pass_role(str(p["Role"]), "lambda.amazonaws.com"))
    return checks


def _mapping_function(req: _Req, uuid: str) -> dict[str, Any]:
    """``lambda:FunctionArn`` of an existing event source mapping (empty when there is none)."""
    try:
        from moto.awslambda.models import lambda_backends

        esm = lambda_backends[req.account][req.region]._event_source_mappings.get(uuid)
    except Exception:  # noqa: BLE001 - no backend yet
        esm = None
    return {"lambda:FunctionArn": esm.function_arn} if esm is not None else {}


def _pass_role(role_arn: str, service: str) -> Check:
    return ("iam:PassRole", role_arn, {"iam:PassedToService": service})


def _states(op: str, req: _Req) -> list[Check]:
    p = req.params
    checks: list[Check] = []
    for key in ("executionArn", "stateMachineArn", "mapRunArn", "activityArn", "resourceArn"):
        if p.get(key):
            checks.append((f"states:{op}", str(p[key]), {}))
            break
    else:
        if op == "CreateStateMachine" and p.get("name"):
            checks.append((f"states:{op}", req.arn("states", f"stateMachine:{p['name']}"), {}))
        else:
            checks.append((f"states:{op}", "*", {}))
    if op in ("CreateStateMachine", "UpdateStateMachine") and p.get("roleArn"):
        checks.append(_pass_role(str(p["roleArn"]), "states.amazonaws.com"))
    return checks


def _rule_arn(req: _Req, name: str, bus: str | None) -> str:
    if name.startswith("arn:"):
        return name
    if bus and bus != "default":
        bus_name = bus.rsplit("/", 1)[-1] if bus.startswith("arn:") else bus
        return req.arn("events", f"rule/{bus_name}/{name}")
    return req.arn("events", f"rule/{name}")


def _events(op: str, req: _Req) -> list[Check]:
    p = req.params
    checks: list[Check] = []
    rule = p.get("Rule") or (p.get("Name") if op in ("PutRule", "DescribeRule", "DeleteRule", "EnableRule", "DisableRule") else None)
    if rule:
        checks.append((f"events:{op}", _rule_arn(req, str(rule), p.get("EventBusName")), {}))
    elif op == "PutEvents":
        buses = {str(e.get("EventBusName") or "default") for e in p.get("Entries") or []} or {"default"}
        for bus in sorted(buses):
            checks.append((f"events:{op}", bus if bus.startswith("arn:") else req.arn("events", f"event-bus/{bus}"), {}))
    elif p.get("ResourceARN"):
        checks.append((f"events:{op}", str(p["ResourceARN"]), {}))
    else:
        checks.append((f"events:{op}", "*", {}))
    if op == "PutTargets":
        for target in p.get("Targets") or []:
            if target.get("RoleArn"):
                checks.append(_pass_role(str(target["RoleArn"]), "events.amazonaws.com"))
    return checks


def _stack_arn(req: _Req, name: str) -> str:
    if name.startswith("arn:"):
        return name
    try:
        from moto.cloudformation.models import cloudformation_backends

        backend = cloudformation_backends[req.account][req.region]
        for stack in list(backend.stacks.values()):
            if stack.name == name and getattr(stack, "status", "") != "DELETE_COMPLETE":
                return stack.stack_id
    except Exception:  # noqa: BLE001 - no backend yet
        pass
    return req.arn("cloudformation", f"stack/{name}/*")


def _cloudformation(op: str, req: _Req) -> list[Check]:
    p = req.params
    checks: list[Check] = []
    name = p.get("StackName")
    # cloudformation:RoleArn: "Filters access by the ARN of an IAM service role specified in the request"
    # (Service Authorization Reference, AWS CloudFormation, condition keys)
    ctx = {"cloudformation:RoleArn": str(p["RoleARN"])} if p.get("RoleARN") else {}
    checks.append((f"cloudformation:{op}", _stack_arn(req, str(name)) if name else "*", ctx))
    if p.get("RoleARN") and op in ("CreateStack", "UpdateStack", "DeleteStack", "CreateChangeSet"):
        checks.append(_pass_role(str(p["RoleARN"]), "cloudformation.amazonaws.com"))
    return checks


def _logs(op: str, req: _Req) -> list[Check]:
    p = req.params
    group = p.get("logGroupName")
    if not group and p.get("logGroupIdentifier"):
        ident = str(p["logGroupIdentifier"])
        if ident.startswith("arn:"):
            return [(f"logs:{op}", ident, {})]
        group = ident
    if group and p.get("logStreamName") and op in ("PutLogEvents", "CreateLogStream", "DeleteLogStream", "GetLogEvents"):
        return [(f"logs:{op}", req.arn("logs", f"log-group:{group}:log-stream:{p['logStreamName']}"), {})]
    if group:
        return [(f"logs:{op}", req.arn("logs", f"log-group:{group}"), {})]
    if p.get("resourceArn"):
        return [(f"logs:{op}", str(p["resourceArn"]), {})]
    return [(f"logs:{op}", req.arn("logs", "log-group:*") if op == "DescribeLogGroups" else "*", {})]


def _cloudtrail(op: str, req: _Req) -> list[Check]:
    p = req.params
    name = p.get("Name") or p.get("TrailName")
    if name:
        name = str(name)
        return [(f"cloudtrail:{op}", name if name.startswith("arn:") else req.arn("cloudtrail", f"trail/{name}"), {})]
    return [(f"cloudtrail:{op}", "*", {})]


def _secretsmanager(op: str, req: _Req) -> list[Check]:
    p = req.params
    sid = p.get("SecretId") or (p.get("Name") if op == "CreateSecret" else None)
    if not sid:
        return [(f"secretsmanager:{op}", "*", {})]
    sid = str(sid)
    if sid.startswith("arn:"):
        return [(f"secretsmanager:{op}", sid, {})]
    try:
        from moto.secretsmanager.models import secretsmanager_backends

        secret = secretsmanager_backends[req.account][req.region].secrets.get(sid)
        if secret is not None and getattr(secret, "arn", None):
            return [(f"secretsmanager:{op}", secret.arn, {})]
    except Exception:  # noqa: BLE001 - no backend or no such secret
        pass
    # a secret that does not exist yet: its ARN ends in six random characters
    return [(f"secretsmanager:{op}", req.arn("secretsmanager", f"secret:{sid}-??????"), {})]


def _iam(op: str, req: _Req) -> list[Check]:
    p = req.params
    backend = _iam_backend(req.account, req.partition)
    if p.get("RoleName"):
        name = str(p["RoleName"])
        role = next((r for r in backend.roles.values() if r.name == name), None)
        path = (p.get("Path") or "/") if role is None else role.path
        return [(f"iam:{op}", role.arn if role else f"arn:{req.partition}:iam::{req.account}:role{path}{name}", {})]
    if p.get("UserName"):
        name = str(p["UserName"])
        user = backend.users.get(name)
        return [(f"iam:{op}", user.arn if user else f"arn:{req.partition}:iam::{req.account}:user/{name}", {})]
    if p.get("GroupName"):
        return [(f"iam:{op}", f"arn:{req.partition}:iam::{req.account}:group/{p['GroupName']}", {})]
    if p.get("PolicySourceArn"):
        return [(f"iam:{op}", str(p["PolicySourceArn"]), {})]
    if p.get("PolicyArn"):
        return [(f"iam:{op}", str(p["PolicyArn"]), {})]
    if op == "CreatePolicy" and p.get("PolicyName"):
        return [(f"iam:{op}", f"arn:{req.partition}:iam::{req.account}:policy{p.get('Path') or '/'}{p['PolicyName']}", {})]
    return [(f"iam:{op}", "*", {})]


def _sts(op: str, req: _Req) -> list[Check]:
    p = req.params
    if op in ("AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML") and p.get("RoleArn"):
        return [(f"sts:{op}", str(p["RoleArn"]), {})]
    return [(f"sts:{op}", "*", {})]


def _cloudwatch(op: str, req: _Req) -> list[Check]:
    """Alarm actions name the alarm's ARN (``alarm:<name>``; ``DescribeAlarms`` the account's alarms,
    ``alarm:*``); metric actions have no resource type ("Actions, resources, and condition keys for
    Amazon CloudWatch", Service Authorization Reference)."""
    p = req.params
    names = [p["AlarmName"]] if p.get("AlarmName") else list(p.get("AlarmNames") or [])
    if op in ("PutMetricAlarm", "PutCompositeAlarm", "DeleteAlarms", "DescribeAlarmHistory",
              "EnableAlarmActions", "DisableAlarmActions", "SetAlarmState") and names:
        return [(f"cloudwatch:{op}", req.arn("cloudwatch", f"alarm:{n}"), {}) for n in names]
    if op == "DescribeAlarms":
        return [(f"cloudwatch:{op}", req.arn("cloudwatch", "alarm:*"), {})]
    return [(f"cloudwatch:{op}", "*", {})]


def _generic(prefix: str):
    def resolve(op: str, req: _Req) -> list[Check]:
        return [(f"{prefix}:{op}", "*", {})]

    return resolve


_RESOLVERS = {
    "dynamodb": _dynamodb,
    "sqs": _sqs,
    "lambda": _lambda,
    "states": _states,
    "events": _events,
    "cloudformation": _cloudformation,
    "logs": _logs,
    "cloudtrail": _cloudtrail,
    "secretsmanager": _secretsmanager,
    "iam": _iam,
    "sts": _sts,
    "monitoring": _cloudwatch,
}

#: the protocol of each signing name's service (botocore's service models)
_QUERY = {"iam", "sts", "cloudformation"}
_REST_JSON = {"lambda"}


def checks_for(service: str, op: str, params: dict[str, Any], *, partition: str, region: str, account: str) -> list[Check]:
    """The (action, resource ARN, context) pairs a call needs allowed (the tables above)."""
    resolver = _RESOLVERS.get(service) or _generic(service)
    return resolver(op, _Req(partition, region, account, params))


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
            '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
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
        return _Refused(status_json, headers, _cbor_map({"__type": code_json, "message": message}))  # type: ignore[arg-type]
    headers["Content-Type"] = content_type or "application/x-amz-json-1.0"
    if service == "sqs":
        # SQS speaks JSON but is query-compatible: the legacy code travels in this header
        headers["x-amzn-query-error"] = f"{code_query};Sender"
    body = json.dumps({"__type": f"com.amazon.coral.service#{code_json}", "Message": message, "message": message})
    return _Refused(status_json, headers, body)


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


#: moto's S3 action names (``ACTION_MAP``) that are not IAM's
_S3_ACTIONS = {
    "HeadBucket": "ListBucket",
    "ListBucketVersions": "ListBucketVersions",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetBucketCORS": "GetBucketCORS",
    "PutBucketCORS": "PutBucketCORS",
    "GetLifecycleConfiguration": "GetLifecycleConfiguration",
}


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
        _installed = True


__all__ = [
    "ALLOWED",
    "EXPLICIT_DENY",
    "IMPLICIT_DENY",
    "Principal",
    "evaluate",
    "role_allows",
    "service_session",
    "trust_allows",
    "parse_policy",
    "identity_policies",
    "checks_for",
    "install",
]

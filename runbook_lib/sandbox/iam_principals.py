"""The sandbox's IAM principals: who signed a request (an IAM user's access key or an assumed
role's session), the identity policies that apply to them, :func:`evaluate`, and the sessions the
sandbox hands to services acting as a role (Lambda functions, state machines, rule targets).

Part of IAM in the sandbox: ``iam_auth.py`` says what is enforced and where it differs from AWS.
"""

from __future__ import annotations

import datetime
import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .iam_policy import Statement, _document, decide, parse_policy, trust_allows

log = logging.getLogger(__name__)


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

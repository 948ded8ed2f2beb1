"""The one place clients come from: region, endpoint (real AWS or the local sandbox), retries."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import lru_cache

import boto3
from botocore.config import Config

DEFAULT_REGION = "us-east-1"


#: boto3's environment variable for one endpoint for every service ("Service-specific endpoints",
#: AWS SDKs and Tools Reference Guide, https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html),
#: and the one that makes the SDK ignore it
ENDPOINT_ENV = "AWS_ENDPOINT_URL"
IGNORE_ENDPOINT_ENV = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"


def configured_endpoint() -> str | None:
    """``AWS_ENDPOINT_URL`` as boto3 reads it (None when unset, or when
    ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`` tells the SDK to ignore it)."""
    if os.environ.get(IGNORE_ENDPOINT_ENV, "").strip().lower() == "true":
        return None
    return os.environ.get(ENDPOINT_ENV, "").strip() or None


@dataclass(frozen=True)
class AwsTarget:
    """Where the runbook talks to: ``endpoint_url`` None means real AWS, unless ``AWS_ENDPOINT_URL``
    names an endpoint: boto3 would send every call there anyway, so the runbook takes it as its
    ``endpoint_url`` (sandbox credentials, never the user's, are sent to it; ``pitr-runbook lab
    --sandbox`` sets it for the notebooks' kernels)."""

    region: str | None = None
    endpoint_url: str | None = None

    def __post_init__(self) -> None:
        if self.endpoint_url is None:
            object.__setattr__(self, "endpoint_url", configured_endpoint())

    @property
    def region_name(self) -> str:
        return (
            self.region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or DEFAULT_REGION
        )

    @property
    def is_sandbox(self) -> bool:
        return self.endpoint_url is not None

    @property
    def partition(self) -> str:
        from .partitions import partition

        return partition(self.region_name)

    def client(self, service: str, **kwargs):
        return client(service, region=self.region_name, endpoint_url=self.endpoint_url, **kwargs)

    def resource(self, service: str):
        """A boto3 resource (``dynamodb``: ``.Table(name)``) signed as :meth:`client`'s clients are
        (on an endpoint, the sandbox's credentials), with the same retries. Not shared: make one per
        thread or process (boto3 resources are not thread-safe)."""
        return _session_for(self.region_name, self.endpoint_url).resource(
            service, region_name=self.region_name, endpoint_url=self.endpoint_url, config=_RETRY)


@lru_cache(maxsize=1)
def botocore_session():
    import botocore.session

    return botocore.session.get_session()


_RETRY = Config(retries={"max_attempts": 10, "mode": "adaptive"}, connect_timeout=10, read_timeout=70)


#: Credentials the runbook sends to an ``endpoint_url`` (the sandbox). The user's own AWS credentials
#: (``AWS_ACCESS_KEY_ID``, profiles, SSO, instance roles) are never sent to an endpoint: a sandbox, or
#: anything else listening on that address, would receive them. Unset, the sandbox's test
#: credentials are sent; a drill sets these to the access key of the IAM user it runs as.
SANDBOX_ACCESS_KEY_ENV = "PITR_RUNBOOK_SANDBOX_ACCESS_KEY_ID"
SANDBOX_SECRET_KEY_ENV = "PITR_RUNBOOK_SANDBOX_SECRET_ACCESS_KEY"
SANDBOX_SESSION_TOKEN_ENV = "PITR_RUNBOOK_SANDBOX_SESSION_TOKEN"
#: ``aws`` tells the runbook that ``endpoint_url`` is a real AWS endpoint (a VPC interface endpoint,
#: say) and that the default credential chain may be sent to it. Anything else means the sandbox.
ENDPOINT_CREDENTIALS_ENV = "PITR_RUNBOOK_ENDPOINT_CREDENTIALS"
SANDBOX_TEST_CREDENTIALS = ("testing", "testing", None)

def endpoint_credentials() -> tuple[str, str, str | None] | None:
    """What requests to an ``endpoint_url`` are signed with: a (key, secret, token) triple, or None
    for the default credential chain (only when ``PITR_RUNBOOK_ENDPOINT_CREDENTIALS=aws``)."""
    if os.environ.get(ENDPOINT_CREDENTIALS_ENV, "").strip().lower() == "aws":
        return None
    key = os.environ.get(SANDBOX_ACCESS_KEY_ENV)
    secret = os.environ.get(SANDBOX_SECRET_KEY_ENV)
    if key and secret:
        return (key, secret, os.environ.get(SANDBOX_SESSION_TOKEN_ENV) or None)
    return SANDBOX_TEST_CREDENTIALS


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ``::1``, ``localhost`` and its subdomains (RFC 6761: they resolve to loopback,
    and browsers never send them elsewhere). The one definition: the sandbox's request guard uses it too."""
    host = host.lower().rstrip(".")
    return (
        host in ("localhost", "::1")
        or host.endswith(".localhost")
        or (host.startswith("127.") and host.replace(".", "").isdigit())
    )


def is_loopback_endpoint(endpoint_url: str) -> bool:
    """True when ``endpoint_url`` names this machine (:func:`is_loopback_host`)."""
    from urllib.parse import urlsplit

    return is_loopback_host(urlsplit(endpoint_url).hostname or "")


@lru_cache(maxsize=32)
def _warn_remote_endpoint(endpoint_url: str) -> None:
    import logging

    logging.getLogger(__name__).warning(
        "endpoint_url %s is not on this machine (loopback): the runbook sends it the sandbox's test "
        "credentials, never your AWS credentials; set %s=aws only if it is a real AWS endpoint",
        endpoint_url, ENDPOINT_CREDENTIALS_ENV,
    )


def _session_for(region: str, endpoint_url: str | None) -> boto3.session.Session:
    if endpoint_url is None:
        return _cached_session(region, None)
    if not is_loopback_endpoint(endpoint_url):
        _warn_remote_endpoint(endpoint_url)
    return _cached_session(region, endpoint_credentials())


@lru_cache(maxsize=128)
def _cached_session(region: str, credentials: tuple[str, str, str | None] | None) -> boto3.session.Session:
    if credentials is not None:
        key, secret, token = credentials
        return boto3.session.Session(
            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token, region_name=region
        )
    return boto3.session.Session(region_name=region)

def client(service: str, *, region: str | None = None, endpoint_url: str | None = None, config: Config | None = None):
    """A boto3 client with adaptive retries, for real AWS (``endpoint_url=None``) or an endpoint.

    Clients are made once per (service, region, endpoint) and shared: making one costs tens of
    milliseconds, and boto3 clients are safe to share between threads.
    """
    target = AwsTarget(region=region, endpoint_url=endpoint_url)
    endpoint_url = target.endpoint_url  # AWS_ENDPOINT_URL's, if set: signed with sandbox credentials
    if config is not None:
        return _make_client(service, target.region_name, endpoint_url, config)
    return _shared_client(service, target.region_name, endpoint_url)


def _make_client(service: str, region: str, endpoint_url: str | None, config: Config | None):
    session = _session_for(region, endpoint_url)
    client = session.client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        config=_RETRY.merge(config) if config else _RETRY,
    )
    record_to = os.environ.get(RECORD_CALLS_ENV)
    if record_to:
        _record_calls(client, record_to)
    return client


#: A file path: every client this package makes appends one line ``<service> <Operation>`` per call
#: to it (papermill's kernels inherit the variable). What ``permissions`` derives the operator's IAM
#: policy from (``tests/unit/test_operator_policy.py``); an operator can record a run on AWS too.
RECORD_CALLS_ENV = "PITR_RUNBOOK_RECORD_CALLS"


def _record_calls(client, path: str) -> None:
    service = client.meta.service_model.service_name

    def record(model, **_):
        # one short write per call, in append mode: lines from several processes do not interleave
        with open(path, "a") as fh:
            fh.write(f"{service} {model.name}\n")

    client.meta.events.register("before-call", record)


_clients_lock = threading.Lock()


@lru_cache(maxsize=256)
def _shared_client_unlocked(service: str, region: str, endpoint_url: str | None, credentials):
    # ``credentials`` is part of the key: a process that switches sandbox identities (a drill that
    # sets up as the sandbox's root, then runs as its operator user) gets a client per identity
    return _make_client(service, region, endpoint_url, None)


def _shared_client(service: str, region: str, endpoint_url: str | None):
    credentials = endpoint_credentials() if endpoint_url is not None else None
    with _clients_lock:  # botocore's client creation is not thread-safe
        return _shared_client_unlocked(service, region, endpoint_url, credentials)

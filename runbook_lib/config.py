"""The one place clients come from: region, endpoint (real AWS or the local sandbox), retries."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import lru_cache

import boto3
from botocore.config import Config

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class AwsTarget:
    """Where the runbook talks to: ``endpoint_url`` None means real AWS."""

    region: str | None = None
    endpoint_url: str | None = None

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
        return partition(self.region_name)

    def client(self, service: str, **kwargs):
        return client(service, region=self.region_name, endpoint_url=self.endpoint_url, **kwargs)


@lru_cache(maxsize=64)
def partition(region: str) -> str:
    """The ARN partition of ``region``: ``aws``, ``aws-cn``, ``aws-us-gov``, ``aws-iso``, ...

    The one place ARNs built by this package take their partition from. It reads botocore's own
    partition data (``botocore/data/partitions.json``: each partition's ``regionRegex``, the same
    table the SDK resolves endpoints with), so that ``cn-*`` is ``aws-cn``, ``us-gov-*``
    ``aws-us-gov``, ``us-iso-*`` ``aws-iso``, ``us-isob-*`` ``aws-iso-b``, ``eu-isoe-*``
    ``aws-iso-e``, ``us-isof-*`` ``aws-iso-f`` and ``eusc-de-*`` ``aws-eusc``; a region of no
    known partition is an :class:`~runbook_lib.errors.InputError` rather than a wrong guess.
    """
    from botocore.exceptions import UnknownRegionError

    from .errors import InputError

    try:
        return _botocore_session().get_partition_for_region(region)
    except UnknownRegionError:
        raise InputError(
            f"region {region!r} belongs to no AWS partition botocore knows: check the region name "
            "(e.g. eu-west-1), or upgrade botocore if the region is new"
        ) from None


@lru_cache(maxsize=1)
def _botocore_session():
    import botocore.session

    return botocore.session.get_session()


_RETRY = Config(retries={"max_attempts": 10, "mode": "adaptive"}, connect_timeout=10, read_timeout=70)


@lru_cache(maxsize=128)
def _session_for(region: str, endpoint_url: str | None) -> boto3.session.Session:
    if endpoint_url is not None:
        # The sandbox accepts any credentials; never let a real profile leak into it.
        return boto3.session.Session(
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
            region_name=region,
        )
    return boto3.session.Session(region_name=region)


def client(service: str, *, region: str | None = None, endpoint_url: str | None = None, config: Config | None = None):
    """A boto3 client with adaptive retries, for real AWS (``endpoint_url=None``) or an endpoint.

    Clients are made once per (service, region, endpoint) and shared: making one costs tens of
    milliseconds, and boto3 clients are safe to share between threads.
    """
    target = AwsTarget(region=region, endpoint_url=endpoint_url)
    if config is not None:
        return _make_client(service, target.region_name, endpoint_url, config)
    return _shared_client(service, target.region_name, endpoint_url)


def _make_client(service: str, region: str, endpoint_url: str | None, config: Config | None):
    session = _session_for(region, endpoint_url)
    return session.client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        config=_RETRY.merge(config) if config else _RETRY,
    )


_clients_lock = threading.Lock()


@lru_cache(maxsize=256)
def _shared_client_unlocked(service: str, region: str, endpoint_url: str | None):
    return _make_client(service, region, endpoint_url, None)


def _shared_client(service: str, region: str, endpoint_url: str | None):
    with _clients_lock:  # botocore's client creation is not thread-safe
        return _shared_client_unlocked(service, region, endpoint_url)

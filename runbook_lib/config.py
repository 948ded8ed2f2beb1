"""The one place clients come from: region, endpoint (real AWS or the local sandbox), retries."""

from __future__ import annotations

import os
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

    def client(self, service: str, **kwargs):
        return client(service, region=self.region_name, endpoint_url=self.endpoint_url, **kwargs)


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
    """A boto3 client with adaptive retries, for real AWS (``endpoint_url=None``) or an endpoint."""
    target = AwsTarget(region=region, endpoint_url=endpoint_url)
    session = _session_for(target.region_name, endpoint_url)
    return session.client(
        service,
        region_name=target.region_name,
        endpoint_url=endpoint_url,
        config=_RETRY.merge(config) if config else _RETRY,
    )

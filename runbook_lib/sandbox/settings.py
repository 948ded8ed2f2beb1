"""Settings every sandbox extension reads. moto's backends are process-wide, and so are these."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SandboxSettings:
    #: seconds a restored table stays CREATING (``RestoreInProgress: true``) before it is ACTIVE
    restore_seconds: float = 5.0
    #: LatestRestorableDateTime = now - restorable_lag (about 300 s on AWS)
    restorable_lag: float = 0.0
    #: how often the Lambda runtime polls event sources, in seconds
    poll_interval: float = 0.05
    #: concurrent invocations per SQS FIFO mapping (different message groups)
    sqs_concurrency: int = 4
    #: longest pause between two retries of a failed stream batch, in seconds (AWS backs off longer)
    lambda_retry_backoff: float = 0.5
    #: seconds after an UpdateTimeToLive during which another one on the table is refused (AWS: up to an hour)
    ttl_change_seconds: float = 3600.0


SETTINGS = SandboxSettings()

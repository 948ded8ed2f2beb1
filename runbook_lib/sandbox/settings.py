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
    #: the most invocations of one SQS mapping at once (FIFO: of different message groups); a mapping's
    #: ``ScalingConfig.MaximumConcurrency`` caps it further. AWS runs min(message groups,
    #: MaximumConcurrency) for FIFO ("Configuring scaling behavior for SQS event source mappings",
    #: https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html): 10 is the buffer
    #: stack's default MaximumConcurrency, so the sandbox runs what AWS runs for it; a mapping
    #: without one (AWS: up to the account's concurrency) stops here, to spare the machine
    sqs_concurrency: int = 10
    #: longest pause between two retries of a failed stream batch, in seconds (AWS backs off longer)
    lambda_retry_backoff: float = 0.5
    #: seconds after an UpdateTimeToLive during which another one on the table is refused (AWS: up to an hour)
    ttl_change_seconds: float = 3600.0
    #: seconds an export to S3 stays IN_PROGRESS before it is COMPLETED (AWS: minutes, with no SLA)
    export_seconds: float = 5.0
    #: about this many items per data file of an export (AWS: at least one file per partition)
    export_items_per_file: int = 10000
    #: the shortest incremental export window, in seconds (AWS: 15 minutes; lower it for tests)
    incremental_export_min_seconds: float = 900.0
    #: seconds a transaction's ClientRequestToken is remembered after it succeeded (AWS: 10 minutes)
    client_token_seconds: float = 600.0


SETTINGS = SandboxSettings()

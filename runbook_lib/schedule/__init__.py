"""Drills on a schedule: what a scheduled job does after each drill, and what the drills so far say.

- :mod:`.records`: one drill's facts (table, when, verdict, RTO, differences, checks, size) read
  from its ``summary.json``, the one reader ``publish`` and ``history`` share;
- :mod:`.location`: ``s3://bucket/prefix`` and the object keys a run directory is published under;
- :mod:`.publish`: ``pitr-runbook publish``: the run directory to S3, its numbers to CloudWatch;
- :mod:`.history`: ``pitr-runbook history``: the drills per table, the RTO figure, the one line
  that names the tables needing attention;
- :mod:`.template`: ``infra/drill-schedule.yaml`` rendered from ``infra/drill-schedule.yaml.j2`` with
  a number of table slots (``make infra``).

The schedule itself (EventBridge Scheduler -> CodeBuild -> ``drill``; ``publish``) is
``infra/drill-schedule.yaml``.
"""

from __future__ import annotations

from .location import S3Location, parse_s3_uri
from .records import DrillRecord, record_of

__all__ = ["DrillRecord", "S3Location", "parse_s3_uri", "record_of"]

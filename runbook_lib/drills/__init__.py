"""Restore drills on the user's own tables (``pitr-runbook drill --source-table``): the scratch
table (:mod:`.scratch`), the user's checks (:mod:`.checks`), removing what drills leave
(:mod:`.cleanup`), and the drill itself (:mod:`.table_drill`). ``runbook_lib.drill`` keeps the
sandbox demo drill and the history."""

from __future__ import annotations

from .checks import FAILED, SUCCESSFUL, TIMED_OUT, CheckContext, CheckResult, find_checks, run_checks
from .cleanup import CleanupReport, cleanup
from .scratch import TAG_DRILL, TAG_EXPIRES, TAG_SOURCE, scratch_name
from .table_drill import drill_table

__all__ = [
    "FAILED", "SUCCESSFUL", "TAG_DRILL", "TAG_EXPIRES", "TAG_SOURCE", "TIMED_OUT", "CheckContext", "CheckResult",
    "CleanupReport", "cleanup", "drill_table", "find_checks", "run_checks", "scratch_name",
]

"""The enable-replay workflow's worst-case history stays within Step Functions' 25,000 events.

Step Functions developer guide, "Avoid reaching the history quota",
https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html: an execution fails
when its history reaches 25,000 events. The count is computed by walking the definition
(runbook_lib.workflow_budget); the sandbox test ``test_the_budget_walk_counts_the_events_the_interpreter_writes``
checks the walk against an execution's real history.
"""

from __future__ import annotations

import json

import pytest

from runbook_lib import buffer, workflow_budget
from runbook_lib.buffer.parameters import resolve_parameters
from runbook_lib.errors import InputError


def _events(timeout: int, poll: int, cap: int) -> int:
    return buffer.workflow_history_events(restore_timeout_seconds=timeout, restore_poll_seconds=poll, restore_poll_max_seconds=cap)


def test_defaults_stay_well_under_the_limit():
    template = buffer.load_template()
    defaults = {k: int(template["Parameters"][k]["Default"]) for k in ("RestoreTimeoutSeconds", "RestorePollSeconds", "RestorePollMaxSeconds")}
    events = _events(defaults["RestoreTimeoutSeconds"], defaults["RestorePollSeconds"], defaults["RestorePollMaxSeconds"])
    assert events < workflow_budget.HISTORY_LIMIT // 5, events


def test_a_day_long_restore_polled_from_10_s_fits():
    """Issue 9: a 24 h restore polled every 30 s (or 12 h every 10 s) failed mid-restore."""
    assert _events(86_400, 30, 300) < workflow_budget.HISTORY_LIMIT // 2
    assert _events(43_200, 10, 300) < workflow_budget.HISTORY_LIMIT // 2


def test_a_fixed_30_s_poll_for_a_day_would_exceed_the_limit():
    # the old loop: no backoff (cap = poll)
    assert _events(86_400, 30, 30) > workflow_budget.HISTORY_LIMIT


def test_the_walk_counts_a_poll_and_its_retries():
    text = buffer.render_state_machine_definition(
        target_table="t", queue_mapping_uuid="u", restore_timeout_seconds=1000, restore_poll_seconds=100, restore_poll_max_seconds=100
    )
    walk = workflow_budget.walk(json.loads(text), {"DescribeTarget": lambda n: {"status": "CREATING"}})
    # Start (2) + 10 describes, 9 waits of 100 s (the 10th would reach 1000 s) + RestoreTimedOut
    assert walk.runs["DescribeTarget"] == 10 and walk.waited_seconds == 900 and walk.end_state == "RestoreTimedOut"
    # ExecutionStarted 1, Pass 2, per poll: Task 5 + Choice 2 + Pass 2 + Wait 2, last poll: Task 5 + Choice 2, Fail 2
    assert walk.events_without_retries == 1 + 2 + 9 * 11 + 7 + 2
    # DescribeTarget's retriers allow 0 + 5 retries, 3 events each
    assert walk.events == walk.events_without_retries + 10 * 15


def _resolve(**given):
    return resolve_parameters(buffer.load_template(), {k: str(v) for k, v in given.items()})


def test_plan_refuses_parameters_that_could_exceed_the_limit():
    with pytest.raises(InputError) as err:
        _resolve(Automation="event", RestoreTimeoutSeconds=31_536_000, RestorePollSeconds=30, RestorePollMaxSeconds=300)
    message = str(err.value)
    assert "25,000" in message and "RestorePollMaxSeconds" in message and "RestoreTimeoutSeconds to" in message
    longest = buffer.longest_restore_timeout(restore_poll_seconds=30, restore_poll_max_seconds=300)
    assert f"RestoreTimeoutSeconds to {longest} or less" in message
    assert _events(longest, 30, 300) <= workflow_budget.HISTORY_LIMIT < _events(longest + 300, 30, 300)
    _resolve(Automation="event", RestoreTimeoutSeconds=longest, RestorePollSeconds=30, RestorePollMaxSeconds=300)


def test_plan_refuses_a_first_wait_longer_than_the_longest():
    with pytest.raises(InputError, match="RestorePollMaxSeconds"):
        _resolve(Automation="event", RestorePollSeconds=600, RestorePollMaxSeconds=300)


def test_notebook_mode_does_not_check_the_workflow():
    _resolve(Automation="notebook", RestoreTimeoutSeconds=31_536_000, RestorePollSeconds=30, RestorePollMaxSeconds=30)

"""The drained rule: the queue empty AND the forwarder caught up with the source's stream.

The forwarder is the stream event source mapping's function; Lambda publishes its ``IteratorAge``
(the age of a batch's last record when the mapping sent it) and ``Errors`` per minute ("Types of
metrics for Lambda functions", AWS Lambda Developer Guide,
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html). An empty queue with
records still waiting in the stream is not drained.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from runbook_lib.buffer import LAG_TOLERANCE_SECONDS, BufferStatus


def _status(*, depth=0, in_flight=0, delayed=0, lag=None, errors=None) -> BufferStatus:
    return BufferStatus(
        depth=depth,
        in_flight=in_flight,
        delayed=delayed,
        dlq_depth=0,
        stream_failures=0,
        oldest_age_seconds=None,
        stream_mapping_state="Enabled",
        queue_mapping_state="Enabled",
        sampled_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        stream_lag_seconds=lag,
        forwarder_errors=errors,
    )


@pytest.mark.parametrize(
    ("lag", "errors", "drained"),
    [
        (None, None, True),  # no forwarder invocation in the window: nothing to forward
        (0.8, 0, True),  # a healthy mapping reads about a second behind
        (LAG_TOLERANCE_SECONDS, 0, True),
        (LAG_TOLERANCE_SECONDS + 0.1, 0, False),  # records wait in the stream
        (3600.0, None, False),  # a TRIM_HORIZON backlog
        (0.8, 2, False),  # failed invocations: their batch is retried, not yet in the queue
        (None, 1, False),
    ],
)
def test_empty_queue_is_drained_only_when_the_forwarder_keeps_up(lag, errors, drained):
    st = _status(lag=lag, errors=errors)
    assert st.drained is drained
    assert st.forwarder_behind is (not drained)
    assert st.to_dict()["drained"] is drained
    assert st.to_dict()["stream_lag_seconds"] == lag


@pytest.mark.parametrize("field", ["depth", "in_flight", "delayed"])
def test_a_message_in_the_queue_is_not_drained_whatever_the_lag(field):
    assert _status(**{field: 1}, lag=0.0, errors=0).drained is False


def test_status_built_without_the_lag_fields_keeps_the_queue_rule():
    st = BufferStatus(0, 0, 0, 0, 0, None, "Enabled", "Enabled", datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert st.stream_lag_seconds is None and st.drained is True

"""Waiting for AWS: one polling loop with a deadline, instead of one per step.

Intervals are AWS's (seconds between calls that respect API rate limits); against the sandbox,
where nothing takes seconds, they shrink so that tests and drills do not sit idle.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from .. import progress as progress_bar
from .clients import AwsTarget

T = TypeVar("T")

#: The interval used against the sandbox whatever the AWS interval is.
SANDBOX_INTERVAL = 0.1


def interval(target: AwsTarget, aws_seconds: float) -> float:
    """Seconds between polls: ``aws_seconds`` on AWS, :data:`SANDBOX_INTERVAL` on the sandbox."""
    return SANDBOX_INTERVAL if target.is_sandbox else aws_seconds


class Deadline:
    """A monotonic deadline: how long is left, and whether it has passed."""

    def __init__(self, timeout: float):
        self.timeout = float(timeout)
        self.started = time.monotonic()
        self.at = self.started + self.timeout

    def remaining(self, floor: float = 0.0) -> float:
        return max(floor, self.at - time.monotonic())

    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def poll(
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float,
    on_timeout: Callable[[], BaseException],
    backoff: float = 1.0,
    max_interval: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: str | None = None,
) -> T:
    """Call ``check`` until it returns something other than None, and return that.

    After ``timeout`` seconds the exception ``on_timeout()`` builds is raised (it names what was
    awaited and the remedy). ``check`` is always called at least once, and once more after the
    deadline's last sleep, so a state reached just in time is not reported as a timeout. The
    interval grows by ``backoff`` up to ``max_interval``. ``progress`` names what is awaited for a
    bar of the time waited against ``timeout`` (``runbook_lib.progress``); None: no bar.
    """
    deadline = Deadline(timeout)
    delay = interval
    bar = progress_bar.wait(progress or "", timeout=timeout, show=progress is not None)
    while True:
        result = check()
        if result is not None:
            bar.close(ok=True)
            return result
        if deadline.passed():
            bar.close(ok=False)
            raise on_timeout()
        bar.update()
        sleep(min(delay, max(deadline.remaining(), 0.01)))
        delay = min(delay * backoff, max_interval if max_interval is not None else delay * backoff)

"""Waiting for tasks to end, on the event feed: no polling.

A wait reads the feed of the tasks it follows (`GET events/?algo=` or `?task=`) from the
start: the last event of each task is its status, so the history says where things stand
without a list request, and the cursor (`next`) never misses a change. Once caught up, each
read asks the server to hold it (`wait`) until the next event, so a chain of N ranks costs
about one request per change of status, not one per polling interval.
"""

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator_client.errors import WaitTimeout
from orchestrator_client.resources import Events
from orchestrator_client.types import ENDED

# Seconds one read of the feed is held: below a proxy's usual read timeout (nginx: 60 s).
FEED_WAIT = 30.0
FEED_PAGE = 1000  # the server's page: a full page means more to read at once


@dataclass(frozen=True)
class Progress:
    """The statuses of the tasks followed, by task UUID."""

    statuses: dict[str, str]

    @property
    def total(self) -> int:
        return len(self.statuses)

    @property
    def ended(self) -> int:
        return sum(status in ENDED for status in self.statuses.values())

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.statuses.values())

    def summary(self) -> str:
        """`3 done, 1 pending, 4 waiting`, in the lifecycle's order."""
        order = ("done", "failed", "canceled", "pending", "todo", "waiting")
        counts = self.counts
        return ", ".join(f"{counts[s]} {s}" for s in order if counts[s]) or "no task"


def follow(events: Events, *, done: Callable[[Progress], bool], timeout: float | None,
           on_progress: Callable[[Progress], None] | None = None, wait: float = FEED_WAIT,
           **filters: str) -> Progress:
    """Read the feed of `filters` until `done(progress)`; WaitTimeout after `timeout`
    seconds (None: no limit). `on_progress` hears each change."""
    deadline = math.inf if timeout is None else time.monotonic() + timeout
    statuses: dict[str, str] = {}
    after, hold, shown = 0, 0.0, None
    while True:
        page = events.page(after=after, wait=hold, **filters)
        for event in page["events"]:
            statuses[event["task"]] = event["to_status"]
        after = page["next"]
        if len(page["events"]) >= FEED_PAGE:
            hold = 0.0  # catching up: read on at once
            continue
        progress = Progress(dict(statuses))
        if on_progress is not None and progress != shown:
            on_progress(progress)
            shown = progress
        if done(progress):
            return progress
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(f"not ended within {timeout:g} s: {progress.summary()}")
        hold = min(wait, remaining)

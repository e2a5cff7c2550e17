"""Gauges read from the database at each scrape: one query per task kind, whatever the
number of tasks and sites.

Each gauge comes twice: for the whole queue (`orchestrator_tasks{kind, status}`, ...), as
before sites existed, and per site (`orchestrator_site_tasks{kind, site, status}`, ...),
`site` being the site's name, or "platform" for tasks without a site. Two families rather
than a `site` label on the first: `sum()` over a family that also held its own totals
would count every task twice, and the dashboards and alerts written against the first
keep their series.
"""

from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from learning.models import Learnuplet
from morpheo import outbox
from predictions.models import Preduplet
from tasks import operations
from tasks.models import Status


class QueueCollector:
    def collect(self) -> Iterator[Metric]:
        tasks = GaugeMetricFamily("orchestrator_tasks", "Tasks by kind and status.", labels=["kind", "status"])
        oldest = GaugeMetricFamily(
            "orchestrator_oldest_todo_age_seconds",
            "How long the oldest todo task has waited to be claimed (0 when none is todo).",
            labels=["kind"],
        )
        unswept = GaugeMetricFamily(
            "orchestrator_pending_lease_expired",
            "Pending tasks whose lease has run out and that the next claim will give back.",
            labels=["kind"],
        )
        site_tasks = GaugeMetricFamily(
            "orchestrator_site_tasks",
            "Tasks by kind, site (its name; 'platform' for tasks without a site) and status.",
            labels=["kind", "site", "status"],
        )
        site_oldest = GaugeMetricFamily(
            "orchestrator_site_oldest_todo_age_seconds",
            "How long the site's oldest todo task has waited to be claimed (0 when none is todo): "
            "only the site's own compute workers claim it.",
            labels=["kind", "site"],
        )
        site_unswept = GaugeMetricFamily(
            "orchestrator_site_pending_lease_expired",
            "The site's pending tasks whose lease has run out.",
            labels=["kind", "site"],
        )
        now = timezone.now()

        def age(queued_at: datetime | None) -> float:
            return 0.0 if queued_at is None else max((now - queued_at).total_seconds(), 0.0)

        for model in (Learnuplet, Preduplet):
            sites = operations.counts_by_site(model)
            for status in Status.values:
                tasks.add_metric([model.kind, status], sum(s.counts[status] for s in sites))
            todo = [s.oldest_todo for s in sites if s.oldest_todo is not None]
            oldest.add_metric([model.kind], age(min(todo)) if todo else 0.0)
            unswept.add_metric([model.kind], sum(s.expired for s in sites))
            for site in sites:
                for status, count in site.counts.items():
                    site_tasks.add_metric([model.kind, site.label, status], count)
                site_oldest.add_metric([model.kind, site.label], age(site.oldest_todo))
                site_unswept.add_metric([model.kind, site.label], site.expired)
        yield from (tasks, oldest, unswept, site_tasks, site_oldest, site_unswept)


class ComputePushCollector:
    """The push to a 2017 Compute, when ORCHESTRATOR_COMPUTE_URL is set: what it is owed and
    since when. One query."""

    def collect(self) -> Iterator[Metric]:
        if not settings.ORCHESTRATOR_COMPUTE_URL:
            return
        backlog = outbox.backlog()
        owed = GaugeMetricFamily(
            "orchestrator_compute_push_backlog",
            "Tasks owed to the 2017 Compute: queued (never tried), failing (tried, refused or unreachable), "
            "unread (events the dispatcher has not read yet: it is down or behind).",
            labels=["state"],
        )
        for state, count in (("queued", backlog.queued), ("failing", backlog.failing), ("unread", backlog.unread)):
            owed.add_metric([state], count)
        oldest = GaugeMetricFamily(
            "orchestrator_compute_push_oldest_undelivered_age_seconds",
            "How long the oldest task owed to the 2017 Compute has waited (0 when none).",
        )
        ready = backlog.oldest_ready_at
        oldest.add_metric([], 0.0 if ready is None else max((timezone.now() - ready).total_seconds(), 0.0))
        yield from (owed, oldest)

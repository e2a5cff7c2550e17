"""Gauges read from the database at each scrape: a fixed number of queries (three per task kind)."""

from collections.abc import Iterator
from datetime import timedelta

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from learning.models import Learnuplet
from predictions.models import Preduplet
from tasks import operations


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
        now = timezone.now()
        for model in (Learnuplet, Preduplet):
            for status, count in operations.counts_by_status(model).items():
                tasks.add_metric([model.kind, status], count)
            first = operations.oldest_todo(model)
            age = (now - first.queued_at).total_seconds() if first and first.queued_at else 0.0
            oldest.add_metric([model.kind], max(age, 0.0))
            expired, _ = operations.lease_counts(model, within=timedelta(0))
            unswept.add_metric([model.kind], expired)
        yield tasks
        yield oldest
        yield unswept

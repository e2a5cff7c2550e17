import os

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.models import Role
from accounts.roles import role_of
from metrics.collector import ComputePushCollector, QueueCollector


class MetricsReaders(BasePermission):
    """Operators (token or admin session); everyone when ORCHESTRATOR_METRICS_PUBLIC is set,
    for a scraper on a private network that cannot send a token."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return settings.ORCHESTRATOR_METRICS_PUBLIC or role_of(request.user) == Role.OPERATOR


def _process_registry() -> CollectorRegistry:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        # Several server processes: sum their counters from the shared directory.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus_client
        return registry
    return REGISTRY


class MetricsView(APIView):
    """Prometheus text format: this process's counters, then the queue's gauges read now."""

    permission_classes = (MetricsReaders,)
    schema = None  # not part of the v1 API contract

    def get(self, request: Request) -> HttpResponse:
        queue = CollectorRegistry(auto_describe=False)
        queue.register(QueueCollector())
        queue.register(ComputePushCollector())
        body = generate_latest(_process_registry()) + generate_latest(queue)
        return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)

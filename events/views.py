"""GET /api/v1/events/: the event log as a cursor feed, for front ends and auditors.

Events come in id order after `after`, at most PAGE of them, only below the feed's
horizon (tasks.models.EventId): an event whose transaction may still commit, and any
event after it, waits for a later page, so a reader that follows `next` misses none.
With `wait`, an empty page is held until an event arrives (tasks.wakeups).
"""

from typing import Any

from django.db.models.expressions import RawSQL
from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import RolePermission
from events.serializers import EventSerializer, FeedQuerySerializer, FeedSerializer
from tasks.api import client_socket
from tasks.models import FEED_HORIZON, TaskEvent
from tasks.wakeups import WAKEUPS

PAGE = 1000


# No docstring: it would become the operation's description.
class EventFeedView(GenericAPIView[TaskEvent]):
    queryset = TaskEvent.objects.all()
    permission_classes = [RolePermission]  # reads, every role
    pagination_class = None
    filter_backends = []
    name = "Events"

    @extend_schema(parameters=[FeedQuerySerializer], responses={200: FeedSerializer})
    def get(self, request: Request) -> Response:
        query = FeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        options: dict[str, Any] = dict(query.validated_data)
        after, wait = options.pop("after"), options.pop("wait")
        events = (
            TaskEvent.objects.filter(id__gt=after, id__lt=RawSQL(FEED_HORIZON, []), **options).order_by("id")
        )

        def page() -> list[TaskEvent]:
            return list(events[:PAGE])

        found = WAKEUPS.events(page, timeout=wait, sock=client_socket(request)) if wait > 0 else page()
        rendered = EventSerializer(found, many=True, context={"request": request}).data
        return Response({"events": rendered, "next": found[-1].id if found else after})

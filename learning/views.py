import uuid
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets

from accounts.permissions import WorkerWrites
from learning import services
from learning.filters import LearnupletFilter
from learning.models import Learnuplet
from learning.serializers import LearnResultSerializer, LearnupletSerializer
from orchestrator_site.fields import UUID_PATH
from tasks.api import QueueActionsMixin


@extend_schema_view(
    claim_next=extend_schema(operation_id="learnuplets_claim_next", responses={200: LearnupletSerializer, 204: OpenApiResponse(description="Nothing to claim.")}),
    claim=extend_schema(responses={200: LearnupletSerializer, 409: OpenApiResponse(description="Not todo.")}),
    result=extend_schema(request=LearnResultSerializer, responses={200: LearnupletSerializer}),
)
class LearnupletViewSet(QueueActionsMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Learnuplet.objects.all()
    # Reads need a role; an unserved write method by a worker answers 405, not 403.
    permission_classes = [WorkerWrites]
    serializer_class = LearnupletSerializer
    filterset_class = LearnupletFilter
    lookup_value_regex = UUID_PATH
    queue_model = Learnuplet
    result_serializer_class = LearnResultSerializer

    def report(self, pk: uuid.UUID, result: dict[str, Any], *, worker: uuid.UUID, actor: str) -> Learnuplet:
        return services.learnuplet_report(pk, worker=worker, actor=actor, **result)

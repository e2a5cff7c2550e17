import uuid
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import UploaderWrites
from orchestrator_site.fields import UUID_PATH
from predictions import services
from predictions.filters import PredupletFilter
from predictions.lifecycle import PREDUPLETS
from predictions.models import Preduplet
from predictions.serializers import PredResultSerializer, PredupletCreateSerializer, PredupletSerializer
from tasks.api import QueueActionsMixin
from tasks.queue import TaskNotFound


@extend_schema_view(
    claim_next=extend_schema(operation_id="preduplets_claim_next", responses={200: PredupletSerializer, 204: OpenApiResponse(description="Nothing to claim.")}),
    claim=extend_schema(responses={200: PredupletSerializer, 409: OpenApiResponse(description="Not todo.")}),
    result=extend_schema(request=PredResultSerializer, responses={200: PredupletSerializer}),
)
class PredupletViewSet(QueueActionsMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Preduplet]):
    queryset = Preduplet.objects.all()
    serializer_class = PredupletSerializer
    filterset_class = PredupletFilter
    permission_classes = [UploaderWrites]
    lookup_value_regex = UUID_PATH
    lifecycle = PREDUPLETS
    result_serializer_class = PredResultSerializer

    @extend_schema(request=PredupletCreateSerializer, responses={201: PredupletSerializer})
    def create(self, request: Request) -> Response:
        body = PredupletCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        preduplet = services.preduplet_request(user=request.user, **body.validated_data)
        return Response(PredupletSerializer(preduplet).data, status=status.HTTP_201_CREATED)

    def report(self, pk: uuid.UUID, result: dict[str, Any], *, worker: uuid.UUID, actor: str) -> Preduplet:
        return PREDUPLETS.report(pk, worker=worker, actor=actor, **result)

    def owner_of(self, pk: uuid.UUID) -> int | None:
        found = list(Preduplet.objects.filter(pk=pk).values_list("created_by_id", flat=True))
        if not found:
            raise TaskNotFound(f"no preduplet {pk}")
        return found[0]

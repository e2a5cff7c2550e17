import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import OperatorWrites, UploaderWrites
from accounts.roles import site_to_register
from idempotency.api import IdempotentMixin
from orchestrator_site.fields import UUID_PATH
from problems import services
from problems.filters import AlgoFilter, DataFilter
from problems.models import Algo, Data, Problem
from problems.secrecy import visible_data, without_test_data_for
from problems.serializers import (
    AlgoCreatedSerializer,
    AlgoCreateSerializer,
    AlgoSerializer,
    DataCreatedSerializer,
    DataCreateSerializer,
    DataSerializer,
    ProblemCreateSerializer,
    ProblemSerializer,
    ProblemSettingsSerializer,
)

M = TypeVar("M", bound=Model)


class RegistryViewSet(IdempotentMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[M]):
    permission_classes = [UploaderWrites]
    lookup_value_regex = UUID_PATH


class ProblemViewSet(RegistryViewSet[Problem]):
    queryset = Problem.objects.all()
    serializer_class = ProblemSerializer

    def get_permissions(self) -> Sequence[Any]:
        if self.action == "partial_update":
            return [OperatorWrites()]
        return super().get_permissions()

    @extend_schema(request=ProblemSettingsSerializer, responses={200: ProblemSerializer})
    def partial_update(self, request: Request, pk: str) -> Response:
        body = ProblemSettingsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        problem = services.problem_configure(uuid.UUID(pk), **body.validated_data)
        return Response(ProblemSerializer(problem, context={"request": request}).data)

    @extend_schema(request=ProblemCreateSerializer, responses={201: ProblemSerializer})
    def create(self, request: Request) -> Response:
        body = ProblemCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        problem = services.problem_create(pk=fields.pop("uuid", None), user=request.user, **fields)
        # The one exception to test-data secrecy: the creator sees what it sent.
        data = ProblemSerializer(problem, context={"request": request, "reveal_test_data": True}).data
        return Response(data, status=status.HTTP_201_CREATED)


class AlgoViewSet(RegistryViewSet[Algo]):
    queryset = Algo.objects.all()
    serializer_class = AlgoSerializer
    filterset_class = AlgoFilter

    @extend_schema(request=AlgoCreateSerializer, responses={201: AlgoCreatedSerializer})
    def create(self, request: Request) -> Response:
        body = AlgoCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        algo, created = services.algo_register(pk=fields.pop("uuid", None), user=request.user, **fields)
        algo.new_learnuplets = created
        return Response(AlgoCreatedSerializer(algo).data, status=status.HTTP_201_CREATED)


class DataViewSet(RegistryViewSet[Data]):
    # Names the path parameter "uuid" in the OpenAPI document; get_queryset narrows it.
    queryset = Data.objects.all()
    serializer_class = DataSerializer
    filterset_class = DataFilter

    def get_queryset(self) -> QuerySet[Data]:
        return visible_data(self.request.user)

    @extend_schema(request=DataCreateSerializer, responses={201: DataCreatedSerializer})
    def create(self, request: Request) -> Response:
        body = DataCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        site = site_to_register(request.user, body.validated_data.get("site"))
        records, created = services.data_register(
            uuids=body.validated_data["uuid"], problems=body.validated_data["problems"], user=request.user,
            site=site,
        )
        visible = without_test_data_for(request.user, records)
        payload = {"data": DataSerializer(visible, many=True).data, "new_learnuplets": created}
        return Response(payload, status=status.HTTP_201_CREATED)

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import UploaderWrites, WorkerWrites, refuse_unless_owner
from accounts.roles import actor_name
from idempotency.api import IdempotentMixin
from learning.lifecycle import LEARNUPLETS, AlgoNotFound
from learning.filters import LearnupletFilter
from learning.models import Learnuplet
from learning.serializers import LeaderboardRowSerializer, LearnResultSerializer, LearnupletSerializer
from learning.services import leaderboard
from orchestrator_site.fields import UUID_PATH
from problems.models import Algo, Problem
from tasks.api import CancelSerializer, QueueActionsMixin
from tasks.queue import TaskNotFound


@extend_schema_view(
    claim_next=extend_schema(operation_id="learnuplets_claim_next", responses={200: LearnupletSerializer, 204: OpenApiResponse(description="Nothing to claim.")}),
    claim=extend_schema(responses={200: LearnupletSerializer, 409: OpenApiResponse(description="Not todo.")}),
    result=extend_schema(request=LearnResultSerializer, responses={200: LearnupletSerializer}),
)
class LearnupletViewSet(QueueActionsMixin, viewsets.ReadOnlyModelViewSet[Learnuplet]):
    queryset = Learnuplet.objects.all()
    # Reads need a role; an unserved write method by a worker answers 405, not 403.
    permission_classes = [WorkerWrites]
    serializer_class = LearnupletSerializer
    filterset_class = LearnupletFilter
    lookup_value_regex = UUID_PATH
    lifecycle = LEARNUPLETS
    result_serializer_class = LearnResultSerializer

    def report(self, pk: uuid.UUID, result: dict[str, Any], *, worker: uuid.UUID, actor: str) -> Learnuplet:
        return LEARNUPLETS.report(pk, worker=worker, actor=actor, **result)

    def owner_of(self, pk: uuid.UUID) -> int | None:
        found = list(Learnuplet.objects.filter(pk=pk).values_list("algo__created_by_id", flat=True))
        if not found:
            raise TaskNotFound(f"no learnuplet {pk}")
        return found[0]


class CanceledSerializer(serializers.Serializer[dict[str, int]]):
    canceled = serializers.IntegerField(help_text="Learnuplets canceled by this request.")


# POST /api/v1/algos/{uuid}/cancel/: learning's work on an algo, served here so that
# `problems` knows nothing of learnuplets (as the leaderboard). No docstring: it would
# become the operation's description.
class AlgoCancelView(IdempotentMixin, GenericAPIView[Algo]):
    queryset = Algo.objects.all()
    permission_classes = [UploaderWrites]
    pagination_class = None
    filter_backends = []
    name = "Cancel"

    @extend_schema(request=CancelSerializer, responses={200: CanceledSerializer})
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        body = CancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        owner = Algo.objects.filter(pk=pk).values_list("created_by_id", flat=True)
        if not owner:
            raise AlgoNotFound(f"no algo {pk}")
        refuse_unless_owner(request.user, owner[0])
        canceled = LEARNUPLETS.cancel_algo(pk, actor=actor_name(request.user), reason=body.validated_data["reason"])
        return Response({"canceled": canceled})


# GET /api/v1/problems/{uuid}/leaderboard/: a problem's algos ranked by what learning
# computed, served here so that `problems` knows nothing of learning. It was an action of the
# problems' view set: it keeps that action's settings, its name (the OPTIONS answer's) and
# its OpenAPI operation. No docstring: it would become the operation's description.
class ProblemLeaderboardView(GenericAPIView[Problem]):
    queryset = Problem.objects.all()
    permission_classes = [UploaderWrites]
    pagination_class = None
    filter_backends = []
    name = "Leaderboard"

    @extend_schema(responses={200: LeaderboardRowSerializer(many=True)})
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return Response(LeaderboardRowSerializer(leaderboard(self.get_object()), many=True).data)

"""The 2017 Morpheo orchestrator's routes: thin views over the services v1 uses."""

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework import exceptions, serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from accounts.models import Role
from accounts.permissions import RolePermission, UploaderWrites, WorkerWrites
from accounts.roles import User, actor_name, role_of, site_of, site_to_register
from learning.lifecycle import LEARNUPLETS, Learnuplets
from morpheo import errors
from morpheo.auth import BasicAuthentication
from morpheo.queries import COLLECTIONS, MAX_LIST, path_uuid
from morpheo.serializers import (
    AlgoBody,
    DataBody,
    LearnDoneBody,
    PredDoneBody,
    ProblemBody,
    ProblemDocument,
    WorkerBody,
)
from predictions.lifecycle import PREDUPLETS, Preduplets
from predictions.serializers import PredupletCreateSerializer
from predictions.services import preduplet_request
from problems import services as registry
from problems.secrecy import without_test_data_for
from tasks.queue import SiteForbidden

TASKS: dict[str, Learnuplets | Preduplets] = {"learnuplet": LEARNUPLETS, "preduplet": PREDUPLETS}


class AlwaysJSON(DefaultContentNegotiation):
    """The 2017 server answered JSON whatever the Accept header said."""

    def select_renderer(self, request: Request, renderers: Iterable[BaseRenderer],
                        format_suffix: str | None = None) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class MorpheoView(APIView):
    authentication_classes = [BasicAuthentication]
    permission_classes: list[type[BasePermission]] = [RolePermission]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AlwaysJSON
    schema = None  # Not part of the v1 OpenAPI document.

    def get_exception_handler(self) -> Callable[..., Response | None]:
        return errors.exception_handler


class CollectionView(MorpheoView):
    """`GET /<collection>`: the documents matching every `?field=value`, oldest first.

    At most MAX_LIST per answer (`?limit=` lowers it); when more match, a `Link: <...>;
    rel="next"` header gives the `?offset=` of the rest. Three queries whatever the size.
    """

    collection = ""

    def get(self, request: Request) -> Response:
        collection = COLLECTIONS[self.collection]
        offset, limit = _window(request)
        found = list(collection.filtered(request)[offset : offset + limit + 1])
        headers = {}
        if len(found) > limit:
            found = found[:limit]
            next_url = replace_query_param(request.build_absolute_uri(), "offset", offset + limit)
            headers["Link"] = f'<{next_url}>; rel="next"'
        documents = collection.serializer(request, found, many=True).data
        return Response({f"{collection.name}s": documents}, headers=headers)


def _window(request: Request) -> tuple[int, int]:
    bounds = {"offset": serializers.IntegerField(min_value=0, max_value=10**12),
              "limit": serializers.IntegerField(min_value=1, max_value=MAX_LIST)}
    window = {"offset": 0, "limit": MAX_LIST}
    for name, field in bounds.items():
        if name in request.query_params:
            try:
                window[name] = field.run_validation(request.query_params[name])
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({name: exc.detail}) from None
    return window["offset"], window["limit"]


class ProblemsView(CollectionView):
    collection = "problem"
    permission_classes = [UploaderWrites]

    def post(self, request: Request) -> Response:
        body = ProblemBody(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        problem = registry.problem_create(pk=fields.pop("uuid"), user=request.user, **fields)
        # The one exception to test-data secrecy: the creator sees what it sent.
        document = ProblemDocument(problem, context={"request": request, "reveal_test_data": True}).data
        return Response({"new_problem": document}, status=status.HTTP_201_CREATED)


class AlgosView(CollectionView):
    collection = "algo"
    permission_classes = [UploaderWrites]

    def post(self, request: Request) -> Response:
        body = AlgoBody(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        algo, created = registry.algo_register(pk=fields.pop("uuid"), user=request.user, **fields)
        document = COLLECTIONS["algo"].serializer(request, algo).data
        return Response({"new_algo": document, "new_learnuplets": created}, status=status.HTTP_201_CREATED)


class DataView(CollectionView):
    collection = "data"
    permission_classes = [UploaderWrites]

    def post(self, request: Request) -> Response:
        body = DataBody(data=request.data)
        body.is_valid(raise_exception=True)
        # 2017 clients name no site: their data are their site's (the platform's without one).
        records, created = registry.data_register(
            uuids=body.validated_data["uuid"], problems=body.validated_data["problems"], user=request.user,
            site=site_to_register(request.user, None),
        )
        records = without_test_data_for(request.user, records)
        documents = COLLECTIONS["data"].serializer(request, records, many=True).data
        return Response({"new_datas": documents, "new_learnuplets": created}, status=status.HTTP_201_CREATED)


class DocumentView(MorpheoView):
    """`GET /<collection>/<uuid>`."""

    def get(self, request: Request, collection: str, pk: str) -> Response:
        found = COLLECTIONS[collection]
        document = found.visible_to(request.user).filter(pk=path_uuid(pk)).first()
        if document is None:
            raise exceptions.NotFound(f"no {collection} {pk}")
        return Response(found.serializer(request, document).data)


class PredictionView(MorpheoView):
    permission_classes = [UploaderWrites]

    def post(self, request: Request) -> Response:
        body = PredupletCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        preduplet = preduplet_request(user=request.user, **body.validated_data)
        document = COLLECTIONS["preduplet"].serializer(request, preduplet).data
        return Response(document, status=status.HTTP_201_CREATED)


class WorkerSetView(MorpheoView):
    """`POST /worker/<type>/<uuid>`: the 2017 claim, for the worker UUID in the body."""

    permission_classes = [WorkerWrites]

    def post(self, request: Request, kind: str, pk: str) -> Response:
        tasks = TASKS.get(kind)
        if tasks is None:
            raise exceptions.NotFound(f"no task type {kind!r}: learnuplet or preduplet")
        task = path_uuid(pk)
        body = WorkerBody(data=request.data)
        body.is_valid(raise_exception=True)
        user = request.user
        # 2017 workers never heartbeat: their lease must cover a whole task. Another site's
        # task raises SiteForbidden, a 400 here (errors.exception_handler).
        tasks.claim(task, worker=body.validated_data["worker"], actor=actor_name(user),
                    site=site_of(user), any_site=role_of(user) == Role.OPERATOR,
                    lease_seconds=settings.ORCHESTRATOR_MORPHEO_LEASE_SECONDS)
        return Response({f"{kind}_worker_set": str(task)})


def refuse_other_sites(tasks: Learnuplets | Preduplets, pk: uuid.UUID, user: User) -> None:
    """SiteForbidden (a 400 here) for a result on another site's task: 2017 results carry
    no worker or attempt, so nothing else fences them. A task's site never changes once
    created, so reading it before the result cannot race with it."""
    if role_of(user) == Role.OPERATOR:
        return
    site = tasks.model._default_manager.filter(pk=pk).values_list("site_id", flat=True).first()
    if site is not None and site != site_of(user):
        raise SiteForbidden(f"{tasks.model.kind} {pk} belongs to another site: only its own compute "
                            "workers may report its result")


class LearnDoneView(MorpheoView):
    permission_classes = [WorkerWrites]

    def post(self, request: Request, pk: str) -> Response:
        task = path_uuid(pk)
        body = LearnDoneBody(data=request.data)
        body.is_valid(raise_exception=True)
        refuse_other_sites(LEARNUPLETS, task, request.user)
        LEARNUPLETS.report(task, worker=None, attempt=None, actor=actor_name(request.user),
                          **body.validated_data)
        return Response({"updated_learnuplet": str(task)})


class PredDoneView(MorpheoView):
    permission_classes = [WorkerWrites]

    def post(self, request: Request, pk: str) -> Response:
        task = path_uuid(pk)
        body = PredDoneBody(data=request.data)
        body.is_valid(raise_exception=True)
        refuse_other_sites(PREDUPLETS, task, request.user)
        PREDUPLETS.report(task, worker=None, attempt=None, actor=actor_name(request.user),
                         **body.validated_data)
        return Response({"updated_preduplet": str(task)})


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any other path under the 2017 prefixes, or another collection name."""
    return errors.page_not_found(request)

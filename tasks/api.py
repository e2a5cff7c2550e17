"""HTTP actions shared by the learnuplet and preduplet viewsets: claim, heartbeat, result."""

import copy
import socket
import uuid
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from orchestrator_site.fields import FiniteFloatField, StrictBooleanField

from accounts.permissions import UploaderWrites, WorkerWrites, refuse_unless_owner
from accounts.models import Role
from accounts.roles import actor_name, role_of, sees_test_data, site_of, worker_of
from idempotency.api import KEY_HEADER, IdempotentMixin
from idempotency.models import IdempotencyKey
from tasks import queue
from tasks.lifecycle import Lifecycle
from tasks.models import QueueTask, Status, task_models
from tasks.wakeups import WAKEUPS, closed


class AttemptSerializer(serializers.Serializer[dict[str, Any]]):
    """A worker's report body. DRF deep-copies declared fields for every instance (~0.2 ms
    a request); validating a body keeps no state in them, so a shallow copy will do."""

    attempt = serializers.IntegerField(min_value=1, max_value=2**31 - 1)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}


class ResultSerializer(AttemptSerializer):
    status = serializers.ChoiceField(choices=[Status.DONE, Status.FAILED])
    error = serializers.CharField(required=False, allow_blank=True, max_length=10_000, default="")
    retry = StrictBooleanField(
        required=False, default=False,
        help_text="With status failed: a transient fault (storage unreachable, out of memory). The "
                  "task goes back to todo after a back-off while attempts remain.",
    )


class CancelSerializer(serializers.Serializer[dict[str, Any]]):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=10_000, default="")


class WaitSerializer(serializers.Serializer[dict[str, Any]]):
    wait = FiniteFloatField(
        required=False, default=0, min_value=0, max_value=60,
        help_text="Seconds to wait for a task to become claimable when none is (0 to 60, default 0).",
    )
    interrupt = serializers.CharField(
        required=False, default="",
        help_text="With wait: another task kind (learnuplet, preduplet). When a task of that kind "
                  "is claimable for this worker, already or while it waits, the claim answers 204 "
                  "at once (before an answer of its own kind), so that the worker claims it. One "
                  "waiting request serves a worker of both kinds, the other kind first.",
    )

    def validate_interrupt(self, value: str) -> str:
        kinds = sorted(task_models())
        if value and value not in kinds:
            raise serializers.ValidationError(f"One of {', '.join(kinds)}, or empty.")
        return value


def client_socket(request: HttpRequest) -> socket.socket | None:
    """The client's socket, for a waiting request to see its client hang up: gunicorn hands
    it over in the WSGI environ; elsewhere (runserver, the test client) nobody can tell, and
    the request waits its time out."""
    sock: socket.socket | None = request.META.get("gunicorn.socket")
    return sock


class LeaseSerializer(serializers.Serializer[QueueTask]):
    lease_expires_at = serializers.DateTimeField()


_WHOLE: dict[type[serializers.BaseSerializer[Any]], serializers.BaseSerializer[Any]] = {}


def _whole(serializer_class: type[serializers.BaseSerializer[Any]]) -> serializers.BaseSerializer[Any]:
    """A serializer showing every field, one per class, shared: rendering keeps no state in it."""
    serializer = _WHOLE.get(serializer_class)
    if serializer is None:
        serializer = _WHOLE[serializer_class] = serializer_class(context={"reveal_test_data": True})
    return serializer


class QueueActionsMixin(IdempotentMixin, viewsets.GenericViewSet[Any]):
    """Worker protocol over a QueueTask model, one implementation for both task kinds; every
    write of the view set honours Idempotency-Key."""

    lifecycle: Lifecycle
    result_serializer_class: type[ResultSerializer]
    _claim_round = False  # a try of a keyed waiting claim (dispatch)
    _untried: Any = None  # that try's key, when it found nothing and stored nothing

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """A claim with both ?wait= and an Idempotency-Key waits between keyed requests.

        A keyed request runs in one transaction (idempotency.api), which would hold its
        database connection for the whole wait: 1,000 waiting workers, 1,000 connections.
        So each try is a whole keyed request of its own (lock the key, replay, claim, store
        the answer: a task claimed and its answer commit together), and the waits come
        between them, without a transaction or a connection. A try that finds nothing
        stores no answer, so the next one runs again; at the end the 204 is stored in one
        statement, unless the key got an answer meanwhile, which is replayed. There is no
        last try: a wake-up that comes too late goes to another waiter (tasks.wakeups)."""
        wait = WaitSerializer(data=request.GET)
        if (
            getattr(self, "action_map", {}).get((request.method or "").lower()) != "claim_next"
            or f"HTTP_{KEY_HEADER.upper().replace('-', '_')}" not in request.META
            or not wait.is_valid() or not wait.validated_data["wait"]
        ):
            return super().dispatch(request, *args, **kwargs)

        empty: list[HttpResponseBase] = []

        def attempt() -> HttpResponseBase | None:
            self._untried = None
            answer = super(QueueActionsMixin, self).dispatch(request, *args, **kwargs)
            if answer.status_code != status.HTTP_204_NO_CONTENT or self._untried is None:
                return answer  # a task, a replay, an error, or a 204 already stored
            empty[:] = [answer]
            return None

        sock = client_socket(request)
        self._claim_round = True
        try:
            # The first try authenticates: the site the request waits for is known after it.
            mark = WAKEUPS.mark()
            found = attempt()
            if found is None:
                found = WAKEUPS.claim(attempt, model=self.lifecycle.model, site=site_of(self.request.user),
                                      timeout=wait.validated_data["wait"], sock=sock, tried_since=mark,
                                      interrupt=self._interrupt(wait.validated_data["interrupt"]))
        finally:
            self._claim_round = False
        if found is not None:
            return found
        if self._untried is not None and not (sock is not None and closed(sock)):
            user_pk, key, fingerprint = self._untried
            if not IdempotencyKey.objects.keep_unless_answered(user_pk=user_pk, key=key, request=fingerprint,
                                                               status_code=status.HTTP_204_NO_CONTENT):
                # A request with the same key (a retry beside this one) was answered: that
                # answer is the key's, replayed (initial raises it before the claim runs).
                return super().dispatch(request, *args, **kwargs)
        return empty[0]

    def _interrupt(self, kind: str) -> type[QueueTask] | None:
        """The model of `?interrupt=`, unless it names no kind or this view's own."""
        model = task_models().get(kind)
        return None if model is None or model is self.lifecycle.model else model

    def report(self, pk: uuid.UUID, result: dict[str, Any], *, worker: uuid.UUID, actor: str) -> QueueTask:
        raise NotImplementedError

    def _task_response(self, task: QueueTask) -> Response:
        if not sees_test_data(self.request.user):
            return Response(self.get_serializer(task).data)
        # Workers and operators see every field: one serializer per class renders every
        # claim and result (DRF building a serializer's fields cost ~0.4 ms a response).
        return Response(_whole(self.get_serializer_class()).to_representation(task))

    # Each viewset completes these schemas with its own task serializer.
    @extend_schema(request=None, parameters=[WaitSerializer])
    @action(detail=False, methods=["post"], url_path="claim", url_name="claim-next",
            permission_classes=[WorkerWrites])
    def claim_next(self, request: Request) -> Response:
        query = WaitSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        wait: float = query.validated_data["wait"]
        user = request.user
        site = site_of(user)

        def attempt() -> QueueTask | None:
            return self.lifecycle.claim_next(worker=worker_of(user), actor=actor_name(user), site=site)

        interrupt = self._interrupt(query.validated_data["interrupt"]) if wait > 0 else None
        if interrupt is not None and queue.claimable(interrupt, site=site):
            # A task of the other kind is claimable already: the worker claims it first.
            return Response(status=status.HTTP_204_NO_CONTENT)
        if self._claim_round:
            task = attempt()
            if task is None:
                # Nothing claimed: no answer kept, the request waits on (dispatch).
                self._untried, self._idempotent = self._idempotent, None
        elif wait > 0:
            task = WAKEUPS.claim(attempt, model=self.lifecycle.model, site=site, timeout=wait,
                                 sock=client_socket(request), interrupt=interrupt)
        else:
            task = attempt()
        if task is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return self._task_response(task)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"], url_path="claim", permission_classes=[WorkerWrites])
    def claim(self, request: Request, pk: str) -> Response:
        user = request.user
        # Operators may claim anything; a compute worker only its site's tasks and the platform's.
        task = self.lifecycle.claim(uuid.UUID(pk), worker=worker_of(user), actor=actor_name(user),
                                    site=site_of(user), any_site=role_of(user) == Role.OPERATOR)
        return self._task_response(task)

    @extend_schema(request=AttemptSerializer, responses={200: LeaseSerializer})
    @action(detail=True, methods=["post"], permission_classes=[WorkerWrites])
    def heartbeat(self, request: Request, pk: str) -> Response:
        body = AttemptSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        task = self.lifecycle.heartbeat(uuid.UUID(pk), worker=worker_of(request.user),
                                        attempt=body.validated_data["attempt"])
        return Response(LeaseSerializer(task).data)

    @action(detail=True, methods=["post"], permission_classes=[WorkerWrites])
    def result(self, request: Request, pk: str) -> Response:
        body = self.result_serializer_class(data=request.data)
        body.is_valid(raise_exception=True)
        task = self.report(uuid.UUID(pk), body.validated_data, worker=worker_of(request.user),
                           actor=actor_name(request.user))
        return self._task_response(task)


    def owner_of(self, pk: uuid.UUID) -> int | None:
        """The user id of the client that asked for the task (who may cancel it)."""
        raise NotImplementedError

    @extend_schema(request=CancelSerializer)
    @action(detail=True, methods=["post"], permission_classes=[UploaderWrites])
    def cancel(self, request: Request, pk: str) -> Response:
        body = CancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        task_pk = uuid.UUID(pk)
        refuse_unless_owner(request.user, self.owner_of(task_pk))
        task = self.lifecycle.cancel_one(task_pk, actor=actor_name(request.user),
                                         reason=body.validated_data["reason"])
        return self._task_response(task)

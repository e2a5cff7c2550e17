"""`Idempotency-Key` on the v1 API's writes (api.md, "Idempotent requests").

A view class that mixes in IdempotentMixin serves each write that carries a key in one
transaction: it takes an advisory lock on the user's key (409 when another request holds
it), answers again the answer stored under the key in the last 24 hours (422 when that
was another request), or else runs the view and stores its answer, so that the answer and
the view's effect commit together. Without the header nothing changes: no transaction,
no query.
"""

import re
from typing import Any

from django.db import InterfaceError, OperationalError, transaction
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from idempotency.models import PRUNED_PER_REQUEST, Fingerprint, IdempotencyKey

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY_META = "HTTP_IDEMPOTENCY_KEY"
# 1 to 255 visible ASCII characters (RFC 5234's VCHAR), as the contract says.
_VALID_KEY = re.compile(r"[!-~]{1,255}")


class KeyInFlight(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = f"A request with this {KEY_HEADER} is still running. Retry shortly."
    default_code = "in_flight"
    wait = 1  # Retry-After: what tells this 409 from a refused state change


class KeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = (f"This {KEY_HEADER} was sent with another request (method, path or body). "
                      "Send a new key with a new request.")
    default_code = "key_reused"


class _Replay(Exception):
    """Raised from `initial` to skip the handler; `handle_exception` answers with it."""

    def __init__(self, answer: IdempotencyKey) -> None:
        self.answer = answer


def _wants_key(request: HttpRequest) -> bool:
    return request.method not in SAFE_METHODS and _KEY_META in request.META


class IdempotentMixin(APIView):
    """Honour `Idempotency-Key` on this view's writes (POST, and PUT, PATCH, DELETE if served).

    Answers below 500 are stored, 4xx included: a retry learns what the first request got
    (400, 403, 404, 409 included), as the contract says. A 5xx rolls back whatever the
    view did and stores nothing, so the retry runs the request again; so does a 503 whose
    connection died before the commit. The key's own errors (400 bad key, 409 in flight,
    422 another request) and refusals before the view (401, 403 by role, 405) are not stored.
    """

    _idempotent: tuple[Any, str, Fingerprint] | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not _wants_key(request):
            return super().dispatch(request, *args, **kwargs)
        try:
            with transaction.atomic():
                response = super().dispatch(request, *args, **kwargs)
                self._keep(response)
        except (OperationalError, InterfaceError) as exc:
            # Opening the transaction, storing the answer or committing lost the database:
            # 503, as for a query of the view. A retry with the key learns whether it committed.
            return self._answer_exception(request, exc, *args, **kwargs)
        return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self._idempotent = None
        method = request.method or ""
        key = request.META.get(_KEY_META)
        # Only where dispatch opened the transaction, and for a method the view serves
        # (a 405 is not worth a lock and a row).
        if key is None or method in SAFE_METHODS or not hasattr(self, method.lower()):
            super().initial(request, *args, **kwargs)
            return
        if not _VALID_KEY.fullmatch(key):
            raise ValidationError({KEY_HEADER: ["1 to 255 visible ASCII characters (! to ~), no spaces."]})
        # The body before authentication: a session's CSRF check may read a form body as a
        # stream, after which Django no longer gives it whole. Reading it may refuse it (413).
        fingerprint = Fingerprint.of(method, request.get_full_path(), request.body)
        super().initial(request, *args, **kwargs)
        user = request.user
        if not user.is_authenticated:
            return  # no one to keep the key for (v1 writes all need a role)
        if not IdempotencyKey.objects.try_lock(user.pk, key):
            raise KeyInFlight()
        answer = IdempotencyKey.objects.answer_to(user.pk, key)
        if answer is not None:
            if answer.request != fingerprint:
                raise KeyReused()
            raise _Replay(answer)
        self._idempotent = (user.pk, key, fingerprint)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Replay):
            return Response(exc.answer.data, status=exc.answer.status_code, headers={REPLAYED_HEADER: "true"})
        return super().handle_exception(exc)

    def _keep(self, response: HttpResponseBase) -> None:
        """In the request's transaction: store the answer, or roll back on a 5xx."""
        if self._idempotent is None:
            return
        user_pk, key, fingerprint = self._idempotent
        if response.status_code >= 500:
            transaction.set_rollback(True)
            return
        data = response.data if isinstance(response, Response) else None
        IdempotencyKey.objects.keep(user_pk=user_pk, key=key, request=fingerprint,
                                    status_code=response.status_code, data=data)
        # Last: its row locks are taken with SKIP LOCKED, so it never waits while holding the key.
        IdempotencyKey.objects.prune_some(PRUNED_PER_REQUEST)

    def _answer_exception(self, request: HttpRequest, exc: Exception, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """What dispatch answers for an exception, also when it failed before it began."""
        drf_request = self.request if isinstance(self.request, Request) else self.initialize_request(request)
        self.request = drf_request
        self.headers = self.default_response_headers
        return self.finalize_response(drf_request, self.handle_exception(exc), *args, **kwargs)

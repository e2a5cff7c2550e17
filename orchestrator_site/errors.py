"""One JSON error shape for every failure the contract names (400/404/409/413), and 503
while the database cannot be reached."""

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.handlers.exception import get_exception_response
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import get_resolver, get_urlconf
from django.views.defaults import bad_request as django_bad_request
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)


class StateConflict(Exception):
    """A domain's refusal of a state change that is not allowed now (409). With a `status`,
    the answer says it too: `{"detail", "status"}` (a worker told `canceled` stops)."""

    def __init__(self, message: str, *, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFoundError(Exception):
    """A domain's lookup of a record that does not exist (404)."""


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This state change is not allowed now."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "too_large"


class DatabaseUnavailable(exceptions.APIException):
    """The database connection failed (a restart, a killed connection, a deadlock). A
    change is all or nothing, but may have committed just before the failure: a retry can
    meet it (400 already registered, 409 not pending)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is unavailable. Retry shortly."
    default_code = "database_unavailable"
    wait = 1  # DRF sends it as Retry-After


def as_api_exception(exc: Exception) -> Exception:
    """Translate the domain's exceptions into DRF's; others pass through."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return exceptions.ValidationError(exc.message_dict)
        return exceptions.ValidationError({"detail": exc.messages})
    if isinstance(exc, StateConflict):
        if exc.status is not None:
            return Conflict({"detail": str(exc), "status": exc.status})
        return Conflict(str(exc))
    if isinstance(exc, NotFoundError):
        return exceptions.NotFound(str(exc))
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, (OperationalError, InterfaceError)):
        log.warning("database unavailable: %s", str(exc).strip()[:500])
        return DatabaseUnavailable()
    return exc


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    return drf_exception_handler(as_api_exception(exc), context)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """What Django refuses before a view runs (e.g. more than DATA_UPLOAD_MAX_NUMBER_FIELDS
    query parameters) answers JSON too: `{"detail"}` under /api/, `{"Error"}` at the root."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Bad request."}, status=400)
    if request.path.startswith("/admin/"):
        return django_bad_request(request, exception)
    return JsonResponse({"Error": "Bad request."}, status=400)


def api_not_found(request: HttpRequest) -> HttpResponse | None:
    """The 404 of a path under /api/ that no route matched (e.g. a malformed UUID in the
    path): JSON like the rest of the API. None elsewhere.

    The site's handler404 (see orchestrator_site.urls) asks this first, then the 2017
    routes' own 404 at the root.
    """
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return None


class DebugNotFoundMiddleware:
    """With DEBUG on, Django answers a path that no route matches with its HTML debug page
    and never calls the site's handler404; this asks the handler, so that the API's paths
    answer JSON in debug as deployed. Where the handler's answer is a page (a path outside
    the APIs), the debug page stays, for its list of routes. Not loaded with DEBUG off.

    Before CommonMiddleware in MIDDLEWARE, which turns some of these 404s into redirects
    (`/api/v1/problems` to `/api/v1/problems/`).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not settings.DEBUG:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Django sets resolver_match only once a route matched.
        if response.status_code != 404 or request.resolver_match is not None:
            return response
        # What Django answers with DEBUG off: the site's handler404, a 500 if that fails.
        answer = get_exception_response(request, get_resolver(get_urlconf()), 404, Http404())
        return answer if answer.get("Content-Type") == "application/json" else response

"""2017 clients read failures as `{"Error": "..."}`, and know 400 where v1 says 409."""

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response

from orchestrator_site.errors import api_not_found
from orchestrator_site.errors import exception_handler as api_exception_handler
from tasks.queue import SiteForbidden, TaskConflict, TaskNotFound


def _message(detail: Any) -> str:
    """One line from DRF's error structure, naming the fields."""
    if isinstance(detail, dict):
        return "; ".join(
            _message(value) if key in ("detail", "non_field_errors") else f"{key}: {_message(value)}"
            for key, value in detail.items()
        )
    if isinstance(detail, list):
        return "; ".join(_message(item) for item in detail)
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, (TaskConflict, TaskNotFound, SiteForbidden)):
        # The 2017 routes answer 400 to a claim or report on a task that is not todo/pending,
        # does not exist, or belongs to another site (v1 says 409/404/403 for these): 2017
        # workers know no other refusal.
        exc = exceptions.ValidationError({"detail": str(exc)})
    response = api_exception_handler(exc, context)
    if response is not None:
        response.data = {"Error": _message(response.data)}
    return response


def page_not_found(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"Error": "Page does not exist"}, status=404)


def root_not_found(request: HttpRequest) -> HttpResponse | None:
    """The 404 of `/<name>` or `/<name>/<uuid>` (another collection name), outside the admin.

    Answered from the site's handler404 (`not_found`): a catch-all route here would shadow
    root routes added after this app's and the redirect of `/admin` to `/admin/`.
    """
    segments = [s for s in request.path.split("/") if s]
    if len(segments) > 2 or request.path.startswith("/admin/"):
        return None
    return page_not_found(request)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The site's handler404: no route matched. JSON under /api/ (orchestrator_site's answer),
    JSON at the root, where the 2017 routes live, as they answer; elsewhere (the admin)
    Django's page."""
    return api_not_found(request) or root_not_found(request) or defaults.page_not_found(request, exception)

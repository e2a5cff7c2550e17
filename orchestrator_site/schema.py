"""The OpenAPI document lists, for every operation, the error answers the contract gives it.

drf-spectacular documents only the success answer; clients (and the Schemathesis run in
tests/test_fuzz_schemathesis.py) need the 4xx too: 401/403 wherever credentials are
needed, 400/413/415 where a body or query is read, 404 where a path names a record or a
list is paged, 409 on the worker protocol's state changes, 503 while the database is down.
"""

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.utils import Direction, OpenApiResponse
from rest_framework import serializers

# The actions whose state change may be refused now (the contract's 409).
STATE_CHANGES = ("claim", "heartbeat", "result")


class ErrorSerializer(serializers.Serializer[dict[str, Any]]):
    detail = serializers.CharField()


# A 400 names the fields: {"field": ["message", ...]} (nested for dict fields) or {"detail": ...}.
INVALID: dict[str, Any] = {
    "type": "object",
    "additionalProperties": True,
    "description": 'Field name to its messages, or "detail".',
}


class AutoSchema(openapi.AutoSchema):
    def _get_parameters(self) -> list[dict[str, Any]]:
        parameters = super()._get_parameters()
        for parameter in parameters:
            if parameter["in"] == "query" and not parameter.get("required"):
                # `?problem=` filters nothing and `?page=` is the first page, as the browsable
                # API's filter form sends every field, empty or not.
                parameter["allowEmptyValue"] = True
        return parameters

    def _get_response_bodies(self, direction: Direction = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code, answer in self._errors().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(  # type: ignore[no-untyped-call]  # untyped in drf-spectacular
                    answer, code, direction=direction
                )
        return responses

    def _errors(self) -> dict[str, OpenApiResponse]:
        def error(description: str) -> OpenApiResponse:
            return OpenApiResponse(ErrorSerializer, description=description)

        errors: dict[str, OpenApiResponse] = {}
        reads_body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        if (
            reads_body
            or self._get_filter_parameters()  # type: ignore[no-untyped-call]  # untyped in drf-spectacular
            or self._get_pagination_parameters()  # type: ignore[no-untyped-call]  # untyped in drf-spectacular
            # Query parameters an operation declares itself (`?wait=`, the event feed's).
            or any(p["in"] == "query" for p in super()._get_parameters())
        ):
            errors["400"] = OpenApiResponse(INVALID, description="Invalid input.")
        if self.get_auth():
            errors["401"] = error("No credentials, or invalid ones.")
            errors["403"] = error("This role may not do this.")
        if "{" in self.path or self._is_list_view():
            errors["404"] = error("No such record, or no such page.")
        if getattr(self.view, "action", None) in STATE_CHANGES:
            errors["409"] = error("The state change is not allowed now.")
        if reads_body:
            errors["413"] = error("Request body too large.")
            errors["415"] = error("The body is not JSON.")
        errors["503"] = error("The database is unavailable: retry shortly (Retry-After).")
        return errors

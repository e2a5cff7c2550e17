"""The OpenAPI document shows `Idempotency-Key` on every write that honours it, the
`Idempotent-Replayed` header of a replay, and the key's own answers (400, 409, 422).

Named by settings as DEFAULT_SCHEMA_CLASS: the project's schema, with these added.
"""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.permissions import SAFE_METHODS

from idempotency.api import KEY_HEADER, REPLAYED_HEADER, IdempotentMixin
from orchestrator_site import schema
from orchestrator_site.schema import INVALID, ErrorSerializer

KEY = OpenApiParameter(
    KEY_HEADER,
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    OpenApiParameter.HEADER,
    description=(
        "Makes a retry safe: for 24 hours the same key from the same user answers the first "
        "answer again (status and body) without doing anything, with `Idempotent-Replayed: true`. "
        "The same key with another method, path or body: 422. While the first request with the "
        "key is still running: 409 with `Retry-After`. A new key for each new request."
    ),
)
REPLAYED = OpenApiParameter(
    REPLAYED_HEADER, str, OpenApiParameter.HEADER, enum=["true"], response=True,
    description=f"Present on an answer given again to a repeated {KEY_HEADER}.",
)


class AutoSchema(schema.AutoSchema):
    def _honours_key(self) -> bool:
        return self.method not in SAFE_METHODS and isinstance(self.view, IdempotentMixin)

    def get_override_parameters(self) -> list[Any]:
        parameters = super().get_override_parameters()
        return [*parameters, KEY, REPLAYED] if self._honours_key() else parameters

    def _errors(self) -> dict[str, OpenApiResponse]:
        errors = super()._errors()
        if not self._honours_key():
            return errors
        errors.setdefault("400", OpenApiResponse(INVALID, description="Invalid input."))
        in_flight = f"A request with this {KEY_HEADER} is still running (Retry-After)."
        state = errors.get("409")
        errors["409"] = OpenApiResponse(
            ErrorSerializer,
            description=f"{state.description} Or: {in_flight}" if state is not None else in_flight,
        )
        errors["422"] = OpenApiResponse(
            ErrorSerializer, description=f"This {KEY_HEADER} was sent with another request.")
        return errors

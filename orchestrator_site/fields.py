"""Serializer fields shared by every app's API."""

import math
import re
from typing import Any

from rest_framework import serializers

CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UUID_PATH = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


class StrictUUIDField(serializers.UUIDField):
    """Only canonical lower-case UUID strings: the contract makes anything else a 400."""

    default_error_messages = {"invalid": "Must be a canonical lower-case UUID string, not {value!r}."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or not CANONICAL_UUID.match(data):
            self.fail("invalid", value=str(data)[:60])
        return super().to_internal_value(data)


class UUIDListField(serializers.ListField):
    child = StrictUUIDField()


class OneOrManyUUIDsField(UUIDListField):
    """Accepts one UUID or a list of them; always yields a list."""

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, str):
            data = [data]
        return super().to_internal_value(data)


class FiniteFloatField(serializers.FloatField):
    default_error_messages = {"non_finite": "Must be a finite number."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("non_finite")
        return value

"""Serializer fields and query filters shared by every app's API."""

import math
import re
import uuid
from collections.abc import Sequence
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
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


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: DRF would also take "2", 2.0 or 2.5 truncated to 2."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean: DRF would also take "yes", "on", 0 or "1"."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


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


class StrictUUIDFormField(forms.UUIDField):
    """Query filters follow the body's rule: only canonical lower-case UUIDs."""

    default_error_messages = {"invalid": "Must be a canonical lower-case UUID string."}

    def to_python(  # type: ignore[override]  # UUIDField returns a UUID, its base CharField a str
        self, value: Any
    ) -> uuid.UUID | None:
        if value not in self.empty_values and not CANONICAL_UUID.match(str(value)):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class StrictUUIDFilter(django_filters.UUIDFilter):
    field_class = StrictUUIDFormField


class IntegerFilter(django_filters.NumberFilter):
    """`?rank=1.5` is a 400, not a silent match on rank 1."""

    field_class = forms.IntegerField  # type: ignore[assignment]  # stub says DecimalField; any number field works


def refuse_duplicates(field: str, values: Sequence[uuid.UUID]) -> None:
    """A 400 naming `field` and the UUIDs it repeats, if it repeats any."""
    seen: set[uuid.UUID] = set()
    repeated: list[str] = []
    for value in values:
        if value in seen:
            repeated.append(str(value))
        seen.add(value)
    if repeated:
        raise ValidationError({field: [f"duplicate UUIDs in the request: {', '.join(repeated[:10])}"]})

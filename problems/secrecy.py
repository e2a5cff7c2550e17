"""Test-data secrecy: a problem's test data are secret to clients (the contract's one
exception: the 201 answer to the problem's creator). What a user may see of the data, and
the serializers that keep test-data UUIDs out of every answer."""

import copy
import operator
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, TypeVar

from django.db.models import Model, QuerySet
from rest_framework import serializers
from rest_framework.fields import SkipField

from accounts.roles import User, sees_test_data
from problems.models import Data, Problem

M = TypeVar("M", bound=Model)

# A UUID inside free text, in any case, with or without hyphens.
UUID_IN_TEXT = re.compile(
    r"(?<![0-9a-fA-F])[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}(?![0-9a-fA-F])"
)
HIDDEN = "[test data]"


def visible_data(user: User) -> QuerySet[Data]:
    """The data a user may see: for clients, test data do not exist."""
    data = Data.objects.all()
    return data if sees_test_data(user) else data.without_test_data()


def without_test_data_for(user: User, records: Sequence[M]) -> list[M]:
    """The records (data) a user may see: for clients, none that is some problem's test data."""
    if sees_test_data(user):
        return list(records)
    secret = Problem.objects.test_data_among([r.pk for r in records])
    return [r for r in records if r.pk not in secret]


class HidesTestDataSerializer(serializers.ModelSerializer[Any]):
    """Keeps test-data UUIDs from requesters who may not see them (clients).

    `secret_fields` are dropped whole. `scrubbed_fields` hold data UUIDs (a list, or a
    dict keyed by UUID): any that is some problem's test data is removed from them, which
    covers a problem created with test data that were already trained on elsewhere.
    `scrubbed_text_fields` are free text (a worker's error message, which may name the test
    file it could not read): test-data UUIDs in them are replaced. The test data of a whole
    page are looked up in one query.

    The view sets context["reveal_test_data"] for the one exception the contract makes:
    the 201 answer to a problem's creator.
    """

    secret_fields: tuple[str, ...] = ()
    # Set on each subclass by its first get_fields (see there).
    _built_fields: ClassVar[dict[str, Any]]
    scrubbed_fields: tuple[str, ...] = ()
    scrubbed_text_fields: tuple[str, ...] = ()

    def get_fields(self) -> dict[str, Any]:
        # ModelSerializer builds its fields by introspecting the model on every instance
        # (~1 ms of CPU per response); build them once per class (each subclass its own:
        # cls.__dict__, not inherited) and hand out copies, as DRF does for declared fields.
        cls = type(self)
        built: dict[str, Any] | None = cls.__dict__.get("_built_fields")
        if built is None:
            built = super().get_fields()
            cls._built_fields = built
        # A read-only field only renders: a shallow copy, bound to this serializer, will do
        # (its inner fields, a list's child, are shared, and keep no state while rendering)
        # at a quarter of a deep copy's cost. A field that validates input gets its own.
        fields = {name: copy.copy(f) if f.read_only else copy.deepcopy(f) for name, f in built.items()}
        if not self._reveals():
            for name in self.secret_fields:
                fields.pop(name, None)
        return fields

    def to_representation(self, instance: Model) -> dict[str, Any]:
        data: dict[str, Any]
        if isinstance(instance, Model):
            data = {}
            for name, get, render in self._render_plan():
                try:
                    value = get(instance)
                except SkipField:
                    continue
                data[name] = None if value is None else render(value)
        else:
            data = super().to_representation(instance)
        if (self.scrubbed_fields or self.scrubbed_text_fields) and not self._reveals():
            secret = self._test_data_on_page()
            shown = {str(u) for u in secret}
            for name in self.scrubbed_fields:
                value = data.get(name)
                if isinstance(value, dict):
                    data[name] = {k: v for k, v in value.items() if k not in shown}
                elif isinstance(value, list):
                    data[name] = [u for u in value if u not in shown]
            for name in self.scrubbed_text_fields:
                if isinstance(data.get(name), str) and secret:
                    data[name] = UUID_IN_TEXT.sub(
                        lambda m: HIDDEN if uuid.UUID(m.group()) in secret else m.group(), data[name]
                    )
        return data

    def _render_plan(self) -> list[tuple[str, Callable[[Model], Any], Callable[[Any], Any]]]:
        """DRF's steps for each readable field, with a plain attribute read where the field's
        source is one of the model's columns. DRF's generic `get_attribute` (dotted paths,
        callables, mappings) was a quarter of the CPU of a 1,000-row page."""
        plan = self.__dict__.get("_plan")
        if plan is None:
            model: type[Model] = self.Meta.model
            columns = {f.attname for f in model._meta.concrete_fields}
            plan = [
                (
                    field.field_name,
                    operator.attrgetter(field.source_attrs[0])
                    if len(field.source_attrs) == 1 and field.source_attrs[0] in columns
                    and not isinstance(field, serializers.RelatedField)
                    else field.get_attribute,
                    field.to_representation,
                )
                for field in self._readable_fields
            ]
            self._plan = plan
        return plan

    def _uuids_of(self, item: Model) -> Iterator[uuid.UUID | str]:
        """Data UUIDs the item names: UUIDs (arrays) or text (JSON keys, free text)."""
        for name in self.scrubbed_fields:
            yield from getattr(item, name, None) or []
        for name in self.scrubbed_text_fields:
            yield from UUID_IN_TEXT.findall(getattr(item, name, None) or "")

    def _test_data_on_page(self) -> set[uuid.UUID]:
        # The child of a ListSerializer serves every item of the page: look up once.
        cached: set[uuid.UUID] | None = getattr(self, "_page_test_data", None)
        if cached is None:
            parent = self.parent
            if isinstance(parent, serializers.ListSerializer):
                items = list(parent.instance or ())
            else:
                items = [] if self.instance is None else [self.instance]
            named = {u for item in items for u in self._uuids_of(item)}
            seen = {u for u in named if isinstance(u, uuid.UUID)}
            # Scores are keyed by the text of the same UUIDs: parse only text not seen as
            # a UUID already (parsing 10,000 keys was a fifth of a client's 1,000-row page).
            known = {str(u) for u in seen}
            seen |= {uuid.UUID(u) for u in named if not isinstance(u, uuid.UUID) and u not in known}
            cached = Problem.objects.test_data_among(list(seen)) if seen else set()
            self._page_test_data = cached
        return cached

    def _reveals(self) -> bool:
        if self.context.get("reveal_test_data"):
            return True
        request = self.context.get("request")
        # No request (e.g. schema generation): describe every field.
        return request is None or sees_test_data(request.user)

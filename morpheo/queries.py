"""The five 2017 collections: what a caller may see of each, and `?field=value` filters.

The filterable fields are the fields of the collection's document as the caller sees it,
so a client can neither read nor probe (by filtering) a field that test-data secrecy hides.
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q, QuerySet
from rest_framework import serializers
from rest_framework.request import Request

from accounts.models import Role
from accounts.roles import role_of, sees_test_data, site_of
from learning.models import Learnuplet
from morpheo.serializers import (
    AlgoDocument,
    DataDocument,
    LearnupletDocument,
    PredupletDocument,
    ProblemDocument,
)
from orchestrator_site.fields import CANONICAL_UUID, FiniteFloatField, StrictUUIDField
from predictions.models import Preduplet
from problems.models import Algo, Problem
from problems.secrecy import visible_data

User = AbstractBaseUser | AnonymousUser

# Lists answer at most this many documents; `?offset=` pages on (see views.CollectionView).
MAX_LIST = 1000
RESERVED_PARAMS = ("offset", "limit")
# int() of year 9999: a larger timestamp cannot be a datetime.
MAX_UNIX_SECONDS = 253_402_300_799


def _all(model: type[models.Model]) -> Callable[[User], QuerySet[Any]]:
    return lambda user: model._default_manager.all()


def _claimable_sites(model: type[Learnuplet] | type[Preduplet]) -> Callable[[User], QuerySet[Any]]:
    """A compute worker sees only the tasks of the sites it may claim from: its own and the
    platform's (2017 workers have no site: the platform's only). A 2017 worker picks its
    next task from these lists, so another site's task must not be in them."""

    def visible(user: User) -> QuerySet[Any]:
        tasks = model._default_manager.all()
        if role_of(user) != Role.COMPUTE:
            return tasks  # clients and operators see every task, as before sites
        site = site_of(user)
        return tasks.filter(Q(site__isnull=True) | Q(site_id=site) if site is not None else Q(site__isnull=True))

    return visible


@dataclass(frozen=True)
class Collection:
    name: str
    document: type[serializers.ModelSerializer[Any]]
    visible_to: Callable[[User], QuerySet[Any]]

    def serializer(self, request: Request, instance: Any = None, **kwargs: Any) -> serializers.ModelSerializer[Any]:
        # The request in the context is what makes the documents hide test data from clients.
        return self.document(instance, context={"request": request}, **kwargs)

    def filtered(self, request: Request) -> QuerySet[Any]:
        """The caller's visible documents matching every `?field=value` (400 on an unknown field)."""
        fields = self.serializer(request).fields
        # Fields from which the documents scrub test-data UUIDs for this caller.
        scrubbed = () if sees_test_data(request.user) else getattr(self.document, "scrubbed_fields", ())
        model: type[models.Model] = self.document.Meta.model
        where = Q()
        named: list[uuid.UUID] = []
        for name, values in request.query_params.lists():
            if name in RESERVED_PARAMS:
                continue
            field = fields.get(name)
            # A document's fields are its model's columns (field.source is set once bound).
            source = field.source if field is not None else None
            column = model._meta.get_field(source) if source else None
            if source is None or not isinstance(column, models.Field):
                raise serializers.ValidationError({name: [f"not a field of a {self.name}"]})
            for raw in values:
                try:
                    lookup, value = _equality(column, source, raw)
                except serializers.ValidationError as exc:
                    raise serializers.ValidationError({name: exc.detail}) from None
                where &= Q(**{lookup: value})
                if name in scrubbed:
                    named += _uuids_in(value)
        visible = self.visible_to(request.user)
        if named and Problem.objects.test_data_among(named):
            # The documents would not show these UUIDs: matching on them would reveal them.
            return visible.none()
        return visible.filter(where)


def _equality(field: models.Field[Any, Any], lookup: str, raw: str) -> tuple[str, Any]:
    """The lookup and value that match `raw` as the document shows the field."""
    if isinstance(field, ArrayField):
        # A value of an array field matches the documents that hold it.
        return f"{lookup}__contains", [_value(field.base_field, raw)]
    if isinstance(field, models.DateTimeField):
        # Documents show whole Unix seconds: match the whole second.
        seconds = serializers.IntegerField(min_value=0, max_value=MAX_UNIX_SECONDS).run_validation(raw)
        start = datetime.fromtimestamp(seconds, tz=UTC)
        return f"{lookup}__range", (start, start + timedelta(microseconds=999_999))
    return lookup, _value(field, raw)


def _uuids_in(value: Any) -> list[uuid.UUID]:
    """The data UUIDs of a filter value on a scrubbed field: a list, or a dict's keys."""
    return [uuid.UUID(str(u)) for u in value]


def _value(field: models.Field[Any, Any], raw: str) -> Any:
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    if isinstance(field, models.UUIDField):
        return StrictUUIDField().run_validation(raw)
    if isinstance(field, models.IntegerField):
        return serializers.IntegerField(min_value=-(2**63), max_value=2**63 - 1).run_validation(raw)
    if isinstance(field, models.FloatField):
        return FiniteFloatField().run_validation(raw)
    if isinstance(field, models.JSONField):
        return _scores(raw)
    # CharField's validators refuse NUL characters, which PostgreSQL cannot compare.
    return serializers.CharField(allow_blank=True, trim_whitespace=False).run_validation(raw)


def _scores(raw: str) -> dict[str, float]:
    """A `{data_uuid: perf}` object, as `train_perf` and `test_perf` hold."""
    try:
        value = json.loads(raw)
    except ValueError:
        raise serializers.ValidationError("Must be a JSON object.") from None
    if not isinstance(value, dict) or not all(CANONICAL_UUID.match(key) for key in value):
        raise serializers.ValidationError("Must be a JSON object of {data UUID: number}.")
    return {key: FiniteFloatField().run_validation(perf) for key, perf in value.items()}


COLLECTIONS: dict[str, Collection] = {
    c.name: c
    for c in (
        Collection("problem", ProblemDocument, _all(Problem)),
        Collection("algo", AlgoDocument, _all(Algo)),
        Collection("data", DataDocument, visible_data),
        Collection("learnuplet", LearnupletDocument, _claimable_sites(Learnuplet)),
        Collection("preduplet", PredupletDocument, _claimable_sites(Preduplet)),
    )
}


def path_uuid(raw: str) -> uuid.UUID:
    """A UUID from the path: malformed is a 400 naming it."""
    try:
        value: uuid.UUID = StrictUUIDField().run_validation(raw)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({"uuid": exc.detail}) from None
    return value

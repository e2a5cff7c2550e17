from typing import Any

import django_filters
from django import forms
from django_filters.fields import BaseCSVField

from learning.models import Learnuplet
from orchestrator_site.fields import IntegerFilter, StrictUUIDFilter
from tasks.models import Status


class NoEmptyItemCSVField(BaseCSVField):
    """`?status=` filters nothing; `?status=todo,,` is a 400 (it matched no task at all)."""

    def clean(self, value: Any) -> Any:
        if value and any(item in self.empty_values for item in value):
            raise forms.ValidationError("Empty item in the comma-separated list.", code="invalid")
        return super().clean(value)


class ChoiceInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """`?status=todo,pending`: comma-separated, each value checked against the choices."""

    base_field_class = NoEmptyItemCSVField


class LearnupletFilter(django_filters.FilterSet):
    problem = StrictUUIDFilter(field_name="problem_id")
    algo = StrictUUIDFilter(field_name="algo_id")
    status = ChoiceInFilter(choices=Status.choices)
    worker = StrictUUIDFilter()
    rank = IntegerFilter(min_value=0)
    site = StrictUUIDFilter(field_name="site_id")

    class Meta:
        model = Learnuplet
        fields = ["problem", "algo", "status", "worker", "rank", "site"]

import uuid

import django_filters
from django.db.models import QuerySet

from orchestrator_site.fields import StrictUUIDFilter
from problems.models import Algo, Data


class AlgoFilter(django_filters.FilterSet):
    problem = StrictUUIDFilter(field_name="problem_id")

    class Meta:
        model = Algo
        fields = ["problem"]


class DataFilter(django_filters.FilterSet):
    problem = StrictUUIDFilter(method="filter_problem")
    site = StrictUUIDFilter(field_name="site_id")

    class Meta:
        model = Data
        fields = ["problem", "site"]

    def filter_problem(self, queryset: QuerySet[Data], name: str, value: uuid.UUID) -> QuerySet[Data]:
        return queryset.filter(problems__contains=[value])

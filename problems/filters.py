import django_filters

from orchestrator_site.fields import StrictUUIDFilter
from problems.models import Algo, Data


class AlgoFilter(django_filters.FilterSet):
    problem = StrictUUIDFilter(field_name="problem_id")

    class Meta:
        model = Algo
        fields = ["problem"]


class DataFilter(django_filters.FilterSet):
    problem = StrictUUIDFilter(method="filter_problem")

    class Meta:
        model = Data
        fields = ["problem"]

    def filter_problem(self, queryset, name, value):  # type: ignore[no-untyped-def]
        return queryset.filter(problems__contains=[value])

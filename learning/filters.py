import django_filters

from learning.models import Learnuplet
from tasks.models import Status


class ChoiceInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """`?status=todo,pending`: comma-separated, each value checked against the choices."""


class LearnupletFilter(django_filters.FilterSet):
    problem = django_filters.UUIDFilter(field_name="problem_id")
    algo = django_filters.UUIDFilter(field_name="algo_id")
    status = ChoiceInFilter(choices=Status.choices)
    worker = django_filters.UUIDFilter()
    rank = django_filters.NumberFilter(min_value=0)

    class Meta:
        model = Learnuplet
        fields = ["problem", "algo", "status", "worker", "rank"]

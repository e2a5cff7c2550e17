import django_filters

from learning.models import Learnuplet
from orchestrator_site.fields import IntegerFilter, StrictUUIDFilter
from tasks.models import Status


class ChoiceInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """`?status=todo,pending`: comma-separated, each value checked against the choices."""


class LearnupletFilter(django_filters.FilterSet):
    problem = StrictUUIDFilter(field_name="problem_id")
    algo = StrictUUIDFilter(field_name="algo_id")
    status = ChoiceInFilter(choices=Status.choices)
    worker = StrictUUIDFilter()
    rank = IntegerFilter(min_value=0)

    class Meta:
        model = Learnuplet
        fields = ["problem", "algo", "status", "worker", "rank"]

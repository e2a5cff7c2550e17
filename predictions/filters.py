import django_filters

from learning.filters import ChoiceInFilter
from predictions.models import Preduplet
from tasks.models import Status


class PredupletFilter(django_filters.FilterSet):
    problem = django_filters.UUIDFilter(field_name="problem_id")
    status = ChoiceInFilter(choices=Status.choices)
    worker = django_filters.UUIDFilter()

    class Meta:
        model = Preduplet
        fields = ["problem", "status", "worker"]

import django_filters

from learning.filters import ChoiceInFilter
from orchestrator_site.fields import StrictUUIDFilter
from predictions.models import Preduplet
from tasks.models import Status


class PredupletFilter(django_filters.FilterSet):
    problem = StrictUUIDFilter(field_name="problem_id")
    status = ChoiceInFilter(choices=Status.choices)
    worker = StrictUUIDFilter()
    site = StrictUUIDFilter(field_name="site_id")

    class Meta:
        model = Preduplet
        fields = ["problem", "status", "worker", "site"]

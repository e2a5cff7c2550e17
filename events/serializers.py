from typing import Any

from rest_framework import serializers

from orchestrator_site.fields import FiniteFloatField, StrictUUIDField
from problems.secrecy import HidesTestDataSerializer
from tasks.models import TaskEvent


class EventSerializer(HidesTestDataSerializer):
    # A worker's error, as a failure's reason, may name test data: hidden from clients.
    scrubbed_text_fields = ("reason",)

    class Meta:
        model = TaskEvent
        fields = ["id", "kind", "task", "problem", "from_status", "to_status", "attempt", "worker", "actor",
                  "reason", "at"]
        read_only_fields = fields


class FeedSerializer(serializers.Serializer[dict[str, Any]]):
    events = EventSerializer(many=True)
    next = serializers.IntegerField(help_text="The `after` of the next request.")


class FeedQuerySerializer(serializers.Serializer[dict[str, Any]]):
    after = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**63 - 1,
                                     help_text="The events after this id (0: from the start).")
    wait = FiniteFloatField(required=False, default=0, min_value=0, max_value=60,
                            help_text="Seconds to hold an empty answer until an event arrives (0 to 60).")
    kind = serializers.ChoiceField(required=False, choices=["learnuplet", "preduplet"])
    task = StrictUUIDField(required=False)
    problem = StrictUUIDField(required=False)
    algo = StrictUUIDField(required=False)

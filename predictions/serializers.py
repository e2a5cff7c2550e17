from typing import Any

from rest_framework import serializers

from orchestrator_site.fields import OneOrManyUUIDsField, StrictUUIDField, UUIDListField
from predictions.models import Preduplet
from problems.secrecy import HidesTestDataSerializer
from tasks.api import ResultSerializer


class PredupletSerializer(HidesTestDataSerializer):
    scrubbed_fields = ("data",)
    scrubbed_text_fields = ("last_error",)
    problem = serializers.UUIDField(source="problem_id", read_only=True)
    site = serializers.UUIDField(source="site_id", read_only=True, allow_null=True)

    class Meta:
        model = Preduplet
        fields = [
            "uuid", "problem", "workflow", "data", "prediction_storage_uuid", "model", "worker",
            "status", "timestamp_request", "timestamp_done", "attempt", "lease_expires_at",
            "last_error", "site", "not_before", "error_kind",
        ]
        read_only_fields = fields


class PredupletCreateSerializer(serializers.Serializer[dict[str, Any]]):
    problem = StrictUUIDField()
    data = OneOrManyUUIDsField(min_length=1, max_length=10_000)  # type: ignore[assignment]  # DRF moves fields off the class: .data stays
    model = StrictUUIDField(required=False)


class PredResultSerializer(ResultSerializer):
    prediction_storage_uuid = UUIDListField(required=False, default=list, max_length=10_000)

from typing import Any

from rest_framework import serializers

from orchestrator_site.fields import (
    OneOrManyUUIDsField,
    StrictBooleanField,
    StrictIntegerField,
    StrictUUIDField,
    UUIDListField,
)
from problems.models import Algo, Data, Problem
from problems.secrecy import HidesTestDataSerializer


class ProblemSerializer(HidesTestDataSerializer):
    secret_fields = ("test_dataset",)

    class Meta:
        model = Problem
        fields = ["uuid", "workflow", "timestamp_upload", "test_dataset", "size_train_dataset",
                  "higher_is_better", "priority", "max_run_seconds"]
        read_only_fields = fields


class ProblemCreateSerializer(serializers.Serializer[dict[str, Any]]):
    uuid = StrictUUIDField(required=False)
    workflow = StrictUUIDField()
    test_dataset = UUIDListField(max_length=100_000)
    size_train_dataset = StrictIntegerField(min_value=1, max_value=2**31 - 1)
    higher_is_better = StrictBooleanField(default=True)


class ProblemSettingsSerializer(serializers.Serializer[dict[str, Any]]):
    """What operators change on a problem (PATCH): its tasks follow."""

    priority = StrictIntegerField(required=False, min_value=-(2**31), max_value=2**31 - 1,
                                  help_text="Claims take the highest priority first, then the oldest.")
    max_run_seconds = StrictIntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**31 - 1,
        help_text="A claim of its tasks running longer fails (run_time_exceeded); null: the platform's.",
    )


class AlgoSerializer(serializers.ModelSerializer[Algo]):
    problem = serializers.UUIDField(source="problem_id", read_only=True)

    class Meta:
        model = Algo
        fields = ["uuid", "problem", "name", "timestamp_upload"]
        read_only_fields = fields


class AlgoCreatedSerializer(AlgoSerializer):
    new_learnuplets = serializers.IntegerField(read_only=True)

    class Meta(AlgoSerializer.Meta):
        fields = [*AlgoSerializer.Meta.fields, "new_learnuplets"]


class AlgoCreateSerializer(serializers.Serializer[dict[str, Any]]):
    uuid = StrictUUIDField(required=False)
    problem = StrictUUIDField()
    name = serializers.CharField(max_length=255)


class DataSerializer(serializers.ModelSerializer[Data]):
    site = serializers.UUIDField(source="site_id", read_only=True, allow_null=True)

    class Meta:
        model = Data
        fields = ["uuid", "problems", "timestamp_upload", "site"]
        read_only_fields = fields


class DataCreateSerializer(serializers.Serializer[dict[str, Any]]):
    uuid = OneOrManyUUIDsField(min_length=1, max_length=50_000)
    problems = UUIDListField(min_length=1, max_length=1_000)
    site = StrictUUIDField(required=False, help_text="Operators only: the site the data belong to "
                           "(default: the registering client's).")


class DataCreatedSerializer(serializers.Serializer[dict[str, Any]]):
    data = DataSerializer(many=True)  # type: ignore[assignment]  # DRF moves fields off the class: .data stays
    new_learnuplets = serializers.IntegerField()


"""The 2017 documents and request bodies, built on the v1 serializers.

Documents keep the 2017 field names and show timestamps as integer Unix seconds; the
v1 serializers they extend already hide test data from clients (`secret_fields`), so
they must always get the request in their context.
"""

from datetime import datetime
from typing import Any

from rest_framework import serializers

from learning.serializers import LearnResultSerializer, LearnupletSerializer
from orchestrator_site.fields import OneOrManyUUIDsField, StrictUUIDField, UUIDListField
from predictions.serializers import PredResultSerializer, PredupletSerializer
from problems.serializers import (
    AlgoCreateSerializer,
    AlgoSerializer,
    DataCreateSerializer,
    DataSerializer,
    ProblemCreateSerializer,
    ProblemSerializer,
)


class UnixTimeField(serializers.Field[datetime, int, int, Any]):
    def __init__(self) -> None:
        super().__init__(read_only=True)

    def to_representation(self, value: datetime) -> int:
        return int(value.timestamp())


class ProblemDocument(ProblemSerializer):
    timestamp_upload = UnixTimeField()

    class Meta(ProblemSerializer.Meta):
        fields = ["uuid", "workflow", "timestamp_upload", "test_dataset", "size_train_dataset"]
        read_only_fields = fields


class AlgoDocument(AlgoSerializer):
    timestamp_upload = UnixTimeField()


class DataDocument(DataSerializer):
    timestamp_upload = UnixTimeField()

    class Meta(DataSerializer.Meta):
        fields = ["uuid", "problems", "timestamp_upload"]  # 2017's: no site
        read_only_fields = fields


class LearnupletDocument(LearnupletSerializer):
    training_creation = UnixTimeField()
    training_done = UnixTimeField()

    class Meta(LearnupletSerializer.Meta):
        fields = [
            "uuid", "problem", "workflow", "train_data", "test_data", "algo", "model_start",
            "model_end", "rank", "worker", "status", "perf", "test_perf", "train_perf",
            "training_creation", "training_done",
        ]
        read_only_fields = fields


class PredupletDocument(PredupletSerializer):
    """As the 2017 orchestrator made it and its Go Compute decodes it (`common.Preduplet`,
    whose `data` and `prediction_storage_uuid` are one `uuid.UUID`): each of the two is one
    UUID string when it holds one, `prediction_storage_uuid` null while it holds none (Go
    cannot decode `[]` into a UUID), a list otherwise (several data: no Go struct decodes
    that, but nothing truer can be said)."""

    timestamp_request = UnixTimeField()
    timestamp_done = UnixTimeField()

    class Meta(PredupletSerializer.Meta):
        fields = [
            "uuid", "problem", "workflow", "data", "prediction_storage_uuid", "model", "worker",
            "status", "timestamp_request", "timestamp_done",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Any) -> dict[str, Any]:
        # After the v1 serializer's: it scrubs test data from the lists first (a UUID
        # collapsed to a string before that would escape the scrubbing).
        document = super().to_representation(instance)
        for name, empty in (("data", []), ("prediction_storage_uuid", None)):
            value = document.get(name)
            if isinstance(value, list) and len(value) <= 1:
                document[name] = value[0] if value else empty
        return document


# 2017 clients always name the UUID of what they register.
class ProblemBody(ProblemCreateSerializer):
    uuid = StrictUUIDField()


class AlgoBody(AlgoCreateSerializer):
    uuid = StrictUUIDField()


class DataBody(DataCreateSerializer):
    # 2017 took data for no problem: registered to be predicted on, never trained on.
    problems = UUIDListField(max_length=1_000)


class WorkerBody(serializers.Serializer[dict[str, Any]]):
    worker = StrictUUIDField()


# 2017 workers report without an attempt number: `finish` then skips the fence.
class LearnDoneBody(LearnResultSerializer):
    attempt = None  # type: ignore[assignment]  # DRF drops a field set to None; the stubs cannot say so
    retry = None  # type: ignore[assignment]  # as attempt: a 2017 failure stays failed


class PredDoneBody(PredResultSerializer):
    attempt = None  # type: ignore[assignment]  # DRF drops a field set to None; the stubs cannot say so
    retry = None  # type: ignore[assignment]  # as attempt: a 2017 failure stays failed
    # The 2017 workers send one storage UUID; the collection stores a list.
    prediction_storage_uuid = OneOrManyUUIDsField(required=False, default=list, max_length=10_000)

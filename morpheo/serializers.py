"""The 2017 documents and request bodies, built on the v1 serializers.

Documents keep the 2017 field names and show timestamps as integer Unix seconds; the
v1 serializers they extend already hide test data from clients (`secret_fields`), so
they must always get the request in their context.
"""

from datetime import datetime
from typing import Any

from rest_framework import serializers

from learning.serializers import LearnResultSerializer, LearnupletSerializer
from orchestrator_site.fields import OneOrManyUUIDsField, StrictUUIDField
from predictions.serializers import PredResultSerializer, PredupletSerializer
from problems.serializers import (
    AlgoCreateSerializer,
    AlgoSerializer,
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
    timestamp_request = UnixTimeField()
    timestamp_done = UnixTimeField()

    class Meta(PredupletSerializer.Meta):
        fields = [
            "uuid", "problem", "workflow", "data", "prediction_storage_uuid", "model", "worker",
            "status", "timestamp_request", "timestamp_done",
        ]
        read_only_fields = fields


# 2017 clients always name the UUID of what they register.
class ProblemBody(ProblemCreateSerializer):
    uuid = StrictUUIDField()


class AlgoBody(AlgoCreateSerializer):
    uuid = StrictUUIDField()


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

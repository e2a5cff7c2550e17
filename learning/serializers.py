from typing import Any

from rest_framework import serializers

from learning.models import Learnuplet
from orchestrator_site.fields import FiniteFloatField
from problems.secrecy import HidesTestDataSerializer
from tasks.api import ResultSerializer


class LearnupletSerializer(HidesTestDataSerializer):
    secret_fields = ("test_data", "test_perf")
    scrubbed_fields = ("train_data", "train_perf")
    scrubbed_text_fields = ("last_error",)
    problem = serializers.UUIDField(source="problem_id", read_only=True)
    algo = serializers.UUIDField(source="algo_id", read_only=True)
    site = serializers.UUIDField(source="site_id", read_only=True, allow_null=True)

    class Meta:
        model = Learnuplet
        fields = [
            "uuid", "problem", "workflow", "train_data", "test_data", "algo", "model_start",
            "model_end", "rank", "worker", "status", "perf", "test_perf", "train_perf",
            "training_creation", "training_done", "attempt", "lease_expires_at", "last_error", "site",
            "not_before", "error_kind",
        ]
        read_only_fields = fields


class LearnResultSerializer(ResultSerializer):
    perf = FiniteFloatField(required=False)
    train_perf = serializers.DictField(child=FiniteFloatField(), required=False, default=dict)
    test_perf = serializers.DictField(child=FiniteFloatField(), required=False, default=dict)


class LeaderboardRowSerializer(serializers.Serializer[Any]):
    algo = serializers.UUIDField()
    name = serializers.CharField()
    perf = serializers.FloatField(allow_null=True)
    model = serializers.UUIDField(allow_null=True)
    rank = serializers.IntegerField(allow_null=True)
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    total = serializers.IntegerField()

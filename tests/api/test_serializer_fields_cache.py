"""HidesTestDataSerializer builds a class's fields once and hands each instance its own
copy: per class (a subclass never gets its parent's fields), unchanged by the secret
fields one requester may not see, and still whole for the schema and for writes."""

import uuid
from types import SimpleNamespace

from learning.models import Learnuplet
from learning.serializers import LearnupletSerializer
from predictions.serializers import PredupletSerializer
from problems.models import Problem
from problems.secrecy import HidesTestDataSerializer
from problems.serializers import ProblemSerializer
from tests.factories import LearnupletFactory

API = "/api/v1"


def context_of(caller):
    return {"request": SimpleNamespace(user=caller.client.user)}


def test_it_caches_fields_per_class_not_for_subclasses(db):
    assert "test_data" in LearnupletSerializer().fields

    class Narrow(LearnupletSerializer):
        class Meta(LearnupletSerializer.Meta):
            fields = ["uuid", "status"]
            read_only_fields = fields

    assert list(Narrow().fields) == ["uuid", "status"]
    assert "test_data" in LearnupletSerializer().fields
    assert "data" in PredupletSerializer().fields and "data" not in LearnupletSerializer().fields
    assert "test_dataset" in ProblemSerializer().fields
    assert "_built_fields" not in HidesTestDataSerializer.__dict__


def test_it_gives_each_instance_its_own_bound_fields(db):
    a, b = LearnupletSerializer(), LearnupletSerializer()
    for name in a.fields.keys():
        assert a.fields[name] is not b.fields[name]
        assert a.fields[name].parent is a and b.fields[name].parent is b
    # A read-only list's child is shared between instances: it keeps no state while rendering.
    u = uuid.uuid4()
    assert a.fields["train_data"].to_representation([u]) == b.fields["train_data"].to_representation([u]) == [str(u)]


def test_it_hides_secret_fields_per_requester_without_touching_the_cache(uploader, worker):
    task = LearnupletFactory.create()
    for _ in range(2):
        shown_to_client = LearnupletSerializer(task, context=context_of(uploader)).data
        shown_to_worker = LearnupletSerializer(task, context=context_of(worker)).data
        assert "test_data" not in shown_to_client and "test_perf" not in shown_to_client
        assert "test_data" in shown_to_worker and "test_perf" in shown_to_worker
    many = LearnupletSerializer([task, LearnupletFactory.create()], many=True, context=context_of(uploader)).data
    assert all("test_data" not in row for row in many)


def test_it_generates_the_same_schema_with_a_cold_or_a_warm_cache(uploader, operator, anonymous):
    from drf_spectacular.generators import SchemaGenerator

    for cls in (LearnupletSerializer, PredupletSerializer, ProblemSerializer):
        if "_built_fields" in cls.__dict__:
            delattr(cls, "_built_fields")
    cold = SchemaGenerator().get_schema(request=None, public=True)
    LearnupletFactory.create()
    assert uploader.get(f"{API}/learnuplets/").status_code == 200  # warms the cache as a client
    assert SchemaGenerator().get_schema(request=None, public=True) == cold

    # Served, the schema follows the requester's role (as before the cache).
    def served(http):
        r = http.get(f"{API}/schema/", HTTP_ACCEPT="application/json")
        return r.json()["components"]["schemas"]["Learnuplet"]["properties"]

    assert "test_data" in served(operator.http) and "test_data" not in served(anonymous)
    assert "test_data" in served(operator.http)


def test_it_validates_and_saves_through_a_writable_subclass(db):
    class ProblemWrite(HidesTestDataSerializer):
        class Meta:
            model = Problem
            fields = ["workflow", "size_train_dataset"]

    bad = ProblemWrite(data={"workflow": "nope", "size_train_dataset": 1})
    assert not bad.is_valid() and set(bad.errors) == {"workflow"}
    good = ProblemWrite(data={"workflow": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "size_train_dataset": 3})
    assert good.is_valid(), good.errors
    problem = good.save()
    assert Problem.objects.get(pk=problem.pk).size_train_dataset == 3
    again = ProblemWrite(data={"size_train_dataset": 2})
    assert not again.is_valid() and set(again.errors) == {"workflow"}
    assert Learnuplet.objects.count() == 0


def test_it_renders_each_task_and_problem_as_drf_itself_would(uploader, worker):
    from rest_framework.serializers import Serializer

    from tests.factories import PredupletFactory, ProblemFactory

    done = LearnupletFactory.create(status="done", perf=0.25, last_error="")
    done.train_perf = {str(done.train_data[0]): 0.5}
    done.save()
    failed = LearnupletFactory.create(status="failed", last_error=f"cannot read {done.test_data[0]}", perf=None)
    cases = [
        (LearnupletSerializer, done), (LearnupletSerializer, failed),
        (PredupletSerializer, PredupletFactory.create(prediction_storage_uuid=[uuid.uuid4()])),
        (ProblemSerializer, ProblemFactory.create()),
    ]
    for caller in (uploader, worker):
        for cls, instance in cases:
            ours = cls(instance, context=context_of(caller))
            # DRF's generic field loop, on the same fields, before our scrub.
            expected = Serializer.to_representation(cls(instance, context=context_of(caller)), instance)
            rendered = ours.data
            assert rendered.keys() == expected.keys()
            for name, value in expected.items():
                if name not in cls.scrubbed_fields + cls.scrubbed_text_fields:
                    assert rendered[name] == value, (cls.__name__, name)

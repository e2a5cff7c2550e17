"""2017 documents: the spec's field names, plain UUIDs, integer Unix timestamps; `?field=value`."""

import uuid
from datetime import UTC, datetime

import pytest

from tasks.models import Status
from tests.factories import AlgoFactory, AnyFactory, DataFactory, LearnupletFactory, PredupletFactory, ProblemFactory
from tests.morpheo_support import m_compute  # noqa: F401

FIELDS = {
    "problem": {"uuid", "workflow", "timestamp_upload", "test_dataset", "size_train_dataset"},
    "algo": {"uuid", "problem", "name", "timestamp_upload"},
    "data": {"uuid", "problems", "timestamp_upload"},
    "learnuplet": {"uuid", "problem", "workflow", "train_data", "test_data", "algo", "model_start",
                   "model_end", "rank", "worker", "status", "perf", "test_perf", "train_perf",
                   "training_creation", "training_done"},
    "preduplet": {"uuid", "problem", "workflow", "data", "prediction_storage_uuid", "model", "worker",
                  "status", "timestamp_request", "timestamp_done"},
}
FACTORIES: dict[str, AnyFactory] = {"problem": ProblemFactory, "algo": AlgoFactory, "data": DataFactory,
             "learnuplet": LearnupletFactory, "preduplet": PredupletFactory}
AT = datetime(2017, 5, 4, 12, 0, 7, 900_000, tzinfo=UTC)


@pytest.mark.parametrize("collection", FIELDS)
def test_it_lists_documents_with_the_spec_fields(m_compute, collection):  # noqa: F811
    made = FACTORIES[collection].create()
    r = m_compute.get(f"/{collection}")
    assert r.status_code == 200
    (document,) = r.json()[f"{collection}s"]
    assert set(document) == FIELDS[collection]
    assert document["uuid"] == str(made.pk)


@pytest.mark.parametrize("collection", FIELDS)
def test_it_answers_one_document_by_uuid(m_compute, collection):  # noqa: F811
    made = FACTORIES[collection].create()
    r = m_compute.get(f"/{collection}/{made.pk}")
    assert r.status_code == 200
    assert set(r.json()) == FIELDS[collection] and r.json()["uuid"] == str(made.pk)


def test_it_shows_timestamps_as_integer_unix_seconds(m_compute):  # noqa: F811
    task = LearnupletFactory.create(status=Status.DONE, perf=0.5)
    type(task).objects.filter(pk=task.pk).update(training_creation=AT, training_done=AT)
    document = m_compute.get(f"/learnuplet/{task.pk}").json()
    assert document["training_creation"] == document["training_done"] == int(AT.timestamp())


def test_it_shows_an_unset_timestamp_as_null(m_compute):  # noqa: F811
    task = PredupletFactory.create()
    assert m_compute.get(f"/preduplet/{task.pk}").json()["timestamp_done"] is None


def test_it_shows_related_objects_as_plain_uuids(m_compute):  # noqa: F811
    task = LearnupletFactory.create()
    document = m_compute.get(f"/learnuplet/{task.pk}").json()
    assert (document["problem"], document["algo"]) == (str(task.problem_id), str(task.algo_id))


def test_it_filters_by_equality_on_a_uuid_field(m_compute):  # noqa: F811
    algo = AlgoFactory.create()
    AlgoFactory.create()
    r = m_compute.get("/algo", problem=str(algo.problem_id))
    assert [a["uuid"] for a in r.json()["algos"]] == [str(algo.pk)]


def test_it_filters_an_array_field_by_one_of_its_elements(m_compute):  # noqa: F811
    problem = ProblemFactory.create()
    data = DataFactory.create(problems=[uuid.uuid4(), problem.pk])
    DataFactory.create(problems=[uuid.uuid4()])
    r = m_compute.get("/data", problems=str(problem.pk))
    assert [d["uuid"] for d in r.json()["datas"]] == [str(data.pk)]


def test_it_combines_filters_on_several_fields(m_compute):  # noqa: F811
    algo = AlgoFactory.create()
    wanted = LearnupletFactory.create(algo=algo, rank=1)
    LearnupletFactory.create(algo=algo, rank=2)
    LearnupletFactory.create(rank=1)
    r = m_compute.get("/learnuplet", algo=str(algo.pk), rank="1", status="todo")
    assert [lu["uuid"] for lu in r.json()["learnuplets"]] == [str(wanted.pk)]


def test_it_filters_by_a_string_field(m_compute):  # noqa: F811
    AlgoFactory.create(name="sgd")
    AlgoFactory.create(name="sgd2")
    assert [a["name"] for a in m_compute.get("/algo", name="sgd").json()["algos"]] == ["sgd"]


def test_it_filters_by_a_number_field(m_compute):  # noqa: F811
    task = LearnupletFactory.create(status=Status.DONE, perf=0.25)
    LearnupletFactory.create(status=Status.DONE, perf=0.5)
    assert [lu["uuid"] for lu in m_compute.get("/learnuplet", perf="0.25").json()["learnuplets"]] == [str(task.pk)]


def test_it_filters_by_a_timestamp_as_shown(m_compute):  # noqa: F811
    problem = ProblemFactory.create()
    ProblemFactory.create()
    type(problem).objects.filter(pk=problem.pk).update(timestamp_upload=AT)
    r = m_compute.get("/problem", timestamp_upload=str(int(AT.timestamp())))
    assert [p["uuid"] for p in r.json()["problems"]] == [str(problem.pk)]


def test_it_filters_by_a_perf_dictionary(m_compute):  # noqa: F811
    d = str(uuid.uuid4())
    task = LearnupletFactory.create(status=Status.DONE, perf=0.5, train_perf={d: 0.5})
    LearnupletFactory.create(status=Status.DONE, perf=0.5, train_perf={d: 0.6})
    r = m_compute.get("/learnuplet", train_perf=f'{{"{d}": 0.50}}')
    assert [lu["uuid"] for lu in r.json()["learnuplets"]] == [str(task.pk)]


def test_it_filters_a_null_worker_out_of_an_equality(m_compute):  # noqa: F811
    LearnupletFactory.create()
    assert m_compute.get("/learnuplet", worker=str(uuid.uuid4())).json() == {"learnuplets": []}


def test_it_lists_oldest_first(m_compute):  # noqa: F811
    first, second = ProblemFactory.create(), ProblemFactory.create()
    assert [p["uuid"] for p in m_compute.get("/problem").json()["problems"]] == [str(first.pk), str(second.pk)]


def test_it_tolerates_a_trailing_slash(m_compute):  # noqa: F811
    problem = ProblemFactory.create()
    assert m_compute.get("/problem/").status_code == 200
    assert m_compute.get(f"/problem/{problem.pk}/").status_code == 200

"""The 2017 documents decode as the 2017 Go Compute decodes them (issue 18), and `POST /data`
takes data for no problem, as 2017 did."""

import json
import uuid

import pytest

from problems.models import Data
from tests.factories import DataFactory, LearnupletFactory, PredupletFactory, ProblemFactory
from tests.morpheo.go_structs import GoDecodeError, decode_learnuplet, decode_preduplet
from tests.morpheo_support import m_client, m_compute, new_uuids, post_problem  # noqa: F401


def body(response) -> bytes:
    return json.dumps(response.json()).encode()


def test_a_todo_learnuplet_decodes_as_the_go_learnuplet(m_client, m_compute):  # noqa: F811
    problem = post_problem(m_client, size=1)
    m_client.post("/data", {"uuid": new_uuids(2), "problems": [problem]})
    algo = str(uuid.uuid4())
    m_client.post("/algo", {"uuid": algo, "problem": problem, "name": "sgd"})
    (first,) = m_compute.get("/learnuplet", status="todo").json()["learnuplets"]

    decoded = decode_learnuplet(body(m_compute.get(f"/learnuplet/{first['uuid']}")))

    assert (str(decoded["uuid"]), str(decoded["algo"]), str(decoded["model_start"])) == (first["uuid"], algo, algo)
    assert [str(d) for d in decoded["train_data"]] == first["train_data"]
    assert decoded["status"] == "todo" and decoded["rank"] == 0


def test_a_preduplet_holds_its_one_data_as_a_uuid_string(m_compute):  # noqa: F811
    task = PredupletFactory.create()

    document = m_compute.get(f"/preduplet/{task.pk}").json()

    assert document["data"] == str(task.data[0])
    assert document["prediction_storage_uuid"] is None
    assert decode_preduplet(body(m_compute.get(f"/preduplet/{task.pk}")))["data"] == task.data[0]


def test_a_done_preduplet_holds_its_one_prediction_as_a_uuid_string(m_compute):  # noqa: F811
    task = PredupletFactory.create()
    stored = str(uuid.uuid4())
    m_compute.post(f"/worker/preduplet/{task.pk}", {"worker": str(m_compute.worker)})
    assert m_compute.post(f"/preddone/{task.pk}", {"status": "done", "prediction_storage_uuid": stored}).status_code == 200

    decoded = decode_preduplet(body(m_compute.get(f"/preduplet/{task.pk}")))

    assert (decoded["status"], str(decoded["prediction_storage_uuid"])) == ("done", stored)


def test_a_preduplet_on_several_data_keeps_the_list(m_compute):  # noqa: F811
    data = [uuid.uuid4(), uuid.uuid4()]
    task = PredupletFactory.create(data=data, prediction_storage_uuid=[uuid.uuid4(), uuid.uuid4()])

    document = m_compute.get(f"/preduplet/{task.pk}").json()

    assert document["data"] == [str(d) for d in data] and len(document["prediction_storage_uuid"]) == 2
    with pytest.raises(GoDecodeError):  # what no Go struct decodes: said, not hidden
        decode_preduplet(body(m_compute.get(f"/preduplet/{task.pk}")))


def test_a_client_never_sees_test_data_as_a_preduplets_one_data(m_client):  # noqa: F811
    secret = uuid.uuid4()
    task = PredupletFactory.create(data=[secret])
    ProblemFactory.create(test_dataset=[secret])  # it became test data after the request

    document = m_client.get(f"/preduplet/{task.pk}").json()

    assert document["data"] == [] and str(secret) not in json.dumps(document)


def test_a_preduplet_is_still_found_by_its_data(m_compute):  # noqa: F811
    task = PredupletFactory.create()
    PredupletFactory.create()

    found = m_compute.get("/preduplet", data=str(task.data[0])).json()["preduplets"]

    assert [p["uuid"] for p in found] == [str(task.pk)]


def test_it_registers_data_for_no_problem(m_client):  # noqa: F811
    uuids = new_uuids(2)

    r = m_client.post("/data", {"uuid": uuids, "problems": []})

    assert r.status_code == 201, r.json()
    assert r.json()["new_learnuplets"] == 0
    assert [(d["uuid"], d["problems"]) for d in r.json()["new_datas"]] == [(u, []) for u in uuids]
    assert Data.objects.filter(pk__in=uuids).count() == 2


def test_data_for_no_problem_train_nothing(m_client):  # noqa: F811
    LearnupletFactory.create()
    before = set(LearnupletFactory._meta.model.objects.values_list("pk", flat=True))

    assert m_client.post("/data", {"uuid": str(uuid.uuid4()), "problems": []}).status_code == 201

    assert set(LearnupletFactory._meta.model.objects.values_list("pk", flat=True)) == before


def test_it_still_wants_the_problems_field(m_client):  # noqa: F811
    r = m_client.post("/data", {"uuid": str(uuid.uuid4())})

    assert r.status_code == 400 and "problems" in json.dumps(r.json())


def test_data_already_registered_for_no_problem_are_refused_again(m_client):  # noqa: F811
    existing = DataFactory.create(problems=[])

    r = m_client.post("/data", {"uuid": str(existing.pk), "problems": []})

    assert r.status_code == 400

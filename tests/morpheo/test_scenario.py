"""A 2017 Morpheo client and compute worker drive the root routes end to end."""

import uuid

from tests.morpheo_support import m_client, m_compute, new_uuids  # noqa: F401


def test_it_serves_the_2017_flow_from_registration_to_prediction(m_client, m_compute):  # noqa: F811
    # Analytics registers a problem, its data and an algo.
    problem, workflow, test_data = str(uuid.uuid4()), str(uuid.uuid4()), new_uuids(2)
    r = m_client.post("/problem", {"uuid": problem, "workflow": workflow, "test_dataset": test_data,
                                   "size_train_dataset": 2})
    assert r.status_code == 201, r.json()
    new_problem = r.json()["new_problem"]
    assert new_problem["uuid"] == problem and new_problem["test_dataset"] == test_data
    assert isinstance(new_problem["timestamp_upload"], int)

    train = new_uuids(6)
    r = m_client.post("/data", {"uuid": train, "problems": [problem]})
    assert r.status_code == 201, r.json()
    assert [d["uuid"] for d in r.json()["new_datas"]] == train
    assert r.json()["new_learnuplets"] == 0

    algo = str(uuid.uuid4())
    r = m_client.post("/algo", {"uuid": algo, "problem": problem, "name": "sgd"})
    assert r.status_code == 201, r.json()
    assert r.json()["new_algo"]["problem"] == problem and r.json()["new_learnuplets"] == 3

    # Compute finds the todo learnuplet, sets itself as its worker, trains, reports.
    r = m_compute.get("/learnuplet", status="todo")
    assert r.status_code == 200, r.json()
    (first,) = r.json()["learnuplets"]
    assert (first["rank"], first["model_start"], first["algo"]) == (0, algo, algo)
    assert first["test_data"] == test_data
    r = m_compute.post(f"/worker/learnuplet/{first['uuid']}", {"worker": str(m_compute.worker)})
    assert r.status_code == 200, r.json()
    assert r.json() == {"learnuplet_worker_set": first["uuid"]}
    r = m_compute.get(f"/learnuplet/{first['uuid']}")
    assert (r.json()["status"], r.json()["worker"]) == ("pending", str(m_compute.worker))

    r = m_compute.post(f"/learndone/{first['uuid']}", {
        "status": "done", "perf": 0.8, "train_perf": {d: 0.7 for d in first["train_data"]},
        "test_perf": {d: 0.8 for d in test_data}})
    assert r.status_code == 200, r.json()
    assert r.json() == {"updated_learnuplet": first["uuid"]}

    # The chain moved: rank 1 is todo and starts from the model rank 0 trained.
    r = m_compute.get("/learnuplet", algo=algo, rank="1")
    (second,) = r.json()["learnuplets"]
    assert (second["status"], second["model_start"]) == ("todo", first["model_end"])
    done = m_compute.get(f"/learnuplet/{first['uuid']}").json()
    assert (done["status"], done["perf"]) == ("done", 0.8)
    assert isinstance(done["training_done"], int) and done["training_done"] >= done["training_creation"]

    # Rank 1 does worse: rank 2 starts from the best model so far, rank 0's, not rank 1's.
    m_compute.post(f"/worker/learnuplet/{second['uuid']}", {"worker": str(m_compute.worker)})
    r = m_compute.post(f"/learndone/{second['uuid']}", {
        "status": "done", "perf": 0.5, "train_perf": {}, "test_perf": {}})
    assert r.status_code == 200, r.json()
    (third,) = m_compute.get("/learnuplet", algo=algo, rank="2").json()["learnuplets"]
    assert (third["status"], third["model_start"]) == ("todo", first["model_end"])

    # Rank 2 fails: the failure is recorded and nothing is left to train.
    m_compute.post(f"/worker/learnuplet/{third['uuid']}", {"worker": str(m_compute.worker)})
    r = m_compute.post(f"/learndone/{third['uuid']}", {"status": "failed"})
    assert r.status_code == 200, r.json()
    assert m_compute.get(f"/learnuplet/{third['uuid']}").json()["status"] == "failed"
    assert m_compute.get("/learnuplet", status="todo").json() == {"learnuplets": []}

    # Analytics asks for a prediction: it uses the best model; compute runs it.
    target = str(uuid.uuid4())
    r = m_client.post("/prediction", {"data": target, "problem": problem})
    assert r.status_code == 201, r.json()
    preduplet = r.json()
    # One UUID, a string: as 2017 made it and its Go Compute decodes it.
    assert (preduplet["model"], preduplet["data"], preduplet["status"]) == (first["model_end"], target, "todo")
    r = m_compute.post(f"/worker/preduplet/{preduplet['uuid']}", {"worker": str(m_compute.worker)})
    assert r.json() == {"preduplet_worker_set": preduplet["uuid"]}
    stored = str(uuid.uuid4())
    r = m_compute.post(f"/preddone/{preduplet['uuid']}", {"status": "done", "prediction_storage_uuid": stored})
    assert r.status_code == 200, r.json()
    assert r.json() == {"updated_preduplet": preduplet["uuid"]}
    r = m_client.get("/preduplet", problem=problem)
    (finished,) = r.json()["preduplets"]
    assert (finished["status"], finished["prediction_storage_uuid"]) == ("done", stored)
    assert isinstance(finished["timestamp_done"], int)



def test_it_gives_2017_claims_the_long_morpheo_lease(settings, m_compute):  # noqa: F811
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import LearnupletFactory

    settings.ORCHESTRATOR_MORPHEO_LEASE_SECONDS = 7200
    task = LearnupletFactory.create()

    r = m_compute.post(f"/worker/learnuplet/{task.pk}", {"worker": str(uuid.uuid4())})

    assert r.status_code == 200
    task.refresh_from_db()
    assert task.lease_expires_at is not None
    assert task.lease_expires_at > timezone.now() + timedelta(seconds=7000)

import uuid

API = "/api/v1"


def test_it_runs_the_whole_flow(uploader, worker):
    test_data = [str(uuid.uuid4())]
    r = uploader.post(f"{API}/problems/", {"workflow": str(uuid.uuid4()), "test_dataset": test_data,
                                            "size_train_dataset": 2})
    assert r.status_code == 201, r.json()
    problem = r.json()["uuid"]
    data = [str(uuid.uuid4()) for _ in range(5)]
    r = uploader.post(f"{API}/data/", {"uuid": data, "problems": [problem]})
    assert r.status_code == 201, r.json()
    assert r.json()["new_learnuplets"] == 0
    r = uploader.post(f"{API}/algos/", {"problem": problem, "name": "sgd"})
    assert r.status_code == 201, r.json()
    assert r.json()["new_learnuplets"] == 3
    r = worker.post(f"{API}/learnuplets/claim/")
    assert r.status_code == 200, r.content
    task = r.json()
    assert task["rank"] == 0 and task["attempt"] == 1
    r = worker.post(f"{API}/learnuplets/{task['uuid']}/heartbeat/", {"attempt": 1})
    assert r.status_code == 200, r.json()
    r = worker.post(f"{API}/learnuplets/{task['uuid']}/result/", {
        "attempt": 1, "status": "done", "perf": 0.5,
        "train_perf": {d: 0.4 for d in task["train_data"]}, "test_perf": {test_data[0]: 0.5}})
    assert r.status_code == 200, r.json()
    r = worker.post(f"{API}/learnuplets/claim/")
    assert r.status_code == 200
    assert r.json()["rank"] == 1
    assert r.json()["model_start"] == task["model_end"]
    r = uploader.get(f"{API}/problems/{problem}/leaderboard/")
    assert r.status_code == 200, r.json()
    assert r.json()[0]["perf"] == 0.5
    r = uploader.post(f"{API}/preduplets/", {"problem": problem, "data": str(uuid.uuid4())})
    assert r.status_code == 201, r.json()
    assert r.json()["model"] == task["model_end"]
    r = uploader.get(f"{API}/learnuplets/")
    assert r.status_code == 200
    assert "test_data" not in r.json()["results"][0]
    r = uploader.get(f"{API}/schema/")
    assert r.status_code == 200

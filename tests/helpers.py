"""Small HTTP-level helpers shared by the learning and prediction tests."""

import uuid
from typing import Any

API = "/api/v1"


def _answer(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.content
    body: dict[str, Any] = r.json()
    return body


def uuids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def create_problem(caller: Any, *, size: int = 2, test: list[str] | None = None,
                   higher_is_better: bool = True) -> dict[str, Any]:
    r = caller.post(f"{API}/problems/", {
        "workflow": str(uuid.uuid4()),
        "test_dataset": test if test is not None else uuids(2),
        "size_train_dataset": size,
        "higher_is_better": higher_is_better,
    })
    return _answer(r, 201)


def register_data(caller: Any, problems: list[str], data: list[str]) -> dict[str, Any]:
    r = caller.post(f"{API}/data/", {"uuid": data, "problems": problems})
    return _answer(r, 201)


def register_algo(caller: Any, problem: str, name: str = "algo") -> dict[str, Any]:
    r = caller.post(f"{API}/algos/", {"problem": problem, "name": name})
    return _answer(r, 201)


def learnuplets(caller: Any, **filters: Any) -> list[dict[str, Any]]:
    r = caller.get(f"{API}/learnuplets/", page_size=1000, **filters)
    assert r.status_code == 200, r.content
    return sorted(r.json()["results"], key=lambda lu: (lu["algo"], lu["rank"]))


def claim(caller: Any, kind: str = "learnuplets") -> dict[str, Any]:
    r = caller.post(f"{API}/{kind}/claim/")
    return _answer(r, 200)


def report_done(caller: Any, task: dict[str, Any], perf: float) -> dict[str, Any]:
    r = caller.post(f"{API}/learnuplets/{task['uuid']}/result/", {
        "attempt": task["attempt"], "status": "done", "perf": perf,
        "train_perf": {d: perf for d in task["train_data"]},
        "test_perf": {d: perf for d in task["test_data"]},
    })
    return _answer(r, 200)


def report_failed(caller: Any, task: dict[str, Any], error: str = "boom") -> dict[str, Any]:
    r = caller.post(f"{API}/learnuplets/{task['uuid']}/result/",
                    {"attempt": task["attempt"], "status": "failed", "error": error})
    return _answer(r, 200)

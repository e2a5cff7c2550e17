"""Moving a chain forward on the best model (issue 3)."""

from typing import Any

import pytest

from tests.helpers import claim, create_problem, learnuplets, register_algo, register_data, report_done, report_failed, uuids

pytestmark = pytest.mark.django_db


def _chain_of(uploader, *, length: int, higher_is_better: bool = True) -> dict[str, Any]:
    problem = create_problem(uploader, size=1, higher_is_better=higher_is_better)
    register_data(uploader, [problem["uuid"]], uuids(length))
    return register_algo(uploader, problem["uuid"])


def test_it_releases_the_next_rank_from_the_model_just_trained(uploader, worker):
    algo = _chain_of(uploader, length=2)
    first = claim(worker)

    report_done(worker, first, perf=0.7)

    second = learnuplets(worker, algo=algo["uuid"])[1]
    assert second["status"] == "todo"
    assert second["model_start"] == first["model_end"]


def test_it_continues_from_the_best_model_not_the_latest(uploader, worker):
    algo = _chain_of(uploader, length=3)
    first = claim(worker)
    report_done(worker, first, perf=0.9)
    second = claim(worker)

    report_done(worker, second, perf=0.4)

    third = learnuplets(worker, algo=algo["uuid"])[2]
    assert third["model_start"] == first["model_end"]


def test_it_picks_the_lowest_perf_when_lower_is_better(uploader, worker):
    algo = _chain_of(uploader, length=3, higher_is_better=False)
    first = claim(worker)
    report_done(worker, first, perf=0.9)
    second = claim(worker)

    report_done(worker, second, perf=0.4)

    third = learnuplets(worker, algo=algo["uuid"])[2]
    assert third["model_start"] == second["model_end"]


def test_it_moves_the_chain_past_a_failed_batch(uploader, worker):
    algo = _chain_of(uploader, length=3)
    first = claim(worker)
    report_done(worker, first, perf=0.6)
    second = claim(worker)

    report_failed(worker, second, error="bad batch")

    chain = learnuplets(worker, algo=algo["uuid"])
    assert [lu["status"] for lu in chain] == ["done", "failed", "todo"]
    assert chain[1]["last_error"] == "bad batch"
    assert chain[2]["model_start"] == first["model_end"]


def test_it_starts_from_the_algo_when_nothing_is_done_yet(uploader, worker):
    algo = _chain_of(uploader, length=2)
    first = claim(worker)

    report_failed(worker, first)

    assert learnuplets(worker, algo=algo["uuid"])[1]["model_start"] == algo["uuid"]


def test_it_releases_ranks_appended_while_the_chain_ran(uploader, worker):
    algo = _chain_of(uploader, length=1)
    problem = algo["problem"]
    first = claim(worker)
    register_data(uploader, [problem], uuids(1))
    assert learnuplets(worker, algo=algo["uuid"])[1]["status"] == "waiting"

    report_done(worker, first, perf=0.8)

    appended = learnuplets(worker, algo=algo["uuid"])[1]
    assert appended["status"] == "todo"
    assert appended["model_start"] == first["model_end"]


def test_it_sets_training_done_when_a_task_ends(uploader, worker):
    algo = _chain_of(uploader, length=2)
    first = claim(worker)
    assert first["training_done"] is None

    ended = report_done(worker, first, perf=0.5)

    assert ended["training_done"] is not None
    assert learnuplets(worker, algo=algo["uuid"])[1]["training_done"] is None


def test_it_keeps_other_algos_chains_apart(uploader, worker):
    problem = create_problem(uploader, size=1)
    register_data(uploader, [problem["uuid"]], uuids(2))
    a = register_algo(uploader, problem["uuid"], name="a")
    b = register_algo(uploader, problem["uuid"], name="b")
    first_a = next(lu for lu in learnuplets(worker, algo=a["uuid"]) if lu["rank"] == 0)
    r = worker.post(f"/api/v1/learnuplets/{first_a['uuid']}/claim/")
    report_done(worker, r.json(), perf=0.99)

    chain_b = learnuplets(worker, algo=b["uuid"])
    assert [lu["status"] for lu in chain_b] == ["todo", "waiting"]
    assert learnuplets(worker, algo=a["uuid"])[1]["model_start"] == first_a["model_end"]


def test_it_shows_the_leaderboard_best_first(uploader, worker):
    problem = create_problem(uploader, size=1)
    register_data(uploader, [problem["uuid"]], uuids(2))
    a = register_algo(uploader, problem["uuid"], name="a")
    b = register_algo(uploader, problem["uuid"], name="b")
    c = register_algo(uploader, problem["uuid"], name="c")
    done = {}
    for algo, perf in ((a, 0.3), (b, 0.8)):
        task = next(lu for lu in learnuplets(worker, algo=algo["uuid"]) if lu["rank"] == 0)
        task = worker.post(f"/api/v1/learnuplets/{task['uuid']}/claim/").json()
        done[algo["uuid"]] = report_done(worker, task, perf=perf)

    rows = uploader.get(f"/api/v1/problems/{problem['uuid']}/leaderboard/").json()

    assert [r["algo"] for r in rows] == [b["uuid"], a["uuid"], c["uuid"]]
    assert rows[0] == {"algo": b["uuid"], "name": "b", "perf": 0.8,
                       "model": done[b["uuid"]]["model_end"], "rank": 0,
                       "done": 1, "failed": 0, "total": 2}
    assert rows[2]["perf"] is None and rows[2]["model"] is None

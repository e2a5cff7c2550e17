"""Learnuplet construction at algo and at data registration (issue 3)."""

import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from learning.models import Learnuplet
from problems.models import Algo, Data, DataUpload
from django.db.models.signals import post_save
from tests.helpers import API, create_problem, learnuplets, register_algo, register_data, uuids

pytestmark = pytest.mark.django_db


def test_it_cuts_the_problems_data_into_mini_batches_at_algo_registration(uploader, worker):
    problem = create_problem(uploader, size=2)
    data = uuids(5)
    register_data(uploader, [problem["uuid"]], data)

    algo = register_algo(uploader, problem["uuid"])

    assert algo["new_learnuplets"] == 3
    chain = learnuplets(worker, algo=algo["uuid"])
    assert [lu["train_data"] for lu in chain] == [data[0:2], data[2:4], data[4:5]]
    assert [lu["rank"] for lu in chain] == [0, 1, 2]


def test_it_starts_rank_zero_from_the_algo_and_leaves_the_rest_waiting(uploader, worker):
    problem = create_problem(uploader, size=1)
    register_data(uploader, [problem["uuid"]], uuids(3))

    algo = register_algo(uploader, problem["uuid"])

    chain = learnuplets(worker, algo=algo["uuid"])
    assert [(lu["status"], lu["model_start"]) for lu in chain] == [
        ("todo", algo["uuid"]), ("waiting", None), ("waiting", None)]
    assert len({lu["model_end"] for lu in chain}) == 3
    assert algo["uuid"] not in {lu["model_end"] for lu in chain}


def test_it_copies_the_problems_workflow_and_test_data(uploader, worker):
    test = uuids(3)
    problem = create_problem(uploader, test=test)
    register_data(uploader, [problem["uuid"]], uuids(2))

    algo = register_algo(uploader, problem["uuid"])

    (lu,) = learnuplets(worker, algo=algo["uuid"])
    assert lu["test_data"] == test
    assert lu["workflow"] == problem["workflow"]
    assert lu["problem"] == problem["uuid"]


def test_it_never_trains_on_the_problems_test_data(uploader, worker):
    test = uuids(2)
    problem = create_problem(uploader, size=10, test=test)
    train = uuids(3)
    register_data(uploader, [problem["uuid"]], [test[0], *train, test[1]])

    algo = register_algo(uploader, problem["uuid"])

    (lu,) = learnuplets(worker, algo=algo["uuid"])
    assert lu["train_data"] == train


def test_it_creates_nothing_for_an_algo_of_a_problem_without_data(uploader, worker):
    problem = create_problem(uploader)

    algo = register_algo(uploader, problem["uuid"])

    assert algo["new_learnuplets"] == 0
    assert learnuplets(worker, algo=algo["uuid"]) == []


def test_it_follows_registration_order_across_requests(uploader, worker):
    problem = create_problem(uploader, size=2)
    first, second = uuids(3), uuids(3)
    register_data(uploader, [problem["uuid"]], first)
    register_data(uploader, [problem["uuid"]], second)

    algo = register_algo(uploader, problem["uuid"])

    chain = learnuplets(worker, algo=algo["uuid"])
    assert [d for lu in chain for d in lu["train_data"]] == first + second


def test_it_appends_batches_of_new_data_for_every_algo(uploader, worker):
    problem = create_problem(uploader, size=3)
    register_data(uploader, [problem["uuid"]], uuids(3))
    algos = [register_algo(uploader, problem["uuid"], name=f"a{i}") for i in range(2)]

    answer = register_data(uploader, [problem["uuid"]], uuids(7))

    assert answer["new_learnuplets"] == 2 * math.ceil(7 / 3)
    for algo in algos:
        chain = learnuplets(worker, algo=algo["uuid"])
        assert [lu["rank"] for lu in chain] == [0, 1, 2, 3]
        assert [len(lu["train_data"]) for lu in chain] == [3, 3, 3, 1]


def test_it_appends_waiting_tasks_behind_a_running_chain(uploader, worker):
    problem = create_problem(uploader, size=5)
    register_data(uploader, [problem["uuid"]], uuids(2))
    algo = register_algo(uploader, problem["uuid"])

    register_data(uploader, [problem["uuid"]], uuids(2))

    chain = learnuplets(worker, algo=algo["uuid"])
    assert [lu["status"] for lu in chain] == ["todo", "waiting"]
    assert chain[1]["model_start"] is None


def test_it_starts_appended_tasks_from_the_best_model_when_the_chain_is_idle(uploader, worker):
    from tests.helpers import claim, report_done

    problem = create_problem(uploader, size=1)
    register_data(uploader, [problem["uuid"]], uuids(2))
    algo = register_algo(uploader, problem["uuid"])
    first = claim(worker)
    report_done(worker, first, perf=0.9)
    second = claim(worker)
    report_done(worker, second, perf=0.5)

    register_data(uploader, [problem["uuid"]], uuids(1))

    appended = learnuplets(worker, algo=algo["uuid"])[-1]
    assert appended["rank"] == 2
    assert appended["status"] == "todo"
    assert appended["model_start"] == first["model_end"]


def test_it_starts_an_algo_registered_before_any_data_at_rank_zero(uploader, worker):
    problem = create_problem(uploader, size=2)
    algo = register_algo(uploader, problem["uuid"])

    register_data(uploader, [problem["uuid"]], uuids(3))

    chain = learnuplets(worker, algo=algo["uuid"])
    assert [(lu["rank"], lu["status"], lu["model_start"]) for lu in chain] == [
        (0, "todo", algo["uuid"]), (1, "waiting", None)]


def test_it_generates_for_each_problem_data_are_registered_for(uploader, worker):
    shared = uuids(4)
    p1 = create_problem(uploader, size=2)
    p2 = create_problem(uploader, size=4)
    a1 = register_algo(uploader, p1["uuid"])
    a2 = register_algo(uploader, p2["uuid"])

    answer = register_data(uploader, [p1["uuid"], p2["uuid"]], shared)

    assert answer["new_learnuplets"] == 2 + 1
    assert [lu["train_data"] for lu in learnuplets(worker, algo=a1["uuid"])] == [shared[:2], shared[2:]]
    assert [lu["train_data"] for lu in learnuplets(worker, algo=a2["uuid"])] == [shared]


def test_it_never_trains_on_another_problems_test_data(uploader, worker):
    data = uuids(3)
    trainer = create_problem(uploader, size=10)
    create_problem(uploader, test=[data[1]])
    early = register_algo(uploader, trainer["uuid"])

    register_data(uploader, [trainer["uuid"]], data)
    late = register_algo(uploader, trainer["uuid"])

    for algo in (early, late):
        (lu,) = learnuplets(worker, algo=algo["uuid"])
        assert lu["train_data"] == [data[0], data[2]]


def test_it_creates_nothing_for_data_that_are_only_test_data(uploader, worker):
    test = uuids(2)
    problem = create_problem(uploader, test=test)
    algo = register_algo(uploader, problem["uuid"])

    answer = register_data(uploader, [problem["uuid"]], test)

    assert answer["new_learnuplets"] == 0
    assert learnuplets(worker, algo=algo["uuid"]) == []


def test_it_registers_nothing_when_generation_fails(uploader):
    problem = create_problem(uploader)
    register_algo(uploader, problem["uuid"])
    data = uuids(3)

    def explode(**kwargs: object) -> None:
        raise RuntimeError("generation failed")

    post_save.connect(explode, sender=DataUpload, dispatch_uid="test-explode")
    try:
        uploader.http.raise_request_exception = True
        with pytest.raises(RuntimeError):
            uploader.post(f"{API}/data/", {"uuid": data, "problems": [problem["uuid"]]})
    finally:
        post_save.disconnect(sender=DataUpload, dispatch_uid="test-explode")

    assert not Data.objects.filter(pk__in=data).exists()
    assert not Learnuplet.objects.exists()


def test_it_records_a_creation_event_per_learnuplet(uploader):
    from tasks.models import TaskEvent

    problem = create_problem(uploader, size=1)
    register_data(uploader, [problem["uuid"]], uuids(3))
    register_algo(uploader, problem["uuid"])

    events = TaskEvent.objects.filter(kind="learnuplet").values_list("from_status", "to_status")
    assert sorted(events) == [("", "todo"), ("", "waiting"), ("", "waiting")]


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_it_registers_any_amount_of_data_in_a_constant_number_of_queries(uploader):
    problem = create_problem(uploader, size=3)
    for i in range(3):
        register_algo(uploader, problem["uuid"], name=f"a{i}")

    one = _queries(lambda: register_data(uploader, [problem["uuid"]], uuids(1)))
    many = _queries(lambda: register_data(uploader, [problem["uuid"]], uuids(500)))

    assert one == many
    assert Learnuplet.objects.count() == 3 * (1 + math.ceil(500 / 3))


def test_it_generates_for_any_number_of_algos_in_a_constant_number_of_queries(uploader):
    few = create_problem(uploader, size=3)
    register_algo(uploader, few["uuid"])
    lots = create_problem(uploader, size=3)
    for i in range(20):
        register_algo(uploader, lots["uuid"], name=f"a{i}")

    one = _queries(lambda: register_data(uploader, [few["uuid"]], uuids(10)))
    twenty = _queries(lambda: register_data(uploader, [lots["uuid"]], uuids(10)))

    assert one == twenty
    assert Algo.objects.filter(problem=lots["uuid"]).count() == 20


def test_it_registers_an_algo_over_any_amount_of_data_in_a_constant_number_of_queries(uploader):
    small = create_problem(uploader, size=3)
    register_data(uploader, [small["uuid"]], uuids(1))
    large = create_problem(uploader, size=3)
    register_data(uploader, [large["uuid"]], uuids(500))

    one = _queries(lambda: register_algo(uploader, small["uuid"]))
    many = _queries(lambda: register_algo(uploader, large["uuid"]))

    assert one == many

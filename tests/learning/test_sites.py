"""Sites (issue 15): mini-batches never mix sites, each learnuplet takes its batch's site,
and a chain crosses sites from the best model so far."""

import uuid

import pytest

from accounts.models import Role
from learning.services import Batch, site_batches
from tests.conftest import make_caller
from tests.helpers import (
    API, claim, create_problem, learnuplets, register_algo, register_data, report_done, uuids,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def hospitals(db):
    """A client and a compute worker at each of two sites, and the platform's."""
    return {
        "a": (make_caller("client-a", Role.CLIENT, site="hospital-a"),
              make_caller("gpu-a", Role.COMPUTE, site="hospital-a")),
        "b": (make_caller("client-b", Role.CLIENT, site="hospital-b"),
              make_caller("gpu-b", Role.COMPUTE, site="hospital-b")),
        None: (make_caller("client-p", Role.CLIENT), make_caller("gpu-p", Role.COMPUTE)),
    }


def site_of(callers):
    client = callers[0].client
    return str(client.site_id) if client.site_id else None


def test_it_cuts_each_sites_data_apart_and_orders_batches_by_their_first_datum():
    a, b, p = uuid.uuid4(), uuid.uuid4(), None
    d = {name: uuid.uuid4() for name in ("a1", "b1", "a2", "p1", "a3", "b2", "b3", "p2")}
    data = [(d["a1"], a), (d["b1"], b), (d["a2"], a), (d["p1"], p), (d["a3"], a), (d["b2"], b),
            (d["b3"], b), (d["p2"], p)]

    batches = site_batches(data, 2)

    assert batches == [
        Batch(a, [d["a1"], d["a2"]]),
        Batch(b, [d["b1"], d["b2"]]),
        Batch(p, [d["p1"], d["p2"]]),
        Batch(a, [d["a3"]]),
        Batch(b, [d["b3"]]),
    ]


def test_without_sites_the_batches_are_the_seeds():
    data = [uuid.uuid4() for _ in range(5)]

    assert [b.data for b in site_batches([(d, None) for d in data], 2)] == [data[0:2], data[2:4], data[4:5]]


def test_an_algo_trains_on_every_sites_data_in_batches_that_never_mix_sites(hospitals, operator):
    problem = create_problem(operator, size=2)["uuid"]
    registered: dict[str, str | None] = {}
    for owner in ("a", "b", None, "a", "b", "a"):
        data = uuids(1)
        register_data(hospitals[owner][0], [problem], data)
        registered[data[0]] = site_of(hospitals[owner])

    algo = register_algo(operator, problem)

    chain = learnuplets(operator, algo=algo["uuid"])
    assert algo["new_learnuplets"] == len(chain) == 4  # a: 3 data (2 batches), b: 2, platform: 1
    for lu in chain:
        assert {registered[d] for d in lu["train_data"]} == {lu["site"]}
    order = list(registered)
    firsts = [order.index(lu["train_data"][0]) for lu in chain]
    assert firsts == sorted(firsts)
    assert sorted(d for lu in chain for d in lu["train_data"]) == sorted(registered)


def test_an_upload_of_a_site_appends_batches_of_that_site_behind_a_running_chain(hospitals, operator):
    client_a, client_b = hospitals["a"][0], hospitals["b"][0]
    problem = create_problem(operator, size=2)["uuid"]
    register_data(client_a, [problem], uuids(2))
    algo = register_algo(operator, problem)["uuid"]

    new = register_data(client_b, [problem], uuids(3))

    assert new["new_learnuplets"] == 2
    assert {d["site"] for d in new["data"]} == {site_of(hospitals["b"])}
    chain = learnuplets(operator, algo=algo)
    assert [(lu["rank"], lu["site"], lu["status"]) for lu in chain] == [
        (0, site_of(hospitals["a"]), "todo"),
        (1, site_of(hospitals["b"]), "waiting"),
        (2, site_of(hospitals["b"]), "waiting"),
    ]


def test_a_chain_crosses_sites_from_the_best_model_so_far(hospitals, operator):
    (client_a, gpu_a), (client_b, gpu_b) = hospitals["a"], hospitals["b"]
    problem = create_problem(operator, size=1)["uuid"]
    register_data(client_a, [problem], uuids(1))
    register_data(client_b, [problem], uuids(1))
    algo = register_algo(operator, problem)["uuid"]

    assert gpu_b.post(f"{API}/learnuplets/claim/").status_code == 204  # rank 1 waits for rank 0
    first = claim(gpu_a)
    report_done(gpu_a, first, 0.7)
    second = claim(gpu_b)

    assert (first["rank"], second["rank"]) == (0, 1)
    assert second["model_start"] == first["model_end"]
    assert second["site"] == site_of(hospitals["b"]) != first["site"]
    assert learnuplets(operator, algo=algo)[1]["status"] == "pending"

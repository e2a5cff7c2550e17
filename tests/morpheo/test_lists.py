"""2017 lists: a constant number of queries whatever their size, at most MAX_LIST documents."""

import uuid

import pytest

from morpheo.queries import MAX_LIST
from problems.models import Data
from tests.factories import AlgoFactory, AnyFactory, DataFactory, LearnupletFactory, PredupletFactory, ProblemFactory
from tests.morpheo_support import m_client, m_compute  # noqa: F401

FACTORIES: dict[str, AnyFactory] = {"problem": ProblemFactory, "algo": AlgoFactory, "data": DataFactory,
             "learnuplet": LearnupletFactory, "preduplet": PredupletFactory}
# The user with its role (Basic), the page of documents, and for a client the test data among
# the page's data UUIDs (learnuplets and preduplets scrub them).
QUERIES = {"problem": 2, "algo": 2, "data": 2, "learnuplet": 3, "preduplet": 3}


@pytest.mark.parametrize("collection", FACTORIES)
@pytest.mark.parametrize("size", [1, 25])
def test_it_lists_in_a_constant_number_of_queries(m_client, django_assert_num_queries, collection, size):  # noqa: F811
    FACTORIES[collection].create_batch(size)
    with django_assert_num_queries(QUERIES[collection]):
        r = m_client.get(f"/{collection}")
    assert r.status_code == 200
    assert len(r.json()[f"{collection}s"]) == size


@pytest.mark.parametrize("collection", FACTORIES)
def test_it_answers_one_document_in_a_constant_number_of_queries(m_client, django_assert_num_queries, collection):  # noqa: F811
    made = FACTORIES[collection].create()
    with django_assert_num_queries(QUERIES[collection]):
        assert m_client.get(f"/{collection}/{made.pk}").status_code == 200


def test_it_filters_in_a_constant_number_of_queries(m_compute, django_assert_num_queries):  # noqa: F811
    algo = AlgoFactory.create()
    LearnupletFactory.create_batch(5, algo=algo)
    with django_assert_num_queries(2):
        r = m_compute.get("/learnuplet", algo=str(algo.pk), status="todo", problem=str(algo.problem_id))
    assert len(r.json()["learnuplets"]) == 5


def test_it_answers_at_most_max_list_documents_and_links_to_the_rest(m_client):  # noqa: F811
    problem = ProblemFactory.create(test_dataset=[])
    Data.objects.bulk_create(Data(uuid=uuid.uuid4(), problems=[problem.pk]) for _ in range(MAX_LIST + 1))
    r = m_client.get("/data")
    assert len(r.json()["datas"]) == MAX_LIST
    assert r["Link"] == f'<http://testserver/data?offset={MAX_LIST}>; rel="next"'
    rest = m_client.get("/data", offset=str(MAX_LIST))
    assert len(rest.json()["datas"]) == 1 and "Link" not in rest


def test_it_pages_with_limit_and_offset_in_order(m_client):  # noqa: F811
    made = [str(p.pk) for p in ProblemFactory.create_batch(5)]
    seen: list[str] = []
    offset = 0
    while True:
        r = m_client.get("/problem", limit="2", offset=str(offset))
        seen += [p["uuid"] for p in r.json()["problems"]]
        if "Link" not in r:
            break
        offset += 2
    assert seen == made


def test_it_keeps_the_filters_in_the_next_link(m_client):  # noqa: F811
    algo = AlgoFactory.create()
    LearnupletFactory.create_batch(3, algo=algo)
    r = m_client.get("/learnuplet", algo=str(algo.pk), limit="2")
    assert f"algo={algo.pk}" in r["Link"] and "offset=2" in r["Link"]
